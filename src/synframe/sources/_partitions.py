"""A local store as a dask DataFrame: partitions along its sorted copies, read by the workers.

A store built by `LocalStore.build` holds the synapses twice, sorted by ``pre`` and by
``post``, in parquet files of small row groups whose min/max statistics say which neurons each row
group holds. A partition is a range of neuron ids ``[start, stop)`` of one copy, with boundaries
taken from row-group minima about ``partition_size`` rows apart: all synapses of a neuron on that
side are in one partition. A worker reads the row groups overlapping its range with pyarrow, keeps
the rows in range, and converts them with the same SQL as `LocalStore.fetch` (DuckDB over the
Arrow table), so a partition holds exactly the rows and dtypes ``sf.fetch`` would give.

A plain parquet dump (not built into a store) is partitioned by its row groups, without the
one-neuron-one-partition guarantee.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import OptionError, SourceError

__all__ = ["Part", "plan_parts", "read_part", "to_dask"]


@dataclass(frozen=True)
class Part:
    """What one partition reads: row groups of one file, and which rows of them it keeps."""

    file: str
    row_groups: tuple[int, ...]
    select: str  # DuckDB SELECT list producing canonical columns (nm)
    attrs: dict
    side: str | None = None  # with ids: keep rows whose ``side`` is in ``ids``
    ids: np.ndarray | None = None
    exclude_pre: np.ndarray | None = None  # with ids: drop rows whose pre is here (taken already)
    neuropils: bool = False
    id_columns: tuple[str, str] = ("pre", "post")  # the dump's names of pre and post
    key_side: str = "pre"  # the copy's sort key: rows with start <= key < stop are this partition's
    start: int | None = None
    stop: int | None = None


def _projected(part: Part, columns) -> tuple[str, list[str] | None]:
    """The SELECT list of ``columns`` only, and the dump's columns it needs (None: all)."""
    import re

    exprs = {e.rsplit(" AS ", 1)[1]: e for e in part.select.split(", ")}
    select = ", ".join(e for name, e in exprs.items() if name in set(columns))
    raw = {m.replace('""', '"') for m in re.findall(r'"((?:[^"]|"")+)"', select)}
    return select, sorted(raw | set(part.id_columns))


def read_part(part: Part, columns=None) -> pd.DataFrame:
    """The canonical rows of one partition (run on a worker); ``columns``: only those (dask
    passes the columns a graph uses, so that a branch that needs the ids reads only them)."""
    import duckdb
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    select, raw = part.select, None
    if columns is not None:
        select, raw = _projected(part, columns)
    file = pq.ParquetFile(part.file)
    if raw is not None and not set(raw) <= set(file.schema_arrow.names):
        raw = None  # an expression this does not understand: read every column
    # one thread: dask runs partitions in parallel, one per worker thread (threads inside a
    # task would oversubscribe the cores)
    table = file.read_row_groups(list(part.row_groups), columns=raw, use_threads=False)
    pre_col, post_col = part.id_columns
    if part.start is not None or part.stop is not None:
        key = table[pre_col if part.key_side == "pre" else post_col]
        in_range = None
        if part.start is not None:
            in_range = pc.greater_equal(key, part.start)
        if part.stop is not None:
            below = pc.less(key, part.stop)
            in_range = below if in_range is None else pc.and_(in_range, below)
        table = table.filter(in_range)
    if part.ids is not None:
        col = table[pre_col if part.side == "pre" else post_col]
        keep = pc.is_in(col, value_set=_arrow(part.ids, col.type))
        if part.exclude_pre is not None:
            pre = table[pre_col]
            taken = pc.is_in(pre, value_set=_arrow(part.exclude_pre, pre.type))
            keep = pc.and_(keep, pc.invert(taken))
        table = table.filter(keep)
    con = duckdb.connect(config={"threads": 1})
    try:
        con.register("part", table)
        out = con.execute(f"SELECT {select} FROM part").fetchdf()
    finally:
        con.close()
    if part.neuropils and "neuropil" in out:
        out["neuropil"] = out["neuropil"].astype("category")
    out.attrs = dict(part.attrs)
    return out


def _arrow(values: np.ndarray, type_):
    import pyarrow as pa

    return pa.array(np.asarray(values)).cast(type_)


