# %% [markdown]
# # An EM neuron, end to end
#
# From the synapses of one reconstructed neuron to a SONATA synaptome a simulator can load:
#
# **fetch → clean → attach (navis) → analyse → parameterize → write → read back with
# bluepysnap and MorphIO.**
#
# The neuron is real: MICrONS (`minnie65_public`, materialization 795) cell
# `864691136040432126`, an excitatory layer-4 neuron with 259 output and 2,165 input synapses,
# and its level-2 skeleton. These data ship with synframe (`sf.datasets`; MICrONS Consortium et
# al., *Nature* 2025, CC-BY 4.0), so this page runs offline. Everything marked **injected** below
# was added by this tutorial to show a rule at work; it is not in the data.

# %%
# %matplotlib inline
import tempfile
import warnings
from pathlib import Path

import bluepysnap
import morphio
import navis
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

import synframe as sf

ROOT = sf.datasets.EXAMPLE_ROOT_ID
work = Path(tempfile.mkdtemp())  # everything this tutorial writes goes here

# %% [markdown]
# ## 1. Fetch
#
# `sf.fetch` takes neuron ids (or navis neurons, or a table of neurons) and a `source`. Without
# one it reads synframe's embedded example store; with `source=CAVEclient("minnie65_public")`
# the same call asks the CAVE servers (see the CAVE tutorial). The result is a plain DataFrame
# with fafbseg's column names, one row per synapse, **positions in nm** whatever the source's
# voxel size, and its provenance in `attrs`.

# %%
syn = sf.fetch(ROOT, progress=False)
syn.head()

# %%
syn.syn  # what the table is: size, neurons, source, units, history

# %% [markdown]
# The skeleton is a `navis.TreeNeuron` in nm, built from the neuron's level-2 graph (one node per
# level-2 chunk of the segmentation, i.e. a node every few µm along the neurites).

# %%
neuron = sf.datasets.example_neuron()
print(
    f"{neuron.n_nodes} nodes, {neuron.cable_length / 1e3:.0f} µm of cable, in {neuron.units}"
)

# %% [markdown]
# ## 2. Clean
#
# `sf.clean` applies five rules, in this order: **duplicates** (the same synapse id twice),
# **autapses** (`pre == post`: in EM mostly merge errors), **background** (partner id 0: the
# synapse's partner was never segmented), **low_score** (`cleft_score < min_score`, for tables
# that have scores) and **too_far** (a synapse farther than `max_distance` from the neuron it
# belongs to: a sign of a merge or a misplaced detection). The table is validated first; the
# input is never modified; what each rule removed is recorded.
#
# ### On a well-proofread neuron the defaults remove nothing

# %%
kept = sf.clean(syn, neurons=neuron)  # max_distance="10 um", fafbseg's threshold
sf.history(kept)[["stage", "rows_in", "rows_out", "removed", "too_far"]]

# %% [markdown]
# This neuron is proofread, and 10 µm only catches gross errors. How far do its synapses lie from
# the skeleton? `sf.attach` (section 3) puts each synapse on its nearest node and records the
# distance; we use it here to look at the distances first.

# %%
con = sf.attach(syn, neuron)[0].connectors
distance_nm = con.set_index("connector_id")["distance"].reindex(syn["id"]).to_numpy()
distance_um = distance_nm / 1000
syn_d = syn.assign(distance_um=distance_um)
pd.Series(distance_um).describe(percentiles=[0.5, 0.9, 0.99]).round(2)

# %% [markdown]
# Level-2 skeleton nodes sit in the middle of segmentation chunks, so a synapse on a spine head or
# a thick dendrite lies 1–2 µm from its nearest node even when nothing is wrong. A threshold
# has to respect the skeleton's resolution: count what each threshold would remove.

# %%
thresholds = ["10 um", "5 um", "3 um", "2 um", "1.5 um", "1 um"]
removed_at = [
    len(syn) - len(sf.clean(syn, neurons=neuron, max_distance=d)) for d in thresholds
]
pd.Series(removed_at, index=pd.Index(thresholds, name="max_distance"), name="removed")

