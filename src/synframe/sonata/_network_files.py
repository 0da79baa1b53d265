"""The files of a network circuit ([`synframe.write_circuit`][synframe.sonata.network.write_circuit]): a table chunk's edge arrays,
the workers' part files, the node table and file, the edge file written chunk by chunk and the
config."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .._ids import as_ids, id_column_of
from ..errors import OptionError, SonataError
from ..schemas import POSITIONS, SynapseTable
from . import _index as index
from ._circuit import UM, single_file_config, string_dataset
from ._record import stamp
from .read import CENTERS

__all__ = [
    "CANONICAL",
    "Nodes",
    "abandon",
    "append_edges",
    "edge_arrays",
    "edge_properties",
    "index_part",
    "network_config",
    "node_ids",
    "node_table",
    "read_part",
    "remap_edges",
    "write_nodes",
    "write_part",
]

#: columns every edge gets from the canonical table (the rest become edge properties)
CANONICAL = (SynapseTable.id, SynapseTable.pre, SynapseTable.post, *POSITIONS)


#: datasets of an edge population synframe writes itself: no column may take their name
RESERVED = (
    "synapse_id", "source_node_id", "target_node_id", "edge_type_id", "edge_group_id",
    "edge_group_index", *CENTERS["pre"], *CENTERS["post"],
)  # fmt: skip


def edge_properties(columns: Sequence[str], dtypes) -> list[str]:
    """Columns written as edge properties: not canonical, not a side annotation (pre_/post_);
    names and dtypes a SONATA edge file can hold (else a SonataError), others left out with a
    warning (dates, intervals …)."""
    import warnings

    from ..errors import SynframeWarning

    names = [c for c in columns if not (isinstance(c, str) and c in CANONICAL)]
    if len(set(map(str, columns))) != len(columns):
        raise SonataError("the table has columns of the same name; rename them")
    out, skipped = [], []
    for c in names:
        if not isinstance(c, str) or not c or "/" in c or c in (".", ".."):
            raise SonataError(
                f"column {c!r} cannot be an edge property name (a non-empty string without '/'); "
                "rename it"
            )
        if c.startswith(("pre_", "post_")):
            continue
        if c in RESERVED:
            raise SonataError(
                f"column {c!r} would replace the {c!r} dataset write_circuit computes; rename it"
            )
        dt = dtypes[c]
        if pd.api.types.is_complex_dtype(dt):
            raise SonataError(f"column {c!r} is complex; SONATA readers cannot read it -- drop it")
        if (
            isinstance(dt, pd.CategoricalDtype)
            or pd.api.types.is_bool_dtype(dt)
            or (pd.api.types.is_numeric_dtype(dt) and not pd.api.types.is_timedelta64_dtype(dt))
            or pd.api.types.is_string_dtype(dt)
        ):
            out.append(c)
        else:
            skipped.append(f"{c} ({dt})")
    if skipped:
        warnings.warn(
            f"write_circuit: columns {skipped} are not written (no SONATA type for them); "
            "convert them to numbers or text to keep them",
            SynframeWarning,
            stacklevel=3,
        )
    return out


def edge_arrays(df: pd.DataFrame, properties: Sequence[str]) -> dict[str, np.ndarray]:
    """The edge datasets of one chunk (root ids still; node ids are assigned when stitching)."""
    out = {  # ids checked (no float, missing, negative or >= 2**63 value): never wrapped
        "pre": as_ids(df[SynapseTable.pre], what="pre"),
        "post": as_ids(df[SynapseTable.post], what="post"),
        "synapse_id": as_ids(df[SynapseTable.id], what="id"),
    }
    for side in ("post", "pre"):
        for c, dst in zip([f"{side}_{a}" for a in "xyz"], CENTERS[side], strict=True):
            out[dst] = (df[c].to_numpy(dtype=np.float64) / UM).astype(np.float32)
    for p in properties:
        col = df[p]
        if pd.api.types.is_bool_dtype(col.dtype) and not col.isna().any():
            out[p] = col.to_numpy(dtype=np.int8)
        elif isinstance(col.dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(col.dtype):
            # text; a missing value is "" (as in node properties), whatever the dtype holding it
            text = col.astype(object)
            out[p] = text.where(text.notna(), "").astype(str).to_numpy(dtype=object)
        elif col.dtype == np.float16:  # libsonata reads no half floats; float32 holds them exactly
            out[p] = col.to_numpy(dtype=np.float32)
        else:
            if col.isna().any():
                raise SonataError(
                    f"edge property {p!r} has missing values; SONATA datasets cannot hold them -- "
                    "fill or drop them first"
                )
            out[p] = col.to_numpy(
                dtype=col.dtype.numpy_dtype if hasattr(col.dtype, "numpy_dtype") else None
            )
    return out


def write_part(
    df: pd.DataFrame, folders: tuple[str, str], properties, nodes=None, partition_info=None
) -> pd.DataFrame:
    """A worker's part file for one partition, and its runs for the indices when the node ids
    are known (``nodes``); returns the neuron ids it holds (for the nodes, without ``nodes``).

    ``folders``: the write's part and staging folders, made before any part: on an error both
    go (the write has failed), and a part still running then cannot make them again."""
    import json

    import h5py

    number = partition_info["number"] if partition_info else 0
    folder = Path(folders[0])
    try:
        arrays = edge_arrays(df, properties)
        held = np.union1d(arrays["pre"], arrays["post"]) if nodes is None else np.zeros(0, np.int64)
        bounds = index_part(folder / "index", number, arrays, nodes)
        with h5py.File(folder / f"part-{number:07d}.h5", "w") as h5:
            h5.attrs["index_bounds"] = json.dumps(bounds)
            for name, values in arrays.items():
                if values.dtype == object:
                    h5.create_dataset(name, data=values, dtype=h5py.string_dtype())
                else:
                    h5.create_dataset(name, data=values)
    except BaseException as exc:
        abandon(*folders, exc)
        raise
    return pd.DataFrame({"root_id": held})


def abandon(parts: str | Path, staging: str | Path, exc: BaseException) -> None:
    """A task of a dask write failed with ``exc``: the write is over and its part and staging
    folders go (every task that fails removes them: a lazy write has no task that runs after a
    failure). The first task to fail removes them and returns (its caller raises ``exc``). A
    task that finds them going already stopped only because of that one: it waits until they
    are gone -- the first task has then raised the cause, which dask reports first -- and
    raises a SonataError saying so."""
    import time

    parts, staging = Path(parts), Path(staging)
    failed = staging.with_name(staging.name + ".failed")
    try:
        os.rename(staging, failed)  # atomic: one task is the first
    except OSError:
        deadline = time.monotonic() + 60
        while (parts.exists() or failed.exists()) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        shutil.rmtree(parts, ignore_errors=True)
        raise SonataError(
            "write_circuit: another task of this write failed first and removed the write's "
            f"folders (this one then stopped with {type(exc).__name__}); that task's error is "
            "the cause, and nothing was written at the circuit's path"
        ) from exc
    shutil.rmtree(failed, ignore_errors=True)
    shutil.rmtree(parts, ignore_errors=True)


def index_part(folder: Path, number: int, chunk: dict[str, np.ndarray], nodes) -> dict | None:
    """With ``nodes``: the chunk's neuron ids turned into node ids (in ``chunk``) and its runs
    indexed into ``folder``; the first and last runs of each index (None without ``nodes``)."""
    if nodes is None:
        return None
    chunk["pre"], chunk["post"] = node_ids(chunk, nodes)
    n_nodes = len(nodes.root_ids)
    return {
        name: index.part_runs(folder, name, number, ids, n_nodes)
        for name, ids in zip(index.NAMES, (chunk["pre"], chunk["post"]), strict=True)
    }


def read_part(path: Path) -> tuple[dict[str, np.ndarray], dict | None]:
    """A part file's edge arrays and its index bounds."""
    import json

    import h5py

    with h5py.File(path, "r") as h5:
        arrays = {
            name: (h5[name].asstr()[()] if h5[name].dtype.kind == "O" else h5[name][()])
            for name in h5
        }
        return arrays, json.loads(h5.attrs["index_bounds"])