def _row_group_ranges(file: str, column: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, min, max) of ``column`` per row group, from the parquet footer only."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(file).metadata
    names = [meta.schema.column(i).name for i in range(meta.num_columns)]
    if column not in names:
        raise SourceError(f"{file}: no column {column!r} to partition by")
    col = names.index(column)
    rows, lo, hi = [], [], []
    for i in range(meta.num_row_groups):
        rg = meta.row_group(i)
        stats = rg.column(col).statistics
        rows.append(rg.num_rows)
        if stats is None or not stats.has_min_max:
            lo.append(np.iinfo("int64").min)
            hi.append(np.iinfo("int64").max)
        else:
            lo.append(int(stats.min))
            hi.append(int(stats.max))
    return np.asarray(rows), np.asarray(lo, dtype=np.int64), np.asarray(hi, dtype=np.int64)


def _ranges(rows, lo, hi, size: int) -> list[tuple[tuple[int, ...], int | None, int | None]]:
    """Key ranges ``[start, stop)`` of about ``size`` rows each, over row groups sorted by key.

    Boundaries are row-group minima (a key that starts a row group), so that each range is whole
    neurons; each range reads the row groups that overlap it.
    """
    bounds: list[int] = []
    count = 0
    for i in range(len(rows)):
        if (
            count >= size
            and i > 0
            and lo[i] > (bounds[-1] if bounds else lo[0])
            and lo[i] > lo[i - 1]
        ):
            bounds.append(int(lo[i]))
            count = 0
        count += int(rows[i])
    starts = [None, *bounds]
    stops = [*bounds, None]
    out = []
    for start, stop in zip(starts, stops, strict=True):
        groups = tuple(
            i
            for i in range(len(rows))
            if (start is None or hi[i] >= start) and (stop is None or lo[i] < stop)
        )
        out.append((groups, start, stop))
    return out


def _chunks(rows, size: int) -> list[tuple[int, ...]]:
    """Consecutive row groups in runs of about ``size`` rows (plain dumps: no key order)."""
    out, current, count = [], [], 0
    for i in range(len(rows)):
        if current and count >= size:
            out.append(tuple(current))
            current, count = [], 0
        current.append(i)
        count += int(rows[i])
    if current:
        out.append(tuple(current))
    return out


def plan_parts(
    files: dict[str, list[str]],
    *,
    select: str,
    attrs: dict,
    ids: np.ndarray | None,
    pre: bool,
    post: bool,
    partition_size: int,
    sorted_copies: bool,
    neuropils: bool,
    id_columns: tuple[str, str] = ("pre", "post"),
) -> list[Part]:
    """The partitions of a store: ``files`` maps ``"pre"``/``"post"`` to the files of that copy.

    ``sorted_copies``: the files are a built store's copies sorted by pre / post (partitions then
    never split a neuron's synapses on that side); otherwise a plain dump, partitioned by its row
    groups. ``id_columns``: the dump's names of the pre and post columns.
    """
    if (
        isinstance(partition_size, bool)
        or not isinstance(partition_size, int)
        or partition_size < 1
    ):
        raise OptionError(f"partition_size must be a positive int (rows), got {partition_size!r}")
    parts: list[Part] = []
    common = {"select": select, "attrs": attrs, "neuropils": neuropils, "id_columns": id_columns}
    if ids is not None:
        ids = np.unique(np.asarray(ids, dtype=np.int64))
    sides = ["pre"] if ids is None else [s for s, on in (("pre", pre), ("post", post)) if on]
    for side in sides:
        column = id_columns[0 if side == "pre" else 1]
        with_ids = {}
        if ids is not None:
            # a synapse between two query neurons: once (from the pre copy)
            exclude = ids if (side == "post" and pre) else None
            with_ids = {"side": side, "ids": ids, "exclude_pre": exclude}
        for file in files[side]:
            if not sorted_copies:
                for groups in _chunks(_plain_ranges(file)[0], partition_size):
                    parts.append(Part(file, groups, **common, **with_ids))
                continue
            rows, lo, hi = _row_group_ranges(file, column)
            if ids is not None:  # only row groups holding one of the ids (from the footer)
                first = np.searchsorted(ids, lo, side="left")
                holds = (first < len(ids)) & (ids[np.minimum(first, len(ids) - 1)] <= hi)
                rows = np.where(holds, rows, 0)
            for groups, start, stop in _ranges(rows, lo, hi, partition_size):
                groups = tuple(g for g in groups if rows[g] > 0)
                if groups:
                    parts.append(
                        Part(file, groups, **common, **with_ids, key_side=side, start=start,
                             stop=stop)
                    )  # fmt: skip
    return parts


