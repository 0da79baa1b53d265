# %% [markdown]
# # A whole connectome on dask, into a SONATA network circuit
#
# A whole FlyWire connectome has ~130 million synapses, MICrONS ~340 million: more than one
# machine's memory holds as pandas tables. synframe's table verbs have dask twins
# (`sf.dask.clean`, `sf.dask.connectivity`, `sf.dask.parameterize`, `sf.dask.annotate`, and the
# `ddf.syn.*` accessor) with the pandas signatures and the same results, and
# `sf.write_circuit` writes a dask table partition by partition, each worker writing its own.
#
# Here a small generated dump (200,000 synapses in FlyWire's layout) stands in for the real
# thing, on a local cluster of 2 worker processes; on a real cluster only the `Client` changes.
#
# Run it: `python tutorials/05_whole_connectome_on_dask.py`

# %%
import tempfile
from pathlib import Path

import dask
import distributed
import numpy as np
import pandas as pd

import synframe as sf
from synframe.synthetic import SyntheticDump


def main() -> None:
    work = Path(tempfile.mkdtemp())

    # %% [markdown]
    # ## 1. Index the dump once
    # The store keeps two copies sorted by `pre` and by `post`; `to_dask` partitions along the
    # `pre` copy, so that all synapses of a presynaptic neuron are in one partition.

    # %%
    dump = SyntheticDump(200_000, seed=1, background=0.01)
    dump.write_parquet(work / "synapses.parquet", row_group_size=20_000)
    store = sf.sources.LocalStore.build(
        work / "synapses.parquet", work / "store", resolution=dump.resolution,
        row_group_size=5_000,
    )  # fmt: skip
    neurons = pd.DataFrame({"root_id": np.r_[0, dump.neuron_ids]})
    neurons["synapse_class"] = np.where(neurons.root_id % 5 == 0, "INH", "EXC")

    # %% [markdown]
    # ## 2. The pipeline, lazily, on a local cluster
    # Nothing runs until the circuit is written: the cluster reads, cleans and parameterizes
    # partition by partition, in bounded memory per worker.

    # %%
    stats = sf.pathway_stats(
        {
            "conductance": {
                "EXC": {"*": {"type": "gamma", "mean": 1.0, "std": 0.5}},
                "INH": {"*": {"type": "gamma", "mean": 2.0, "std": 0.5}},
            },
            "u_syn": {"*": {"*": {"type": "truncnorm", "norm_loc": 0.5, "norm_scale": 0.2,
                                  "min": 0.0, "max": 1.0}}},
        },
        by="synapse_class",
    )  # fmt: skip
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, dashboard_address="127.0.0.1:0"
        ) as c,
        distributed.Client(c),
    ):
        syn = store.to_dask(partition_size=50_000)
        print(f"{syn.npartitions} partitions")
        kept = syn.syn.clean()  # duplicates are found across partitions
        edges = kept.syn.connectivity(threshold=2)  # a tree reduction
        drawn = kept.syn.parameterize(stats, by="synapse_class", types=neurons, seed=1)
        circuit = sf.write_circuit(drawn, work / "circuit", neurons=neurons, compute=False)
        config, n_edges = dask.compute(circuit, edges.map_partitions(len).sum())
    config = Path(config.iloc[0])
    print(f"{n_edges:,} connections of 2+ synapses; circuit: {config}")

    # %% [markdown]
    # ## 3. The same result as pandas
    # Keyed randomness makes every value independent of how the table is partitioned: the
    # circuit written from pandas is the same, dataset for dataset.

    # %%
    table = store.to_dask().compute()
    ref = sf.parameterize(sf.clean(table), stats, by="synapse_class", types=neurons, seed=1)
    back = sf.read_edges(config, properties=["conductance", "u_syn"])
    assert np.array_equal(back["conductance"].to_numpy(), ref["conductance"].to_numpy())
    print("dask == pandas:", len(back), "synapses")

    # %% [markdown]
    # ## 4. Read it like any SONATA circuit
    # libsonata and bluepysnap read it; `read_edges` gives the synapse table back, also as dask.

    # %%
    lazy = sf.read_edges(config, as_dask=True, partition_size=50_000)
    by_class = lazy.groupby("pre_synapse_class")["conductance"].mean().compute()
    print(by_class.round(2).to_dict())


if __name__ == "__main__":  # dask.distributed starts worker processes: keep the guard
    main()
