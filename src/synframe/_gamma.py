"""A fast quantile function of the gamma distribution, accurate to ~1e-11 relative.

``scipy.special.gammaincinv`` costs ~0.4 µs per value (a few Halley steps, each an incomplete gamma
function); drawn once per connection on EM-sized tables (millions of connections) it dominated
``parameterize``. The draws of one (property, pathway) share one shape, so the quantile is
tabulated once per shape and then evaluated as a table lookup:

- the variable is ``w = logit(u)``, in which ``log x(w)`` is smooth over the whole range of keyed
  uniforms (``u`` in ``[2**-54, 1 - 2**-53]``, ``|w| < 37.5``): linear in the left tail
  (``x ~ u**(1/a)``), logarithmic in the right one (``x ~ -log(1 - u)``);
- ``log x`` is a quintic Hermite interpolant on ``_NODES`` equal intervals of ``w`` in
  ``[-_W, _W]``, from exact values and exact first and second derivatives at the nodes
  (``d log x / dw = u (1 - u) / (x f(x))``, ``f`` the gamma density);
- node values come from scipy (``gammaincinv`` left of the median, ``gammainccinv`` of ``1 - u``
  right of it, where ``1 - u`` is exact).

Measured against ``scipy.special.gammaincinv`` (``tests/test_engine.py`` asserts 1e-10): at most
1.3e-11 relative over shapes ``[_SHAPE_MIN, _SHAPE_MAX]`` and ``u`` from ``2**-54`` to
``1 - 2**-53``. Outside that shape range, where ``x`` would underflow (tiny shapes, far left
tail) and at ``u`` outside the tabulated range (``u == 1``), values are scipy's. Every value
depends only on ``(shape, u)``: the same however many values are drawn at once.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["gamma_ppf"]

#: the tabulated interval of w = logit(u); keyed uniforms have |w| <= 37.43
_W = 38.0
#: intervals of the table (1,025 nodes: 49 KB of coefficients per shape, ~1 ms to build)
_NODES = 1024
#: shapes tabulated (coefficient of variation 0.0032 to 3.2); others use scipy directly
_SHAPE_MIN = 0.1
_SHAPE_MAX = 1e5
#: smallest quantile tabulated (below: x and its logarithm lose precision; scipy's value is used)
_X_MIN = 1e-290


@lru_cache(maxsize=512)
def _table(shape: float) -> tuple[float, float, np.ndarray, float]:
    """(w0, 1/h, coefficients (6, _NODES), smallest w tabulated) of the quintic pieces."""
    from scipy import special

    w = np.linspace(-_W, _W, _NODES + 1)
    p, q = special.expit(w), special.expit(-w)
    with np.errstate(all="ignore"):
        x = np.where(w <= 0, special.gammaincinv(shape, p), special.gammainccinv(shape, q))
        g = np.log(x)
        # d log x / dw and its derivative, in logs where terms are huge
        d1 = np.exp(np.log(p) + np.log(q) + special.gammaln(shape) - shape * g + x)
        d2 = d1 * ((q - p) - (shape - x) * d1)
    h = w[1] - w[0]
    usable = np.flatnonzero(x > _X_MIN)
    first = int(usable[0]) if len(usable) else _NODES
    y0, y1 = g[:-1], g[1:]
    m0, m1 = d1[:-1] * h, d1[1:] * h
    k0, k1 = d2[:-1] * h * h, d2[1:] * h * h
    a = y1 - y0 - m0 - k0 / 2
    b = m1 - m0 - k0
    c = k1 - k0
    coef = np.stack(
        [y0, m0, k0 / 2, 10 * a - 4 * b + c / 2, -15 * a + 7 * b - c, 6 * a - 3 * b + c / 2]
    )
    coef[:, :first] = 0.0  # intervals left of the first usable node: never used (scipy there)
    w_min = float(w[first]) if first < _NODES else np.inf
    return float(w[0]), float(1.0 / h), np.ascontiguousarray(coef), w_min


def gamma_ppf(shape: float, u: np.ndarray) -> np.ndarray:
    """Quantiles at ``u`` of the gamma distribution with ``shape`` and scale 1.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import special
    >>> from synframe._gamma import gamma_ppf
    >>> u = np.array([1e-12, 0.25, 0.5, 0.999])
    >>> bool(np.allclose(gamma_ppf(2.5, u), special.gammaincinv(2.5, u), rtol=1e-11, atol=0))
    True
    """
    from scipy import special

    u = np.asarray(u, dtype="float64")
    shape = float(shape)
    if not (_SHAPE_MIN <= shape <= _SHAPE_MAX):
        return special.gammaincinv(shape, u)
    if u.ndim != 1:  # any shape of u: the same values as in one dimension
        return gamma_ppf(shape, u.ravel()).reshape(u.shape)
    w0, inv_h, coef, w_min = _table(shape)
    with np.errstate(all="ignore"):  # u = 0, 1 or NaN: garbage here, scipy's value below
        w = np.log(u / (1.0 - u))
        exact = ~((w >= w_min) & (w <= _W))
        s = w - w0
        s *= inv_h
        i = s.astype(np.intp)
        np.clip(i, 0, _NODES - 1, out=i)
        t = s
        t -= i  # in [0, 1] where tabulated
        y = coef[5].take(i)
        for k in (4, 3, 2, 1, 0):
            y *= t
            y += coef[k].take(i)
        out = np.exp(y, out=y)
    if exact.any():
        out[exact] = special.gammaincinv(shape, u[exact])
    return out
