"""``attach``: synapses onto navis neurons as ``.connectors``, and back (``connectors_to_table``).

One module, though over 450 lines: ``attach`` and its inverse ``connectors_to_table`` share the
connector layout (which columns ride along, how pre/post sides are coded); apart, that layout would
have to be a third module both import, for two functions that must change together.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from . import _neurons, _spatial
from ._ids import as_ids
from ._progress import bar
from ._validation import check_unique_columns, run_schema, stage_schema
from .errors import OptionError, SchemaError
from .schemas import POSITIONS, SynapseTable
from .units import length_nm, neuron_scale_nm

__all__ = ["attach", "connectors_to_table"]

log = logging.getLogger("synframe")

_CANONICAL = (SynapseTable.id, SynapseTable.pre, SynapseTable.post, *POSITIONS)
_POINT_IDS = ("node_id", "vertex_id", "point_id")


#: columns attach writes into every connector table (the point id column is one of _POINT_IDS)
_CONNECTOR_COLUMNS = ("connector_id", "type", "x", "y", "z", "partner_id", "distance",
                      "partner_x", "partner_y", "partner_z", *_POINT_IDS)  # fmt: skip


def _extra_columns(syn: pd.DataFrame) -> list[str]:
    """Columns carried onto connectors: scores, transmitters, neuropil, parameters, annotations.

    A column named like one attach writes itself (``type``, ``x``, ``node_id`` …) would replace
    it: refused, naming it.
    """
    extra = [c for c in syn.columns if c not in _CANONICAL]
    clash = [c for c in extra if c in _CONNECTOR_COLUMNS]
    if clash:
        raise SchemaError(
            f"synapse table columns {clash} have the names of connector columns attach writes "
            f"itself ({', '.join(_CONNECTOR_COLUMNS[:7])} …); rename them first, e.g. "
            f"syn.rename(columns={{{clash[0]!r}: {clash[0] + '_value'!r}}})"
        )
    return extra


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
    syn: pd.DataFrame,
    neurons,
    *,
    inplace: bool = False,
    max_distance: str | float | None = None,
    progress: bool = True,
):
    """Put synapses on navis neurons as ``neuron.connectors``: each on its nearest node / vertex / point.

    For every neuron, its presynapses (``pre == neuron.id``, at the presynaptic position) and
    postsynapses (``post == neuron.id``, at the postsynaptic position) become its connectors, in
    navis' layout:

    - ``connector_id`` = the synapse ``id`` (connectors join back to the table);
    - ``node_id`` (skeletons), ``vertex_id`` (meshes) or ``point_id`` (dotprops): the nearest one;
    - ``type`` (``'pre'`` / ``'post'``), ``x, y, z`` in the neuron's units, ``partner_id``,
      ``distance`` to the attached point (neuron's units), ``partner_x/y/z`` (the partner-side
      position, so [`connectors_to_table`][synframe.attach.connectors_to_table] gives back the table), and every other column of
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
    progress
        A progress bar over the neurons' presynapse and postsynapse lookups (on a terminal, after
        two seconds; ``SYNFRAME_PROGRESS=1`` forces it).

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
    for flag, value in (("inplace", inplace), ("progress", progress)):
        if not isinstance(value, (bool, np.bool_)):
            raise OptionError(f"{flag} must be True or False, got {value!r}")
    extra_columns = _extra_columns(syn)
    if not inplace:
        nl = navis.NeuronList([n.copy() for n in nl])
    ids = _neurons.neuron_ids(nl)
    points = [_neurons.neuron_points(n) for n in nl]  # also refuses bad units before any change
    xyz = _spatial.positions_nm(syn)
    parts: list[list] = [[] for _ in nl]
    boxes: list[list] = [[] for _ in nl]
    with bar(2 * len(nl), "attach (pre, post)", bool(progress), unit="neuron") as pbar:
        for k, side, rows in _spatial.side_rows(syn, ids):
            pos = xyz[side][rows]
            dist, pid = points[k].query(pos)
            parts[k].append((side, rows, dist, pid))
            boxes[k].append(_neurons.bbox_side(pos))
            pbar.update(_spatial.SIDES.index(side) * len(nl) + k + 1 - pbar.n)
        pbar.update(pbar.total - pbar.n)
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
        for c in extra_columns
    }
    too_far = 0
    tables = []
    for k in range(len(nl)):
        if threshold is not None:
            kept = []
            for side, rows, dist, pid in parts[k]:
                ok = dist <= threshold
                too_far += int((~ok).sum())
                kept.append((side, rows[ok], dist[ok], pid[ok]))
            parts[k] = kept
        tables.append(_connectors(cols, points[k], parts[k], extra, xyz))
    for neuron, table in zip(nl, tables, strict=True):  # every table made: now change the neurons
        neuron.connectors = table

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


