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
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from . import _draw, _progress
from ._validation import run_schema, stage_schema
from .distributions import DISTRIBUTIONS, N_SYN_PER_CONN
from .errors import OptionError, PathwayError, format_problems
from .pathways import WILDCARD, pathway_stats

__all__ = ["fit_pathway_stats"]

log = logging.getLogger("synframe")

#: more distinct values than this and ``discrete`` is refused (connectome-manipulator's limit)
MAX_DISCRETE = 100
#: histogram bins of CM's normal fit (its ``hist_bins`` default)
HIST_BINS = 51
#: the statistics averaged (nanmean) when a pathway is interpolated
_MEANS = ("mean", "std", "norm_loc", "norm_scale", "log_mean", "log_std")


# --- extract: statistics of one pathway --------------------------------------------------------------


def _cm_norm_fit(
    x: np.ndarray, mean: float, std: float, w: np.ndarray | None = None
) -> tuple[float, float]:
    """Normal loc/scale fitted to the histogram of ``x`` as CM's ``_norm_fitting`` does.

    A least-squares fit of ``scale_factor * N(loc, scale).pdf`` to the counts of a 51-bin
    histogram (bin centres; loc within their range; at most 30 evaluations); ``mean``/``std``
    when the fit fails or a coefficient's relative standard error exceeds 0.5. ``w``: synapses
    per value (rows of bmtk edges with ``nsyns``), counted as that many values.
    """
    from scipy import optimize, stats

    counts, edges = np.histogram(x, bins=HIST_BINS, weights=w)  # in x's own dtype, as CM
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


def _truncnorm_mle(
    x: np.ndarray, lo: float, hi: float, w: np.ndarray | None = None
) -> tuple[float, float]:
    """Maximum-likelihood loc/scale of a normal truncated to [lo, hi] (bounds fixed); ``w``:
    each value counted that many times."""
    from scipy import optimize, special

    m, sd = _mean_std(x, w)
    if sd == 0 or lo == hi:
        return m, 0.0
    total = float(len(x) if w is None else w.sum())

    def nll(theta):
        loc, log_scale = theta
        scale = np.exp(log_scale)
        a, b = (lo - loc) / scale, (hi - loc) / scale
        z = special.log_ndtr(b) + np.log1p(-np.exp(special.log_ndtr(a) - special.log_ndtr(b)))
        terms = -0.5 * ((x - loc) / scale) ** 2 - np.log(scale)
        return -(np.sum(terms) if w is None else np.dot(terms, w)) + total * z

    res = optimize.minimize(
        nll,
        x0=[m, np.log(sd)],
        method="Nelder-Mead",
        options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 4000},
    )
    return float(res.x[0]), float(np.exp(res.x[1]))


def _mean_std(v: np.ndarray, w: np.ndarray | None = None) -> tuple[float, float]:
    """Mean and population std (``ddof=0``) of ``v``, each value counted ``w`` times."""
    if w is None:
        return float(np.mean(v, dtype=np.float64)), float(np.std(v, dtype=np.float64))
    x = v.astype("float64", copy=False)
    mean = float(np.average(x, weights=w))
    return mean, float(np.sqrt(np.average((x - mean) ** 2, weights=w)))


def _extract(
    v: np.ndarray, shared: bool | None, kind: str, truncnorm_fit: str, w: np.ndarray | None = None
) -> dict:
    """CM's statistics of one pathway's values ``v`` (one per connection when shared).

    ``w``: how many synapses each value stands for (bmtk edges with ``nsyns``): every statistic
    is that of the values repeated ``w`` times, without repeating them.
    """
    mean, std = _mean_std(v, w)
    out = {
        "mean": mean,
        "std": std,
        "min": float(np.min(v)),
        "max": float(np.max(v)),
        "shared_within": np.nan if shared is None else float(shared),
    }
    if kind == "truncnorm":
        if truncnorm_fit == "mle":
            x = v.astype("float64")
            out["norm_loc"], out["norm_scale"] = _truncnorm_mle(x, out["min"], out["max"], w)
        else:
            out["norm_loc"], out["norm_scale"] = _cm_norm_fit(v, out["mean"], out["std"], w)
    if kind == "discrete":
        val, inv, cnt = np.unique(v, return_inverse=True, return_counts=True)
        if w is not None:
            cnt = np.bincount(inv.ravel(), weights=w, minlength=len(val)).astype(np.int64)
        out["val"], out["cnt"] = (val, cnt) if len(val) <= MAX_DISCRETE else ([], [])
    if kind == "lognormal":
        lv = np.log(v.astype("float64")) if out["min"] > 0 else np.array([np.nan])
        lw = w if out["min"] > 0 else None
        out["log_mean"], out["log_std"] = _mean_std(lv, lw)
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


