"""SONATA: read edge populations, write EM synaptomes, parameterize whole circuits atomically.

Reading goes through libsonata; writing through h5py (libsonata only writes indices). SONATA
positions are in µm, synframe tables in nm: converted both ways. Facts this module relies on
(``reference/anchors.md`` §4): the libsonata wheel cannot read compressed datasets (nothing is
compressed here), libsonata and h5py link separate HDF5 libraries (libsonata handles are closed before
h5py writes a file), indices cannot be overwritten (written once, into fresh files), multi-group
populations are refused.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ._io import staged_dir
from .distributions import output_dtype
from .errors import PathwayError, SynframeError
from .parameterize import Cells, _plan, draw, pathway_types, resolve_seed
from .pathways import N_SYN_PER_CONN, WILDCARD, check_pathway_stats, stats_summary
from .schemas import POSITIONS, SynapseTable, _schema, run_schema
from .units import neuron_scale_nm

__all__ = ["SonataError", "parameterize_circuit", "read_edges", "write_synaptome"]

log = logging.getLogger("synframe")

UM = 1000.0  # nm per µm
_CENTERS = {
    "pre": ("efferent_center_x", "efferent_center_y", "efferent_center_z"),
    "post": ("afferent_center_x", "afferent_center_y", "afferent_center_z"),
}


class SonataError(SynframeError, ValueError):
    """A SONATA circuit or file cannot be read or written as asked."""


# --- opening ----------------------------------------------------------------------------------------


class _Circuit:
    """Edge and node populations of a circuit config or of a single edges file."""

    def __init__(self, path: str | os.PathLike) -> None:
        import libsonata

        self.path = Path(path).expanduser().resolve()
        if not self.path.exists():
            raise SonataError(f"{self.path} does not exist")
        self.config = None
        self.edge_files: dict[str, Path] = {}
        self.node_files: dict[str, Path] = {}
        self.edge_nodes: dict[str, tuple[str, str]] = {}
        try:
            if self.path.suffix == ".json":
                cfg = libsonata.CircuitConfig.from_file(str(self.path))
                self.config = cfg
                for name in sorted(cfg.edge_populations):
                    self.edge_files[name] = Path(cfg.edge_population_properties(name).elements_path)
                for name in sorted(cfg.node_populations):
                    self.node_files[name] = Path(cfg.node_population_properties(name).elements_path)
            else:
                for name in sorted(libsonata.EdgeStorage(str(self.path)).population_names):
                    self.edge_files[name] = self.path
        except libsonata.SonataError as exc:
            raise SonataError(f"{self.path}: {exc}") from None
        if not self.edge_files:
            raise SonataError(f"{self.path}: no edge populations found")

    def edges(self, name: str):
        """An open libsonata EdgePopulation (closed when garbage-collected)."""
        import libsonata

        if name not in self.edge_files:
            raise SonataError(
                f"no edge population {name!r}; the circuit has {sorted(self.edge_files)}"
            )
        try:
            return libsonata.EdgeStorage(str(self.edge_files[name])).open_population(name)
        except libsonata.SonataError as exc:
            if "single-group" in str(exc):
                raise SonataError(
                    f"edge population {name!r} has more than one edge group; libsonata (and so synframe) "
                    "reads single-group populations only -- split it into one population per group "
                    "(e.g. with h5py) first"
                ) from None
            raise SonataError(f"{self.edge_files[name]}: {exc}") from None

    def nodes(self, name: str):
        import libsonata

        if name not in self.node_files:
            return None
        return libsonata.NodeStorage(str(self.node_files[name])).open_population(name)

    def population(self, population: str | None) -> str:
        if population is None:
            if len(self.edge_files) != 1:
                raise SonataError(
                    f"{self.path} has {len(self.edge_files)} edge populations {sorted(self.edge_files)}; "
                    "choose one with population=..."
                )
            return next(iter(self.edge_files))
        if population not in self.edge_files:
            raise SonataError(
                f"no edge population {population!r}; the circuit has {sorted(self.edge_files)}"
            )
        return population


def _ranges(n: int, chunk: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, chunk):
        yield start, min(start + chunk, n)


# --- reading ----------------------------------------------------------------------------------------


def iter_edges(
    config_or_h5: str | os.PathLike,
    population: str | None = None,
    *,
    properties: Sequence[str] | None = None,
    node_properties: Sequence[str] = ("synapse_class", "mtype"),
    chunk_size: int = 1_000_000,
    positions: bool = True,
) -> Iterator[pd.DataFrame]:
    """:func:`read_edges` in chunks of ``chunk_size`` edges (for populations larger than memory).

    ``positions=False`` skips the position columns (for work that needs only ids and properties).
    """
    import libsonata

    circuit = _Circuit(config_or_h5)
    name = circuit.population(population)
    pop = circuit.edges(name)
    attrs = set(pop.attribute_names)
    if properties is None:
        props = sorted(attrs - {*_CENTERS["pre"], *_CENTERS["post"]})
    else:
        props = [properties] if isinstance(properties, str) else list(properties)
        unknown = [p for p in props if p not in attrs]
        if unknown:
            raise SonataError(
                f"edge population {name!r} has no attributes {unknown}; it has {sorted(attrs)}"
            )
    src_nodes, tgt_nodes = circuit.nodes(pop.source), circuit.nodes(pop.target)
    node_cache: dict[tuple[str, str], np.ndarray | None] = {}

    def node_values(side_nodes, side: str, prop: str):
        key = (side, prop)
        if key not in node_cache:
            node_cache[key] = (
                None
                if side_nodes is None or prop not in side_nodes.attribute_names
                else np.asarray(side_nodes.get_attribute(prop, side_nodes.select_all()))
            )
        return node_cache[key]

    for start, stop in _ranges(pop.size, chunk_size):
        sel = libsonata.Selection([(start, stop)])
        pre_nodes = np.asarray(pop.source_nodes(sel), dtype=np.int64)
        post_nodes = np.asarray(pop.target_nodes(sel), dtype=np.int64)
        edge_ids = np.arange(start, stop, dtype=np.int64)
        cols: dict[str, np.ndarray] = {}
        if "synapse_id" in attrs:  # written by write_synaptome: the original synapse id
            cols[SynapseTable.id] = np.asarray(pop.get_attribute("synapse_id", sel), dtype=np.int64)
        else:
            cols[SynapseTable.id] = edge_ids
        pre_root = node_values(src_nodes, "pre", "root_id")
        post_root = node_values(tgt_nodes, "post", "root_id")
        cols[SynapseTable.pre] = (
            pre_root[pre_nodes].astype(np.int64) if pre_root is not None else pre_nodes
        )
        cols[SynapseTable.post] = (
            post_root[post_nodes].astype(np.int64) if post_root is not None else post_nodes
        )
        for side, nodes_, ids in (("pre", src_nodes, pre_nodes), ("post", tgt_nodes, post_nodes)):
            if not positions:
                break
            names = [f"{side}_{a}" for a in "xyz"]
            if all(c in attrs for c in _CENTERS[side]):
                for c, src in zip(names, _CENTERS[side], strict=True):
                    cols[c] = np.asarray(pop.get_attribute(src, sel), dtype=np.float64) * UM
            else:
                other = "post" if side == "pre" else "pre"
                if all(c in attrs for c in _CENTERS[other]):  # one side only: use it for both
                    for c, src in zip(names, _CENTERS[other], strict=True):
                        cols[c] = np.asarray(pop.get_attribute(src, sel), dtype=np.float64) * UM
                else:  # no synapse positions: the node (soma) positions
                    for c, a in zip(names, "xyz", strict=True):
                        v = node_values(nodes_, side, a)
                        if v is None:
                            raise SonataError(
                                f"edge population {name!r} has no synapse positions and its {side} nodes "
                                "no x/y/z; synframe tables need positions"
                            )
                        cols[c] = np.asarray(v, dtype=np.float64)[ids] * UM
        if pre_root is not None or post_root is not None:
            cols["pre_node_id"], cols["post_node_id"] = pre_nodes, post_nodes
        for p in props:
            if p == "synapse_id":
                continue
            cols[p] = np.asarray(pop.get_attribute(p, sel))
        for side, nodes_, ids in (("pre", src_nodes, pre_nodes), ("post", tgt_nodes, post_nodes)):
            for p in node_properties:
                v = node_values(nodes_, side, p)
                if v is not None:
                    cols[f"{side}_{p}"] = v[ids]
        df = pd.DataFrame(cols)
        df.attrs = {
            "units": "nm",
            "source": f"SONATA {circuit.path}",
            "population": name,
            "source_population": pop.source,
            "target_population": pop.target,
            "edges": int(pop.size),
            "history": [],
        }
        yield df


def read_edges(
    config_or_h5: str | os.PathLike,
    population: str | None = None,
    *,
    properties: Sequence[str] | None = None,
    node_properties: Sequence[str] = ("synapse_class", "mtype"),
) -> pd.DataFrame:
    """One SONATA edge population as a canonical synapse table (nm).

    ``id`` is the edge id (or the ``synapse_id`` attribute that :func:`write_synaptome` stores),
    ``pre``/``post`` the source/target node ids (or the nodes' ``root_id`` when they have one; node
    ids are then kept as ``pre_node_id``/``post_node_id``), positions come from
    ``efferent_center_*`` / ``afferent_center_*`` (µm → nm; the node positions when a population has
    none), then the chosen edge ``properties`` (default: all) and ``node_properties`` as
    ``pre_<p>`` / ``post_<p>``. Population names are in ``attrs``.

    Examples
    --------
    >>> import tempfile, synframe as sf
    >>> config = sf.write_synaptome(sf.datasets.example_synapses(), tempfile.mkdtemp() + "/s")
    >>> syn = sf.read_edges(config)
    >>> syn.attrs["population"], len(syn), syn["id"].is_unique
    ('synaptome_afferents', 2165, True)
    """
    frames = list(
        iter_edges(
            config_or_h5,
            population,
            properties=properties,
            node_properties=node_properties,
            chunk_size=2**62,
        )
    )
    if not frames:  # an empty population
        circuit = _Circuit(config_or_h5)
        raise SonataError(f"edge population {circuit.population(population)!r} is empty")
    df = frames[0]
    return run_schema(df, _schema("synapses", unique_ids=False), "SynapseTable (from SONATA)")


# --- parameterizing circuits ------------------------------------------------------------------------


def _write_population(
    h5file, name: str, values: Mapping[str, np.ndarray], start: int, n: int, dtypes
) -> None:
    """Write one chunk of property values into ``/edges/<name>/0/<prop>`` of an open h5py file."""
    group = h5file["edges"][name]["0"]
    for prop, vals in values.items():
        if prop not in group:
            group.create_dataset(prop, shape=(n,), dtype=dtypes[prop])  # uncompressed (libsonata)
        ds = group[prop]
        ds[start : start + len(vals)] = vals.astype(ds.dtype, copy=False)


def _cast_for(dtype: np.dtype, vals: np.ndarray, what: str) -> None:
    if np.dtype(dtype).kind in "iu" and len(vals):
        info = np.iinfo(dtype)
        if vals.min() < info.min or vals.max() > info.max:
            raise SonataError(
                f"{what}: values {vals.min()}..{vals.max()} do not fit the existing dtype {dtype}"
            )


def parameterize_circuit(
    config: str | os.PathLike,
    stats: xr.DataArray,
    *,
    pathway_property: str,
    populations: Sequence[str] | None = None,
    seed: int | None = None,
    overwrite_if_exists: bool = False,
    output: str | os.PathLike | None = None,
    inplace: bool = False,
    chunk_size: int = 1_000_000,
) -> Path:
    """Draw synapse properties for a SONATA circuit's edge populations (the obi-one task), atomically.

    Semantics of the reference task: every value of ``pathway_property`` among the nodes of the
    populations must be covered by ``stats`` (else an error, before anything is written);
    populations whose source or target nodes lack the property are skipped with a warning; existing
    properties need ``overwrite_if_exists`` (then logged as re-parameterization). Values are drawn
    as :func:`synframe.parameterize` draws them (keyed on population, property, source and target
    node ids, edge id), connection by connection where ``shared_within``.

    Improvements over the reference: everything is validated before any write; files are written as
    temporary copies and moved into place with ``os.replace`` (an error or a kill leaves the input
    byte-identical); ``output=`` writes a new circuit directory (config rewritten to the new edge
    files, everything else referenced where it is) — in place only with ``inplace=True``; dtypes of
    existing properties are kept (new ones: float32, or int32 for ``dtype: "int"``); no compression;
    populations are processed in chunks of ``chunk_size`` edges.

    Returns
    -------
    pathlib.Path
        The circuit config that holds the result.
    """
    import h5py

    check_pathway_stats(stats)
    if output is None and not inplace:
        raise SonataError(
            "pass output=DIR to write a new circuit, or inplace=True to modify this one"
        )
    if output is not None and inplace:
        raise SonataError("output= and inplace=True exclude each other")
    circuit = _Circuit(config)
    if circuit.config is None:
        raise SonataError(
            "parameterize_circuit needs a circuit_config.json (node properties live in node files)"
        )
    seed = resolve_seed(seed)
    pops = sorted(circuit.edge_files) if populations is None else list(populations)
    unknown = [p for p in pops if p not in circuit.edge_files]
    if unknown:
        raise SonataError(
            f"no edge populations {unknown}; the circuit has {sorted(circuit.edge_files)}"
        )
    props = [p for p in stats["property"].values.tolist() if p != N_SYN_PER_CONN]
    cells = Cells(stats)
    src_types = [s for s in stats["src"].values.tolist() if s != WILDCARD]
    tgt_types = [t for t in stats["tgt"].values.tolist() if t != WILDCARD]

    # 1. validate everything before any write
    todo, problems = [], []
    for name in pops:
        pop = circuit.edges(name)
        src_nodes, tgt_nodes = circuit.nodes(pop.source), circuit.nodes(pop.target)
        lacking = [
            side
            for side, nodes_ in (("source", src_nodes), ("target", tgt_nodes))
            if nodes_ is None or pathway_property not in nodes_.attribute_names
        ]
        if lacking:
            log.warning(
                "Edge population '%s': %s nodes lack '%s': skipped",
                name,
                " and ".join(lacking),
                pathway_property,
            )
            continue
        sv = np.unique(
            np.asarray(src_nodes.get_attribute(pathway_property, src_nodes.select_all())).astype(
                str
            )
        )
        tv = np.unique(
            np.asarray(tgt_nodes.get_attribute(pathway_property, tgt_nodes.select_all())).astype(
                str
            )
        )
        missing = [(s, t) for s in sv for t in tv for p in props if cells(p, s, t) is None]
        if missing:
            pairs = sorted({(str(s), str(t)) for s, t in missing})
            problems.append(
                f"edge population {name!r}: {pathway_property!r} pathways {pairs} are not covered by the stats "
                f"(src_types {src_types}, tgt_types {tgt_types})"
            )
        existing = [p for p in props if p in pop.attribute_names]
        if existing and not overwrite_if_exists:
            problems.append(
                f"edge population {name!r} already has {existing}; pass overwrite_if_exists=True to redraw them"
            )
        todo.append((name, existing))
        del pop
    if problems:
        raise PathwayError("nothing was written:\n  - " + "\n  - ".join(problems))
    log.info("%s", stats_summary(stats))
    log.info("Running synapse parameterization for %d edge population(s)...", len(todo))

    # 2. draw into temporary copies of the edge files
    by_file: dict[Path, list[tuple[str, list[str]]]] = {}
    for name, existing in todo:
        by_file.setdefault(circuit.edge_files[name], []).append((name, existing))
    for path in by_file:  # a killed run leaves its temporary copy beside the (untouched) original
        stale = sorted(path.parent.glob(f".{path.name}.synframe-*"))
        if stale:
            log.warning(
                "Leftover temporary file(s) of an interrupted run beside %s: %s; the original is intact "
                "and they can be deleted",
                path.name,
                ", ".join(p.name for p in stale),
            )
    out_dir = None if output is None else Path(output).expanduser().resolve()
    if out_dir is not None and out_dir.exists():
        raise SonataError(f"{out_dir} exists; choose a new output directory")
    staging = (
        out_dir.parent / f".{out_dir.name}.staging-{uuid.uuid4().hex[:8]}"
        if out_dir is not None
        else None
    )
    temps: dict[Path, Path] = {}
    try:
        if staging is not None:
            staging.mkdir(parents=True)
        for path, members in sorted(by_file.items()):
            if staging is not None:  # e.g. edges/VPM__S1nonbarrel_neurons__chemical__edges.h5
                rel = (
                    path.relative_to(circuit.path.parent)
                    if path.is_relative_to(circuit.path.parent)
                    else Path(path.name)
                )
                tmp = staging / "edges" / "__".join(rel.parts)
                tmp.parent.mkdir(exist_ok=True)
            else:
                tmp = path.with_name(f".{path.name}.synframe-{uuid.uuid4().hex[:8]}")
            shutil.copyfile(path, tmp)
            temps[path] = tmp
            with h5py.File(tmp, "r+") as h5:
                for name, existing in members:
                    _parameterize_population(
                        circuit,
                        name,
                        existing,
                        h5,
                        stats,
                        props,
                        pathway_property,
                        seed,
                        chunk_size,
                    )
        # 3. swap in: in place, replace each edge file; with output, rewrite the config and move
        if staging is None:
            for path, tmp in temps.items():
                os.replace(tmp, path)
            result = circuit.path
        else:
            _write_config(circuit, staging, {p: Path("edges") / t.name for p, t in temps.items()})
            os.replace(staging, out_dir)
            result = out_dir / "circuit_config.json"
    except BaseException:
        for tmp in temps.values():
            if staging is None:
                Path(tmp).unlink(missing_ok=True)
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("Synapse parameterization done: %s", result)
    return result


def _parameterize_population(
    circuit, name, existing, h5, stats, props, by, seed, chunk_size
) -> None:
    """Draw every property for one population, chunk by chunk, into the open (temporary) h5 file."""
    for p in existing:
        log.info(
            "Synapse property '%s' already exists in edge population '%s': Re-parameterizing synapses.",
            p,
            name,
        )
    group = h5["edges"][name]["0"]
    n = int(h5["edges"][name]["source_node_id"].shape[0])
    dtypes = {}
    for p in props:
        if p in group:
            dtypes[p] = group[p].dtype  # kept when overwriting
        else:
            specs = [c for c in stats.sel(property=p).values.ravel() if c is not None]
            kinds = {output_dtype(c).kind for c in specs}
            dtypes[p] = np.dtype("int32") if kinds == {"i"} else np.dtype("float32")
    done = 0
    for chunk in iter_edges(
        circuit.path,
        name,
        properties=[],
        node_properties=(by,),
        chunk_size=chunk_size,
        positions=False,
    ):
        chunk = chunk.assign(**{
            SynapseTable.pre: chunk.get("pre_node_id", chunk[SynapseTable.pre]),
            SynapseTable.post: chunk.get("post_node_id", chunk[SynapseTable.post]),
            SynapseTable.id: np.arange(done, done + len(chunk), dtype=np.int64),
        })  # fmt: skip
        src, tgt = pathway_types(chunk, by)
        plan = _plan(chunk, src, tgt)
        values = draw(stats, props, plan, seed, stream=f"{name}/")
        for p, v in values.items():
            _cast_for(dtypes[p], v, f"{name}/{p}")
        _write_population(h5, name, values, done, n, dtypes)
        done += len(chunk)
        log.info("Edge population '%s': %d / %d edges parameterized", name, done, n)


def _write_config(circuit: _Circuit, staging: Path, new_edges: Mapping[Path, Path]) -> None:
    """A circuit config for ``staging``: new edge files, everything else by absolute path."""
    cfg = json.loads(circuit.config.expanded_json)
    base = circuit.path.parent

    def absolute(value):
        if (
            isinstance(value, str)
            and value
            and not os.path.isabs(value)
            and (base / value).exists()
        ):
            return str((base / value).resolve())
        if isinstance(value, dict):
            return {k: absolute(v) for k, v in value.items()}
        if isinstance(value, list):
            return [absolute(v) for v in value]
        return value

    cfg = absolute(cfg)
    for entry in cfg.get("networks", {}).get("edges", []):
        old = Path(entry["edges_file"]).resolve()
        if old in new_edges:
            entry["edges_file"] = "$BASE_DIR/" + str(new_edges[old])
    cfg["manifest"] = {"$BASE_DIR": "./"}
    (staging / "circuit_config.json").write_text(json.dumps(cfg, indent=2))


# --- writing EM synaptomes --------------------------------------------------------------------------

DEFAULT_NAMES = {
    "neurons": "synaptome",
    "afferents": "synaptome_afferent_neurons",
    "edges": "synaptome_afferents",
}


def _section_positions(neuron, node_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(section id, position along the section in [0, 1]) of skeleton nodes.

    Sections are navis' unbranched segments (``neuron.small_segments``), numbered from 1 (0 is the
    soma, as in SONATA/MorphIO); the position is the path length from the section's proximal end.
    """
    index = pd.Index(neuron.nodes["node_id"].to_numpy())
    xyz = neuron.nodes[["x", "y", "z"]].to_numpy(dtype=np.float64)
    segments = [np.asarray(seg)[::-1] for seg in neuron.small_segments]  # proximal -> distal
    lengths = np.array([len(s) for s in segments])
    pos = index.get_indexer(np.concatenate(segments))
    starts = np.r_[0, np.cumsum(lengths)[:-1]]
    step = np.r_[0.0, np.linalg.norm(np.diff(xyz[pos], axis=0), axis=1)]
    step[starts] = 0.0  # no step across section boundaries
    along = np.cumsum(step)
    along -= np.repeat(along[starts], lengths)  # path length from each section's proximal end
    total = np.repeat(along[starts + lengths - 1], lengths)
    inner = np.ones(len(pos), dtype=bool)
    inner[starts] = False  # the proximal end belongs to the parent section
    sec = np.zeros(len(index), dtype=np.int64)
    frac = np.zeros(len(index))
    sec[pos[inner]] = np.repeat(np.arange(1, len(segments) + 1), lengths)[inner]
    frac[pos[inner]] = (along / np.where(total > 0, total, 1.0))[inner]
    rows = index.get_indexer(np.asarray(node_ids))
    ok = rows >= 0
    out_sec = np.where(ok, sec[np.where(ok, rows, 0)], -1)
    out_frac = np.where(ok, frac[np.where(ok, rows, 0)], np.nan)
    return out_sec, out_frac


