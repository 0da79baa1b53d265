"""The drawing engine's fast paths against plain reference implementations: the tabulated gamma
quantile against scipy, keyed uniforms against the plain formula, connections against pandas'
group-by, and the two ways of drawing shared values (per connection, per synapse) against each
other. Each fast path must give the values of the slow one (bit for bit, or -- the gamma quantile
only -- within 1e-10 relative)."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import special

import synframe as sf
import synframe.distributions as dist
from synframe import _draw, _gamma
from synframe._gamma import gamma_ppf

# --- the gamma quantile ---------------------------------------------------------------------------


def _uniforms() -> np.ndarray:
    """Uniforms as keyed_uniforms makes them ((k + 0.5) / 2**53), both tails and the bulk."""
    k = np.r_[np.arange(200), 2**53 - 1 - np.arange(200)].astype(np.uint64)
    keyed = (k.astype(np.float64) + 0.5) * 2.0**-53
    tails = np.geomspace(2.0**-54, 0.5, 4000)
    bulk = np.random.default_rng(3).random(20_000)
    u = np.r_[keyed, tails, 1.0 - tails, bulk, np.linspace(0.001, 0.999, 2001)]
    return u[(u > 0) & (u < 1)]


SHAPES = np.r_[
    np.geomspace(_gamma._SHAPE_MIN, _gamma._SHAPE_MAX, 23), 0.25, 0.5, 1.0, 1.5, 2.56, 4.0, 9.0
]


@pytest.mark.parametrize("shape", SHAPES.tolist())
def test_gamma_quantile_is_within_1e_10_of_scipy(shape):
    """The issue's bound is 1e-9 relative; measured worst 1.3e-11 (smallest shapes)."""
    u = _uniforms()
    ref = special.gammaincinv(shape, u)
    got = gamma_ppf(shape, u)
    tiny = ref < 1e-280  # scipy's own value is taken there (left tail of small shapes)
    np.testing.assert_array_equal(got[tiny], ref[tiny])
    rel = np.abs(got[~tiny] / ref[~tiny] - 1.0)
    assert rel.max() <= 1e-10, (shape, float(rel.max()), float(u[~tiny][np.argmax(rel)]))


@pytest.mark.parametrize("shape", [0.01, 0.0999, 1.0001e5, 1e7, 5e8])
def test_gamma_quantile_outside_the_table_is_scipys(shape):
    u = _uniforms()
    np.testing.assert_array_equal(gamma_ppf(shape, u), special.gammaincinv(shape, u))


def test_gamma_quantile_odd_uniforms_are_scipys():
    u = np.array([0.0, 1.0, np.nan, -0.5, 2.0, 0.3])
    got, ref = gamma_ppf(2.0, u), special.gammaincinv(2.0, u)
    np.testing.assert_array_equal(got[:5], ref[:5])  # 0, inf, nan, nan, nan
    assert abs(got[5] / ref[5] - 1) < 1e-12
    assert gamma_ppf(2.0, np.empty(0)).shape == (0,)
    # any shape of u gives the values of the same uniforms in one dimension
    grid = np.random.default_rng(2).random((3, 4))
    np.testing.assert_array_equal(gamma_ppf(2.0, grid), gamma_ppf(2.0, grid.ravel()).reshape(3, 4))
    assert gamma_ppf(2.0, 0.3).shape == () and gamma_ppf(2.0, 0.3) == got[5]


def test_gamma_quantile_depends_only_on_shape_and_u():
    u = np.random.default_rng(0).random(5000)
    whole = gamma_ppf(3.3, u)
    parts = np.concatenate([gamma_ppf(3.3, u[i : i + 7]) for i in range(0, len(u), 7)])
    np.testing.assert_array_equal(whole, parts)
    _gamma._table.cache_clear()  # a rebuilt table gives the same values
    np.testing.assert_array_equal(gamma_ppf(3.3, u[::-1]), whole[::-1])


# --- keyed uniforms ---------------------------------------------------------------------------------


def _plain_uniforms(seed, name, *keys, streams=1):
    """keyed_uniforms as first written: whole-array expressions."""

    def mix(x):
        x = x ^ (x >> np.uint64(30))
        x = x * dist._M1
        x = x ^ (x >> np.uint64(27))
        x = x * dist._M2
        return x ^ (x >> np.uint64(31))

    n = len(keys[0]) if keys else 1
    with np.errstate(over="ignore"):
        h = np.full(n, dist._stream_key(seed, name), dtype=np.uint64)
        for k in keys:
            h = mix((h + dist._G) ^ np.asarray(k).astype(np.int64, copy=False).view(np.uint64))
        out = np.empty((streams, n))
        for s in range(streams):
            bits = mix(h + np.uint64(s + 1) * dist._G) >> np.uint64(11)
            out[s] = (bits.astype(np.float64) + 0.5) * 2.0**-53
    return out if streams > 1 else out[0]