def _auto_kind(x: np.ndarray, is_int: bool) -> tuple[str, str, bool]:
    """A type for values ``x`` that respects their support: (type, reason, data bounds?)."""
    lo, hi = x.min(), x.max()
    if lo == hi:
        return "constant", "one value", False
    integral = is_int or bool(np.all(np.mod(x, 1) == 0))
    if integral and len(np.unique(x)) <= MAX_DISCRETE:
        return "discrete", "integer values", False
    if lo >= 0 and np.mean(x, dtype=np.float64) > 0:
        return "gamma", "non-negative values", True
    return "normal", "values of both signs", True


def _stats_of(values, varies, rows, crow, conns, kind: str, truncnorm_fit: str, weights) -> dict:
    """CM's extract for one pathway (``values`` None: synapses per connection).

    ``weights``: synapses per row (None: one each); a shared value counts once per connection.
    """
    conn_size, first_row = conns
    if values is None:
        return _extract(conn_size[crow], None, kind, truncnorm_fit)
    x = values[rows]
    # one constant over a pathway of several connections is not taken as shared (CM's rule)
    shared = False if len(crow) > 1 and x.min() == x.max() else not varies[crow].any()
    if shared:
        return _extract(values[first_row[crow]], shared, kind, truncnorm_fit)
    return _extract(x, shared, kind, truncnorm_fit, None if weights is None else weights[rows])


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


def _group_table(syn, by, types, groups, src_types, tgt_types) -> tuple[np.ndarray, np.ndarray]:
    """(n_src, k) and (n_tgt, k) string arrays: each type's values of the grouping columns.

    From a DataFrame indexed by type, or per side from ``types`` / the table's ``pre_<col>`` /
    ``post_<col>`` columns. A type whose neurons differ (an ``L23`` mtype in layers 2 and 3) takes
    the values of its lowest neuron id, as CM takes its first node's.
    """
    if isinstance(groups, pd.DataFrame):
        table = groups.copy()
        table.index = table.index.astype(str)
        cols = [str(c) for c in table.columns]
        tables = (table, table)
    else:
        cols = [groups] if isinstance(groups, str) else [str(c) for c in groups]
        if not cols:
            raise OptionError("interpolate needs grouping columns, e.g. ('layer', 'synapse_class')")
        tables = []
        for side in ("pre", "post"):
            if isinstance(types, pd.DataFrame) and by in types and all(c in types for c in cols):
                from ._ids import id_column_of

                idc = id_column_of(types, None)
                long = types[[idc, by, *cols]].set_axis(["id", by, *cols], axis=1)
            else:
                need = [f"{side}_{c}" for c in (by, *cols)]
                lacking = [c for c in need if c not in syn.columns]
                if lacking:
                    raise OptionError(
                        f"interpolate={cols}: no columns {lacking}; annotate the table "
                        f"(sf.annotate(..., columns={cols!r})) or pass interpolate= a DataFrame "
                        f"indexed by {by} with columns {cols}"
                    )
                long = syn[[side, *need]].set_axis(["id", by, *cols], axis=1)
            long = long.sort_values("id", kind="stable").drop_duplicates(by)
            tables.append(long.astype({by: str}).set_index(by)[cols].astype(str))
    out = []
    for names, table in zip((src_types, tgt_types), tables, strict=True):
        lacking = [t for t in names if t not in table.index]
        if lacking:
            raise PathwayError(
                f"no {cols} for types {lacking[:5]}: pass interpolate= a DataFrame indexed by {by}"
            )
        out.append(table.loc[list(names), cols].to_numpy(dtype=str).reshape(len(names), len(cols)))
    return out[0], out[1]


