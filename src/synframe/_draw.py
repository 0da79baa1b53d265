"""The drawing engine: which synapse is in which connection and pathway, and its keyed draws.

Used by :func:`synframe.parameterize`, :func:`synframe.fit_pathway_stats`,
:func:`synframe.parameterize_circuit` and the dask aliases. Draws are vectorized per (property,
pathway), made once per connection where a spec is ``shared_within``, and keyed: a value depends
only on (seed, stream, property, pre, post[, synapse id]).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from ._ids import as_ids, id_column_of
from .distributions import keyed_uniforms, output_dtype, sample, shared_within
from .errors import PathwayError
from .pathways import N_SYN_PER_CONN, Cells
from .schemas import SynapseTable

__all__ = [
    "Plan",
    "draw",
    "missing_pathways",
    "pathway_types",
    "plan",
    "property_dtype",
    "resolve_seed",
    "select_properties",
]


def _type_series(types, by: str) -> pd.Series:
    """neuron id (int64 index) -> type (str), from a mapping, a Series or a DataFrame."""
    if isinstance(types, pd.DataFrame):
        idc = id_column_of(types, None)
        if by not in types.columns:
            raise PathwayError(
                f"types table has no column {by!r} (columns: {list(types.columns)[:10]})"
            )
        ids, vals = types[idc], types[by]
    elif isinstance(types, pd.Series):
        ids, vals = types.index, types
    elif isinstance(types, Mapping):
        ids, vals = list(types.keys()), list(types.values())
    else:
        raise PathwayError(
            f"types must be a mapping / Series / DataFrame of neuron id -> {by}, got {type(types).__name__}"
        )
    idx = pd.Index(as_ids(ids, what="types ids"))
    if not idx.is_unique:
        raise PathwayError(f"types give some neurons more than one {by}; one row per neuron")
    return pd.Series(np.asarray(vals, dtype=object), index=idx)


def _codes(values) -> tuple[np.ndarray, np.ndarray]:
    """(int codes, str levels) of a column or array; code -1 where missing. Categoricals stay cheap."""
    codes, levels = pd.factorize(values, use_na_sentinel=True)
    return np.asarray(codes, dtype=np.int64), np.asarray([str(v) for v in levels], dtype=object)


def pathway_types(syn: pd.DataFrame, by: str, types=None) -> tuple[tuple, tuple]:
    """Source and target type of every synapse as ``(codes, levels)``; errors name what is missing."""
    if types is None:
        cols = (f"pre_{by}", f"post_{by}")
        missing = [c for c in cols if c not in syn.columns]
        if missing:
            raise PathwayError(
                f"no {missing} column(s) to take the {by!r} of each side from; pass types= (neuron id -> "
                f"{by}: a dict, Series or DataFrame) or add them with sf.annotate(syn, neurons, columns={by!r})"
            )
        src, tgt = _codes(syn[cols[0]]), _codes(syn[cols[1]])
    else:
        table = _type_series(types, by)
        t_codes, levels = _codes(table)
        levels_idx = pd.Index(table.index)
        out = []
        for col in (SynapseTable.pre, SynapseTable.post):
            pos = levels_idx.get_indexer(syn[col].to_numpy())
            out.append((np.where(pos >= 0, t_codes[pos], -1), levels))
        src, tgt = out
    problems = []
    for side, (codes, _), col in (
        ("source", src, SynapseTable.pre),
        ("target", tgt, SynapseTable.post),
    ):
        bad = codes < 0
        if bad.any():
            ids = pd.unique(syn[col].to_numpy()[bad])
            problems.append(
                f"{int(bad.sum())} synapses have no {side} {by!r} ({len(ids)} neurons, e.g. {ids[:3].tolist()})"
            )
    if problems:
        raise PathwayError(
            "; ".join(problems)
            + f" -- give every neuron a {by} (e.g. fill partners outside your table "
            "with a class such as 'extrinsic_neuron'), or drop those synapses"
        )
    return src, tgt


@dataclass
class Plan:
    """What is drawn where: connections, pathways and the rows of each."""

    pre: np.ndarray
    post: np.ndarray
    ids: np.ndarray
    conn: np.ndarray  # connection index of each synapse
    conn_pre: np.ndarray
    conn_post: np.ndarray
    pathways: list[tuple[str, str]]
    syn_rows: list[np.ndarray]  # per pathway: synapse rows
    conn_rows: list[np.ndarray]  # per pathway: connection indices


def plan(syn: pd.DataFrame, src: tuple, tgt: tuple) -> Plan:
    """Connections and pathways of ``syn`` from the (codes, levels) of :func:`pathway_types`."""
    pre = syn[SynapseTable.pre].to_numpy()
    post = syn[SynapseTable.post].to_numpy()
    ids = syn[SynapseTable.id].to_numpy()
    conn = syn.groupby([SynapseTable.pre, SynapseTable.post], sort=False).ngroup().to_numpy()
    n_conn = int(conn.max()) + 1 if len(conn) else 0
    # ngroup(sort=False) numbers connections in order of first appearance: a row starts a new
    # connection exactly when its number exceeds every number before it
    if len(conn):
        first = np.flatnonzero(np.r_[True, conn[1:] > np.maximum.accumulate(conn)[:-1]])
    else:
        first = np.empty(0, dtype=np.int64)
    (s_codes, s_levels), (t_codes, t_levels) = src, tgt
    width = max(len(t_levels), 1)
    pw = s_codes * width + t_codes
    small = np.int16 if pw.max(initial=0) < 2**15 else np.int64  # few pathways: radix sort, O(n)
    order = np.argsort(pw.astype(small), kind="stable")
    groups = np.split(order, np.flatnonzero(np.diff(pw[order])) + 1) if len(order) else []
    conn_pw = pw[first]
    c_order = np.argsort(conn_pw, kind="stable")
    c_groups = np.split(c_order, np.flatnonzero(np.diff(conn_pw[c_order])) + 1) if n_conn else []
    pathways = [(str(s_levels[pw[g[0]] // width]), str(t_levels[pw[g[0]] % width])) for g in groups]
    return Plan(pre, post, ids, conn, pre[first], post[first], pathways, groups, c_groups)


def missing_pathways(stats: xr.DataArray, props: Sequence[str], plan: Plan) -> list[str]:
    """One line per pathway of ``plan`` that ``stats`` does not cover for some of ``props``."""
    out = []
    cells = Cells(stats)
    for (s, t), rows in zip(plan.pathways, plan.syn_rows, strict=True):
        lacking = [p for p in props if cells(p, s, t) is None]
        if lacking:
            out.append(f"({s}, {t}): {len(rows)} synapses; no spec for {lacking}")
    return out


def _cov_matrix(stats: xr.DataArray, names: list[str], s: str, t: str) -> np.ndarray | None:
    cov = stats.attrs.get("prop_cov") or {}
    if not cov:
        return None
    mats = cov["cov"]
    for a, b in ((s, t), (s, "*"), ("*", t), ("*", "*")):
        if isinstance(mats.get(a), Mapping) and b in mats[a]:
            full = np.asarray(mats[a][b], dtype="float64")
            idx = [list(cov["props"]).index(n) for n in names]
            return full[np.ix_(idx, idx)]
    return None


def _correlate(u: np.ndarray, corr: np.ndarray) -> np.ndarray:
    """Gaussian copula: independent uniforms (k, n) -> uniforms with normal-scale correlation ``corr``."""
    from scipy import special

    w, v = np.linalg.eigh(corr)
    root = v * np.sqrt(np.clip(w, 0, None))  # corr = root @ root.T (works for semi-definite too)
    return special.ndtr(root @ special.ndtri(u))


def property_dtype(stats: xr.DataArray, prop: str) -> np.dtype:
    """The column dtype of ``prop``: from every cell of the stats (so any subset or chunk of a table
    gets the same dtype), int64 when all cells say ``dtype: "int"``, else float64."""
    specs = [c for c in stats.sel(property=prop).values.ravel() if c is not None]
    dtypes = {output_dtype(sp) for sp in specs}
    return dtypes.pop() if len(dtypes) == 1 else np.dtype("float64")


def draw(
    stats: xr.DataArray, props: Sequence[str], plan: Plan, seed: int, stream: str = ""
) -> dict[str, np.ndarray]:
    """Values of ``props`` for every synapse of ``plan``: vectorized per (property, pathway).

    ``stream`` prefixes the key of every draw (e.g. an edge population's name, so that equal node
    ids in two populations draw independently).
    """
    n = len(plan.pre)
    cov = stats.attrs.get("prop_cov") or {}
    correlated = [p for p in cov.get("props", []) if p in props]
    out: dict[str, np.ndarray] = {}
    cells = Cells(stats)
    specs = {p: [cells(p, s, t) for s, t in plan.pathways] for p in props}
    for p in props:
        out[p] = np.empty(n, dtype=property_dtype(stats, p))
    cache: dict[tuple[str, bool], np.ndarray] = {}

    def uniforms(p: str, shared: bool, k: int) -> np.ndarray:
        """Keyed uniforms of pathway k for property p: per connection or per synapse."""
        key = (p, shared)
        if shared:
            if key not in cache:
                cache[key] = keyed_uniforms(seed, stream + p, plan.conn_pre, plan.conn_post)
            return cache[key][plan.conn_rows[k]]
        rows = plan.syn_rows[k]
        return keyed_uniforms(seed, stream + p, plan.pre[rows], plan.post[rows], plan.ids[rows])

    # shared draws are made per connection (conn_vals) and copied to synapses with one gather per
    # property; per-synapse draws go straight to their rows
    n_conn = len(plan.conn_pre)
    conn_vals = {p: np.empty(n_conn, dtype=out[p].dtype) for p in props}
    any_shared = dict.fromkeys(props, False)
    per_syn: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {p: [] for p in props}

    def put(p: str, k: int, shared: bool, vals: np.ndarray) -> None:
        if shared:
            conn_vals[p][plan.conn_rows[k]] = vals
            any_shared[p] = True
        else:
            per_syn[p].append((plan.syn_rows[k], vals))

    for k, (s, t) in enumerate(plan.pathways):
        mat = _cov_matrix(stats, correlated, s, t) if correlated else None
        corr_here = correlated if mat is not None else []
        for p in props:
            if p in corr_here:
                continue
            spec = specs[p][k]
            shared = shared_within(spec)
            put(p, k, shared, sample(spec, uniforms(p, shared, k)))
        if corr_here:
            shared = shared_within(specs[corr_here[0]][k])
            u = _correlate(np.stack([uniforms(p, shared, k) for p in corr_here]), mat)
            for i, p in enumerate(corr_here):
                put(p, k, shared, sample(specs[p][k], u[i]))
    for p in props:
        if any_shared[p]:
            out[p] = conn_vals[p][plan.conn]
        for rows, vals in per_syn[p]:
            out[p][rows] = vals
    return out


def select_properties(stats: xr.DataArray, properties: Sequence[str] | str | None) -> list[str]:
    """The properties to draw: the given ones (checked), or all but ``n_syn_per_conn``."""
    all_props = [str(p) for p in stats["property"].values]
    if properties is None:
        return [p for p in all_props if p != N_SYN_PER_CONN]
    props = [properties] if isinstance(properties, str) else list(properties)
    unknown = [p for p in props if p not in all_props]
    if unknown:
        raise PathwayError(f"properties {unknown} are not in the stats (it has {all_props})")
    return props


def resolve_seed(seed) -> int:
    """A non-negative int seed; ``None`` draws one from the OS (and it is recorded in attrs)."""
    if seed is None:
        return int(np.random.SeedSequence().entropy % (2**63))
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise PathwayError(f"seed must be a non-negative int or None, got {seed!r}")
    return int(seed)
