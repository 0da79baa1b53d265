"""What `fit_pathway_stats` needs of a synapse table, as summaries that merge exactly.

One module, though over 400 lines: the summaries of both passes, the connection table and their
merge are one format, read and written only here.

A fit reads a table twice at most, each time in pieces of any size (the whole pandas table, or
each partition of a dask table), and keeps per pathway only small summaries:

- pass 1, per synapse: each property's count, exact sums of values and squares
  (`synframe._exact`), min and max per pathway; over the table, whether the values are integers
  and their distinct values (up to ``MAX_DISCRETE + 1``);
- per connection ``(pre, post)``: its synapse count and each property's min and max (a table,
  merged across pieces when a connection's synapses are in several), then per pathway the number
  of connections, of those whose synapses differ in a property, and the summaries of the
  connections' values (one per connection) and sizes;
- pass 2, only what the chosen distributions need: histograms over the pathway's [min, max]
  (CM's normal fit), distinct values and counts (``discrete``), sums of logs (``lognormal``).

Every summary merges exactly (integer sums, min/max, counts), so a fit gives the same statistics
bit for bit however the table is split or ordered.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import _draw, _exact
from .errors import OptionError, PathwayError
from .schemas import SynapseTable

__all__ = [
    "HIST_BINS",
    "MAX_DISCRETE",
    "WILDCARD_KEY",
    "conn_details",
    "conn_summary",
    "conn_table",
    "merge",
    "moments_stats",
    "syn_details",
    "syn_summary",
    "synapse_counts",
]

#: more distinct values than this and ``discrete`` is refused (connectome-manipulator's limit)
MAX_DISCRETE = 100
#: histogram bins of CM's normal fit (its ``hist_bins`` default)
HIST_BINS = 51
#: the key of the wildcard cell: every synapse (every connection)
WILDCARD_KEY = ("*", "*")
_PRE, _POST = SynapseTable.pre, SynapseTable.post


# --- pieces of a table -------------------------------------------------------------------------------


def synapse_counts(syn: pd.DataFrame, nsyns, props) -> tuple[pd.DataFrame, np.ndarray | None]:
    """The rows that stand for synapses and how many each (None: one each), from ``nsyns``."""
    if nsyns is None:
        return syn, None
    if not isinstance(nsyns, str):
        raise OptionError(f"nsyns must be a column name or None, got {nsyns!r}")
    if nsyns not in syn.columns:
        if nsyns == "nsyns":  # the default: a table of synapses
            return syn, None
        raise OptionError(
            f"nsyns={nsyns!r} is not a column of the table; pass None if every row is one synapse"
        )
    if nsyns in props:
        from .distributions import N_SYN_PER_CONN

        raise OptionError(
            f"{nsyns!r} counts the synapses each row stands for; fit {N_SYN_PER_CONN!r} (synapses "
            f"per connection) instead, or pass nsyns=None to fit {nsyns!r} as a property"
        )
    col = syn[nsyns]
    if not (pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)):
        raise PathwayError(
            f"column {nsyns!r} (synapses per row) must hold numbers, got {col.dtype}"
        )
    w = col.to_numpy(dtype="float64", na_value=1.0)  # bmtk: an edge without nsyns is 1 synapse
    bad = ~np.isfinite(w) | (w < 0) | (w != np.round(w)) | (w >= 2**53)
    if bad.any():
        raise PathwayError(
            f"column {nsyns!r} (synapses per row) must hold counts (integers >= 0); "
            f"{int(bad.sum())} rows do not, e.g. {w[bad][:3].tolist()}"
        )
    w = w.astype(np.int64)
    if (w == 1).all():
        return syn, None
    keep = w > 0
    if not keep.all():  # rows that stand for no synapse
        syn, w = syn[keep], w[keep]
    return syn, w


def _pathways(df: pd.DataFrame, by: str, types) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """The pathway (a code into the returned (src, tgt) keys) of every row."""
    (sc, sl), (tc, tl) = _draw.pathway_types(df, by, types)
    width = max(len(tl), 1)
    code, uniq = pd.factorize(sc * width + tc)
    keys = [(str(sl[u // width]), str(tl[u % width])) for u in np.asarray(uniq).tolist()]
    return np.asarray(code, dtype=np.int64), keys


def _values(df: pd.DataFrame, p: str) -> tuple[np.ndarray | None, str | None]:
    """A property's values, or None and what is wrong with them."""
    x = df[p].to_numpy()
    if x.dtype.kind not in "iuf":
        return None, f"values must be numbers (dtype {x.dtype})"
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        return None, "values must be finite (no NaN / inf)"
    return x, None


