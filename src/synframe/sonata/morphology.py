"""A navis skeleton as a simulation-ready morphology, and synapse positions as SONATA section ids.

What MorphIO (and so neurodamus, bluepysnap, BlueCelluLab) reads from an SWC file, and what
`build_morphology` makes sure of:

- **one soma** (SWC type 1, a single point at the origin: the morphology is written relative to
  the soma, the node's ``x``/``y``/``z`` place it). When the skeleton has a soma (navis'
  ``neuron.soma``, or an SWC root labelled 1), skeleton nodes inside it are part of it: nodes
  labelled 1 when the skeleton has SWC labels, otherwise the nodes within the soma radius that
  connect to the soma through nodes within it (as pcg_skel collapses level-2 skeletons), and
  one-node neurites hanging off the soma; its radius is the soma node's ``radius`` (navis' soma
  radius) where positive, else the estimate. A skeleton without a soma (FlyWire skeletons, whose
  root is a neurite node) gets a soma of the estimated radius at its root, and no node is
  merged into it: every other node stays a neurite sample;
- **neurite types that change only at a bifurcation** (MorphIO refuses a type change inside an
  unbranched section): the skeleton's SWC labels 2/3/4 when every neurite node has one, otherwise
  one type per neurite tree leaving the soma -- axon (2) when the neuron's own presynapses on it
  outnumber its postsynapses, else dendrite (3); a section takes the type of its first node;
- **positive radii**: the nodes' ``radius`` column where it is positive, otherwise an estimate
  (`DEFAULT_RADII_UM`; EM skeletons such as the level-2 skeletons of CAVE datasets carry
  representative coordinates only, so the radius is not measured);
- **MorphIO's section order**: samples are written depth first, so MorphIO numbers sections in
  the order this module does; SONATA section 0 is the soma, neurite section ``k`` is MorphIO's
  section ``k - 1``.

`locate` maps points (synapses) onto the morphology: the nearest skeleton node, then the
nearest point on the segments that end or start there, as (section id, fractional position along
the section's polyline -- MorphIO's points, the parent's last point first for non-root sections
-- segment id, offset in the segment, section type).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import NeuronTypeError, OptionError, SonataError
from ..units import neuron_scale_nm

__all__ = ["DEFAULT_RADII_UM", "Morphology", "build_morphology", "locate", "write_swc"]

SOMA, AXON, DENDRITE, APICAL = 1, 2, 3, 4  # SWC / MorphIO section types
_KIND_NAMES = {AXON: "axon", DENDRITE: "dendrite", APICAL: "dendrite"}

#: Radii (µm) for nodes without a positive ``radius``: a soma of 10 µm diameter and thin
#: neurites, typical of cortical neurons (dendrites ~1 µm, axon collaterals ~0.3 µm across).
#: An estimate, not a measurement: pass your own with ``radii=`` or give the nodes a radius.
DEFAULT_RADII_UM = {"soma": 5.0, "dendrite": 0.5, "axon": 0.15}


@dataclass(frozen=True)
class Morphology:
    """A skeleton laid out as MorphIO reads it back (samples in file order, depth first)."""

    name: str
    center: np.ndarray  # (3,) soma position, world µm (float32 values)
    soma_radius: float  # µm
    xyz: np.ndarray  # (n, 3) samples, µm relative to the soma (float32 values)
    parent: np.ndarray  # (n,) sample row of each sample's parent; -1: attached to the soma
    radius: np.ndarray  # (n,) µm
    kind: np.ndarray  # (n,) SWC type (2 axon, 3 dendrite, 4 apical)
    section: np.ndarray  # (n,) SONATA section id (MorphIO section index + 1)
    arc: np.ndarray  # (n,) path length from the start of the section's polyline (µm)
    length: np.ndarray  # (sections + 1,) polyline length of each section; [0] is the soma
    segment: np.ndarray  # (n,) index of the polyline segment ending at the sample, -1: none
    node_xyz: np.ndarray  # (nodes, 3) every skeleton node, world µm
    node_sample: np.ndarray  # (nodes,) sample row of each skeleton node, -1: in the soma
    has_soma: bool = True  # False: the skeleton has none; the soma is placed at its root

    @property
    def n_sections(self) -> int:
        return len(self.length) - 1


def _radii(radii: Mapping[str, float] | None) -> dict[str, float]:
    out = dict(DEFAULT_RADII_UM)
    for key, value in (radii or {}).items():
        if key not in out:
            raise OptionError(f"radii: unknown key {key!r}; use {sorted(out)} (µm)")
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok or not math.isfinite(value) or value <= 0:
            raise OptionError(f"radii[{key!r}] must be a positive number of µm, got {value!r}")
        out[key] = float(value)
    return out


def _skeleton(neuron):
    """(nodes table rooted at the soma, parent rows, world µm xyz, radius µm or None, has soma)."""
    import navis

    if not isinstance(neuron, navis.TreeNeuron):
        raise NeuronTypeError(
            f"neuron {getattr(neuron, 'id', '?')} is a {type(neuron).__name__}; a morphology "
            "needs a skeleton (navis.TreeNeuron, e.g. from navis.skeletonize)"
        )
    ident = neuron.id
    if neuron.n_nodes == 0:
        raise SonataError(f"the skeleton of neuron {ident} has no nodes")
    n_roots = int((neuron.nodes["parent_id"] < 0).sum())
    if n_roots != 1:
        raise SonataError(
            f"the skeleton of neuron {ident} has {n_roots} roots (disconnected pieces); a "
            "morphology is one tree: join them first, e.g. navis.heal_skeleton(neuron)"
        )
    soma = neuron.soma
    soma = None if soma is None else np.atleast_1d(soma)
    has_soma = soma is not None and len(soma) > 0
    if has_soma and soma[0] != neuron.root[0]:
        neuron = navis.reroot_skeleton(neuron, soma[0], inplace=False)
    nodes = neuron.nodes
    index = pd.Index(nodes["node_id"].to_numpy())
    parent = index.get_indexer(nodes["parent_id"].to_numpy())
    scale = neuron_scale_nm(neuron) / 1000.0
    xyz = nodes[["x", "y", "z"]].to_numpy(dtype=np.float64) * scale
    if not np.isfinite(xyz).all():
        raise SonataError(f"the skeleton of neuron {ident} has non-finite node coordinates")
    radius = None
    if "radius" in nodes:
        radius = pd.to_numeric(nodes["radius"], errors="coerce").to_numpy(np.float64)
        radius = radius * float(np.mean(scale))
        # written as float32: a radius that is not a positive float32 counts as missing
        usable = np.isfinite(radius) & (radius > 0) & (radius < np.finfo(np.float32).max)
        radius = np.where(usable, radius, np.nan)
    return nodes, parent, xyz, radius, has_soma


def _depth_first(parent: np.ndarray) -> np.ndarray:
    """Rows in depth-first pre-order from the root, children in table order."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import depth_first_order

    n = len(parent)
    kids = np.flatnonzero(parent >= 0)
    graph = csr_matrix((np.ones(len(kids)), (parent[kids], kids)), shape=(n, n))
    graph.sort_indices()
    order = depth_first_order(graph, int(np.flatnonzero(parent < 0)[0]), return_predecessors=False)
    if len(order) != n:
        raise SonataError("the skeleton's parent links form a cycle; it is not a tree")
    return order


