# %% [markdown]
# # Parameterize the synapses of a SONATA circuit
#
# The task of obi-one's *synaptome parameterization* notebook: give every synapse of a circuit
# physiological parameters drawn from pathway-specific model distributions -- here the
# notebook's model (`conductance` gamma-distributed, `syn_type_id` a constant integer, per
# `synapse_class` pathway) -- and write them into the circuit's edge files. Done once through
# the API and once through the command line, with the same result.
#
# The circuit is real: a small extract of the Blue Brain nbS1 model published with obi-one
# (Apache-2.0): two neurons (an L5 thick-tufted pyramidal cell, EXC, and an L5 Martinotti cell,
# INH) with 57 local synapses, and the synapses they receive from external neurons and from the
# thalamus (VPM, POm), with full Tsodyks–Markram synapse properties.

# %%
# %matplotlib inline
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import bluepysnap
import libsonata
import numpy as np
import pandas as pd

import synframe as sf

work = Path(tempfile.mkdtemp())

# %% [markdown]
# ## The circuit
#
# The circuit lives in synframe's repository (`tests/data/sonata/`), so this tutorial runs in a
# checkout of it. We work on a copy: `parameterize_circuit` never modifies a circuit unless told
# to (`inplace=True`), but a tutorial should not even ask.

# %%
repo = Path(sf.__file__).resolve().parents[2]  # src/synframe/__init__.py -> repo
shutil.copytree(repo / "tests/data/sonata/obi_nbS1_O1_E2Sst_L5", work / "nbS1")
config = work / "nbS1" / "circuit_config.json"

circuit = libsonata.CircuitConfig.from_file(str(config))
pd.DataFrame(
    [
        {
            "edge population": name,
            "edges": (pop := circuit.edge_population(name)).size,
            "source nodes": pop.source,
            "target nodes": pop.target,
        }
        for name in sorted(circuit.edge_populations)
    ]
)

# %% [markdown]
# Which pathways are there? The pathway property is the node attribute `synapse_class`; the
# thalamic input populations (VPM, POm) are virtual nodes without one.

# %%
for name in sorted(circuit.node_populations):
    pop = circuit.node_population(name)
    has = "synapse_class" in pop.attribute_names
    values = pop.get_attribute("synapse_class", pop.select_all()) if has else []
    counts = pd.Series(values).value_counts().to_dict() if has else "no synapse_class"
    print(f"{name:32s} {pop.size:5d} nodes  {counts}")

# %% [markdown]
# ## The model
#
# The notebook's model, written as it is there: a nested dict `prop_stats[property][src][tgt]`
# (connectome-manipulator's `ConnPropsModel` layout) over the notebook's synapse classes. nbS1's
# nodes say `EXC` / `INH`, so the classes are named that way here.

# %%
# each synapse drawn independently (True: one value per connection)
shared_within = False

# fmt: off
exc = {
    "conductance": {"type": "gamma", "mean": 1.0, "std": 0.5, "shared_within": shared_within},
    "syn_type_id": {"type": "constant", "mean": 100, "dtype": "int",
                    "shared_within": shared_within},
}
inh = {
    "conductance": {"type": "gamma", "mean": 2.0, "std": 0.5, "shared_within": shared_within},
    "syn_type_id": {"type": "constant", "mean": 1, "dtype": "int",
                    "shared_within": shared_within},
}
# fmt: on
by_class = {"EXC": exc, "INH": inh}
classes = list(by_class)
prop_stats = {
    prop: {src: {tgt: by_class[src][prop] for tgt in classes} for src in classes}
    for prop in exc
}
stats = sf.pathway_stats(prop_stats, classes, classes, by="synapse_class")
print(stats.syn.summary())
stats.syn.table()

# %% [markdown]
# The stats are an `xarray.DataArray` over `(property, src, tgt)`; their heatmap shows each
# pathway's mean (whatever the distribution type):

# %%
stats.syn.plot(figsize=(9, 3.6))