def _grouped(code: np.ndarray):
    """Rows sorted by group, the start of each group, and the groups in that order."""
    order = np.argsort(code, kind="stable")
    sorted_code = code[order]
    starts = np.flatnonzero(np.r_[True, sorted_code[1:] != sorted_code[:-1]]) if len(code) else []
    return order, np.asarray(starts, dtype=np.int64), sorted_code[starts] if len(code) else code


def _moments(x, code, n_groups, w, grouping) -> list[tuple]:
    """Per group ``(n, sum, sum of squares, min, max)`` (min/max in ``x``'s dtype)."""
    order, starts, groups = grouping
    sums = _exact.sums(x, code, n_groups, w)
    out = [(0, 0, 0, None, None)] * n_groups
    if len(x):
        xs = x[order]
        lo, hi = np.minimum.reduceat(xs, starts), np.maximum.reduceat(xs, starts)
        for g, a, b in zip(groups.tolist(), lo, hi, strict=True):
            out[g] = (*sums[g], a, b)
    return out


def _merge_moments(a: tuple, b: tuple) -> tuple:
    if a[3] is None:
        return b
    if b[3] is None:
        return a
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2], min(a[3], b[3]), max(a[4], b[4]))


def _distinct(x: np.ndarray) -> np.ndarray | None:
    """The distinct values, or None when there are more than ``MAX_DISCRETE``."""
    u = np.unique(x)
    return u if len(u) <= MAX_DISCRETE else None


def _merge_distinct(a, b):
    if a is None or b is None:
        return None
    return _distinct(np.concatenate([a, b]))


def syn_summary(
    df: pd.DataFrame, *, by: str, types, props: list[str], nsyns, group_cols
) -> tuple[dict, pd.DataFrame]:
    """Pass 1 over one piece of the table: the synapse summary and the piece's connections.

    ``props``: the synapse properties (not ``n_syn_per_conn``); ``group_cols``: the columns of
    ``interpolate`` to take from ``pre_<col>`` / ``post_<col>`` (None: not needed).
    """
    df, w = synapse_counts(df, nsyns, props)
    code, keys = _pathways(df, by, types)
    k = len(keys)
    grouping = _grouped(code)
    out = {
        "rows": len(df),
        "synapses": len(df) if w is None else int(w.sum()),
        "weighted": w is not None,
        "pathways": {key: {} for key in keys},
        "pooled": {},
        "bad": {},
        "groups": None if group_cols is None else _group_rows(df, by, group_cols),
    }
    for p in props:
        x, problem = _values(df, p)
        if problem:
            out["bad"][p] = problem
            continue
        for key, m in zip(keys, _moments(x, code, k, w, grouping), strict=True):
            out["pathways"][key][p] = m
        is_int = x.dtype.kind in "iu"
        integral = is_int or bool(np.all(np.mod(x, 1) == 0))
        out["pooled"][p] = {
            "is_int": is_int,
            "integral": integral,
            "distinct": _distinct(x) if integral else None,
        }
    return out, _conn_frame(df, code, keys, w, props)


def conn_table(df: pd.DataFrame, *, by: str, types, props: list[str], nsyns) -> pd.DataFrame:
    """The connections of one piece of the table (as `syn_summary` gives them), alone."""
    df, w = synapse_counts(df, nsyns, props)
    code, keys = _pathways(df, by, types)
    return _conn_frame(df, code, keys, w, props)


def _conn_frame(df, code, keys, w, props) -> pd.DataFrame:
    """One row per connection: pre, post, pathway, synapses and each property's min and max."""
    conn, first = _connections(df, code)
    n_conn = len(first)
    corder = np.argsort(conn, kind="stable")
    cstarts = np.flatnonzero(np.r_[True, np.diff(conn[corder]) != 0]) if len(conn) else []
    size = np.bincount(conn, minlength=n_conn) if w is None else _sum_by(conn, w, n_conn)
    frame = {
        _PRE: df[_PRE].to_numpy()[first].astype(np.int64),
        _POST: df[_POST].to_numpy()[first].astype(np.int64),
        "src": np.array([keys[c][0] for c in code[first].tolist()], dtype=object),
        "tgt": np.array([keys[c][1] for c in code[first].tolist()], dtype=object),
        "size": np.asarray(size, dtype=np.int64),
    }
    for i, p in enumerate(props):
        x, problem = _values(df, p)
        if problem:  # the synapse summary says what is wrong
            frame[f"lo{i}"] = frame[f"hi{i}"] = np.full(n_conn, np.nan)
            continue
        xs = x[corder]
        frame[f"lo{i}"] = np.minimum.reduceat(xs, cstarts) if n_conn else x[:0]
        frame[f"hi{i}"] = np.maximum.reduceat(xs, cstarts) if n_conn else x[:0]
    return pd.DataFrame(frame)


