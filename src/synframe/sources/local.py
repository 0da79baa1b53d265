"""``LocalStore``: synapses from a local dump, queried with DuckDB without loading the dump.

One module, though over 450 lines: one class, whose reading and [`LocalStore.build`][synframe.sources.local.LocalStore.build] share the
store's on-disk format (its metadata, sort orders and row groups); the SQL layout lives in
``_sql.py`` and dask partitions in ``_partitions.py``.

A dump can be used as it is (a parquet or feather file, a directory of parquet files, a DuckDB
database) or indexed once with [`LocalStore.build`][synframe.sources.local.LocalStore.build]: two copies of the table, sorted by ``pre``
and by ``post``, written as parquet with small row groups. DuckDB prunes row groups with their
min/max statistics, so the synapses of a few neurons are read from a few row groups, not from the
whole dump.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import shutil
import sys
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from .._io import staged_dir
from .._layout import resolution_array
from ..errors import IdError, SourceError, format_problems
from ..schemas import NEUROTRANSMITTERS, SynapseTable
from ._base import Query
from ._sql import DUCKDB, FEATHER, PARQUET, Layout, lit, q

__all__ = ["LocalStore"]

log = logging.getLogger("synframe")

META = "synframe_store.json"
STORE_VERSION = 1
#: ids per SQL statement: DuckDB prunes row groups for IN-lists of literals; more ids than this
#: from an unindexed dump are looked up during one scan instead (not one scan per batch)
_MAX_LITERALS = 2_000
#: DuckDB integer types wider than int64 (their ids may not fit it), as users know them
_WIDE = {"UBIGINT": "uint64", "HUGEINT": "int128"}


def _nullable() -> dict:
    import pyarrow as pa

    return {
        pa.int8(): pd.Int8Dtype(), pa.int16(): pd.Int16Dtype(), pa.int32(): pd.Int32Dtype(),
        pa.int64(): pd.Int64Dtype(), pa.uint8(): pd.UInt8Dtype(), pa.uint16(): pd.UInt16Dtype(),
        pa.uint32(): pd.UInt32Dtype(), pa.uint64(): pd.UInt64Dtype(), pa.bool_(): pd.BooleanDtype(),
    }  # fmt: skip


class _Nullable(dict):
    """Arrow integer/boolean type -> pandas nullable dtype, built on first use."""

    def get(self, key, default=None):
        if not self:
            self.update(_nullable())
        return dict.get(self, key, default)


_NULLABLE = _Nullable()


#: results larger than this are followed by giving freed memory back to the OS (_trim)
_TRIM_BYTES = 1 << 28


@lru_cache(maxsize=1)
def _malloc_trim():
    """glibc's ``malloc_trim``, or ``None`` on other C libraries."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # pragma: no cover - musl and friends
        return None


def _trim(nbytes: int) -> None:
    """After a large result: give the memory DuckDB's worker threads freed back to the OS.

    glibc keeps it in per-thread arenas (measured: 1.3 GB retained after a 20-million-row read,
    for as long as the process lives); ``malloc_trim`` returns it in ~0.15 s.
    """
    trim = _malloc_trim() if nbytes > _TRIM_BYTES else None
    if trim is not None:
        trim(0)


def _pool():
    """Where Arrow allocates the pandas blocks: the system allocator, which gives large freed
    blocks back to the OS (Arrow's default pool keeps them: a whole-table fetch would hold a
    second table's worth of memory after the table is gone)."""
    import pyarrow as pa

    return pa.system_memory_pool()


def _read_errors() -> tuple[type[BaseException], ...]:
    """What DuckDB and Arrow raise on files they cannot read (empty, truncated, not theirs)."""
    import pyarrow as pa

    return (duckdb.Error, pa.ArrowException, OSError)


