"""``fit_pathway_stats``: estimate pathway statistics from an existing synapse table.

One module, though over 450 lines: the fit is one pipeline (extract per pathway, choose the
distribution, fill sparse pathways by interpolation, build specs) whose helpers each mirror one step
of connectome-manipulator's ``conn_props``; nothing else uses them.

The estimates are connectome-manipulator 1.0.4's (``model_building/conn_props.py``): ``extract``
computes, per pathway with enough connections, the mean, population std (``ddof=0``), min, max,
histogram-fitted normal loc/scale, discrete values/counts and ``shared_within`` of every property
(one value per connection when shared); ``build`` fills pathways without enough data (averaging the
statistics of less specific groupings when ``interpolate`` is given) and turns the statistics into
specs of the chosen types, with optional ``dtype`` and bounds. The same circuit gives the same
model (``tests/test_cm_compat.py`` compares with CM's output on the nbS1 test circuit).

The table is read through `synframe._summaries` (per pathway: exact sums, min/max, value counts;
per connection: sizes and min/max), the same summaries `synframe.dask.fit_pathway_stats` merges
across partitions, so both give the same model bit for bit.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from . import _progress
from . import _summaries as sm
from ._summaries import HIST_BINS, MAX_DISCRETE, WILDCARD_KEY
from ._validation import run_schema, stage_schema
from .distributions import DISTRIBUTIONS, N_SYN_PER_CONN
from .errors import OptionError, PathwayError, format_problems
from .pathways import pathway_stats

__all__ = ["fit_pathway_stats"]

log = logging.getLogger("synframe")

#: the statistics averaged (nanmean) when a pathway is interpolated
_MEANS = ("mean", "std", "norm_loc", "norm_scale", "log_mean", "log_std")


# --- extract: statistics of one pathway --------------------------------------------------------------


def _cm_norm_fit(counts: np.ndarray, edges: np.ndarray, mean: float, std: float):
    """Normal loc/scale fitted to a 51-bin histogram as CM's ``_norm_fitting`` does.

    A least-squares fit of ``scale_factor * N(loc, scale).pdf`` to the ``counts`` (bin centres;
    loc within their range; at most 30 evaluations); ``mean``/``std`` when the fit fails or a
    coefficient's relative standard error exceeds 0.5. The histogram is CM's:
    ``np.histogram(values, bins=51)`` (synapses counted ``nsyns`` times).
    """
    from scipy import optimize, stats

    centers = [np.mean(edges[i : i + 2]) for i in range(len(counts))]

    def pdf(v, loc, scale, factor):
        return factor * stats.norm(loc=loc, scale=scale).pdf(v)

    p0 = [np.mean(centers), 1.0, 1.0]
    bounds = [[min(centers), 0, 0], [max(centers), np.inf, np.inf]]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # OptimizeWarning etc.: judged by the error threshold
        try:
            popt, pcov, *_ = optimize.curve_fit(
                pdf, centers, counts, p0=p0, bounds=bounds, max_nfev=30
            )
        except (ValueError, RuntimeError):
            return mean, std
        rel_err = np.sqrt(np.diag(pcov)) / np.array(popt)
    if not all(np.isfinite(rel_err)) or max(rel_err) > 0.5:
        return mean, std
    return float(popt[0]), float(popt[1])


def _log_mass(a: float, b: float, width: float) -> float:
    """log(Phi(b) - Phi(a)) for a < b (``width``: b - a, exact), without cancellation: with erf
    across 0, log tails on one side (upper tails mirrored), and density times width when a and b
    are too close for the tails to tell apart (a far, flat fit)."""
    from scipy import special

    if a < 0 < b:
        return float(np.log(0.5 * (special.erf(b / np.sqrt(2)) - special.erf(a / np.sqrt(2)))))
    if a >= 0:
        a, b = -b, -a
    la, lb = float(special.log_ndtr(a)), float(special.log_ndtr(b))
    if la - lb < -1e-9:
        return lb + float(np.log1p(-np.exp(la - lb)))
    return -0.5 * b * b - 0.5 * np.log(2 * np.pi) + float(np.log(width))


def _truncnorm_mle(n: int, mean: float, sd: float, lo: float, hi: float) -> tuple[float, float]:
    """Maximum-likelihood loc/scale of a normal truncated to [lo, hi] (bounds fixed), from the
    values' count, mean and population std (sufficient statistics of the normal).

    Fitted in standard units of the data (``(x - mean) / sd``: the likelihood's maximum moves
    with the data, and values of any magnitude stay within float64), then scaled back.
    """
    from scipy import optimize

    if sd == 0 or lo == hi or not np.isfinite(sd):
        return mean, 0.0
    a0, b0 = (lo - mean) / sd, (hi - mean) / sd

    def nll(theta):
        loc, log_scale = theta
        if not -700 < log_scale < 700:
            return np.inf
        scale = np.exp(log_scale)
        z = _log_mass((a0 - loc) / scale, (b0 - loc) / scale, (b0 - a0) / scale)
        # per value: -log pdf = 0.5 ((x - loc) / scale)**2 + log scale + log mass; summed over
        # values in standard units, sum (x - loc)**2 = n (1 + loc**2)
        return n * (0.5 * (1.0 + loc**2) / scale**2 + log_scale + z)

    with np.errstate(all="ignore"):
        res = optimize.minimize(
            nll,
            x0=[0.0, 0.0],
            method="Nelder-Mead",
            options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 4000},
        )
    loc, scale = float(res.x[0]), float(np.exp(res.x[1]))
    with np.errstate(all="ignore"):
        return mean + sd * loc, sd * scale


def _extract(m: tuple, shared: bool | None, kind: str, truncnorm_fit: str, detail) -> dict:
    """CM's statistics of one pathway from the summary ``m`` of its values (one per connection
    when shared) and the ``detail`` its kind asked for (histogram, values/counts, log summary)."""
    mean, std, lo, hi = sm.moments_stats(m)
    out = {"mean": mean, "std": std, "min": lo, "max": hi,
           "shared_within": np.nan if shared is None else float(shared)}  # fmt: skip
    if kind == "truncnorm":
        if truncnorm_fit == "mle":
            out["norm_loc"], out["norm_scale"] = _truncnorm_mle(m[0], mean, std, lo, hi)
        else:
            edges = np.histogram_bin_edges(
                np.empty(0, dtype=np.asarray(m[3]).dtype), bins=HIST_BINS, range=(m[3], m[4])
            )
            out["norm_loc"], out["norm_scale"] = _cm_norm_fit(detail, edges, mean, std)
    if kind == "discrete":
        out["val"], out["cnt"] = ([], []) if detail is None else detail
    if kind == "lognormal":
        out["log_mean"], out["log_std"] = (
            sm.moments_stats(detail)[:2] if detail is not None else (np.nan, np.nan)
        )
    return out


def wants(props: Sequence[str], given: Mapping[str, str]) -> dict:
    """What each property's distribution needs, gathered in the first read: ``(extra,
    squares)``: values/counts for ``discrete`` ("vals"; "auto": when integers, as an automatic
    type may be discrete), log summaries for ``lognormal``, or None; and whether it needs a
    spread (sums of squares). (Histograms need the range first: a second read.)"""
    out = {}
    for p in props:
        kind = given.get(p)
        extra = "auto" if kind is None else {"discrete": "vals", "lognormal": "log"}.get(kind)
        out[p] = (extra, kind in (None, "normal", "gamma", "truncnorm"))
    return out


# --- interpolate: CM's levels of less specific groupings ----------------------------------------------


def _merge_uniq(vals, cnts) -> tuple[np.ndarray, np.ndarray]:
    """Discrete values/counts of several cells merged (empty / missing cells skipped), as CM."""
    keep = [
        (v, c)
        for v, c in zip(vals, cnts, strict=True)
        if (len(v) > 0 if hasattr(v, "__iter__") else np.isfinite(v))
    ]
    if not keep:
        return np.array([]), np.array([], dtype=np.int64)
    allv = np.hstack([k[0] for k in keep])
    allc = np.hstack([k[1] for k in keep])
    uniq, inv = np.unique(allv, return_inverse=True)
    counts = np.zeros(len(uniq), dtype=np.int64)
    np.add.at(counts, inv, allc.astype(np.int64))
    return uniq, counts


def _levels(groups_src: np.ndarray, groups_tgt: np.ndarray):
    """CM's interpolation levels for grouping columns (finest first), as (src, tgt) keys per type.

    With k columns: (same source type, targets sharing columns i..k) for i < k, then (sources and
    targets sharing columns i..k) for i <= k (the last: all). CM's ``["layer", "synapse_class"]``
    gives its 5 levels.
    """
    k = groups_src.shape[1]
    src_exact = np.arange(len(groups_src)).astype(str)[:, None]
    levels = []
    for i in range(k):
        levels.append((src_exact, groups_tgt[:, i:]))
    for i in range(k + 1):
        levels.append((groups_src[:, i:], groups_tgt[:, i:]))
    return levels


def _interpolate(data: dict, present: np.ndarray, groups_src, groups_tgt, quirk_vals: bool):
    """Fill missing pathways of the statistics arrays ``data`` (one property) as CM's ``build``.

    ``data`` maps statistic -> (n_src, n_tgt) array (object arrays for ``val``/``cnt``). Returns the
    model arrays and the level used per missing pathway. ``quirk_vals``: merge discrete values from
    the model arrays being filled (cells interpolated earlier count again), as CM 1.0.4 does for
    synapse properties (for ``n_syn_per_conn`` it merges the data only).
    """
    model = {k: v.copy() for k, v in data.items()}
    levels = _levels(groups_src, groups_tgt)
    used = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks (e.g. log of <= 0)
        for s, t in np.argwhere(~present):  # row-major, as CM's np.where(...).T
            used[(int(s), int(t))] = _fill(data, model, present, levels, s, t, quirk_vals)
    return model, used


def _fill(data, model, present, levels, s, t, quirk_vals) -> int:
    """Interpolate one missing pathway (s, t) of ``model``; returns the level used."""
    level = 0
    for level, (ks, kt) in enumerate(levels):  # noqa: B007 - the level found is returned
        src_sel = np.flatnonzero((ks == ks[s]).all(axis=1))
        tgt_sel = np.flatnonzero((kt == kt[t]).all(axis=1))
        if present[np.ix_(src_sel, tgt_sel)].any():
            break
    block = np.ix_(src_sel, tgt_sel)
    for key in _MEANS:
        if key in data:
            model[key][s, t] = np.nanmean(data[key][block])
    model["min"][s, t] = np.nanmin(data["min"][block])
    model["max"][s, t] = np.nanmax(data["max"][block])
    if "shared_within" in data and np.isfinite(data["shared_within"][block]).any():
        model["shared_within"][s, t] = bool(
            np.round(np.nanmean(data["shared_within"][block]))
        )  # majority vote
    if "val" in data:
        src_v = model if quirk_vals else data
        vals = [src_v["val"][a, b] for a in src_sel for b in tgt_sel]
        cnts = [src_v["cnt"][a, b] for a in src_sel for b in tgt_sel]
        model["val"][s, t], model["cnt"][s, t] = _merge_uniq(vals, cnts)
    return level


# --- build: statistics -> specs -----------------------------------------------------------------------


def _spec(kind: str, st: dict, *, structural: bool) -> dict:
    """The spec of ``kind`` from one cell's statistics (CM's ``build``); raises PathwayError."""
    spec: dict = {"type": kind}
    if kind in ("constant", "poisson", "ztpoisson", "exponential"):
        spec["mean"] = st["mean"]
    elif kind in ("normal", "gamma"):
        if kind == "gamma" and not (st["mean"] > 0 and st["min"] >= 0):
            raise PathwayError(
                f"gamma needs positive values (mean {st['mean']:.6g}, min {st['min']:.6g})"
            )
        spec["mean"], spec["std"] = st["mean"], st["std"]
    elif kind == "truncnorm":
        spec.update(
            norm_loc=st["norm_loc"], norm_scale=st["norm_scale"], min=st["min"], max=st["max"]
        )
    elif kind == "discrete":
        val, cnt = st["val"], np.asarray(st["cnt"])
        if len(val) == 0:
            raise PathwayError(
                f"more than {MAX_DISCRETE} distinct values: too many for 'discrete'; use a "
                "continuous type"
            )
        spec["val"] = np.asarray(val).tolist()
        spec["p"] = (cnt / np.sum(cnt)).tolist()
    elif kind == "lognormal":
        if not np.isfinite(st["log_mean"]):
            raise PathwayError("lognormal needs positive values")
        spec["mean"], spec["std"] = st["log_mean"], st["log_std"]
    elif kind == "uniform":
        spec["min"], spec["max"] = st["min"], st["max"]
    if kind == "ztpoisson" and st["min"] < 1:
        raise PathwayError(f"ztpoisson needs values >= 1 (min {st['min']:.6g})")
    if kind == "exponential" and not st["mean"] > 0:
        raise PathwayError("exponential needs a positive mean")
    if not structural:
        spec["shared_within"] = False if kind == "zero" else bool(st["shared_within"])
    return spec


def _auto_kind(lo, hi, is_int: bool, integral: bool, distinct) -> tuple[str, str, bool]:
    """A type for values in [lo, hi] that respects their support: (type, reason, data bounds?).

    ``integral``: every value is a whole number; ``distinct``: the distinct values (None: more than
    ``MAX_DISCRETE``).
    """
    if lo == hi:
        return "constant", "one value", False
    if (is_int or integral) and distinct is not None:
        return "discrete", "integer values", False
    if lo >= 0 and hi > 0:
        return "gamma", "non-negative values", True
    return "normal", "values of both signs", True


def _arrays(cells: list[tuple[int, int, dict]], shape: tuple[int, int]) -> dict:
    """CM's layout: one (n_src, n_tgt) array per statistic, NaN where a pathway has no data."""
    data: dict = {}
    for i, j, st in cells:
        for key, val in st.items():
            if key not in data:
                kind = object if key in ("val", "cnt") else "float64"
                data[key] = np.full(shape, np.nan, dtype=kind)
            data[key][i, j] = val
    return data


