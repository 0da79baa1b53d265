"""``write_synaptome``: the afferent synapses of reconstructed neurons as a SONATA circuit."""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from .._ids import as_ids
from .._io import staged_dir
from .._neurons import neuron_ids
from .._validation import run_schema, stage_schema
from ..errors import OptionError, SonataError, format_problems
from ..schemas import POSITIONS, SynapseTable
from ._circuit import LAYOUT_DATASETS, UM, name_problem
from ._record import circuit_entry, drawn_by, stamp
from .morphology import Morphology, _radii, build_morphology, locate, write_swc
from .read import CENTERS

__all__ = ["write_synaptome"]

log = logging.getLogger("synframe")


DEFAULT_NAMES = {
    "neurons": "synaptome",
    "afferents": "synaptome_afferent_neurons",
    "edges": "synaptome_afferents",
}


def write_synaptome(
    syn: pd.DataFrame,
    path: str | os.PathLike,
    *,
    neurons=None,
    population_names: Mapping[str, str] | None = None,
    radii: Mapping[str, float] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the afferent synapses of reconstructed neuron(s) as a SONATA "synaptome" circuit.

    Nodes: the reconstructed neuron(s) (population ``synaptome``, ``model_type`` biophysical) and one
    virtual node per presynaptic partner (``synaptome_afferent_neurons``), each with ``root_id`` and
    every ``post_<annotation>`` / ``pre_<annotation>`` column (e.g. ``synapse_class``) as node
    properties. Edges (``synaptome_afferents``): one per synapse onto the neurons, with
    ``synapse_id``, ``afferent_center_*`` / ``efferent_center_*`` (the synapse positions, µm) and
    every parameterized property; indices; ``circuit_config.json``. Written into a temporary
    directory and moved into place.

    Properties are written in the dtype they have, so what libsonata reads is what was drawn
    (int64 stays int64, float64 stays float64; booleans become uint8 0/1, float16 float32,
    categories text): a synaptome is small, and every SONATA reader takes any of these dtypes.
    Missing or non-finite property values, and names HDF5 or libsonata would misread (``"a/b"``,
    ``""``, ``"@x"``, a dataset synframe writes itself such as ``synapse_id``), are refused
    before anything is written.

    When ``neurons`` are navis skeletons, each is written as a morphology MorphIO reads without
    warnings (``morphologies/<root id>.swc``, µm, relative to the soma; the node's ``x``/``y``/``z``
    is the soma position, so bluepysnap's ``morph.get(node, transform=True)`` is in circuit
    space): one soma, neurite types (axon where the neuron's own presynapses lie, else dendrite,
    unless the skeleton carries SWC labels), positive radii (the nodes' ``radius`` where positive,
    else the estimate ``radii``); see :mod:`synframe.sonata.morphology`. Each synapse then gets
    ``afferent_section_id`` (0: soma; ``k``: MorphIO's section ``k - 1``),
    ``afferent_section_pos`` (fraction along that section's polyline, as neurodamus and
    bluepysnap read it), ``afferent_section_type``, ``afferent_segment_id`` and
    ``afferent_segment_offset``: the nearest point on the skeleton.

    What drew the values is recorded (:mod:`synframe.sonata._record`): the table's last
    ``parameterize`` record -- synframe version, seed, pathway property, properties, the model's
    SHA-256 and file -- in the ``synframe`` entry of ``circuit_config.json`` (key
    ``parameterize``) and as the JSON attribute ``synframe_provenance`` of the edge population.

    No e-model is written: ``biophysical_neuron_models_dir`` is the circuit folder (libsonata
    requires the key for a biophysical population); add ``model_template`` to the nodes and the
    template there. Without skeletons no ``morphologies/`` folder is written and the neurons have
    no ``morphology`` attribute (``morphologies_dir`` is the circuit folder, for the same reason).

    Parameters
    ----------
    syn
        A synapse table (positions in nm).
    path
        The directory to create.
    neurons
        The reconstructed neurons: navis neurons (their ids; skeletons also give the morphology
        and section ids) or ids. Default: the neurons the table was fetched for
        (``attrs["history"]``).
    population_names
        Override ``{"neurons": ..., "afferents": ..., "edges": ...}``.
    radii
        Radii (µm) for skeleton nodes without a positive ``radius``, by ``"soma"``,
        ``"dendrite"``, ``"axon"``; default
        :data:`~synframe.sonata.morphology.DEFAULT_RADII_UM` (an estimate, not a measurement).
    overwrite
        Replace an existing synaptome directory (here ``overwrite`` replaces the output; in
        :func:`~synframe.parameterize` it redraws properties that exist). Only a directory synframe wrote (its
        ``circuit_config.json`` says so) holding only what synframe writes is replaced; anything
        else at ``path`` is an error, so that no other file is deleted.

    Examples
    --------
    >>> import tempfile, synframe as sf
    >>> syn = sf.datasets.example_synapses()
    >>> neuron = sf.datasets.example_neuron()
    >>> out = sf.write_synaptome(syn, tempfile.mkdtemp() + "/synaptome", neurons=neuron)
    >>> back = sf.read_edges(out)
    >>> len(back), bool((back.post == sf.datasets.EXAMPLE_ROOT_ID).all())
    (2165, True)
    >>> bool(back["afferent_section_id"].max() > 1000), sorted(p.name for p in out.parent.iterdir())
    (True, ['circuit_config.json', 'edges.h5', 'morphologies', 'nodes.h5'])
    """
    run_schema(syn, stage_schema("synapses"), "SynapseTable (input of write_synaptome)")
    if syn[SynapseTable.id].duplicated().any():
        raise SonataError("duplicate synapse ids; run sf.clean(..., dedupe=True) first")
    if not isinstance(overwrite, (bool, np.bool_)):
        raise OptionError(f"overwrite must be True or False, got {overwrite!r}")
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise OptionError(f"path must be the directory to create, got {path!r}")
    names = _population_names(population_names)
    _radii(radii)  # checked even when no skeleton uses them
    ids, skeletons = _reconstructed(syn, neurons)
    aff = syn[syn[SynapseTable.post].isin(ids)].sort_values(
        [SynapseTable.post, SynapseTable.pre, SynapseTable.id]
    )
    if aff.empty:
        raise SonataError(f"no synapses onto the neurons {ids.tolist()[:5]}; nothing to write")
    path = Path(path).expanduser().resolve()
    _check_replaceable(path, overwrite)
    props = _properties(syn, aff)
    _annotation_names(aff)
    partners = np.unique(aff[SynapseTable.pre].to_numpy())
    morphs = {i: _morphology(syn, n, radii) for i, n in skeletons.items()}
    section = _sections(aff, morphs) if morphs else None

    with staged_dir(path) as staging:
        _write_nodes(staging / "nodes.h5", aff, names, ids, partners, morphs)
        _write_edges(
            staging / "edges.h5", aff, names, ids, partners, props, section, drawn_by(syn.attrs)
        )
        if morphs:
            _write_morphologies(staging / "morphologies", morphs.values(), syn)
        (staging / "circuit_config.json").write_text(
            json.dumps(_config(syn, names, bool(morphs)), indent=2, default=str)
        )
    log.info(
        "write_synaptome: %d synapses onto %d neuron(s) from %d partners -> %s",
        len(aff),
        len(ids),
        len(partners),
        path,
    )
    return path / "circuit_config.json"


#: what write_synaptome puts in a synaptome folder; an existing folder holding anything else is
#: not replaced (it is not one synframe wrote, or someone added files to it)
SYNAPTOME_ENTRIES = frozenset({"circuit_config.json", "nodes.h5", "edges.h5", "morphologies"})


def _check_replaceable(path: Path, overwrite: bool) -> None:
    """Refuse to replace ``path`` unless it is a synaptome synframe wrote (and overwrite=True)."""
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise SonataError(f"cannot create {path}: {parent} is a file, not a directory")
            break
    if not (path.exists() or path.is_symlink()):
        return
    if not overwrite:
        raise SonataError(f"{path} exists; pass overwrite=True to replace it")
    if not path.is_dir():
        raise SonataError(
            f"{path} exists and is not a directory; overwrite=True replaces only a synaptome "
            "written by synframe -- choose another path or remove the file yourself"
        )
    entries = {p.name for p in path.iterdir()}
    written_by_synframe = False
    with contextlib.suppress(OSError, ValueError, TypeError, RecursionError):
        config = json.loads((path / "circuit_config.json").read_text(encoding="utf-8"))
        written_by_synframe = isinstance(config, dict) and "synframe" in config
    foreign = sorted(entries - SYNAPTOME_ENTRIES)
    if not written_by_synframe or foreign:
        what = (
            f"it holds files synframe does not write ({', '.join(foreign[:5])})"
            if foreign and written_by_synframe
            else "it is not a synaptome written by synframe (no synframe circuit_config.json)"
        )
        raise SonataError(
            f"{path} exists and {what}; overwrite=True replaces only a synaptome synframe wrote, "
            "so that nothing else is deleted -- choose another path or empty it yourself"
        )


def _population_names(population_names) -> dict[str, str]:
    """``population_names=`` merged over the defaults, every name valid and distinct."""
    given = dict(population_names or {})
    unknown = sorted(map(str, set(given) - set(DEFAULT_NAMES)))
    if unknown:
        raise OptionError(f"population_names: unknown keys {unknown}; use {sorted(DEFAULT_NAMES)}")
    names = {**DEFAULT_NAMES, **given}
    problems = [f"{k}: {p}" for k, v in names.items() if (p := name_problem(v))]
    if problems:
        raise OptionError(
            format_problems("population_names cannot be SONATA populations", problems)
        )
    if len(set(names.values())) < len(names):
        raise OptionError(
            f"population_names: every population needs its own name (SONATA looks populations up "
            f"by name), got {names}"
        )
    return names


def _properties(syn: pd.DataFrame, aff: pd.DataFrame) -> list[str]:
    """The parameterized properties (``attrs['properties']``) to write as edge attributes."""
    listed = syn.attrs.get("properties", [])
    listed = [listed] if isinstance(listed, str) else list(listed or [])
    missing = [p for p in listed if p not in aff.columns]
    if missing:
        raise SonataError(
            f"attrs['properties'] lists {missing}, which are not columns of the table; "
            "parameterize again (sf.parameterize) or correct attrs['properties']"
        )
    props = list(dict.fromkeys(listed))
    written = {"synapse_id", *CENTERS["pre"], *CENTERS["post"]}
    written |= {name for name, _ in SECTION_DATASETS.values()}
    problems = [
        f"{p!r}: {problem}"
        for p in props
        if (problem := name_problem(p)
            or ("a dataset synframe writes itself" if p in written | LAYOUT_DATASETS else None))
    ]  # fmt: skip
    if problems:
        raise SonataError(
            format_problems(
                "these properties cannot be SONATA edge attributes (rename the columns and "
                "attrs['properties'])",
                problems,
            )
        )
    for p in props:
        values = sonata_values(aff[p], f"property {p!r}")  # refuse what cannot be stored
        if values.dtype.kind == "f" and not np.isfinite(values).all():
            raise SonataError(
                f"property {p!r} has {int((~np.isfinite(values)).sum())} NaN/inf values; a "
                "simulator cannot use them -- parameterize those synapses (sf.parameterize) or "
                "drop them"
            )
    return props


def _annotation_names(aff: pd.DataFrame) -> None:
    """``pre_<a>`` / ``post_<a>`` columns become node attributes ``<a>``: their names must be valid."""
    problems = []
    for col in aff.columns:
        for side in ("pre", "post"):
            annotation = isinstance(col, str) and col.startswith(f"{side}_")
            if (
                annotation
                and col not in POSITIONS
                and (problem := name_problem(col[len(side) + 1 :]))
            ):
                problems.append(f"column {col!r}: node attribute {problem}")
    if problems:
        raise SonataError(
            format_problems(
                "these annotation columns cannot be SONATA node attributes (rename them)", problems
            )
        )


def sonata_values(values: pd.Series, what: str) -> np.ndarray:
    """A column as the array written to SONATA, exactly: the dtype it has, when libsonata reads it.

    Kept as they are: int8 … int64, uint8 … uint64, float32, float64 and text. Widened without
    change of value: booleans (to uint8 0/1), float16 (to float32), nullable integers without
    missing values (to their numpy dtype), categories (to text). Refused: missing values of
    integer columns, complex numbers, dates and other objects.
    """
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        values = values.astype(object)
        dtype = values.dtype
    if not isinstance(dtype, np.dtype):  # pandas extension dtypes: nullable ints, strings, arrow
        if values.isna().any():
            raise SonataError(
                f"{what} has {int(values.isna().sum())} missing values; SONATA attributes have one "
                "value per edge/node -- fill or drop them first"
            )
        kind = getattr(dtype, "kind", "O")
        values = values.to_numpy(
            dtype=getattr(dtype, "numpy_dtype", None) if kind in "iufb" else object
        )
    else:
        values = values.to_numpy()
    kind = values.dtype.kind
    if kind == "b":
        return values.astype(np.uint8)
    if kind == "f" and values.dtype.itemsize < 4:
        return values.astype(np.float32)
    if kind in "iuf" and values.dtype.itemsize <= 8:
        return values
    if kind in "OUS":
        if kind == "O" and not all(isinstance(v, str) for v in values):
            kinds = sorted({type(v).__name__ for v in values if not isinstance(v, str)})
            raise SonataError(
                f"{what} holds {', '.join(kinds)} values, which SONATA cannot store; give numbers "
                "or text"
            )
        return values.astype(str).astype(object)
    raise SonataError(f"{what} is {values.dtype}, which SONATA cannot store; give numbers or text")


def _reconstructed(syn: pd.DataFrame, neurons) -> tuple[np.ndarray, dict]:
    """(sorted ids of the reconstructed neurons, {id: skeleton} when skeletons are given)."""
    import navis

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
        return np.unique(as_ids(fetched[-1]["query_ids"])), {}
    if not isinstance(neurons, (navis.BaseNeuron, navis.NeuronList)):
        return np.unique(as_ids(neurons, what="neurons")), {}
    nl = navis.NeuronList(neurons)
    ids = neuron_ids(nl)
    trees = [isinstance(n, navis.TreeNeuron) for n in nl]
    if any(trees) and not all(trees):
        others = [int(i) for i, t in zip(ids, trees, strict=True) if not t]
        raise SonataError(
            f"neurons {others[:5]} are not skeletons while others are: pass skeletons "
            "(navis.TreeNeuron, e.g. navis.skeletonize) for every reconstructed neuron, or ids only"
        )
    skeletons = dict(zip(ids.tolist(), nl, strict=True)) if all(trees) else {}
    return np.unique(ids), skeletons


def _morphology(syn: pd.DataFrame, neuron, radii):
    """The neuron's morphology; its own pre/postsynapses tell its axon from its dendrites."""
    i = int(neuron.id)
    pre = syn[SynapseTable.pre].to_numpy() == i
    post = syn[SynapseTable.post].to_numpy() == i
    outputs = syn.loc[pre, list(POSITIONS[:3])].to_numpy(dtype=np.float64) / UM
    inputs = syn.loc[post, list(POSITIONS[3:])].to_numpy(dtype=np.float64) / UM
    return build_morphology(neuron, outputs=outputs, inputs=inputs, radii=radii)


#: a skeleton lying a median of more than this from its synapses has the wrong units (or is
#: another neuron's)
MAX_MEDIAN_DISTANCE_UM = 10.0


def _sections(aff: pd.DataFrame, morphs: Mapping[int, Morphology]) -> dict[str, np.ndarray]:
    """SONATA section/segment ids and positions of every synapse on its neuron's morphology."""
    post = aff[SynapseTable.post].to_numpy()
    xyz = aff[list(POSITIONS[3:])].to_numpy(dtype=np.float64) / UM
    out: dict[str, np.ndarray] = {}
    for i, morph in morphs.items():
        mine = post == i
        loc = locate(morph, xyz[mine])
        median = float(np.median(loc["distance"]))
        if median > MAX_MEDIAN_DISTANCE_UM:
            raise SonataError(
                f"the skeleton of neuron {i} lies a median {median:.3g} µm from its synapses: "
                "are its units right (neuron.units)? Synapse tables are in nm."
            )
        for key, values in loc.items():
            out.setdefault(key, np.zeros(len(aff), dtype=values.dtype))[mine] = values
    return out


def _string_dataset(group, name: str, values) -> None:
    import h5py

    group.create_dataset(
        name, data=np.asarray(values, dtype=object).astype(str).astype(object),
        dtype=h5py.string_dtype(),
    )  # fmt: skip


def _write_nodes(file: Path, aff: pd.DataFrame, names, ids, partners, morphs) -> None:
    """The reconstructed neurons and their virtual partners, with root ids and annotations."""
    import h5py

    with h5py.File(file, "w") as h5:
        for pop, node_ids, side in (
            (names["neurons"], ids, "post"),
            (names["afferents"], partners, "pre"),
        ):
            g = h5.create_group(f"nodes/{pop}")
            g.create_dataset("node_type_id", data=np.full(len(node_ids), -1, dtype=np.int64))
            g0 = g.create_group("0")
            g0.create_dataset("root_id", data=node_ids.astype(np.int64))
            if side == "post" and morphs:
                _write_placement(g0, [morphs[int(i)] for i in node_ids])
            model = "biophysical" if side == "post" else "virtual"
            _string_dataset(g0, "model_type", [model] * len(node_ids))
            _write_annotations(g0, aff, node_ids, side)


def _write_placement(group, morphs: list[Morphology]) -> None:
    """Morphology names and soma positions (µm; no rotation: the SWC is in circuit axes)."""
    _string_dataset(group, "morphology", [m.name for m in morphs])
    centers = np.array([m.center for m in morphs], dtype=np.float32).reshape(-1, 3)
    for k, axis in enumerate("xyz"):
        group.create_dataset(axis, data=centers[:, k])


def _write_annotations(group, aff: pd.DataFrame, node_ids, side: str) -> None:
    """Every ``<side>_<annotation>`` column that is known for all the nodes, as a node property."""
    key = SynapseTable.post if side == "post" else SynapseTable.pre
    first = aff.drop_duplicates(key).set_index(key)
    for col in aff.columns:
        if not isinstance(col, str) or not col.startswith(f"{side}_") or col in POSITIONS:
            continue
        vals = first[col].reindex(node_ids)
        name = col[len(side) + 1 :]
        if vals.isna().any() or name in group:
            continue
        numeric = pd.api.types.is_numeric_dtype(vals.dtype)
        if numeric and not pd.api.types.is_bool_dtype(vals.dtype):
            group.create_dataset(name, data=sonata_values(vals, f"column {col!r}"))
        else:
            _string_dataset(group, name, vals.to_numpy())


#: SONATA edge datasets from :func:`synframe.sonata.morphology.locate` and their dtypes
SECTION_DATASETS = {
    "section_id": ("afferent_section_id", np.uint32),
    "section_pos": ("afferent_section_pos", np.float32),
    "section_type": ("afferent_section_type", np.uint32),
    "segment_id": ("afferent_segment_id", np.uint32),
    "segment_offset": ("afferent_segment_offset", np.float32),
}


def _write_edges(
    file: Path, aff: pd.DataFrame, names, ids, partners, props, section, drawn=None
) -> None:
    """One edge per afferent synapse: ids, centers (µm), section ids, properties; then indices."""
    import h5py
    import libsonata

    n = len(aff)
    src_idx = np.searchsorted(partners, aff[SynapseTable.pre].to_numpy())
    tgt_idx = np.searchsorted(ids, aff[SynapseTable.post].to_numpy())
    with h5py.File(file, "w") as h5:
        g = h5.create_group(f"edges/{names['edges']}")
        stamp(g, drawn)
        src = g.create_dataset("source_node_id", data=src_idx.astype(np.uint64))
        src.attrs["node_population"] = names["afferents"]
        tgt = g.create_dataset("target_node_id", data=tgt_idx.astype(np.uint64))
        tgt.attrs["node_population"] = names["neurons"]
        g.create_dataset("edge_type_id", data=np.full(n, -1, dtype=np.int64))
        g.create_dataset("edge_group_id", data=np.zeros(n, dtype=np.int64))
        g.create_dataset("edge_group_index", data=np.arange(n, dtype=np.uint64))
        g0 = g.create_group("0")
        g0.create_dataset("synapse_id", data=aff[SynapseTable.id].to_numpy(dtype=np.int64))
        for side in ("pre", "post"):
            for c, dst in zip([f"{side}_{a}" for a in "xyz"], CENTERS[side], strict=True):
                um = aff[c].to_numpy(dtype=np.float64) / UM
                g0.create_dataset(dst, data=um.astype(np.float32))
        for key, (name, dtype) in SECTION_DATASETS.items():
            if section is not None:
                g0.create_dataset(name, data=section[key].astype(dtype))
        for p in props:  # the values drawn, in the dtype drawn (no narrowing to 32 bits)
            values = sonata_values(aff[p], f"property {p!r}")
            if values.dtype == object:
                _string_dataset(g0, p, values)
            else:
                g0.create_dataset(p, data=values)
    libsonata.EdgePopulation.write_indices(str(file), names["edges"], len(partners), len(ids))


def _write_morphologies(folder: Path, morphs, syn: pd.DataFrame) -> None:
    """The reconstructions as SWC (µm, relative to the soma), one file per neuron."""
    from .. import __version__

    folder.mkdir()
    for m in morphs:
        header = (
            f"synframe {__version__}: neuron {m.name} ({syn.attrs.get('source', 'unknown source')})\n"
            "um, relative to the soma; the SONATA node's x/y/z is the soma position\n"
            "radii: the skeleton's where positive, else estimated (synframe DEFAULT_RADII_UM)"
        )
        if not m.has_soma:
            header += (
                f"\nno soma in the skeleton: a soma of radius {m.soma_radius:g} um (an estimate) "
                "at its root"
            )
        write_swc(m, folder / f"{m.name}.swc", header=header)


def _config(syn: pd.DataFrame, names, morphologies: bool) -> dict:
    """The synaptome's ``circuit_config.json``."""
    neurons = {
        "type": "biophysical",
        # libsonata requires both keys for a biophysical population; without skeletons there are
        # no morphology files, and no e-model is written: both point at the circuit folder
        "morphologies_dir": "$BASE_DIR/morphologies" if morphologies else "$BASE_DIR",
        "biophysical_neuron_models_dir": "$BASE_DIR",
    }
    entry = circuit_entry(syn.attrs, "synframe.write_synaptome")
    return {
        "version": 2.4,
        "manifest": {"$BASE_DIR": "./"},
        "components": {},
        "networks": {
            "nodes": [
                {
                    "nodes_file": "$BASE_DIR/nodes.h5",
                    "populations": {
                        names["neurons"]: neurons,
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
            **entry,
            "units": "SONATA positions in µm",
            "morphology": (
                "SWC in µm relative to the soma (node x/y/z); radii estimated where the skeleton "
                "has none"
                if morphologies
                else "none written (pass navis skeletons as neurons=)"
            ),
            "emodel": "none written: add model_template (e.g. hoc:NAME) to the nodes and "
            "NAME.hoc to biophysical_neuron_models_dir",
            "datastack": syn.attrs.get("datastack"),
            "materialization": syn.attrs.get("materialization"),
        },
    }