# %% [markdown]
# At 2 µm a handful of synapses go. `return_removed=True` hands them back, each with the rule
# that removed it, so you can look at them before you decide.

# %%
kept2, removed = sf.clean(syn, neurons=neuron, max_distance="2 um", return_removed=True)
removed["side"] = np.where(removed["pre"] == ROOT, "output", "input")
removed[["id", "pre", "post", "side", "reason"]].head(8)

# %% [markdown]
# Where are they? Left: every synapse coloured by its distance to the skeleton (triangles are
# outputs, circles inputs). Right: the 19 removed at 2 µm. They are scattered over the
# dendrites, not clustered on one branch as synapses of a wrongly merged fragment would be --
# so on this neuron we keep the 10 µm default and carry on with `kept`.

# %%
fig = Figure(figsize=(12, 6), layout="constrained")
left, right = fig.subplots(1, 2)
sf.plot.plot_synapses(neuron, syn_d, color_by="distance_um", ax=left)
sf.plot.plot_synapses(neuron, removed, ax=right)
left.set_title("distance to the skeleton (µm)")
right.set_title(f"removed at max_distance = 2 µm ({len(removed)})")
fig

# %% [markdown]
# ### The units mistake
#
# CAVE tables come in voxels (MICrONS and FlyWire: 4 × 4 × 40 nm). A table built by hand from a
# raw dump without converting has every synapse hundreds of µm from its neuron; the distance rule
# would then remove everything. synframe notices that synapses and neuron cannot be in the same
# units and says so:

# %%
voxels = syn.copy()
for side in ("pre", "post"):
    voxels[[f"{side}_x", f"{side}_y", f"{side}_z"]] /= np.array([4.0, 4.0, 40.0])
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    wrong = sf.clean(voxels, neurons=neuron)
print(f"kept {len(wrong)} of {len(voxels)}\n")
print(caught[0].category.__name__ + ":", caught[0].message)

# %% [markdown]
# The fix is where the table is built: multiply voxel positions by the voxel size (synframe's
# sources do this for you: `sf.fetch` always returns nm). Neurons carry their own `units`
# (`neuron.units = "8 nm"` for a skeleton in 8 nm voxels), which synframe reads.
#
# ### The other rules, on injected rows
#
# The MICrONS table has no duplicates, autapses or background partners. To show those rules we
# **inject** four rows into a copy: a duplicate of the first synapse, an autapse, and two
# synapses whose partner is the background segment 0.

# %%
first = syn.iloc[[0]]
injected = pd.concat(
    [
        syn,
        first,  # INJECTED: the same synapse id twice
        first.assign(id=1, post=ROOT),  # INJECTED: an autapse (pre == post)
        first.assign(id=2, post=0),  # INJECTED: background partner
        syn.iloc[[300]].assign(id=3, pre=0),  # INJECTED: background partner
    ],
    ignore_index=True,
)
injected.attrs = syn.attrs
cleaned, dropped = sf.clean(injected, neurons=neuron, return_removed=True)
dropped[["id", "pre", "post", "reason"]]

# %%
rules = ["duplicates", "autapses", "background", "low_score", "too_far"]
sf.history(cleaned)[["stage", "rows_in", "rows_out", *rules]]

# %% [markdown]
# `plot_history` draws what each stage kept and removed, per rule. Next to 2,424 synapses the
# four injected rows are too few to see, so here is the same table cleaned at 1 µm, a threshold
# too strict for a level-2 skeleton: a sixth of the real synapses would go.

# %%
strict = sf.clean(injected, neurons=neuron, max_distance="1 um")
strict.syn.plot_history(figsize=(6, 4))

# %% [markdown]
# ## 3. Attach to the skeleton and analyse with navis
#
# `sf.attach` puts each synapse on its nearest skeleton node as navis connectors. Unlike
# fafbseg's `attach=True`, `connector_id` **is the synapse id**, so every navis result joins back
# to the table; every other column (scores, parameters, annotations) rides along.

# %%
nl = sf.attach(kept, neuron)
n = nl[0]
n.connectors[["connector_id", "node_id", "type", "partner_id", "distance"]].head()