def _check_option(name: str, value, allowed) -> None:
    if value not in allowed:
        raise OptionError(f"{name} must be one of {list(allowed)}, got {value!r}")


def _group_columns(columns, by, types, interpolate) -> list[str] | None:
    """The ``interpolate`` columns to read from the table's ``pre_<col>`` / ``post_<col>``
    (None: nothing to read: no interpolation, a DataFrame of groups, or ``types`` has them)."""
    if interpolate is None or isinstance(interpolate, pd.DataFrame):
        return None
    cols = [interpolate] if isinstance(interpolate, str) else [str(c) for c in interpolate]
    if not cols:
        raise OptionError("interpolate needs grouping columns, e.g. ('layer', 'synapse_class')")
    if isinstance(types, pd.DataFrame) and by in types and all(c in types for c in cols):
        return None
    need = [f"{side}_{c}" for side in ("pre", "post") for c in (by, *cols)]
    lacking = [c for c in need if c not in columns]
    if lacking:
        raise OptionError(
            f"interpolate={cols}: no columns {lacking}; annotate the table "
            f"(sf.annotate(..., columns={cols!r})) or pass interpolate= a DataFrame "
            f"indexed by {by} with columns {cols}"
        )
    return cols


def _group_table(by, types, groups, src_types, tgt_types, rows) -> tuple[np.ndarray, np.ndarray]:
    """(n_src, k) and (n_tgt, k) string arrays: each type's values of the grouping columns.

    From a DataFrame indexed by type, from ``types``, or per side from ``rows`` (the rows of
    each type's lowest neuron id in the table, of the summary). A type whose neurons differ (an
    ``L23`` mtype in layers 2 and 3) takes the values of its lowest neuron id, as CM takes its
    first node's.
    """
    if isinstance(groups, pd.DataFrame):
        table = groups.copy()
        table.index = table.index.astype(str)
        cols = [str(c) for c in table.columns]
        tables = (table, table)
    else:
        cols = [groups] if isinstance(groups, str) else [str(c) for c in groups]
        if rows is None:  # types has them
            from ._ids import id_column_of

            idc = id_column_of(types, None)
            long = types[[idc, by, *cols]].set_axis(["id", by, *cols], axis=1)
            rows = {side: long.sort_values("id", kind="stable").drop_duplicates(by)
                    for side in ("pre", "post")}  # fmt: skip
        tables = [rows[side].astype({by: str}).set_index(by)[cols].astype(str)
                  for side in ("pre", "post")]  # fmt: skip
    out = []
    for names, table in zip((src_types, tgt_types), tables, strict=True):
        lacking = [t for t in names if t not in table.index]
        if lacking:
            raise PathwayError(
                f"no {cols} for types {lacking[:5]}: pass interpolate= a DataFrame indexed by {by}"
            )
        out.append(table.loc[list(names), cols].to_numpy(dtype=str).reshape(len(names), len(cols)))
    return out[0], out[1]


