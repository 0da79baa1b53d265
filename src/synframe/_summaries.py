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
    if len(w) and float(w.max()) * len(w) >= 2**62 and sum(w.tolist()) >= 2**62:
        raise PathwayError(
            f"column {nsyns!r} (synapses per row) sums to 2**62 synapses or more: not synapse "
            "counts (pass nsyns=None if every row is one synapse)"
        )
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
    small = code.astype(np.int16) if len(code) and code.max() < 2**15 else code  # radix sort
    order = np.argsort(small, kind="stable")
    sorted_code = code[order]
    starts = np.flatnonzero(np.r_[True, sorted_code[1:] != sorted_code[:-1]]) if len(code) else []
    return order, np.asarray(starts, dtype=np.int64), sorted_code[starts] if len(code) else code


def _moments(x, code, n_groups, w, grouping, squares: bool = True) -> list[tuple]:
    """Per group ``(n, sum, sum of squares, min, max)`` (min/max in ``x``'s dtype; the sum of
    squares None without ``squares``)."""
    order, starts, groups = grouping
    sums = _exact.sums(x, code, n_groups, w, squares=squares)
    out = [(0, 0, 0, None, None)] * n_groups
    if len(x):
        xs = x[order]
        lo, hi = np.minimum.reduceat(xs, starts), np.maximum.reduceat(xs, starts)
        if xs.dtype.kind == "f":  # one zero: -0.0 and 0.0 compare equal, the first would win
            lo, hi = lo + xs.dtype.type(0), hi + xs.dtype.type(0)
        for g, a, b in zip(groups.tolist(), lo, hi, strict=True):
            out[g] = (*sums[g], a, b)
    return out


def _merge_moments(a, b):
    if isinstance(a, str) or isinstance(b, str):  # "varies": the connections' values unused
        return "varies"
    if a[3] is None:
        return b
    if b[3] is None:
        return a
    s2 = None if a[2] is None or b[2] is None else a[2] + b[2]
    return (a[0] + b[0], a[1] + b[1], s2, min(a[3], b[3]), max(a[4], b[4]))


def _small_range(x: np.ndarray):
    """``x``'s min when its values are whole numbers within 2**20 of it (counted by bincount)."""
    if not len(x):
        return None
    lo, hi = x.min(), x.max()
    if not (float(hi) - float(lo) < 2**20 and (x.dtype.kind in "iu" or np.all(np.mod(x, 1) == 0))):
        return None
    return lo


def _counts(x: np.ndarray, w=None):
    """(distinct values, their counts or ``w`` sums): by bincount for small whole numbers."""
    lo = _small_range(x)
    if lo is None:
        val, inv, cnt = np.unique(x, return_inverse=True, return_counts=True)
        return val, (cnt if w is None else _sum_by(inv.ravel(), w, len(val)))
    offset = (x - lo).astype(np.int64)
    cnt = np.bincount(offset) if w is None else _sum_by(offset, w, int(offset.max()) + 1)
    seen = np.flatnonzero(cnt if w is None else np.bincount(offset))
    return (seen + lo).astype(x.dtype), np.asarray(cnt[seen], dtype=np.int64)


def _distinct(x: np.ndarray) -> np.ndarray | None:
    """The distinct values, or None when there are more than ``MAX_DISCRETE``."""
    u = _counts(x)[0] if _small_range(x) is not None else np.unique(x)
    return u if len(u) <= MAX_DISCRETE else None


def _merge_distinct(a, b):
    if a is None or b is None:
        return None
    return _distinct(np.concatenate([a, b]))  # only counted: the zero's sign does not matter


def _extras(out: dict, p: str, x, w, keys, grouping, mode: str | None) -> None:
    """Values/counts (``discrete``) or log summaries (``lognormal``) per group, when the property's
    distribution needs them (``mode``: "vals", "log", "auto": values/counts if integers)."""
    if mode is None:
        return
    what = "log" if mode == "log" else "vals"
    if mode == "auto" and not (x.dtype.kind in "iu" or np.all(np.mod(x, 1) == 0)):
        for key in keys:  # not integers anywhere: never discrete
            out[(p, key, what)] = None
        return
    order, starts, groups = grouping
    if not len(order):
        return
    ends = np.r_[starts[1:], len(order)]
    for g, a, b in zip(np.asarray(groups).tolist(), starts.tolist(), ends.tolist(), strict=True):
        rows = order[a:b]
        xs, ws = x[rows], None if w is None else w[rows]
        positive = what == "vals" or xs.min() > 0
        out[(p, keys[g], what)] = _detail(xs, ws, what) if positive else None


