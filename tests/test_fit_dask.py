"""``sf.dask.fit_pathway_stats``: the pandas fit, bit for bit, for any partitioning and order."""

import itertools
import math
from fractions import Fraction

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import synframe as sf
from synframe import _exact

TYPES = {i: ("INH" if i % 4 == 0 else "EXC") for i in range(1, 41)}
TYPES_MTYPE = {i: f"{'L4' if i % 3 == 0 else 'L5'}_{'INH' if i % 4 == 0 else 'EXC'}"
               for i in range(1, 41)}  # fmt: skip


def _table(seed: int, n: int = 600, nsyns: bool = False) -> pd.DataFrame:
    """Synapses of 40 neurons in two classes with the kinds of properties a fit meets: gamma-like
    float64, float32 in [0, 1], integers, one value per connection, one constant, positive values
    spanning orders of magnitude, and (``nsyns``) bmtk's synapses per row."""
    rng = np.random.default_rng(seed)
    pre = rng.integers(1, 41, n)
    post = rng.integers(1, 41, n)
    conn_value = ((pre * 7919 + post * 104729) % 13) / 4.0  # one value per connection
    df = pd.DataFrame(
        {
            "id": np.arange(n, dtype=np.int64) + 2**40,
            "pre": pre.astype(np.int64),
            "post": post.astype(np.int64),
            **{f"{side}_{a}": rng.random(n) * 1e3 for side in ("pre", "post") for a in "xyz"},
            "g": rng.gamma(4.0, 0.5, n),
            "u": rng.random(n).astype(np.float32),
            "k": rng.integers(1, 6, n),
            "s": conn_value,
            "c": np.full(n, 3.5),
            "w": np.exp(rng.normal(0, 8, n)),
            "pre_layer": np.where(pre % 3 == 0, "L4", "L5"),
            "post_layer": np.where(post % 3 == 0, "L4", "L5"),
        }
    )  # fmt: skip
    df["pre_mtype"] = [TYPES_MTYPE[i] for i in pre]
    df["post_mtype"] = [TYPES_MTYPE[i] for i in post]
    if nsyns:
        df["nsyns"] = rng.integers(0, 4, n)
    return df


OPTIONS = [
    dict(by="c_", types=TYPES, properties=["g", "u", "k", "s", "c", "n_syn_per_conn"]),
    dict(by="c_", types=TYPES, properties=["g", "u", "s", "w", "n_syn_per_conn"],
         distributions={"g": "truncnorm", "u": "truncnorm", "s": "discrete", "w": "lognormal",
                        "n_syn_per_conn": "discrete"}),
    dict(by="c_", types=TYPES, properties=["g", "u", "k"], distributions="truncnorm",
         truncnorm_fit="mle", bounds="data", min_connections=30),
    dict(by="mtype", types=None, properties=["g", "k", "n_syn_per_conn"],
         interpolate=["layer"], min_connections=40,
         src_types=["L4_EXC", "L4_INH", "L5_EXC", "L5_INH"],
         tgt_types=["L4_EXC", "L4_INH", "L5_EXC", "L5_INH"]),
]  # fmt: skip


def _pieces(df: pd.DataFrame, cuts) -> dd.DataFrame:
    bounds = [0, *sorted(cuts), len(df)]
    pieces = [df.iloc[a:b] for a, b in itertools.pairwise(bounds)]
    return dd.from_map(lambda piece: piece, pieces, meta=df.iloc[:0], enforce_metadata=False)


def _same(a, b) -> None:
    """Equal statistics, every float to the last bit (repr is exact), and equal fit records."""
    if isinstance(a, str) or isinstance(b, str):
        assert a == b
        return
    assert repr(sf.pathways.to_dict(a)) == repr(sf.pathways.to_dict(b))
    assert repr(a.attrs["fit"]) == repr(b.attrs["fit"])


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    cuts=st.lists(st.integers(0, 600), max_size=6),
    option=st.integers(0, len(OPTIONS) - 1),
    nsyns=st.booleans(),
    shuffle=st.booleans(),
)
def test_dask_fit_equals_pandas_for_any_partitioning(seed, cuts, option, nsyns, shuffle):
    """Random boundaries (empty partitions too), shuffled rows, connections straddling
    partitions, weighted rows: the same statistics as the pandas fit, to the last bit -- and
    the same as the pandas fit of the rows in another order."""
    df = _table(seed, nsyns=nsyns)
    kw = {**OPTIONS[option], "progress": False}
    order = df.sample(frac=1.0, random_state=seed) if shuffle else df
    with dask.config.set(scheduler="synchronous"):
        _same(
            _fit(sf.dask.fit_pathway_stats, _pieces(order, cuts), kw),
            _fit(sf.fit_pathway_stats, df, kw),
        )
    _same(_fit(sf.fit_pathway_stats, order, kw), _fit(sf.fit_pathway_stats, df, kw))