def _read_meta(path: Path) -> dict:
    """A store's ``synframe_store.json``, or a [`SourceError`][synframe.errors.SourceError] naming it and the fix."""
    where = path / META
    try:
        meta = json.loads(where.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        meta = exc
    if not isinstance(meta, dict) or not isinstance(meta.get("resolution", []), list):
        said = f" ({type(meta).__name__}: {meta})" if isinstance(meta, Exception) else ""
        raise SourceError(
            f"{where}: not a synframe store description{said}; the store is damaged: rebuild it "
            f"(LocalStore.build(dump, {str(path)!r}, overwrite=True))"
        )
    return meta


def _check_target(dump: Path, path: Path, overwrite: bool) -> None:
    """Refuse to build a store at ``path`` where that would lose data: over anything but a
    synframe store (``overwrite=True`` replaces only those), an existing path without
    ``overwrite=True``, or a path that is, holds or lies inside the dump."""
    exists = path.exists() or path.is_symlink()
    src, dst = dump.resolve(), path.resolve()
    if src == dst or dst in src.parents or src in dst.parents:
        raise SourceError(
            f"cannot build a store at {path}: it is, holds or lies inside the dump {dump}; "
            "choose a path outside the dump"
        )
    if not exists:
        return
    if not overwrite:
        raise SourceError(
            f"{path} exists; pass overwrite=True to replace it (only a synframe store is replaced)"
        )
    is_store = path.is_dir() and not path.is_symlink() and (path / META).is_file()
    empty_dir = path.is_dir() and not path.is_symlink() and not any(path.iterdir())
    if not (is_store or empty_dir):
        what = "a file" if path.is_file() else "a directory that is not a synframe store"
        raise SourceError(
            f"{path} is {what} (no {META}); overwrite=True replaces only a store built with "
            "LocalStore.build: remove it yourself or choose another path"
        )


def _sorted_unique(out: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by synapse id (stable), each id once (its first row).

    Dumps are usually written in id order: then the check is all it costs (no sort, no hash).
    """
    if out[SynapseTable.id].dtype.kind not in "iu":  # NULL ids (nullable Int64): the plain way
        out = out.drop_duplicates(SynapseTable.id, ignore_index=True)
        return out.sort_values(SynapseTable.id, ignore_index=True, kind="stable")
    ids = out[SynapseTable.id].to_numpy()
    if len(ids) > 1 and not (ids[1:] >= ids[:-1]).all():
        out = out.sort_values(SynapseTable.id, ignore_index=True, kind="stable")
        ids = out[SynapseTable.id].to_numpy()
    if len(ids) > 1:
        again = ids[1:] == ids[:-1]
        if again.any():
            out = out[~np.r_[False, again]].reset_index(drop=True)
    return out


class LocalStore:
    """Synapses from a local dump, answered by DuckDB.

    Parameters
    ----------
    path
        A store directory made by `build` (indexed: fast), or a dump used as it is: a parquet
        file, a directory of parquet files, a feather (Arrow IPC) file, or a DuckDB database.
    resolution
        nm per position unit along x, y, z. Required for dumps with CAVE-layout positions
        (``pre_pt_position_x`` … or list-valued ``pre_pt_position``), which are usually voxels
        (FlyWire and MICrONS: ``(4, 4, 40)``); canonical-layout dumps (``pre_x`` …) default to nm.
        A built store records its own.
    table
        The table of a DuckDB database (default: its only table).
    datastack, materialization, filtered
        Provenance of the dump: recorded in the fetched table's ``attrs`` and checked against
        ``sf.fetch``'s ``materialization=`` and ``filtered=``. ``filtered`` is ``True`` for a
        curated dump (e.g. FlyWire's ``valid_synapses_nt_np_v6``), ``False`` for a raw one and
        ``None`` for datasets with no such distinction.

    Examples
    --------
    >>> import synframe as sf
    >>> store = sf.datasets.example_store()
    >>> store
    LocalStore('microns_v795_synapses.parquet', minnie65_public v795, resolution 4 x 4 x 40 nm)
    >>> syn = sf.fetch(sf.datasets.EXAMPLE_ROOT_ID, source=store, progress=False)
    >>> len(syn)
    2424
    >>> len(store.read())  # every synapse of the store
    2424
    """

    #: answers ``Query(ids=None)`` (every synapse): ``sf.fetch(source=store)``
    whole_table = True

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        resolution: float | Sequence[float] | None = None,
        table: str | None = None,
        datastack: str | None = None,
        materialization: int | None = None,
        filtered: bool | None = None,
    ) -> None:
        self.path = Path(path).expanduser()
        self.indexed = False
        meta: dict = {}
        if self.path.is_dir() and (self.path / META).exists():
            meta = _read_meta(self.path)
            if meta.get("version") != STORE_VERSION:
                raise SourceError(
                    f"{self.path}: store version {meta.get('version')} is not supported; rebuild it"
                )
            self.indexed = True
        self.table = table or meta.get("table")
        self.datastack = datastack or meta.get("datastack")
        self.materialization = (
            materialization if materialization is not None else meta.get("materialization")
        )
        self.filtered = filtered if filtered is not None else meta.get("filtered")
        try:
            self._connect()
        except _read_errors() as exc:
            raise self._unreadable(exc) from None
        where = str(self.path)
        if self.indexed:
            resolution = meta["resolution"]
        elif resolution is None:
            if self._layout.cave_positions:
                raise SourceError(
                    f"{where}: positions are in CAVE layout, usually voxels; declare their size: "
                    "LocalStore(path, resolution=(4, 4, 40)) for FlyWire/MICrONS voxels, or "
                    "resolution=1 if they are already nm"
                )
            resolution = 1.0
        self.resolution = resolution_array(resolution)

    def _connect(self) -> None:
        """Open the DuckDB connection and the dump's relations; read the dump's columns."""
        self._con = duckdb.connect(self._database())
        self._lock = threading.Lock()  # one DuckDB connection, queried by one thread at a time
        # keep parquet footers (row-group statistics) in memory between queries: halves a
        # warm query on a 100-million-synapse store (benchmarks/README.md)
        self._con.execute("SET parquet_metadata_cache = true")
        self._con.execute("SET enable_progress_bar = false")  # ours is tqdm's, when asked for
        # give memory freed after a query back to the OS within a second: DuckDB's allocator
        # otherwise keeps a whole-table result's worth of it after the table has gone to pandas
        with contextlib.suppress(duckdb.Error):  # a DuckDB without the setting
            self._con.execute("SET allocator_background_threads = true")
        self._relations = self._open()
        for side in dict.fromkeys(self._relations.values()):  # both copies of a store
            described = self._con.execute(f"DESCRIBE SELECT * FROM {side}").fetchall()
        types = {row[0]: row[1] for row in described}
        self._layout = Layout(types, str(self.path))
        if not self.indexed:
            self._check_id_range(types)

    def _check_id_range(self, types: dict[str, str]) -> None:
        """An [`IdError`][synframe.errors.IdError] naming the dump's id columns of a type wider
        than int64 (uint64, hugeint) that hold values >= 2**63: they cannot be read as int64.

        Only such columns are scanned (one column each); int64 columns need no check.
        """
        wide = []
        for canonical in (SynapseTable.id, SynapseTable.pre, SynapseTable.post):
            col = self._layout.expr[canonical].strip('"')
            if types[col].upper() in _WIDE:
                wide.append(col)
        if not wide:
            return
        rel = self._relations["pre"]
        maxima = self._con.execute(
            "SELECT " + ", ".join(f"max({q(c)})" for c in wide) + f" FROM {rel}"
        ).fetchall()[0]  # fetchone() would leave the result open on the connection
        problems = [
            f"column '{c}' ({_WIDE[types[c].upper()]}) holds ids up to {m}, which is >= 2**63"
            for c, m in zip(wide, maxima, strict=True)
            if m is not None and m >= 2**63
        ]
        if problems:
            raise IdError(
                format_problems(
                    f"{self.path}: ids that cannot be represented as int64",
                    [
                        *problems,
                        "synframe reads every id as int64: ids must be < 2**63 (uint64 ids below "
                        "2**63 are accepted); no neuron or synapse id of a CAVE dataset is this "
                        "large -- check how the dump was written",
                    ],
                )
            )

    def _id_overflow(self, exc: BaseException) -> IdError | None:
        """An [`IdError`][synframe.errors.IdError] for DuckDB failing to cast an id column to
        int64 (values >= 2**63 in a column of a wider type), else ``None``."""
        if not isinstance(exc, (duckdb.ConversionException, duckdb.OutOfRangeException)):
            return None
        said = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return IdError(
            f"{self.path}: an id column holds values that cannot be represented as int64 ({said}); "
            "synframe reads every id as int64: ids must be < 2**63 (uint64 ids below 2**63 are "
            "accepted) -- check how the dump was written"
        )

    def _unreadable(self, exc: BaseException) -> SourceError | IdError:
        """A [`SourceError`][synframe.errors.SourceError] naming the dump (or store) that DuckDB / Arrow could not read,
        what they said (its first line: it names the file) and the fix."""
        overflow = self._id_overflow(exc)
        if overflow is not None:
            return overflow
        said = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if self.indexed:
            fix = (
                "the store is damaged (a file missing, truncated or corrupt); rebuild it: "
                f"LocalStore.build(dump, {str(self.path)!r}, overwrite=True)"
            )
        else:
            fix = (
                "it is not a complete parquet / feather / DuckDB file (empty, truncated or "
                "corrupt?); export or download it again"
            )
        return SourceError(f"{self.path}: cannot read the synapse dump: {said}\n  {fix}")

    # -- opening ---------------------------------------------------------------------------------

    def _database(self) -> str:
        if self.path.is_file() and self.path.suffix.lower() in DUCKDB:
            return str(self.path)
        return ":memory:"

    def _open(self) -> dict[str, str]:
        """SQL relations to read the pre and post sides from."""
        p = self.path
        if self.indexed:
            return {s: f"read_parquet({lit(p / f'by_{s}.parquet')})" for s in ("pre", "post")}
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.suffix.lower() in PARQUET)
            if not files:
                raise SourceError(
                    f"{p}: directory holds no parquet files (and is not a synframe store)"
                )
            rel = "read_parquet([" + ", ".join(lit(f) for f in files) + "])"
        elif p.suffix.lower() in PARQUET:
            rel = f"read_parquet({lit(p)})"
        elif p.suffix.lower() in FEATHER:
            import pyarrow.dataset as ds

            self._dataset = ds.dataset(str(p), format="feather")  # scanned lazily by DuckDB
            self._con.register("_synframe_dump", self._dataset)
            rel = "_synframe_dump"
        elif p.suffix.lower() in DUCKDB:
            tables = [r[0] for r in self._con.execute("SHOW TABLES").fetchall()]
            if self.table is None:
                if len(tables) != 1:
                    raise SourceError(
                        f"{p}: holds tables {tables}; choose one with LocalStore(path, table=...)"
                    )
                self.table = tables[0]
            elif self.table not in tables:
                raise SourceError(f"{p}: no table {self.table!r}; it holds {tables}")
            rel = q(self.table)
        else:
            raise SourceError(
                f"{p}: unknown kind of dump (suffix {p.suffix!r}); give a parquet, feather or DuckDB "
                "file, a directory of parquet files or a store built with LocalStore.build"
            )
        return {"pre": rel, "post": rel}

    def __repr__(self) -> str:
        res = " x ".join(f"{r:g}" for r in self.resolution)
        what = f"{self.datastack} v{self.materialization}" if self.datastack else "local dump"
        kind = "indexed store" if self.indexed else self.path.name
        return f"LocalStore({kind!r}, {what}, resolution {res} nm)"

    @property
    def columns(self) -> list[str]:
        """Canonical columns this store can return, in the order of a fetched table."""
        return self._layout.columns()

    # -- querying --------------------------------------------------------------------------------

    def _check(self, query: Query) -> None:
        problems = []
        if query.min_score is not None and not self._layout.has(SynapseTable.cleft_score):
            problems.append(
                "min_score needs a 'cleft_score' column, which this dump lacks (pass min_score=None)"
            )
        if query.transmitters and not all(self._layout.has(c) for c in NEUROTRANSMITTERS):
            problems.append(
                "transmitters=True needs the columns gaba, acetylcholine/ach, glutamate/glut, "
                "octopamine/oct, serotonin/ser, dopamine/da, which this dump lacks"
            )
        if query.neuropils and not self._layout.has(SynapseTable.neuropil):
            problems.append("neuropils=True needs a 'neuropil' column, which this dump lacks")
        if query.filtered and self.filtered is False:
            problems.append(
                "this dump holds unfiltered synapses; pass filtered=False, or use a filtered dump"
            )
        if not query.filtered and self.filtered is True:
            problems.append("this dump holds only filtered synapses; pass filtered=True")
        mat = query.materialization
        if mat == "live":
            problems.append("a local dump is a fixed snapshot; 'live' needs a CAVE source")
        elif isinstance(mat, (int, np.integer)) and not isinstance(mat, bool):
            if self.materialization is None:
                problems.append(
                    f"materialization={mat} asked, but this dump does not record its version; "
                    "pass materialization='auto' or declare it (LocalStore(..., materialization=...))"
                )
            elif int(mat) != int(self.materialization):
                problems.append(f"this dump is materialization {self.materialization}, not {mat}")
        elif mat not in ("auto", "latest"):
            problems.append(
                f"materialization must be 'auto', 'latest', 'live' or an int, got {mat!r}"
            )
        if problems:
            raise SourceError(format_problems(f"{self!r} cannot answer this query", problems))

    def fetch(self, query: Query) -> pd.DataFrame:
        """Synapses of ``query.ids`` as a canonical table in nm (each synapse once, sorted by id).

        ``query.ids`` ``None`` asks for every synapse of the store (`read`).
        """
        from tqdm.auto import tqdm

        self._check(query)
        select = self._layout.select(
            self.resolution, transmitters=query.transmitters, neuropils=query.neuropils
        )
        score = ""
        if query.min_score is not None:
            score = (
                f" AND {self._layout.expr[SynapseTable.cleft_score]} >= {float(query.min_score)!r}"
            )
        sides = [s for s, on in (("pre", query.pre), ("post", query.post)) if on]
        with self._lock:
            if query.ids is None:  # every synapse: one scan of one copy
                out = self._frame(
                    self._arrow(f"SELECT {select} FROM {self._relations['pre']} WHERE TRUE{score}")
                )
            elif len(query.ids) > _MAX_LITERALS and not self.indexed:
                out = self._frame(self._filtered_scan(query.ids, sides, select, score))
            else:
                out = None
        if out is None:
            size = min(query.batch_size or _MAX_LITERALS, _MAX_LITERALS)
            # sorted, each batch is a narrow range of ids: few row groups of an indexed store
            ids = np.sort(query.ids)
            # no ids still runs one (empty) query, so an empty result has the right columns and dtypes
            batches = [ids[i : i + size] for i in range(0, len(ids), size)] or [ids]
            frames = []
            with (
                self._lock,
                tqdm(
                    total=len(batches),
                    desc="fetch",
                    unit="query",
                    disable=not query.progress,
                    leave=False,
                    delay=0 if len(batches) > 1 else 0.5,  # one quick query shows no bar
                ) as bar,
            ):
                for batch in batches:  # one statement per batch: the sides as a UNION ALL
                    literals = ", ".join(str(int(i)) for i in batch)
                    parts = []
                    for side in sides:
                        expr = self._layout.expr[side]
                        cond = f"{expr} IN ({literals})" if len(batch) else "FALSE"
                        parts.append(
                            f"SELECT {select} FROM {self._relations[side]} WHERE {cond}{score}"
                        )
                    frames.append(self._frame(self._arrow(" UNION ALL ".join(parts))))
                    bar.update()
            frames = [f for f in frames if len(f)] or frames[:1]
            out = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        out = _sorted_unique(out)
        if query.neuropils:
            out[SynapseTable.neuropil] = out[SynapseTable.neuropil].astype("category")
        out.attrs = self._attrs()
        return out

    def read(self, columns: Sequence[str] | str | None = None) -> pd.DataFrame:
        """Every synapse of the store as a canonical table in nm, sorted by id, each id once.

        The whole-table counterpart of ``sf.fetch(ids, source=store)`` -- what
        ``sf.fetch(source=store)`` returns, without its validation and history. One scan of one
        copy of the dump: about as fast as ``pd.read_parquet`` of the dump
        (``benchmarks/README.md``).

        Parameters
        ----------
        columns
            Canonical columns to return (see `columns`), in this order; ``None``: all of
            them (with transmitters and neuropil where the dump has them).

        Notes
        -----
        An indexed store is read from its copy sorted by ``pre`` (then sorted by id here). That
        copy's row groups cover disjoint ``pre`` ranges, so it splits into independent partitions
        (``SELECT ... WHERE pre BETWEEN lo AND hi`` per range, each neuron's output synapses in
        one partition): the partitions a dask reader of the store would use.

        Examples
        --------
        >>> import synframe as sf
        >>> store = sf.datasets.example_store()
        >>> store.read(["id", "pre", "post"]).shape
        (2424, 3)
        """
        available = self.columns
        if columns is None:
            columns = available
        else:
            columns = [columns] if isinstance(columns, str) else columns
            try:
                columns = list(columns)
            except TypeError:
                raise SourceError(
                    f"columns must be a list of column names, got {type(columns).__name__}"
                ) from None
            problems = []
            if not columns:
                problems.append("no columns asked; pass None for all of them")
            odd = [c for c in columns if not isinstance(c, str)]
            if odd:
                problems.append(f"column names must be strings, got {odd[:5]}")
            unknown = [c for c in columns if isinstance(c, str) and c not in available]
            if unknown:
                problems.append(f"unknown columns {unknown}; this store has {available}")
            twice = sorted({c for c in columns if isinstance(c, str) and columns.count(c) > 1})
            if twice:
                problems.append(f"columns {twice} asked more than once")
            if problems:
                raise SourceError(format_problems(f"{self!r}: cannot read these columns", problems))
        # the id is read in any case: to sort and deduplicate by
        wanted = columns if SynapseTable.id in columns else [SynapseTable.id, *columns]
        select = self._layout.select(self.resolution, columns=wanted)
        with self._lock:
            out = self._frame(self._arrow(f"SELECT {select} FROM {self._relations['pre']}"))
        out = _sorted_unique(out)
        if SynapseTable.neuropil in out:
            out[SynapseTable.neuropil] = out[SynapseTable.neuropil].astype("category")
        if SynapseTable.id not in columns:
            out = out.drop(columns=SynapseTable.id)
        out.attrs = self._attrs()
        return out

    def _filtered_scan(self, ids: np.ndarray, sides: list[str], select: str, score: str):
        """Many ids from an unindexed dump: one streamed scan, rows kept by an Arrow hash lookup.

        One pass over the dump instead of one per batch of literals, with memory for the kept
        rows only; rows stay in the dump's order (a DuckDB join would shuffle them, and sorting
        20 million rows back into id order costs more than the scan).
        """
        import pyarrow as pa
        import pyarrow.compute as pc

        wanted = pa.array(ids, type=pa.int64())
        try:
            rel = self._con.sql(f"SELECT {select} FROM {self._relations['pre']} WHERE TRUE{score}")
            reader = (
                rel.to_arrow_reader()
                if hasattr(rel, "to_arrow_reader")
                else rel.fetch_record_batch()
            )
            kept = []
            for batch in reader:
                mask = None
                for side in sides:
                    hit = pc.is_in(batch.column(side), value_set=wanted)
                    mask = hit if mask is None else pc.or_(mask, hit)
                kept.append(pc.filter(batch, mask, memory_pool=_pool()))
        except _read_errors() as exc:
            raise self._unreadable(exc) from None
        return pa.Table.from_batches(kept, schema=reader.schema)

    def _arrow(self, sql: str):
        """The result of ``sql`` as an Arrow table (DuckDB 1.x and 2.x); a file DuckDB cannot
        read is a [`SourceError`][synframe.errors.SourceError] naming it."""
        try:
            rel = self._con.sql(sql)
            return rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.arrow()
        except _read_errors() as exc:
            raise self._unreadable(exc) from None

    @staticmethod
    def _frame(table) -> pd.DataFrame:
        """A pandas frame of an Arrow result, with DuckDB's dtypes (nullable ints where NULLs).

        Numeric columns are copied once into pandas blocks, writable; the Arrow buffers are
        released column by column as they are converted (``self_destruct``).
        """
        import pyarrow as pa

        nullable = {
            f.name: f.type
            for f, col in zip(table.schema, table.columns, strict=True)
            if col.null_count and (pa.types.is_integer(f.type) or pa.types.is_boolean(f.type))
        }
        fixed = {
            name: table.column(name).to_pandas(types_mapper=_NULLABLE.get) for name in nullable
        }
        np_name = SynapseTable.neuropil
        kind = table.schema.field(np_name).type if np_name in table.column_names else None
        encode = kind is not None and (pa.types.is_string(kind) or pa.types.is_large_string(kind))
        if encode:  # a categorical straight from Arrow: no Python string per row
            import pyarrow.compute as pc

            i = table.column_names.index(np_name)
            encoded = pc.dictionary_encode(table.column(i), memory_pool=_pool())
            table = table.set_column(i, np_name, encoded)
        nbytes = table.nbytes
        out = table.to_pandas(self_destruct=True, memory_pool=_pool())
        del table
        _trim(nbytes)
        for name, values in fixed.items():
            out[name] = values
        if encode:  # categories sorted, as astype("category") makes them
            cats = out[np_name].cat.categories
            out[np_name] = out[np_name].cat.reorder_categories(sorted(cats))
        return out

    def _attrs(self) -> dict:
        return {
            "units": "nm",
            "source": repr(self),
            "path": str(self.path),
            "datastack": self.datastack,
            "table": self.table,
            "materialization": self.materialization,
            "filtered": self.filtered,
            "resolution": [float(r) for r in self.resolution],
        }

    # -- dask ------------------------------------------------------------------------------------

    def to_dask(
        self,
        ids=None,
        *,
        columns=None,
        partition_size: int = 2_000_000,
        pre: bool = True,
        post: bool = True,
    ):
        """The synapses as a dask DataFrame in the canonical layout (nm, int64 ids), read lazily.

        Partitions follow the store's copy sorted by ``pre`` (with ``ids``: the ``pre`` copy for the
        neurons' presynapses, the ``post`` copy for their postsynapses): all synapses of a neuron on
        that side are in one partition, which a worker reads with pyarrow from the row groups that
        hold it. A plain parquet dump (not built with `build`) is partitioned by its row
        groups instead, without that guarantee; other dumps: build a store first.

        Parameters
        ----------
        ids
            Neuron ids (each synapse of them once, as [`synframe.fetch`][synframe.fetch.fetch]), or ``None`` for
            every synapse of the store.
        columns
            Canonical columns to read (default: those ``sf.fetch`` returns; any of
            `columns`, e.g. ``["id", "pre", "post"]`` for connectivity alone).
        partition_size
            Rows per partition, about (a partition ends only where a neuron's synapses end).
        pre, post
            With ``ids``: the neurons' presynapses and/or postsynapses.

        Examples
        --------
        >>> import synframe as sf
        >>> store = sf.datasets.example_store()
        >>> ddf = store.to_dask(partition_size=1_000)
        >>> ddf.npartitions, len(ddf.compute())
        (1, 2424)
        """
        from . import _partitions

        return _partitions.to_dask(
            self, ids, columns=columns, partition_size=partition_size, pre=pre, post=post
        )

    # -- building --------------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        dump: str | os.PathLike,
        path: str | os.PathLike,
        *,
        resolution: float | Sequence[float] | None = None,
        table: str | None = None,
        datastack: str | None = None,
        materialization: int | None = None,
        filtered: bool | None = None,
        row_group_size: int = 65_536,
        overwrite: bool = False,
        memory_limit: str | None = None,
        progress: bool = True,
    ) -> LocalStore:
        """Index ``dump`` once into a store at ``path``; return the store.

        The store holds two copies of the canonical columns (positions as in the dump, with the
        declared ``resolution`` recorded), sorted by ``pre`` and by ``post``, in parquet files with
        ``row_group_size`` rows per row group. Written into a temporary directory and moved into
        place: an interrupted build never leaves a half-written store at ``path``.

        An existing ``path`` is replaced only with ``overwrite=True``, and only if it is a store
        built here (it holds ``synframe_store.json``) or an empty directory; a ``path`` that is,
        holds or lies inside the dump is refused. Every refusal is a
        [`SourceError`][synframe.errors.SourceError] raised before anything is written; so is a dump
        (or store) DuckDB / Arrow cannot read, naming the file.

        ``progress`` shows a bar over the two sorted copies (on a terminal, for builds longer than
        two seconds; ``SYNFRAME_PROGRESS=1`` forces it).
        """
        from .._progress import bar

        src = cls(
            dump,
            resolution=resolution,
            table=table,
            datastack=datastack,
            materialization=materialization,
            filtered=filtered,
        )
        if src.indexed:
            raise SourceError(f"{dump} is already a synframe store")
        if (
            isinstance(row_group_size, bool)
            or not isinstance(row_group_size, int)
            or row_group_size < 1
        ):
            raise SourceError(f"row_group_size must be a positive int, got {row_group_size!r}")
        for flag, value in (("overwrite", overwrite), ("progress", progress)):
            if not isinstance(value, (bool, np.bool_)):
                raise SourceError(f"{flag} must be True or False, got {value!r}")
        path = Path(path).expanduser()
        _check_target(Path(dump).expanduser(), path, bool(overwrite))
        with staged_dir(path) as tmp, contextlib.ExitStack() as stack:
            con = src._con
            con.execute(f"SET temp_directory = {lit(tmp / 'spill')}")
            con.execute("SET preserve_insertion_order = false")
            if memory_limit:
                con.execute(f"SET memory_limit = {lit(memory_limit)}")
            lay = src._layout
            select = lay.select(
                None,
                transmitters=all(lay.has(c) for c in NEUROTRANSMITTERS),
                neuropils=lay.has(SynapseTable.neuropil),
            )
            rows = 0
            pbar = stack.enter_context(bar(2, "LocalStore.build", bool(progress), unit="copy"))
            for side in ("pre", "post"):
                out = tmp / f"by_{side}.parquet"
                try:
                    con.execute(
                        f"COPY (SELECT * FROM (SELECT {select} FROM {src._relations[side]}) ORDER BY {side}, id) "
                        f"TO {lit(out)} (FORMAT parquet, ROW_GROUP_SIZE {int(row_group_size)}, COMPRESSION zstd)"
                    )
                except (duckdb.ConversionException, duckdb.OutOfRangeException) as exc:
                    # an id column that does not fit int64; the staged directory goes
                    raise src._id_overflow(exc) from None
                rows = con.execute(f"SELECT count(*) FROM read_parquet({lit(out)})").fetchone()[0]
                pbar.update(1)
            shutil.rmtree(tmp / "spill", ignore_errors=True)
            meta = {
                "version": STORE_VERSION,
                "rows": int(rows),
                "resolution": [float(r) for r in src.resolution],
                "datastack": src.datastack,
                "materialization": src.materialization,
                "filtered": src.filtered,
                "table": src.table,
                "built_from": str(Path(dump).resolve()),
                "row_group_size": int(row_group_size),
            }
            (tmp / META).write_text(json.dumps(meta, indent=2))
        log.info("built store %s: %d synapses", path, meta["rows"])
        return cls(path)
