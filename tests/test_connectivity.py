"""``sf.connectivity``: the sorted-pair-code path gives pandas' group-by table exactly."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import synframe as sf
from synframe.testing import synapse_tables


def _pandas(syn: pd.DataFrame, by=(), threshold: int = 1) -> pd.DataFrame:
    """connectivity as first written: group-by size, filter, sort by weight then keys."""
    keys = ["pre", "post", *by]
    edges = (
        syn.groupby(keys, observed=True, dropna=False, sort=False)
        .size()
        .rename("weight")
        .reset_index()
    )
    edges = edges[edges["weight"] >= threshold]
    edges = edges.sort_values(
        ["weight", *keys], ascending=[False] + [True] * len(keys), ignore_index=True
    )
    edges["weight"] = edges["weight"].astype("int64")
    return edges


@given(syn=synapse_tables(max_rows=80, pool=6), threshold=st.integers(1, 4))
def test_equals_the_pandas_group_by(syn, threshold):
    edges = sf.connectivity(syn, threshold=threshold)
    pd.testing.assert_frame_equal(edges, _pandas(syn, threshold=threshold), check_exact=True)
    assert edges.attrs == {"units": "nm"}


@pytest.mark.parametrize("n_neurons", [1, 3, 70_000])
def test_large_ids_heavy_connections_and_wide_code_spaces(n_neurons):
    """64-bit ids, a connection of 40,000 synapses (weights beyond int16), > 2**32 pairs."""
    rng = np.random.default_rng(n_neurons)
    ids = 2**63 - 1 - rng.choice(2**40, n_neurons, replace=False)
    n = 150_000
    syn = pd.DataFrame(
        {"pre": ids[rng.integers(0, n_neurons, n)], "post": ids[rng.integers(0, n_neurons, n)]}
    )
    syn.iloc[:40_000] = [ids[0], ids[-1]]
    for threshold in (1, 2, 50_000):
        edges = sf.connectivity(syn, threshold=threshold)
        pd.testing.assert_frame_equal(edges, _pandas(syn, threshold=threshold), check_exact=True)
    assert sf.connectivity(syn)["weight"].iloc[0] >= 40_000


def test_other_id_dtypes_and_by_columns_take_the_pandas_path(syn):
    unsigned = syn.astype({"pre": "uint64"})
    pd.testing.assert_frame_equal(sf.connectivity(unsigned), _pandas(unsigned))
    syn = syn.assign(np_=pd.Categorical(np.where(syn.id % 3 == 0, "AL", None)))
    pd.testing.assert_frame_equal(sf.connectivity(syn, by="np_"), _pandas(syn, by=["np_"]))
    empty = syn.iloc[:0]
    pd.testing.assert_frame_equal(sf.connectivity(empty), _pandas(empty))


@pytest.mark.parametrize("threshold", [0, -1, 1.5, True, "2"])
def test_bad_thresholds_are_refused(syn, threshold):
    with pytest.raises(sf.OptionError, match="threshold must be a positive int"):
        sf.connectivity(syn, threshold=threshold)