class Nodes:
    """Neuron ids -> node ids (0 … n-1, in the order of the neuron table or of sorted ids)."""

    def __init__(self, root_ids: np.ndarray) -> None:
        self.root_ids = root_ids
        self._order = np.argsort(root_ids, kind="stable")
        self._sorted = root_ids[self._order]

    def __call__(self, ids: np.ndarray, what: str) -> np.ndarray:
        pos = np.searchsorted(self._sorted, ids)
        pos = np.minimum(pos, len(self._sorted) - 1)
        missing = self._sorted[pos] != ids if len(self._sorted) else np.ones(len(ids), bool)
        if missing.any():
            bad = np.unique(ids[missing])
            raise SonataError(
                f"{len(bad)} {what} neuron(s) of the synapses are not in `neurons` (e.g. "
                f"{bad[:5].tolist()}); every neuron of the synapses must be a node -- add them to the "
                "neuron table (e.g. with a class such as 'extrinsic_neuron') or drop their synapses"
            )
        return self._order[pos].astype(np.uint64)


def node_table(
    neurons: pd.DataFrame | None, syn_ids: np.ndarray
) -> tuple[np.ndarray, pd.DataFrame]:
    """(root ids in node order, annotation columns) of the node population."""
    if neurons is None:
        return np.unique(syn_ids), pd.DataFrame(index=pd.RangeIndex(len(np.unique(syn_ids))))
    if not isinstance(neurons, pd.DataFrame):
        kind = f"{type(neurons).__module__.split('.')[0]}.{type(neurons).__name__}"
        hint = (
            "; call .compute() on it (one row per neuron fits in memory)"
            if hasattr(neurons, "compute")
            else ""
        )
        raise OptionError(
            f"neurons must be a pandas DataFrame of neurons (an id column and annotations), got "
            f"{kind}{hint}"
        )
    idc = id_column_of(neurons, None)
    ids = as_ids(neurons[idc], what=f"neurons column {idc!r}")
    uniq, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        raise OptionError(
            f"neurons lists some ids more than once (e.g. {uniq[counts > 1][:3].tolist()}); "
            "one row per neuron"
        )
    return ids, neurons.drop(columns=idc).reset_index(drop=True)


