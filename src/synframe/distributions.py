"""Distribution specs, their validation, and vectorized, keyed samplers.

One module, though over 450 lines: each distribution kind's validation (``spec_problems``) and its
sampler (``ppf``) must agree on the same parameters and bounds; kept side by side, a kind is added
or changed in one place.

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

Then, exactly as connectome-manipulator 1.0.4 (``ConnPropsModel.draw``):

- ``lower_bound`` / ``upper_bound`` clip (either may be ``±Infinity``, as CM's ``build`` writes
  one-sided ``data_bounds``);
- ``dtype`` casts: ``"int"`` rounds first (half to even), every other integer dtype (``"int32"`` …)
  truncates toward zero as numpy's ``astype`` does; values that do not fit the integer dtype are an
  error here (CM would wrap them silently);
- without ``dtype`` the values keep the type CM gives them: integers for ``poisson``, ``ztpoisson``,
  ``discrete`` with integer ``val``, ``constant`` with an integer ``mean`` (also ``gamma`` with
  ``std == 0`` and an integer ``mean``), floats otherwise; a float bound (``0.0``, ``Infinity``)
  makes integers floats, as ``np.maximum`` does;
- ``n_syn_per_conn`` (synapses per connection, `N_SYN_PER_CONN`) is rounded and made at
  least 1 (an integer) before bounds and ``dtype``.

``shared_within`` (default ``True``; ``null`` / ``0`` / ``False``: not shared, as CM reads it) is
used by [`synframe.parameterize`][synframe.parameterize.parameterize].

Sampling is by inverse CDF from keyed uniforms ([`keyed_uniforms`][synframe.distributions.keyed_uniforms]): the value for a synapse
depends only on (seed, property, pre, post[, synapse id]), never on row order or chunking.
"""

from __future__ import annotations

import hashlib
import numbers
from collections.abc import Mapping

import numpy as np

from ._gamma import gamma_ppf
from .errors import OptionError, PathwayError