def _bound_pair(pair) -> tuple | None:
    """A bounds value as (lower, upper) floats or None, or None when it is not such a pair."""
    if not isinstance(pair, (list, tuple, np.ndarray)) or len(pair) != 2:
        return None
    out = []
    for v in list(pair):
        if v is None:
            out.append(None)
            continue
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.number)):
            return None
        try:
            f = float(v)
        except (OverflowError, TypeError, ValueError):
            return None
        if np.isnan(f):
            return None
        out.append(f)
    return tuple(out)


def _check_per_property(props, given: Mapping, bounds, dtypes) -> None:
    """``{property: ...}`` options name fitted properties and hold what they should."""
    problems, crossed = [], []
    for name, per in (("distributions", given), ("bounds", bounds), ("dtypes", dtypes)):
        if isinstance(per, Mapping):  # CM's model configs cover more properties than one fit
            unknown = [k for k in per if k not in props]
            if unknown:
                log.warning(
                    "fit_pathway_stats: %s names %s, not among the properties fitted (%s): "
                    "ignored -- a typo?", name, unknown, props,
                )  # fmt: skip
    if isinstance(bounds, Mapping):
        for p, pair in bounds.items():
            if pair is None:  # CM's data_bounds.get(prop): none for this property
                continue
            values = _bound_pair(pair)
            if values is None:
                problems.append(
                    f"bounds[{p!r}] must be (lower, upper), each a number or None, got {pair!r}"
                )
                continue
            lo, hi = values
            if lo is not None and hi is not None and lo > hi:
                crossed.append(f"bounds[{p!r}] has lower_bound {lo} above upper_bound {hi}")
            if lo == np.inf or hi == -np.inf:
                crossed.append(
                    f"bounds[{p!r}] = {pair!r}: a lower_bound of +inf or an upper_bound of -inf "
                    "makes every value infinite"
                )
    if dtypes is not None and not isinstance(dtypes, Mapping):
        problems.append(f"dtypes must be {{property: dtype name}} or None, got {dtypes!r}")
    elif isinstance(dtypes, Mapping):
        for p, dt in dtypes.items():
            if dt is None:  # CM's data_types.get(prop): none for this property
                continue
            try:
                kind = np.dtype(dt).kind if isinstance(dt, str) else None
            except TypeError:
                kind = None
            if kind not in ("i", "u", "f"):
                problems.append(
                    f"dtypes[{p!r}] must be a numeric numpy dtype name like 'int', 'int32' or "
                    f"'float', got {dt!r}"
                )
    if problems:
        raise OptionError(format_problems("fit_pathway_stats options", problems))
    if crossed:  # a model no distribution satisfies, as the cells' validation says it
        raise PathwayError(format_problems("fit_pathway_stats bounds", crossed))


