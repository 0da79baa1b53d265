"""Tutorial 1: clean the synapses of a real MICrONS neuron.

Run it: ``python tutorials/01_clean_a_microns_neuron.py``

The bundled example is MICrONS (minnie65_public, v795) neuron 864691136040432126, an L4a excitatory
cell: 259 output and 2,165 input synapses, and its level-2 skeleton. EM synapse tables contain
things a model should not see: autapses (pre == post, mostly merge errors), synapses onto the
background segment (id 0), duplicates, low-confidence detections and synapses far from the
reconstructed neuron. ``sf.clean`` removes each, and tells you how many.
"""

import synframe as sf

# 1. The synapse table: fafbseg's column names, positions in nm, provenance in attrs.
syn = sf.datasets.example_synapses()
print(syn.head())
print(syn.attrs["datastack"], syn.attrs["materialization"], syn.attrs["units"])

# 2. Its skeleton, in nm (navis neurons carry their units: 8 nm voxels, µm ... all work).
neuron = sf.datasets.example_neuron()
print(neuron.n_nodes, "nodes;", neuron.units)

# 3. Clean against the skeleton. The table is always validated first: a float id column,
#    NaN positions or a missing column give one error that lists every problem.
clean = syn.syn.clean(neurons=neuron, max_distance="10 um")
print(clean.attrs["history"][-1]["removed"])

# 4. A stricter threshold removes synapses whose detected position lies off the skeleton
#    (level-2 skeletons run through the middle of each chunk, so ~1 um is strict).
strict = sf.clean(syn, neurons=neuron, max_distance="1 um")
print(f"kept {len(strict)} of {len(syn)} within 1 um")
assert len(strict) < len(clean) == len(syn)

# 5. Input is never modified; the result keeps the original index, so you can join back.
assert strict.index.isin(syn.index).all()