def _soma_rows(parent, xyz, labels, soma_radius) -> np.ndarray:
    """Nodes that are part of the soma (connected to the root through soma nodes)."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    root = int(np.flatnonzero(parent < 0)[0])
    if labels is not None:
        inside = labels == SOMA
    else:
        inside = np.linalg.norm(xyz - xyz[root], axis=1) <= soma_radius
    inside[root] = True
    n = len(parent)
    link = np.flatnonzero((parent >= 0) & inside)
    link = link[inside[parent[link]]]
    graph = csr_matrix((np.ones(len(link)), (link, parent[link])), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    merged = comp == comp[root]
    # one-node neurites at the soma are part of it too
    has_kids = np.zeros(n, dtype=bool)
    has_kids[parent[(parent >= 0) & ~merged]] = True
    stub = ~merged & ~has_kids & merged[np.maximum(parent, 0)] & (parent >= 0)
    return merged | stub


def _swc_labels(nodes, root: int) -> np.ndarray | None:
    """The nodes' SWC labels when they are usable: the root is soma (1), every node 1-4."""
    if "label" not in nodes:
        return None
    labels = pd.to_numeric(nodes["label"], errors="coerce").to_numpy()
    if labels[root] == SOMA and np.isin(labels, (SOMA, AXON, DENDRITE, APICAL)).all():
        return labels.astype(np.int64)
    return None


