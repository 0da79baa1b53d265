# %% [markdown]
# # Fit pathway statistics on one circuit, parameterize another
#
# A detailed circuit holds, for every synapse, parameters that took years to constrain: the
# Tsodyks–Markram release probability `u_syn`, depression and facilitation time constants,
# conductance, vesicle pool size. connectome-manipulator's *model building* (`conn_props`)
# summarizes them per pathway -- mean, spread, bounds, whether a value is shared by the
# synapses of a connection -- into a model that can parameterize another circuit.
# `sf.fit_pathway_stats` and `synframe fit-stats` are that step, with CM 1.0.4's semantics
# (the same circuit gives the same model).
#
# Here the model is fitted on the Blue Brain nbS1 extract (obi-one, Apache-2.0) and applied to
# the Allen Institute's layer-4 network built with bmtk (BSD-3-Clause), whose synapses have
# weights but no Tsodyks–Markram parameters -- and whose cells are typed differently. Both
# circuits are real and live in synframe's repository (`tests/data/sonata/`); this tutorial runs
# in a checkout of it, on copies.

# %%
# %matplotlib inline
import json
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from bmtk.utils.sonata import File

import synframe as sf

repo = Path(sf.__file__).resolve().parents[2]  # src/synframe/__init__.py -> repo
data = repo / "tests/data/sonata"
work = Path(tempfile.mkdtemp())
shutil.copytree(data / "obi_nbS1_O1_E2Sst_L5", work / "nbS1")
nbs1 = work / "nbS1" / "circuit_config.json"

# %% [markdown]
# ## 1. The data: nbS1's synapses by synapse_class pathway
#
# The local and external edge populations have `synapse_class` on both sides (the thalamic
# ones have no class on their source nodes, so they do not enter an EXC/INH model).

# %%
populations = [
    "S1nonbarrel_neurons__S1nonbarrel_neurons__chemical",
    "external_S1nonbarrel_neurons__S1nonbarrel_neurons__chemical",
]
syn = pd.concat([sf.read_edges(nbs1, p) for p in populations], ignore_index=True)
properties = ["conductance", "u_syn", "depression_time", "facilitation_time",
              "decay_time", "n_rrp_vesicles", "syn_type_id"]  # fmt: skip
pathway = ["pre_synapse_class", "post_synapse_class"]
counts = pd.concat(
    {
        "synapses": syn.groupby(pathway).size(),
        "connections": syn.drop_duplicates(["pre", "post"]).groupby(pathway).size(),
    },
    axis=1,
)
means = syn.groupby(pathway)[["conductance", "u_syn", "depression_time"]].mean()
counts.join(means.round(3))

# %% [markdown]
# ## 2. Fit
#
# For every property and pathway with enough connections (`min_connections`, default 5),
# `fit_pathway_stats` detects whether the value is shared by all synapses of a connection (then
# statistics are taken over connections, as CM does), and estimates the distribution's
# parameters. Without a `distributions=` choice it picks a type that respects the data, and
# says so: `discrete` for integers, `gamma` for non-negative values, with the data's range as
# bounds.

# %%
sf.set_loglevel("INFO")
fitted = sf.fit_pathway_stats(syn, by="synapse_class", properties=properties)
sf.set_loglevel("WARNING")
fitted.syn.table()

# %% [markdown]
# The fitted means, pathway by pathway (inhibitory synapses: larger conductances, slower decay,
# `syn_type_id` < 100 by Blue Brain convention):

# %%
fitted.syn.plot(param="mean", figsize=(13, 9))

# %% [markdown]
# ### Does the model describe the data?
#
# `plot_parameters` draws a table's values against the model's density, per pathway. Given the
# circuit's own synapses, it checks the fit (the histograms are nbS1's values; `u_syn` is shared
# within connections, so there is one value per connection).

# %%
syn.syn.plot_parameters(
    fitted, by="synapse_class", properties=["u_syn"], figsize=(13, 3.4)
)

# %% [markdown]
# A gamma clipped to the data's range fits the inhibitory pathways, but EXC → EXC `u_syn` is
# concentrated just below its maximum: the gamma puts too much mass below 0.45 and piles the
# clipped tail onto the upper bound (the spikes at the edges are clipping). A property's
# distribution family is a modelling decision; here a truncated normal (CM's histogram fit;
# `truncnorm_fit="mle"` for maximum likelihood) follows the peak:

# %%
fitted = sf.fit_pathway_stats(
    syn, by="synapse_class", properties=properties, distributions={"u_syn": "truncnorm"}
)
syn.syn.plot_parameters(
    fitted, by="synapse_class", properties=["u_syn"], figsize=(13, 3.4)
)

# %% [markdown]
# Neither family captures the EXC → EXC tail of low values. It is a second population: the
# synapses made by L5 thick-tufted pyramidal cells (`L5_TPC:A`/`B`, `syn_type_id` 119) have a
# lower release probability (mean 0.38) than the other excitatory synapses (0.50). A single
# EXC → EXC pathway mixes them; fitting `by="mtype"` keeps them apart:

# %%
ee = syn[(syn["pre_synapse_class"] == "EXC") & (syn["post_synapse_class"] == "EXC")]
ee.groupby("syn_type_id")["u_syn"].agg(["count", "mean", "std"]).round(3)

# %% [markdown]
#
# ### The same from the command line
#
# `synframe fit-stats` reads the circuit itself (populations without the pathway property are
# skipped, and said so) and writes the model as connectome-manipulator JSON:

# %%
synframe = Path(sys.executable).with_name("synframe")  # this environment's command
cmd = [
    str(synframe), "fit-stats", str(nbs1), "--by", "synapse_class",
    "--properties", *properties, "--distributions", "u_syn=truncnorm",
    "--output", str(work / "nbS1_model.json"),
]  # fmt: skip
print("$", " ".join(["synframe", *cmd[1:]]).replace(str(work), "$WORK"))
run = subprocess.run(cmd, capture_output=True, text=True, check=True)
print(run.stdout + run.stderr)
from_cli = sf.load_pathway_stats(work / "nbS1_model.json")
same = from_cli.syn.table().equals(fitted.syn.table())
print("CLI model == API model:", same)

# %% [markdown]
# ## 3. The other circuit: Allen's layer 4
#
# The bmtk example network: 449 cells (biophysical and point neurons), 47,020 edges in one
# population with **two edge groups** (libsonata, and so bluepysnap, refuse such populations;
# synframe reads and writes them), node and edge types in CSV files. Its upstream config also
# lists the LGN input, whose files are not in the repository; we write a config for the layer-4
# part.

# %%
shutil.copytree(data / "allen_layer4", work / "allen")
cfg = json.loads((work / "allen" / "circuit_config.json").read_text())
cfg["manifest"]["$NETWORK_DIR"] = str(work / "allen")
for kind in ("nodes", "edges"):
    entries = cfg["networks"][kind]
    cfg["networks"][kind] = [e for e in entries if "lgn" not in json.dumps(e)]
allen = work / "allen_config.json"
allen.write_text(json.dumps(cfg, indent=2))

l4 = sf.read_edges(allen, node_properties=("ei", "model_name"))
print(
    f"{len(l4):,} edges; has syn_weight: {'syn_weight' in l4}, has u_syn: {'u_syn' in l4}"
)
l4.groupby(["pre_ei", "post_ei"]).size().rename("edges").to_frame()

# %% [markdown]
# Its cells are typed by `ei` (`e` / `i`), not `synapse_class`. Applying the model as it is
# fails -- before anything is written -- and the errors say why:

# %%
for by in ("synapse_class", "ei"):
    try:
        sf.parameterize_circuit(allen, fitted, by=by, seed=1, output=work / "no")
    except sf.SynframeError as err:
        print(f"by={by!r}: {type(err).__name__}\n  {err}\n")

# %% [markdown]
# ## 4. Map the types and draw
#
# The mapping is a modelling decision, so it is yours to state: here nbS1's `EXC` / `INH`
# pathways stand for Allen's `e` / `i`. The stats are an `xarray.DataArray`, so the mapping is a
# renaming of its `src` / `tgt` coordinates (and the pathway property they are values of):

# %%
to_allen = {"EXC": "e", "INH": "i"}
mapped = fitted.assign_coords(
    src=[to_allen[s] for s in fitted["src"].values.tolist()],
    tgt=[to_allen[t] for t in fitted["tgt"].values.tolist()],
)
mapped.attrs["by"] = "ei"
print(mapped.syn.summary())

# %%
sf.set_loglevel("INFO")
out = sf.parameterize_circuit(allen, mapped, by="ei", seed=7, output=work / "allen_tm")
sf.set_loglevel("WARNING")

# %% [markdown]
# Every edge of both groups got its values (new properties are written as float32, or int32
# for integer types), the original `syn_weight` and `delay` are untouched, and the drawn values
# follow the nbS1 model in the Allen circuit's pathways:

# %%
drawn = sf.read_edges(out, node_properties=("ei",))
before = sf.read_edges(allen, node_properties=("ei",))
unchanged = np.array_equal(drawn["syn_weight"], before["syn_weight"])
print("syn_weight unchanged:", unchanged)
new = ["u_syn", "depression_time", "conductance"]
drawn.groupby(["pre_ei", "post_ei"])[new].mean().round(3)

# %%
drawn.syn.plot_parameters(
    mapped, by="ei", properties=["u_syn", "conductance"], figsize=(13, 6)
)

# %% [markdown]
# The new edge file is SONATA as bmtk wrote it -- two groups, each holding its own edges' values
# at their `edge_group_index` -- and bmtk's own reader (`bmtk.utils.sonata`, what bmtk's
# simulators use) reads the new properties edge by edge, equal to what synframe drew:

# %%
new_edges = next((work / "allen_tm" / "edges").glob("*.h5"))
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # bmtk's own deprecation warnings
    net = File(
        data_files=[str(work / "allen" / "l4_nodes.h5"), str(new_edges)],
        data_type_files=[str(work / "allen" / "l4_node_types.csv"),
                         str(work / "allen" / "l4_l4_edge_types.csv")],
    )  # fmt: skip
    via_bmtk = pd.DataFrame(
        [
            (e.source_node_id, e.target_node_id, e["u_syn"], e["conductance"])
            for e in net.edges["l4_to_l4"]
        ],
        columns=["pre", "post", "u_syn", "conductance"],
    )
equal = all(
    np.array_equal(via_bmtk[c].to_numpy(), drawn[c].to_numpy())
    for c in ["pre", "post", "u_syn", "conductance"]
)
print(f"{len(via_bmtk):,} edges read by bmtk; equal to synframe's: {equal}")

# %% [markdown]
# `u_syn` and `conductance` were fitted as shared within connections (nbS1's synapses of one
# connection have one value), so the edges of one Allen connection share them too:

# %%
drawn.groupby(["pre", "post"])[["u_syn", "conductance"]].nunique().max()
