"""Distribution specs, their validation, and vectorized, keyed samplers.

A spec is the ConnPropsModel dict of one (property, src, tgt) cell::

    {"type": "gamma", "mean": 1.0, "std": 0.5, "shared_within": True,
     "lower_bound": 0.0, "upper_bound": 10.0, "dtype": "int"}

Parameter semantics are connectome-manipulator's (``ConnPropsModel.draw_from_distribution``):

==============  =========================================================================
type            parameters
==============  =========================================================================
constant        ``mean`` (the value)
normal          ``mean``, ``std >= 0``
truncnorm       ``norm_loc``, ``norm_scale >= 0`` (of the underlying normal), ``min <= max``;
                exact truncation; ``norm_scale == 0`` gives ``norm_loc`` clipped to [min, max]
gamma           ``mean > 0``, ``std >= 0``: shape = mean²/std², scale = std²/mean
                (``std == 0`` gives the constant ``mean``)
poisson         ``mean >= 0``
ztpoisson       ``mean >= 1`` (zero-truncated Poisson; λ solves λ / (1 − e^−λ) = mean)
discrete        ``val`` (list), ``p`` (list of the same length, >= 0, sums to 1)
zero            none: always 0
lognormal       ``mean``, ``std >= 0`` of the underlying normal (of log x)
uniform         ``min <= max``
exponential     ``mean > 0`` (the scale)
==============  =========================================================================

Then ``lower_bound`` / ``upper_bound`` clip and ``dtype`` casts (``"int"``: round first).
``shared_within`` (default ``True``) is read by :func:`synframe.parameterize`.

Sampling is by inverse CDF from keyed uniforms (:func:`keyed_uniforms`): the value for a synapse
depends only on (seed, property, pre, post[, synapse id]), never on row order or chunking.
"""

from __future__ import annotations

import hashlib
import numbers
from collections.abc import Mapping

import numpy as np

from ._gamma import gamma_ppf
from .errors import PathwayError

__all__ = [
    "DISTRIBUTIONS",
    "keyed_uniforms",
    "sample",
    "spec_problems",
    "validate_spec",
]

#: required parameters of every distribution type
DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "constant": ("mean",),
    "normal": ("mean", "std"),
    "truncnorm": ("norm_loc", "norm_scale", "min", "max"),
    "gamma": ("mean", "std"),
    "poisson": ("mean",),
    "ztpoisson": ("mean",),
    "discrete": ("val", "p"),
    "zero": (),
    "lognormal": ("mean", "std"),
    "uniform": ("min", "max"),
    "exponential": ("mean",),
}
#: optional keys every spec may have
OPTIONAL = ("shared_within", "lower_bound", "upper_bound", "dtype")
#: types that can be correlated through a Gaussian copula (``prop_cov``)
COPULA_TYPES = ("normal", "truncnorm", "gamma", "poisson", "lognormal", "uniform", "exponential")