# %% [markdown]
# navis' analyses now work on real synapses. Synapse flow centrality (Schneider-Mizell et al.
# 2016) counts, for every node, the input-to-output paths through it; splitting the neuron where
# flow is highest separates axon from dendrite.

# %%
flow = "synapse_flow_centrality"
n = navis.synapse_flow_centrality(n)
print("highest synapse flow centrality:", int(n.nodes[flow].max()))
labelled = navis.split_axon_dendrite(n, metric=flow, label_only=True)
compartment = labelled.nodes.set_index("node_id")["compartment"]
con = n.connectors
pd.crosstab(
    compartment.reindex(con["node_id"]).to_numpy(),
    con["type"].to_numpy(),
    rownames=["compartment"],
    colnames=["synapses"],
)

# %% [markdown]
# The split is clean: the axon carries almost all outputs, the dendrite almost all inputs -- as
# expected for a pyramidal-like L4 cell. navis draws the compartments:

# %%
parts = navis.split_axon_dendrite(n, metric=flow) / 1000  # nm -> µm
colors = {"axon": "tab:red", "dendrite": "tab:blue", "linker": "tab:green"}
fig, ax = navis.plot2d(
    parts, color=[colors[p.compartment] for p in parts], view=("x", "-y"),
    method="2d", connectors=False, figsize=(6, 6),
)  # fmt: skip
ax.set_xlabel("x (µm)")
ax.set_ylabel("y (µm)")
ax.set_title("axon (red) / dendrite (blue), split by synapse flow")
ax.grid(False)

# %% [markdown]
# ## 4. Parameterize
#
# Give every synapse physiological parameters drawn from pathway-specific distributions. The
# model is the obi-one synaptome-parameterization notebook's: `conductance` gamma-distributed
# (mean 1.0 nS from excitatory and extrinsic sources, 2.0 nS from inhibitory ones) and a constant
# integer `syn_type_id` (100 excitatory, 1 inhibitory), per `synapse_class` pathway. Partners are
# classed by the MICrONS AIBS cell-type table; partners outside it are `extrinsic_neuron`.

# %%
classes = sf.datasets.example_synapse_classes()  # root id -> synapse_class
stats = sf.datasets.example_pathway_stats()  # an xarray.DataArray (property, src, tgt)
print(stats.syn.summary())
stats.syn.plot()

# %%
drawn = sf.parameterize(kept, stats, by="synapse_class", types=classes, seed=1)
drawn[["id", "pre", "post", "conductance", "syn_type_id"]].head()

# %% [markdown]
# Draws are **keyed**: a synapse's value depends on (seed, property, pre, post, synapse id) only,
# never on row order or chunking, so a re-run, a shuffled table or a dask run give the same
# numbers:

# %%
shuffled = kept.sample(frac=1.0, random_state=0)
again = sf.parameterize(shuffled, stats, by="synapse_class", types=classes, seed=1)
print(
    "same values:", again.loc[drawn.index, "conductance"].equals(drawn["conductance"])
)

# %% [markdown]
# The drawn values against the model, per pathway present:

# %%
drawn.syn.plot_parameters(
    stats,
    by="synapse_class",
    types=classes,
    properties=["conductance"],
    figsize=(12, 6),
)

# %%
sf.plot.plot_synapses(neuron, drawn, color_by="conductance", figsize=(7, 6))

# %% [markdown]
# ## 5. Write a SONATA synaptome
#
# `sf.write_synaptome` writes the neuron's **afferent** synapses as a SONATA circuit: the neuron
# (population `synaptome`), one virtual node per presynaptic partner, one edge per synapse with
# its drawn properties, and the skeleton as a morphology in µm that MorphIO reads without
# warnings. Each synapse gets `afferent_section_id` / `afferent_section_pos`: where on the
# morphology it sits, as simulators (neurodamus, bluepysnap) read it. Node properties come from
# `pre_`/`post_` columns, so we annotate the synapse classes first.

