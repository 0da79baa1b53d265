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

__all__ = [
    "BLOCK",
    "Plan",
    "create_ranges",
    "finish",
    "link",
    "n_blocks",
    "node_table",
    "part_runs",
    "write_indices",
]  # fmt: skip

#: nodes per block of the runs files (a block's runs are sorted in memory at the end)
BLOCK = 4096
NAMES = ("source_to_target", "target_to_source")
_COLUMNS = {"source_to_target": "source_node_id", "target_to_source": "target_node_id"}


def n_blocks(n_nodes: int) -> int:
    return max(1, -(-n_nodes // BLOCK))


def _write(path: Path, nodes: np.ndarray, firsts: np.ndarray, ends: np.ndarray, n_nodes: int):
    """Runs to ``path``, grouped by block (in edge order within a block), after their cuts."""
    blocks = nodes.astype(np.int64) // BLOCK
    key = np.uint16 if n_blocks(n_nodes) <= 2**16 else np.int64  # radix sort: <= 65,536 blocks
    order = np.argsort(blocks.astype(key), kind="stable")
    rows = np.empty((len(nodes), 3), dtype=np.uint64)
    rows[:, 0], rows[:, 1], rows[:, 2] = nodes[order], firsts[order], ends[order]
    cuts = np.r_[0, np.cumsum(np.bincount(blocks, minlength=n_blocks(n_nodes)))].astype(np.int64)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        np.save(fh, cuts)
        rows.tofile(fh)
    tmp.replace(path)  # whole or absent: a killed attempt leaves no half file


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


def _layout(path: Path) -> tuple[np.ndarray, int]:
    """A runs file's cuts (where each block's rows start) and the byte where its rows start."""
    with open(path, "rb") as fh:
        return np.load(fh), fh.tell()


class Plan:
    """Where each block's runs go in ``range_to_edge_id``, from the parts indexed in ``folder``
    (part ``i`` at edge ``offsets[i]``; ``n`` edges in all; ``carry``: the run left open at the
    end): blocks can then be filled in any order, by different processes."""

    def __init__(self, folder: Path, name: str, carry, offsets: list[int], n: int, n_nodes: int):
        tail = np.array([carry[0], carry[1], n] if carry is not None else [], np.uint64)
        self.tail = tail.reshape(-1, 3)
        self.files = [(folder / f"{name}-{i:09d}.{kind}", off if kind == "inner" else 0)
                      for i, off in enumerate(offsets) for kind in ("edge", "inner")]  # fmt: skip
        self.layouts = [_layout(f) for f, _ in self.files]
        self.n_nodes = n_nodes
        per_block = np.bincount(
            (self.tail[:, 0] // BLOCK).astype(np.int64), minlength=n_blocks(n_nodes)
        )
        for cuts, _ in self.layouts:
            per_block += np.diff(cuts)
        #: row of range_to_edge_id where each block's runs start (and the total at the end)
        self.starts = np.r_[0, np.cumsum(per_block)].astype(np.int64)
        self.total = int(self.starts[-1])

    def _block(self, k: int) -> np.ndarray:
        """Block ``k``'s runs from every file (and the tail), in edge order, as (k, 3) rows."""
        rows = np.empty((self.starts[k + 1] - self.starts[k], 3), dtype=np.uint64)
        at = 0
        for (f, off), (cuts, head) in zip(self.files, self.layouts, strict=True):
            count = int(cuts[k + 1] - cuts[k])
            if not count:
                continue
            view = memoryview(rows[at : at + count]).cast("B")
            with open(f, "rb", buffering=0) as fh:
                fh.seek(head + int(cuts[k]) * 24)
                done = 0
                while done < len(view):
                    got = fh.readinto(view[done:])
                    if not got:
                        raise OSError(
                            f"{f} is shorter than its index says; write the circuit again"
                        )
                    done += got
            if off:
                rows[at : at + count, 1:] += np.uint64(off)
            at += count
        rows[at:] = self.tail[self.tail[:, 0] // BLOCK == k]
        return rows

    def fill(self, blocks: range, put) -> np.ndarray:
        """Each block's runs, ordered by node (a node's runs in edge order), to ``put(row,
        rows)``; the number of runs of each node of these blocks."""
        lo_node, hi_node = blocks.start * BLOCK, min(blocks.stop * BLOCK, self.n_nodes)
        counts = np.zeros(max(0, hi_node - lo_node), dtype=np.uint64)
        for k in blocks if self.total else ():
            if self.starts[k + 1] == self.starts[k]:
                continue
            rows = self._block(k)
            local = rows[:, 0] - np.uint64(k * BLOCK)
            first = k * BLOCK - lo_node
            counts[first : first + BLOCK] += np.bincount(
                local.astype(np.intp), minlength=min(BLOCK, self.n_nodes - k * BLOCK)
            ).astype(np.uint64)
            order = np.argsort(local.astype(np.uint16), kind="stable")
            put(int(self.starts[k]), np.take(rows[:, 1:], order, axis=0))
        return counts


def create_ranges(group, total: int, allocate: bool = False):
    """An empty ``range_to_edge_id`` of ``total`` runs in ``group`` (libsonata writes an empty
    index as (0, 1)). ``allocate``: its space in the file now, unfilled: its rows can then be
    written at ``dataset.id.get_offset()`` by other processes once the file is closed."""
    import h5py

    dcpl = None
    if allocate:
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_layout(h5py.h5d.CONTIGUOUS)
        dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
        dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)
    return group.create_dataset(
        "range_to_edge_id", shape=(total, 2) if total else (0, 1), dtype="<u8", dcpl=dcpl
    )


def node_table(group, counts: np.ndarray) -> None:
    """``node_id_to_ranges`` from the number of runs of each node (replacing the one a killed
    attempt of the same task wrote: a retried final task of a dask write)."""
    ends = np.cumsum(counts, dtype=np.uint64)
    table = np.stack([ends - counts, ends], axis=1) if len(counts) else np.zeros((0, 1), np.uint64)
    if "node_id_to_ranges" in group:
        del group["node_id_to_ranges"]
    group.create_dataset("node_id_to_ranges", data=table)


def finish(group, folder: Path, name: str, carry, offsets: list[int], n: int, n_nodes: int):
    """``node_id_to_ranges`` and ``range_to_edge_id`` into ``group`` from the parts indexed in
    ``folder`` (part ``i`` at edge ``offsets[i]``; ``n`` edges in all); their files go."""
    plan = Plan(folder, name, carry, offsets, n, n_nodes)
    out = create_ranges(group, plan.total)

    def put(at, rows):
        out[at : at + len(rows)] = rows

    node_table(group, plan.fill(range(n_blocks(n_nodes)), put))
    for f, _ in plan.files:
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