def _synapse_counts(syn: pd.DataFrame, nsyns, props) -> tuple[pd.DataFrame, np.ndarray | None]:
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
    run_schema(
        syn, stage_schema("synapses", unique_ids=False), "SynapseTable (input of fit_pathway_stats)"
    )
    _check_option("truncnorm_fit", truncnorm_fit, ("histogram", "mle"))
    if isinstance(min_connections, bool) or not isinstance(min_connections, (int, np.integer)):
        raise OptionError(f"min_connections must be an int >= 1, got {min_connections!r}")
    if min_connections < 1:
        raise OptionError(f"min_connections must be >= 1, got {min_connections}")
    props = [properties] if isinstance(properties, str) else list(dict.fromkeys(properties))
    if not props:
        raise OptionError("properties is empty: name the columns to fit")
    missing_cols = [p for p in props if p != N_SYN_PER_CONN and p not in syn.columns]
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
    if not isinstance(by, str) or not by:
        raise OptionError(
            f"by must be the pathway property (a column name such as 'synapse_class'), got {by!r}"
        )
    if isinstance(progress, np.bool_):
        progress = bool(progress)
    syn, weights = _synapse_counts(syn, nsyns, props)
    if len(syn) == 0:
        raise PathwayError("no synapses to fit")

    src, tgt = _draw.pathway_types(syn, by, types)
    plan = _draw.plan(syn, src, tgt)
    seen_src = sorted({s for s, _ in plan.pathways})
    seen_tgt = sorted({t for _, t in plan.pathways})
    src_list = seen_src if src_types is None else [str(s) for s in src_types]
    tgt_list = seen_tgt if tgt_types is None else [str(t) for t in tgt_types]
    for name, seen, listed in (("src", seen_src, src_list), ("tgt", seen_tgt, tgt_list)):
        extra = [t for t in seen if t not in listed]
        if extra:
            raise PathwayError(f"{name} types {extra} are in the table but not in {name}_types")
        if len(set(listed)) != len(listed):
            raise OptionError(f"{name}_types has duplicates")
    si = {s: i for i, s in enumerate(src_list)}
    ti = {t: i for i, t in enumerate(tgt_list)}
    shape = (len(src_list), len(tgt_list))

    n_conn = len(plan.conn_pre)
    conn_size = np.bincount(plan.conn, minlength=n_conn)
    if weights is not None:  # synapses, not rows, per connection
        conn_size = np.bincount(plan.conn, weights=weights, minlength=n_conn).astype(np.int64)
    first_row = np.zeros(n_conn, dtype=np.int64)
    uniq_c, first_idx = np.unique(plan.conn, return_index=True)
    first_row[uniq_c] = first_idx
    order = np.argsort(plan.conn, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(plan.conn[order]) != 0])
    present = np.zeros(shape, dtype=bool)
    cells = []  # (i, j, synapse rows in CM's order, connections in CM's order)
    for (s, t), rows, crow in zip(plan.pathways, plan.syn_rows, plan.conn_rows, strict=True):
        if len(crow) < min_connections:
            continue
        # CM's order: connections sorted by (pre, post); synapses by connection, then edge order
        crow = crow[np.lexsort((plan.conn_post[crow], plan.conn_pre[crow]))]
        rows = rows[np.lexsort((plan.post[rows], plan.pre[rows]))]
        present[si[s], ti[t]] = True
        cells.append((si[s], ti[t], rows, crow))
    if interpolate is not None:
        g_src, g_tgt = _group_table(syn, by, types, interpolate, src_list, tgt_list)

    problems: list[str] = []
    prop_stats: dict = {}
    chosen: dict[str, str] = {}
    auto: dict[str, str] = {}
    filled: dict = {}
    with _progress.bar(len(props), "fit_pathway_stats", progress, unit="property") as bar:
        for i, p in enumerate(props):
            if i:
                bar.update(1)
            structural = p == N_SYN_PER_CONN
            if structural:
                values = conn_size[plan.conn]
                is_int = True
            else:
                values = syn[p].to_numpy()
                if values.dtype.kind not in "iuf":
                    problems.append(f"{p}: values must be numbers (dtype {values.dtype})")
                    continue
                if not np.isfinite(values).all():
                    problems.append(f"{p}: values must be finite (no NaN / inf)")
                    continue
                is_int = values.dtype.kind in "iu"
            use_bounds = False
            if p in given:
                kind = given[p]
            else:
                pooled = conn_size if structural else values
                kind, reason, use_bounds = _auto_kind(pooled, is_int)
                auto[p] = f"{kind} ({reason})" + (", bounds from the data" if use_bounds else "")
            chosen[p] = kind
            if bounds == "data":
                use_bounds = True
            elif isinstance(bounds, Mapping):
                use_bounds = False

            if structural:
                values, varies = None, None
            else:  # per-connection variability, once per property
                vs = values[order]
                varies = np.minimum.reduceat(vs, starts) != np.maximum.reduceat(vs, starts)
            conns = (conn_size, first_row)
            data = _arrays(
                [(i, j, _stats_of(values, varies, rows, crow, conns, kind, truncnorm_fit, weights))
                 for i, j, rows, crow in cells],
                shape,
            )  # fmt: skip
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
                for i, j, _, _ in cells:
                    cell_stats[(src_list[i], tgt_list[j])] = {k: a[i, j] for k, a in data.items()}
                if not present.all():
                    everything = np.arange(len(syn))
                    crow_all = np.arange(n_conn)[np.lexsort((plan.conn_post, plan.conn_pre))]
                    rows_all = everything[np.lexsort((plan.post, plan.pre))]
                    cell_stats[(WILDCARD, WILDCARD)] = _stats_of(
                        values, varies, rows_all, crow_all, conns, kind, truncnorm_fit, weights
                    )
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
        "synapses": len(syn) if weights is None else int(weights.sum()),
        "rows": len(syn),
        "connections": n_conn,
        "nsyns": None if weights is None else nsyns,
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