__all__ = [
    "DISTRIBUTIONS",
    "N_SYN_PER_CONN",
    "cdf",
    "keyed_uniforms",
    "output_dtype",
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
#: the types connectome-manipulator 1.0.4 knows (the others are synframe's / newer obi-one's)
CM_TYPES = ("constant", "normal", "truncnorm", "gamma", "poisson", "ztpoisson", "discrete", "zero")
#: connectome-manipulator's structural property (synapses per connection): rounded, at least 1
N_SYN_PER_CONN = "n_syn_per_conn"

_INT64 = (-(2**63), 2**63 - 1)


def _num(x) -> bool:
    """A finite real number (not a bool); Python ints must fit int64."""
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        return False
    if isinstance(x, numbers.Integral):
        return _INT64[0] <= int(x) <= _INT64[1]
    return bool(np.isfinite(x))


def _bound(x) -> bool:
    """A bound: a real number, ``±inf`` allowed (CM writes one-sided bounds as ``±Infinity``)."""
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        return False
    if isinstance(x, numbers.Integral):
        return _INT64[0] <= int(x) <= _INT64[1]
    return not np.isnan(x)


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
        if b is not None and not _bound(b):
            out.append(f"'{name}' must be a number (or ±Infinity), or absent; got {b!r}")
    if _bound(lo) and _bound(hi) and lo > hi:
        out.append(f"'lower_bound' ({lo}) must be <= 'upper_bound' ({hi})")
    if (_bound(lo) and lo == np.inf) or (_bound(hi) and hi == -np.inf):
        out.append(
            "a lower_bound of +Infinity or an upper_bound of -Infinity makes every value infinite"
        )
    sw = g("shared_within", True)
    if not (sw is None or isinstance(sw, (bool, np.bool_)) or (_num(sw) and sw in (0, 1))):
        out.append(f"'shared_within' must be a bool, 1.0 / 0.0 or null, got {sw!r}")
    dt = g("dtype")
    if dt is not None:
        try:
            kind = np.dtype(dt).kind
        except TypeError:
            kind = None
        if not isinstance(dt, str) or kind not in ("i", "u", "f"):
            out.append(
                f"'dtype' must be a numeric numpy dtype name like 'int', 'int32' or 'float', got {dt!r}"
            )
    if not out:
        out += _range_problems(spec)
    return out


#: the smallest and largest uniforms [`keyed_uniforms`][synframe.distributions.keyed_uniforms] gives: the extreme quantiles drawn
U_EXTREMES = (2.0**-54, 1.0 - 2.0**-53)
#: the standard normal's quantiles there (``scipy.special.ndtri``)
_Z = (-8.292361075813597, 8.209536151601387)
#: the standard exponential's largest quantile there (``-log(2**-53)``)
_E_MAX = 36.7368005696771
#: ``-log`` of the tail probability beyond the extremes, for tail bounds (e**-37.5 < 2**-54)
_T = 37.5
#: the largest Poisson mean drawn: scipy's Poisson quantile gives NaN above ~1e11
POISSON_MAX_MEAN = 1e9


def _outer_range(spec: Mapping) -> tuple[float, float]:
    """Values that enclose every draw of ``spec`` before bounds and dtype, cheaply (no scipy).

    Exact for most types; for gamma and Poisson an upper tail bound (Bernstein / Chernoff:
    ``P(X > k + 2 sqrt(k t) + 2 t) <= e**-t`` for a gamma of shape ``k``, scale 1), so a range
    that fits proves the draws fit; one that does not is checked exactly.
    """
    kind, g = spec["type"], spec.get
    with np.errstate(all="ignore"):
        if kind in ("constant", "zero", "discrete"):
            vals = np.asarray(g("val") if kind == "discrete" else [g("mean", 0)], dtype="float64")
            return float(vals.min()), float(vals.max())
        if kind == "normal":
            return tuple(float(np.float64(g("mean")) + np.float64(g("std")) * z) for z in _Z)
        if kind == "lognormal":
            return tuple(
                float(np.exp(np.float64(g("mean")) + np.float64(g("std")) * z)) for z in _Z
            )
        if kind == "exponential":
            return 0.0, float(np.float64(g("mean")) * _E_MAX)
        if kind in ("uniform", "truncnorm"):
            return float(g("min")), float(g("max"))
        if kind == "gamma":
            mean, std = np.float64(g("mean")), np.float64(g("std"))
            if std == 0 or std < 1e-4 * mean:
                return float(mean + std * _Z[0]), float(mean + std * _Z[1])
            k, scale = gamma_shape_scale(mean, std)
            return 0.0, float(scale * (k + 2.0 * np.sqrt(k * _T) + 2.0 * _T))
        mean = np.float64(g("mean"))  # poisson, ztpoisson
        return 0.0, float(mean + 2.0 * np.sqrt(mean * _T) + 2.0 * _T)


def _range_problems(spec: Mapping) -> list[str]:
    """Parameters that pass their checks but cannot be drawn in float64 / the asked dtype.

    The quantile functions are monotone, so the values at the extreme uniforms the sampler can
    give enclose every draw: they must be finite (no overflow to ``inf``, no ``NaN`` from
    ``inf - inf``), fit int64 where the sampler gives integers, and, after bounds, fit the
    spec's ``dtype``. Checked on a cheap enclosing range first (`_outer_range`), exactly
    only where that range does not fit.
    """
    kind = spec["type"]
    if kind in ("poisson", "ztpoisson") and spec["mean"] > POISSON_MAX_MEAN:
        return [
            f"{kind} 'mean' {spec['mean']!r} is above {POISSON_MAX_MEAN:g}, where its quantiles "
            "cannot be computed reliably; use a normal with mean m and std sqrt(m) (what a "
            "Poisson of that mean is to float precision)"
        ]
    if kind == "gamma" and spec["std"] > 0 and not spec["std"] < 1e-4 * spec["mean"]:
        shape, scale = gamma_shape_scale(spec["mean"], spec["std"])
        if not (shape > 0 and np.isfinite(scale) and scale > 0):
            return [
                f"gamma mean {spec['mean']!r} and std {spec['std']!r} give shape "
                f"mean**2/std**2 = {shape:.3g} and scale std**2/mean = {scale:.3g}, which "
                "float64 cannot hold (they under- or overflow); rescale the property "
                "(e.g. other units) or use another distribution"
            ]
    base = base_dtype(spec)

    def problems(lo: float, hi: float) -> list[str]:
        if not (np.isfinite(lo) and np.isfinite(hi)):
            return [
                f"{kind} with these parameters cannot be drawn in float64: its quantiles at "
                f"2**-54 and 1 - 2**-53 (the extreme uniforms the sampler uses) are "
                f"{lo:.6g} and {hi:.6g}; use parameters whose values float64 can hold "
                "(rescale the property, e.g. other units"
                + (
                    "; a lognormal's mean and std are those of log x)"
                    if kind == "lognormal"
                    else ")"
                )
            ]
        if base.kind in "iu" and not (lo >= -(2.0**63) and hi < 2.0**63):
            return [f"{kind} gives values up to {hi:.6g}, beyond int64; use a smaller mean"]
        if spec.get("dtype") is not None:
            try:
                finish(spec, np.array([lo, hi]).astype(base))
            except PathwayError as exc:
                return [str(exc)]
        return []

    found = problems(*_outer_range(spec))
    if found and kind in ("gamma", "poisson", "ztpoisson", "truncnorm"):  # bounds: exactly
        with np.errstate(all="ignore"):
            exact = ppf(spec, np.array(U_EXTREMES), exact_gamma=True)
        found = problems(float(exact[0]), float(exact[-1]))
    return found


def validate_spec(spec, where: str = "spec") -> Mapping:
    """Return ``spec`` if valid, else raise [`PathwayError`][synframe.errors.PathwayError] listing all problems."""
    problems = spec_problems(spec)
    if problems:
        raise PathwayError(f"{where}: " + "; ".join(problems))
    return spec


def shared_within(spec: Mapping) -> bool:
    """The spec's ``shared_within`` as a bool: default True; ``null`` is False (as CM reads it)."""
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
                # (bits + 0.5) / 2**53 rounds to 1.0 for the largest bits: keep it below 1
                np.minimum(row, 1.0 - 2.0**-53, out=row)
    return out if streams > 1 else out[0]


# --- samplers ---------------------------------------------------------------------------------------


#: beyond this many standard units the truncated normal is an exponential to float precision
_FAR_TAIL = 1e4


def _far_tail_ppf(u: np.ndarray, a: float, b: float) -> np.ndarray:
    """Quantiles of the standard normal truncated to [a, b] with b << 0 (far in the left tail).

    There ``exp(-x**2 / 2)`` is ``exp(-b**2 / 2) * exp(|b| (x - b))`` up to a factor
    ``exp(-(x - b)**2 / 2)`` that is 1 to float precision (``x - b`` is about ``1 / |b|``): the
    distance below ``b`` is an exponential of rate ``|b|`` truncated to ``b - a``. Inverted in
    logs, so nothing overflows (scipy's ``truncnorm.ppf`` gives infinities for |b| >~ 1e154).
    """
    rate, width = -b, b - a
    u = np.asarray(u, dtype="float64")
    with np.errstate(divide="ignore"):
        y = -np.logaddexp(np.log(u), np.log1p(-u) - rate * width) / rate
    return np.clip(b - y, a, b)


def _far_tail_cdf(z: np.ndarray, a: float, b: float) -> np.ndarray:
    """The CDF that `_far_tail_ppf` inverts (``b << 0``), at standard units ``z``."""
    rate, width = -b, b - a
    y = b - np.clip(z, a, b)
    with np.errstate(over="ignore"):
        return (np.exp(-rate * y) - np.exp(-rate * width)) / -np.expm1(-rate * width)


def _far_truncnorm(x, a: float, b: float, lo: float, hi: float, scale: float, *, cdf: bool):
    """Quantiles (``cdf=False``: ``x`` are uniforms) or the CDF (``x`` are values) of a
    truncated normal whose [min, max] lies beyond ``_FAR_TAIL`` standard units, in the units of
    min and max.

    The draws then lie within about ``scale / |a|`` of the end nearer the normal's centre: an
    exponential of rate ``|a|`` (or ``|b|``) standard units truncated to the interval, measured
    from that end. Measuring from the end (not from ``norm_loc``) keeps the precision of
    values that differ from it by less than the float resolution of ``norm_loc``.
    """
    near_hi = b < -_FAR_TAIL
    rate, width = (-b, b - a) if near_hi else (a, b - a)
    x = np.asarray(x, dtype="float64")
    end = hi if near_hi else lo
    if not width > 0:  # [min, max] below the resolution of standard units (or both infinite)
        return (x >= end).astype("float64") if cdf else np.full(x.shape, float(end))
    with np.errstate(all="ignore"):
        rest = np.exp(-rate * width)  # the mass the exponential puts beyond the far end
        rest = float(rest) if np.isfinite(rest) else 0.0
        if cdf:
            y = np.clip(((hi - x) if near_hi else (x - lo)) / scale, 0.0, width)
            ry = np.where(y > 0, rate * y, 0.0)
            total = -np.expm1(-rate * width) if rest > 0 else 1.0
            return ((np.exp(-ry) - rest) if near_hi else -np.expm1(-ry)) / total
        v = x if near_hi else 1.0 - x  # P(distance from the near end >= y) = v
        y = -np.logaddexp(np.log(v), np.log1p(-v) + np.log(rest)) / rate
        d = np.where(np.isfinite(y), y * scale, 0.0)
        return hi - d if near_hi else lo + d


def _truncnorm_flat(a: float, b: float) -> bool:
    """True when the normal density is constant to ~1e-12 over [a, b] (standard units): the
    truncated normal is then a uniform on [min, max] (scipy loses all precision there)."""
    return not b > a or (b - a) * max(abs(a), abs(b)) < 1e-12


def _truncnorm_std_cdf(z: np.ndarray, a: float, b: float) -> np.ndarray:
    """P(X <= z) of the standard normal truncated to [a, b] (not flat)."""
    from scipy import stats

    if b < -_FAR_TAIL:
        return _far_tail_cdf(z, a, b)
    if a > _FAR_TAIL:  # mirrored: P(X <= z) = 1 - P(-X < -z)
        return 1.0 - _far_tail_cdf(-z, -b, -a)
    return stats.truncnorm.cdf(z, a, b)


def _truncnorm_std_ppf(u: np.ndarray, a: float, b: float) -> np.ndarray:
    """Quantiles of the standard normal truncated to [a, b], exactly (by inverting the CDF).

    Works on the side of the mode where the normal CDF keeps its precision (mirroring when the
    interval lies right of 0); intervals so far out that the CDF difference underflows use
    scipy's tail-aware implementation, and beyond ``_FAR_TAIL`` standard units (where scipy
    loses precision, then overflows) the exponential limit `_far_tail_ppf`.
    """
    from scipy import special, stats

    flip = a > 0
    if flip:
        a, b, u = -b, -a, 1.0 - u
    pa, pb = special.ndtr(a), special.ndtr(b)
    if b < -_FAR_TAIL:  # scipy overflows (a**2) past ~1e154; exact to ~1/b**2 here
        x = _far_tail_ppf(u, a, b)
    elif pb - pa < 1e-12 * max(pb, 1e-300):
        x = np.clip(stats.truncnorm.ppf(u, a, b), a, b)
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


def gamma_shape_scale(mean: float, std: float) -> tuple[float, float]:
    """Shape ``mean**2 / std**2`` and scale ``std**2 / mean`` of a gamma, without overflow.

    The plain formulas where their squares stay in float64's range; else from ``std / mean``
    (e.g. mean and std 1e200: shape 1, scale 1e200). A shape of 0 or an infinite scale means the
    distribution cannot be represented ([`spec_problems`][synframe.distributions.spec_problems] refuses it).
    """
    mean, std = np.float64(mean), np.float64(std)
    with np.errstate(all="ignore"):
        shape, scale = mean**2 / std**2, std**2 / mean
        if not (np.isfinite(shape) and shape > 0 and np.isfinite(scale) and scale > 0):
            cv = std / mean
            shape, scale = (1.0 / cv) ** 2, std * cv
    return float(shape), float(scale)


def ppf(spec: Mapping, u: np.ndarray, *, exact_gamma: bool = False) -> np.ndarray:
    """The spec's quantile function at ``u`` (before bounds and dtype)."""
    from scipy import special, stats

    kind = spec["type"]
    g = spec.get
    n = len(u)
    if kind == "constant":
        return np.full(n, g("mean"))  # an int mean stays an int (as CM's np.full)
    if kind == "zero":
        return np.zeros(n)
    if kind == "normal":
        return g("mean") + g("std") * special.ndtri(u)
    if kind == "truncnorm":
        loc, scale, lo, hi = g("norm_loc"), g("norm_scale"), g("min"), g("max")
        if scale == 0 or lo == hi:
            return np.full(n, float(np.clip(loc, lo, hi)))
        a, b = (lo - loc) / scale, (hi - loc) / scale
        if b < -_FAR_TAIL or a > _FAR_TAIL:  # at the near end: in original units (precision)
            return np.clip(_far_truncnorm(u, a, b, lo, hi, scale, cdf=False), lo, hi)
        if _truncnorm_flat(a, b):  # [min, max] so narrow in standard units that it is flat
            return lo + (hi - lo) * u
        return np.clip(loc + scale * _truncnorm_std_ppf(u, a, b), lo, hi)
    if kind == "gamma":
        mean, std = g("mean"), g("std")
        if std == 0:
            return np.full(n, float(mean))
        if std < 1e-4 * mean:  # shape > 1e8: the gamma is normal to float precision
            return mean + std * special.ndtri(u)
        shape, scale = gamma_shape_scale(mean, std)
        if exact_gamma:  # a few values (validation): scipy's, no table built for this shape
            return special.gammaincinv(shape, u) * scale
        return gamma_ppf(shape, u) * scale  # tabulated: ~1e-11 of scipy's gammaincinv
    if kind == "poisson":
        return stats.poisson.ppf(u, g("mean")) if g("mean") > 0 else np.zeros(n)
    if kind == "ztpoisson":
        lam = _ztpoisson_lambda(g("mean"))
        if lam == 0:
            return np.ones(n)
        p0 = np.exp(-lam)
        q = np.minimum(p0 + u * (1 - p0), np.nextafter(1.0, 0.0))  # may round to 1 for u near 1
        return np.maximum(stats.poisson.ppf(q, lam), 1.0)
    if kind == "discrete":
        val = np.asarray(g("val"))  # integer values stay integers (as CM's np.random.choice)
        cdf = np.cumsum(np.asarray(g("p"), dtype="float64"))
        cdf /= cdf[-1]
        return val[np.minimum(np.searchsorted(cdf, u, side="right"), len(val) - 1)]
    if kind == "lognormal":
        return np.exp(g("mean") + g("std") * special.ndtri(u))
    if kind == "uniform":
        lo, hi = g("min"), g("max")
        with np.errstate(over="ignore"):
            span = np.float64(hi) - np.float64(lo)
        if np.isfinite(span):
            return lo + span * u
        return lo * (1.0 - u) + hi * u  # max - min overflows (e.g. -1e308 .. 1e308)
    if kind == "exponential":
        return -g("mean") * np.log1p(-u)
    raise PathwayError(f"unknown distribution type {kind!r}")  # pragma: no cover - validated before


def base_dtype(spec: Mapping) -> np.dtype:
    """The dtype connectome-manipulator's sampler gives ``spec`` before bounds and ``dtype``."""
    kind = spec["type"]
    g = spec.get
    if kind in ("poisson", "ztpoisson"):
        return np.dtype("int64")
    if kind == "constant" or (kind == "gamma" and g("std") == 0):
        return np.asarray(g("mean")).dtype
    if kind == "discrete":
        return np.asarray(g("val")).dtype
    if kind == "truncnorm" and not g("norm_scale") > 0:  # np.clip(np.full(n, loc), min, max)
        return np.clip(np.full(1, g("norm_loc")), g("min"), g("max")).dtype
    return np.dtype("float64")


def _cast(values: np.ndarray, dt) -> np.ndarray:
    """``values.astype(dt)`` as CM does it (``"int"`` rounds first), refusing what does not fit.

    CM (numpy's ``astype``) would wrap integers silently (300 -> uint8 44, -5 -> uint32
    4294967291, 2**63 -> int64 -2**63) and turn floats beyond float32's range into ``inf``;
    here the whole range is checked exactly (Python integers, no float rounding) first.
    """
    target = np.dtype(dt)
    if dt == "int":
        values = np.round(values)
    if not len(values) or values.dtype == target:
        return values.astype(target)
    lo, hi = np.min(values), np.max(values)
    if target.kind in "iu":
        info = np.iinfo(target)
        # after truncation toward zero (what astype does); int() of a float is exact
        fits = bool(np.isfinite(lo) and np.isfinite(hi)) and (
            info.min <= int(np.trunc(lo)) and int(np.trunc(hi)) <= info.max
        )
        if not fits:
            raise PathwayError(
                f"values {lo}..{hi} do not fit dtype {dt!r} ({info.min}..{info.max}); "
                "bound them (lower_bound / upper_bound) or use a wider dtype"
            )
    elif target.kind == "f" and target.itemsize < values.dtype.itemsize:
        big = np.finfo(target).max
        if np.isfinite(lo) and np.isfinite(hi) and (lo < -big or hi > big):
            raise PathwayError(
                f"values {lo}..{hi} do not fit dtype {dt!r} (+-{float(big):.6g}: they would "
                "become infinite); bound them (lower_bound / upper_bound) or use 'float64'"
            )
    return values.astype(target)


def finish(spec: Mapping, values: np.ndarray, *, n_syn_per_conn: bool = False) -> np.ndarray:
    """CM's steps after drawing: (``n_syn_per_conn``: round, at least 1), bounds, ``dtype``."""
    if n_syn_per_conn:
        values = np.maximum(_cast(values, "int"), 1)
    lo, hi = spec.get("lower_bound"), spec.get("upper_bound")
    if lo is not None:
        values = np.maximum(values, lo)
    if hi is not None:
        values = np.minimum(values, hi)
    dt = spec.get("dtype")
    if dt is not None:
        values = _cast(values, dt)
    return values


def output_dtype(spec: Mapping, *, n_syn_per_conn: bool = False) -> np.dtype:
    """The dtype values of ``spec`` come out with: connectome-manipulator's, see the module docs.

    Examples
    --------
    >>> from synframe.distributions import output_dtype
    >>> [str(output_dtype(s)) for s in ({"type": "poisson", "mean": 2.0},
    ...  {"type": "poisson", "mean": 2.0, "lower_bound": 0.0}, {"type": "constant", "mean": 3},
    ...  {"type": "normal", "mean": 2.0, "std": 1.0, "dtype": "int32"})]
    ['int64', 'float64', 'int64', 'int32']
    """
    return finish(spec, np.ones(1, dtype=base_dtype(spec)), n_syn_per_conn=n_syn_per_conn).dtype


def sample(spec: Mapping, u: np.ndarray, *, n_syn_per_conn: bool = False) -> np.ndarray:
    """Values of ``spec`` for uniforms ``u`` in (0, 1): quantile, then bounds and dtype as CM.

    ``n_syn_per_conn=True`` applies CM's rule for synapses per connection (rounded, at least 1).

    Examples
    --------
    >>> import numpy as np
    >>> from synframe.distributions import sample
    >>> u = np.array([0.1, 0.5, 0.9])
    >>> sample({"type": "discrete", "val": [1, 2, 3], "p": [0.2, 0.5, 0.3]}, u)
    array([1, 2, 3])
    >>> sample({"type": "gamma", "mean": 2.0, "std": 0.0}, u)
    array([2., 2., 2.])
    >>> sample({"type": "normal", "mean": 0.5, "std": 1.0}, u, n_syn_per_conn=True)
    array([1, 1, 2])
    """
    values = ppf(spec, np.asarray(u, dtype="float64"))
    values = values.astype(base_dtype(spec), copy=False)
    return finish(spec, values, n_syn_per_conn=n_syn_per_conn)


# --- the distribution of finished values (for tests: synframe.testing.assert_drawn_from) ------------


def _base_cdf(spec: Mapping, t: np.ndarray, strict: np.ndarray) -> np.ndarray:
    """P(X < t) where ``strict`` else P(X <= t), X the spec's draw before bounds and dtype."""
    from scipy import special, stats

    kind = spec["type"]
    g = spec.get
    point = _point_mass(spec)
    if point is not None:
        return np.where(strict, point < t, point <= t).astype("float64")
    if kind in ("poisson", "ztpoisson"):
        k = np.where(strict, np.ceil(t) - 1, np.floor(t))
        if kind == "poisson":
            return stats.poisson.cdf(k, g("mean"))
        lam = _ztpoisson_lambda(g("mean"))
        p0 = np.exp(-lam)
        return np.clip((stats.poisson.cdf(k, lam) - p0) / -np.expm1(-lam), 0.0, 1.0)
    if kind == "discrete":
        val = np.asarray(g("val"), dtype="float64")
        p = np.asarray(g("p"), dtype="float64")
        p = p / p.sum()
        order = np.argsort(val, kind="stable")
        val, cum = val[order], np.r_[0.0, np.cumsum(p[order])]
        idx = np.where(
            strict, np.searchsorted(val, t, side="left"), np.searchsorted(val, t, side="right")
        )
        return np.clip(cum[idx], 0.0, 1.0)
    if kind == "normal":
        return special.ndtr((t - g("mean")) / g("std"))
    if kind == "truncnorm":
        loc, scale = g("norm_loc"), g("norm_scale")
        a, b = (g("min") - loc) / scale, (g("max") - loc) / scale
        if b < -_FAR_TAIL or a > _FAR_TAIL:  # as ppf
            far = _far_truncnorm(t, a, b, g("min"), g("max"), scale, cdf=True)
            return np.clip(far, 0.0, 1.0)
        if _truncnorm_flat(a, b):  # as ppf: flat on [min, max]
            return np.clip((t - g("min")) / (g("max") - g("min")), 0.0, 1.0)
        return _truncnorm_std_cdf((np.asarray(t, dtype="float64") - loc) / scale, a, b)
    if kind == "gamma":
        mean, std = g("mean"), g("std")
        if std < 1e-4 * mean:  # as ppf: normal to float precision (and std**2 may underflow)
            return special.ndtr((t - mean) / std)
        shape, scale = gamma_shape_scale(mean, std)
        x = np.clip(t, 0, None) / scale
        tiny = (t > 0) & (x < 1e-300)  # x^a / Gamma(a + 1) there, in logs (x may underflow)
        with np.errstate(divide="ignore"):
            log_small = shape * (np.log(np.where(tiny, t, 1.0)) - np.log(scale))
        small = np.exp(log_small - special.gammaln(shape + 1))
        return np.where(tiny, small, special.gammainc(shape, x))
    if kind == "lognormal":
        with np.errstate(divide="ignore"):
            return special.ndtr((np.log(np.clip(t, 0, None)) - g("mean")) / g("std"))
    if kind == "uniform":
        return np.clip((t - g("min")) / (g("max") - g("min")), 0.0, 1.0)
    if kind == "exponential":
        return -np.expm1(-np.clip(t, 0, None) / g("mean"))
    raise PathwayError(f"unknown distribution type {kind!r}")  # pragma: no cover


def _point_mass(spec: Mapping) -> float | None:
    """The single value of a degenerate spec (constant, zero, std 0 ...), else None."""
    kind = spec["type"]
    g = spec.get
    degenerate = (
        kind in ("constant", "zero")
        or (kind in ("normal", "lognormal", "gamma") and g("std") == 0)
        or (kind == "truncnorm" and (g("norm_scale") == 0 or g("min") == g("max")))
        or (kind == "uniform" and g("min") == g("max"))
        or (kind == "poisson" and g("mean") == 0)
        or (kind == "ztpoisson" and g("mean") == 1)
        or (kind == "discrete" and len(set(np.asarray(g("val"), dtype="float64").tolist())) == 1)
    )
    return float(ppf(spec, np.array([0.5]))[0]) if degenerate else None


def is_discrete(spec: Mapping, *, n_syn_per_conn: bool = False) -> bool:
    """True when the finished values take only isolated values (atoms), no continuum."""
    lo, hi = spec.get("lower_bound"), spec.get("upper_bound")
    return (
        n_syn_per_conn
        or spec["type"] in ("poisson", "ztpoisson", "discrete", "constant", "zero")
        or _point_mass(spec) is not None
        or np.dtype(output_dtype(spec)).kind in "iu"
        or (lo is not None and hi is not None and lo == hi)
    )


def cdf(spec: Mapping, x, *, left: bool = False, n_syn_per_conn: bool = False) -> np.ndarray:
    """P(Y <= x) (``left=True``: P(Y < x)) for Y the values [`sample`][synframe.distributions.sample] gives ``spec``.

    Exact, including bounds (point masses at the bounds), ``dtype`` rounding or truncation and the
    ``n_syn_per_conn`` rule: every step is monotone, so a condition on Y is a condition on the draw.

    Examples
    --------
    >>> from synframe.distributions import cdf
    >>> spec = {"type": "normal", "mean": 0.0, "std": 1.0, "lower_bound": 0.0}
    >>> cdf(spec, [-1.0, 0.0, 0.0], left=False).tolist(), float(cdf(spec, 0.0, left=True)[0])
    ([0.0, 0.5, 0.5], 0.0)
    >>> cdf({"type": "poisson", "mean": 2.0, "dtype": "int"}, 0.0).round(4).tolist()
    [0.1353]
    """
    t = np.atleast_1d(np.asarray(x, dtype="float64")).copy()
    strict = np.full(t.shape, bool(left))
    dt = spec.get("dtype")
    if dt is not None and np.dtype(dt).kind in "iu":  # Y integer: a condition on an integer k
        k = np.where(strict, np.ceil(t) - 1, np.floor(t))
        if dt == "int":  # round half to even: k + 0.5 rounds to k when k is even
            t, strict = k + 0.5, (k % 2) != 0
        else:  # truncation toward zero
            t, strict = np.where(k >= 0, k + 1, k), k >= 0
    lo, hi = spec.get("lower_bound"), spec.get("upper_bound")
    lo = -np.inf if lo is None else lo
    hi = np.inf if hi is None else hi
    always = (t > hi) | ((t == hi) & ~strict)
    never = (t < lo) | ((t == lo) & strict)
    never_inner = np.zeros(t.shape, dtype=bool)
    if n_syn_per_conn:
        k = np.where(strict, np.ceil(t) - 1, np.floor(t))
        never_inner = k < 1
        t, strict = k + 0.5, (k % 2) != 0
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):  # far tails: 0 or 1
        out = _base_cdf(spec, t, strict)
    out = np.where(never_inner, 0.0, out)
    return np.where(always, 1.0, np.where(never, 0.0, out))


#: seeds are ints in [0, SEED_LIMIT): they are recorded in attrs, JSON and HDF5 attributes as int64
SEED_LIMIT = 2**63


def resolve_seed(seed) -> int:
    """A seed in ``[0, 2**63)``; ``None`` draws one from the OS (and it is recorded in attrs).

    Raises [`OptionError`][synframe.errors.OptionError] (a ``ValueError`` and ``TypeError``) for anything
    else: negative, too large, floats (``1.5``, but also ``1.0``), text, booleans.
    """
    if seed is None:
        return int(np.random.SeedSequence().entropy % SEED_LIMIT)
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise OptionError(
            f"seed must be an int in [0, 2**63) or None (a seed is drawn and recorded), "
            f"got {seed!r} ({type(seed).__name__})"
        )
    if not 0 <= int(seed) < SEED_LIMIT:
        raise OptionError(f"seed must be an int in [0, 2**63) or None, got {seed!r}")
    return int(seed)