#: connector columns that describe the attachment, not the synapse (not carried into the table)
_ATTACHMENT = frozenset({"connector_id", "type", "x", "y", "z", "partner_id", "distance",
                         "partner_x", "partner_y", "partner_z", *_POINT_IDS})  # fmt: skip


def connector_sides(types: pd.Series, ident) -> np.ndarray:
    """True for presynapses, False for postsynapses, from a connector ``type`` column.

    navis' rule (``neuron.presynapses``): a label containing ``"pre"`` or equal to ``0``/``"0"``
    is presynaptic, one containing ``"post"`` or equal to ``1``/``"1"`` postsynaptic (CATMAID's
    relation codes). Any other label (gap junctions, abutting, typos) is refused: it is neither.
    """
    labels = [t.item() if isinstance(t, np.generic) else t for t in pd.unique(types)]
    pre = [t for t in labels if "pre" in str(t).lower() or _is_code(t, 0)]
    post = [t for t in labels if "post" in str(t).lower() or _is_code(t, 1)]
    both = [t for t in pre if any(t is u or t == u for u in post)]
    other = [t for t in labels if not any(t is u or t == u for u in (*pre, *post))]
    if both or other or len(pre) > 1 or len(post) > 1:
        raise SchemaError(
            f"neuron {ident}: connector types {list(labels)} are not one presynaptic and one "
            f"postsynaptic label (navis' rule: 'pre'/0 and 'post'/1; not understood: "
            f"{[*both, *other] or [*pre, *post]}); keep only synapses, e.g. "
            "neuron.connectors = con[con['type'].isin(['pre', 'post'])]"
        )
    return types.isin(pre).to_numpy() if pre else np.zeros(len(types), dtype=bool)


def _is_code(label, code: int) -> bool:
    if isinstance(label, (bool, np.bool_)):
        return False
    return label == code or label == str(code)


def _connector_rows(neuron, nid: int) -> pd.DataFrame | None:
    """One row per connector of ``neuron``: its side, ids and positions (nm), and other columns."""
    con = getattr(neuron, "connectors", None)
    if con is None or len(con) == 0:
        return None
    where = f"neuron {nid} connectors"
    if not isinstance(con, pd.DataFrame):
        raise SchemaError(f"{where}: expected a DataFrame, got {type(con).__name__}")
    check_unique_columns(con, where)
    missing = [c for c in ("connector_id", "type", "x", "y", "z") if c not in con.columns]
    if missing:
        raise SchemaError(f"{where} lack columns {missing}")
    clash = [c for c in con.columns if c in _CANONICAL and c not in _ATTACHMENT]
    if clash:
        raise SchemaError(
            f"{where}: columns {clash} would replace the synapse table's own columns; rename "
            "them (e.g. con.rename(columns={'pre': 'pre_note'}))"
        )
    scale = neuron_scale_nm(neuron)

    def xyz(cols):
        try:
            out = con[list(cols)].to_numpy(dtype="float64") * scale
        except (TypeError, ValueError):
            raise SchemaError(f"{where}: columns {list(cols)} are not all numbers") from None
        return out

    own = xyz(("x", "y", "z"))
    bad = ~np.isfinite(own).all(axis=1)
    if bad.any():
        raise SchemaError(
            f"{where}: {int(bad.sum())} connectors have no finite x/y/z (e.g. connector_id "
            f"{con['connector_id'].iloc[int(np.flatnonzero(bad)[0])]}); drop or fix them"
        )
    partner_xyz = all(c in con.columns for c in ("partner_x", "partner_y", "partner_z"))
    other = (
        xyz(("partner_x", "partner_y", "partner_z")) if partner_xyz else np.full_like(own, np.nan)
    )
    has_partner = "partner_id" in con.columns
    rows = pd.DataFrame(
        {
            "_id": as_ids(con["connector_id"], what=f"{where} column 'connector_id'"),
            "_pre": connector_sides(con["type"], nid),
            "_neuron": np.full(len(con), nid, dtype="int64"),
            "_partner": as_ids(con["partner_id"], what=f"{where} column 'partner_id'")
            if has_partner
            else np.zeros(len(con), dtype="int64"),
            "_has_partner": np.full(len(con), has_partner),
        }
    )
    for k in range(3):
        rows[f"_own{k}"] = own[:, k]
        rows[f"_other{k}"] = other[:, k]
    for c in con.columns:
        if c not in _ATTACHMENT:
            rows[c] = _values(con[c])
    return rows


