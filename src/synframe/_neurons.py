"""navis neurons as synframe uses them: lists of neurons, their ids, their points in nm.

A leaf: depends on ids, units and errors only (navis is imported when a function needs it).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ._ids import as_ids
from .errors import NeuronTypeError, OptionError, SchemaError
from .units import neuron_scale_nm

__all__ = ["NeuronPoints", "as_neuron_list", "neuron_ids", "neuron_points"]


def as_neuron_list(neurons):
    """A navis NeuronList from a neuron, a list of neurons or a NeuronList."""
    import navis

    if isinstance(neurons, navis.NeuronList):
        return neurons
    if isinstance(neurons, navis.BaseNeuron):
        return navis.NeuronList([neurons])
    if isinstance(neurons, (list, tuple)) and all(isinstance(n, navis.BaseNeuron) for n in neurons):
        return navis.NeuronList(list(neurons))
    raise NeuronTypeError(
        f"expected navis neurons (a TreeNeuron, MeshNeuron, Dotprops or a NeuronList of them), got "
        f"{type(neurons).__name__}"
    )


@dataclass
class NeuronPoints:
    """A neuron's points in nm, the ids they have, and what those ids are called."""

    xyz_nm: np.ndarray
    ids: np.ndarray
    id_column: str  # node_id | vertex_id | point_id
    scale_nm: np.ndarray  # nm per neuron unit, per axis
    neuron_id: object = None  # for messages

    @cached_property
    def tree(self):
        """KD-tree on the points (``scipy.spatial.cKDTree``), built once."""
        from scipy.spatial import cKDTree

        # unbalanced, uncompacted, 32-point leaves: builds ~2x faster for skeleton-sized point sets
        return cKDTree(self.xyz_nm, leafsize=32, balanced_tree=False, compact_nodes=False)

    def query(self, xyz_nm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Distance (nm) to, and id of, the nearest point for each row of ``xyz_nm``."""
        if len(xyz_nm) == 0:
            return np.empty(0), np.empty(0, dtype="int64")
        if len(self.ids) == 0:
            kind = {"node_id": "nodes", "vertex_id": "vertices"}.get(self.id_column, "points")
            raise SchemaError(
                f"neuron {self.neuron_id} has no {kind}: {len(xyz_nm)} of its synapses have nowhere "
                "to attach and no distance to it; give the neuron its skeleton / mesh, or leave "
                "it out of the list"
            )
        dist, idx = self.tree.query(xyz_nm, k=1)
        return dist, self.ids[idx]


def neuron_points(neuron) -> NeuronPoints:
    """The points a synapse can attach to: skeleton nodes, mesh vertices or dotprops points."""
    import navis

    scale = neuron_scale_nm(neuron)
    if isinstance(neuron, navis.TreeNeuron):
        nodes = neuron.nodes
        try:
            xyz = nodes[["x", "y", "z"]].to_numpy(dtype="float64")
        except (TypeError, ValueError):
            raise SchemaError(
                f"neuron {neuron.id}: node coordinates x/y/z are not all numbers"
            ) from None
        ids = as_ids(nodes["node_id"], what=f"neuron {neuron.id} node_id")
        col = "node_id"
    elif isinstance(neuron, navis.MeshNeuron):
        xyz = np.asarray(neuron.vertices, dtype="float64")
        ids = np.arange(len(xyz), dtype="int64")
        col = "vertex_id"
    elif isinstance(neuron, navis.Dotprops):
        xyz = np.asarray(neuron.points, dtype="float64")
        ids = np.arange(len(xyz), dtype="int64")
        col = "point_id"
    else:
        raise NeuronTypeError(
            f"neuron {getattr(neuron, 'id', '?')} is a {type(neuron).__name__}; synapses can be "
            "placed on TreeNeuron, MeshNeuron or Dotprops -- convert it first (e.g. navis.skeletonize)"
        )
    xyz = xyz.reshape(-1, 3)
    bad = ~np.isfinite(xyz).all(axis=1)
    if bad.any():
        raise SchemaError(
            f"neuron {getattr(neuron, 'id', '?')}: {int(bad.sum())} of its {len(xyz)} {col[:-3]}s "
            f"have non-finite coordinates (e.g. {col} {ids[np.flatnonzero(bad)[0]]}); fix or "
            "remove them (navis.remove_nodes / drop those vertices)"
        )
    return NeuronPoints(xyz * scale, ids, col, scale, getattr(neuron, "id", None))


def neuron_ids(neurons) -> np.ndarray:
    """The int64 ids of a NeuronList, refusing duplicates."""
    ids = as_ids(np.array([n.id for n in neurons], dtype=object), what="neuron ids")
    uniq, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        raise OptionError(
            f"neurons with duplicate ids {uniq[counts > 1].tolist()}; give each neuron once"
        )
    return ids