def write_nodes(file: Path, population: str, root_ids: np.ndarray, table: pd.DataFrame) -> None:
    import h5py

    with h5py.File(file, "w") as h5:
        g = h5.create_group(f"nodes/{population}")
        g.create_dataset("node_type_id", data=np.full(len(root_ids), -1, dtype=np.int64))
        g0 = g.create_group("0")
        g0.create_dataset("root_id", data=root_ids.astype(np.int64))
        if "model_type" not in table.columns:  # required by SONATA; the population is virtual
            string_dataset(g0, "model_type", ["virtual"] * len(root_ids))
        for col in table.columns:
            name = str(col)
            if name in ("root_id", "node_type_id") or "/" in name or not name:
                raise SonataError(
                    f"neuron annotation column {col!r} cannot be a node property name; rename it"
                )
            values = table[col]
            if pd.api.types.is_bool_dtype(values.dtype):
                values = values.astype("Int8")
            if pd.api.types.is_numeric_dtype(values.dtype) and not values.isna().any():
                g0.create_dataset(
                    name,
                    data=values.to_numpy(dtype=getattr(values.dtype, "numpy_dtype", values.dtype)),
                )
            elif pd.api.types.is_numeric_dtype(values.dtype):
                if pd.api.types.is_float_dtype(values.dtype):
                    g0.create_dataset(name, data=values.to_numpy(dtype=np.float64))
                else:
                    raise SonataError(
                        f"neuron annotation {col!r} is missing for some neurons; SONATA integer "
                        "datasets cannot hold missing values -- fill them first"
                    )
            else:
                text = values.astype(object).where(values.notna(), "").astype(str)
                g0.create_dataset(name, data=text.to_numpy(dtype=object), dtype=h5py.string_dtype())