def _plain_ranges(file: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(file).metadata
    rows = np.asarray([meta.row_group(i).num_rows for i in range(meta.num_row_groups)])
    zeros = np.zeros(len(rows), dtype=np.int64)
    return rows, zeros, zeros


def parquet_files(path: Path) -> list[str]:
    """The parquet files of a dump (a file, or a directory of them), in a stable order."""
    from ._sql import PARQUET

    if path.is_dir():
        return [str(f) for f in sorted(path.rglob("*")) if f.suffix.lower() in PARQUET]
    return [str(path)]


def _select(layout, resolution, columns) -> str:
    """The SELECT list of ``columns`` (canonical names), converted as ``LocalStore.fetch`` does."""
    from ..schemas import NEUROTRANSMITTERS, SynapseTable

    every = layout.select(
        resolution,
        transmitters=all(layout.has(c) for c in NEUROTRANSMITTERS),
        neuropils=layout.has(SynapseTable.neuropil),
    ).split(", ")
    by_name = {expr.rsplit(" AS ", 1)[1]: expr for expr in every}
    unknown = [c for c in columns if c not in by_name]
    if unknown:
        raise OptionError(f"columns {unknown} are not in this store; it has {list(by_name)}")
    return ", ".join(by_name[c] for c in by_name if c in columns)  # the fetch order


def to_dask(store, ids, *, columns, partition_size, pre, post):
    """`LocalStore.to_dask` (see there)."""
    import dask.dataframe as dd

    from .._ids import as_ids, unique_ids
    from ..schemas import NEUROTRANSMITTERS, SynapseTable
    from ._sql import PARQUET

    if not (pre or post):
        raise OptionError("pre and post are both False: nothing to read; set at least one True")
    if columns is None:
        columns = [
            c for c in store.columns if c not in NEUROTRANSMITTERS and c != SynapseTable.neuropil
        ]
    else:
        columns = [columns] if isinstance(columns, str) else list(columns)
        if not columns or not all(isinstance(c, str) for c in columns):
            raise OptionError(f"columns must be a non-empty list of column names, got {columns!r}")
    if store.indexed:
        files = {s: [str(store.path / f"by_{s}.parquet")] for s in ("pre", "post")}
        id_columns = ("pre", "post")
    elif store.path.is_dir() or store.path.suffix.lower() in PARQUET:
        dump = parquet_files(store.path)
        files = {"pre": dump, "post": dump}
        id_columns = tuple(store._layout.expr[s].strip('"') for s in ("pre", "post"))
    else:
        raise SourceError(
            f"{store!r}: to_dask reads parquet; build an indexed store first "
            "(sf.sources.LocalStore.build(dump, path))"
        )
    select = _select(store._layout, store.resolution, columns)
    attrs = {
        "units": "nm",
        "source": repr(store),
        "path": str(store.path),
        "datastack": store.datastack,
        "table": store.table,
        "materialization": store.materialization,
        "filtered": store.filtered,
        "resolution": [float(r) for r in store.resolution],
    }
    query_ids = None if ids is None else unique_ids(as_ids(ids, what="ids"))
    parts = plan_parts(
        files, select=select, attrs=attrs, ids=query_ids, pre=pre, post=post,
        partition_size=partition_size, sorted_copies=store.indexed,
        neuropils=SynapseTable.neuropil in columns, id_columns=id_columns,
    )  # fmt: skip
    meta = read_part(
        Part(files["pre"][0], (), select, attrs, neuropils=SynapseTable.neuropil in columns)
    )
    if not parts:  # no row group holds the ids: one empty partition
        return dd.from_pandas(meta, npartitions=1)
    if SynapseTable.neuropil in meta:  # each partition has its own: unknown to dask
        from dask.dataframe.utils import clear_known_categories

        meta = clear_known_categories(meta, cols=[SynapseTable.neuropil])
    return dd.from_map(read_part, parts, meta=meta, label="synframe-store", enforce_metadata=False)
