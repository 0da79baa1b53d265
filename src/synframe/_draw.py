"""The drawing engine: which synapse is in which connection and pathway, and its keyed draws.

Used by [`synframe.parameterize`][synframe.parameterize.parameterize], [`synframe.fit_pathway_stats`][synframe.fit.fit_pathway_stats],
[`synframe.parameterize_circuit`][synframe.sonata.circuit.parameterize_circuit] and the dask aliases. Draws are vectorized per (property,
pathway), made once per connection where a spec is ``shared_within``, and keyed: a value depends
only on (seed, stream, property, pre, post[, synapse id]).

One module, though over 450 lines: the plan (connections and pathways), the keyed uniforms and
the copula share one notion of "which rows draw together"; split, each part would re-derive it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cached_property

import numpy as np
import pandas as pd
import xarray as xr

from ._ids import as_ids, id_column_of
from .distributions import (  # noqa: F401 - resolve_seed, SEED_LIMIT: used from here too
    SEED_LIMIT,
    keyed_uniforms,
    output_dtype,
    resolve_seed,
    sample,
    shared_within,
)
from .errors import OptionError, PathwayError, format_problems
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


#: shared draws are made once per connection (after grouping synapses into connections) when the
#: table has at least this many synapses per connection; below, grouping costs more than it saves
#: and every synapse draws from its (pre, post) key directly -- the same values either way
MIN_SYNAPSES_PER_CONNECTION = 2.0


class Plan:
    """What is drawn where: pathways and their rows; connections grouped on first use.

    ``pre, post, ids`` are the synapses' keys; ``pathways[k]`` is a (src, tgt) pair whose synapses
    are rows ``syn_rows[k]`` (ascending). ``conn`` (connection index of each synapse),
    ``conn_pre``, ``conn_post`` and ``conn_rows[k]`` (connection indices of pathway k) are computed
    when first used: grouping tens of millions of synapses costs seconds, and draws do not need it
    when connections have few synapses.
    """

    def __init__(
        self,
        pre: np.ndarray,
        post: np.ndarray,
        ids: np.ndarray,
        pw: np.ndarray,
        pathways: list[tuple[str, str]],
        syn_rows: list[np.ndarray],
    ) -> None:
        self.pre, self.post, self.ids = pre, post, ids
        self._pw = pw  # pathway code of every synapse
        self.pathways = pathways
        self.syn_rows = syn_rows

    @cached_property
    def _grouped(self) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        conn, first = connections(self.pre, self.post)
        if len(first):
            conn_pw = self._pw[first]
            order = np.argsort(conn_pw, kind="stable")
            rows = np.split(order, np.flatnonzero(np.diff(conn_pw[order])) + 1)
        else:
            rows = []
        return conn, first, rows

    @property
    def conn(self) -> np.ndarray:
        return self._grouped[0]

    @cached_property
    def conn_pre(self) -> np.ndarray:
        return self.pre[self._grouped[1]]

    @cached_property
    def conn_post(self) -> np.ndarray:
        return self.post[self._grouped[1]]

    @property
    def conn_rows(self) -> list[np.ndarray]:
        return self._grouped[2]

    @property
    def conn_first(self) -> np.ndarray:
        """The first row (smallest row index) of every connection."""
        return self._grouped[1]

    def synapses_per_connection(self) -> float:
        """Synapses per connection: exact once grouped, else estimated from a hash-selected sample.

        The sample is every connection whose (pre, post) hash falls in 1/64 of the hash space, so
        each sampled connection comes with all its synapses (no bias from how synapses of one
        connection are spread over the table).
        """
        n = len(self.pre)
        if "_grouped" in self.__dict__ or n < 4096:
            return n / max(len(self.conn_pre), 1)
        with np.errstate(over="ignore"):
            h = self.pre.astype(np.int64, copy=False).view(np.uint64) * np.uint64(
                0x9E3779B97F4A7C15
            )
            h ^= self.post.astype(np.int64, copy=False).view(np.uint64)
            h *= np.uint64(0xBF58476D1CE4E5B9)
            h ^= h >> np.uint64(29)
            h *= np.uint64(0x94D049BB133111EB)
        picked = h[(h >> np.uint64(58)) == 0]
        if len(picked) < 256:  # too few to estimate: group exactly
            return n / max(len(self.conn_pre), 1)
        return len(picked) / len(np.unique(picked))


def connections(pre: np.ndarray, post: np.ndarray, *, with_order: bool = False):
    """Connection index of every synapse, and the first row of each connection (and, with
    ``with_order``, the rows in connection order, ties in row order: a stable argsort of the
    connection index).

    Connections are numbered in the order of their combined (pre, post) code, sorted with an LSD
    radix sort of 16-bit digits (numpy's stable sort of uint16 is a radix sort): linear time,
    2 passes for up to 65,536 x 65,536 neurons, 3 for 2**48 neuron pairs.
    """
    n = len(pre)
    if n == 0:
        empty = np.empty(0, dtype=np.int64)
        return (empty, empty, empty) if with_order else (empty, empty)
    pc, pu = pd.factorize(pre)
    qc, qu = pd.factorize(post)
    wide = len(pu) * len(qu) > 2**32
    kind = np.uint64 if wide else np.uint32
    key = pc.astype(kind)
    key *= kind(len(qu))
    key += qc.astype(kind)
    del pc, qc
    order = None
    for shift in range(0, (len(pu) * len(qu) - 1).bit_length(), 16):
        digit = (key >> kind(shift)).astype(np.uint16)  # the low 16 bits of what is left
        if order is None:
            order = np.argsort(digit, kind="stable")
        else:
            order = order[np.argsort(digit[order], kind="stable")]
        del digit
    if order is None:  # one connection possible (one pre, one post)
        order = np.arange(n)
    ordered = key[order]
    del key
    new = np.empty(n, dtype=bool)
    new[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    del ordered
    conn = np.empty(n, dtype=np.int64)
    conn[order] = np.cumsum(new) - 1
    return (conn, order[new], order) if with_order else (conn, order[new])


def plan(syn: pd.DataFrame, src: tuple, tgt: tuple) -> Plan:
    """Pathways of ``syn`` and their rows, from the (codes, levels) of `pathway_types`."""
    pre = syn[SynapseTable.pre].to_numpy()
    post = syn[SynapseTable.post].to_numpy()
    ids = syn[SynapseTable.id].to_numpy()
    (s_codes, s_levels), (t_codes, t_levels) = src, tgt
    width = max(len(t_levels), 1)
    pw = s_codes * width + t_codes
    small = np.int16 if pw.max(initial=0) < 2**15 else np.int64  # few pathways: radix sort, O(n)
    order = np.argsort(pw.astype(small), kind="stable")
    groups = np.split(order, np.flatnonzero(np.diff(pw[order])) + 1) if len(order) else []
    pathways = [(str(s_levels[pw[g[0]] // width]), str(t_levels[pw[g[0]] % width])) for g in groups]
    return Plan(pre, post, ids, pw, pathways, groups)


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


#: distribution types whose values do not depend on the uniforms (no keyed draw is made)
_FIXED = ("constant", "zero")


def _placeholder(n: int) -> np.ndarray:
    """Stand-in uniforms for specs that ignore them (no allocation)."""
    return np.broadcast_to(np.float64(0.5), (n,))


class _Uniforms:
    """Keyed uniforms of one property for the rows of some groups (pathways).

    Computed once over all keys when the groups that need them cover most rows (no gathers of
    keys), else per group from its gathered keys: the same values either way (keyed).
    """

    def __init__(self, seed: int, name: str, keys: tuple, groups: list, need: list[int]) -> None:
        self.seed, self.name, self.keys, self.groups = seed, name, keys, groups
        n = len(keys[0])
        covered = sum(len(groups[k]) for k in need)
        self.all = keyed_uniforms(seed, name, *keys) if need and 2 * covered > n else None

    def __call__(self, k: int) -> np.ndarray:
        rows = self.groups[k]
        if self.all is not None:
            return self.all if len(rows) == len(self.all) else self.all[rows]
        return keyed_uniforms(self.seed, self.name, *(key[rows] for key in self.keys))


def draw(
    stats: xr.DataArray,
    props: Sequence[str],
    plan: Plan,
    seed: int,
    stream: str = "",
    tick: Callable[[int], object] | None = None,
) -> dict[str, np.ndarray]:
    """Values of ``props`` for every synapse of ``plan``: vectorized per (property, pathway).

    ``stream`` prefixes the key of every draw (e.g. an edge population's name, so that equal node
    ids in two populations draw independently).

    A ``shared_within`` value is keyed by (pre, post) only, so every synapse of a connection gets
    the same value whether it is drawn once per connection and copied to the synapses (tables with
    many synapses per connection) or drawn for each synapse from the same key (EM tables, ~1-3
    synapses per connection, where grouping costs more than the draws it saves); see
    `MIN_SYNAPSES_PER_CONNECTION`. Properties are drawn one at a time, so temporary memory
    is a few arrays of the table's length whatever the number of properties.

    ``tick(1)`` is called after each (property, pathway) draw (a progress bar's ``update``).
    """
    n = len(plan.pre)
    n_path = len(plan.pathways)
    cov = stats.attrs.get("prop_cov") or {}
    correlated = [p for p in cov.get("props", []) if p in props]
    cells = Cells(stats)
    specs = {p: [cells(p, s, t) for s, t in plan.pathways] for p in props}
    out = {p: np.empty(n, dtype=property_dtype(stats, p)) for p in props}
    mats = [_cov_matrix(stats, correlated, s, t) if correlated else None for s, t in plan.pathways]
    joint = [set(correlated) if m is not None else set() for m in mats]
    syn_keys = (plan.pre, plan.post)
    own_keys = (plan.pre, plan.post, plan.ids)
    by_conn: bool | None = None  # decided on first need

    def per_connection() -> bool:
        nonlocal by_conn
        if by_conn is None:
            by_conn = plan.synapses_per_connection() >= MIN_SYNAPSES_PER_CONNECTION
        return by_conn

    def values(p: str, k: int, u: np.ndarray) -> np.ndarray:
        """``sample`` of property ``p`` on pathway ``k``: errors name both; never inf/NaN, and
        integers go into a float column only while float64 holds them exactly."""
        s, t = plan.pathways[k]
        try:
            vals = sample(specs[p][k], u)
        except PathwayError as exc:
            raise PathwayError(f"{p} [{s} -> {t}]: {exc}") from None
        if vals.dtype.kind == "f" and not np.isfinite(vals).all():  # pragma: no cover - guard
            raise PathwayError(
                f"{p} [{s} -> {t}]: {specs[p][k]} gave {int((~np.isfinite(vals)).sum())} "
                "non-finite values; please report this spec"
            )
        if out[p].dtype.kind == "f" and vals.dtype.kind in "iu" and len(vals):
            big = max(abs(int(vals.min())), abs(int(vals.max())))
            if big > 2**53:
                raise PathwayError(
                    f"{p} [{s} -> {t}]: integers up to {big} "
                    f"go into a float64 column (the cells of {p!r} give different dtypes), which "
                    "cannot hold them exactly; give every cell of the property the same dtype"
                )
        if tick is not None:
            tick(1)
        return vals

    def spread(p: str, conn_vals: np.ndarray, ks: list[int]) -> None:
        """Copy per-connection values of pathways ``ks`` to their synapses."""
        if len(ks) == n_path:
            np.take(conn_vals, plan.conn, out=out[p])
            return
        for k in ks:
            rows = plan.syn_rows[k]
            out[p][rows] = conn_vals[plan.conn[rows]]

    for p in props:
        col = out[p]
        mine = [k for k in range(n_path) if p not in joint[k]]
        shared = [k for k in mine if shared_within(specs[p][k])]
        own = [k for k in mine if not shared_within(specs[p][k])]
        drawn = {k for k in mine if specs[p][k]["type"] not in _FIXED}
        if shared and any(k in drawn for k in shared) and per_connection():
            u = _Uniforms(
                seed,
                stream + p,
                (plan.conn_pre, plan.conn_post),
                plan.conn_rows,
                [k for k in shared if k in drawn],
            )
            conn_vals = np.empty(len(plan.conn_pre), dtype=col.dtype)
            for k in shared:
                crow = plan.conn_rows[k]
                conn_vals[crow] = values(p, k, u(k) if k in drawn else _placeholder(len(crow)))
            del u
            spread(p, conn_vals, shared)
            del conn_vals
        elif shared:
            u = _Uniforms(
                seed, stream + p, syn_keys, plan.syn_rows, [k for k in shared if k in drawn]
            )
            for k in shared:
                rows = plan.syn_rows[k]
                col[rows] = values(p, k, u(k) if k in drawn else _placeholder(len(rows)))
            del u
        if own:
            u = _Uniforms(seed, stream + p, own_keys, plan.syn_rows, [k for k in own if k in drawn])
            for k in own:
                rows = plan.syn_rows[k]
                col[rows] = values(p, k, u(k) if k in drawn else _placeholder(len(rows)))
            del u

    # correlated properties: a Gaussian copula per pathway (shared draws per connection)
    joint_conn: dict[str, np.ndarray] = {}
    for k in range(n_path):
        corr_here = [p for p in correlated if p in joint[k]]
        if not corr_here:
            continue
        rows = plan.syn_rows[k]
        if shared_within(specs[corr_here[0]][k]):
            crow = plan.conn_rows[k]
            keys = (plan.conn_pre[crow], plan.conn_post[crow])
        else:
            keys = (plan.pre[rows], plan.post[rows], plan.ids[rows])
        u = _correlate(
            np.stack([keyed_uniforms(seed, stream + p, *keys) for p in corr_here]), mats[k]
        )
        for i, p in enumerate(corr_here):
            vals = values(p, k, u[i])
            if shared_within(specs[corr_here[0]][k]):
                if p not in joint_conn:
                    joint_conn[p] = np.empty(len(plan.conn_pre), dtype=out[p].dtype)
                joint_conn[p][crow] = vals
                out[p][rows] = joint_conn[p][plan.conn[rows]]
            else:
                out[p][rows] = vals
    return out


def select_properties(stats: xr.DataArray, properties: Sequence[str] | str | None) -> list[str]:
    """The properties to draw: the given ones (checked; each once), or all but ``n_syn_per_conn``."""
    all_props = [str(p) for p in stats["property"].values]
    if properties is None:
        return [p for p in all_props if p != N_SYN_PER_CONN]
    if isinstance(properties, str):
        props = [properties]
    elif isinstance(properties, (Mapping, bytes)) or not hasattr(properties, "__iter__"):
        raise OptionError(
            f"properties must be a property name or a list of them, got {properties!r}"
        )
    else:
        props = list(properties)
    odd = [p for p in props if not isinstance(p, str)]
    if odd:
        raise OptionError(f"properties must be names (str), got {odd[:5]}")
    if not props:
        raise OptionError("properties is empty: name the properties to draw, or pass None for all")
    unknown = [p for p in props if p not in all_props]
    if unknown:
        raise PathwayError(f"properties {unknown} are not in the stats (it has {all_props})")
    return list(dict.fromkeys(props))


def reserved_names() -> frozenset[str]:
    """Column names a property may not have: the canonical columns of a synapse table."""
    from .schemas import NEUROTRANSMITTERS, POSITIONS

    return frozenset(
        {SynapseTable.id, SynapseTable.pre, SynapseTable.post, *POSITIONS,
         SynapseTable.cleft_score, SynapseTable.connection_score, SynapseTable.size,
         SynapseTable.neuropil, *NEUROTRANSMITTERS}
    )  # fmt: skip


def check_property_names(props: Sequence[str]) -> None:
    """Refuse properties named like a canonical column or an annotation (``pre_<a>``/``post_<a>``).

    Drawn into such a column they would replace the table's keys or positions (``overwrite=True``)
    or be taken for a neuron annotation by the stages after (``write_synaptome`` writes
    ``pre_<a>`` columns as node attributes).
    """
    reserved = reserved_names()
    problems = []
    for p in props:
        if p in reserved:
            problems.append(f"{p!r} is a column of every synapse table (ids, positions, scores)")
        elif p.startswith((f"{SynapseTable.pre}_", f"{SynapseTable.post}_")):
            problems.append(f"{p!r} is named like a neuron annotation (pre_<name> / post_<name>)")
    if problems:
        raise PathwayError(
            format_problems("these properties cannot be drawn into the table", problems)
            + "\n  rename them in the stats (e.g. stats.assign_coords(property=[...])) or leave "
            "them out with properties=[...]"
        )