# %% [markdown]
# ## Parameterize through the API
#
# `sf.parameterize_circuit` is the obi-one task (`by` is its `pathway_property`, `overwrite` its
# `overwrite_if_exists`): every `synapse_class` value of the circuit must be in the stats (else
# an error before anything is written), populations whose nodes lack the property are skipped
# with a warning, existing properties are redrawn only with `overwrite=True`. `output=` writes a
# new circuit (new edge files, a new config; untouched files are referenced where they are).
# The log is the notebook's.

# %%
sf.set_loglevel("INFO")
out = sf.parameterize_circuit(
    config, stats, by="synapse_class", seed=1, overwrite=True, output=work / "nbS1_api"
)
sf.set_loglevel("WARNING")
out

# %% [markdown]
# Without `overwrite=True`, properties that exist are an error, and nothing is written:

# %%
refused = work / "refused"
try:
    sf.parameterize_circuit(config, stats, by="synapse_class", seed=1, output=refused)
except sf.SynframeError as err:
    print(type(err).__name__, "--", str(err)[:400])
print("written anyway?", refused.exists())

# %% [markdown]
# ## Check the result
#
# `sf.read_edges` reads an edge population as a synapse table, with the nodes' properties as
# `pre_`/`post_` columns. The external population, before and after:

# %%
ext = "external_S1nonbarrel_neurons__S1nonbarrel_neurons__chemical"
before = sf.read_edges(config, ext, properties=["conductance", "syn_type_id"])
after = sf.read_edges(out, ext, properties=["conductance", "syn_type_id"])
columns = ["conductance", "syn_type_id"]
pd.concat(
    {
        "before": before.groupby("pre_synapse_class")[columns].mean(),
        "after": after.groupby("pre_synapse_class")[columns].mean(),
    },
    axis=1,
).round(3)

# %% [markdown]
# nbS1's own values were drawn from its detailed model (excitatory `syn_type_id`s 114, 119 and
# 120 for different synapse types, for instance); the seed model replaces them with its own.
# The drawn values against the model, per pathway: the histograms should follow the curves,
# and `syn_type_id` is the constant it must be.

# %%
after.syn.plot_parameters(stats, by="synapse_class", figsize=(12, 6))

# %% [markdown]
# The programs that read circuits agree. bluepysnap opens the new circuit (the thalamic
# populations, skipped, still point at the original files), and the values it reads are the
# values drawn:

# %%
snap = bluepysnap.Circuit(str(out))
edges = snap.edges[ext]
via_snap = edges.get(edges.ids(), ["conductance", "syn_type_id"])
print(edges.size, "edges;", via_snap.dtypes.to_dict())
same = np.array_equal(
    via_snap["conductance"].to_numpy(), after["conductance"].to_numpy()
)
print("bluepysnap reads what synframe drew:", same)
via_snap.describe().round(3)

# %% [markdown]
# ## The same through the command line
#
# `synframe parameterize` runs the same task from a shell (obi-one's flag names
# `--pathway-property` and `--overwrite-if-exists` work too; `-v` shows the log). The stats go in
# a JSON file in connectome-manipulator's layout, which CM itself loads.

# %%
stats_file = sf.save_pathway_stats(stats, work / "seed_model.json")
saved = json.loads(stats_file.read_text())
print("keys:", list(saved))
print("conductance from INH sources:", saved["prop_stats"]["conductance"]["INH"])

# %%
synframe = Path(sys.executable).with_name("synframe")  # this environment's command
cmd = [
    str(synframe), "parameterize", "-v", str(config), "--stats", str(stats_file),
    "--by", "synapse_class", "--seed", "1", "--overwrite", "--output", str(work / "nbS1_cli"),
]  # fmt: skip
print("$", " ".join(["synframe", *cmd[1:]]).replace(str(work), "$WORK"))
run = subprocess.run(cmd, capture_output=True, text=True, check=True)
print(run.stdout + run.stderr)

# %% [markdown]
# Randomness is keyed on (seed, population, property, source, target, edge id), so the command
# line and the API wrote exactly the same values:

# %%
cli = sf.read_edges(work / "nbS1_cli" / "circuit_config.json", ext)
same = all(
    np.array_equal(cli[p].to_numpy(), after[p].to_numpy())
    for p in ["conductance", "syn_type_id"]
)
print("CLI == API:", same)
