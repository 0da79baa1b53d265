# %% [markdown]
# # A whole connectome on dask, into a SONATA network circuit
#
# A whole FlyWire connectome has ~130 million synapses, MICrONS ~340 million: more than one
# machine's memory holds as pandas tables. synframe's table verbs have dask twins
# (`sf.dask.clean`, `sf.dask.connectivity`, `sf.dask.parameterize`, `sf.dask.annotate`,
# `sf.dask.fit_pathway_stats`, and the `ddf.syn.*` accessor) with the pandas signatures and **the same results**, and
# `sf.write_circuit` writes a dask table partition by partition, each worker writing its own
# part.
#
# Here a small **synthetic** dump (`SyntheticDump`: 200,000 synapses in FlyWire's layout, 1 % of
# partners the background segment) stands in for the real thing, on a local cluster of two
# workers running as threads of this process (a documentation page cannot spawn processes). On
# a real cluster **only the `Client` changes**: `distributed.Client("scheduler-address:8786")`,
# or a `dask_jobqueue.SLURMCluster`; the pipeline below is the same.

# %%
# %matplotlib inline
import logging
import tempfile
from pathlib import Path

import dask
import distributed
import libsonata
import numpy as np
import pandas as pd

import synframe as sf
from synframe.synthetic import SyntheticDump

work = Path(tempfile.mkdtemp())

# %% [markdown]
# ## 1. Index the dump once
#
# The store keeps two copies sorted by `pre` and by `post`; `to_dask` partitions along the
# `pre` copy, so that all synapses of a presynaptic neuron are in one partition.

# %%
dump = SyntheticDump(200_000, seed=1, background=0.01)
dump.write_parquet(work / "synapses.parquet", row_group_size=20_000)
store = sf.sources.LocalStore.build(
    work / "synapses.parquet", work / "store", resolution=dump.resolution,
    row_group_size=5_000,
)  # fmt: skip
# every neuron with a synthetic class: 1 in 5 inhibitory
neurons = pd.DataFrame({"root_id": dump.neuron_ids})
neurons["synapse_class"] = np.where(neurons.root_id % 5 == 0, "INH", "EXC")
neurons["synapse_class"].value_counts().to_frame().T

# %% [markdown]
# ## 2. The model
#
# Conductance by source class; a release probability `u_syn` (truncated normal on [0, 1]) for
# every pathway (`"*"`: any class).

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
stats.syn.table()

# %% [markdown]
# ## 3. The pipeline, lazily, on a cluster
#
# Nothing runs until the circuit is written: the workers read, clean and parameterize
# partition by partition, in bounded memory each. `clean` finds duplicate synapse ids across
# partitions; `connectivity` counts each partition's connections where it is (a store's
# partitions hold each presynaptic neuron whole, so nothing is shuffled);
# `write_circuit(..., compute=False)` returns a lazy result, computed together with the edge
# count in one pass over the data (each partition is read once).

# %%
cluster = distributed.LocalCluster(
    n_workers=2,
    threads_per_worker=1,
    processes=False,  # threads: a documentation page cannot start processes
    dashboard_address="127.0.0.1:0",  # any free port, local only
    silence_logs=logging.ERROR,  # dask's scheduler logs each shuffle as a warning
)
client = distributed.Client(cluster)  # on a real cluster: distributed.Client(address)

syn = store.to_dask(partition_size=50_000)
print(f"{syn.npartitions} partitions of at most 50,000 synapses")
kept = syn.syn.clean()
edges = kept.syn.connectivity(threshold=2)
drawn = kept.syn.parameterize(stats, by="synapse_class", types=neurons, seed=1)
circuit = sf.write_circuit(drawn, work / "circuit", neurons=neurons, compute=False)
config, n_edges = dask.compute(circuit, edges.map_partitions(len).sum())
config = Path(config.iloc[0])
print(f"{n_edges:,} connections of 2+ synapses; circuit: {config.relative_to(work)}")

# %% [markdown]
# ## 4. The same result as pandas
#
# Keyed randomness makes every value independent of how the table is partitioned: pandas on
# the whole table gives exactly the circuit the cluster wrote, value for value.

# %%
table = store.to_dask().compute()
ref = sf.parameterize(sf.clean(table), stats, by="synapse_class", types=neurons, seed=1)
back = sf.read_edges(config, properties=["conductance", "u_syn"])
print(f"pandas: {len(table):,} -> {len(ref):,} synapses; the circuit: {len(back):,}")
for p in ("conductance", "u_syn"):
    print(p, "dask == pandas:", np.array_equal(back[p].to_numpy(), ref[p].to_numpy()))

# %% [markdown]
# Fitting works the same way: `sf.dask.fit_pathway_stats` reduces per-partition summaries
# (exact sums, so the result does not depend on the partitioning) -- here the model back from
# the drawn synapses, equal bit for bit to the pandas fit of the computed table:

# %%
fit_kw = dict(by="synapse_class", types=neurons, properties=["conductance", "u_syn"],
              distributions={"conductance": "gamma", "u_syn": "truncnorm"}, progress=False)  # fmt: skip
fitted = sf.dask.fit_pathway_stats(drawn, **fit_kw)
in_pandas = sf.fit_pathway_stats(ref, **fit_kw)
same = sf.pathways.to_dict(fitted) == sf.pathways.to_dict(in_pandas)
print("dask fit == pandas fit:", same)
print(fitted.syn.summary())

# %% [markdown]
# ## 5. Read it like any SONATA circuit
#
# libsonata (and so bluepysnap, and the simulators built on them) reads the circuit: one node
# population with every neuron and its annotations, one edge population with every synapse:

# %%
sonata = libsonata.CircuitConfig.from_file(str(config))
for name in sorted(sonata.node_populations):
    nodes = sonata.node_population(name)
    print(f"nodes {name}: {nodes.size:,}, attributes {sorted(nodes.attribute_names)}")
for name in sorted(sonata.edge_populations):
    edges_pop = sonata.edge_population(name)
    print(
        f"edges {name}: {edges_pop.size:,}, attributes {sorted(edges_pop.attribute_names)}"
    )

# %% [markdown]
# `read_edges` gives the synapse table back, also as a lazy dask table for circuits larger
# than memory:

# %%
lazy = sf.read_edges(config, as_dask=True, partition_size=50_000)
lazy.groupby("pre_synapse_class")[["conductance", "u_syn"]].mean().compute().round(3)

# %% [markdown]
# The drawn values against the model, over the whole circuit:

# %%
back.syn.plot_parameters(stats, by="synapse_class", figsize=(12, 6))

# %%
client.close()
cluster.close()
