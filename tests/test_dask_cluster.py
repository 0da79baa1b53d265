"""End to end on a real dask.distributed LocalCluster: store -> clean -> connectivity ->
parameterize -> write_circuit, equal to the pandas path."""

import dask
import numpy as np
import pandas as pd
import pytest

import synframe as sf
from synframe.synthetic import SyntheticDump

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("store")
    dump = SyntheticDump(60_000, n_neurons=800, seed=7, background=0.01)
    dump.write_parquet(folder / "dump.parquet", row_group_size=10_000)
    repeated = pd.concat([dump.frame(), dump.frame().iloc[::500]])  # duplicated synapse ids
    repeated.to_parquet(folder / "dirty.parquet", row_group_size=10_000)
    built = sf.sources.LocalStore.build(
        folder / "dirty.parquet", folder / "store", resolution=dump.resolution,
        row_group_size=2_000,
    )  # fmt: skip
    classes = pd.DataFrame(
        {
            "root_id": np.r_[0, dump.neuron_ids],
            "synapse_class": np.where(np.arange(len(dump.neuron_ids) + 1) % 4 == 0, "INH", "EXC"),
        }
    )
    return built, classes


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0",
        memory_limit="2GiB",
    ) as cluster, distributed.Client(cluster) as c:  # fmt: skip
        yield c


STATS = sf.pathway_stats(
    {
        "conductance": {"*": {"*": {"type": "gamma", "mean": 1.0, "std": 0.4}}},
        "u_syn": {
            "*": {
                "*": {
                    "type": "truncnorm",
                    "norm_loc": 0.5,
                    "norm_scale": 0.2,
                    "min": 0.0,
                    "max": 1.0,
                    "shared_within": False,
                }
            }
        },
    },
    by="synapse_class",
)


def _pipeline_dask(ddf, classes, folder):
    kept = sf.dask.clean(ddf)
    edges = sf.dask.connectivity(kept, threshold=2)
    drawn = sf.dask.parameterize(kept, STATS, by="synapse_class", types=classes, seed=4)
    config = sf.write_circuit(drawn, folder, neurons=classes)
    return edges.compute(), config


def _pipeline_pandas(table, classes, folder):
    kept = sf.clean(table)
    edges = sf.connectivity(kept, threshold=2)
    drawn = sf.parameterize(kept, STATS, by="synapse_class", types=classes, seed=4)
    return edges, drawn, sf.write_circuit(drawn, folder, neurons=classes)


def test_local_cluster_end_to_end_equals_pandas(store, client, tmp_path):
    built, classes = store
    ddf = built.to_dask(partition_size=6_000)
    assert ddf.npartitions > 4
    edges, config = _pipeline_dask(ddf, classes, tmp_path / "dask")
    with dask.config.set(scheduler="synchronous"):
        table = built.to_dask(partition_size=6_000).compute()
    ref_edges, drawn, ref_config = _pipeline_pandas(table, classes, tmp_path / "pandas")
    keys = ["weight", "pre", "post"]
    edges = edges.sort_values(keys, ascending=[False, True, True], ignore_index=True)
    pd.testing.assert_frame_equal(edges, ref_edges)
    got = sf.read_edges(config, properties=["conductance", "u_syn"])
    ref = sf.read_edges(ref_config, properties=["conductance", "u_syn"])
    pd.testing.assert_frame_equal(got, ref)
    assert len(got) == len(drawn) < len(table)  # duplicates and background went
    assert (got["conductance"].to_numpy() == drawn["conductance"].to_numpy()).all()


def test_fit_on_the_cluster_equals_pandas(store, client):
    """store -> clean -> parameterize -> fit_pathway_stats on worker processes: the pandas fit
    of the computed table, bit for bit (histogram truncnorm: two reads; discrete; n_syn_per_conn)."""
    built, classes = store
    drawn = sf.dask.parameterize(sf.dask.clean(built.to_dask(partition_size=6_000)), STATS,
                                 by="synapse_class", types=classes, seed=4)  # fmt: skip
    kw = dict(by="synapse_class", types=classes, progress=False,
              properties=["conductance", "u_syn", "n_syn_per_conn"],
              distributions={"conductance": "gamma", "u_syn": "truncnorm",
                             "n_syn_per_conn": "discrete"})  # fmt: skip
    got = sf.dask.fit_pathway_stats(drawn, **kw)
    with dask.config.set(scheduler="synchronous"):
        table = drawn.compute()
    ref = sf.fit_pathway_stats(table, **kw)
    assert repr(sf.pathways.to_dict(got)) == repr(sf.pathways.to_dict(ref))
    assert repr(got.attrs["fit"]) == repr(ref.attrs["fit"])
    assert got.attrs["fit"]["synapses"] == len(table)


def test_partitions_hold_whole_neurons(store, client):
    built, _ = store
    ddf = built.to_dask(partition_size=3_000)
    owners = ddf.map_partitions(lambda d: pd.DataFrame({"pre": d["pre"].unique()})).compute()
    assert owners["pre"].is_unique  # no presynaptic neuron is split across partitions


def test_parameterize_circuit_on_dask_equals_one_process(client, tmp_path):
    import shutil

    import h5py

    from conftest import DATA

    circuit = tmp_path / "circuit"
    shutil.copytree(DATA / "sonata" / "obi_nbS1_O1_E2Sst_L5", circuit)
    config = circuit / "circuit_config.json"
    stats = sf.pathway_stats(
        {
            "g": {"*": {"*": {"type": "gamma", "mean": 1.0, "std": 0.3}}},
            "u": {"*": {"*": {"type": "uniform", "min": 0.1, "max": 0.9, "shared_within": False}}},
        },
        by="synapse_class",
    )
    kw = {"by": "synapse_class", "seed": 2, "chunk_size": 700}
    one = sf.parameterize_circuit(config, stats, output=tmp_path / "one", **kw)
    on_client = sf.parameterize_circuit(config, stats, output=tmp_path / "c", scheduler=client,
                                        **kw)  # fmt: skip
    local = sf.parameterize_circuit(config, stats, output=tmp_path / "p", scheduler="threads",
                                    **kw)  # fmt: skip
    import libsonata

    cfg = libsonata.CircuitConfig.from_file(str(one))
    pops = [
        p
        for p in cfg.edge_populations
        if "g"
        in libsonata.EdgeStorage(cfg.edge_population_properties(p).elements_path)
        .open_population(p)
        .attribute_names
    ]
    assert len(pops) >= 2  # the populations whose nodes have a synapse_class on both sides
    for pop in pops:
        ref = sf.read_edges(one, pop, properties=["g", "u"])
        assert len(ref) > 0
        for other in (on_client, local):
            pd.testing.assert_frame_equal(sf.read_edges(other, pop, properties=["g", "u"]), ref)
    with pytest.raises(sf.OptionError, match="scheduler"):
        sf.parameterize_circuit(config, stats, output=tmp_path / "x", scheduler=42, **kw)
    assert not (tmp_path / "x").exists()
    with h5py.File(
        circuit / "S1nonbarrel_neurons__S1nonbarrel_neurons__chemical" / "edges.h5"
    ) as h5:
        assert "g" not in h5["edges"]["S1nonbarrel_neurons__S1nonbarrel_neurons__chemical"]["0"]
