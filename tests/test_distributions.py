"""Samplers: exact parameter semantics, checked against scipy.stats and with
:func:`synframe.testing.assert_drawn_from` (tolerances from the sample size)."""

import numpy as np
import pytest
from hypothesis import given
from scipy import stats

from synframe.distributions import (
    keyed_uniforms,
    output_dtype,
    sample,
    spec_problems,
    validate_spec,
)
from synframe.errors import PathwayError
from synframe.testing import assert_drawn_from, distribution_specs, invalid_distribution_specs

N = 200_000
IDX = np.arange(N, dtype=np.int64)


def draws(spec, seed=7, name="p"):
    return sample(spec, keyed_uniforms(seed, name, IDX))


def close(sample_stat, expected, sigma, n=N, k=5.0):
    """|sample mean - expected| within k standard errors (sigma / sqrt(n))."""
    assert abs(sample_stat - expected) <= k * sigma / np.sqrt(n) + 1e-12, (sample_stat, expected)


def test_keyed_uniforms_are_uniform_and_independent_of_order():
    u = keyed_uniforms(1, "x", IDX)
    assert u.min() > 0 and u.max() < 1
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    perm = np.random.default_rng(0).permutation(N)
    assert np.array_equal(keyed_uniforms(1, "x", IDX[perm]), u[perm])
    assert not np.array_equal(keyed_uniforms(2, "x", IDX), u)
    assert not np.array_equal(keyed_uniforms(1, "y", IDX), u)
    a, b = keyed_uniforms(1, "x", IDX, streams=2)
    assert abs(np.corrcoef(a, b)[0, 1]) < 5 / np.sqrt(N)


@pytest.mark.parametrize(
    ("spec", "ref"),
    [
        ({"type": "normal", "mean": 2.0, "std": 0.5}, stats.norm(2.0, 0.5)),
        ({"type": "gamma", "mean": 1.0, "std": 0.5}, stats.gamma(a=4.0, scale=0.25)),
        ({"type": "gamma", "mean": 3.0, "std": 2.0}, stats.gamma(a=9 / 4, scale=4 / 3)),
        ({"type": "truncnorm", "norm_loc": 0.5, "norm_scale": 0.2, "min": 0.3, "max": 1.0},
         stats.truncnorm(-1.0, 2.5, loc=0.5, scale=0.2)),
        ({"type": "lognormal", "mean": 0.3, "std": 0.4}, stats.lognorm(s=0.4, scale=np.exp(0.3))),
        ({"type": "uniform", "min": -1.0, "max": 3.0}, stats.uniform(-1.0, 4.0)),
        ({"type": "exponential", "mean": 2.5}, stats.expon(scale=2.5)),
    ],
)  # fmt: skip
def test_continuous_match_scipy(spec, ref):
    x = draws(spec)
    assert_drawn_from(x, spec)
    close(x.mean(), ref.mean(), ref.std())
    assert abs(x.std() - ref.std()) < 0.02 * ref.std()
    # same distribution as scipy's own sampler (two-sample KS at a fixed seed)
    assert stats.ks_2samp(x, ref.rvs(size=N, random_state=np.random.default_rng(1))).pvalue > 1e-4
    lo, hi = ref.support()
    assert x.min() >= lo and x.max() <= hi


def test_gamma_mean_std_mapping():
    x = draws({"type": "gamma", "mean": 5.0, "std": 1.0})
    close(x.mean(), 5.0, 1.0)
    assert abs(x.std() - 1.0) < 0.02
    assert np.all(draws({"type": "gamma", "mean": 5.0, "std": 0.0}) == 5.0)


def test_truncnorm_zero_scale_is_clipped_constant():
    spec = {"type": "truncnorm", "norm_loc": 5.0, "norm_scale": 0.0, "min": 0.0, "max": 2.0}
    assert np.all(draws(spec) == 2.0)


@pytest.mark.parametrize("mean", [0.5, 3.0, 20.0])
def test_poisson(mean):
    x = draws({"type": "poisson", "mean": mean})
    assert x.dtype == np.int64  # integers without a dtype, as connectome-manipulator
    close(x.mean(), mean, np.sqrt(mean))
    assert_drawn_from(x, {"type": "poisson", "mean": mean})
    assert x.min() >= 0


@pytest.mark.parametrize("mean", [1.0, 1.2, 2.5, 10.0])
def test_ztpoisson_never_zero_and_has_the_mean(mean):
    spec = {"type": "ztpoisson", "mean": mean}
    x = draws(spec)
    assert x.min() >= 1 and x.dtype == np.int64
    if mean == 1.0:
        assert np.all(x == 1)
        return
    lam = __import__("scipy.optimize", fromlist=["brentq"]).brentq(
        lambda m: m / -np.expm1(-m) - mean, 1e-9, 50
    )
    var = lam * (1 + lam) / -np.expm1(-lam) - mean**2  # variance of the zero-truncated Poisson
    close(x.mean(), mean, np.sqrt(var))
    assert_drawn_from(x, spec)  # frequencies against the zero-truncated pmf (chi-squared)


def test_discrete_frequencies_chi2():
    spec = {"type": "discrete", "val": [1, 2, 5, 8], "p": [0.1, 0.2, 0.3, 0.4], "dtype": "int"}
    x = draws(spec)
    assert x.dtype == np.int64 and set(np.unique(x)) <= {1, 2, 5, 8}
    obs = np.array([(x == v).sum() for v in spec["val"]])
    assert stats.chisquare(obs, np.array(spec["p"]) * N).pvalue > 1e-4
    assert_drawn_from(x, spec)


def test_constant_zero_bounds_and_dtype():
    assert np.all(draws({"type": "constant", "mean": 100, "dtype": "int"}) == 100)
    assert draws({"type": "constant", "mean": 100, "dtype": "int"}).dtype == np.int64
    assert np.all(draws({"type": "zero"}) == 0)
    clipped = {"type": "normal", "mean": 0.0, "std": 1.0, "lower_bound": -0.5, "upper_bound": 1.0}
    x = draws(clipped)
    assert x.min() == -0.5 and x.max() == 1.0
    close((x == -0.5).mean(), stats.norm.cdf(-0.5), 0.5)
    assert_drawn_from(x, clipped)
    y = draws({"type": "normal", "mean": 2.0, "std": 1.0, "dtype": "int"})
    assert y.dtype == np.int64
    z = draws({"type": "normal", "mean": 2.0, "std": 1.0})
    assert np.array_equal(y, np.round(z).astype(np.int64))  # round, then cast


@given(distribution_specs())
def test_every_valid_spec_samples_within_its_support(spec):
    assert spec_problems(spec) == []
    x = sample(spec, keyed_uniforms(0, "p", np.arange(500)))
    assert len(x) == 500 and np.all(np.isfinite(x))
    assert_drawn_from(x, spec)
    if "lower_bound" in spec:
        assert x.min() >= spec["lower_bound"] - 1e-9 or spec.get("dtype") == "int"
    assert x.dtype == output_dtype(spec)
    if spec.get("dtype") == "int":
        assert x.dtype == np.int64
    if (
        spec["type"] in ("truncnorm", "uniform")
        and "lower_bound" not in spec
        and spec.get("dtype") != "int"
    ):
        assert x.min() >= spec["min"] - 1e-9 and x.max() <= spec["max"] + 1e-9


@given(invalid_distribution_specs())
def test_invalid_specs_always_raise(spec):
    assert spec_problems(spec)
    with pytest.raises(PathwayError):
        validate_spec(spec)
