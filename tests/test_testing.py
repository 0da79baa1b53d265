"""``synframe.testing``'s assertions: they accept what the samplers draw and reject what they don't."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import synframe as sf
from synframe.distributions import keyed_uniforms, sample
from synframe.testing import (
    assert_drawn_from,
    assert_parameterized,
    distribution_specs,
    typed_synapse_tables,
)

N = 20_000


def draws(spec, n=N, seed=1, **kw):
    return sample(spec, keyed_uniforms(seed, "p", np.arange(n)), **kw)


@given(distribution_specs(), st.integers(0, 2**31))
def test_every_valid_spec_passes_with_its_own_draws(spec, seed):
    assert_drawn_from(draws(spec, n=2000, seed=seed), spec)


@given(distribution_specs(types=["normal", "gamma", "truncnorm", "lognormal", "exponential"]))
def test_shifted_draws_of_a_spread_distribution_fail(spec):
    x = draws(spec, n=5000)
    if np.ptp(x) == 0 or spec.get("dtype") == "int":
        return  # degenerate or rounded: covered by the explicit cases below
    shift = np.std(x) + 1e-9 * (1 + abs(np.mean(x)))
    with pytest.raises(AssertionError):
        assert_drawn_from(x + shift, spec)


SPEC = {"type": "gamma", "mean": 1.0, "std": 0.5}


@pytest.mark.parametrize(
    ("values", "spec", "message"),
    [
        (draws(SPEC) * 1.03, SPEC, "Kolmogorov-Smirnov"),  # 3 % too large
        (draws({"type": "gamma", "mean": 1.0, "std": 0.55}), SPEC, "Kolmogorov-Smirnov"),
        (draws(SPEC).astype("float32"), SPEC, "dtype float32"),
        (-draws(SPEC), SPEC, "outside the support"),
        (np.r_[draws(SPEC)[:-1], np.nan], SPEC, "NaN"),
        # bounds: values beyond them, or a draw that was not clipped (no point mass at the bound)
        (draws(SPEC), SPEC | {"upper_bound": 1.5}, "beyond upper_bound"),
        (draws(SPEC | {"upper_bound": 1.5}), SPEC | {"lower_bound": 0.5, "upper_bound": 1.5}, "beyond lower_bound"),
        (np.minimum(draws(SPEC), 1.5) * 0.999, SPEC | {"upper_bound": 1.5}, "Kolmogorov"),
        # discrete: frequencies, impossible values, integers
        (draws({"type": "discrete", "val": [1, 2, 3], "p": [0.3, 0.3, 0.4]}),
         {"type": "discrete", "val": [1, 2, 3], "p": [0.2, 0.4, 0.4]}, "chi-squared"),
        (np.r_[draws({"type": "poisson", "mean": 2.0})[:-1], 2.5].astype("float64"),
         {"type": "poisson", "mean": 2.0, "dtype": "float"}, "cannot give"),
        (draws({"type": "poisson", "mean": 2.2}), {"type": "poisson", "mean": 2.0}, "chi-squared"),
        (draws({"type": "ztpoisson", "mean": 2.0}) - 1, {"type": "ztpoisson", "mean": 2.0}, "support"),
        (draws({"type": "normal", "mean": 2.0, "std": 1.0}), {"type": "normal", "mean": 2.0, "std": 1.0, "dtype": "int"}, "dtype float64"),
        # constants are exact
        (np.full(10, 3.0 + 1e-12), {"type": "constant", "mean": 3.0}, "outside the support"),
        (np.r_[np.full(10, 3), 4], {"type": "discrete", "val": [3, 5], "p": [0.5, 0.5]}, "cannot give"),
        # int32 truncates toward zero: rounded values are wrong
        (np.round(draws({"type": "normal", "mean": 0.3, "std": 1.0})).astype("int32"),
         {"type": "normal", "mean": 0.3, "std": 1.0, "dtype": "int32"}, "chi-squared"),
        # synapses per connection: at least 1
        (np.maximum(np.round(draws({"type": "normal", "mean": 1.0, "std": 2.0})), 0).astype("int64"),
         {"type": "normal", "mean": 1.0, "std": 2.0}, "n_syn"),
    ],
)  # fmt: skip
def test_wrong_samples_fail_with_the_reason(values, spec, message):
    nsyn = message == "n_syn"
    with pytest.raises(AssertionError, match=None if nsyn else message):
        assert_drawn_from(values, spec, n_syn_per_conn=nsyn)


def test_the_right_samples_of_those_cases_pass():
    assert_drawn_from(draws(SPEC), SPEC)
    assert_drawn_from(draws(SPEC | {"upper_bound": 1.5}), SPEC | {"upper_bound": 1.5})
    assert_drawn_from(np.full(10, 3.0), {"type": "constant", "mean": 3.0})
    spec = {"type": "normal", "mean": 0.3, "std": 1.0, "dtype": "int32"}
    assert_drawn_from(draws(spec), spec)
    spec = {"type": "normal", "mean": 1.0, "std": 2.0}
    assert_drawn_from(draws(spec, n_syn_per_conn=True), spec, n_syn_per_conn=True)
    # check_dtype=False still needs integers where the spec gives integers
    assert_drawn_from(draws({"type": "poisson", "mean": 2.0}).astype(float), {"type": "poisson", "mean": 2.0}, check_dtype=False)  # fmt: skip
    with pytest.raises(AssertionError, match="not integers"):
        assert_drawn_from(draws(SPEC), {"type": "poisson", "mean": 1.0}, check_dtype=False)


def test_tolerance_follows_the_sample_size():
    """A 2 % scale error passes with 500 values and fails with 200,000: no fixed tolerance."""
    small = draws(SPEC, n=500) * 1.02
    assert_drawn_from(small, SPEC)
    with pytest.raises(AssertionError):
        assert_drawn_from(draws(SPEC, n=200_000) * 1.02, SPEC)


def test_bad_arguments():
    with pytest.raises(sf.PathwayError, match="non-empty"):
        assert_drawn_from([], SPEC)
    with pytest.raises(sf.PathwayError, match="alpha"):
        assert_drawn_from([1.0], SPEC, alpha=2)
    with pytest.raises(sf.PathwayError, match="gamma"):
        assert_drawn_from([1.0], {"type": "gamma", "mean": -1.0, "std": 1.0})
    with pytest.raises(AssertionError, match="not numeric"):
        assert_drawn_from(np.array(["a"]), SPEC)


# --- assert_parameterized ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def table():
    """3,000 connections of 1-6 synapses between EXC / INH neurons."""
    rng = np.random.default_rng(4)
    n_conn = 3000
    per = rng.integers(1, 7, n_conn)
    pre = np.repeat(rng.integers(0, 10**6, n_conn) + 2**40, per)
    post = np.repeat(rng.integers(0, 300, n_conn) + 2**41, per)
    df = pd.DataFrame({"id": np.arange(len(pre)), "pre": pre, "post": post})
    for c in ("pre_x", "pre_y", "pre_z", "post_x", "post_y", "post_z"):
        df[c] = rng.uniform(0, 1e5, len(df))
    ids = np.union1d(pre, post)
    cls = pd.Series(np.where(ids % 3 == 0, "INH", "EXC"), index=ids)
    df["pre_c"] = cls.reindex(pre).to_numpy()
    df["post_c"] = cls.reindex(post).to_numpy()
    return df.drop_duplicates(["pre", "post", "id"])


@pytest.fixture(scope="module")
def model():
    g = {"type": "gamma", "mean": 1.0, "std": 0.4, "shared_within": True, "upper_bound": 2.0}
    return sf.pathway_stats(
        {
            "g": {"EXC": {"*": g}, "INH": {"*": g | {"mean": 2.0}}},
            "u": {"*": {"*": {"type": "truncnorm", "norm_loc": 0.5, "norm_scale": 0.2, "min": 0.0,
                              "max": 1.0, "shared_within": False}}},
            "n": {"*": {"*": {"type": "discrete", "val": [1, 2, 3], "p": [0.2, 0.5, 0.3]}}},
        },
        ["EXC", "INH"], ["EXC", "INH"], by="c",
    )  # fmt: skip


def test_parameterized_tables_pass(table, model):
    out = sf.parameterize(table, model, by="c", seed=3)
    assert_parameterized(out, model, by="c")
    assert_parameterized(out.sample(frac=0.5, random_state=1), model, by="c")


@pytest.mark.parametrize(
    ("break_it", "message"),
    [
        (lambda df: df.assign(g=df["g"] * 1.05), r"g \[INH -> "),  # a scaled property
        (lambda df: df.assign(g=np.where(df["pre_c"] == "INH", df["g"] * 0.5, df["g"])), r"g \[INH"),
        (lambda df: df.assign(u=df["u"].astype("float32")), "column dtype float32"),
        (lambda df: df.assign(n=df["n"].astype("float64")), "column dtype float64"),
        # per-connection values where per-synapse was asked for
        (lambda df: df.assign(u=df.groupby(["pre", "post"])["u"].transform("first")), "one value for all their synapses"),
        # per-synapse values where shared_within was asked for
        (lambda df: df.assign(g=df["g"] + np.random.default_rng(0).normal(0, 1e-6, len(df))), "more than one value"),
        (lambda df: df.drop(columns="n"), "no columns"),
        (lambda df: df.assign(pre_c="XYZ"), "no spec"),
    ],
)  # fmt: skip
def test_wrong_tables_fail_with_the_reason(table, model, break_it, message):
    out = sf.parameterize(table, model, by="c", seed=3)
    with pytest.raises(AssertionError, match=message):
        assert_parameterized(break_it(out), model, by="c")


def test_the_pathway_property_is_checked(table, model):
    out = sf.parameterize(table, model, by="c", seed=3).rename(
        columns={"pre_c": "pre_d", "post_c": "post_d"}
    )
    with pytest.raises(AssertionError, match="not by='d'"):
        assert_parameterized(out, model, by="d")


@given(typed_synapse_tables(min_rows=1, max_rows=40), st.integers(0, 2**32 - 1))
def test_hypothesis_tables_of_any_model_pass(syn, seed):
    g = {"type": "normal", "mean": 1.0, "std": 0.3, "shared_within": False, "lower_bound": 0.5}
    stats = sf.pathway_stats(
        {"g": {"*": {"*": g}}, "k": {"*": {"*": {"type": "poisson", "mean": 3.0}}}},
        by="synapse_class",
    )
    out = sf.parameterize(syn, stats, by="synapse_class", seed=seed)
    assert_parameterized(out, stats, by="synapse_class")
