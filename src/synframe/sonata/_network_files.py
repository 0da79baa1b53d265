"""The files of a network circuit ([`synframe.write_circuit`][synframe.sonata.network.write_circuit]): a table chunk's edge arrays,
the workers' part files, the node table and file, the stitched edge file and the config."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .._ids import as_ids, id_column_of
from ..errors import OptionError, SonataError
from ..schemas import POSITIONS, SynapseTable
from ._circuit import UM, single_file_config, string_dataset
from ._record import stamp
from .read import CENTERS

__all__ = [
    "CANONICAL",
    "Nodes",
    "edge_arrays",
    "edge_properties",
    "network_config",
    "node_table",
    "read_part",
    "stitch",
    "write_nodes",
    "write_part",
]

#: columns every edge gets from the canonical table (the rest become edge properties)
CANONICAL = (SynapseTable.id, SynapseTable.pre, SynapseTable.post, *POSITIONS)


def edge_properties(columns: Sequence[str], dtypes) -> list[str]:
    """Columns written as edge properties: not canonical, not a side annotation (pre_/post_)."""
    out = []
    for c in columns:
        if c in CANONICAL or c.startswith(("pre_", "post_")):
            continue
        dt = dtypes[c]
        if (
            isinstance(dt, pd.CategoricalDtype)
            or pd.api.types.is_numeric_dtype(dt)
            or dt.kind == "O"
        ):
            out.append(c)
    return out


def edge_arrays(df: pd.DataFrame, properties: Sequence[str]) -> dict[str, np.ndarray]:
    """The edge datasets of one chunk (root ids still; node ids are assigned when stitching)."""
    out = {
        "pre": df[SynapseTable.pre].to_numpy(dtype=np.int64),
        "post": df[SynapseTable.post].to_numpy(dtype=np.int64),
        "synapse_id": df[SynapseTable.id].to_numpy(dtype=np.int64),
    }
    for side in ("post", "pre"):
        for c, dst in zip([f"{side}_{a}" for a in "xyz"], CENTERS[side], strict=True):
            out[dst] = (df[c].to_numpy(dtype=np.float64) / UM).astype(np.float32)
    for p in properties:
        col = df[p]
        if isinstance(col.dtype, pd.CategoricalDtype) or col.dtype == object:
            out[p] = col.astype(str).to_numpy(dtype=object)
        elif pd.api.types.is_bool_dtype(col.dtype):
            out[p] = col.to_numpy(dtype=np.int8)
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


def write_part(df: pd.DataFrame, folder: str, properties, partition_info=None) -> pd.DataFrame:
    """A worker's part file for one partition; returns the neuron ids it holds (for the nodes)."""
    import h5py

    number = partition_info["number"] if partition_info else 0
    arrays = edge_arrays(df, properties)
    Path(folder).mkdir(exist_ok=True)
    path = Path(folder) / f"part-{number:07d}.h5"
    with h5py.File(path, "w") as h5:
        for name, values in arrays.items():
            if values.dtype == object:
                h5.create_dataset(name, data=values, dtype=h5py.string_dtype())
            else:
                h5.create_dataset(name, data=values)
    return pd.DataFrame({"root_id": np.union1d(arrays["pre"], arrays["post"])})


def read_part(path: Path) -> dict[str, np.ndarray]:
    import h5py

    with h5py.File(path, "r") as h5:
        return {
            name: (h5[name].asstr()[()] if h5[name].dtype.kind == "O" else h5[name][()])
            for name in h5
        }


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
        raise OptionError(
            f"neurons must be a DataFrame of neurons (an id column and annotations), got "
            f"{type(neurons).__name__}"
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


def stitch(
    file: Path,
    population: str,
    node_population: str,
    chunks: Iterator[dict[str, np.ndarray]],
    n: int,
    nodes: Nodes,
    dtypes: dict[str, np.dtype],
    drawn: dict | None = None,
    done=lambda n: None,
) -> None:
    """The edge population, chunk by chunk (root ids mapped to node ids on the way); ``done(k)``
    after each chunk of ``k`` edges."""
    import h5py

    with h5py.File(file, "w") as h5:
        g = h5.create_group(f"edges/{population}")
        stamp(g, drawn)
        src = g.create_dataset("source_node_id", shape=(n,), dtype=np.uint64)
        src.attrs["node_population"] = node_population
        tgt = g.create_dataset("target_node_id", shape=(n,), dtype=np.uint64)
        tgt.attrs["node_population"] = node_population
        g.create_dataset("edge_type_id", data=np.full(n, -1, dtype=np.int64))
        g.create_dataset("edge_group_id", data=np.zeros(n, dtype=np.int64))
        g.create_dataset("edge_group_index", data=np.arange(n, dtype=np.uint64))
        g0 = g.create_group("0")
        for name, dt in dtypes.items():
            if name in ("pre", "post"):
                continue
            kind = h5py.string_dtype() if dt.kind == "O" else dt
            g0.create_dataset(name, shape=(n,), dtype=kind)  # uncompressed: libsonata reads it
        start = 0
        for chunk in chunks:
            stop = start + len(chunk["pre"])
            src[start:stop] = nodes(chunk["pre"], "presynaptic")
            tgt[start:stop] = nodes(chunk["post"], "postsynaptic")
            for name, values in chunk.items():
                if name not in ("pre", "post"):
                    g0[name][start:stop] = values
            done(stop - start)
            start = stop
        if start != n:  # pragma: no cover - the parts changed under us
            raise SonataError(f"wrote {start} edges, expected {n}")


def network_config(node_population: str, edge_population: str, provenance: dict) -> dict:
    return single_file_config(
        {node_population: {"type": "virtual"}}, {edge_population: {"type": "chemical"}}, provenance
    )
