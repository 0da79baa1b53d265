# %% [markdown]
# # FlyWire-style pathways from cell-type annotations
#
# In the fly connectome, analyses start from a table of neurons and their annotations (FlyWire's
# `super_class`, `cell_class`, `cell_type`, predicted transmitter …). This tutorial goes from
# such a table to synapses that carry their neurons' types, to type-to-type connectivity, to a
# parameterization by a class derived from the types.
#
# **All data here are synthetic.** FlyWire's annotation releases carry a non-commercial licence,
# so they are not used in synframe's documentation. The synapses come from
# `synframe.synthetic.SyntheticDump`, a seeded generator that writes a dump in FlyWire's layout
# (`pre_pt_root_id`, positions in 4 × 4 × 40 nm voxels, cleft scores, per-synapse transmitter
# probabilities, neuropils) with EM-like degree statistics; the annotation table is made up to
# match it. The connectivity below therefore shows the generator, not the fly brain. With the
# real dump and annotations, every call is the same.

# %%
# %matplotlib inline
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

import synframe as sf
from synframe.synthetic import SyntheticDump

work = Path(tempfile.mkdtemp())

# %% [markdown]
# ## 1. A local synapse store
#
# Labs download a connectome's synapse dump and query it locally. `LocalStore.build` indexes a
# dump once (two sorted copies, by `pre` and by `post`), so that "the synapses of these
# neurons" reads only the row groups that hold them. The voxel size is declared once: positions
# come out in nm.

# %%
dump = SyntheticDump(300_000, n_neurons=2_000, seed=7)  # synthetic, FlyWire's layout
dump.write_parquet(work / "synapses.parquet")
print(pd.read_parquet(work / "synapses.parquet").iloc[:3, :9].to_string())

store = sf.sources.LocalStore.build(
    work / "synapses.parquet",
    work / "store",
    resolution=dump.resolution,  # (4, 4, 40) nm
    datastack="synthetic_fafb",
    materialization=783,
    filtered=True,
)
store

# %% [markdown]
# ## 2. The annotation table
#
# One row per neuron. *Synthetic*: each neuron gets a cell class that agrees with the
# transmitter its synapses are predicted to release (cholinergic neurons are projection neurons,
# ALPN, or Kenyon cells, KC; GABAergic ones local neurons, ALLN; glutamatergic ones output
# neurons, MBON; dopaminergic DAN, octopaminergic OAN, serotonergic 5HT), and a cell type
# within its class.

# %%
nt_columns = ["gaba", "ach", "glut", "oct", "ser", "da"]  # the dump's column names
raw = pd.read_parquet(
    work / "synapses.parquet", columns=["pre_pt_root_id", *nt_columns]
)
dominant = raw.groupby("pre_pt_root_id").mean().idxmax(axis=1)
classes_of = {"ach": ["ALPN", "KC"], "gaba": ["ALLN"], "glut": ["MBON"],
              "da": ["DAN"], "oct": ["OAN"], "ser": ["5HT"]}  # fmt: skip

rng = np.random.default_rng(7)
annotations = pd.DataFrame({"root_id": dump.neuron_ids})
nt = dominant.reindex(annotations["root_id"]).fillna("ach")  # no outputs: say ACh
annotations["super_class"] = "central"
annotations["cell_class"] = [str(rng.choice(classes_of[t])) for t in nt]
annotations["cell_type"] = [
    f"{c}_{rng.choice(list('abc'))}" for c in annotations["cell_class"]
]
annotations.sample(5, random_state=1)

# %%
annotations["cell_class"].value_counts().to_frame().T

# %% [markdown]
# ## 3. Fetch with the annotations carried along
#
# A table of neurons has a `.syn.fetch`: the synapses of its neurons, with the columns named in
# `carry` copied to each synapse as `pre_<col>` / `post_<col>` -- for partners too, when the
# table has rows for them. Fetch the projection neurons' synapses, with transmitter
# predictions and neuropils (options a source cannot honour are errors, never silently
# ignored):

# %%
pns = annotations[annotations["cell_class"] == "ALPN"]
syn = pns.syn.fetch(
    source=store,
    carry=["cell_class", "cell_type"],
    transmitters=True,
    neuropils=True,
    progress=False,
)
columns = [
    "pre",
    "post",
    "pre_cell_type",
    "post_cell_type",
    "acetylcholine",
    "neuropil",
]
syn[columns].head()

# %% [markdown]
# What the store cannot answer is refused, not ignored -- here another materialization:

# %%
try:
    sf.fetch(pns["root_id"], source=store, materialization=630, progress=False)
except sf.SourceError as err:
    print(type(err).__name__ + ":", err)