def _values(column: pd.Series):
    """A column's values without its index, in its own dtype (categories, nullable integers)."""
    return column.to_numpy() if isinstance(column.dtype, np.dtype) else column.array


def _nullable(frames: list[pd.DataFrame]) -> list[pd.DataFrame]:
    """Frames to concatenate, integer/boolean columns some lack made nullable (``Int64``,
    ``boolean``): pandas would fill the gaps with NaN and turn the integers into float64."""
    out = []
    for f in frames:
        casts = {
            c: "Int64" if f[c].dtype.kind in "iu" else "boolean"
            for c in f.columns
            if isinstance(f[c].dtype, np.dtype)
            and f[c].dtype.kind in "iub"
            and not str(c).startswith("_")
            and any(c not in g.columns for g in frames)
        }
        out.append(f.astype(casts) if casts else f)
    return out


def connectors_to_table(neurons) -> pd.DataFrame:
    """The synapse table back from neurons' connectors: one row per synapse, pre and post merged.

    Connectors join by ``connector_id`` (the synapse id, as [`attach`][synframe.attach.attach] writes it). Positions
    are converted to nm with each neuron's units. A synapse seen from both sides (both neurons in
    the list) takes each side's id and position from that side's neuron; a synapse seen from one
    side takes the partner from ``partner_id`` (else 0, unknown) and the partner position from
    ``partner_x/y/z`` when present (connectors made by [`attach`][synframe.attach.attach]), else the neuron-side
    position.

    A polyadic connector -- one presynapse, several postsynaptic neurons, as CATMAID and
    neuPrint record them -- gives one row per postsynaptic connector, all with the connector's
    id (run ``sf.clean(..., dedupe=True)`` only if one row per id is what you want). Nothing is
    dropped: connectors this function cannot read as synapses are an error naming them (a
    synapse claimed as presynaptic by two neurons, a ``partner_id`` contradicting the
    presynaptic neuron, ``type`` labels other than navis' pre/post, float or missing ids).

    Examples
    --------
    >>> import synframe as sf
    >>> syn = sf.datasets.example_synapses()
    >>> back = sf.connectors_to_table(sf.attach(syn, sf.datasets.example_neuron()))
    >>> back[syn.columns].equals(syn)
    True
    """
    nl = _neurons.as_neuron_list(neurons)
    ids = _neurons.neuron_ids(nl)
    frames = [
        f
        for n, nid in zip(nl, ids.tolist(), strict=True)
        if (f := _connector_rows(n, nid)) is not None
    ]
    if not frames:
        return pd.DataFrame(
            {
                c: pd.Series(dtype="int64" if c in ("id", "pre", "post") else "float64")
                for c in _CANONICAL
            }
        )
    rows = pd.concat(_nullable(frames), ignore_index=True) if len(frames) > 1 else frames[0]
    extra = [c for c in rows.columns if not str(c).startswith("_")]
    is_pre = rows["_pre"].to_numpy()
    pre, post = rows[is_pre].reset_index(drop=True), rows[~is_pre].reset_index(drop=True)
    twice = pre["_id"].duplicated(keep=False).to_numpy()
    if twice.any():
        sample = {
            int(k): [int(v) for v in vs]
            for k, vs in pre[twice].groupby("_id")["_neuron"].unique().head(3).items()
        }
        raise SchemaError(
            f"{int(pre.loc[twice, '_id'].nunique())} synapses are presynaptic on more than one "
            f"connector (connector_id: neurons {sample}); a synapse has one "
            "presynaptic side -- are the connector ids per neuron rather than synapse ids?"
        )
    pre_index = pd.Index(pre["_id"].to_numpy())
    pos = pre_index.get_indexer(post["_id"].to_numpy())  # each post row's pre row, -1: none
    seen = pos >= 0
    take = np.where(seen, pos, 0) if len(pre) else None  # gather index into the pre rows
    pre_neuron = pre["_neuron"].to_numpy()
    own = {
        side: df[[f"_own{k}" for k in range(3)]].to_numpy()
        for side, df in (("pre", pre), ("post", post))
    }
    other = {
        side: df[[f"_other{k}" for k in range(3)]].to_numpy()
        for side, df in (("pre", pre), ("post", post))
    }
    contradict = (
        seen & post["_has_partner"].to_numpy() & (post["_partner"].to_numpy() != pre_neuron[take])
        if take is not None
        else np.zeros(len(post), dtype=bool)
    )
    if contradict.any():
        k = int(np.flatnonzero(contradict)[0])
        raise SchemaError(
            f"{int(contradict.sum())} postsynaptic connectors name a partner_id other than the "
            f"neuron that lists them as presynaptic (e.g. connector_id {int(post['_id'].iloc[k])}: "
            f"partner_id {int(post['_partner'].iloc[k])}, presynaptic on neuron "
            f"{int(pre_neuron[pos[k]])}); fix the connectors' partner_id"
        )

    def partner_xyz(side: str) -> np.ndarray:
        o = other[side]
        return np.where(np.isfinite(o).all(axis=1)[:, None], o, own[side])

    # one row per postsynaptic connector ...
    post_pre_id = post["_partner"].to_numpy()
    post_pre_xyz = partner_xyz("post")
    if take is not None:
        post_pre_id = np.where(seen, pre_neuron[take], post_pre_id)
        post_pre_xyz = np.where(seen[:, None], own["pre"][take], post_pre_xyz)
    from_post = pd.DataFrame(
        {
            SynapseTable.id: post["_id"].to_numpy(),
            SynapseTable.pre: post_pre_id,
            SynapseTable.post: post["_neuron"].to_numpy(),
        }
    )
    for k, c in enumerate(POSITIONS):
        from_post[c] = post_pre_xyz[:, k] if k < 3 else own["post"][:, k - 3]
    # ... and one per presynaptic connector no neuron lists as postsynaptic
    alone = ~pre["_id"].isin(post["_id"]).to_numpy()
    pre_alone = pre[alone]
    from_pre = pd.DataFrame(
        {
            SynapseTable.id: pre_alone["_id"].to_numpy(),
            SynapseTable.pre: pre_alone["_neuron"].to_numpy(),
            SynapseTable.post: pre_alone["_partner"].to_numpy(),
        }
    )
    pre_post_xyz = partner_xyz("pre")[alone]
    for k, c in enumerate(POSITIONS):
        from_pre[c] = own["pre"][alone][:, k] if k < 3 else pre_post_xyz[:, k - 3]
    for c in extra:
        values = post[c]
        gaps = seen & values.isna().to_numpy()
        if gaps.any():  # a value only the presynaptic side's connectors carry
            values = values.copy()
            values[gaps] = pre[c].array[pos[gaps]]
        from_post[c] = _values(values)
        from_pre[c] = _values(pre_alone[c])
    parts = [f for f in (from_post, from_pre) if len(f)]
    table = (
        pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True)
    )
    table = table.sort_values(SynapseTable.id, ignore_index=True, kind="stable")
    table.attrs = {"units": "nm", "source": "connectors_to_table"}
    return run_schema(table, stage_schema("synapses"), "SynapseTable (from connectors)")
