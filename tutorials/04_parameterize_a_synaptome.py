"""Tutorial 4: give every synapse physiology drawn from pathway-specific distributions.

Run it: ``python tutorials/04_parameterize_a_synaptome.py``

The model is the obi-one synaptome notebook's: conductance (gamma) and syn_type_id (constant int)
per synapse_class pathway (excitatory / inhibitory / extrinsic sources and targets).
"""

import synframe as sf

syn = sf.datasets.example_synapses().syn.clean(neurons=sf.datasets.example_neuron())
classes = sf.datasets.example_synapse_classes()  # root id -> synapse_class
stats = sf.datasets.example_pathway_stats()  # an xarray.DataArray over (property, src, tgt)
print(stats.syn.summary())
print(stats.syn.param("mean").sel(property="conductance").to_pandas())

out = syn.syn.parameterize(stats, by="synapse_class", types=classes, seed=1)
print(out.groupby(classes.reindex(out.pre).to_numpy())["conductance"].describe())

# Keyed randomness: any order, any chunking, the same values.
shuffled = syn.sample(frac=1.0, random_state=0)
again = sf.parameterize(shuffled, stats, by="synapse_class", types=classes, seed=1)
assert again.loc[out.index, "conductance"].equals(out["conductance"])

# Fit a model back from the parameterized table.
fitted = sf.fit_pathway_stats(
    out, by="synapse_class", types=classes, properties=["conductance"], distributions="gamma"
)
print(fitted.syn.param("mean").sel(property="conductance").to_pandas().round(2))