_ROWS = 1 << 18  # HDF5 chunk of the edge datasets, in rows (resizable datasets are chunked)


def append_edges(
    file: Path,
    population: str,
    node_population: str,
    chunk: dict[str, np.ndarray],
    start: int,
    source: np.ndarray,
    target: np.ndarray,
    dtypes: dict[str, np.dtype],
    drawn: dict | None = None,
) -> int:
    """Write one chunk of edges at rows ``start …`` of the edge file and return the row after it.

    ``source``/``target``: the chunk's node ids (or its neuron ids, for `remap_edges` to turn
    into node ids once the node table is known). The first chunk creates the population.
    Idempotent: a chunk written again (a retried task) overwrites its own rows, and nothing else.
    """
    import h5py

    stop = start + len(chunk["pre"])
    # never "w": a retried first chunk must not empty a file later chunks have written to (the
    # staging directory it lives in is made empty for each write)
    with h5py.File(file, "a") as h5:
        if f"edges/{population}" not in h5:
            # HDF5 chunks of up to _ROWS rows: a small circuit stays small
            rows = (min(_ROWS, max(4096, stop - start)),)
            g = h5.create_group(f"edges/{population}")
            stamp(g, drawn)
            g0 = g.create_group("0")
            columns = {"source_node_id": np.uint64, "target_node_id": np.uint64,
                       "edge_type_id": np.int64, "edge_group_id": np.int64,
                       "edge_group_index": np.uint64}  # fmt: skip
            for name, dt in columns.items():
                g.create_dataset(name, shape=(0,), maxshape=(None,), chunks=rows, dtype=dt)
            for name in ("source_node_id", "target_node_id"):
                g[name].attrs["node_population"] = node_population
            for name, dt in dtypes.items():
                if name not in ("pre", "post"):  # uncompressed: libsonata reads it
                    kind = h5py.string_dtype() if dt.kind == "O" else dt
                    g0.create_dataset(name, shape=(0,), maxshape=(None,), chunks=rows, dtype=kind)
        g = h5["edges"][population]
        g0 = g["0"]
        for group in (g, g0):
            for d in group.values():
                if isinstance(d, h5py.Dataset) and d.shape[0] < stop:  # never shrinks
                    d.resize((stop,))
        g["source_node_id"][start:stop] = source
        g["target_node_id"][start:stop] = target
        g["edge_type_id"][start:stop] = -1
        g["edge_group_id"][start:stop] = 0
        g["edge_group_index"][start:stop] = np.arange(start, stop, dtype=np.uint64)
        for name, values in chunk.items():
            if name not in ("pre", "post"):
                g0[name][start:stop] = values
    return stop


def node_ids(chunk: dict[str, np.ndarray], nodes: Nodes | None) -> tuple[np.ndarray, np.ndarray]:
    """The chunk's (source, target) node ids; without ``nodes`` its neuron ids, as uint64."""
    if nodes is None:
        return chunk["pre"].astype(np.uint64), chunk["post"].astype(np.uint64)
    return nodes(chunk["pre"], "presynaptic"), nodes(chunk["post"], "postsynaptic")


def remap_edges(file: Path, population: str, nodes: Nodes, rows: int = 4_000_000) -> None:
    """Neuron ids -> node ids in the edge file, ``rows`` at a time."""
    import h5py

    with h5py.File(file, "r+") as h5:
        g = h5["edges"][population]
        for name, what in (("source_node_id", "presynaptic"), ("target_node_id", "postsynaptic")):
            d = g[name]
            for lo in range(0, d.shape[0], rows):
                d[lo : lo + rows] = nodes(d[lo : lo + rows].astype(np.int64), what)


def network_config(node_population: str, edge_population: str, provenance: dict) -> dict:
    return single_file_config(
        {node_population: {"type": "virtual"}}, {edge_population: {"type": "chemical"}}, provenance
    )