def syn_summary(
    df: pd.DataFrame, *, by: str, types, props: list[str], nsyns, group_cols, want
) -> tuple[dict, Connections]:
    """Pass 1 over one piece of the table: the synapse summary and the piece's connections.

    ``props``: the synapse properties (not ``n_syn_per_conn``); ``group_cols``: the columns of
    ``interpolate`` to take from ``pre_<col>`` / ``post_<col>`` (None: not needed); ``want``:
    property -> what its distribution needs beyond moments ("vals", "log", "auto" or None).
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
        "extra": {},
        "groups": None if group_cols is None else _group_rows(df, by, group_cols),
    }
    for p in props:
        x, problem = _values(df, p)
        if problem:
            out["bad"][p] = problem
            continue
        mode, squares = want.get(p, (None, True))
        for key, m in zip(keys, _moments(x, code, k, w, grouping, squares), strict=True):
            out["pathways"][key][p] = m
        is_int = x.dtype.kind in "iu"
        integral = is_int or bool(np.all(np.mod(x, 1) == 0))
        out["pooled"][p] = {
            "is_int": is_int,
            "integral": integral,
            "distinct": _distinct(x) if integral else None,
        }
        _extras(out["extra"], p, x, w, keys, grouping, mode)
    return out, Connections(df, code, keys, w, props)


def conn_table(df: pd.DataFrame, *, by: str, types, props: list[str], nsyns) -> Connections:
    """The connections of one piece of the table (as `syn_summary` gives them), alone."""
    df, w = synapse_counts(df, nsyns, props)
    code, keys = _pathways(df, by, types)
    return Connections(df, code, keys, w, props)


def _sum_by(code: np.ndarray, w: np.ndarray, n: int) -> np.ndarray:
    """Exact int64 sums of ``w`` per code (bincount's float64 would round above 2**53)."""
    out = np.zeros(n, dtype=np.int64)
    np.add.at(out, code, w)
    return out


def _connections(df: pd.DataFrame, code: np.ndarray):
    """Connection index of every row, each connection's first row, and the rows in connection
    order: rows of one (pre, post) and one pathway (a table whose type columns disagree for one
    neuron has one connection per pathway)."""
    conn, first, order = _draw.connections(
        df[_PRE].to_numpy(), df[_POST].to_numpy(), with_order=True
    )
    if len(conn) and (code[first][conn] != code).any():
        conn = pd.factorize(conn * max(int(code.max()) + 1, 1) + code)[0].astype(np.int64)
        first = np.unique(conn, return_index=True)[1]
        order = np.argsort(conn, kind="stable")
    return conn, first, order


class Connections:
    """One row per connection of a piece of the table: ``pre``, ``post``, ``src``, ``tgt``,
    ``size`` (synapses) and, for property ``i``, ``lo{i}`` / ``hi{i}`` (its min and max over
    the connection's synapses), computed when asked for, one property at a time (the table's
    columns are not copied); `frame` gives every column (to send a piece elsewhere)."""

    def __init__(self, df: pd.DataFrame, code, keys, w, props: list[str]) -> None:
        conn, first, self._order = _connections(df, code)
        self._n = len(first)
        self._starts = (
            np.flatnonzero(np.r_[True, np.diff(conn[self._order]) != 0]) if len(conn) else []
        )
        size = np.bincount(conn, minlength=self._n) if w is None else _sum_by(conn, w, self._n)
        first_code = code[first]
        self.columns = {
            _PRE: df[_PRE].to_numpy()[first].astype(np.int64),
            _POST: df[_POST].to_numpy()[first].astype(np.int64),
            "src": np.array([s for s, _ in keys] or [""], dtype=object)[first_code],
            "tgt": np.array([t for _, t in keys] or [""], dtype=object)[first_code],
            "size": np.asarray(size, dtype=np.int64),
        }
        self._df, self._props = df, props
        self._last: tuple = (None, None, None)

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, name: str) -> np.ndarray:
        if name in self.columns:
            return self.columns[name]
        side, i = name[:2], int(name[2:])
        if self._last[0] != i:
            self._last = (i, *self._min_max(i))
        return self._last[1] if side == "lo" else self._last[2]

    def _min_max(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        x, problem = _values(self._df, self._props[i])
        if problem:  # the synapse summary says what is wrong
            nan = np.full(self._n, np.nan)
            return nan, nan
        if not self._n:
            return x[:0], x[:0]
        xs = x[self._order]
        return np.minimum.reduceat(xs, self._starts), np.maximum.reduceat(xs, self._starts)

    def frame(self) -> pd.DataFrame:
        cols = dict(self.columns)
        for i in range(len(self._props)):
            cols[f"lo{i}"], cols[f"hi{i}"] = self._min_max(i)
        return pd.DataFrame(cols)


def _conn_pathways(conn) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """The pathway (a code into the returned keys) of every connection."""
    sc, su = pd.factorize(np.asarray(conn["src"]))
    tc, tu = pd.factorize(np.asarray(conn["tgt"]))
    width = max(len(tu), 1)
    code, uniq = pd.factorize(sc.astype(np.int64) * width + tc)
    keys = [(str(su[u // width]), str(tu[u % width])) for u in np.asarray(uniq).tolist()]
    return np.asarray(code, dtype=np.int64), keys


def conn_summary(conn, props: list[str], want) -> dict:
    """Per pathway, from connections each given once (a dict of columns or a DataFrame): their
    number, sizes, and per property the number of connections whose synapses differ and the
    summaries of the connections' values (``want``: as for `syn_summary`, ``n_syn_per_conn``
    for the sizes)."""
    from .distributions import N_SYN_PER_CONN

    code, keys = _conn_pathways(conn)
    k = len(keys)
    grouping = _grouped(code)
    size = np.asarray(conn["size"])
    mode, squares = want.get(N_SYN_PER_CONN, (None, True))
    out = {
        "n_conn": dict(zip(keys, np.bincount(code, minlength=k).tolist(), strict=True)),
        "size": dict(zip(keys, _moments(size, code, k, None, grouping, squares), strict=True)),
        "sizes": _distinct(size),
        "varying": {},
        "values": {},
        "extra": {},
    }
    _extras(out["extra"], N_SYN_PER_CONN, size, None, keys, grouping, mode)
    for i, p in enumerate(props):
        lo, hi = conn[f"lo{i}"], conn[f"hi{i}"]
        lo, hi = np.asarray(lo), np.asarray(hi)
        if lo.dtype.kind == "f" and not np.isfinite(lo).all():
            continue  # the synapse summary says what is wrong
        varying = np.bincount(code, weights=lo != hi, minlength=k).astype(np.int64)
        # a shared value, one per connection: only where no connection varies (else unused)
        steady = varying[code] == 0
        sub = grouping if steady.all() else _grouped(code[steady])
        lo_s, code_s = (lo, code) if steady.all() else (lo[steady], code[steady])
        mode, squares = want.get(p, (None, True))
        moments = _moments(lo_s, code_s, k, None, sub, squares)
        for key, v, m in zip(keys, varying.tolist(), moments, strict=True):
            out["varying"][(p, key)] = v
            out["values"][(p, key)] = m if v == 0 else "varies"
        _extras(out["extra"], p, lo_s, None, keys, sub, mode)
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
                both = pooled[p]["integral"] and v["integral"]
                pooled[p] = {
                    "is_int": pooled[p]["is_int"] and v["is_int"],
                    "integral": both,
                    "distinct": _merge_distinct(pooled[p]["distinct"], v["distinct"])
                    if both
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
            "extra": _add(a["extra"], b["extra"], _merge_detail),
            "groups": groups,
        }
    if "n_conn" in a:  # connection summaries
        return {
            "n_conn": _add(a["n_conn"], b["n_conn"], lambda x, y: x + y),
            "size": _add(a["size"], b["size"], _merge_moments),
            "sizes": _merge_distinct(a["sizes"], b["sizes"]),
            "varying": _add(a["varying"], b["varying"], lambda x, y: x + y),
            "values": _add(a["values"], b["values"], _merge_moments),
            "extra": _add(a["extra"], b["extra"], _merge_detail),
        }
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
        val, cnt = _counts(x, w)
        if val.dtype.kind == "f":  # one zero (np.unique keeps the first of -0.0 and 0.0)
            val = val + val.dtype.type(0)
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


def conn_details(conn, props: list[str], requests) -> dict:
    """Pass 2 over one piece of the connections: ``requests`` {property: [...]} on one value per
    connection (``n_syn_per_conn``: on the sizes)."""
    from .distributions import N_SYN_PER_CONN

    code, keys = _conn_pathways(conn)
    grouping = _grouped(code)
    out = {}
    for p, reqs in requests.items():
        col = "size" if p == N_SYN_PER_CONN else f"lo{props.index(p)}"
        x = np.asarray(conn[col])
        for (key, what), v in _run_requests(x, None, code, keys, reqs, grouping).items():
            out[(p, key, what)] = v
    return out


def moments_stats(m: tuple) -> tuple[float, float, float, float]:
    """(mean, population std, min, max) of a summary ``(n, sum, sum of squares, min, max)``."""
    mean = _exact.mean_var(m[0], m[1], None)[0]
    return mean, _exact.std(m[0], m[1], m[2]), float(m[3]), float(m[4])