def _fit(verb, table, kw):
    """The statistics, or the problems the fit reported."""
    try:
        return verb(table, **kw)
    except sf.PathwayError as exc:
        return str(exc)


def test_dask_fit_reads_twice_only_for_histograms(monkeypatch):
    from synframe import _summaries

    df = _table(1)
    calls = {"summary": 0, "details": 0}
    real_summary, real_details = _summaries.syn_summary, _summaries.syn_details

    def summary(*a, **k):
        calls["summary"] += 1
        return real_summary(*a, **k)

    def details(*a, **k):
        calls["details"] += 1
        return real_details(*a, **k)

    monkeypatch.setattr(_summaries, "syn_summary", summary)
    monkeypatch.setattr(_summaries, "syn_details", details)
    ddf = dd.from_pandas(df, npartitions=4)
    with dask.config.set(scheduler="synchronous"):
        sf.dask.fit_pathway_stats(ddf, by="c_", types=TYPES, properties=["g"],
                                  distributions="gamma", progress=False)  # fmt: skip
        assert calls == {"summary": 4, "details": 0}
        sf.dask.fit_pathway_stats(ddf, by="c_", types=TYPES, properties=["g"],
                                  distributions="truncnorm", progress=False)  # fmt: skip
        assert calls == {"summary": 8, "details": 4}  # the histograms need each pathway's range
        sf.dask.fit_pathway_stats(ddf, by="c_", types=TYPES, properties=["g", "k", "s", "u"],
                                  distributions={"g": "lognormal", "k": "discrete"},
                                  progress=False)  # fmt: skip
    assert calls == {"summary": 12, "details": 4}  # values/counts and logs come with the first


def test_dask_fit_on_store_partitions_merges_no_connection(tmp_path, monkeypatch):
    """Store partitions hold each presynaptic neuron's synapses together: every partition's
    connections are summarised where they are (no group-by, nothing held), and the fit equals
    the pandas fit of the whole table; rows in random partitions take the merging path."""
    from synframe import dask as sf_dask
    from synframe.synthetic import SyntheticDump

    dump = SyntheticDump(8_000, n_neurons=150, seed=3, background=0.0)
    dump.write_parquet(tmp_path / "dump.parquet", row_group_size=1_000)
    store = sf.sources.LocalStore.build(tmp_path / "dump.parquet", tmp_path / "store",
                                        resolution=dump.resolution, row_group_size=500)  # fmt: skip
    ddf = store.to_dask(partition_size=1_500)
    assert ddf.npartitions > 3
    types = {int(i): ("INH" if i % 5 == 0 else "EXC") for i in dump.neuron_ids}
    types[0] = "EXC"
    merging = []
    real = sf_dask._fit_pass

    def spy(*args, **kwargs):
        merging.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(sf_dask, "_fit_pass", spy)
    kw = dict(by="c_", types=types, properties=["cleft_score", "connection_score", "n_syn_per_conn"],
              distributions={"cleft_score": "truncnorm"}, progress=False)  # fmt: skip
    with dask.config.set(scheduler="synchronous"):
        got = sf.dask.fit_pathway_stats(ddf, **kw)
        table = ddf.compute()
        assert merging == []
        _same(got, sf.fit_pathway_stats(table, **kw))
        shuffled = dd.from_pandas(table.sample(frac=1.0, random_state=1), npartitions=4)
        _same(sf.dask.fit_pathway_stats(shuffled, **kw), sf.fit_pathway_stats(table, **kw))
    assert len(merging) == 2  # the connections, then the histograms