@pytest.mark.parametrize("n", [0, 1, 9, 10, 11, 1000])
@pytest.mark.parametrize("streams", [1, 3])
def test_keyed_uniforms_in_blocks_equal_the_plain_formula(monkeypatch, n, streams):
    monkeypatch.setattr(dist, "_BLOCK", 10)  # blocks of 10: boundaries inside every case
    rng = np.random.default_rng(n)
    keys = rng.integers(-(2**63), 2**63 - 1, (3, n), dtype=np.int64)
    for k in (keys[:1], keys[:2], keys):
        got = dist.keyed_uniforms(5, "prop", *k, streams=streams)
        np.testing.assert_array_equal(got, _plain_uniforms(5, "prop", *k, streams=streams))
    big = np.array([2**64 - 1, 2**63], dtype=np.uint64)  # uint64 keys: their int64 bits
    np.testing.assert_array_equal(
        dist.keyed_uniforms(1, "x", big), _plain_uniforms(1, "x", big.view(np.int64))
    )


# --- connections --------------------------------------------------------------------------------------


@given(
    n=st.integers(0, 300),
    n_pre=st.integers(1, 40),
    n_post=st.integers(1, 40),
    wide=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_connections_partition_like_pandas(n, n_pre, n_post, wide, seed):
    rng = np.random.default_rng(seed)
    if wide:  # more than 2**32 possible pairs: the 3- and 4-digit radix paths
        pre = rng.integers(0, 2**62, max(n, 1))[rng.integers(0, max(n, 1), n)]
        post = rng.integers(0, 2**62, max(n, 1))[rng.integers(0, max(n, 1), n)]
    else:
        pre = rng.integers(0, n_pre, n) * 7919 + 2**60
        post = rng.integers(0, n_post, n) * 104729
    conn, first = _draw.connections(pre, post)
    frame = pd.DataFrame({"pre": pre, "post": post})
    ref = frame.groupby(["pre", "post"], sort=False).ngroup().to_numpy()
    assert conn.dtype == np.int64 and len(conn) == n
    # the same partition of the rows, numbered 0 .. k-1
    assert np.array_equal(pd.factorize(conn)[0], pd.factorize(ref)[0])
    assert sorted(np.unique(conn).tolist()) == list(range(len(first)))
    # first[c] is the smallest row of connection c
    expected_first = pd.Series(np.arange(n)).groupby(conn).min().to_numpy()
    np.testing.assert_array_equal(first, expected_first)


def test_connections_wide_key_spaces():
    """70,000 x 70,000 neurons (2**32 < pairs < 2**48: 3 radix passes) and 2**64 pairs (4)."""
    rng = np.random.default_rng(1)
    for ids in (np.arange(70_000) * 13 + 5, rng.integers(0, 2**62, 2**17)):
        pre = ids[rng.integers(0, len(ids), 200_000)]
        post = ids[rng.integers(0, len(ids), 200_000)]
        pre[:50], post[:50] = ids[0], ids[-1]  # one connection with 50 synapses
        conn, first = _draw.connections(pre, post)
        ref = pd.DataFrame({"a": pre, "b": post}).groupby(["a", "b"], sort=False).ngroup()
        assert np.array_equal(pd.factorize(conn)[0], pd.factorize(ref.to_numpy())[0])
        assert len(first) == ref.max() + 1 and first[conn[0]] == 0


def test_synapses_per_connection_estimate():
    rng = np.random.default_rng(2)
    pairs = rng.integers(0, 2**40, (200_000, 2))
    for per in (1, 3, 20):
        rows = np.repeat(np.arange(len(pairs) // per), per)
        rng.shuffle(rows)
        syn = pd.DataFrame(
            {"id": np.arange(len(rows)), "pre": pairs[rows, 0], "post": pairs[rows, 1]}
        )
        codes = (np.zeros(len(syn), dtype=np.int64), np.array(["a"], dtype=object))
        plan = _draw.plan(syn, codes, codes)
        assert abs(plan.synapses_per_connection() / per - 1) < 0.1
        assert "_grouped" not in plan.__dict__  # estimated without grouping
        assert len(plan.conn_pre) == len(pairs) // per
        assert plan.synapses_per_connection() == len(syn) / (len(pairs) // per)  # now exact


# --- per connection or per synapse: the same values -----------------------------------------------


def _model(correlated: bool) -> dict:
    classes = ["A", "B"]
    cell = {
        "g": {"type": "gamma", "mean": 1.2, "std": 0.6},
        "u": {"type": "truncnorm", "norm_loc": 0.4, "norm_scale": 0.2, "min": 0.0, "max": 1.0},
        "n": {"type": "discrete", "val": [1, 2, 3], "p": [0.3, 0.5, 0.2], "dtype": "int"},
        "c": {"type": "constant", "mean": 2.5},
        "d": {"type": "normal", "mean": 1.0, "std": 0.2, "shared_within": False},
        "m": {"type": "lognormal", "mean": 0.1, "std": 0.3},
    }
    stats = {p: {s: {t: dict(spec) for t in classes} for s in classes} for p, spec in cell.items()}
    stats["m"]["B"]["A"]["shared_within"] = False  # shared in some pathways, not in others
    stats["c"]["A"]["B"] = {"type": "normal", "mean": 0.0, "std": 1.0}  # drawn in one pathway
    out = {"src_types": classes, "tgt_types": classes, "prop_stats": stats}
    if correlated:
        out["prop_cov"] = {
            "props": ["g", "u"],
            "cov": {s: {t: [[1.0, 0.6], [0.6, 1.0]] for t in classes} for s in classes},
        }
    return out


@pytest.mark.parametrize("correlated", [False, True])
def test_shared_values_per_connection_or_per_synapse_are_identical(monkeypatch, syn, correlated):
    stats = sf.pathways.from_dict(_model(correlated))
    ids = np.unique(np.r_[syn.pre.to_numpy(), syn.post.to_numpy()])
    types = dict(zip(ids.tolist(), np.where(ids % 3 == 0, "A", "B").tolist(), strict=True))
    outs = []
    for threshold in (0.0, np.inf):
        monkeypatch.setattr(_draw, "MIN_SYNAPSES_PER_CONNECTION", threshold)
        outs.append(sf.parameterize(syn, stats, by="cls", types=types, seed=11))
    pd.testing.assert_frame_equal(outs[0], outs[1], check_exact=True)
    out = outs[0]
    # shared properties are one value per connection; "d" varies within connections
    per_conn = out.groupby(["pre", "post"])[["g", "u", "n", "c", "d"]].nunique()
    assert (per_conn[["g", "u", "n", "c"]] == 1).all().all()
    assert (per_conn["d"] > 1).any()
    assert out["n"].dtype == np.int64 and out["g"].dtype == np.float64


# --- fit: per-connection extremes and first values ---------------------------------------------------


def test_fit_shared_within_and_first_values_match_a_pandas_group_by(syn):
    """shared_within (values never vary within a connection) and the per-connection values a shared
    property is fitted on (each connection's first synapse's) -- against pandas' group-by."""
    ids = np.unique(np.r_[syn.pre.to_numpy(), syn.post.to_numpy()])
    types = dict.fromkeys(ids.tolist(), "any")
    rng = np.random.default_rng(4)
    table = syn.sample(frac=1.0, random_state=5).reset_index(drop=True)  # connections scattered
    conn = table.groupby(["pre", "post"], sort=False).ngroup().to_numpy()
    per_conn = rng.integers(1, 5, conn.max() + 1)
    table["shared"] = per_conn[conn]  # constant within connections
    table["varies"] = per_conn[conn] + (np.arange(len(table)) % 2) * (
        table.groupby(["pre", "post"])["id"].transform("size").to_numpy() > 1
    )
    fitted = sf.fit_pathway_stats(
        table, by="c", types=types, properties=["shared", "varies"], distributions="discrete"
    )
    spec = sf.pathways.lookup(fitted, "shared", "any", "any")
    first = table.groupby(["pre", "post"], sort=False)["shared"].first()
    values, counts = np.unique(first.to_numpy(), return_counts=True)
    assert spec["shared_within"] is True
    assert spec["val"] == values.tolist() and np.allclose(spec["p"], counts / counts.sum())
    varies = sf.pathways.lookup(fitted, "varies", "any", "any")
    assert varies["shared_within"] is False
    v, c = np.unique(table["varies"].to_numpy(), return_counts=True)
    assert varies["val"] == v.tolist() and np.allclose(varies["p"], c / c.sum())