# %%
table = classes.rename_axis("root_id").reset_index()  # root_id, synapse_class
annotated = sf.annotate(drawn, table, columns="synapse_class")
config = sf.write_synaptome(annotated, work / "synaptome", neurons=neuron)
sorted(p.name for p in config.parent.iterdir())

# %% [markdown]
# ### Read it back with the programs simulators use
#
# bluepysnap (the Blue Brain SONATA reader) opens the circuit:

# %%
circuit = bluepysnap.Circuit(str(config))
edges = circuit.edges["synaptome_afferents"]
print(circuit.nodes.population_names, edges.size, "edges")
props = ["conductance", "syn_type_id", "afferent_section_id", "afferent_section_pos"]
edges.get(edges.afferent_edges(0), props).head()

# %% [markdown]
# and MorphIO reads the morphology bluepysnap finds for the neuron (placed at its soma: circuit
# coordinates, µm). A synapse's `afferent_section_id` is 0 for the soma and `k` for MorphIO's
# section `k - 1`; `afferent_section_pos` is the fraction along that section's polyline. Walk
# there for one synapse and compare with its recorded position:

# %%
morph = circuit.nodes["synaptome"].morph.get(0, transform=True)
types = pd.Series([s.type.name for s in morph.sections]).value_counts()
print(f"{len(morph.sections)} sections:", types.to_dict())

centers = [f"afferent_center_{a}" for a in "xyz"]
e = edges.afferent_edges(0, properties=props + centers)


def on_section(morph, section_id, pos):
    """The point at fraction pos along MorphIO section section_id - 1 (0: the soma centre)."""
    if section_id == 0:
        return np.asarray(morph.soma.center, dtype=float)
    pts = morph.section(int(section_id) - 1).points.astype(float)
    along = np.r_[0, np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))]
    return np.array([np.interp(pos * along[-1], along, pts[:, k]) for k in range(3)])


one = e.iloc[100]
section = morph.section(int(one.afferent_section_id) - 1)
landed = on_section(morph, one.afferent_section_id, one.afferent_section_pos)
recorded = one[centers].to_numpy(dtype=float)
where = (
    f"{one.afferent_section_pos:.2f} along section {section.id} ({section.type.name})"
)
print("one synapse:", where)
print(f"{np.linalg.norm(landed - recorded):.2f} µm from its recorded position")

# %% [markdown]
# The morphology as MorphIO reads it, with the afferent synapses where their section ids put them:

# %%
landed_all = np.array(
    [
        on_section(morph, i, pos)
        for i, pos in e[["afferent_section_id", "afferent_section_pos"]].to_numpy()
    ]
)
gap = np.linalg.norm(landed_all - e[centers].to_numpy(dtype=float), axis=1)
print(f"all {len(e)} synapses: median distance {np.median(gap):.2f} µm")
fig = Figure(figsize=(6, 6), layout="constrained")
ax = fig.add_subplot()
for sec in morph.sections:
    p = sec.points
    color = "tab:red" if sec.type == morphio.SectionType.axon else "0.5"
    ax.plot(p[:, 0], p[:, 1], lw=0.6, color=color)
ax.scatter(landed_all[:, 0], landed_all[:, 1], s=4, c=e["conductance"], cmap="viridis")
ax.set_aspect("equal")
ax.invert_yaxis()
ax.set_xlabel("x (µm)")
ax.set_ylabel("y (µm)")
ax.set_title("MorphIO morphology (axon red) and synapses by section id")
fig

# %% [markdown]
# ## Recap
#
# | stage | call | what you get |
# |---|---|---|
# | fetch | `sf.fetch(ids, source=...)` | canonical synapse table, nm, provenance in `attrs` |
# | clean | `sf.clean(syn, neurons=..., max_distance=..., return_removed=True)` | kept rows, removed rows with reasons, history |
# | attach | `sf.attach(syn, neurons)` | navis neurons whose connectors are the synapses (ids kept) |
# | parameterize | `sf.parameterize(syn, stats, by=..., types=..., seed=...)` | one column per property, keyed draws |
# | write | `sf.write_synaptome(syn, path, neurons=...)` | SONATA circuit + morphology (bluepysnap, MorphIO, libsonata) |
