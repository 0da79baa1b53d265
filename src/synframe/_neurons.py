"""navis neurons as synframe uses them: lists of neurons, their ids, their points in nm.

A leaf: depends on ids, units and errors only (navis is imported when a function needs it).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ._ids import as_ids
from .errors import NeuronTypeError, OptionError, SchemaError, SynframeWarning
from .units import neuron_scale_nm

__all__ = [
    "NeuronPoints",
    "as_neuron_list",
    "bbox_side",
    "check_scale",
    "neuron_ids",
    "neuron_points",
]

#: below this median synapse distance (nm) the scale is never questioned
SCALE_FLOOR_NM = 10_000.0


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

    @cached_property
    def extent_nm(self) -> float:
        """The neuron's size: the largest side of its points' bounding box (nm)."""
        return float(np.ptp(self.xyz_nm, axis=0).max()) if len(self.xyz_nm) else 0.0

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


def bbox_side(xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(min, max) corner of points, for `check_scale` (combine parts with min / max)."""
    if not len(xyz):
        return np.full(3, np.inf), np.full(3, -np.inf)
    return xyz.min(axis=0), xyz.max(axis=0)


def check_scale(
    per_neuron: Iterable[tuple[int, list[np.ndarray], list[tuple], NeuronPoints]], stage: str
) -> None:
    """Warn when synapses and neurons cannot be in the same units (positions in µm as nm ...).

    ``per_neuron`` gives, per neuron, its id, the distances (nm) of its synapses to it (the KD-tree
    answers the caller has anyway, in parts), the `bbox_side` of each part of their positions
    (nm) and its points. A neuron is implausible when the median distance of its synapses exceeds
    10 µm and either the neuron's size or, for 5 or more synapses, 100 times their own spread: a
    real synapse lies on its neuron, so that happens when one of the two is in other units than it
    says. Costs a median and a bounding box per neuron (no extra KD-tree query).
    """
    bad = []
    total = 0
    for nid, dists, boxes, points in per_neuron:
        dist = np.concatenate(dists) if len(dists) != 1 else dists[0]
        if not len(dist):
            continue
        total += 1
        median = float(np.median(dist))
        if not median > SCALE_FLOOR_NM:
            continue
        extent = points.extent_nm
        lo = np.min([b[0] for b in boxes], axis=0)
        hi = np.max([b[1] for b in boxes], axis=0)
        spread = float((hi - lo).max())
        if median > extent or (len(dist) >= 5 and 100 * spread < extent):
            bad.append((nid, median, extent, spread, len(dist)))
    if not bad:
        return
    nid, median, extent, spread, n = max(bad, key=lambda b: b[1])

    def um(x: float) -> str:
        return f"{x / 1000:.3g} µm"

    warnings.warn(
        f"{stage}: {len(bad)} of {total} neurons have their synapses implausibly far away -- units? "
        f"(neuron {nid}: median synapse distance {um(median)}, neuron size {um(extent)}, its {n} "
        f"synapses spread over {um(spread)}). Synapse positions must be in nm (multiply µm by 1000, "
        "voxels by the voxel size, when you build the table) and each neuron's coordinates in "
        "its `units` (neuron.units = '1 micrometer' for a neuron in µm).",
        SynframeWarning,
        stacklevel=3,
    )
