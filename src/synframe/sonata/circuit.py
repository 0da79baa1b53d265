"""``parameterize_circuit``: draw synapse properties for a SONATA circuit's edges (the obi-one task).

Validated before anything is written; edge files are parameterized as temporary copies and swapped
in atomically (`synframe._io.staged_dir` for a new circuit, ``os.replace`` per file in place).
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .. import _draw, _provenance
from .._io import staged_dir
from .._progress import bar
from ..errors import OptionError, PathwayError, SonataError, format_problems
from ..pathways import N_SYN_PER_CONN, WILDCARD, Cells, check_by, summary, validate
from ._circuit import LAYOUT_DATASETS, Circuit, check_chunk_size, chunk_ranges, name_problem
from ._config import write_config
from ._edgefile import check_scheduler, parameterized_copy

__all__ = ["parameterize_circuit"]

log = logging.getLogger("synframe")


def parameterize_circuit(
    config: str | os.PathLike,
    stats: xr.DataArray,
    *,
    by: str,
    populations: Sequence[str] | None = None,
    seed: int | None = None,
    overwrite: bool = False,
    output: str | os.PathLike | None = None,
    inplace: bool = False,
    chunk_size: int = 1_000_000,
    scheduler=None,
    progress: bool = True,
) -> Path:
    """Draw synapse properties for a SONATA circuit's edge populations (the obi-one task), atomically.

    Semantics of the reference task (obi-one's synapse parameterization on connectome-manipulator's
    ``ConnPropsModel``; its ``pathway_property`` is ``by`` here, its ``overwrite_if_exists`` is
    ``overwrite``): every pathway of ``by`` must be covered by ``stats`` (else an error, before
    anything is written); populations whose source or target nodes lack the property are skipped
    with a warning; existing properties need ``overwrite`` (then logged as re-parameterization).
    ``overwrite`` means *redraw properties the edges already have*; it never replaces a circuit
    (``output=`` must be a new directory). The pathways checked are those the edges connect (one
    pass over their source and target node ids, ``chunk_size`` at a time), as
    [`synframe.parameterize`][synframe.parameterize.parameterize] checks a table: a model of EXC->INH covers a population whose
    edges are all EXC->INH even if its nodes have other classes too. Values are drawn as [`synframe.parameterize`][synframe.parameterize.parameterize] draws them
    (keyed on population, property, source and target node ids, edge id), connection by connection
    where ``shared_within``.

    Improvements over the reference: everything is validated before any write; files are written as
    temporary copies and moved into place with ``os.replace`` (an error or a kill leaves the input
    byte-identical); ``output=`` writes a new circuit directory (config rewritten to the new edge
    files; every other path -- existing or not, ``mechanisms_dir`` too -- made absolute against the
    original folder so that it points where it pointed; empty strings stay empty) — in place only with ``inplace=True``; dtypes of
    existing properties are kept (new ones: float32, or int32 for ``dtype: "int"``); no compression;
    populations are processed in chunks of ``chunk_size`` edges; populations with several groups
    (bmtk) get every edge's value in its own group, at its ``edge_group_index``; a property defined
    only in the edge types CSV counts as existing (the new per-edge values win over the CSV).

    Values written are the values drawn: a value the dataset's dtype cannot hold exactly (outside
    an integer range -- ``300`` in ``uint8``, ``-5`` in ``uint32`` --, fractional in an integer
    dataset, beyond float32's range, NaN/inf) is a [`SonataError`][synframe.errors.SonataError] naming
    the population, property and range, and nothing is written. Property names that are not
    plain HDF5 dataset names (``""``, ``"a/b"``, ``"../x"``, ``"@library"``, a SONATA layout
    dataset such as ``source_node_id``) are refused before anything is read. With ``output=``,
    each edge file gets its own name in ``edges/`` (two ``edges.h5`` from different folders
    become ``edges.h5`` and ``edges-2.h5``); symbolic links are followed, never replaced.

    ``scheduler``: draw the chunks in parallel on dask -- ``"processes"`` (or ``"threads"``) on
    this machine, or a ``dask.distributed.Client`` (local or a cluster whose workers see the
    circuit's files) -- while this process writes them in order; at most two chunks per worker are
    held at once, so populations larger than memory work. The output is identical to the
    single-process run (keyed randomness).

    ``progress``: a progress bar over the edges drawn and written (on a terminal, after two
    seconds; ``SYNFRAME_PROGRESS=1`` forces it, ``False`` turns it off).

    Returns
    -------
    pathlib.Path
        The circuit config that holds the result.
    """
    validate(stats)
    for flag, value in (("overwrite", overwrite), ("inplace", inplace)):
        if not isinstance(value, (bool, np.bool_)):
            raise OptionError(f"{flag} must be True or False, got {value!r}")
    if not isinstance(by, str) or not by:
        raise OptionError(f"by must be the name of a node property (a str), got {by!r}")
    check_by(stats, by)
    chunk_size = check_chunk_size(chunk_size)
    if output is not None and not isinstance(output, (str, os.PathLike)):
        raise OptionError(f"output must be a directory path, got {type(output).__name__}")
    if output is None and not inplace:
        raise SonataError(
            "pass output=DIR to write a new circuit, or inplace=True to modify this one"
        )
    if output is not None and inplace:
        raise SonataError("output= and inplace=True exclude each other")
    circuit = Circuit(config)
    if circuit.config is None:
        raise SonataError(
            "parameterize_circuit needs a circuit_config.json (node properties live in node files)"
        )
    seed = _draw.resolve_seed(seed)
    if isinstance(populations, str):
        populations = [populations]
    pops = sorted(circuit.edge_files) if populations is None else list(dict.fromkeys(populations))
    unknown = [p for p in pops if p not in circuit.edge_files]
    if unknown:
        raise SonataError(
            f"no edge populations {unknown}; the circuit has {sorted(circuit.edge_files)}"
        )
    props = [p for p in stats["property"].values.tolist() if p != N_SYN_PER_CONN]
    bad = [
        problem
        for p in props
        if (
            problem := name_problem(p)
            or (f"{p!r} is a SONATA layout dataset" if p in LAYOUT_DATASETS else None)
        )
    ]
    if bad:
        raise PathwayError(
            format_problems(
                "nothing was written: these property names cannot be edge attributes (rename them "
                "in the stats)",
                bad,
            )
        )
    out_dir = None if output is None else Path(output).expanduser().resolve()
    if out_dir is not None and out_dir.exists():
        raise SonataError(f"{out_dir} exists; choose a new output directory")
    todo = _check_populations(circuit, pops, stats, props, by, overwrite, chunk_size)
    log.info("%s", summary(stats))
    log.info("Running synapse parameterization for %d edge population(s)...", len(todo))

    by_file: dict[Path, list[tuple[str, list[str]]]] = {}
    for name, existing in todo:
        by_file.setdefault(circuit.edge_files[name], []).append((name, existing))
    provenance = _provenance.record(stats, seed=seed, by=by, properties=props, timestamp=True)
    check_scheduler(scheduler)
    total = sum(circuit.edges(name).size for name, _ in todo)
    with bar(total, "parameterize_circuit", progress, unit="edge") as pbar:
        draw_args = (circuit, stats, props, by, seed, chunk_size, provenance, scheduler, pbar)
        if out_dir is not None:
            with staged_dir(out_dir) as staging:
                new_edges = {}
                used: set[str] = set()
                for path, members in sorted(by_file.items()):
                    tmp = staging / "edges" / _new_name(path, circuit.path.parent, used)
                    tmp.parent.mkdir(exist_ok=True)
                    parameterized_copy(path, tmp, members, *draw_args)
                    new_edges[path] = tmp.relative_to(staging)
                write_config(circuit, staging, new_edges, provenance)
            result = out_dir / "circuit_config.json"
        else:
            _warn_leftovers(by_file)
            temps: dict[Path, Path] = {}
            try:
                for path, members in sorted(by_file.items()):
                    temps[path] = path.with_name(f".{path.name}.synframe-{uuid.uuid4().hex[:8]}")
                    parameterized_copy(path, temps[path], members, *draw_args)
                for path, tmp in temps.items():
                    os.replace(tmp, path)
            finally:
                for tmp in temps.values():
                    tmp.unlink(missing_ok=True)
            result = circuit.path
    log.info("Synapse parameterization done: %s", result)
    return result


def _new_name(path: Path, base: Path, used: set[str]) -> str:
    """A file name in the new circuit's ``edges/`` for the edge file ``path``, unique among ``used``.

    ``VPM__S1nonbarrel_neurons__chemical/edges.h5`` becomes
    ``VPM__S1nonbarrel_neurons__chemical__edges.h5``; a file outside the circuit folder keeps its
    name; names that would meet (two ``edges.h5`` from different folders) get ``-2``, ``-3`` …
    """
    rel = path.relative_to(base) if path.is_relative_to(base) else Path(path.name)
    name = "__".join(rel.parts)
    stem, suffix = (name[: -len(path.suffix)], path.suffix) if path.suffix else (name, "")
    k = 1
    while name.casefold() in used:  # casefold: case-insensitive file systems
        k += 1
        name = f"{stem}-{k}{suffix}"
    used.add(name.casefold())
    return name


def _check_populations(
    circuit: Circuit,
    pops: Sequence[str],
    stats: xr.DataArray,
    props,
    by: str,
    overwrite: bool,
    chunk_size: int,
) -> list[tuple[str, list[str]]]:
    """(population, existing properties) to parameterize; every problem raised at once, before writing.

    Coverage is checked over the pathways the edges have (one pass over their source and target
    node ids, ``chunk_size`` edges at a time), not over every pair of node types: a model of
    EXC->INH covers a population whose edges are all EXC->INH, whatever else its nodes are.
    """
    cells = Cells(stats)
    src_types = [s for s in stats["src"].values.tolist() if s != WILDCARD]
    tgt_types = [t for t in stats["tgt"].values.tolist() if t != WILDCARD]
    todo, problems, node_props = [], [], set()
    for name in pops:
        pop = circuit.edges(name)
        src_nodes, tgt_nodes = circuit.nodes(pop.source), circuit.nodes(pop.target)
        lacking = [
            side
            for side, nodes_ in (("source", src_nodes), ("target", tgt_nodes))
            if nodes_ is None or by not in nodes_.attribute_names
        ]
        if lacking:
            log.warning(
                "Edge population '%s': %s nodes lack '%s': skipped", name, " and ".join(lacking), by
            )
            node_props.update(*(n.attribute_names for n in (src_nodes, tgt_nodes) if n is not None))
            continue
        pathways = edge_pathways(pop, src_nodes, tgt_nodes, by, chunk_size)
        missing = sorted({(s, t) for s, t in pathways for p in props if cells(p, s, t) is None})
        if missing:
            problems.append(
                f"edge population {name!r}: {by!r} pathways {missing} are not covered by the stats "
                f"(src_types {src_types}, tgt_types {tgt_types})"
            )
        existing = [p for p in props if p in pop.attribute_names]  # per edge or per type
        if existing and not overwrite:
            problems.append(
                f"edge population {name!r} already has {existing}; pass overwrite=True to redraw them"
            )
        todo.append((name, existing))
        del pop  # close libsonata's handle before h5py opens the file
    if pops and not todo and not problems:  # a by= naming no node property: a wrong option
        raise OptionError(
            f"no edge population has {by!r} on its source and target nodes, so nothing would be "
            f"parameterized; the nodes have {sorted(node_props)}: pass one of them as by="
        )
    if problems:
        raise PathwayError(format_problems("nothing was written", problems))
    return todo


def edge_pathways(pop, src_nodes, tgt_nodes, by: str, chunk_size: int) -> set[tuple[str, str]]:
    """The ``(source type, target type)`` pairs of ``by`` that the edges of ``pop`` connect.

    Node values are coded once per population; the edges are read ``chunk_size`` at a time, so a
    population of any size is scanned in bounded memory. Node ids outside the node populations
    are a [`SonataError`][synframe.errors.SonataError] (the edge file does not belong to these nodes).
    """
    src_codes, src_types = pd.factorize(np.asarray(src_nodes.get(by), dtype=object).astype(str))
    tgt_codes, tgt_types = pd.factorize(np.asarray(tgt_nodes.get(by), dtype=object).astype(str))
    width = max(len(tgt_types), 1)
    seen: set[int] = set()
    for start, stop in chunk_ranges(pop.size, chunk_size):
        s, t = pop.source_nodes(start, stop), pop.target_nodes(start, stop)
        for ids, codes, nodes_, side in ((s, src_codes, src_nodes, "source"),
                                         (t, tgt_codes, tgt_nodes, "target")):  # fmt: skip
            if len(ids) and (ids.min() < 0 or ids.max() >= len(codes)):
                raise SonataError(
                    f"edge population {pop.name!r}: {side} node ids up to {int(ids.max())} but "
                    f"node population {nodes_.name!r} has {len(codes)} nodes; the edges do not "
                    "belong to these nodes (check the circuit config)"
                )
        seen.update(np.unique(src_codes[s] * width + tgt_codes[t]).tolist())
    return {(str(src_types[k // width]), str(tgt_types[k % width])) for k in seen}


def _warn_leftovers(by_file) -> None:
    """A killed in-place run leaves its temporary copy beside the (untouched) original: say so."""
    for path in by_file:
        stale = sorted(path.parent.glob(f".{path.name}.synframe-*"))
        if stale:
            log.warning(
                "Leftover temporary file(s) of an interrupted run beside %s: %s; the original is intact "
                "and they can be deleted",
                path.name,
                ", ".join(p.name for p in stale),
            )
