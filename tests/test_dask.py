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


# --- every table verb on dask == the pandas verb, for any partitioning ----------------------------

import inspect  # noqa: E402
import itertools  # noqa: E402

import dask  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from synframe.accessors import ALIASES, DaskAccessor  # noqa: E402


def _dirty(syn: pd.DataFrame) -> pd.DataFrame:
    """The example table plus rows clean must remove: duplicates, autapses, background, low scores."""
    rng = np.random.default_rng(11)
    syn = syn.assign(cleft_score=rng.integers(0, 200, len(syn)))
    base = syn.sample(60, random_state=2)
    out = pd.concat(
        [
            syn,
            base.iloc[:15],  # duplicated ids (anywhere in the table after shuffling)
            base.iloc[15:25].assign(post=lambda d: d.pre, id=lambda d: d.id + 10**12),
            base.iloc[25:35].assign(pre=0, id=lambda d: d.id + 2 * 10**12),
        ],
        ignore_index=True,
    )
    return out


def _split(df: pd.DataFrame, cuts: list[int]):
    """A dask DataFrame whose partitions are ``df`` cut at ``cuts`` (empty partitions allowed)."""
    bounds = [0, *sorted(cuts), len(df)]
    pieces = [df.iloc[a:b] for a, b in itertools.pairwise(bounds)]
    return dd.from_map(lambda piece: piece, pieces, meta=df.iloc[:0], enforce_metadata=False)


@st.composite
def partitionings(draw, n: int):
    """A row order (seed) and cut positions: connections and duplicates straddle partitions."""
    seed = draw(st.integers(0, 2**16))
    cuts = draw(st.lists(st.integers(0, n), min_size=0, max_size=6))
    return seed, cuts


@pytest.fixture(scope="module")
def example():
    return sf.datasets.example_synapses()


@pytest.fixture(scope="module")
def dirty(example):
    return _dirty(example)


def _shuffled(df: pd.DataFrame, seed: int) -> pd.DataFrame:
    return df.sample(frac=1.0, random_state=seed)


@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_clean_equals_pandas_for_any_partitioning(dirty, data):
    seed, cuts = data.draw(partitionings(len(dirty)))
    table = _shuffled(dirty, seed)
    ddf = _split(table, cuts)
    with dask.config.set(scheduler="synchronous"):
        got = sf.dask.clean(ddf, min_score=20).compute()
        kept, removed = sf.dask.clean(ddf, min_score=20, return_removed=True)
        kept, removed = dask.compute(kept, removed)
    ref, ref_removed = sf.clean(table, min_score=20, return_removed=True)
    pd.testing.assert_frame_equal(got, ref)
    pd.testing.assert_frame_equal(kept, ref)
    pd.testing.assert_frame_equal(removed, ref_removed)


@settings(max_examples=8, deadline=None)
@given(data=st.data())
def test_clean_with_neurons_equals_pandas(dirty, data):
    neuron = sf.datasets.example_neuron()
    seed, cuts = data.draw(partitionings(len(dirty)))
    table = _shuffled(dirty, seed)
    with dask.config.set(scheduler="synchronous"):
        got = sf.dask.clean(_split(table, cuts), neurons=neuron, max_distance="1 um").compute()
    pd.testing.assert_frame_equal(got, sf.clean(table, neurons=neuron, max_distance="1 um"))


@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_connectivity_and_annotate_equal_pandas(dirty, data):
    seed, cuts = data.draw(partitionings(len(dirty)))
    table = _shuffled(dirty, seed)
    if data.draw(st.booleans()):  # as a store gives them: neurons split only at the cuts
        table = table.sort_values("pre", kind="stable")
    types = sf.datasets.example_cell_types()
    table = table.assign(neuropil=pd.Categorical(np.where(table.pre % 3 == 0, "V1", "RL")))
    ddf = _split(table, cuts)
    with dask.config.set(scheduler="synchronous"):
        for by, threshold in ((None, 1), ("neuropil", 2)):
            edges = sf.dask.connectivity(ddf, by=by, threshold=threshold).compute()
            keys = ["weight", "pre", "post", *([by] if by else [])]
            edges = edges.sort_values(keys, ascending=[False] + [True] * (len(keys) - 1),
                                      ignore_index=True)  # fmt: skip
            pd.testing.assert_frame_equal(edges, sf.connectivity(table, by=by, threshold=threshold))
        got = sf.dask.annotate(ddf, types, columns=["cell_type", "id"]).compute()
    pd.testing.assert_frame_equal(got, sf.annotate(table, types, columns=["cell_type", "id"]))
    assert got["pre_id"].dtype == "Int64"  # the same dtype whatever the partition holds


@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_parameterize_and_validate_equal_pandas(example, data):
    seed, cuts = data.draw(partitionings(len(example)))
    table = _shuffled(example, seed)
    stats = sf.datasets.example_pathway_stats(shared_within=True)
    classes = sf.datasets.example_synapse_classes()
    with dask.config.set(scheduler="synchronous"):
        ddf = _split(table, cuts)
        got = sf.dask.parameterize(ddf, stats, by="synapse_class", types=classes, seed=3)
        got = got.compute()
        valid = sf.dask.validate(ddf).compute()
    ref = sf.parameterize(table, stats, by="synapse_class", types=classes, seed=3)
    pd.testing.assert_frame_equal(got, ref)
    pd.testing.assert_frame_equal(valid, table)