def _num(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and np.isfinite(x)


def spec_problems(spec) -> list[str]:
    """Every problem of one spec (empty when valid)."""
    if not isinstance(spec, Mapping):
        return [f"expected a dict, got {type(spec).__name__}"]
    kind = spec.get("type")
    if kind not in DISTRIBUTIONS:
        return [f"unknown type {kind!r}; use one of {sorted(DISTRIBUTIONS)}"]
    out = []
    for key in DISTRIBUTIONS[kind]:
        if key not in spec:
            out.append(f"{kind} needs '{key}'")
    if out:
        return out
    g = spec.get
    if kind == "discrete":
        val, p = g("val"), g("p")
        if (
            isinstance(val, (str, bytes))
            or not hasattr(val, "__len__")
            or not hasattr(p, "__len__")
        ):
            return ["discrete 'val' and 'p' must be lists"]
        if len(val) == 0 or len(val) != len(p):
            out.append(
                f"discrete 'val' ({len(val)}) and 'p' ({len(p)}) must be non-empty and of equal length"
            )
        elif not all(_num(v) for v in val) or not all(_num(q) for q in p):
            out.append("discrete 'val' and 'p' must be finite numbers")
        elif min(p) < 0 or not np.isclose(sum(p), 1.0):
            out.append(f"discrete 'p' must be >= 0 and sum to 1 (sums to {sum(p):.6g})")
    else:
        for key in DISTRIBUTIONS[kind]:
            if not _num(g(key)):
                out.append(f"{kind} '{key}' must be a finite number, got {g(key)!r}")
        if out:
            return out
        if kind in ("normal", "lognormal") and g("std") < 0:
            out.append(f"{kind} 'std' must be >= 0")
        if kind == "truncnorm":
            if g("norm_scale") < 0:
                out.append("truncnorm 'norm_scale' must be >= 0")
            if g("min") > g("max"):
                out.append(f"truncnorm 'min' ({g('min')}) must be <= 'max' ({g('max')})")
        if kind == "gamma" and not (g("mean") > 0 and g("std") >= 0):
            out.append("gamma needs 'mean' > 0 and 'std' >= 0")
        if kind == "poisson" and g("mean") < 0:
            out.append("poisson 'mean' must be >= 0")
        if kind == "ztpoisson" and g("mean") < 1:
            out.append("ztpoisson 'mean' must be >= 1 (a zero-truncated Poisson has mean >= 1)")
        if kind == "uniform" and g("min") > g("max"):
            out.append(f"uniform 'min' ({g('min')}) must be <= 'max' ({g('max')})")
        if kind == "exponential" and g("mean") <= 0:
            out.append("exponential 'mean' must be > 0")
    lo, hi = g("lower_bound"), g("upper_bound")
    for name, b in (("lower_bound", lo), ("upper_bound", hi)):
        if b is not None and not _num(b):
            out.append(f"'{name}' must be a finite number or absent, got {b!r}")
    if _num(lo) and _num(hi) and lo > hi:
        out.append(f"'lower_bound' ({lo}) must be <= 'upper_bound' ({hi})")
    sw = g("shared_within", True)
    if not (isinstance(sw, (bool, np.bool_)) or (_num(sw) and sw in (0, 1))):
        out.append(f"'shared_within' must be a bool (or 1.0 / 0.0), got {sw!r}")
    dt = g("dtype")
    if dt is not None:
        try:
            np.dtype(dt)
        except TypeError:
            out.append(f"'dtype' must be a numpy dtype name like 'int' or 'float', got {dt!r}")
    return out


def validate_spec(spec, where: str = "spec") -> Mapping:
    """Return ``spec`` if valid, else raise :class:`~synframe.errors.PathwayError` listing all problems."""
    problems = spec_problems(spec)
    if problems:
        raise PathwayError(f"{where}: " + "; ".join(problems))
    return spec


def shared_within(spec: Mapping) -> bool:
    """The spec's ``shared_within`` as a bool (default True, as in the reference)."""
    return bool(spec.get("shared_within", True))


# --- keyed randomness ------------------------------------------------------------------------------

_G = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S11, _S27, _S30, _S31 = np.uint64(11), np.uint64(27), np.uint64(30), np.uint64(31)
#: elements per block of keyed_uniforms (three uint64 scratch arrays of 1 MiB: in cache)
_BLOCK = 1 << 17


def _mix(x: np.ndarray, tmp: np.ndarray | None = None) -> np.ndarray:
    """splitmix64's finalizer, element-wise on a uint64 array (wrapping arithmetic), in place.

    ``tmp`` is scratch space of ``x``'s shape (allocated if not given).
    """
    tmp = np.empty_like(x) if tmp is None else tmp
    np.right_shift(x, _S30, out=tmp)
    x ^= tmp
    x *= _M1
    np.right_shift(x, _S27, out=tmp)
    x ^= tmp
    x *= _M2
    np.right_shift(x, _S31, out=tmp)
    x ^= tmp
    return x


def _stream_key(seed: int, name: str) -> np.uint64:
    digest = hashlib.blake2b(f"{int(seed)}\x00{name}".encode(), digest_size=8).digest()
    return np.uint64(int.from_bytes(digest, "little"))


def keyed_uniforms(seed: int, name: str, *keys: np.ndarray, streams: int = 1) -> np.ndarray:
    """Uniforms in (0, 1) that depend only on (seed, name, keys), never on row order.

    ``keys`` are int64 arrays of equal length (e.g. pre, post, synapse id). Returns shape
    ``(n,)`` (or ``(streams, n)``): independent streams for the same key.

    Examples
    --------
    >>> import numpy as np
    >>> from synframe.distributions import keyed_uniforms
    >>> pre, post = np.array([1, 2, 3]), np.array([7, 8, 9])
    >>> u = keyed_uniforms(1, "u_syn", pre, post)
    >>> bool(np.all(u == keyed_uniforms(1, "u_syn", pre[::-1], post[::-1])[::-1]))
    True
    """
    n = len(keys[0]) if keys else 1
    keys = tuple(np.asarray(k).astype(np.int64, copy=False).view(np.uint64) for k in keys)
    start = _stream_key(seed, name)
    out = np.empty((streams, n))
    # in blocks that stay in cache, in place (the plain expression's table-sized temporaries
    # cost more than the arithmetic): the same bits
    size = min(n, _BLOCK)
    h, tmp, bits = (np.empty(size, dtype=np.uint64) for _ in range(3))
    with np.errstate(over="ignore"):
        for a in range(0, n, _BLOCK):
            b = min(a + _BLOCK, n)
            hh, tt, bb = h[: b - a], tmp[: b - a], bits[: b - a]
            hh.fill(start)
            for k in keys:
                hh += _G
                hh ^= k[a:b]
                _mix(hh, tt)
            for s in range(streams):
                np.add(hh, np.uint64(s + 1) * _G, out=bb)
                _mix(bb, tt)
                bb >>= _S11  # < 2**53: exact as int64 and float64 (int64 converts faster)
                row = out[s, a:b]
                np.copyto(row, bb.view(np.int64), casting="unsafe")
                row += 0.5
                row *= 2.0**-53
    return out if streams > 1 else out[0]


# --- samplers ---------------------------------------------------------------------------------------


def _truncnorm_std_ppf(u: np.ndarray, a: float, b: float) -> np.ndarray:
    """Quantiles of the standard normal truncated to [a, b], exactly (by inverting the CDF).

    Works on the side of the mode where the normal CDF keeps its precision (mirroring when the
    interval lies right of 0); intervals so far out that the CDF difference underflows use
    scipy's tail-aware implementation.
    """
    from scipy import special, stats

    flip = a > 0
    if flip:
        a, b, u = -b, -a, 1.0 - u
    pa, pb = special.ndtr(a), special.ndtr(b)
    if pb - pa < 1e-12 * max(pb, 1e-300):
        x = stats.truncnorm.ppf(u, a, b)
    else:
        x = np.clip(special.ndtri(pa + u * (pb - pa)), a, b)
    return -x if flip else x


def _ztpoisson_lambda(mean: float) -> float:
    if mean <= 1.0:
        return 0.0
    if mean - 1.0 < 1e-8:  # lam / (1 - e^-lam) = 1 + lam/2 + O(lam^2) near 0
        return 2.0 * (mean - 1.0)
    from scipy import optimize

    return float(optimize.brentq(lambda lam: lam / -np.expm1(-lam) - mean, 1e-10, mean + 10))


def ppf(spec: Mapping, u: np.ndarray) -> np.ndarray:
    """The spec's quantile function at ``u`` (before bounds and dtype)."""
    from scipy import special, stats

    kind = spec["type"]
    g = spec.get
    n = len(u)
    if kind == "constant":
        return np.full(n, float(g("mean")))
    if kind == "zero":
        return np.zeros(n)
    if kind == "normal":
        return g("mean") + g("std") * special.ndtri(u)
    if kind == "truncnorm":
        loc, scale, lo, hi = g("norm_loc"), g("norm_scale"), g("min"), g("max")
        if scale == 0 or lo == hi:
            return np.full(n, float(np.clip(loc, lo, hi)))
        return loc + scale * _truncnorm_std_ppf(u, (lo - loc) / scale, (hi - loc) / scale)
    if kind == "gamma":
        mean, std = g("mean"), g("std")
        if std == 0:
            return np.full(n, float(mean))
        if std < 1e-4 * mean:  # shape > 1e8: the gamma is normal to float precision
            return mean + std * special.ndtri(u)
        shape, scale = mean**2 / std**2, std**2 / mean
        return gamma_ppf(shape, u) * scale  # tabulated: ~1e-11 of scipy's gammaincinv
    if kind == "poisson":
        return stats.poisson.ppf(u, g("mean")) if g("mean") > 0 else np.zeros(n)
    if kind == "ztpoisson":
        lam = _ztpoisson_lambda(g("mean"))
        if lam == 0:
            return np.ones(n)
        p0 = np.exp(-lam)
        return np.maximum(stats.poisson.ppf(p0 + u * (1 - p0), lam), 1.0)
    if kind == "discrete":
        val = np.asarray(g("val"), dtype="float64")
        cdf = np.cumsum(np.asarray(g("p"), dtype="float64"))
        cdf /= cdf[-1]
        return val[np.minimum(np.searchsorted(cdf, u, side="right"), len(val) - 1)]
    if kind == "lognormal":
        return np.exp(g("mean") + g("std") * special.ndtri(u))
    if kind == "uniform":
        return g("min") + (g("max") - g("min")) * u
    if kind == "exponential":
        return -g("mean") * np.log1p(-u)
    raise PathwayError(f"unknown distribution type {kind!r}")  # pragma: no cover - validated before


def finish(spec: Mapping, values: np.ndarray) -> np.ndarray:
    """Apply ``lower_bound`` / ``upper_bound`` and ``dtype`` (``"int"``: round, then cast)."""
    lo, hi = spec.get("lower_bound"), spec.get("upper_bound")
    if lo is not None:
        values = np.maximum(values, lo)
    if hi is not None:
        values = np.minimum(values, hi)
    dt = spec.get("dtype")
    if dt is not None:
        target = np.dtype(dt)
        if target.kind in "iu":
            values = np.round(values).astype("int64" if target.kind == "i" else target)
        else:
            values = values.astype(target)
    return values


def output_dtype(spec: Mapping) -> np.dtype:
    """The dtype values of this spec come out with."""
    dt = spec.get("dtype")
    if dt is None:
        return np.dtype("float64")
    target = np.dtype(dt)
    return np.dtype("int64") if target.kind == "i" else target


def sample(spec: Mapping, u: np.ndarray) -> np.ndarray:
    """Values of ``spec`` for uniforms ``u`` in (0, 1): quantile, then bounds and dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from synframe.distributions import sample
    >>> u = np.array([0.1, 0.5, 0.9])
    >>> sample({"type": "discrete", "val": [1, 2, 3], "p": [0.2, 0.5, 0.3], "dtype": "int"}, u)
    array([1, 2, 3])
    >>> sample({"type": "gamma", "mean": 2.0, "std": 0.0}, u)
    array([2., 2., 2.])
    """
    return finish(spec, ppf(spec, np.asarray(u, dtype="float64")))
