"""``write_synaptome``: the afferent synapses of reconstructed neurons as a SONATA circuit."""

from __future__ import annotations

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
from .._progress import bar
from .._validation import run_schema, stage_schema
from ..errors import OptionError, SonataError
from ..schemas import POSITIONS, SynapseTable
from ._circuit import UM, single_file_config
from ._record import circuit_entry, drawn_by
from ._synaptome_files import (
    annotation_names,
    check_population_names,
    check_replaceable,
    properties,
    write_edges,
    write_nodes,
)
from .morphology import Morphology, _radii, build_morphology, locate, write_swc

__all__ = ["write_synaptome"]

log = logging.getLogger("synframe")


def write_synaptome(
    syn: pd.DataFrame,
    path: str | os.PathLike,
    *,
    neurons=None,
    population_names: Mapping[str, str] | None = None,
    radii: Mapping[str, float] | None = None,
    overwrite: bool = False,
    progress: bool = True,
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
    else the estimate ``radii``); see `synframe.sonata.morphology`. Each synapse then gets
    ``afferent_section_id`` (0: soma; ``k``: MorphIO's section ``k - 1``),
    ``afferent_section_pos`` (fraction along that section's polyline, as neurodamus and
    bluepysnap read it), ``afferent_section_type``, ``afferent_segment_id`` and
    ``afferent_segment_offset``: the nearest point on the skeleton.

    What drew the values is recorded (`synframe.sonata._record`): the table's last
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
        `DEFAULT_RADII_UM` (an estimate, not a measurement).
    overwrite
        Replace an existing synaptome directory (here ``overwrite`` replaces the output; in
        [`parameterize`][synframe.parameterize.parameterize] it redraws properties that exist). Only a directory
        synframe wrote (its ``circuit_config.json`` says so) holding only what synframe writes is
        replaced; anything else at ``path`` is an error, so that no other file is deleted.
    progress
        A progress bar over the neurons' morphologies and the files written (on a terminal, after
        two seconds; ``SYNFRAME_PROGRESS=1`` forces it).

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
    names = check_population_names(population_names)
    _radii(radii)  # checked even when no skeleton uses them
    ids, skeletons = _reconstructed(syn, neurons)
    aff = syn[syn[SynapseTable.post].isin(ids)].sort_values(
        [SynapseTable.post, SynapseTable.pre, SynapseTable.id]
    )
    if aff.empty:
        raise SonataError(f"no synapses onto the neurons {ids.tolist()[:5]}; nothing to write")
    path = Path(path).expanduser().resolve()
    check_replaceable(path, overwrite)
    props = properties(syn, aff)
    annotation_names(aff)
    partners = np.unique(aff[SynapseTable.pre].to_numpy())
    # steps: each skeleton (its morphology, then its synapses' sections), then the files
    with bar(2 * len(skeletons) + 3, "write_synaptome", progress, unit="step") as pbar:
        morphs = {}
        for i, n in skeletons.items():
            morphs[i] = _morphology(syn, n, radii)
            pbar.update()
        section = _sections(aff, morphs, pbar.update) if morphs else None
        with staged_dir(path) as staging:
            write_nodes(staging / "nodes.h5", aff, names, ids, partners, morphs)
            pbar.update()
            write_edges(
                staging / "edges.h5", aff, names, ids, partners, props, section,
                drawn_by(syn.attrs),
            )  # fmt: skip
            pbar.update()
            if morphs:
                _write_morphologies(staging / "morphologies", morphs.values(), syn)
            (staging / "circuit_config.json").write_text(
                json.dumps(_config(syn, names, bool(morphs)), indent=2, default=str)
            )
            pbar.update()
    log.info(
        "write_synaptome: %d synapses onto %d neuron(s) from %d partners -> %s",
        len(aff),
        len(ids),
        len(partners),
        path,
    )
    return path / "circuit_config.json"


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


def _sections(
    aff: pd.DataFrame, morphs: Mapping[int, Morphology], done=lambda: None
) -> dict[str, np.ndarray]:
    """SONATA section/segment ids and positions of every synapse on its neuron's morphology
    (``done()`` after each neuron)."""
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
        done()
    return out


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
    return single_file_config(
        {names["neurons"]: neurons, names["afferents"]: {"type": "virtual"}},
        {names["edges"]: {"type": "chemical"}},
        {
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
    )
