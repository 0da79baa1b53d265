"""Exact sums of float64 values per group: the same result however a table is split.

A floating-point sum depends on the order of its terms (numpy's pairwise sum on the order of the
array), so a mean computed per partition and combined is not the mean of the whole column.
Here every finite float64 ``x`` is the integer ``x * 2**SHIFT``; sums of ``x`` and ``x**2``
(optionally each counted ``w`` times) are Python integers, exact, so partial sums of any
partitioning add up to the same value, and the mean and variance taken from them are correctly
rounded (more accurate than ``np.mean``/``np.std``, which agree with them to ~1e-16 relative).

The work is vectorised: mantissas are split into 27-bit limbs and summed per (group, sign,
exponent) with ``np.bincount`` (float64 sums of integers below 2**53 are exact); only the few
resulting bins become Python integers.

Examples
--------
>>> import numpy as np
>>> x = np.array([1e16, 1.0, -1e16, 1.0])
>>> float(np.mean(x)), mean_var(*sums(x, np.zeros(4, dtype=np.int64), 1)[0])[0]
(0.25, 0.5)
"""

from __future__ import annotations

import numpy as np

__all__ = ["SHIFT", "mean_var", "std", "sums"]

#: every finite float64 times 2**SHIFT is an integer (the smallest subnormal is 2**-1074)
SHIFT = 1074
_FRACTION = np.int64((1 << 52) - 1)
_HIDDEN = np.int64(1 << 52)
_LIMB = 27
_MASK = np.int64((1 << _LIMB) - 1)
#: rows per bincount call: limbs below 2**27 sum exactly in float64 for up to 2**26 rows; fewer
#: keep the temporaries in cache (2**18 rows: 3x faster than whole columns of millions)
_ROWS = 1 << 18


def _limbs(t: np.ndarray, shift: int) -> list[tuple[np.ndarray, int]]:
    """``t`` (non-negative int64 below 2**54) as two limbs below 2**27: ``[(low, s), (high, s + 27)]``."""
    return [(t & _MASK, shift), (t >> _LIMB, shift + _LIMB)]


def _terms(a: np.ndarray, square: bool, w: np.ndarray | None) -> list[tuple[np.ndarray, int]]:
    """Limbs (each below 2**27, with their power of two) whose sum is ``a`` (or ``a**2``) times ``w``."""
    hi, lo = a >> _LIMB, a & _MASK  # a < 2**53: hi < 2**26, lo < 2**27
    if square:  # a**2 = hi**2 2**54 + 2 hi lo 2**27 + lo**2, each product below 2**54
        terms = [*_limbs(hi * hi, 2 * _LIMB), *_limbs(2 * hi * lo, _LIMB), *_limbs(lo * lo, 0)]
    else:
        terms = [(lo, 0), (hi, _LIMB)]
    if w is None:
        return terms
    w_limbs = [(w & _MASK, 0), (w >> _LIMB, _LIMB)]  # w < 2**53
    return [
        limb
        for t, s in terms
        for wl, ws in w_limbs
        for limb in _limbs(t * wl, s + ws)  # both below 2**27: the product is below 2**54
    ]


