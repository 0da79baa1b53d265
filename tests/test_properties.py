"""hypothesis properties of ``clean`` (strategies from ``synframe.testing``)."""

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

import synframe as sf
from synframe.testing import synapse_tables


@given(synapse_tables(), st.sampled_from([None, 0, 50, 150]))
def test_clean_output_validates_and_is_a_subset(syn, min_score):
    out = sf.clean(syn, min_score=min_score)
    sf.validate(out, "clean")
    assert out.index.isin(syn.index).all()
    pd.testing.assert_frame_equal(out, syn.loc[out.index])
    assert out["id"].is_unique
    assert not (out.pre == out.post).any()
    assert not ((out.pre == 0) | (out.post == 0)).any()
    removed = out.attrs["history"][-1]["removed"]
    assert sum(removed.values()) == len(syn) - len(out)


@given(synapse_tables(), st.sampled_from([None, 50]))
def test_clean_is_idempotent(syn, min_score):
    once = sf.clean(syn, min_score=min_score)
    twice = sf.clean(once, min_score=min_score)
    pd.testing.assert_frame_equal(twice, once)
    assert sum(twice.attrs["history"][-1]["removed"].values()) == 0


@given(synapse_tables(autapses=False, background=False, duplicates=False))
def test_clean_keeps_everything_on_clean_input(syn):
    assert len(sf.clean(syn)) == len(syn)


@given(synapse_tables(min_rows=1))
def test_ids_never_pass_through_float(syn):
    out = sf.clean(syn, autapses=False, background=False, dedupe=False)
    assert out["pre"].dtype == "int64"
    assert (out["pre"].to_numpy() == syn["pre"].to_numpy()).all()