def test_dask_fit_errors_name_the_problem():
    df = _table(2)
    ddf = dd.from_pandas(df, npartitions=3)
    with pytest.raises(sf.OptionError, match="takes a dask DataFrame"):
        sf.dask.fit_pathway_stats(df, by="c_", types=TYPES, properties="g")
    with pytest.raises(sf.PathwayError, match="not columns"):
        sf.dask.fit_pathway_stats(ddf, by="c_", types=TYPES, properties="nope")
    with pytest.raises(sf.OptionError, match=r"nsyns=.*not a column"):
        sf.dask.fit_pathway_stats(ddf, by="c_", types=TYPES, properties="g", nsyns="count")
    with pytest.raises(sf.OptionError, match="interpolate"):
        sf.dask.fit_pathway_stats(ddf, by="c_", types=TYPES, properties="g", interpolate=["x1"])
    bad = df.assign(g=np.where(np.arange(len(df)) == 500, np.nan, df["g"]))
    with dask.config.set(scheduler="synchronous"), pytest.raises(sf.PathwayError, match="finite"):
        sf.dask.fit_pathway_stats(dd.from_pandas(bad, npartitions=3), by="c_", types=TYPES,
                                  properties="g", progress=False)  # fmt: skip
    with dask.config.set(scheduler="synchronous"), pytest.raises(sf.PathwayError, match="numbers"):
        sf.dask.fit_pathway_stats(dd.from_pandas(df.assign(g="a"), npartitions=3), by="c_",
                                  types=TYPES, properties="g", progress=False)  # fmt: skip
    empty = dd.from_pandas(df.iloc[:0], npartitions=1)
    with dask.config.set(scheduler="synchronous"), pytest.raises(sf.PathwayError, match="no syn"):
        sf.dask.fit_pathway_stats(empty, by="c_", types=TYPES, properties="g", progress=False)


def test_dask_fit_has_the_pandas_signature():
    import inspect

    params = lambda f: [(p.name, p.kind, p.default)  # noqa: E731
                        for p in list(inspect.signature(f).parameters.values())[1:]]  # fmt: skip
    assert params(sf.dask.fit_pathway_stats) == params(sf.fit_pathway_stats)


# --- the exact sums underneath ----------------------------------------------------------------------


finite = st.floats(allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.tuples(finite, st.integers(0, 3), st.integers(0, 2**53 - 1)), max_size=30),
    weighted=st.booleans(),
)
def test_exact_sums_are_exact(values, weighted):
    x = np.array([v for v, _, _ in values], dtype=np.float64)
    group = np.array([g for _, g, _ in values], dtype=np.int64)
    w = np.array([c for _, _, c in values], dtype=np.int64) if weighted else None
    got = _exact.sums(x, group, 4, w)
    for g in range(4):
        rows = [(Fraction(v), c if weighted else 1) for v, k, c in values if k == g]
        assert got[g][0] == sum(c for _, c in rows)
        assert Fraction(got[g][1], 2**_exact.SHIFT) == sum(v * c for v, c in rows)
        assert Fraction(got[g][2], 2 ** (2 * _exact.SHIFT)) == sum(v * v * c for v, c in rows)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=40), st.integers(1, 39))
def test_mean_and_variance_are_correctly_rounded_and_split_invariant(values, cut):
    x = np.array(values)
    zeros = np.zeros(len(x), dtype=np.int64)
    whole = _exact.sums(x, zeros, 1)[0]
    a, b = _exact.sums(x[:cut], zeros[:cut], 1)[0], _exact.sums(x[cut:], zeros[cut:], 1)[0]
    assert tuple(u + v for u, v in zip(a, b, strict=True)) == whole
    mean, var = _exact.mean_var(*whole)
    exact_mean = sum(Fraction(v) for v in values) / len(values)
    assert mean == float(exact_mean)
    assert var == float(sum((Fraction(v) - exact_mean) ** 2 for v in values) / len(values))
    assert math.isclose(mean, float(np.mean(x)), rel_tol=1e-12, abs_tol=1e-9)


def test_chunked_histograms_are_numpys():
    """CM's histogram (np.histogram(values, bins=51)) equals the sum of each piece's histogram
    over the whole range, for float64, float32 and integer values."""
    from synframe._summaries import HIST_BINS

    rng = np.random.default_rng(4)
    for x in (rng.normal(0, 1, 5_000), rng.random(5_000).astype(np.float32),
              rng.integers(-3, 9, 5_000), np.full(100, 2.0)):  # fmt: skip
        whole = np.histogram(x, bins=HIST_BINS)[0]
        lo, hi = x.min(), x.max()
        parts = sum(np.histogram(p, bins=HIST_BINS, range=(lo, hi))[0]
                    for p in np.array_split(x, 7))  # fmt: skip
        assert (parts == whole).all()