def _sum_by(code: np.ndarray, w: np.ndarray, n: int) -> np.ndarray:
    """Exact int64 sums of ``w`` per code (bincount's float64 would round above 2**53)."""
    out = np.zeros(n, dtype=np.int64)
    np.add.at(out, code, w)
    return out


def _connections(df: pd.DataFrame, code: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Connection index of every row and each connection's first row: rows of one (pre, post)
    and one pathway (a table whose type columns disagree for one neuron has one per pathway)."""
    conn, first = _draw.connections(df[_PRE].to_numpy(), df[_POST].to_numpy())
    if len(conn) and (code[first][conn] != code).any():
        conn = pd.factorize(conn * max(int(code.max()) + 1, 1) + code)[0].astype(np.int64)
        first = np.unique(conn, return_index=True)[1]
    return conn, first


def _conn_pathways(conn: pd.DataFrame) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """The pathway (a code into the returned keys) of every connection."""
    sc, su = pd.factorize(conn["src"].to_numpy())
    tc, tu = pd.factorize(conn["tgt"].to_numpy())
    width = max(len(tu), 1)
    code, uniq = pd.factorize(sc.astype(np.int64) * width + tc)
    keys = [(str(su[u // width]), str(tu[u % width])) for u in np.asarray(uniq).tolist()]
    return np.asarray(code, dtype=np.int64), keys


def conn_summary(conn: pd.DataFrame, props: list[str]) -> dict:
    """Per pathway, from connections each given once: their number, sizes, and per property the
    number of connections whose synapses differ and the summaries of the connections' values."""
    code, keys = _conn_pathways(conn)
    k = len(keys)
    grouping = _grouped(code)
    size = conn["size"].to_numpy()
    out = {
        "n_conn": dict(zip(keys, np.bincount(code, minlength=k).tolist(), strict=True)),
        "size": dict(zip(keys, _moments(size, code, k, None, grouping), strict=True)),
        "sizes": _distinct(size),
        "varying": {},
        "values": {},
    }
    for i, p in enumerate(props):
        lo, hi = conn[f"lo{i}"].to_numpy(), conn[f"hi{i}"].to_numpy()
        if lo.dtype.kind == "f" and not np.isfinite(lo).all():
            continue  # the synapse summary says what is wrong
        varying = np.bincount(code, weights=lo != hi, minlength=k).astype(np.int64).tolist()
        moments = _moments(lo, code, k, None, grouping)  # a shared value: one per connection
        for key, v, m in zip(keys, varying, moments, strict=True):
            out["varying"][(p, key)] = v
            out["values"][(p, key)] = m
    return out


def merge(a: dict | None, b: dict | None) -> dict | None:
    """Two summaries (of `syn_summary`, `conn_summary` or the details) of disjoint pieces as one."""
    if a is None:
        return b
    if b is None:
        return a
    if "pooled" in a:  # synapse summaries
        pathways = {key: dict(v) for key, v in a["pathways"].items()}
        for key, props in b["pathways"].items():
            mine = pathways.setdefault(key, {})
            for p, m in props.items():
                mine[p] = _merge_moments(mine[p], m) if p in mine else m
        pooled = dict(a["pooled"])
        for p, v in b["pooled"].items():
            if p in pooled:
                pooled[p] = {
                    "is_int": pooled[p]["is_int"] and v["is_int"],
                    "integral": pooled[p]["integral"] and v["integral"],
                    "distinct": _merge_distinct(pooled[p]["distinct"], v["distinct"])
                    if pooled[p]["integral"] and v["integral"]
                    else None,
                }
            else:
                pooled[p] = v
        groups = None
        if a["groups"] is not None:
            groups = {
                s: _first_rows(pd.concat([a["groups"][s], b["groups"][s]])) for s in a["groups"]
            }
        return {
            "rows": a["rows"] + b["rows"],
            "synapses": a["synapses"] + b["synapses"],
            "weighted": a["weighted"] or b["weighted"],
            "pathways": pathways,
            "pooled": pooled,
            "bad": {**b["bad"], **a["bad"]},
            "groups": groups,
        }
    if "n_conn" in a:  # connection summaries
        out = {
            "n_conn": _add(a["n_conn"], b["n_conn"], lambda x, y: x + y),
            "size": _add(a["size"], b["size"], _merge_moments),
            "sizes": _merge_distinct(a["sizes"], b["sizes"]),
            "varying": _add(a["varying"], b["varying"], lambda x, y: x + y),
            "values": _add(a["values"], b["values"], _merge_moments),
        }
        return out
    return _add(a, b, _merge_detail)  # details


def _add(a: dict, b: dict, combine) -> dict:
    out = dict(a)
    for key, v in b.items():
        out[key] = combine(out[key], v) if key in out else v
    return out


# --- interpolation groups: each type's grouping values, from its lowest neuron id ---------------------


def _group_rows(df: pd.DataFrame, by: str, cols: list[str]) -> dict[str, pd.DataFrame]:
    """Per side, the rows ``[id, by, *cols]`` of each type's lowest neuron id in ``df``."""
    out = {}
    for side in ("pre", "post"):
        need = [f"{side}_{c}" for c in (by, *cols)]
        long = df[[side, *need]].set_axis(["id", by, *cols], axis=1)
        out[side] = _first_rows(long)
    return out


def _first_rows(long: pd.DataFrame) -> pd.DataFrame:
    """The row of the lowest id per type (the first such row in table order)."""
    by = long.columns[1]
    return long.sort_values("id", kind="stable").drop_duplicates(by)


# --- pass 2: what the chosen distributions need ---------------------------------------------------------


def _detail(x: np.ndarray, w, what: str, lo=None, hi=None):
    if what == "hist":
        return np.histogram(x, bins=HIST_BINS, range=(lo, hi), weights=w)[0].astype(np.int64)
    if what == "vals":
        val, inv, cnt = np.unique(x, return_inverse=True, return_counts=True)
        if w is not None:
            cnt = _sum_by(inv.ravel(), w, len(val))
        return (val, cnt.astype(np.int64)) if len(val) <= MAX_DISCRETE else None
    # "log": the summaries of log(values), all positive (the request says so)
    lx = np.log(x.astype("float64"))
    return _moments(
        lx, np.zeros(len(lx), dtype=np.int64), 1, w, _grouped(np.zeros(len(lx), np.int64))
    )[0]


def _merge_detail(a, b):
    if isinstance(a, np.ndarray):  # histogram counts
        return a + b
    if a is None or b is None:  # too many distinct values
        return None
    if isinstance(a, tuple) and len(a) == 2:  # (values, counts)
        val, inv = np.unique(np.concatenate([a[0], b[0]]), return_inverse=True)
        if len(val) > MAX_DISCRETE:
            return None
        cnt = np.zeros(len(val), dtype=np.int64)
        np.add.at(cnt, inv.ravel(), np.concatenate([a[1], b[1]]))
        return val, cnt
    return _merge_moments(a, b)


def _run_requests(x, w, code, keys, requests_p, grouping) -> dict:
    """Details of one property for ``requests_p``: [(key, what, lo, hi)]."""
    order, starts, groups = grouping
    ends = np.r_[starts[1:], len(code)] if len(code) else []
    where = {
        keys[g]: (s, e) for g, s, e in zip(np.asarray(groups).tolist(), starts, ends, strict=True)
    }
    out = {}
    for key, what, lo, hi in requests_p:
        if key == WILDCARD_KEY:
            xs, ws = x, w
        elif key in where:
            rows = order[slice(*where[key])]
            xs, ws = x[rows], None if w is None else w[rows]
        else:
            continue
        out[(key, what)] = _detail(xs, ws, what, lo, hi)
    return out


def syn_details(df: pd.DataFrame, *, by: str, types, props: list[str], nsyns, requests) -> dict:
    """Pass 2 over one piece: ``requests`` {property: [(key, what, lo, hi)]} on the synapses."""
    df, w = synapse_counts(df, nsyns, props)
    code, keys = _pathways(df, by, types)
    grouping = _grouped(code)
    out = {}
    for p, reqs in requests.items():
        x = df[p].to_numpy()
        for (key, what), v in _run_requests(x, w, code, keys, reqs, grouping).items():
            out[(p, key, what)] = v
    return out


def conn_details(conn: pd.DataFrame, props: list[str], requests) -> dict:
    """Pass 2 over one piece of the connections: ``requests`` {property: [...]} on one value per
    connection (``n_syn_per_conn``: on the sizes)."""
    from .distributions import N_SYN_PER_CONN

    code, keys = _conn_pathways(conn)
    grouping = _grouped(code)
    out = {}
    for p, reqs in requests.items():
        col = "size" if p == N_SYN_PER_CONN else f"lo{props.index(p)}"
        x = conn[col].to_numpy()
        for (key, what), v in _run_requests(x, None, code, keys, reqs, grouping).items():
            out[(p, key, what)] = v
    return out


def moments_stats(m: tuple) -> tuple[float, float, float, float]:
    """(mean, population std, min, max) of a summary ``(n, sum, sum of squares, min, max)``."""
    mean, var = _exact.mean_var(m[0], m[1], m[2])
    return mean, float(np.sqrt(var)), float(m[3]), float(m[4])
