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
from .._neurons import neuron_points
from .._validation import run_schema, stage_schema
from ..errors import SonataError
from ..schemas import POSITIONS, SynapseTable
from ..units import neuron_scale_nm
from ._circuit import UM
from .read import CENTERS

__all__ = ["write_synaptome"]

log = logging.getLogger("synframe")


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
    import navis

    run_schema(syn, stage_schema("synapses"), "SynapseTable (input of write_synaptome)")
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
    section = None
    if skeletons is not None and all(isinstance(n, navis.TreeNeuron) for n in skeletons):
        sec_id = np.full(len(aff), -1, dtype=np.int64)
        sec_pos = np.full(len(aff), np.nan)
        post = aff[SynapseTable.post].to_numpy()
        xyz = aff[list(POSITIONS[3:])].to_numpy(dtype=np.float64)
        for n in skeletons:
            mine = post == int(n.id)
            _, nodes_ = neuron_points(n).query(xyz[mine])  # nearest node, as attach puts it
            sec_id[mine], sec_pos[mine] = _section_positions(n, nodes_)
        section = (sec_id, sec_pos)

    with staged_dir(path) as staging:
        _write_nodes(staging / "nodes.h5", aff, names, ids, partners)
        _write_edges(staging / "edges.h5", aff, names, ids, partners, props, section)
        _write_morphologies(staging / "morphologies", skeletons or [])
        (staging / "emodels").mkdir()  # where the modeller puts the e-model
        (staging / "circuit_config.json").write_text(
            json.dumps(_config(syn, names), indent=2, default=str)
        )
    log.info(
        "write_synaptome: %d synapses onto %d neuron(s) from %d partners -> %s",
        len(aff),
        len(ids),
        len(partners),
        path,
    )
    return path / "circuit_config.json"


def _string_dataset(group, name: str, values) -> None:
    import h5py

    group.create_dataset(
        name, data=np.asarray(values, dtype=object).astype(str).astype(object),
        dtype=h5py.string_dtype(),
    )  # fmt: skip


def _write_nodes(file: Path, aff: pd.DataFrame, names, ids, partners) -> None:
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
            if side == "post":  # morphology file names (written when skeletons are given)
                _string_dataset(g0, "morphology", [str(int(i)) for i in node_ids])
            model = "biophysical" if side == "post" else "virtual"
            _string_dataset(g0, "model_type", [model] * len(node_ids))
            key = SynapseTable.post if side == "post" else SynapseTable.pre
            first = aff.drop_duplicates(key).set_index(key)
            for col in aff.columns:
                if not col.startswith(f"{side}_") or col in POSITIONS:
                    continue
                vals = first[col].reindex(node_ids)
                if vals.isna().any():
                    continue
                name = col[len(side) + 1 :]
                numeric = pd.api.types.is_numeric_dtype(vals.dtype)
                if numeric and not pd.api.types.is_bool_dtype(vals.dtype):
                    g0.create_dataset(name, data=vals.to_numpy())
                else:
                    _string_dataset(g0, name, vals.to_numpy())


def _write_edges(file: Path, aff: pd.DataFrame, names, ids, partners, props, section) -> None:
    """One edge per afferent synapse: ids, centers (µm), section ids, properties; then indices."""
    import h5py
    import libsonata

    n = len(aff)
    src_idx = np.searchsorted(partners, aff[SynapseTable.pre].to_numpy())
    tgt_idx = np.searchsorted(ids, aff[SynapseTable.post].to_numpy())
    with h5py.File(file, "w") as h5:
        g = h5.create_group(f"edges/{names['edges']}")
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
        if section is not None:
            g0.create_dataset("afferent_section_id", data=section[0].astype(np.int32))
            g0.create_dataset("afferent_section_pos", data=section[1].astype(np.float32))
        for p in props:
            v = aff[p].to_numpy()
            integer = np.issubdtype(v.dtype, np.integer)
            g0.create_dataset(p, data=v.astype(np.int32) if integer else v.astype(np.float32))
    libsonata.EdgePopulation.write_indices(str(file), names["edges"], len(partners), len(ids))


def _write_morphologies(folder: Path, skeletons) -> None:
    """The reconstructions as SWC in µm (SONATA's morphology unit)."""
    import navis

    folder.mkdir()
    for n in skeletons:
        if isinstance(n, navis.TreeNeuron):
            um = n.copy()
            scale = neuron_scale_nm(n) / UM
            um.nodes[["x", "y", "z"]] = n.nodes[["x", "y", "z"]].to_numpy(dtype=np.float64) * scale
            um.units = "1 um"
            navis.write_swc(um, folder / f"{int(n.id)}.swc")


def _config(syn: pd.DataFrame, names) -> dict:
    """The synaptome's ``circuit_config.json``."""
    neurons = {
        "type": "biophysical",
        "morphologies_dir": "$BASE_DIR/morphologies",
        # where the modeller puts the neuron's e-model (none is written)
        "biophysical_neuron_models_dir": "$BASE_DIR/emodels",
    }
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
            "units": "SONATA positions in µm",
            "source": syn.attrs.get("source"),
            "datastack": syn.attrs.get("datastack"),
            "materialization": syn.attrs.get("materialization"),
        },
    }
