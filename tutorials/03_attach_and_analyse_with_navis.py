"""Tutorial 3: put synapses on a skeleton and run navis analyses on them.

Run it: ``python tutorials/03_attach_and_analyse_with_navis.py``
"""

import navis

import synframe as sf

syn = sf.datasets.example_synapses()
neuron = sf.datasets.example_neuron()

# Each synapse goes to its nearest skeleton node; connector_id is the synapse id, so connectors
# join back to the table.
nl = syn.syn.attach(neuron, max_distance="5 um")
con = nl[0].connectors
print(con[["connector_id", "node_id", "type", "partner_id", "distance"]].head())
assert set(con.connector_id) <= set(syn.id)

# navis analyses now just work.
flow = navis.synapse_flow_centrality(nl[0])
print("max synapse flow centrality:", flow.nodes["synapse_flow_centrality"].max())
print(len(nl[0].presynapses), "presynapses,", len(nl[0].postsynapses), "postsynapses")

# And back to a table, for parameterize / SONATA.
back = nl.syn.to_table()
assert back["id"].is_unique and len(back) == len(con)