def _kinds(labels, samples, tree_of, out_counts, in_counts) -> np.ndarray:
    """SWC type per sample: the skeleton's labels, else axon/dendrite per neurite tree."""
    if labels is not None:
        return labels[samples]
    axon = out_counts > in_counts
    return np.where(axon[tree_of], AXON, DENDRITE)


def _count_per_tree(points, node_xyz, node_sample, tree_of, n_trees) -> np.ndarray:
    """How many of ``points`` (world µm) lie nearest to each neurite tree."""
    from scipy.spatial import cKDTree

    if points is None or len(points) == 0:
        return np.zeros(n_trees, dtype=np.int64)
    _, row = cKDTree(node_xyz).query(np.asarray(points, dtype=np.float64))
    sample = node_sample[row]
    return np.bincount(tree_of[sample[sample >= 0]], minlength=n_trees)


def build_morphology(
    neuron,
    *,
    outputs: np.ndarray | None = None,
    inputs: np.ndarray | None = None,
    radii: Mapping[str, float] | None = None,
) -> Morphology:
    """The simulation-ready morphology of a navis skeleton (see the module docstring).

    ``outputs`` / ``inputs``: positions (world µm, shape (k, 3)) of the neuron's own pre- and
    postsynapses, used to tell its axon from its dendrites when the skeleton has no SWC labels.
    """
    radii_um = _radii(radii)
    nodes, parent, node_xyz, node_radius, has_soma = _skeleton(neuron)
    root = int(np.flatnonzero(parent < 0)[0])
    order = _depth_first(parent)
    labels = _swc_labels(nodes, root)
    has_soma = has_soma or labels is not None  # navis' soma, or an SWC root labelled soma
    soma_r = radii_um["soma"]
    measured = node_radius is not None and np.isfinite(node_radius[root]) and node_radius[root] > 0
    if has_soma and measured:  # the root's radius is a soma radius only if the root is a soma
        soma_r = float(node_radius[root])
    if has_soma:
        merged = _soma_rows(parent, node_xyz, labels, soma_r)
    else:  # a root on a neurite: no node is part of a soma that is not there
        merged = np.zeros(len(parent), dtype=bool)
        merged[root] = True
    if labels is not None and (labels[~merged] == SOMA).any():
        labels = None  # soma-labelled nodes away from the soma: not a usable labelling
    samples = order[~merged[order]]
    if len(samples) == 0:
        raise SonataError(
            f"the skeleton of neuron {neuron.id} lies entirely within its soma "
            f"(radius {soma_r} µm); nothing to write as neurites -- wrong units? Its extent is "
            f"{float(np.ptp(node_xyz, axis=0).max()):.3g} µm as read with neuron.units = "
            f"{str(getattr(neuron, 'units', None))!r}; a neuron's coordinates must be in its units"
        )
    node_sample = np.full(len(parent), -1, dtype=np.int64)
    node_sample[samples] = np.arange(len(samples))
    psample = node_sample[parent[samples]]  # -1: the parent is the soma
    center = node_xyz[root].astype(np.float32).astype(np.float64)
    xyz = (node_xyz[samples] - center).astype(np.float32).astype(np.float64)
    start, section = _sections(psample)
    tree_of = np.cumsum(psample < 0) - 1
    n_trees = int(tree_of[-1]) + 1
    outs = _count_per_tree(outputs, node_xyz, node_sample, tree_of, n_trees)
    ins = _count_per_tree(inputs, node_xyz, node_sample, tree_of, n_trees)
    kind = _kinds(labels, samples, tree_of, outs, ins)
    kind = kind[np.flatnonzero(start)][section]  # a section has the type of its first node
    radius = np.full(len(samples), np.nan) if node_radius is None else node_radius[samples]
    fallback = np.array([radii_um[_KIND_NAMES[k]] for k in (AXON, DENDRITE, APICAL)])
    estimate = fallback[np.searchsorted([AXON, DENDRITE, APICAL], kind)]
    radius = np.where(np.isfinite(radius) & (radius > 0), radius, estimate)
    arc, length, segment = _polylines(xyz, psample, start, section)
    return Morphology(
        name=str(int(neuron.id)),
        center=center,
        soma_radius=float(np.float32(soma_r)),
        xyz=xyz,
        parent=psample,
        radius=radius.astype(np.float32).astype(np.float64),
        kind=kind.astype(np.int64),
        section=section + 1,
        arc=arc,
        length=length,
        segment=segment,
        node_xyz=node_xyz,
        node_sample=node_sample,
        has_soma=bool(has_soma),
    )