def fit_options(
    table, *, by, properties, types, distributions, min_connections, bounds, dtypes,
    interpolate, src_types, tgt_types, truncnorm_fit, nsyns, progress,
) -> dict:  # fmt: skip
    """The table (a pandas table, or a dask table's meta) and the options of a fit checked
    before any work, for pandas and dask alike; what the summaries and `fit_from_summaries`
    take from them."""
    run_schema(
        table,
        stage_schema("synapses", unique_ids=False),
        "SynapseTable (input of fit_pathway_stats)",
    )
    columns = table.columns
    _check_option("truncnorm_fit", truncnorm_fit, ("histogram", "mle"))
    if isinstance(min_connections, bool) or not isinstance(min_connections, (int, np.integer)):
        raise OptionError(f"min_connections must be an int >= 1, got {min_connections!r}")
    if min_connections < 1:
        raise OptionError(f"min_connections must be >= 1, got {min_connections}")
    props = [properties] if isinstance(properties, str) else list(dict.fromkeys(properties))
    if not props:
        raise OptionError("properties is empty: name the columns to fit")
    missing_cols = [p for p in props if p != N_SYN_PER_CONN and p not in columns]
    if missing_cols:
        raise PathwayError(f"properties {missing_cols} are not columns of the table")
    if distributions is None:
        given: dict = {}
    elif isinstance(distributions, str):
        given = dict.fromkeys(props, distributions)
    elif isinstance(distributions, Mapping):
        given = dict(distributions)
    else:
        raise OptionError(
            f"distributions must be a type name or {{property: type}}, got {distributions!r}"
        )
    unknown = sorted({k for k in given.values() if k not in DISTRIBUTIONS}, key=str)
    if unknown:
        raise PathwayError(
            f"unknown distribution type(s) {unknown}; use one of {sorted(DISTRIBUTIONS)}"
        )
    if not (bounds is None or bounds == "data" or isinstance(bounds, Mapping)):
        raise OptionError(f"bounds must be None, 'data' or {{property: (lo, hi)}}, got {bounds!r}")
    _check_per_property(props, given, bounds, dtypes)
    for name, listed in (("src_types", src_types), ("tgt_types", tgt_types)):
        if isinstance(listed, (str, bytes)) or not (listed is None or hasattr(listed, "__iter__")):
            raise OptionError(f"{name} must be a list of types (e.g. [{listed!r}]), got {listed!r}")
    if not isinstance(by, str) or not by:
        raise OptionError(
            f"by must be the pathway property (a column name such as 'synapse_class'), got {by!r}"
        )
    syn_props = [p for p in props if p != N_SYN_PER_CONN]
    sm.synapse_counts(table.iloc[:0], nsyns, props)  # the nsyns option, before any work
    return {
        "props": props,
        "syn_props": syn_props,
        "given": given,
        "group_cols": _group_columns(columns, by, types, interpolate),
        "progress": bool(progress) if isinstance(progress, np.bool_) else progress,
        "piece": {"by": by, "types": types, "props": syn_props, "nsyns": nsyns},
        "want": wants(props, given),
        "fit": {"by": by, "types": types, "min_connections": min_connections, "bounds": bounds,
                "dtypes": dtypes, "interpolate": interpolate, "src_types": src_types,
                "tgt_types": tgt_types, "truncnorm_fit": truncnorm_fit, "nsyns": nsyns},
    }  # fmt: skip


