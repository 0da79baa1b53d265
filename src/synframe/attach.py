"""``attach``: synapses onto navis neurons as ``.connectors``, and back (``connectors_to_table``)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from . import _neurons, _spatial
from ._validation import run_schema, stage_schema
from .errors import OptionError, SchemaError
from .schemas import POSITIONS, SynapseTable
from .units import length_nm, neuron_scale_nm

__all__ = ["attach", "connectors_to_table"]

log = logging.getLogger("synframe")

_CANONICAL = (SynapseTable.id, SynapseTable.pre, SynapseTable.post, *POSITIONS)
_POINT_IDS = ("node_id", "vertex_id", "point_id")


def _extra_columns(syn: pd.DataFrame) -> list[str]:
    """Columns carried onto connectors: scores, transmitters, neuropil, parameters, annotations."""
    return [c for c in syn.columns if c not in _CANONICAL]


def _connectors(
    cols: dict[str, np.ndarray],
    points: _neurons.NeuronPoints,
    parts: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]],
    extra: dict[str, np.ndarray | pd.Categorical],
    xyz_nm: dict[str, np.ndarray],
) -> pd.DataFrame:
    """One neuron's connector table from its (side, rows, distance_nm, point_id) parts.

    ``cols`` and ``extra`` hold the table's columns as arrays (extracted once for all neurons).
    """
    rows = np.concatenate([p[1] for p in parts] or [np.empty(0, dtype="int64")])
    dist = np.concatenate([p[2] for p in parts] or [np.empty(0)])
    pid = np.concatenate([p[3] for p in parts] or [np.empty(0, dtype="int64")])
    is_pre = np.concatenate(
        [np.full(len(p[1]), p[0] == "pre") for p in parts] or [np.empty(0, dtype=bool)]
    )
    pre_xyz, post_xyz = xyz_nm["pre"][rows], xyz_nm["post"][rows]
    own = np.where(is_pre[:, None], pre_xyz, post_xyz) / points.scale_nm
    other = np.where(is_pre[:, None], post_xyz, pre_xyz) / points.scale_nm
    pre, post = cols["pre"][rows], cols["post"][rows]
    data = {
        "connector_id": cols["id"][rows],
        points.id_column: pid.astype("int64", copy=False),
        "type": np.where(is_pre, "pre", "post").astype(object),
        "x": own[:, 0],
        "y": own[:, 1],
        "z": own[:, 2],
        "partner_id": np.where(is_pre, post, pre),
        "distance": dist / float(np.mean(points.scale_nm)),
        "partner_x": other[:, 0],
        "partner_y": other[:, 1],
        "partner_z": other[:, 2],
    }
    for c, values in extra.items():
        data[c] = values[rows]
    return pd.DataFrame(data)


def attach(
    syn: pd.DataFrame, neurons, *, inplace: bool = False, max_distance: str | float | None = None
):
    """Put synapses on navis neurons as ``neuron.connectors``: each on its nearest node / vertex / point.

    For every neuron, its presynapses (``pre == neuron.id``, at the presynaptic position) and
    postsynapses (``post == neuron.id``, at the postsynaptic position) become its connectors, in
    navis' layout:

    - ``connector_id`` = the synapse ``id`` (connectors join back to the table);
    - ``node_id`` (skeletons), ``vertex_id`` (meshes) or ``point_id`` (dotprops): the nearest one;
    - ``type`` (``'pre'`` / ``'post'``), ``x, y, z`` in the neuron's units, ``partner_id``,
      ``distance`` to the attached point (neuron's units), ``partner_x/y/z`` (the partner-side
      position, so :func:`connectors_to_table` gives back the table), and every other column of
      the table (scores, transmitters, neuropil, parameters, annotations).

    An autapse appears twice (once ``pre``, once ``post``). Neurons without synapses get an empty
    connector table with the same columns; synapses of ids not among ``neurons`` are ignored (and
    counted in the log).

    Parameters
    ----------
    syn
        A synapse table with unique ids (positions in nm).
    neurons
        A navis TreeNeuron / MeshNeuron / Dotprops or a NeuronList of them, in any length units.
    inplace
        Attach to ``neurons`` themselves; by default they are copied first.
    max_distance
        Drop (and count) synapses farther than this from the neuron (``"5 um"`` or a number in nm).

    Returns
    -------
    navis.NeuronList
        The neurons with their connectors.

    Examples
    --------
    >>> import synframe as sf
    >>> syn = sf.datasets.example_synapses()
    >>> nl = sf.attach(syn, sf.datasets.example_neuron())
    >>> con = nl[0].connectors
    >>> con["type"].value_counts().to_dict()
    {'post': 2165, 'pre': 259}
    >>> bool(con["connector_id"].isin(syn["id"]).all()), float(con["distance"].max()) < 3_000
    (True, True)
    """
    import navis

    run_schema(syn, stage_schema("synapses"), "SynapseTable (input of attach)")
    dup = syn[SynapseTable.id].duplicated()
    if dup.any():
        raise SchemaError(
            f"{int(dup.sum())} duplicate synapse ids (e.g. {syn[SynapseTable.id][dup].iloc[:3].tolist()}); "
            "connectors need unique ids -- run sf.clean(..., dedupe=True) first"
        )
    threshold = None if max_distance is None else length_nm(max_distance, name="max_distance")
    nl = _neurons.as_neuron_list(neurons)
    if not isinstance(inplace, bool):
        raise OptionError(f"inplace must be True or False, got {inplace!r}")
    if not inplace:
        nl = navis.NeuronList([n.copy() for n in nl])
    ids = _neurons.neuron_ids(nl)
    points = [_neurons.neuron_points(n) for n in nl]  # also refuses bad units before any change
    xyz = _spatial.positions_nm(syn)
    parts: list[list] = [[] for _ in nl]
    boxes: list[list] = [[] for _ in nl]
    for k, side, rows in _spatial.side_rows(syn, ids):
        pos = xyz[side][rows]
        dist, pid = points[k].query(pos)
        parts[k].append((side, rows, dist, pid))
        boxes[k].append(_neurons.bbox_side(pos))
    _neurons.check_scale(
        (
            (ids[k], [p[2] for p in parts[k]], boxes[k], points[k])
            for k in range(len(nl))
            if parts[k]
        ),
        "attach",
    )

    cols = {
        c: syn[getattr(SynapseTable, c)].to_numpy().astype("int64", copy=False)
        for c in ("id", "pre", "post")
    }
    extra = {
        c: pd.Categorical(syn[c])
        if isinstance(syn[c].dtype, pd.CategoricalDtype)
        else syn[c].to_numpy()
        for c in _extra_columns(syn)
    }
    too_far = 0
    for k, neuron in enumerate(nl):
        if threshold is not None:
            kept = []
            for side, rows, dist, pid in parts[k]:
                ok = dist <= threshold
                too_far += int((~ok).sum())
                kept.append((side, rows[ok], dist[ok], pid[ok]))
            parts[k] = kept
        neuron.connectors = _connectors(cols, points[k], parts[k], extra, xyz)

    attached = np.zeros(len(syn), dtype=bool)
    for k in range(len(nl)):
        for _, rows, _, _ in parts[k]:
            attached[rows] = True
    ignored = int((~attached).sum()) - too_far
    log.info(
        "attach: %d synapses onto %d neurons (%d farther than max_distance dropped, %d of other neurons ignored)",
        int(attached.sum()),
        len(nl),
        too_far,
        max(ignored, 0),
    )
    return nl


def connectors_to_table(neurons) -> pd.DataFrame:
    """The synapse table back from neurons' connectors: one row per synapse id, pre/post merged.

    Positions are converted to nm with each neuron's units. A synapse seen from both sides (both
    neurons in the list) takes each side's position from that side's neuron; a synapse seen from
    one side takes the partner position from ``partner_x/y/z`` when present (connectors made by
    :func:`attach`), else the neuron-side position.

    Examples
    --------
    >>> import synframe as sf
    >>> syn = sf.datasets.example_synapses()
    >>> back = sf.connectors_to_table(sf.attach(syn, sf.datasets.example_neuron()))
    >>> back[syn.columns].equals(syn)
    True
    """
    nl = _neurons.as_neuron_list(neurons)
    frames = []
    for neuron in nl:
        con = getattr(neuron, "connectors", None)
        if con is None or len(con) == 0:
            continue
        missing = [c for c in ("connector_id", "type", "x", "y", "z") if c not in con.columns]
        if missing:
            raise SchemaError(f"neuron {neuron.id}: connectors lack columns {missing}")
        scale = neuron_scale_nm(neuron)
        own = con[["x", "y", "z"]].to_numpy(dtype="float64") * scale
        if all(c in con.columns for c in ("partner_x", "partner_y", "partner_z")):
            other = con[["partner_x", "partner_y", "partner_z"]].to_numpy(dtype="float64") * scale
        else:
            other = own
        is_pre = (con["type"] == "pre").to_numpy()
        nid = _neurons.neuron_ids([neuron])[0]
        partner = (
            con["partner_id"].to_numpy().astype("int64")
            if "partner_id" in con.columns
            else np.zeros(len(con), dtype="int64")
        )
        df = pd.DataFrame(
            {
                SynapseTable.id: con["connector_id"].to_numpy().astype("int64"),
                SynapseTable.pre: np.where(is_pre, nid, partner),
                SynapseTable.post: np.where(is_pre, partner, nid),
            }
        )
        pre_xyz = np.where(is_pre[:, None], own, other)
        post_xyz = np.where(is_pre[:, None], other, own)
        for i, c in enumerate(POSITIONS):
            df[c] = pre_xyz[:, i % 3] if i < 3 else post_xyz[:, i % 3]
        df["_own_side_pre"] = is_pre
        skip = {"connector_id", "type", "x", "y", "z", "partner_id", "distance", "partner_x",
                "partner_y", "partner_z", *_POINT_IDS}  # fmt: skip
        for c in con.columns:
            if c not in skip:
                df[c] = con[c].to_numpy()
        frames.append(df)
    if not frames:
        return pd.DataFrame(
            {
                c: pd.Series(dtype="int64" if c in ("id", "pre", "post") else "float64")
                for c in _CANONICAL
            }
        )
    table = pd.concat(frames, ignore_index=True)
    # a synapse seen from both sides: take the pre position from its pre row, post from its post row
    both = table[SynapseTable.id].duplicated(keep=False)
    if both.any():
        sub = table[both]
        pre_rows = (
            sub[sub["_own_side_pre"]].drop_duplicates(SynapseTable.id).set_index(SynapseTable.id)
        )
        post_rows = (
            sub[~sub["_own_side_pre"]].drop_duplicates(SynapseTable.id).set_index(SynapseTable.id)
        )
        merged = pre_rows.copy()
        common = merged.index.intersection(post_rows.index)
        for c in POSITIONS[3:]:
            merged.loc[common, c] = post_rows.loc[common, c]
        table = pd.concat([table[~both], merged.reset_index()], ignore_index=True)
    table = table.drop(columns="_own_side_pre").sort_values(SynapseTable.id, ignore_index=True)
    table.attrs = {"units": "nm", "source": "connectors_to_table"}
    return run_schema(table, stage_schema("synapses"), "SynapseTable (from connectors)")
