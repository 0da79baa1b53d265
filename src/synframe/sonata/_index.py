"""SONATA edge indices written in bounded memory, equal to libsonata's ``write_indices``.

An edge population's indices (``indices/source_to_target`` and ``indices/target_to_source``)
list, for every node, the ranges of consecutive edges that node is the source (target) of:
``node_id_to_ranges[node] = [first, end)`` rows of ``range_to_edge_id``, whose rows are
``[first edge, end edge)``, a node's ranges in edge order; a node without edges gets an empty
``[k, k)`` at the running offset. libsonata 0.1.x builds both indices in memory (about 50 bytes
per edge: over 4 GiB for 100 M edges), so large circuits are indexed here instead, from the edge
file in chunks: one pass counts each node's ranges, a second sorts the ranges into files by
block of nodes (each block at most ``max_ranges`` ranges, in a temporary folder beside the file),
then each block is ordered by node and written in place. The datasets
are byte for byte those libsonata writes (``tests/test_sonata_index.py`` compares them).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

__all__ = ["write_indices"]

_GROUPS = {"source_node_id": "source_to_target", "target_node_id": "target_to_source"}


def _runs(column, n: int, chunk: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``(node, first, end)`` of every run of equal ids in ``column[:n]``, chunk by chunk."""
    open_node, open_first = None, 0
    for lo in range(0, n, chunk):
        ids = np.asarray(column[lo : min(n, lo + chunk)], dtype=np.uint64)
        cut = np.flatnonzero(ids[1:] != ids[:-1]) + 1  # where a new run starts, in this chunk
        if open_node is None or ids[0] != open_node:
            starts = np.r_[0, cut]
            if open_node is not None:  # the run left open by the previous chunk ends here
                yield (
                    np.array([open_node], np.uint64),
                    np.array([open_first], np.uint64),
                    np.array([lo], np.uint64),
                )
            open_first = lo
        else:
            starts = cut  # the open run goes on into this chunk
        if len(starts):
            if starts[0] != 0:  # the open run ends at this chunk's first cut
                yield (
                    np.array([open_node], np.uint64),
                    np.array([open_first], np.uint64),
                    np.array([lo + starts[0]], np.uint64),
                )
            ends = np.r_[starts[1:], len(ids)]
            closed = slice(0, len(starts) - 1)  # the chunk's last run stays open
            yield (
                ids[starts[closed]],
                (starts[closed] + lo).astype(np.uint64),
                (ends[closed] + lo).astype(np.uint64),
            )
            open_first = lo + int(starts[-1])
        open_node = ids[-1]
    if open_node is not None:
        yield (
            np.array([open_node], np.uint64),
            np.array([open_first], np.uint64),
            np.array([n], np.uint64),
        )


def _index(group, column, n: int, n_nodes: int, chunk: int, max_ranges: int, tmp: Path) -> None:
    counts = np.zeros(n_nodes, dtype=np.uint64)
    for nodes, _, _ in _runs(column, n, chunk):
        if len(nodes) and int(nodes.max()) >= n_nodes:
            raise ValueError(f"node id {int(nodes.max())} >= the population's {n_nodes} nodes")
        counts += np.bincount(nodes.astype(np.int64), minlength=n_nodes).astype(np.uint64)
    ends = np.cumsum(counts, dtype=np.uint64)
    table = np.stack([ends - counts, ends], axis=1) if n_nodes else np.zeros((0, 1), np.uint64)
    group.create_dataset("node_id_to_ranges", data=table)
    total = int(ends[-1]) if n_nodes else 0
    # libsonata writes an empty index as (0, 1)
    shape = (total, 2) if total else (0, 1)
    out = group.create_dataset("range_to_edge_id", shape=shape, dtype=np.uint64)
    if not total:
        return
    # blocks of at most 65,536 nodes and max_ranges ranges (one node's own may exceed it): the
    # ranges go to one file per block in a second pass, then each block is sorted by node (a
    # stable radix sort of 16-bit keys: a node's ranges stay in edge order) and written in place
    firsts = [0]
    while firsts[-1] < n_nodes:
        a = firsts[-1]
        limit = int(ends[a] - counts[a]) + max_ranges
        b = min(int(np.searchsorted(ends, limit, side="right")), a + 2**16)
        firsts.append(max(a + 1, b))
    firsts = np.array(firsts)
    block_of = (np.searchsorted(firsts, np.arange(n_nodes), side="right") - 1).astype(np.int64)
    files = [tmp / f"block-{k}.bin" for k in range(len(firsts) - 1)]
    for f in files:
        f.write_bytes(b"")
    key = np.uint16 if len(files) <= 2**16 else np.int64  # a radix sort for up to 65,536 blocks
    for nodes, lo, hi in _runs(column, n, chunk):
        blocks = block_of[nodes.astype(np.int64)]
        order = np.argsort(blocks.astype(key), kind="stable")
        rows = np.empty((len(nodes), 3), dtype=np.uint64)
        rows[:, 0], rows[:, 1], rows[:, 2] = nodes[order], lo[order], hi[order]
        cuts = np.r_[0, np.cumsum(np.bincount(blocks, minlength=len(files)))]
        for k in np.flatnonzero(cuts[1:] > cuts[:-1]):
            with open(files[k], "ab") as fh:
                rows[cuts[k] : cuts[k + 1]].tofile(fh)
    for k, f in enumerate(files):
        rows = np.fromfile(f, dtype=np.uint64).reshape(-1, 3)
        f.unlink()
        if not len(rows):
            continue
        order = np.argsort((rows[:, 0] - np.uint64(firsts[k])).astype(np.uint16), kind="stable")
        first = int(ends[firsts[k]] - counts[firsts[k]])
        out[first : first + len(rows)] = rows[order, 1:]


def write_indices(
    file: str | Path,
    population: str,
    n_source_nodes: int,
    n_target_nodes: int,
    *,
    chunk: int = 4_000_000,
    max_ranges: int = 8_000_000,
) -> None:
    """Write both indices of ``/edges/<population>`` in ``file`` (as libsonata's
    ``EdgePopulation.write_indices``), reading the node id columns ``chunk`` edges at a time."""
    import tempfile

    import h5py

    file = Path(file)
    with h5py.File(file, "r+") as h5, tempfile.TemporaryDirectory(dir=file.parent) as tmp:
        pop = h5["edges"][population]
        for column, name in _GROUPS.items():
            n_nodes = n_source_nodes if column == "source_node_id" else n_target_nodes
            ids = pop[column]
            group = pop.require_group("indices").create_group(name)
            _index(group, ids, ids.shape[0], n_nodes, chunk, max_ranges, Path(tmp))