def _type_lists(summary: dict, conns: dict, src_types, tgt_types):
    seen = set(summary["pathways"]) | set(conns["n_conn"])
    seen_src = sorted({s for s, _ in seen})
    seen_tgt = sorted({t for _, t in seen})
    src_list = seen_src if src_types is None else [str(s) for s in src_types]
    tgt_list = seen_tgt if tgt_types is None else [str(t) for t in tgt_types]
    for name, seen_, listed in (("src", seen_src, src_list), ("tgt", seen_tgt, tgt_list)):
        extra = [t for t in seen_ if t not in listed]
        if extra:
            raise PathwayError(f"{name} types {extra} are in the table but not in {name}_types")
        if len(set(listed)) != len(listed):
            raise OptionError(f"{name}_types has duplicates")
    return src_list, tgt_list


def _all(summaries) -> tuple:
    out = (0, 0, 0, None, None)
    for m in summaries:
        out = sm._merge_moments(out, m)
    return out


def _extra(found: dict, p: str, key, what: str | None):
    """The values/counts or log summary of ``p`` over a pathway, or over all (wildcard)."""
    if what is None:
        return None
    if key != WILDCARD_KEY:
        return found.get((p, key, what))
    out, first = None, True
    for (q, _, w), v in found.items():
        if q == p and w == what:
            out, first = (v if first else sm._merge_detail(out, v)), False
    return out


