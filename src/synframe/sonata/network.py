"""``write_circuit``: a whole synapse table as a SONATA network circuit, in bounded memory.

One node population (every neuron, its annotations as node properties, ``root_id``) and one edge
population (every synapse: source/target node ids, ``synapse_id``, afferent/efferent centers in µm,
every other numeric or categorical column as an edge property), indices, ``circuit_config.json``.

From pandas the table is written chunk by chunk; from dask each worker writes its partitions to
part files beside the circuit (in parallel, one pass over the graph), and a chain of tasks, one
per partition, each after the one before, appends the parts to the edge file in partition order
while later partitions are still being computed (node ids assigned on the way when a neuron
table gives them; a part waits for the link ``LAG`` partitions back, so the chain keeps up).
Then the indices (``_index``: bounded memory; with a neuron table, filled by tasks on the
workers, a range of nodes each, straight into the edge file), the node file and the config.
Everything is written into a staging directory moved into place at the end: a failure or a kill
never leaves a partial circuit at ``path``.
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

from .._ids import as_ids
from .._io import remove, staged_dir
from .._progress import bar
from ..errors import OptionError, SonataError
from ..schemas import SynapseTable
from . import _index as index
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
    values are written as they are drawn; categories and text as strings, a missing one as
    ``""``; float16 as float32; columns of other types -- dates -- are left out with a warning).
    Then the SONATA indices (the datasets libsonata's ``write_indices`` writes, built in chunks:
    bounded memory at any size) and ``circuit_config.json`` (populations typed ``virtual`` and ``chemical``: a
    network of EM neurons without morphologies or models). The circuit reads back with libsonata and
    bluepysnap, [`synframe.read_edges`][synframe.sonata.read.read_edges] and [`synframe.parameterize_circuit`][synframe.sonata.circuit.parameterize_circuit].

    What drew the values is recorded (`synframe.sonata._record`): the table's last
    ``parameterize`` record (``attrs["history"]``; from dask, ``ddf._meta.attrs``) -- synframe
    version, seed, pathway property, properties, the model's SHA-256 and file -- in the
    ``synframe`` entry of ``circuit_config.json`` (key ``parameterize``) and as the JSON attribute
    ``synframe_provenance`` of ``/edges/<population>``, as [`parameterize_circuit`][synframe.sonata.circuit.parameterize_circuit]
    records its own. From dask the entry also holds ``write_id``, the write's token (a retried
    final task recognises its circuit by it).

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
        A progress bar over the edges written (pandas) or the partitions whose edges are in
        the edge file (dask), on a terminal, after two seconds (``SYNFRAME_PROGRESS=1`` forces
        it); none with ``compute=False``.

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
    # with a neuron table the node ids are known now, and the table is checked now (written to
    # memory), not after every synapse is written
    nodes = None
    if neurons is not None:
        import io

        root_ids, table = files.node_table(neurons, None)
        files.write_nodes(io.BytesIO(), node_population, root_ids, table)
        nodes = files.Nodes(root_ids)
    if not is_dask:
        chunks, n, syn_ids, dtypes = _pandas_chunks(syn, properties, chunk_size)
        with (
            staged_dir(path) as staging,
            bar(n, "write_circuit: edges", progress, unit="edge") as pbar,
        ):
            state = _START
            (staging / "index").mkdir()
            for k, chunk in enumerate(chunks):
                bounds = files.index_part(staging / "index", k, chunk, nodes)
                state = _append(staging, staging / "index", names, chunk, bounds, k, state,
                                nodes, dtypes, provenance.get("parameterize"))  # fmt: skip
                pbar.update(len(chunk["pre"]))
            _complete(staging, state, syn_ids, neurons, names, provenance, staging / "index")
        log.info("write_circuit: %d synapses -> %s", n, path)
        return path / "circuit_config.json"
    # one name for this write: a retried task (its worker killed) finds and replaces what the
    # killed attempt staged instead of adding a copy beside it
    token = uuid.uuid4().hex[:8]
    parts = path.parent / f".{path.name}.parts-{token}"
    staging = path.parent / f".{path.name}.staging-{token}"
    import dask

    # the folders are made before any part (here, or by one task of a lazy graph; a killed
    # attempt's removed); a task still running after a failure has removed them cannot make them
    # again
    if compute:
        folder = _prepare(str(parts), str(staging))
    else:
        folder = dask.delayed(_prepare, pure=False)(str(parts), str(staging))
    dtypes = {k: v.dtype for k, v in files.edge_arrays(syn._meta, properties).items()}
    common = {
        "parts": str(parts), "staging": str(staging), "names": names, "dtypes": dtypes,
        "nodes": nodes, "drawn": provenance.get("parameterize"),
    }  # fmt: skip
    links = _chain(syn, (folder, properties, nodes), common)
    # with node ids known, the indices are filled by tasks on the workers, in parallel
    counts = None if nodes is None else _fills(links[-1], len(nodes.root_ids), common)
    finish = {
        "parts": str(parts), "staging": str(staging), "path": str(path), "neurons": neurons,
        "names": names, "provenance": provenance, "overwrite": overwrite,
    }  # fmt: skip
    if not compute:
        import dask.dataframe as dd

        done = dask.delayed(_close)(links[-1], counts=counts, **finish)
        return dd.from_delayed([done], meta=pd.Series([], dtype=object), verify_meta=False)
    try:  # the parts and the edge file on the workers, then the rest here, with progress bars
        with bar(len(links), "write_circuit: parts", progress, unit="part") as pbar:
            state, counts = _compute_links(links, counts, syn, pbar.update)
        return Path(_close(state, counts=counts, **finish).iloc[0])
    finally:
        for folder in (parts, staging, f"{staging}.failed"):
            shutil.rmtree(folder, ignore_errors=True)


#: a partition's part file is written only after the link this many partitions back: the
#: chain keeps up with the partitions (dask's ordering would otherwise leave every link to the
#: end, a serial tail of all the appends, while the parts wait on disk)
LAG = 2


def _chain(syn, part_args: tuple, common: dict) -> list:
    """One part file per partition (on the worker that computed it), and one link per partition,
    each after the one before: it appends its partition's part file to the edge file in the
    staging directory, so the edge file is written while later partitions are still being
    computed (and in the table's order). Part ``k`` waits for link ``k - LAG``."""
    import dask

    links, state = [], None
    # the partitions' own keys: computed with other results of the graph, shared work is done once
    for number, partition in enumerate(syn.to_delayed(optimize_graph=False)):
        after = links[number - LAG] if number >= LAG else None
        part = dask.delayed(_write_part)(partition, *part_args, number=number, after=after)
        state = dask.delayed(_append_part)(state, part, number=number, **common)
        links.append(state)
    return links


def _write_part(df, folders, properties, nodes, *, number: int, after=None):
    """Partition ``number``'s part file (``after``: the link it waits for, unused)."""
    return files.write_part(df, folders, properties, nodes, {"number": number})


#: each index of a circuit written from dask is filled by this many tasks, each a range of its
#: blocks of nodes (after the last part, the largest step: ~100 M runs for 100 M synapses)
FILLS = 8


def _fills(last, n_nodes: int, common: dict) -> dict:
    """Tasks after the chain's ``last`` link that fill both indices' ``range_to_edge_id`` in the
    staging edge file, block range by block range; ``{index: [each task's runs per node]}``."""
    import dask

    where = {"parts": common["parts"], "staging": common["staging"], "names": common["names"]}
    plans = dask.delayed(_plan_indices)(last, n_nodes=n_nodes, **where)
    groups = np.array_split(np.arange(index.n_blocks(n_nodes)), FILLS)
    return {
        name: [
            dask.delayed(_fill_index)(plans, name, range(g[0], g[-1] + 1), **where)
            for g in groups if len(g)
        ]
        for name in index.NAMES
    }  # fmt: skip


def _plan_indices(state, *, n_nodes, parts, staging, names) -> dict:
    """Each index's `index.Plan`, and the byte offset in the edge file of its
    ``range_to_edge_id``, made here (contiguous, allocated now: tasks write their blocks into it
    directly, each at its own rows, while no process holds the file open)."""
    import h5py

    (n, carries, offsets), _ = state
    out = {}
    try:
        with h5py.File(Path(staging) / "edges.h5", "r+") as h5:
            indices = h5["edges"][names[1]].require_group("indices")
            for name, carry in zip(index.NAMES, carries, strict=True):
                plan = index.Plan(Path(parts) / "index", name, carry, offsets, n, n_nodes)
                group = indices.require_group(name)
                ranges = group.get("range_to_edge_id")
                if ranges is None:  # else a retried attempt's: the same plan, and fills may
                    ranges = index.create_ranges(group, plan.total, allocate=True)  # be running
                out[name] = (plan, ranges.id.get_offset() if plan.total else None)
    except BaseException as exc:
        files.abandon(parts, staging, exc)
        raise
    return out


def _fill_index(plans: dict, name: str, blocks: range, *, parts, staging, names) -> np.ndarray:
    """Fill ``blocks`` of index ``name``; the number of runs of each of their nodes."""
    plan, offset = plans[name]
    try:
        with open(Path(staging) / "edges.h5", "r+b") as fh:

            def put(row, rows):
                data = memoryview(np.ascontiguousarray(rows, dtype="<u8")).cast("B")
                at, done = offset + 16 * row, 0
                while done < len(data):  # pwrite may write less than asked
                    done += os.pwrite(fh.fileno(), data[done:], at + done)

            return plan.fill(blocks, put)
    except BaseException as exc:
        files.abandon(parts, staging, exc)
        raise


_START = (0, (None, None), [])  # rows written, the run left open in each index, part offsets


def _append(staging: Path, runs: Path, names, chunk, bounds, number, state, nodes, dtypes, drawn):
    """Append part ``number`` (its arrays: node ids if known, and its index bounds; the parts'
    runs for the indices are in ``runs``)."""
    node_population, edge_population = names
    start, carries, offsets = state
    stop = files.append_edges(
        staging / "edges.h5", edge_population, node_population, chunk, start,
        chunk["pre"].astype(np.uint64), chunk["post"].astype(np.uint64), dtypes, drawn,
    )  # fmt: skip
    if bounds is not None:  # the runs that close at this part's start
        n_nodes = len(nodes.root_ids)
        carries = tuple(
            index.link(runs, name, number, bounds[name], start, carry, n_nodes)
            for name, carry in zip(index.NAMES, carries, strict=True)
        )
    return stop, carries, [*offsets, start]


_PREPARED = ".prepared"  # in the part folder once it and the staging folder are ready


def _prepare(parts: str, staging: str) -> tuple[str, str]:
    """Empty part and staging folders for this write (what a killed attempt left goes); run
    again (its result lost with a worker), it keeps what this write has put there."""
    if not (Path(parts) / _PREPARED).exists():
        for folder in (Path(parts), Path(staging)):
            remove(folder)
            folder.mkdir(parents=True)
        # what earlier writes to this path left (a lazy write whose input failed cannot clean up)
        target = Path(parts).name.split(".parts-")[0]  # ".<name>"
        for old in Path(parts).parent.glob(f"{target}.*-*"):
            if old.name.split("-")[0] in (f"{target}.parts", f"{target}.staging") and old not in (
                Path(parts),
                Path(staging),
            ):
                remove(old)
        (Path(parts) / "index").mkdir()
        (Path(parts) / _PREPARED).touch()
    return parts, staging


def _append_part(state, held: pd.DataFrame, *, number, parts, staging, names, dtypes, nodes, drawn):
    """Append part ``number`` to the staging edge file; ``(state of the writing, neuron ids)``."""
    written, ids = (_START, np.zeros(0, np.int64)) if state is None else state
    staging = Path(staging)
    try:
        chunk, bounds = files.read_part(Path(parts) / f"part-{number:07d}.h5")
        written = _append(staging, Path(parts) / "index", names, chunk, bounds, number, written,
                          nodes, dtypes, drawn)  # fmt: skip
    except BaseException as exc:
        files.abandon(parts, staging, exc)
        raise
    return written, np.union1d(ids, held["root_id"].to_numpy(dtype=np.int64))


def _compute_links(links: list, counts: dict | None, syn, done):
    """Compute the chain (and the index fills after it), ``done()`` as each link finishes; the
    last link's state and the fills' counts.

    On a ``dask.distributed`` client the links' futures are followed as they complete; on a local
    scheduler a dask callback counts the links' tasks.
    """
    import dask
    from dask.base import get_scheduler

    client = getattr(get_scheduler(collections=[syn]), "__self__", None)
    if client is not None and hasattr(client, "compute") and hasattr(client, "gather"):
        from distributed import as_completed

        futures = client.compute(links)
        filled = client.compute(counts) if counts is not None else None
        last = futures[-1]
        for future in as_completed(futures):
            done()
            if future is not last:  # not wanted any more: a link lost with its worker after the
                future.release()  # next one has run is not run again
        return last.result(), (client.gather(filled) if filled is not None else None)
    from dask.callbacks import Callback

    keys = {d.key for d in links}

    def posttask(key, result, dsk, state, worker_id):
        if key in keys:
            done()

    with Callback(posttask=posttask):
        return dask.compute(links[-1], counts)


def _complete(
    staging: Path, state, syn_ids, neurons, names, provenance, folder: Path, counts=None
) -> None:
    """Nodes, node ids of the edges (without a neuron table), indices and config, in staging.
    ``folder``: where the parts' runs for the indices are; ``counts``: each index's runs per
    node, when tasks have filled its ranges already."""
    import h5py

    node_population, edge_population = names
    n, carries, offsets = state
    root_ids, table = files.node_table(neurons, syn_ids)
    edges = staging / "edges.h5"
    if neurons is None:
        files.remap_edges(edges, edge_population, files.Nodes(root_ids))
        write_indices(edges, edge_population, len(root_ids), len(root_ids))
    else:  # the parts were indexed as they were written
        with h5py.File(edges, "r+") as h5:
            group = h5["edges"][edge_population].require_group("indices")
            for name, carry in zip(index.NAMES, carries, strict=True):
                if counts is not None:  # ranges filled by the fill tasks
                    index.node_table(group[name], np.concatenate(counts[name]))
                else:
                    index.finish(group.create_group(name), folder, name, carry, offsets, n,
                                 len(root_ids))  # fmt: skip
    shutil.rmtree(folder, ignore_errors=True)
    files.write_nodes(staging / "nodes.h5", node_population, root_ids, table)
    config = files.network_config(node_population, edge_population, provenance)
    (staging / "circuit_config.json").write_text(json.dumps(config, indent=2, default=str))


def _close(
    state, *, counts=None, parts, staging, path, neurons, names, provenance, overwrite
) -> pd.Series:
    """The chain's edge file completed and moved into ``path`` (the graph's last task);
    ``counts``: what the index fills returned. The config records the write's token
    (``write_id``): run again after it moved the circuit into place (its worker lost before dask
    had its result), it finds its own circuit there and returns it."""
    written, ids = state
    token = Path(staging).name.rsplit("-", 1)[-1]
    config = Path(path) / "circuit_config.json"
    if not Path(staging).exists() and _write_id(config) == token:
        shutil.rmtree(parts, ignore_errors=True)
        return pd.Series([str(config)], dtype=object)
    provenance = {**provenance, "write_id": token}
    try:
        # again now: a lazy write may be computed long after it was made (or twice)
        _check_target(Path(path), overwrite)
        (Path(parts) / _PREPARED).unlink(missing_ok=True)
        with staged_dir(Path(path), staging=Path(staging), prepared=True) as st:
            _complete(st, written, ids, neurons, names, provenance, Path(parts) / "index", counts)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(parts, ignore_errors=True)
    log.info("write_circuit: %d synapses between %d neurons -> %s", written[0], len(ids), path)
    return pd.Series([str(Path(path) / "circuit_config.json")], dtype=object)


def _write_id(config: Path) -> str | None:
    """The ``write_id`` of a circuit written from dask (None if there is none to read)."""
    try:
        return json.loads(config.read_text())["synframe"].get("write_id")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


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
    syn_ids = np.union1d(
        as_ids(syn[SynapseTable.pre], what="pre"), as_ids(syn[SynapseTable.post], what="post")
    )

    def chunks():
        for start in range(0, max(1, len(syn)), chunk_size):  # one (empty) chunk at least
            yield files.edge_arrays(syn.iloc[start : start + chunk_size], properties)

    return chunks(), len(syn), syn_ids, dtypes
