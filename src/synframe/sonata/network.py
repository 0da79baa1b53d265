"""``write_circuit``: a whole synapse table as a SONATA network circuit, in bounded memory.

One node population (every neuron, its annotations as node properties, ``root_id``) and one edge
population (every synapse: source/target node ids, ``synapse_id``, afferent/efferent centers in µm,
every other numeric or categorical column as an edge property), indices, ``circuit_config.json``.

From pandas the table is written chunk by chunk; from dask each worker writes its partitions to
part files beside the circuit (in parallel, one pass over the graph), and the parts are then
copied into the edge file in partition order, node ids assigned on the way. Everything is written
into a staging directory moved into place at the end: a failure or a kill never leaves a partial
circuit at ``path``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .._ids import as_ids, id_column_of
from .._io import staged_dir
from ..errors import OptionError, SonataError
from ..schemas import POSITIONS, SynapseTable
from ._circuit import UM
from ._record import circuit_entry, stamp
from .read import CENTERS

__all__ = ["write_circuit"]

log = logging.getLogger("synframe")

#: columns every edge gets from the canonical table (the rest become edge properties)
_CANONICAL = (SynapseTable.id, SynapseTable.pre, SynapseTable.post, *POSITIONS)
#: edge datasets of a part file, besides the properties
_PART_BASE = ("pre", "post", "synapse_id", *CENTERS["post"], *CENTERS["pre"])


def _edge_properties(columns: Sequence[str], dtypes) -> list[str]:
    """Columns written as edge properties: not canonical, not a side annotation (pre_/post_)."""
    out = []
    for c in columns:
        if c in _CANONICAL or c.startswith(("pre_", "post_")):
            continue
        dt = dtypes[c]
        if (
            isinstance(dt, pd.CategoricalDtype)
            or pd.api.types.is_numeric_dtype(dt)
            or dt.kind == "O"
        ):
            out.append(c)
    return out


def _edge_arrays(df: pd.DataFrame, properties: Sequence[str]) -> dict[str, np.ndarray]:
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


def _write_part(df: pd.DataFrame, folder: str, properties, partition_info=None) -> pd.DataFrame:
    """A worker's part file for one partition; returns the neuron ids it holds (for the nodes)."""
    import h5py

    number = partition_info["number"] if partition_info else 0
    arrays = _edge_arrays(df, properties)
    Path(folder).mkdir(exist_ok=True)
    path = Path(folder) / f"part-{number:07d}.h5"
    with h5py.File(path, "w") as h5:
        for name, values in arrays.items():
            if values.dtype == object:
                h5.create_dataset(name, data=values, dtype=h5py.string_dtype())
            else:
                h5.create_dataset(name, data=values)
    return pd.DataFrame({"root_id": np.union1d(arrays["pre"], arrays["post"])})


def _read_part(path: Path) -> dict[str, np.ndarray]:
    import h5py

    with h5py.File(path, "r") as h5:
        return {
            name: (h5[name].asstr()[()] if h5[name].dtype.kind == "O" else h5[name][()])
            for name in h5
        }


class _Nodes:
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