def _cells_of(p, structural, keys, summary, conns, what):
    """Per key (pathway or wildcard): (summary of the values the fit uses, shared, on
    connections?, their values/counts or log summary when ``what`` asks)."""
    out = {}
    for key in keys:
        if structural:
            m = conns["size"][key] if key != WILDCARD_KEY else _all(conns["size"].values())
            out[key] = (m, None, True, _extra(conns["extra"], p, key, what))
            continue
        if key == WILDCARD_KEY:
            syn_m = _all(v[p] for v in summary["pathways"].values() if p in v)
            conn_m = _all(v for (q, _), v in conns["values"].items() if q == p)
            n_conn = sum(conns["n_conn"].values())
            varying = sum(v for (q, _), v in conns["varying"].items() if q == p)
        else:
            syn_m, conn_m = summary["pathways"][key][p], conns["values"][(p, key)]
            n_conn, varying = conns["n_conn"][key], conns["varying"][(p, key)]
        # one constant over a pathway of several connections is not taken as shared (CM's rule)
        shared = False if n_conn > 1 and syn_m[3] == syn_m[4] else varying == 0
        if shared:
            out[key] = (conn_m, True, True, _extra(conns["extra"], p, key, what))
        else:
            out[key] = (syn_m, False, False, _extra(summary["extra"], p, key, what))
    return out


def fit_from_summaries(summary: dict, conns: dict, details, opts: dict) -> xr.DataArray:
    """The fit from pass 1's summaries (``opts``: of `fit_options`);
    ``details(syn_requests, conn_requests)`` runs pass 2."""
    return _fit(summary, conns, details, opts, **opts["fit"])


def _fit(summary: dict, conns: dict, details, opts: dict, *, by, types, min_connections, bounds,
         dtypes, interpolate, src_types, tgt_types, truncnorm_fit, nsyns) -> xr.DataArray:  # fmt: skip
    props, given = opts["props"], opts["given"]
    if summary["rows"] == 0:
        raise PathwayError("no synapses to fit")
    src_list, tgt_list = _type_lists(summary, conns, src_types, tgt_types)
    si = {s: i for i, s in enumerate(src_list)}
    ti = {t: i for i, t in enumerate(tgt_list)}
    shape = (len(src_list), len(tgt_list))
    present = np.zeros(shape, dtype=bool)
    keys = []
    for key, n in sorted(conns["n_conn"].items()):
        if n >= min_connections:
            present[si[key[0]], ti[key[1]]] = True
            keys.append(key)
    if interpolate is not None:
        g_src, g_tgt = _group_table(by, types, interpolate, src_list, tgt_list, summary["groups"])
    elif not present.all():
        keys.append(WILDCARD_KEY)

    problems: list[str] = []
    plans: dict = {}  # property -> (kind, is_int, use_bounds, {key: (summary, shared, on conns)})
    chosen: dict[str, str] = {}
    auto: dict[str, str] = {}
    requests: tuple[dict, dict] = ({}, {})  # pass 2 on synapses, on connections
    for p in props:
        structural = p == N_SYN_PER_CONN
        if not structural and p in summary["bad"]:
            problems.append(f"{p}: {summary['bad'][p]}")
            continue
        if structural:
            pooled = _all(conns["size"].values())
            is_int, integral, distinct = True, True, conns["sizes"]
        else:
            pooled = _all(v[p] for v in summary["pathways"].values() if p in v)
            info = summary["pooled"][p]
            is_int, integral, distinct = info["is_int"], info["integral"], info["distinct"]
        use_bounds = False
        if p in given:
            kind = given[p]
        else:
            kind, reason, use_bounds = _auto_kind(pooled[3], pooled[4], is_int, integral, distinct)
            auto[p] = f"{kind} ({reason})" + (", bounds from the data" if use_bounds else "")
        chosen[p] = kind
        if bounds == "data":
            use_bounds = True
        elif isinstance(bounds, Mapping):
            use_bounds = False
        what = {"discrete": "vals", "lognormal": "log"}.get(kind)
        cells = _cells_of(p, structural, keys, summary, conns, what)
        plans[p] = (kind, is_int, use_bounds, cells)
        if kind == "truncnorm" and truncnorm_fit == "histogram":  # over each cell's range
            for key, (m, _, on_conns, _) in cells.items():
                requests[on_conns].setdefault(p, []).append((key, "hist", m[3], m[4]))
    got = details(*requests) if (requests[0] or requests[1]) else {}

    prop_stats: dict = {}
    filled: dict = {}
    with _progress.bar(len(plans), "fit_pathway_stats", opts["progress"], unit="property") as bar:
        for n_done, (p, (kind, is_int, use_bounds, cells)) in enumerate(plans.items()):
            if n_done:
                bar.update(1)
            structural = p == N_SYN_PER_CONN
            stats_of = {
                key: _extract(m, shared, kind, truncnorm_fit, got.get((p, key, "hist"), extra))
                for key, (m, shared, _, extra) in cells.items()
            }
            data = _arrays([(si[k[0]], ti[k[1]], st) for k, st in stats_of.items()
                            if k != WILDCARD_KEY], shape)  # fmt: skip
            cell_stats: dict = {}
            if interpolate is not None:
                if not present.any():
                    problems.append(
                        f"{p}: no pathway has {min_connections} or more connections; lower "
                        "min_connections"
                    )
                    continue
                model, used = _interpolate(data, present, g_src, g_tgt, quirk_vals=not structural)
                filled.update({(p, src_list[a], tgt_list[b]): lv for (a, b), lv in used.items()})
                for i in range(shape[0]):
                    for j in range(shape[1]):
                        cell_stats[(src_list[i], tgt_list[j])] = {
                            k: a[i, j] for k, a in model.items()
                        }
            else:
                cell_stats = {k: st for k, st in stats_of.items() if k != WILDCARD_KEY}
                if WILDCARD_KEY in stats_of:
                    cell_stats[WILDCARD_KEY] = stats_of[WILDCARD_KEY]
                    for a, b in np.argwhere(~present):
                        filled[(p, src_list[a], tgt_list[b])] = "*"
            dt = (dtypes or {}).get(p) if dtypes is not None else ("int" if is_int else None)
            if structural and dtypes is None:
                dt = None  # the n_syn_per_conn rule makes integers already
            lo_hi = bounds.get(p) if isinstance(bounds, Mapping) else None
            prop_stats[p] = {}
            for (s, t), st in cell_stats.items():
                try:
                    spec = _spec(kind, st, structural=structural)
                except PathwayError as exc:
                    problems.append(f"{p} [{s} -> {t}]: {exc}")
                    continue
                if dt is not None:
                    spec["dtype"] = dt
                if lo_hi is not None and hasattr(lo_hi, "__iter__") and len(lo_hi) == 2:
                    if lo_hi[0] is not None:
                        spec["lower_bound"] = lo_hi[0]
                    if lo_hi[1] is not None:
                        spec["upper_bound"] = lo_hi[1]
                elif use_bounds and kind not in ("constant", "zero"):
                    spec["lower_bound"], spec["upper_bound"] = st["min"], st["max"]
                prop_stats[p].setdefault(s, {})[t] = spec
        bar.update(1)
    if problems:
        raise PathwayError(format_problems("cannot fit", problems))
    stats = pathway_stats(prop_stats, src_list, tgt_list, by=by)
    stats.attrs["fit"] = {
        "min_connections": int(min_connections),
        "distributions": chosen,
        "auto": auto,
        "filled": [[*k, v] for k, v in filled.items()],
        "interpolate": None
        if interpolate is None
        else (list(interpolate.columns) if isinstance(interpolate, pd.DataFrame) else interpolate),
        "truncnorm_fit": truncnorm_fit,
        "synapses": summary["synapses"],
        "rows": summary["rows"],
        "connections": sum(conns["n_conn"].values()),
        "nsyns": nsyns if summary["weighted"] else None,
    }
    for p, what in auto.items():
        log.info("fit_pathway_stats: %s: no distribution given, chose %s", p, what)
    if filled:
        log.info(
            "fit_pathway_stats: %d (property, pathway) cells with fewer than %d connections %s",
            len(filled),
            min_connections,
            "interpolated" if interpolate is not None else "use the '*' fit on all synapses",
        )
    return stats