# %% [markdown]
# The partners of the projection neurons are not in `pns`, so their types are missing.
# `sf.annotate` adds them from the full table (64-bit ids are matched exactly, never through
# float):


# %%
def untyped(table):
    """Synapses with a partner of unknown type."""
    return int(table[["pre_cell_class", "post_cell_class"]].isna().any(axis=1).sum())


print("synapses with an untyped partner:", untyped(syn))
syn = sf.annotate(syn, annotations, columns=["cell_class", "cell_type"])
print("after annotate:", untyped(syn))

# %% [markdown]
# ### Transmitter per neuron, FlyWire's way
#
# FlyWire's `nt_type` of a neuron is the transmitter with the highest mean probability over its
# output synapses (Eckstein et al. 2024). From the fetched table, for the projection neurons:

# %%
transmitters = [
    "gaba",
    "acetylcholine",
    "glutamate",
    "octopamine",
    "serotonin",
    "dopamine",
]
outputs = syn[syn["pre"].isin(pns["root_id"])]
nt_type = outputs.groupby("pre")[transmitters].mean().idxmax(axis=1)
nt_type.value_counts().to_frame("projection neurons")

# %% [markdown]
# ## 4. Connectivity by type
#
# `sf.connectivity` counts synapses per connection, split by any columns (fafbseg's
# `get_connectivity`, on any table). With the types carried, a neuron-level edge list is
# already typed:

# %%
edges = sf.connectivity(syn, by=["pre_cell_class", "post_cell_class"], threshold=3)
edges.head()

# %% [markdown]
# The whole brain at once: fetching every annotated neuron with `carry` types both sides of
# every synapse. `sf.plot_connectivity` sums synapses (or counts connections) between types,
# on a log colour scale:

# %%
everything = annotations.syn.fetch(source=store, carry=["cell_class"], progress=False)
print(f"{len(everything):,} synapses")
sf.plot_connectivity(everything, by="cell_class", figsize=(7, 5.5))

# %%
types = ["pre_cell_class", "post_cell_class"]
strong = sf.connectivity(everything, by=types, threshold=5)
fig = sf.plot_connectivity(
    strong, by="cell_class", weight="connections", figsize=(7, 5.5)
)
fig.axes[0].set_title("connections of 5+ synapses between cell classes")
fig

# %% [markdown]
# Per neuropil, as FlyWire's connectivity tables are:

# %%
by_neuropil = sf.connectivity(syn, by="neuropil", threshold=3)
by_neuropil.groupby("neuropil", observed=True)["weight"].sum().nlargest(6)

# %% [markdown]
# ## 5. Parameterize by a class derived from the types
#
# A simulation needs a synapse model per pathway. Here the pathway property is a
# `synapse_class` derived from the annotations: cholinergic classes excitatory, GABAergic and
# glutamatergic ones inhibitory (glutamate inhibits through GluCl in much of the fly's central
# brain -- a modelling choice to state, not a fact of every synapse), monoaminergic ones
# modulatory, which get no fast conductance here (`zero`).

# %%
synapse_class = {"ALPN": "EXC", "KC": "EXC", "ALLN": "INH", "MBON": "INH",
                 "DAN": "MOD", "OAN": "MOD", "5HT": "MOD"}  # fmt: skip
neurons = annotations.assign(synapse_class=annotations["cell_class"].map(synapse_class))
classes = ["EXC", "INH", "MOD"]
conductance = {
    "EXC": {"type": "gamma", "mean": 1.0, "std": 0.5},  # nS
    "INH": {"type": "gamma", "mean": 2.0, "std": 0.5},
    "MOD": {"type": "zero"},
}
e_rev = {"EXC": 0.0, "INH": -70.0, "MOD": 0.0}  # mV
model = {  # prop_stats[property][source class][target class], as in connectome-manipulator
    "conductance": {s: {t: conductance[s] for t in classes} for s in classes},
    "e_rev": {
        s: {t: {"type": "constant", "mean": e_rev[s]} for t in classes} for s in classes
    },
}
stats = sf.pathway_stats(model, by="synapse_class")
print(stats.syn.summary())

# %% [markdown]
# `types=` takes the annotation table itself (its `synapse_class` column, by `root_id`):

# %%
drawn = sf.parameterize(syn, stats, by="synapse_class", types=neurons, seed=1)
drawn = sf.annotate(drawn, neurons, columns="synapse_class", sides=["pre"])
drawn.groupby("pre_synapse_class")[["conductance", "e_rev"]].agg(["mean", "std"]).round(
    2
)

# %%
drawn.syn.plot_parameters(
    stats,
    by="synapse_class",
    types=neurons,
    properties=["conductance"],
    figsize=(12, 6),
)
