"""Drawing property values into SONATA edge files, chunk by chunk (for ``parameterize_circuit``).

A population's edges are drawn ``chunk_size`` at a time -- here, or on dask workers while this
process writes the chunks in order -- and every value is checked against the dataset's dtype
before it is written (no silent narrowing), into each edge's own group and row.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .. import _draw
from ..distributions import output_dtype
from ..errors import OptionError, SonataError
from ..schemas import SynapseTable
from ._circuit import chunk_ranges
from ._populations import group_names
from ._record import PROVENANCE_ATTRIBUTE
from .read import iter_edges

__all__ = ["check_scheduler", "parameterized_copy"]

log = logging.getLogger("synframe")


def write_population(
    h5file, name: str, values: Mapping[str, np.ndarray], start: int, sizes, dtypes
) -> None:
    """Write one chunk of property values (edges ``start…``) into every group of ``/edges/<name>``.

    Each edge's value goes to its group (``edge_group_id``) at its row there
    (``edge_group_index``); ``sizes`` gives each group's length, for datasets created here.
    """
    pop = h5file["edges"][name]
    stop = start + len(next(iter(values.values()))) if values else start
    gid = np.asarray(pop["edge_group_id"][start:stop], dtype=np.int64)
    gidx = np.asarray(pop["edge_group_index"][start:stop], dtype=np.int64)
    for g in [gid[0]] if len(gid) and gid.min() == gid.max() else np.unique(gid):
        group = pop[str(g)]
        mask = None if gid[0] == gid[-1] and gid.min() == gid.max() else gid == g
        rows = gidx if mask is None else gidx[mask]
        order = None if (np.diff(rows) > 0).all() else np.argsort(rows, kind="stable")
        rows = rows if order is None else rows[order]
        contiguous = len(rows) and rows[-1] - rows[0] + 1 == len(rows)
        for prop, vals in values.items():
            if prop not in group:  # uncompressed (libsonata)
                group.create_dataset(prop, shape=(sizes[str(g)],), dtype=dtypes[prop])
            ds = group[prop]
            v = vals if mask is None else vals[mask]
            v = (v if order is None else v[order]).astype(ds.dtype, copy=False)
            if contiguous:
                ds[rows[0] : rows[-1] + 1] = v
            else:
                ds[rows] = v


def _cast_for(dtype: np.dtype, vals: np.ndarray, what: str) -> None:
    """Refuse values the dataset's dtype would change: no silent narrowing, wrapping or rounding.

    Integers must fit the integer range (``300`` is not a ``uint8``, ``-5`` not a ``uint32``),
    floats written to an integer dataset must be whole, floats must stay finite in float32
    (``1e300`` is ``inf`` there), and NaN/inf are never written.
    """
    dtype = np.dtype(dtype)
    vals = np.asarray(vals)
    if not len(vals):
        return
    fix = (
        "change the stats (or redraw into a new property name), or rewrite the dataset with a "
        "wider dtype first"
    )
    if vals.dtype.kind == "f" and not np.isfinite(vals).all():
        raise SonataError(f"{what}: drew non-finite values (NaN/inf); check the distribution")
    if dtype.kind in "iu":
        if vals.dtype.kind == "f" and (vals != np.round(vals)).any():
            raise SonataError(
                f"{what}: the dataset holds integers ({dtype}) but drew fractional values (e.g. "
                f"{vals[vals != np.round(vals)][0]}); {fix}"
            )
        info = np.iinfo(dtype)
        lo, hi = vals.min(), vals.max()
        if lo < info.min or hi > info.max:
            raise SonataError(
                f"{what}: drew values {lo}..{hi}, outside the range of the dataset's dtype {dtype} "
                f"({info.min}..{info.max}); {fix}"
            )
    elif dtype.kind == "f":
        big = np.abs(vals.astype(np.float64)).max()
        if big > np.finfo(dtype).max:
            raise SonataError(
                f"{what}: drew values up to {big:.3g} in magnitude, which {dtype} cannot hold "
                f"(largest {np.finfo(dtype).max:.3g}); {fix}"
            )
    else:
        raise SonataError(f"{what}: the dataset is stored as {dtype}, not numbers; {fix}")


def parameterized_copy(
    path: Path, tmp: Path, members, circuit, stats, props, by, seed, chunk, provenance, scheduler,
    bar=None,
):  # fmt: skip
    """Copy the edge file ``path`` to ``tmp`` and draw every member population's properties into it.

    Each population records what drew its values (HDF5 attribute ``synframe_provenance``);
    ``bar`` (a progress bar) advances by the edges of each chunk written.
    """
    import h5py

    shutil.copyfile(path, tmp)
    with h5py.File(tmp, "r+") as h5:
        for name, existing in members:
            _parameterize_population(
                circuit, name, existing, h5, stats, props, by, seed, chunk, scheduler, bar
            )
            h5["edges"][name].attrs[PROVENANCE_ATTRIBUTE] = json.dumps(provenance)


def _parameterize_population(
    circuit, name, existing, h5, stats, props, by, seed, chunk_size, scheduler=None, bar=None
) -> None:
    """Draw every property for one population, chunk by chunk, into the open (temporary) h5 file."""
    import h5py

    for p in existing:
        log.info(
            "Synapse property '%s' already exists in edge population '%s': Re-parameterizing synapses.",
            p,
            name,
        )
    pop = h5["edges"][name]
    groups = group_names(pop)
    gid = np.asarray(pop["edge_group_id"][()], dtype=np.int64)
    sizes = {g: int((gid == int(g)).sum()) for g in groups}
    for g in groups:  # a group's datasets fix its length (rows may be unused)
        lengths = [ds.shape[0] for ds in pop[g].values() if isinstance(ds, h5py.Dataset)]
        sizes[g] = max([sizes[g], *lengths])
    n = int(pop["source_node_id"].shape[0])
    dtypes = {}
    for p in props:
        have = [pop[g][p].dtype for g in groups if p in pop[g]]
        if have:
            dtypes[p] = have[0]  # kept when overwriting
        else:
            specs = [c for c in stats.sel(property=p).values.ravel() if c is not None]
            kinds = {output_dtype(c).kind for c in specs}
            dtypes[p] = np.dtype("int32") if kinds == {"i"} else np.dtype("float32")
    ranges = list(chunk_ranges(n, chunk_size))
    draw_one = functools.partial(_draw_chunk, str(circuit.path), name, by, stats, props, seed)
    for (start, stop), values in zip(ranges, _in_order(draw_one, ranges, scheduler), strict=True):
        for p, v in values.items():
            _cast_for(dtypes[p], v, f"{name}/{p}")
        write_population(h5, name, values, start, sizes, dtypes)
        log.info("Edge population '%s': %d / %d edges parameterized", name, stop, n)
        if bar is not None:
            bar.update(stop - start)


def _draw_chunk(config, name, by, stats, props, seed, edges: tuple[int, int]) -> dict:
    """The values of the edges ``[start, stop)`` of one population (run where the scheduler says)."""
    start, stop = edges
    chunk = next(
        iter_edges(
            config,
            name,
            properties=[],
            node_properties=(by,),
            positions=False,
            edge_ranges=[edges],
        )
    )
    chunk = chunk.assign(**{
        SynapseTable.pre: chunk.get("pre_node_id", chunk[SynapseTable.pre]),
        SynapseTable.post: chunk.get("post_node_id", chunk[SynapseTable.post]),
        SynapseTable.id: np.arange(start, stop, dtype=np.int64),
    })  # fmt: skip
    src, tgt = _draw.pathway_types(chunk, by)
    plan = _draw.plan(chunk, src, tgt)
    return _draw.draw(stats, props, plan, seed, stream=f"{name}/")


def _in_order(func, items: list, scheduler):
    """``func(item)`` for each item, yielded in order; on a dask scheduler, a few at a time.

    At most twice as many results as the scheduler has workers are held at once, so that a
    population larger than memory is drawn in bounded memory.
    """
    if scheduler is None:
        for item in items:
            yield func(item)
        return
    import dask

    window = 2 * _workers(scheduler)
    for first in range(0, len(items), window):
        batch = [dask.delayed(func)(item) for item in items[first : first + window]]
        get = scheduler if not isinstance(scheduler, str) else None
        if get is not None:
            results = get.gather(get.compute(batch))
        else:
            results = dask.compute(*batch, scheduler=scheduler)
        yield from results


def check_scheduler(scheduler) -> None:
    if scheduler is None or scheduler in ("processes", "threads", "synchronous"):
        return
    if not (hasattr(scheduler, "compute") and hasattr(scheduler, "nthreads")):
        raise OptionError(
            "scheduler must be None, 'processes', 'threads', 'synchronous' or a "
            f"dask.distributed Client, got {scheduler!r}"
        )


def _workers(scheduler) -> int:
    if isinstance(scheduler, str):
        return os.cpu_count() or 1
    return max(1, sum(scheduler.nthreads().values()))


#: config keys whose values are never paths, whatever files the circuit folder holds