def _sections(psample: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(is the sample a section start, MorphIO section index) for samples in depth-first order.

    A section starts at a neurite root (parent: the soma) and after every bifurcation; in depth
    first order a section's samples are consecutive, so the index is a running count of starts.
    """
    n_children = np.bincount(psample[psample >= 0], minlength=len(psample))
    start = (psample < 0) | (n_children[np.maximum(psample, 0)] >= 2)
    return start, np.cumsum(start) - 1


def _polylines(xyz, psample, start, section):
    """Arc length of each sample along its section, section lengths, segment index per sample.

    A non-root section's polyline begins with its parent's last point, unless the first sample
    is at that very point (MorphIO adds no duplicate then); root sections begin with their first
    sample (MorphIO does not prepend the soma point).
    """
    has_parent = psample >= 0
    step = np.zeros(len(xyz))
    step[has_parent] = np.linalg.norm(xyz[has_parent] - xyz[psample[has_parent]], axis=1)
    first = np.flatnonzero(start)
    head = first[section]  # first sample of each sample's section
    cum = np.cumsum(step)
    arc = cum - cum[head] + step[head]
    last = np.r_[first[1:] - 1, len(xyz) - 1]
    length = np.r_[0.0, arc[last]]
    duplicated = has_parent[first] & (xyz[first] != xyz[np.maximum(psample[first], 0)]).any(axis=1)
    segment = np.arange(len(xyz)) - head + duplicated[section].astype(np.int64) - 1
    return arc, length, segment


def write_swc(morph: Morphology, path, *, header: str = "") -> None:
    """Write the morphology as SWC (µm, relative to the soma; sample ids 1 = soma, 2.. depth first)."""
    n = len(morph.xyz)
    table = np.empty((n + 1, 7))
    table[0] = (1, SOMA, 0.0, 0.0, 0.0, morph.soma_radius, -1)
    table[1:, 0] = np.arange(2, n + 2)
    table[1:, 1] = morph.kind
    table[1:, 2:5] = morph.xyz
    table[1:, 5] = morph.radius
    table[1:, 6] = np.where(morph.parent < 0, 1, morph.parent + 2)
    lines = [f"# {line}" for line in header.splitlines()] + [
        "# id type x y z radius parent  (um, relative to the soma)"
    ]
    with open(path, "w", encoding="ascii") as fh:
        fh.write("\n".join(lines) + "\n")
        np.savetxt(fh, table, fmt=["%d", "%d", "%.9g", "%.9g", "%.9g", "%.9g", "%d"])


def locate(morph: Morphology, points: np.ndarray) -> dict[str, np.ndarray]:
    """Where points (world µm) lie on the morphology, in SONATA's terms.

    Returns arrays ``section_id`` (0 = soma), ``section_pos`` (fraction of the section polyline's
    length), ``section_type``, ``segment_id``, ``segment_offset`` (µm from the segment's start) and
    ``distance`` (µm from each point to its location). A point nearest to a soma node lies on
    the soma (section 0, position 0.5, its centre); a point nearest to a sample that ends or
    starts no segment (a one-point section) lies on that sample.
    """
    from scipy.spatial import cKDTree

    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    _, row = cKDTree(morph.node_xyz).query(points)
    sample = morph.node_sample[row]
    local = points - morph.center
    p_idx, end = _candidates(morph, sample)
    a = morph.xyz[morph.parent[end]]
    ab = morph.xyz[end] - a
    seg_len = np.linalg.norm(ab, axis=1)
    t = np.einsum("ij,ij->i", local[p_idx] - a, ab) / np.where(seg_len > 0, seg_len**2, 1.0)
    t = np.clip(t, 0.0, 1.0)
    dist = np.linalg.norm(a + t[:, None] * ab - local[p_idx], axis=1)
    best = np.lexsort((dist, p_idx))
    best = best[np.r_[True, p_idx[best][1:] != p_idx[best][:-1]]] if len(best) else best
    out = {
        "section_id": np.zeros(len(points), dtype=np.int64),
        "section_pos": np.full(len(points), 0.5),
        "section_type": np.full(len(points), SOMA, dtype=np.int64),
        "segment_id": np.zeros(len(points), dtype=np.int64),
        "segment_offset": np.zeros(len(points)),
        "distance": np.linalg.norm(local, axis=1),  # soma: the distance to its centre
    }
    p, e, tt, sl = p_idx[best], end[best], t[best], seg_len[best]
    sec = morph.section[e]
    total = morph.length[sec]
    along = morph.arc[e] - (1.0 - tt) * sl
    out["section_id"][p] = sec
    out["section_pos"][p] = np.where(
        total > 0, np.clip(along / np.where(total > 0, total, 1), 0, 1), 0
    )
    out["section_type"][p] = morph.kind[e]
    out["segment_id"][p] = morph.segment[e]
    out["segment_offset"][p] = tt * sl
    out["distance"][p] = dist[best]
    # a point whose nearest sample ends no segment and starts none (a one-point section: a leaf
    # at its parent's very position, a one-node neurite at the soma) lies on that sample
    alone = sample >= 0
    alone[p] = False
    s = sample[alone]
    sec = morph.section[s]
    total = morph.length[sec]
    out["section_id"][alone] = sec
    out["section_pos"][alone] = np.where(
        total > 0, np.clip(morph.arc[s] / np.where(total > 0, total, 1), 0, 1), 0
    )
    out["section_type"][alone] = morph.kind[s]
    out["segment_id"][alone] = np.maximum(morph.segment[s], 0)
    out["segment_offset"][alone] = 0.0
    out["distance"][alone] = np.linalg.norm(local[alone] - morph.xyz[s], axis=1)
    return out


def _candidates(morph: Morphology, sample: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(point index, sample at the end of a segment) pairs: the segments at each point's node."""
    psample = morph.parent
    has = psample >= 0
    n_children = np.bincount(psample[has], minlength=len(psample))
    kids = np.flatnonzero(has)
    kids = kids[np.argsort(psample[kids], kind="stable")]
    ptr = np.r_[0, np.cumsum(n_children)]
    on = np.flatnonzero(sample >= 0)
    s = sample[on]
    count = n_children[s]
    p_kids = np.repeat(on, count)
    offset = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    e_kids = kids[np.repeat(ptr[s], count) + offset]
    p_idx = np.r_[on, p_kids]
    end = np.r_[s, e_kids]
    keep = morph.segment[end] >= 0  # a segment ends there (not a root start / an equal point)
    return p_idx[keep], end[keep]