@pytest.mark.parametrize("name", sorted(ALIASES[DaskAccessor]))
def test_dask_verbs_have_the_pandas_signatures(name):
    pandas_verb = getattr(sf, name)
    dask_verb = getattr(sf.dask, name)
    drop_first = lambda f: list(inspect.signature(f).parameters.values())[1:]  # noqa: E731
    assert [(p.name, p.kind, p.default) for p in drop_first(dask_verb)] == [
        (p.name, p.kind, p.default) for p in drop_first(pandas_verb)
    ]


def test_dask_verbs_refuse_pandas_frames(syn):
    with pytest.raises(sf.OptionError, match="takes a dask DataFrame"):
        sf.dask.clean(syn)


def test_dask_clean_checks_options_before_computing(syn):
    ddf = dd.from_pandas(syn, npartitions=2)
    with pytest.raises(sf.UnitsError):
        sf.dask.clean(ddf, neurons=sf.datasets.example_neuron(), max_distance="3 kg")
    with pytest.raises(sf.OptionError, match="min_score"):
        sf.dask.clean(ddf, min_score=float("nan"))


def test_a_pandas_verb_given_a_dask_table_points_to_sf_dask():
    syn = sf.parameterize(sf.datasets.example_synapses(), sf.datasets.example_pathway_stats(),
                          by="synapse_class", types=sf.datasets.example_synapse_classes(), seed=1)  # fmt: skip
    ddf = dd.from_pandas(syn, npartitions=2)
    with pytest.raises(
        sf.SchemaError, match=r"got dask\..*DataFrame; sf\.dask has the table verbs"
    ):
        sf.fit_pathway_stats(ddf, by="synapse_class", properties=["conductance"],
                             types=sf.datasets.example_synapse_classes())  # fmt: skip
    with pytest.raises(sf.SchemaError, match=r"\.compute\(\)"):
        sf.clean(ddf)


# --- store partitions: each read once, the ids branch reads only ids, no connectivity shuffle ---


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    from synframe.synthetic import SyntheticDump

    folder = tmp_path_factory.mktemp("small-store")
    dump = SyntheticDump(6_000, n_neurons=120, seed=5, background=0.01)
    dirty = pd.concat([dump.frame(), dump.frame().iloc[::300]])  # duplicated synapse ids
    dirty.to_parquet(folder / "dirty.parquet", row_group_size=1_000)
    return sf.sources.LocalStore.build(
        folder / "dirty.parquet", folder / "store", resolution=dump.resolution,
        row_group_size=300,
    )  # fmt: skip


def test_store_pipeline_reads_each_partition_once(small_store, monkeypatch):
    import synframe.sources._partitions as partitions

    reads = []
    real = partitions.read_part

    def spy(part, columns=None):
        reads.append(None if columns is None else tuple(columns))
        return real(part, columns=columns)

    monkeypatch.setattr(partitions, "read_part", spy)
    store = small_store
    ddf = store.to_dask(partition_size=1_000)
    assert ddf.npartitions > 2
    reads.clear()  # the meta read
    kept = sf.dask.clean(ddf)
    stats = sf.datasets.example_pathway_stats()
    ids = np.unique(ddf[["pre", "post"]].compute(scheduler="synchronous").to_numpy())
    classes = pd.Series(np.where(ids % 3 == 0, "inhibitory_neuron", "excitatory_neuron"), index=ids)
    reads.clear()  # the meta read and the ids above
    drawn = sf.dask.parameterize(kept, stats, by="synapse_class", types=classes, seed=1)
    with dask.config.set(scheduler="synchronous"):
        edges, table = dask.compute(sf.dask.connectivity(kept), drawn)
    n = ddf.npartitions
    assert sorted(reads, key=str) == sorted([("id",)] * n + [None] * n, key=str)
    syn = store.to_dask(partition_size=1_000).compute(scheduler="synchronous")
    pd.testing.assert_frame_equal(
        table, sf.parameterize(sf.clean(syn), stats, by="synapse_class", types=classes, seed=1)
    )
    assert len(edges) == len(sf.connectivity(sf.clean(syn)))


def test_store_projection_equals_the_full_read(small_store):
    ddf = small_store.to_dask(partition_size=1_000)
    assert ddf.npartitions > 2
    with dask.config.set(scheduler="synchronous"):
        full = ddf.compute()
        for cols in (["id"], ["post_z", "pre"], ["post", "id", "pre_x"]):
            pd.testing.assert_frame_equal(ddf[cols].compute(), full[cols])


def test_connectivity_of_store_partitions_sums_nothing_across(small_store, monkeypatch):
    import synframe.dask as sfd

    shared = []
    real = sfd._shared_pres
    monkeypatch.setattr(sfd, "_shared_pres", lambda pres: shared.append(real(pres)) or shared[-1])
    ddf = small_store.to_dask(partition_size=1_000)
    assert ddf.npartitions > 1
    with dask.config.set(scheduler="synchronous"):
        edges = sf.dask.connectivity(ddf).compute()
        assert len(shared) == 1 and len(shared[0]) == 0  # no neuron in two partitions
        mixed = dd.from_pandas(ddf.compute().sample(frac=1.0, random_state=0), npartitions=3)
        again = sf.dask.connectivity(mixed).compute()
    assert len(shared[1]) > 0  # shuffled rows: neurons everywhere, summed by the group-by
    keys = ["pre", "post"]
    pd.testing.assert_frame_equal(
        edges.sort_values(keys, ignore_index=True), again.sort_values(keys, ignore_index=True)
    )