def _node_table(
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


def _write_nodes(file: Path, population: str, root_ids: np.ndarray, table: pd.DataFrame) -> None:
    import h5py

    with h5py.File(file, "w") as h5:
        g = h5.create_group(f"nodes/{population}")
        g.create_dataset("node_type_id", data=np.full(len(root_ids), -1, dtype=np.int64))
        g0 = g.create_group("0")
        g0.create_dataset("root_id", data=root_ids.astype(np.int64))
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


def _stitch(
    file: Path,
    population: str,
    node_population: str,
    chunks: Iterator[dict[str, np.ndarray]],
    n: int,
    nodes: _Nodes,
    dtypes: dict[str, np.dtype],
    drawn: dict | None = None,
) -> None:
    """The edge population, chunk by chunk (root ids mapped to node ids on the way)."""
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
            start = stop
        if start != n:  # pragma: no cover - the parts changed under us
            raise SonataError(f"wrote {start} edges, expected {n}")


def _config(node_population: str, edge_population: str, provenance: dict) -> dict:
    return {
        "version": 2.4,
        "manifest": {"$BASE_DIR": "./"},
        "components": {},
        "networks": {
            "nodes": [
                {
                    "nodes_file": "$BASE_DIR/nodes.h5",
                    "populations": {node_population: {"type": "virtual"}},
                }
            ],
            "edges": [
                {
                    "edges_file": "$BASE_DIR/edges.h5",
                    "populations": {edge_population: {"type": "chemical"}},
                }
            ],
        },
        "synframe": provenance,
    }


def write_circuit(
    syn,
    path: str | os.PathLike,
    *,
    neurons: pd.DataFrame | None = None,
    node_population: str = "neurons",
    edge_population: str | None = None,
    overwrite: bool = False,
    chunk_size: int = 1_000_000,
    compute: bool = True,
) -> Path:
    """Write a synapse table (pandas or dask) as a SONATA network circuit; return its config.

    Nodes: one population, one node per neuron: the rows of ``neurons`` in their order (its id
    column as ``root_id``, every other column as a node property), or, without ``neurons``, every
    neuron of the synapses in id order. Edges: one population, one edge per synapse in the table's
    order: ``source_node_id``/``target_node_id``, ``synapse_id``, ``afferent_center_*`` (the post
    position) and ``efferent_center_*`` (the pre position) in µm (float32), and every other column
    that is not a ``pre_``/``post_`` annotation as an edge property with its own dtype (drawn
    values are written as they are drawn; categories and text as strings). Then libsonata's
    indices and ``circuit_config.json`` (populations typed ``virtual`` and ``chemical``: a network
    of EM neurons without morphologies or models). The circuit reads back with libsonata and
    bluepysnap, :func:`synframe.read_edges` and :func:`synframe.parameterize_circuit`.

    What drew the values is recorded (:mod:`synframe.sonata._record`): the table's last
    ``parameterize`` record (``attrs["history"]``; from dask, ``ddf._meta.attrs``) -- synframe
    version, seed, pathway property, properties, the model's SHA-256 and file -- in the
    ``synframe`` entry of ``circuit_config.json`` (key ``parameterize``) and as the JSON attribute
    ``synframe_provenance`` of ``/edges/<population>``, as :func:`~synframe.parameterize_circuit`
    records its own.

    Parameters
    ----------
    syn
        A synapse table with unique ids: a pandas DataFrame (checked), or a dask DataFrame
        (computed once, partition by partition, each worker writing its partitions; ``path`` must
        then be on a filesystem the workers share; ids are not checked across partitions: clean
        it with ``sf.dask.clean`` first).
    path
        The circuit directory to create.
    neurons
        One row per neuron: an id column (``root_id``, ``id`` …) and annotations. Every neuron of
        the synapses must be in it.
    node_population, edge_population
        Population names (edges default: ``<nodes>__<nodes>__chemical``).
    overwrite
        Replace an existing circuit directory written by synframe (one with a
        ``circuit_config.json`` that synframe wrote); anything else at ``path`` is refused.
        (Here ``overwrite`` replaces the output; in :func:`~synframe.parameterize` and
        :func:`~synframe.parameterize_circuit` it redraws properties that exist.)
    chunk_size
        Rows written at a time from pandas.
    compute
        From dask: ``False`` returns a lazy dask Series that writes the circuit when computed (and
        holds its config path), so that it can be computed together with other results of the
        same graph (``dask.compute(edges.to_parquet(..., compute=False), circuit)``) and the
        shared work is done once. Ignored for pandas.

    Examples
    --------
    >>> import tempfile, synframe as sf
    >>> syn = sf.datasets.example_synapses()
    >>> classes = sf.datasets.example_synapse_classes().rename_axis("root_id").reset_index()
    >>> config = sf.write_circuit(syn, tempfile.mkdtemp() + "/net", neurons=classes)
    >>> back = sf.read_edges(config, node_properties=["synapse_class"])
    >>> len(back), back["pre_synapse_class"].value_counts().to_dict()["inhibitory_neuron"]
    (2424, 55)
    """
    edge_population = edge_population or f"{node_population}__{node_population}__chemical"
    for name, value in (("node_population", node_population), ("edge_population", edge_population)):
        if not isinstance(value, str) or not value or "/" in value or value in (".", ".."):
            raise OptionError(f"{name} must be a plain name (no '/'), got {value!r}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise OptionError(f"chunk_size must be a positive int, got {chunk_size!r}")
    path = Path(path).expanduser().resolve()
    _check_target(path, overwrite)
    is_dask = _is_dask(syn)
    meta = syn._meta if is_dask else syn
    missing = [c for c in _CANONICAL if c not in meta.columns]
    if missing:
        raise SonataError(
            f"the synapse table lacks columns {missing}; write_circuit needs {list(_CANONICAL)}"
        )
    properties = _edge_properties(list(meta.columns), meta.dtypes)
    if not is_dask and syn[SynapseTable.id].duplicated().any():
        raise SonataError("duplicate synapse ids; run sf.clean(..., dedupe=True) first")
    provenance = circuit_entry(meta.attrs, "synframe.write_circuit")
    names = (node_population, edge_population)
    if not is_dask:
        chunks, n, syn_ids, dtypes = _pandas_chunks(syn, properties, chunk_size)
        return _finish(path, neurons, names, provenance, chunks, n, syn_ids, dtypes)
    parts = path.parent / f".{path.name}.parts-{uuid.uuid4().hex[:8]}"
    written = syn.map_partitions(
        _write_part, str(parts), properties,
        meta=pd.DataFrame({"root_id": np.zeros(0, np.int64)}),
    )  # fmt: skip
    dtypes = {k: v.dtype for k, v in _edge_arrays(syn._meta, properties).items()}
    done = written.reduction(  # one last task, once every part is written
        _identity,
        aggregate=_finish_parts,
        split_every=False,
        meta=pd.Series([], dtype=object),
        aggregate_kwargs={
            "parts": str(parts), "path": str(path), "neurons": neurons, "names": names,
            "provenance": provenance, "dtypes": dtypes,
        },
    )  # fmt: skip
    if not compute:
        return done
    try:
        return Path(done.compute().iloc[0])
    finally:
        shutil.rmtree(parts, ignore_errors=True)


def _identity(df: pd.DataFrame) -> pd.DataFrame:
    return df


def _finish(path: Path, neurons, names, provenance, chunks, n: int, syn_ids, dtypes) -> Path:
    """Nodes, edges (from ``chunks``), indices and config, staged and moved into ``path``."""
    import libsonata

    node_population, edge_population = names
    with staged_dir(path) as staging:
        root_ids, table = _node_table(neurons, syn_ids)
        _write_nodes(staging / "nodes.h5", node_population, root_ids, table)
        _stitch(
            staging / "edges.h5", edge_population, node_population, chunks, n, _Nodes(root_ids),
            dtypes, provenance.get("parameterize"),
        )  # fmt: skip
        libsonata.EdgePopulation.write_indices(
            str(staging / "edges.h5"), edge_population, len(root_ids), len(root_ids)
        )
        config = _config(node_population, edge_population, provenance)
        (staging / "circuit_config.json").write_text(json.dumps(config, indent=2, default=str))
    log.info("write_circuit: %d synapses between %d neurons -> %s", n, len(root_ids), path)
    return path / "circuit_config.json"


def _finish_parts(held: pd.DataFrame, *, parts, path, neurons, names, provenance, dtypes):
    """The dask path's last task: the workers' part files stitched into the circuit, in order."""
    import h5py

    try:
        files = sorted(Path(parts).glob("part-*.h5"))
        n = 0
        for f in files:
            with h5py.File(f, "r") as h5:
                n += h5["synapse_id"].shape[0]
        ids = np.unique(held["root_id"].to_numpy()).astype(np.int64)
        chunks = (_read_part(f) for f in files)
        config = _finish(Path(path), neurons, names, provenance, chunks, n, ids, dtypes)
        return pd.Series([str(config)], dtype=object)
    finally:
        shutil.rmtree(parts, ignore_errors=True)


def _check_target(path: Path, overwrite: bool) -> None:
    if not isinstance(overwrite, bool):
        raise OptionError(f"overwrite must be True or False, got {overwrite!r}")
    if not path.exists():
        return
    if not overwrite:
        raise SonataError(f"{path} exists; pass overwrite=True to replace it")
    config = path / "circuit_config.json"
    try:
        ours = path.is_dir() and "synframe" in json.loads(config.read_text())
    except (OSError, ValueError):
        ours = False
    if not ours:
        raise SonataError(
            f"{path} exists and is not a circuit synframe wrote; refusing to replace it (choose "
            "another path or remove it yourself)"
        )


def _is_dask(obj) -> bool:
    try:
        import dask.dataframe as dd
    except ImportError:  # pragma: no cover - dask is optional
        return False
    return isinstance(obj, dd.DataFrame)


def _pandas_chunks(syn: pd.DataFrame, properties, chunk_size: int):
    first = _edge_arrays(syn.iloc[:0], properties)
    dtypes = {k: v.dtype for k, v in first.items()}
    syn_ids = np.union1d(syn[SynapseTable.pre].to_numpy(), syn[SynapseTable.post].to_numpy())

    def chunks():
        for start in range(0, len(syn), chunk_size):
            yield _edge_arrays(syn.iloc[start : start + chunk_size], properties)

    return chunks(), len(syn), syn_ids, dtypes
