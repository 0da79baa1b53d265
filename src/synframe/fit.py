"""``fit_pathway_stats``: estimate pathway statistics from an existing synapse table."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from . import _draw
from ._validation import run_schema, stage_schema
from .distributions import DISTRIBUTIONS
from .errors import PathwayError, format_problems
from .pathways import WILDCARD, pathway_stats

__all__ = ["fit_pathway_stats"]

log = logging.getLogger("synframe")

#: more distinct values than this and ``discrete`` is refused (as connectome-manipulator does)
MAX_DISCRETE = 100


def _truncnorm_mle(x: np.ndarray, lo: float, hi: float) -> tuple[float, float]:
    """Maximum-likelihood loc/scale of a normal truncated to [lo, hi] (bounds fixed)."""
    from scipy import optimize, special

    m, sd = float(np.mean(x)), float(np.std(x))
    if sd == 0 or lo == hi:
        return m, 0.0

    def nll(theta):
        loc, log_scale = theta
        scale = np.exp(log_scale)
        a, b = (lo - loc) / scale, (hi - loc) / scale
        z = special.log_ndtr(b) + np.log1p(-np.exp(special.log_ndtr(a) - special.log_ndtr(b)))
        return -np.sum(-0.5 * ((x - loc) / scale) ** 2 - np.log(scale)) + len(x) * z

    res = optimize.minimize(
        nll,
        x0=[m, np.log(sd)],
        method="Nelder-Mead",
        options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 4000},
    )
    return float(res.x[0]), float(np.exp(res.x[1]))


def fit_values(x: np.ndarray, kind: str) -> dict:
    """Parameters of ``kind`` estimated from values ``x`` (connectome-manipulator's semantics)."""
    x = np.asarray(x, dtype="float64")
    if kind not in DISTRIBUTIONS:
        raise PathwayError(
            f"unknown distribution type {kind!r}; use one of {sorted(DISTRIBUTIONS)}"
        )
    if len(x) == 0:
        raise PathwayError("no values to fit")
    mean = float(np.mean(x))
    std = float(np.std(x, ddof=1)) if len(x) > 1 else 0.0
    if kind == "constant":
        return {"mean": mean}
    if kind == "zero":
        return {}
    if kind == "normal":
        return {"mean": mean, "std": std}
    if kind == "gamma":
        if mean <= 0 or x.min() < 0:
            raise PathwayError("gamma needs positive values")
        return {"mean": mean, "std": std}
    if kind == "truncnorm":
        lo, hi = float(x.min()), float(x.max())
        loc, scale = _truncnorm_mle(x, lo, hi)
        return {"norm_loc": loc, "norm_scale": scale, "min": lo, "max": hi}
    if kind == "poisson":
        return {"mean": mean}
    if kind == "ztpoisson":
        if x.min() < 1:
            raise PathwayError("ztpoisson needs values >= 1")
        return {"mean": mean}
    if kind == "discrete":
        val, counts = np.unique(x, return_counts=True)
        if len(val) > MAX_DISCRETE:
            raise PathwayError(
                f"{len(val)} distinct values: too many for 'discrete' (max {MAX_DISCRETE}); use a continuous type"
            )
        val_out = [int(v) if float(v).is_integer() else float(v) for v in val]
        return {"val": val_out, "p": (counts / counts.sum()).tolist()}
    if kind == "lognormal":
        if x.min() <= 0:
            raise PathwayError("lognormal needs positive values")
        lx = np.log(x)
        return {"mean": float(lx.mean()), "std": float(lx.std(ddof=1)) if len(x) > 1 else 0.0}
    if kind == "uniform":
        return {"min": float(x.min()), "max": float(x.max())}
    if kind == "exponential":
        if mean <= 0:
            raise PathwayError("exponential needs a positive mean")
        return {"mean": mean}
    raise PathwayError(f"unknown distribution type {kind!r}")  # pragma: no cover


def _extremes(values: np.ndarray, conn: np.ndarray, n_conn: int) -> tuple[np.ndarray, np.ndarray]:
    """Smallest and largest value of each connection (unbuffered scatter: no sort, no hash)."""
    if values.dtype.kind in "iu":
        info = np.iinfo(values.dtype)
        low, high = np.full(n_conn, info.max, values.dtype), np.full(n_conn, info.min, values.dtype)
    else:
        low, high = np.full(n_conn, np.inf, values.dtype), np.full(n_conn, -np.inf, values.dtype)
    np.minimum.at(low, conn, values)
    np.maximum.at(high, conn, values)
    return low, high


def fit_pathway_stats(
    syn: pd.DataFrame,
    *,
    by: str,
    properties: Sequence[str] | str,
    types=None,
    distributions: str | Mapping[str, str] = "normal",
    min_connections: int = 5,
) -> xr.DataArray:
    """Estimate pathway statistics from an existing, parameterized synapse table.

    For every property and every (src, tgt) pathway present, the spec's parameters are estimated
    (mean/std; truncnorm loc/scale by maximum likelihood within the observed min/max; discrete
    values and frequencies; …), ``shared_within`` is detected (values constant within every
    connection → ``True``, fitted on one value per connection), and ``dtype: "int"`` is set for
    integer columns. Pathways with fewer than ``min_connections`` connections are not fitted on
    their own: a ``("*", "*")`` wildcard cell fitted on all data covers them (the reference's
    fallback to a less specific grouping).

    Parameters
    ----------
    syn
        A synapse table with property columns.
    by, types
        As in :func:`synframe.parameterize`.
    properties
        Columns to fit.
    distributions
        One type for all properties, or ``{property: type}``.
    min_connections
        Fewer connections than this and a pathway falls back to the wildcard cell.

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
    """
    run_schema(
        syn, stage_schema("synapses", unique_ids=False), "SynapseTable (input of fit_pathway_stats)"
    )
    props = [properties] if isinstance(properties, str) else list(properties)
    missing = [p for p in props if p not in syn.columns]
    if missing:
        raise PathwayError(f"properties {missing} are not columns of the table")
    kinds = (
        {p: distributions for p in props} if isinstance(distributions, str) else dict(distributions)
    )
    lacking = [p for p in props if p not in kinds]
    if lacking:
        raise PathwayError(f"no distribution type given for {lacking}")
    src, tgt = _draw.pathway_types(syn, by, types)
    plan = _draw.plan(syn, src, tgt)
    # per connection: its synapse count and first row (connections are numbered by the plan)
    conn = plan.conn
    n_conn = len(plan.conn_pre)
    size = np.bincount(conn, minlength=n_conn)
    first_row = plan.conn_first
    prop_stats: dict = {p: {} for p in props}
    fallback = []
    problems = []
    for p in props:
        values = syn[p].to_numpy()
        if not np.issubdtype(values.dtype, np.number) or (
            values.dtype.kind in "fc" and np.isnan(values).any()
        ):
            problems.append(f"{p}: values must be numbers without NaN")
            continue
        is_int = np.issubdtype(values.dtype, np.integer)
        # each connection's smallest and largest value: shared_within is "never varies"
        low, high = _extremes(values, conn, n_conn)

        def spec_for(
            rows: np.ndarray, conns: np.ndarray, where: str, p=p, values=values, is_int=is_int,
            low=low, high=high,
        ) -> dict | None:  # fmt: skip
            multi = size[conns] > 1
            shared = not multi.any() or bool(
                np.allclose(low[conns][multi], high[conns][multi], rtol=1e-9, atol=0)
            )
            # one value per connection (its first synapse's), in order of first appearance
            x = values[np.sort(first_row[conns])] if shared else values[rows]
            try:
                spec = {"type": kinds[p], **fit_values(x, kinds[p])}
            except PathwayError as exc:
                problems.append(f"{p} [{where}]: {exc}")
                return None
            spec["shared_within"] = shared
            if is_int:
                spec["dtype"] = "int"
            return spec

        everything = np.arange(len(syn))
        observed = set(plan.pathways)
        all_src = {s for s, _ in observed}
        all_tgt = {t for _, t in observed}
        # pathways between present types that have no synapses at all also need the fallback
        sparse = [
            (s, t) for s in sorted(all_src) for t in sorted(all_tgt) if (s, t) not in observed
        ]
        for (s, t), rows, crow in zip(plan.pathways, plan.syn_rows, plan.conn_rows, strict=True):
            if len(crow) < min_connections:
                sparse.append((s, t))
                continue
            spec = spec_for(rows, crow, f"{s} -> {t}")
            if spec is not None:
                prop_stats[p].setdefault(s, {})[t] = spec
        if sparse or not prop_stats[p]:
            spec = spec_for(everything, np.arange(n_conn), "all pathways")
            if spec is not None:
                prop_stats[p].setdefault(WILDCARD, {})[WILDCARD] = spec
            fallback += [(p, s, t) for s, t in sparse]
    if problems:
        raise PathwayError(format_problems("cannot fit", problems))
    src_types = sorted({s for s, _ in plan.pathways})
    tgt_types = sorted({t for _, t in plan.pathways})
    stats = pathway_stats(prop_stats, src_types, tgt_types, by=by)
    stats.attrs["fit"] = {
        "min_connections": min_connections,
        "fallback": [list(f) for f in fallback],
        "synapses": len(syn),
        "connections": len(plan.conn_pre),
    }
    if fallback:
        log.info(
            "fit_pathway_stats: %d sparse (property, pathway) cells use the '*' fit", len(fallback)
        )
    return stats
