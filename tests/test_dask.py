"""dask DataFrames: partition-wise parameterize gives pandas' values exactly."""

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

import synframe as sf


@pytest.mark.parametrize("npartitions", [1, 3, 7])
def test_dask_parameterize_equals_pandas(syn, npartitions):
    stats = sf.datasets.example_pathway_stats(shared_within=True)
    classes = sf.datasets.example_synapse_classes()
    shuffled = syn.sample(frac=1.0, random_state=npartitions)
    ddf = dd.from_pandas(shuffled, npartitions=npartitions, sort=False)
    lazy = ddf.syn.parameterize(stats, by="synapse_class", types=classes, seed=5)
    assert list(lazy.columns) == [*syn.columns, "conductance", "syn_type_id"]
    got = lazy.compute().set_index("id").sort_index()
    ref = (
        sf.parameterize(syn, stats, by="synapse_class", types=classes, seed=5)
        .set_index("id")
        .sort_index()
    )
    assert np.array_equal(got["conductance"].to_numpy(), ref["conductance"].to_numpy())
    assert got["syn_type_id"].dtype == ref["syn_type_id"].dtype == np.int64
    # shared_within holds across partitions: one value per connection
    assert (got.groupby(["pre", "post"])["conductance"].nunique() == 1).all()


def test_dask_seed_none_is_fixed_once(syn):
    stats = sf.datasets.example_pathway_stats(shared_within=True)
    classes = sf.datasets.example_synapse_classes()
    ddf = dd.from_pandas(syn, npartitions=5)
    out = ddf.syn.parameterize(stats, by="synapse_class", types=classes).compute()
    assert (out.groupby(["pre", "post"])["conductance"].nunique() == 1).all()


def test_dask_validate(syn):
    ddf = dd.from_pandas(syn, npartitions=3)
    pd.testing.assert_frame_equal(ddf.syn.validate().compute(), syn)
    bad = dd.from_pandas(syn.astype({"pre": "float64"}), npartitions=3)
    with pytest.raises(sf.SchemaError, match="expected int64, got float64"):
        bad.syn.validate().compute()
