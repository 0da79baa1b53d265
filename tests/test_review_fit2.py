"""Second independent review of ``fit_pathway_stats`` (pandas and dask) after the first review's
fixes (commit 6b1d017): one problem each (failing there), kept as regression tests now fixed.

What held up (checked, no test here): dask == pandas bit for bit on ~550 random tables (random
row orders, 1-6 partitions including empty ones, nsyns with zeros, interpolate, per-row type
columns that disagree for one neuron, every distribution kind, both truncnorm fits), on float16/
float32/uint8/int16/Int64/Float64/UInt8/pyarrow columns, ids near 2**63, parquet partitions with
a filter and a column projection, ``from_pandas(sort=True)``; on a LocalCluster of processes
(repeated fits, several fits in one session, the split path); an error in a partition arrives as
the PathwayError; ``_exact.std`` equals the correctly rounded root (Decimal, 1200 digits) on 2000
samples from subnormal to 1e308 with weights up to 2**40.
"""

import numpy as np
import pandas as pd
import pytest
from test_review_fit import KW, TYPES, _cell, _table

import synframe as sf

# --- the merging graph ----------------------------------------------------------------------------------


def test_merging_graph_is_built_in_linear_time():
    """``_fit_pass`` (the path taken when some neuron is in several partitions on both sides, e.g.
    any ``dd.from_pandas`` of an unsorted table) builds one Delayed per partition's connection
    frame with ``_graph(name, layer, parts_in, ...)``: each call walks all N partitions as
    dependencies (``HighLevelGraph.from_collections`` -> ``is_dask_collection`` on each Delayed),
    so building the graph is O(N**2): 200 / 400 / 800 partitions: 0.6 / 1.9 / 7.0 s before
    anything runs, and again for pass 2 (truncnorm histograms). The first review's
    linear-growth test covers only ``_fit_pass_alone``. Expected: dependencies walked grow
    linearly with the partitions (as for ``_fit_pass_alone``)."""
    import dask.dataframe as dd

    from synframe import dask as sf_dask
    from synframe.fit import wants

    df = _table(128 * 40, seed=3)
    piece = {"by": "c", "types": TYPES, "props": ["g"], "nsyns": "nsyns"}
    walked = {}
    original = sf_dask._graph
    for n in (32, 128):
        count = [0]

        def counting(name, layer, dependencies, key, count=count):
            count[0] += len(dependencies)
            return original(name, layer, dependencies, key)

        ddf = dd.from_pandas(df, npartitions=n, sort=False)
        sf_dask._graph = counting
        try:
            sf_dask._fit_pass(ddf, piece, None, wants(["g"], {}), conns_only=True)
        finally:
            sf_dask._graph = original
        walked[n] = count[0]
    assert walked[128] < 4.5 * walked[32], walked  # 4x partitions: 4x, not 16x


# --- option checks ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "option",
    [{"bounds": {"g": None}}, {"dtypes": {"g": None, "k": "int"}}],
    ids=["bounds-None", "dtypes-None"],
)
def test_none_for_one_property_means_none(option):
    """connectome-manipulator's ``build`` takes ``data_bounds.get(prop)`` / ``data_types.get(prop)``
    and adds nothing when it is None: ``{"g": None}`` means "no bounds / no dtype for g" (a
    config's JSON null). synframe at commit 1d12370 did the same (fit succeeded, no bounds/dtype
    in g's cells); the early option checks now refuse it with an OptionError ("must be (lower,
    upper)" / "must be a numeric numpy dtype name"): a regression. (np.dtype objects and ``int``
    as dtypes were refused at 1d12370 too, only later -- not a regression.)"""
    got = sf.fit_pathway_stats(_table(), **KW, properties=["g", "k"], distributions="normal",
                               **option)  # fmt: skip
    cell = _cell(got)
    assert "lower_bound" not in cell and "upper_bound" not in cell and "dtype" not in cell


@pytest.mark.parametrize(
    "pair",
    [{0.0, 5.0}, (0, 10**400), pd.Series([0.0, 5.0], index=["lo", "hi"])],
    ids=["set", "huge-int", "labelled-series"],
)
def test_odd_bounds_pairs_are_option_errors(pair):
    """``_check_per_property`` lets a set through (``len 2``), then ``pair[0]`` raises a bare
    ``TypeError: 'set' object is not subscriptable``; a Python int beyond float64 passes
    ``isinstance(v, int)`` and ``np.isnan(10**400)`` raises a bare TypeError (ufunc 'isnan' not
    supported); a labelled Series pair hits pandas' positional ``__getitem__`` FutureWarning (an
    error under -W error). Expected: an OptionError naming bounds['g'] (or the pair accepted)."""
    try:
        sf.fit_pathway_stats(_table(), **KW, properties="g", bounds={"g": pair})
    except sf.OptionError as exc:
        assert "bounds" in str(exc)


def test_infinite_bounds_are_refused_before_reading(monkeypatch):
    """``bounds={"g": (inf, inf)}`` (every value infinite) passes the early checks (only
    lower > upper is caught there) and fails in the final cell validation, after every read (on
    dask: after the whole cluster computation). Expected: refused with the other options,
    before the table is read."""
    from synframe import _summaries

    def no_read(*a, **k):
        raise AssertionError("the table was read before the options were checked")

    monkeypatch.setattr(_summaries, "syn_summary", no_read)
    with pytest.raises(sf.SynframeError, match="bound"):
        sf.fit_pathway_stats(_table(), **KW, properties="g", bounds={"g": (np.inf, np.inf)})


# --- weights ---------------------------------------------------------------------------------------------


def test_synapse_counts_beyond_int64_are_refused():
    """Each ``nsyns`` below 2**53 is accepted, but their sums are int64 (``w.sum()``,
    ``np.add.reduceat`` in ``_exact._exact_counts``, ``np.add.at`` in ``_sum_by``): 2048 rows of
    2**52 synapses give ``attrs["fit"]["synapses"] == -2**63`` and a count n < 0 per pathway, so
    a normal fit fails with "'mean' must be a finite number, got nan" (nothing about nsyns).
    Absurd data, but the check promises counts are handled exactly. Expected: exact Python-int
    sums, or an error naming nsyns."""
    df = _table(2048)
    df["pre"], df["post"] = 1, 1
    df["nsyns"] = np.int64(2**52)
    try:
        got = sf.fit_pathway_stats(df, **KW, properties="g", distributions="uniform")
    except sf.SynframeError as exc:
        assert "nsyns" in str(exc)
        return
    assert got.attrs["fit"]["synapses"] == 2048 * 2**52
