"""Tutorial 2: query a synapse dump without loading it, and carry cell types into the table.

Run it: ``python tutorials/02_fetch_from_a_local_dump.py``

Labs download whole synapse dumps (FlyWire's v783 release is ~130 million synapses) and filter them
in pandas. synframe indexes a dump once and then answers "the synapses of these neurons" by reading
only the row groups that hold them. Here we use a small generated dump with FlyWire's layout.
"""

import tempfile
from pathlib import Path

import synframe as sf
from synframe.synthetic import SyntheticDump

work = Path(tempfile.mkdtemp())

# 1. A dump in CAVE layout: pre_pt_root_id, post_pt_position_x ... in 4 x 4 x 40 nm voxels.
dump = SyntheticDump(200_000, seed=1)
dump.frame().to_parquet(work / "synapses.parquet")

# 2. Index it once. Declare the voxel size: positions come out in nm.
store = sf.sources.LocalStore.build(
    work / "synapses.parquet",
    work / "store",
    resolution=dump.resolution,
    datastack="demo",
    materialization=783,
)

# 3. Fetch: ids, navis neurons, or a table of neurons whose annotations ride along.
neurons = dump.expected_degree().head(5).assign(cell_class=["KC", "KC", "PN", "LHN", "PN"])
syn = neurons.syn.fetch(
    source=store, carry="cell_class", transmitters=True, neuropils=True, progress=False
)
print(syn[["pre", "post", "pre_x", "post_cell_class", "acetylcholine", "neuropil"]].head())
print(syn.attrs["materialization"], syn.attrs["resolution"])

# 4. Edges per neuropil, like fafbseg's get_connectivity -- from any table.
print(syn.syn.connectivity(by="neuropil", threshold=2).head())

# 5. Options the dump cannot honour are errors, not silently ignored:
try:
    sf.fetch(neurons.root_id, source=store, materialization=630, progress=False)
except sf.SourceError as err:
    print("refused:", err)