def _outcome(verb, table, kw):
    try:
        with dask.config.set(scheduler="synchronous"):
            return "ok", repr(sf.pathways.to_dict(verb(table, **kw)))
    except sf.SynframeError as exc:
        return type(exc).__name__, str(exc)


@pytest.mark.parametrize(
    ("change", "kw", "expected"),
    [
        (lambda d: d.assign(g=np.where(np.arange(len(d)) % 2, 1e308, -1e308)),
         dict(properties="g", distributions="normal"), "PathwayError"),  # std 1e308: undrawable
        (lambda d: d.assign(g=1e308), dict(properties="g"), "ok"),
        (lambda d: d.assign(g=5e-324 * (np.arange(len(d)) % 3)), dict(properties="g"), "ok"),
        (lambda d: d.assign(pre=d.pre.astype(np.uint64)), dict(properties="g"), "SchemaError"),
        (lambda d: d.assign(g=d.g > 1), dict(properties="g"), "PathwayError"),
        (lambda d: d.assign(g=np.inf), dict(properties="g"), "PathwayError"),
        (lambda d: d.assign(g=pd.array([1.0, None] * (len(d) // 2), dtype="Float64")),
         dict(properties="g"), "PathwayError"),
        (lambda d: d.assign(k=d.k.astype("Int64")), dict(properties="k"), "ok"),
        (lambda d: d.assign(g=d.g.astype(np.float16)),
         dict(properties="g", distributions="truncnorm"), "ok"),
        (lambda d: d.assign(g=d.g - 3), dict(properties="g", distributions="lognormal"),
         "PathwayError"),
        (lambda d: d, dict(properties=["g", "g"]), "ok"),
        (lambda d: d, dict(properties=[]), "OptionError"),
        (lambda d: d, dict(properties="g", min_connections=0), "OptionError"),
        (lambda d: d, dict(properties="g", nsyns=5), "OptionError"),
        (lambda d: d, dict(properties="g", truncnorm_fit="ls"), "OptionError"),
        (lambda d: d, dict(properties="g", src_types=["EXC"]), "PathwayError"),
    ],
)  # fmt: skip
def test_hostile_tables_give_the_pandas_outcome(change, kw, expected):
    """Odd values, dtypes and options: the same statistics or the same error as pandas, and the
    input is not modified."""
    table = change(_table(3))
    before = pd.util.hash_pandas_object(table).sum()
    kw = {"by": "c_", "types": TYPES, "progress": False, **kw}
    ref = _outcome(sf.fit_pathway_stats, table, kw)
    assert ref[0] == expected, ref
    assert _outcome(sf.dask.fit_pathway_stats, dd.from_pandas(table, npartitions=3), kw) == ref
    assert pd.util.hash_pandas_object(table).sum() == before


@pytest.mark.parametrize(
    "x",
    [
        np.array([3, 1, 3, 2, -5], dtype=np.int64),
        np.array([2.0, 7.0, 2.0, -1.0], dtype=np.float32),
        np.array([0, 2**40, 5], dtype=np.int64),  # a wide range: np.unique
        np.array([-(2**63), 2**62, 0], dtype=np.int64),  # a range beyond int64
        np.array([0.5, 1.5, 0.5]),  # not whole numbers
        np.array([7], dtype=np.uint8),
        np.zeros(0),
    ],
)
@pytest.mark.parametrize("weighted", [False, True])
def test_value_counts_are_numpys(x, weighted):
    """Values and counts (by bincount for small whole numbers) equal np.unique's, weights
    included, in the values' dtype."""
    from synframe._summaries import _counts

    w = np.arange(1, len(x) + 1, dtype=np.int64) if weighted else None
    val, cnt = _counts(x, w)
    ref_val, inv = np.unique(x, return_inverse=True)
    ref_cnt = np.bincount(inv.ravel(), weights=w, minlength=len(ref_val)).astype(np.int64)
    assert val.dtype == x.dtype and val.tolist() == ref_val.tolist()
    assert cnt.tolist() == ref_cnt.tolist()
