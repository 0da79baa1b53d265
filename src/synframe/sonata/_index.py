"""SONATA edge indices built part by part in bounded memory, equal to libsonata's ``write_indices``.

An edge population's indices (``indices/source_to_target`` and ``indices/target_to_source``)
list, for every node, the ranges of consecutive edges that node is the source (target) of:
``node_id_to_ranges[node] = [first, end)`` rows of ``range_to_edge_id``, whose rows are
``[first edge, end edge)``, a node's ranges in edge order; a node without edges gets an empty
``[k, k)`` at the running offset. libsonata 0.1.x builds both indices in memory (about 50 bytes
per edge: over 4 GiB for 100 M edges), so large circuits are indexed here instead.

The edges come in parts (a dask partition, a chunk of a table), each indexed where it is:
[`part_runs`][] finds a part's runs of equal node ids and writes those inside the part to a file
of its own (positions within the part, grouped by block of ``BLOCK`` nodes); only its first and
last runs, which may go on into the neighbouring parts, are left to [`link`][], which runs part
after part once the parts' offsets are known and writes the runs that close at each boundary.
[`finish`][] then goes block by block: it gathers the block's runs from every part's files in
edge order, orders them by node (a stable radix sort of 16-bit keys: a node's ranges stay in edge
order), writes them in place and counts them per node (``node_id_to_ranges``). Memory: one part,
or one block's runs. The datasets are byte for byte those libsonata writes
(``tests/test_sonata_index.py`` compares them on random populations).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

__all__ = ["BLOCK", "finish", "link", "part_runs", "write_indices"]

#: nodes per block of the runs files (a block's runs are sorted in memory at the end)
BLOCK = 4096
NAMES = ("source_to_target", "target_to_source")
_COLUMNS = {"source_to_target": "source_node_id", "target_to_source": "target_node_id"}


def _blocks(n_nodes: int) -> int:
    return max(1, -(-n_nodes // BLOCK))


def _write(path: Path, nodes: np.ndarray, firsts: np.ndarray, ends: np.ndarray, n_nodes: int):
    """Runs to ``path``, grouped by block (in edge order within a block), after their cuts."""
    blocks = nodes.astype(np.int64) // BLOCK
    key = np.uint16 if _blocks(n_nodes) <= 2**16 else np.int64  # radix sort: <= 65,536 blocks
    order = np.argsort(blocks.astype(key), kind="stable")
    rows = np.empty((len(nodes), 3), dtype=np.uint64)
    rows[:, 0], rows[:, 1], rows[:, 2] = nodes[order], firsts[order], ends[order]
    cuts = np.r_[0, np.cumsum(np.bincount(blocks, minlength=_blocks(n_nodes)))].astype(np.int64)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        np.save(fh, cuts)
        rows.tofile(fh)
    tmp.replace(path)  # whole or absent: a killed attempt leaves no half file


def _read(path: Path, block: int) -> np.ndarray:
    """The runs of ``block`` in a runs file, as (k, 3) rows."""
    with open(path, "rb") as fh:
        cuts = np.load(fh)
        count = int(cuts[block + 1] - cuts[block])
        if not count:
            return np.zeros((0, 3), np.uint64)
        fh.seek(int(cuts[block]) * 24, 1)
        return np.fromfile(fh, dtype=np.uint64, count=3 * count).reshape(-1, 3)


def part_runs(folder: Path, name: str, number: int, ids: np.ndarray, n_nodes: int) -> list:
    """Index part ``number`` (node ids ``ids``): its inner runs to a file in ``folder``; returns
    its first and last runs ``[node, first, end]`` (positions within the part; none if empty)."""
    ids = np.asarray(ids, dtype=np.uint64)
    if len(ids) and int(ids.max()) >= n_nodes:
        raise ValueError(f"node id {int(ids.max())} >= the population's {n_nodes} nodes")
    starts = np.r_[0, np.flatnonzero(ids[1:] != ids[:-1]) + 1].astype(np.uint64)
    ends = np.r_[starts[1:], np.uint64(len(ids))].astype(np.uint64)
    inner = slice(1, max(1, len(starts) - 1))
    nodes = ids[starts[inner]] if len(ids) else np.zeros(0, np.uint64)
    _write(folder / f"{name}-{number:09d}.inner", nodes, starts[inner], ends[inner], n_nodes)
    if not len(ids):
        return []
    bounds = [
        [int(ids[a]), int(a), int(b)] for a, b in ((starts[0], ends[0]), (starts[-1], ends[-1]))
    ]
    return bounds if len(starts) > 1 else bounds[:1]


def link(folder: Path, name: str, number: int, bounds: list, offset: int, carry, n_nodes: int):
    """Part ``number``'s first and last runs (``bounds``, from `part_runs`) at edge ``offset``:
    the runs closed at its start are written (with the previous part's open run, ``carry``);
    returns the run left open at its end. Idempotent (a retry rewrites its own file)."""
    closed = []
    if bounds:
        (node, _, end), last = bounds[0], bounds[-1]
        if carry is not None and carry[0] != node:
            closed.append((carry[0], carry[1], offset))
            carry = None
        first = carry[1] if carry is not None else offset
        if len(bounds) > 1:  # the first run closes inside this part; the last stays open
            closed.append((node, first, offset + end))
            carry = (last[0], offset + last[1])
        else:
            carry = (node, first)
    rows = np.array(closed, dtype=np.uint64).reshape(-1, 3)
    _write(folder / f"{name}-{number:09d}.edge", rows[:, 0], rows[:, 1], rows[:, 2], n_nodes)
    return carry


def _total(path: Path) -> int:
    with open(path, "rb") as fh:
        return int(np.load(fh)[-1])


def finish(group, folder: Path, name: str, carry, offsets: list[int], n: int, n_nodes: int):
    """``node_id_to_ranges`` and ``range_to_edge_id`` into ``group`` from the parts indexed in
    ``folder`` (part ``i`` at edge ``offsets[i]``; ``n`` edges in all); their files go."""
    tail = np.array([carry[0], carry[1], n] if carry is not None else [], np.uint64)
    tail = tail.reshape(-1, 3)
    files = [(folder / f"{name}-{i:09d}.{kind}", off if kind == "inner" else 0)
             for i, off in enumerate(offsets) for kind in ("edge", "inner")]  # fmt: skip
    total = sum(_total(f) for f, _ in files) + len(tail)
    # libsonata writes an empty index as (0, 1)
    out = group.create_dataset(
        "range_to_edge_id", shape=(total, 2) if total else (0, 1), dtype=np.uint64
    )
    counts = np.zeros(n_nodes, dtype=np.uint64)
    at = 0
    for k in range(_blocks(n_nodes) if total else 0):  # each block's runs, in edge order
        pieces = []
        for f, off in files:
            rows = _read(f, k)
            if off:
                rows[:, 1:] += np.uint64(off)
            pieces.append(rows)
        pieces.append(tail[tail[:, 0] // BLOCK == k])
        rows = np.concatenate(pieces)
        if not len(rows):
            continue
        lo = k * BLOCK
        hi = min(lo + BLOCK, n_nodes)
        local = (rows[:, 0] - np.uint64(lo)).astype(np.int64)
        counts[lo:hi] += np.bincount(local, minlength=hi - lo).astype(np.uint64)
        order = np.argsort((rows[:, 0] - np.uint64(k * BLOCK)).astype(np.uint16), kind="stable")
        out[at : at + len(rows)] = rows[order, 1:]
        at += len(rows)
    ends = np.cumsum(counts, dtype=np.uint64)
    table = np.stack([ends - counts, ends], axis=1) if n_nodes else np.zeros((0, 1), np.uint64)
    group.create_dataset("node_id_to_ranges", data=table)
    for f, _ in files:
        f.unlink()


def write_indices(
    file: str | Path, population: str, n_source_nodes: int, n_target_nodes: int, *,
    chunk: int = 4_000_000,
) -> None:  # fmt: skip
    """Write both indices of ``/edges/<population>`` in ``file`` (as libsonata's
    ``EdgePopulation.write_indices``), reading the node id columns ``chunk`` edges at a time."""
    import h5py

    file = Path(file)
    with h5py.File(file, "r+") as h5, tempfile.TemporaryDirectory(dir=file.parent) as tmp:
        pop = h5["edges"][population]
        for name in NAMES:
            n_nodes = n_source_nodes if name == NAMES[0] else n_target_nodes
            ids, carry, offsets = pop[_COLUMNS[name]], None, []
            for number, lo in enumerate(range(0, ids.shape[0], chunk)):
                bounds = part_runs(Path(tmp), name, number, ids[lo : lo + chunk], n_nodes)
                carry = link(Path(tmp), name, number, bounds, lo, carry, n_nodes)
                offsets.append(lo)
            group = pop.require_group("indices").create_group(name)
            finish(group, Path(tmp), name, carry, offsets, ids.shape[0], n_nodes)