def sums(
    x: np.ndarray,
    group: np.ndarray,
    n_groups: int,
    w: np.ndarray | None = None,
    *,
    squares: bool = True,
) -> list[tuple[int, int, int | None]]:
    """Per group ``(n, sum, sum of squares)``: ``n`` the count (``w``'s sum), the sums exact
    integers scaled by ``2**SHIFT`` and ``2**(2 * SHIFT)`` (``squares=False``: None, not summed).

    ``x``: finite values (converted to float64 first, as ``np.mean(x, dtype=float64)`` does);
    ``group``: the group (0 .. n_groups - 1) of each value; ``w``: how many times each value
    counts (non-negative integers below 2**53), None for once.
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    group = np.asarray(group, dtype=np.int64)
    if w is not None:
        w = np.asarray(w, dtype=np.int64)
        n = _exact_counts(group, w, n_groups)
    else:
        n = np.bincount(group, minlength=n_groups).tolist()
    if not len(x):
        return [(k, 0, 0 if squares else None) for k in n]
    bits = x.view(np.int64)  # IEEE 754: sign, 11 exponent bits, 52 fraction bits
    neg = bits < 0
    expo = (bits >> 52) & 0x7FF
    a = bits & _FRACTION
    a[expo > 0] |= _HIDDEN  # normal numbers: x = a * 2**(expo - 1075); subnormals: expo 1
    np.maximum(expo, 1, out=expo)
    lo_e = int(expo.min())
    n_e = int(expo.max()) - lo_e + 1
    key = neg.astype(np.int64)
    key += group * 2
    key *= n_e
    key += expo
    key -= lo_e
    del bits, neg
    if n_groups * 2 * n_e > max(4 * len(x), 1 << 16):  # sparse: number the bins present
        bins, key = np.unique(key, return_inverse=True)
    else:
        bins = np.arange(n_groups * 2 * n_e)
    out = []
    for square in (False, True) if squares else (False,):
        limb_sums: dict[int, np.ndarray] = {}  # limb power -> exact int64 sums per bin
        for start in range(0, len(x), _ROWS):
            part = slice(start, start + _ROWS)
            for limb, power in _terms(a[part], square, None if w is None else w[part]):
                got = np.bincount(key[part], weights=limb, minlength=len(bins)).astype(np.int64)
                if power in limb_sums:
                    limb_sums[power] += got
                else:
                    limb_sums[power] = got
        out.append(_to_ints(limb_sums, bins, n_e, lo_e, n_groups, square))
    if not squares:
        return [(n[g], out[0][g], None) for g in range(n_groups)]
    return [(n[g], out[0][g], out[1][g]) for g in range(n_groups)]


def _exact_counts(group: np.ndarray, w: np.ndarray, n_groups: int) -> list[int]:
    """Sum of ``w`` per group, exact (int64; ``w`` is below 2**53 and tables below 2**10 rows per
    synapse of it)."""
    n = [0] * n_groups
    if not len(group):
        return n
    order = np.argsort(group, kind="stable")
    g = group[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    for k, t in zip(g[starts].tolist(), np.add.reduceat(w[order], starts).tolist(), strict=True):
        n[k] = int(t)
    return n


def _to_ints(limb_sums: dict, bins: np.ndarray, n_e: int, lo_e: int, n_groups: int, square: bool):
    """Each group's exact sum from its (sign, exponent) bins of limb sums."""
    total = None
    for power, b in limb_sums.items():
        value = b.astype(object) << power  # Python integers: no overflow
        total = value if total is None else total + value
    group, rest = np.divmod(bins, 2 * n_e)
    negative, e = np.divmod(rest, n_e)
    unit = e + lo_e - 1075 + SHIFT  # a mantissa unit at this exponent, as a power of two >= 0
    total = total << np.asarray(2 * unit if square else unit, dtype=object)
    if not square:  # squares are positive whatever the sign
        total[negative == 1] *= -1
    out = [0] * n_groups
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    for k, t in zip(group[starts].tolist(), np.add.reduceat(total, starts), strict=True):
        out[k] = int(t)
    return out


def mean_var(n: int, s1: int, s2: int | None) -> tuple[float, float]:
    """Mean and population variance (``ddof=0``), correctly rounded, from `sums`' ``(n, s1, s2)``
    (variance NaN without ``s2``, inf beyond float64)."""
    if n <= 0:
        return float("nan"), float("nan")
    mean = s1 / (n << SHIFT)  # int / int: correctly rounded
    if s2 is None:  # squares not summed
        return mean, float("nan")
    num = n * s2 - s1 * s1  # n**2 var scaled by 2**(2 SHIFT), >= 0 exactly
    try:
        return mean, num / ((n * n) << (2 * SHIFT))
    except OverflowError:  # values near the float64 limit: a variance beyond it
        return mean, float("inf")


def std(n: int, s1: int, s2: int | None) -> float:
    """The population standard deviation, correctly rounded (the float nearest the square root
    of the exact variance, not the root of a rounded variance), from `sums`' ``(n, s1, s2)``;
    finite whenever the std is, even when the variance overflows or underflows float64."""
    import math
    from fractions import Fraction

    if n <= 0 or s2 is None:
        return float("nan")
    num = n * s2 - s1 * s1  # var = num / (n**2 2**(2 SHIFT))
    if num == 0:
        return 0.0
    k = max(0, (130 - num.bit_length()) // 2 + 1)  # >= 64 bits beyond a double's 53
    try:
        c = math.isqrt(num << (2 * k)) / (n << (SHIFT + k))  # within an ulp of the root
    except OverflowError:
        return float("inf")
    var = Fraction(num, (n * n) << (2 * SHIFT))
    for _ in range(4):  # the nearest float: var between the squares of the midpoints around c
        down, up = math.nextafter(c, 0.0), math.nextafter(c, math.inf)
        if var < ((Fraction(c) + Fraction(down)) / 2) ** 2:
            c = down
        elif math.isfinite(up) and var > ((Fraction(c) + Fraction(up)) / 2) ** 2:
            c = up
        else:
            break
    return c
