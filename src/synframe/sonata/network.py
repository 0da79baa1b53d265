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
from pathlib import Path

import numpy as np
import pandas as pd

from .._io import staged_dir
from .._progress import bar
from ..errors import OptionError, SonataError
from ..schemas import SynapseTable
from . import _network_files as files
from ._index import write_indices
from ._record import circuit_entry

__all__ = ["write_circuit"]

log = logging.getLogger("synframe")


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
    progress: bool = True,
) -> Path:
    """Write a synapse table (pandas or dask) as a SONATA network circuit; return its config.

    Nodes: one population, one node per neuron: the rows of ``neurons`` in their order (its id
    column as ``root_id``, every other column as a node property), or, without ``neurons``, every
    neuron of the synapses in id order. Edges: one population, one edge per synapse in the table's
    order: ``source_node_id``/``target_node_id``, ``synapse_id``, ``afferent_center_*`` (the post
    position) and ``efferent_center_*`` (the pre position) in µm (float32), and every other column
    that is not a ``pre_``/``post_`` annotation as an edge property with its own dtype (drawn
    values are written as they are drawn; categories and text as strings). Then the SONATA
    indices (the datasets libsonata's ``write_indices`` writes, built in chunks: bounded memory
    at any size) and ``circuit_config.json`` (populations typed ``virtual`` and ``chemical``: a
    network of EM neurons without morphologies or models). The circuit reads back with libsonata and
    bluepysnap, [`synframe.read_edges`][synframe.sonata.read.read_edges] and [`synframe.parameterize_circuit`][synframe.sonata.circuit.parameterize_circuit].

    What drew the values is recorded (`synframe.sonata._record`): the table's last
    ``parameterize`` record (``attrs["history"]``; from dask, ``ddf._meta.attrs``) -- synframe
    version, seed, pathway property, properties, the model's SHA-256 and file -- in the
    ``synframe`` entry of ``circuit_config.json`` (key ``parameterize``) and as the JSON attribute
    ``synframe_provenance`` of ``/edges/<population>``, as [`parameterize_circuit`][synframe.sonata.circuit.parameterize_circuit]
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
        (Here ``overwrite`` replaces the output; in [`parameterize`][synframe.parameterize.parameterize] and
        [`parameterize_circuit`][synframe.sonata.circuit.parameterize_circuit] it redraws properties that exist.)
    chunk_size
        Rows written at a time from pandas.
    compute
        From dask: ``False`` returns a lazy dask Series that writes the circuit when computed (and
        holds its config path), so that it can be computed together with other results of the
        same graph (``dask.compute(edges.to_parquet(..., compute=False), circuit)``) and the
        shared work is done once. Ignored for pandas.
    progress
        Progress bars over the parts the workers write (dask) and the edges stitched (on a
        terminal, after two seconds; ``SYNFRAME_PROGRESS=1`` forces them); none with
        ``compute=False``.

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
    if not isinstance(progress, bool):
        raise OptionError(f"progress must be True or False, got {progress!r}")
    path = Path(path).expanduser().resolve()
    _check_target(path, overwrite)
    is_dask = _is_dask(syn)
    meta = syn._meta if is_dask else syn
    missing = [c for c in files.CANONICAL if c not in meta.columns]
    if missing:
        raise SonataError(
            f"the synapse table lacks columns {missing}; write_circuit needs {list(files.CANONICAL)}"
        )
    properties = files.edge_properties(list(meta.columns), meta.dtypes)
    if not is_dask and syn[SynapseTable.id].duplicated().any():
        raise SonataError("duplicate synapse ids; run sf.clean(..., dedupe=True) first")
    provenance = circuit_entry(meta.attrs, "synframe.write_circuit")
    names = (node_population, edge_population)
    if not is_dask:
        chunks, n, syn_ids, dtypes = _pandas_chunks(syn, properties, chunk_size)
        return _finish(path, neurons, names, provenance, chunks, n, syn_ids, dtypes, progress)
    # one name for this write: a retry of the last task (its worker killed) finds and replaces
    # what the killed attempt staged instead of adding a copy beside it
    token = uuid.uuid4().hex[:8]
    parts = path.parent / f".{path.name}.parts-{token}"
    staging = path.parent / f".{path.name}.staging-{token}"
    written = syn.map_partitions(
        files.write_part, str(parts), properties,
        meta=pd.DataFrame({"root_id": np.zeros(0, np.int64)}),
    )  # fmt: skip
    dtypes = {k: v.dtype for k, v in files.edge_arrays(syn._meta, properties).items()}
    done = written.reduction(  # one last task, once every part is written
        _identity,
        aggregate=_finish_parts,
        split_every=False,
        meta=pd.Series([], dtype=object),
        aggregate_kwargs={
            "parts": str(parts), "path": str(path), "neurons": neurons, "names": names,
            "provenance": provenance, "dtypes": dtypes, "staging": str(staging),
        },
    )  # fmt: skip
    if not compute:
        return done
    try:  # the parts on the workers, then the stitching here: each with its progress bar
        with bar(syn.npartitions, "write_circuit: parts", progress, unit="part") as pbar:
            held = _compute_parts(written, pbar.update)
        config = _finish_parts(
            held, parts=str(parts), path=str(path), neurons=neurons, names=names,
            provenance=provenance, dtypes=dtypes, staging=str(staging), progress=progress,
        )  # fmt: skip
        return Path(config.iloc[0])
    finally:
        shutil.rmtree(parts, ignore_errors=True)


def _identity(df: pd.DataFrame) -> pd.DataFrame:
    return df


def _compute_parts(written, done) -> pd.DataFrame:
    """Compute the part-writing partitions, ``done()`` as each finishes; their root ids.

    On a ``dask.distributed`` client the partitions' futures are followed as they complete; on a
    local scheduler a dask callback counts the partitions' tasks.
    """
    import dask
    from dask.base import get_scheduler

    delayed = written.to_delayed()
    client = getattr(get_scheduler(collections=[written]), "__self__", None)
    if client is not None and hasattr(client, "compute") and hasattr(client, "gather"):
        from distributed import as_completed

        futures = client.compute(delayed)
        for _ in as_completed(futures):
            done()
        frames = client.gather(futures)
    else:
        from dask.callbacks import Callback

        keys = {d.key for d in delayed}

        def posttask(key, result, dsk, state, worker_id):
            if key in keys:
                done()

        with Callback(posttask=posttask):
            frames = dask.compute(*delayed)
    return pd.concat(frames, ignore_index=True)


def _finish(
    path: Path,
    neurons,
    names,
    provenance,
    chunks,
    n: int,
    syn_ids,
    dtypes,
    progress=False,
    staging: Path | None = None,
) -> Path:
    """Nodes, edges (from ``chunks``), indices and config, staged and moved into ``path``."""
    node_population, edge_population = names
    with staged_dir(path, staging=staging) as staging:
        root_ids, table = files.node_table(neurons, syn_ids)
        files.write_nodes(staging / "nodes.h5", node_population, root_ids, table)
        with bar(n, "write_circuit: edges", progress, unit="edge") as pbar:
            files.stitch(
                staging / "edges.h5", edge_population, node_population, chunks, n,
                files.Nodes(root_ids), dtypes, provenance.get("parameterize"), pbar.update,
            )  # fmt: skip
        # libsonata's write_indices holds ~50 bytes per edge; this writes the same in chunks
        write_indices(staging / "edges.h5", edge_population, len(root_ids), len(root_ids))
        config = files.network_config(node_population, edge_population, provenance)
        (staging / "circuit_config.json").write_text(json.dumps(config, indent=2, default=str))
    log.info("write_circuit: %d synapses between %d neurons -> %s", n, len(root_ids), path)
    return path / "circuit_config.json"


def _finish_parts(
    held: pd.DataFrame,
    *,
    parts,
    path,
    neurons,
    names,
    provenance,
    dtypes,
    staging,
    progress=False,
):
    """The workers' part files stitched into the circuit, in order (here, or as the last task of
    the lazy graph with ``compute=False``)."""
    import h5py

    try:
        part_files = sorted(Path(parts).glob("part-*.h5"))
        n = 0
        for f in part_files:
            with h5py.File(f, "r") as h5:
                n += h5["synapse_id"].shape[0]
        ids = np.unique(held["root_id"].to_numpy()).astype(np.int64)
        chunks = (files.read_part(f) for f in part_files)
        config = _finish(
            Path(path), neurons, names, provenance, chunks, n, ids, dtypes, progress, Path(staging)
        )
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
    first = files.edge_arrays(syn.iloc[:0], properties)
    dtypes = {k: v.dtype for k, v in first.items()}
    syn_ids = np.union1d(syn[SynapseTable.pre].to_numpy(), syn[SynapseTable.post].to_numpy())

    def chunks():
        for start in range(0, len(syn), chunk_size):
            yield files.edge_arrays(syn.iloc[start : start + chunk_size], properties)

    return chunks(), len(syn), syn_ids, dtypes