def write_synaptome(
    syn: pd.DataFrame,
    path: str | os.PathLike,
    *,
    neurons=None,
    population_names: Mapping[str, str] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the afferent synapses of reconstructed neuron(s) as a SONATA "synaptome" circuit.

    Nodes: the reconstructed neuron(s) (population ``synaptome``, ``model_type`` biophysical) and one
    virtual node per presynaptic partner (``synaptome_afferent_neurons``), each with ``root_id`` and
    every ``post_<annotation>`` / ``pre_<annotation>`` column (e.g. ``synapse_class``) as node
    properties. Edges (``synaptome_afferents``): one per synapse onto the neurons, with
    ``synapse_id``, ``afferent_center_*`` / ``efferent_center_*`` (µm), ``afferent_section_id`` /
    ``afferent_section_pos`` from the attached skeleton node (when ``neurons`` are navis skeletons),
    and every parameterized property; indices; ``circuit_config.json``. Written into a temporary
    directory and moved into place.

    Parameters
    ----------
    syn
        A synapse table (positions in nm).
    path
        The directory to create.
    neurons
        The reconstructed neurons: navis neurons (their ids; skeletons also give section ids) or ids.
        Default: the neurons the table was fetched for (``attrs["history"]``).
    population_names
        Override ``{"neurons": ..., "afferents": ..., "edges": ...}``.
    overwrite
        Replace an existing directory.

    Examples
    --------
    >>> import tempfile, synframe as sf
    >>> syn = sf.datasets.example_synapses()
    >>> out = sf.write_synaptome(syn, tempfile.mkdtemp() + "/synaptome")
    >>> back = sf.read_edges(out)
    >>> len(back), bool((back.post == sf.datasets.EXAMPLE_ROOT_ID).all())
    (2165, True)
    """
    import h5py
    import libsonata
    import navis

    from ._ids import as_ids
    from .attach import attach

    run_schema(syn, _schema("synapses"), "SynapseTable (input of write_synaptome)")
    if syn[SynapseTable.id].duplicated().any():
        raise SonataError("duplicate synapse ids; run sf.clean(..., dedupe=True) first")
    names = {**DEFAULT_NAMES, **(population_names or {})}
    skeletons = None
    if neurons is None:
        fetched = [
            h
            for h in syn.attrs.get("history", [])
            if h.get("stage") == "fetch" and "query_ids" in h
        ]
        if not fetched:
            raise SonataError(
                "which neurons are the reconstructed ones? pass neurons= (navis neurons or ids)"
            )
        ids = as_ids(fetched[-1]["query_ids"])
    elif isinstance(neurons, (navis.BaseNeuron, navis.NeuronList)):
        skeletons = navis.NeuronList(neurons)
        ids = as_ids(np.array([n.id for n in skeletons], dtype=object))
    else:
        ids = as_ids(neurons)
    ids = np.unique(ids)
    aff = syn[syn[SynapseTable.post].isin(ids)].sort_values(
        [SynapseTable.post, SynapseTable.pre, SynapseTable.id]
    )
    if aff.empty:
        raise SonataError(f"no synapses onto the neurons {ids.tolist()[:5]}; nothing to write")
    path = Path(path).expanduser().resolve()
    if path.exists() and not overwrite:
        raise SonataError(f"{path} exists; pass overwrite=True to replace it")
    props = [p for p in syn.attrs.get("properties", []) if p in aff.columns]
    partners = np.unique(aff[SynapseTable.pre].to_numpy())
    src_idx = np.searchsorted(partners, aff[SynapseTable.pre].to_numpy())
    tgt_idx = np.searchsorted(ids, aff[SynapseTable.post].to_numpy())
    section = None
    if skeletons is not None and all(isinstance(n, navis.TreeNeuron) for n in skeletons):
        con = pd.concat(
            [n.connectors.assign(_neuron=n.id) for n in attach(aff, skeletons)], ignore_index=True
        )
        con = con[con["type"] == "post"].set_index("connector_id")
        sec_id = np.full(len(aff), -1, dtype=np.int64)
        sec_pos = np.full(len(aff), np.nan)
        for n in skeletons:
            mine = aff[SynapseTable.post].to_numpy() == int(n.id)
            nodes_ = con.loc[aff.loc[mine, SynapseTable.id].to_numpy(), "node_id"].to_numpy()
            sec_id[mine], sec_pos[mine] = _section_positions(n, nodes_)
        section = (sec_id, sec_pos)

    with staged_dir(path) as staging:
        edges_h5 = staging / "edges.h5"
        nodes_h5 = staging / "nodes.h5"
        with h5py.File(nodes_h5, "w") as h5:
            for pop, node_ids, side in (
                (names["neurons"], ids, "post"),
                (names["afferents"], partners, "pre"),
            ):
                g = h5.create_group(f"nodes/{pop}")
                g.create_dataset("node_type_id", data=np.full(len(node_ids), -1, dtype=np.int64))
                g0 = g.create_group("0")
                g0.create_dataset("root_id", data=node_ids.astype(np.int64))
                if side == "post":  # morphology file names (written when skeletons are given)
                    g0.create_dataset(
                        "morphology",
                        data=np.array([str(int(i)) for i in node_ids], dtype=object),
                        dtype=h5py.string_dtype(),
                    )
                g0.create_dataset(
                    "model_type",
                    data=np.array(
                        ["biophysical" if side == "post" else "virtual"] * len(node_ids),
                        dtype=object,
                    ),
                    dtype=h5py.string_dtype(),
                )
                key = SynapseTable.post if side == "post" else SynapseTable.pre
                first = aff.drop_duplicates(key).set_index(key)
                for col in aff.columns:
                    if col.startswith(f"{side}_") and col not in POSITIONS:
                        vals = first[col].reindex(node_ids)
                        name = col[len(side) + 1 :]
                        if vals.isna().any():
                            continue
                        if pd.api.types.is_numeric_dtype(
                            vals.dtype
                        ) and not pd.api.types.is_bool_dtype(vals.dtype):
                            g0.create_dataset(name, data=vals.to_numpy())
                        else:
                            g0.create_dataset(
                                name,
                                data=vals.astype(str).to_numpy(dtype=object),
                                dtype=h5py.string_dtype(),
                            )
        with h5py.File(edges_h5, "w") as h5:
            g = h5.create_group(f"edges/{names['edges']}")
            n = len(aff)
            g.create_dataset("source_node_id", data=src_idx.astype(np.uint64)).attrs[
                "node_population"
            ] = names["afferents"]
            g.create_dataset("target_node_id", data=tgt_idx.astype(np.uint64)).attrs[
                "node_population"
            ] = names["neurons"]
            g.create_dataset("edge_type_id", data=np.full(n, -1, dtype=np.int64))
            g.create_dataset("edge_group_id", data=np.zeros(n, dtype=np.int64))
            g.create_dataset("edge_group_index", data=np.arange(n, dtype=np.uint64))
            g0 = g.create_group("0")
            g0.create_dataset("synapse_id", data=aff[SynapseTable.id].to_numpy(dtype=np.int64))
            for side in ("pre", "post"):
                for c, dst in zip([f"{side}_{a}" for a in "xyz"], _CENTERS[side], strict=True):
                    g0.create_dataset(
                        dst, data=(aff[c].to_numpy(dtype=np.float64) / UM).astype(np.float32)
                    )
            if section is not None:
                g0.create_dataset("afferent_section_id", data=section[0].astype(np.int32))
                g0.create_dataset("afferent_section_pos", data=section[1].astype(np.float32))
            for p in props:
                v = aff[p].to_numpy()
                g0.create_dataset(
                    p,
                    data=v.astype(np.int32)
                    if np.issubdtype(v.dtype, np.integer)
                    else v.astype(np.float32),
                )
        libsonata.EdgePopulation.write_indices(
            str(edges_h5), names["edges"], len(partners), len(ids)
        )
        morph_dir = staging / "morphologies"
        morph_dir.mkdir()
        (staging / "emodels").mkdir()  # where the modeller puts the e-model
        if skeletons is not None:  # the reconstructions as SWC in µm (SONATA's morphology unit)
            for n in skeletons:
                if isinstance(n, navis.TreeNeuron):
                    um = n.copy()
                    scale = neuron_scale_nm(n) / UM
                    um.nodes[["x", "y", "z"]] = (
                        n.nodes[["x", "y", "z"]].to_numpy(dtype=np.float64) * scale
                    )
                    um.units = "1 um"
                    navis.write_swc(um, morph_dir / f"{int(n.id)}.swc")
        config = {
            "version": 2.4,
            "manifest": {"$BASE_DIR": "./"},
            "components": {},
            "networks": {
                "nodes": [
                    {
                        "nodes_file": "$BASE_DIR/nodes.h5",
                        "populations": {
                            names["neurons"]: {
                                "type": "biophysical",
                                "morphologies_dir": "$BASE_DIR/morphologies",
                                # where the modeller puts the neuron's e-model (none is written)
                                "biophysical_neuron_models_dir": "$BASE_DIR/emodels",
                            },
                            names["afferents"]: {"type": "virtual"},
                        },
                    }
                ],
                "edges": [
                    {
                        "edges_file": "$BASE_DIR/edges.h5",
                        "populations": {names["edges"]: {"type": "chemical"}},
                    }
                ],
            },
            "synframe": {
                "units": "SONATA positions in µm",
                "source": syn.attrs.get("source"),
                "datastack": syn.attrs.get("datastack"),
                "materialization": syn.attrs.get("materialization"),
            },
        }
        (staging / "circuit_config.json").write_text(json.dumps(config, indent=2, default=str))
    log.info(
        "write_synaptome: %d synapses onto %d neuron(s) from %d partners -> %s",
        len(aff),
        len(ids),
        len(partners),
        path,
    )
    return path / "circuit_config.json"