def fit_pathway_stats(
    syn: pd.DataFrame,
    *,
    by: str,
    properties: Sequence[str] | str,
    types=None,
    distributions: str | Mapping[str, str] | None = None,
    min_connections: int = 5,
    bounds: str | Mapping[str, Sequence] | None = None,
    dtypes: Mapping[str, str] | None = None,
    interpolate: Sequence[str] | pd.DataFrame | None = None,
    src_types: Sequence[str] | None = None,
    tgt_types: Sequence[str] | None = None,
    truncnorm_fit: str = "histogram",
    nsyns: str | None = "nsyns",
    progress: bool = True,
) -> xr.DataArray:
    """Estimate pathway statistics from an existing, parameterized synapse table.

    connectome-manipulator 1.0.4's ``conn_props`` extract + build (same circuit, same model; its
    option names in brackets): for every property and (src, tgt) pathway with at least
    ``min_connections`` connections [``min_sample_size_per_group``], ``shared_within`` is detected
    (every connection's synapses share one value, and the property is not one constant over a
    pathway of several connections), then mean, population std (``ddof=0``), min, max, discrete
    values and frequencies, and the truncnorm loc/scale are estimated -- from one value per
    connection when shared, else from every synapse. Pathways with fewer connections (or none) are
    filled by ``interpolate`` or, by default, by one ``("*", "*")`` wildcard cell fitted on all
    synapses. ``n_syn_per_conn`` among ``properties`` fits synapses per connection (as CM always
    does).

    Means and standard deviations come from exact sums (integers, not float64 running sums):
    correctly rounded (CM's numpy statistics agree within ~1e-16 relative), whatever the order
    of the rows -- and whatever the partitioning:
    [`synframe.dask.fit_pathway_stats`][synframe.dask.fit_pathway_stats] gives the same statistics,
    bit for bit, for tables larger than memory.

    Parameters
    ----------
    syn
        A synapse table with property columns.
    by, types
        As in [`synframe.parameterize`][synframe.parameterize.parameterize]. ``by`` is recorded in the stats (``attrs["by"]``).
    properties
        Columns to fit, and/or ``"n_syn_per_conn"``.
    distributions [``distr_types``]
        One type for all properties, or ``{property: type}``. Properties without a type get one
        that respects their data (recorded in ``attrs["fit"]["auto"]`` and logged): ``constant``
        for one value, ``discrete`` for integers (at most 100 distinct values), else ``gamma`` for
        non-negative values and ``normal`` otherwise, both with bounds from the data. (CM's
        default, an unbounded ``normal``, draws values the data never had, such as negative
        conductances.)
    min_connections [``min_sample_size_per_group``]
        Pathways with fewer connections are filled (CM's default ``None`` is ``1`` here).
    bounds [``data_bounds``]
        ``{property: (lower, upper)}`` (either may be ``None`` or ``±inf``) added to every cell as
        ``lower_bound`` / ``upper_bound``; ``"data"``: each cell's observed min and max. Default:
        data bounds for properties whose type was chosen automatically (gamma / normal), none for
        the others; ``{}``: none at all.
    dtypes [``data_types``]
        ``{property: dtype}`` written into every cell. Default: ``"int"`` for integer columns
        (CM adds none unless told; its integer types give integers anyway).
    interpolate
        Grouping columns, finest first (CM: ``("layer", "synapse_class")``), read from
        ``pre_<col>`` / ``post_<col>`` columns or ``types``; or a DataFrame indexed by type. A
        missing pathway then takes the statistics averaged (mean of the pathways' means, stds and
        fitted locs/scales; min of mins, max of maxima; merged discrete counts; majority
        ``shared_within``) over the first of: same source type and targets sharing all columns;
        same source type and targets sharing the coarser columns; …; sources and targets sharing
        all columns; …; every pathway with data. This is CM's ``build`` exactly (including its
        merging of discrete counts over cells interpolated before). ``None``: the wildcard fit.
    src_types, tgt_types
        Types to cover (default: those in the table), e.g. every mtype of the circuit's nodes,
        as CM covers them. Types without synapses are filled like sparse pathways.
    truncnorm_fit
        ``"histogram"``: CM's least-squares normal fit to a 51-bin histogram (with its fallback
        to mean/std); ``"mle"``: maximum likelihood of the normal truncated to the observed range
        (more accurate; a deliberate difference from CM).
    nsyns
        The column saying how many synapses each row stands for: bmtk's edges (one row per
        edge, ``nsyns`` synapses with the edge's values; [`synframe.read_edges`][synframe.sonata.read.read_edges] keeps it as
        a column). Each row then counts ``nsyns`` times: ``n_syn_per_conn`` is the sum of
        ``nsyns`` over a connection's rows, and every statistic of a per-synapse property is that
        of the rows repeated ``nsyns`` times (weighted, nothing is repeated in memory); a shared
        value counts once per connection. A missing value is 1 (as bmtk reads edges without
        ``nsyns``), rows with 0 stand for no synapse and are left out. Default: ``"nsyns"`` if
        the table has that column (recorded in ``attrs["fit"]["nsyns"]``); ``None``: every row
        is one synapse.
    progress
        A progress bar over the properties, on a terminal, for fits that take more than
        2 seconds (``SYNFRAME_PROGRESS=1`` forces it elsewhere).

    Examples
    --------
    >>> import synframe as sf
    >>> syn = sf.datasets.example_synapses()
    >>> types = {i: "any" for i in set(syn.pre) | set(syn.post)}
    >>> truth = sf.pathway_stats({"g": {"*": {"*": {"type": "gamma", "mean": 2.0, "std": 0.5}}}})
    >>> drawn = sf.parameterize(syn, truth, by="c", types=types, seed=3)
    >>> fitted = sf.fit_pathway_stats(drawn, by="c", types=types, properties="g", distributions="gamma")
    >>> round(float(fitted.syn.param("mean").sel(src="any", tgt="any", property="g")), 1)
    2.0
    >>> auto = sf.fit_pathway_stats(drawn, by="c", types=types, properties="g")
    >>> auto.attrs["fit"]["auto"]
    {'g': 'gamma (non-negative values), bounds from the data'}
    """
    opts = fit_options(
        syn, by=by, properties=properties, types=types, distributions=distributions,
        min_connections=min_connections, bounds=bounds, dtypes=dtypes, interpolate=interpolate,
        src_types=src_types, tgt_types=tgt_types, truncnorm_fit=truncnorm_fit, nsyns=nsyns,
        progress=progress,
    )  # fmt: skip
    piece, want = opts["piece"], opts["want"]
    summary, conn_table = sm.syn_summary(syn, **piece, group_cols=opts["group_cols"], want=want)
    conns = sm.conn_summary(conn_table, opts["syn_props"], want)

    def details(on_synapses: dict, on_connections: dict) -> dict:
        got = sm.syn_details(syn, **piece, requests=on_synapses) if on_synapses else {}
        if on_connections:
            got.update(sm.conn_details(conn_table, opts["syn_props"], on_connections))
        return got

    return fit_from_summaries(summary, conns, details, opts)
