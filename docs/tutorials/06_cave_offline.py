# %% [markdown]
# # CAVE: MICrONS and FlyWire datastacks (offline)
#
# > **No network on this page.** Every CAVE request below is answered by **synframe's fake
# > CAVE server** (`synframe.testing_cave`), running inside this notebook: caveclient's own
# > `CAVEclientMock` for the client, and callbacks that answer the materialization and
# > chunkedgraph endpoints the way the real servers do (Arrow bodies, voxel resolutions, the
# > row-limit warning header). The real caveclient code runs end to end; nothing is patched.
# > With a CAVE token the same code talks to the real servers: only the client changes,
# > `client = CAVEclient("minnie65_public")` or `CAVEclient("flywire_fafb_public")`.
#
# What the fake servers serve: for MICrONS, the real synapses of the example neuron
# (`minnie65_public` v795, table `synapses_pni_2`, CC-BY 4.0) -- with made-up version dates and
# root-id lifetimes where noted; for FlyWire, a **synthetic** table in FlyWire's layout
# (`SyntheticDump`), since FlyWire's data may not be redistributed here.

# %%
# %matplotlib inline
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

import synframe as sf
from synframe.synthetic import SyntheticDump
from synframe.testing_cave import FakeCAVE, make_client

ROOT = sf.datasets.EXAMPLE_ROOT_ID
work = Path(tempfile.mkdtemp())
microns_table = pd.read_parquet(sf.datasets.path("microns_v795_synapses.parquet"))
microns_table.iloc[:3, :8]  # CAVE layout: positions in 4 x 4 x 40 nm voxels

# %% [markdown]
# ## 1. MICrONS: a datastack and its materializations
#
# A CAVE datastack publishes *materializations*: frozen versions of its tables, each at a
# timestamp. Neuron (root) ids change whenever a neuron is proofread, so an id exists only
# between its creation and its supersession, and a query must use a version at which **every**
# id existed. fafbseg's `materialization="auto"` tries versions newest first, two requests
# each; synframe asks three questions whatever the number of versions: the versions'
# timestamps, and the ids' creation and supersession times.
#
# The fake server below knows five versions (the dates are made up), and this lifetime of the
# example neuron's id (also made up: it was edited after v795, so later versions hold its
# successor):


# %%
def ts(year, month, day=1):
    return datetime(year, month, day, tzinfo=UTC)


versions = {661: ts(2023, 1, 15), 795: ts(2023, 4, 20), 943: ts(2024, 1, 22),
            1078: ts(2024, 6, 10), 1181: ts(2024, 11, 5)}  # fmt: skip
roots = {ROOT: (ts(2022, 11, 2), ts(2023, 9, 1))}  # created, superseded
tables = {"synapses_pni_2": microns_table}
microns = FakeCAVE("minnie65_public", tables=tables, versions=versions, roots=roots)
client = make_client("minnie65_public", "synapses_pni_2", sorted(versions))

with microns.serve():
    cave = sf.sources.CAVESource(client)  # what sf.fetch(..., source=client) uses
    syn = sf.fetch(ROOT, source=cave, materialization="auto", progress=False)
print("version chosen:", syn.attrs["materialization"])
print("requests:", syn.attrs["requests"])
syn.syn

# %% [markdown]
# The table is the same as the bundled example, converted to nm by caveclient
# (`desired_resolution=[1, 1, 1]`):

# %%
bundled = sf.datasets.example_synapses()
print("equal to sf.datasets.example_synapses():", syn.equals(bundled[syn.columns]))

# %% [markdown]
# Ids that never existed at one version together are an error that names them, not a silent
# fallback (`materialization="live"` queries at the present instead):

# %%
successor = 864691999999999999  # a made-up id, created when ROOT was edited
microns.roots[successor] = (ts(2023, 9, 1), None)
with microns.serve():
    try:
        sf.fetch([ROOT, successor], source=cave, progress=False)
    except sf.SourceError as err:
        print(type(err).__name__ + ":", err)

# %% [markdown]
# The versions and the two lifetimes; "auto" takes the newest version (dashed lines) inside
# every id's lifetime:

# %%
fig = Figure(figsize=(9, 2.6), layout="constrained")
ax = fig.add_subplot()
for row, (rid, (born, gone)) in enumerate(microns.roots.items()):
    end = gone or ts(2025, 3, 1)
    color = "tab:blue" if row == 0 else "tab:orange"
    ax.barh(row, end - born, left=born, height=0.5, color=color)
    ax.text(born, row + 0.35, f"root {rid}", fontsize=8)
for v, t in versions.items():
    ax.axvline(t, color="tab:green" if v == 795 else "0.6", ls="--")
    ax.text(t, -0.75, f"v{v}", ha="center", fontsize=8)
ax.set_yticks([])
ax.set_ylim(-1, len(microns.roots))
ax.set_title("versions and root-id lifetimes (green: v795, the newest holding ROOT)")
fig

# %% [markdown]
# ## 2. What a datastack cannot answer
#
# MICrONS synapses have no transmitter predictions, no neuropils and no cleft score. Asking for
# them is an error (fafbseg silently ignores these options on non-FlyWire datastacks):

# %%
with microns.serve():
    try:
        sf.fetch(ROOT, source=cave, transmitters=True, min_score=50, progress=False)
    except sf.SourceError as err:
        print(err)

# %% [markdown]
# ## 3. FlyWire: the filtered view, transmitters and neuropils
#
# FlyWire's datastacks have a raw synapse table (`synapses_nt_v1`) and a curated view
# (`valid_synapses_nt_np_v6`: deduplicated, cleft score > 50, with neuropils). synframe asks the
# view by default (`filtered=True`), like fafbseg. The fake FlyWire serves a **synthetic** dump
# in that layout.

# %%
raw = SyntheticDump(30_000, n_neurons=200, seed=3).frame()
raw["neuropil"] = raw["neuropil"].astype(str)
view = raw[raw["cleft_score"] > 50].copy()  # the curated view
raw = raw.drop(columns="neuropil")  # the raw table has no neuropils
flywire = FakeCAVE(
    "flywire_fafb_public",
    tables={"synapses_nt_v1": raw},
    views={"valid_synapses_nt_np_v6": view},
    versions={783: ts(2023, 9, 1)},
)
fly = make_client("flywire_fafb_public", "synapses_nt_v1", [783])
ids = raw["pre_pt_root_id"].value_counts().index[:5].tolist()  # five synthetic neurons

with flywire.serve():
    fw = sf.fetch(ids, source=fly, transmitters=True, neuropils=True, progress=False)
print(f"{fw.attrs['table']} v{fw.attrs['materialization']}: {len(fw):,} synapses")
fw[["pre", "post", "cleft_score", "acetylcholine", "gaba", "neuropil"]].head()

# %% [markdown]
# The raw table with your own score threshold (Buhmann et al. used 30) -- and neuropils, which
# only the view has, refused:

# %%
with flywire.serve():
    unfiltered = sf.fetch(ids, source=fly, filtered=False, min_score=30, progress=False)
    print(f"{unfiltered.attrs['table']}: {len(unfiltered):,} synapses with score >= 30")
    try:
        sf.fetch(ids, source=fly, filtered=False, neuropils=True, progress=False)
    except sf.SourceError as err:
        print(err)

# %% [markdown]
# ## 4. Batches, concurrently
#
# Ids are queried in batches of `batch_size` (fafbseg's default: 10), one query for their
# presynapses and one for their postsynapses. fafbseg runs them one after another; synframe runs
# them on a thread pool (`max_workers`). With 50 ms of server latency per query:

# %%
many = raw["post_pt_root_id"].value_counts().index[:60].tolist()
flywire.latency = 0.05
timing = {}
with flywire.serve():
    for label, workers in (("one after another", 1), ("8 concurrent", 8)):
        source = sf.sources.CAVESource(fly, max_workers=workers)
        start = time.perf_counter()
        table = sf.fetch(many, source=source, batch_size=10, progress=False)
        timing[label] = time.perf_counter() - start
        n = source.requests["query"]
        print(
            f"{label:18s} {n} queries, {timing[label]:.2f} s, {len(table):,} synapses"
        )
flywire.latency = 0.0

# %% [markdown]
# ## 5. The row limit: detected and split
#
# A CAVE server returns at most a fixed number of rows per query (FlyWire: 500,000; CAVE's
# default: 200,000) and cuts the rest. It says so only in an HTTP `Warning` header, which
# caveclient logs and fafbseg never checks: the table comes back incomplete and looks whole.
# Here the fake MICrONS server cuts at 50 rows. Plain caveclient:

# %%
inputs = microns_table[microns_table["post_pt_root_id"] == ROOT]
strongest = inputs["pre_pt_root_id"].value_counts().index[:40].tolist()  # top 40 inputs
limited = FakeCAVE("minnie65_public", tables=tables, row_limit=50)
limited_client = make_client("minnie65_public", "synapses_pni_2", [795])
with limited.serve():
    direct = limited_client.materialize.query_table(
        "synapses_pni_2",
        filter_in_dict={"pre_pt_root_id": strongest},
        split_positions=True,
    )
matching = int(microns_table["pre_pt_root_id"].isin(strongest).sum())
print(
    f"caveclient returned {len(direct)} of the {matching} rows that match -- no error"
)

# %% [markdown]
# synframe reads the header (or compares with a known `row_limit`), splits the batch in halves
# and asks again, down to single neurons, and logs what it did:

# %%
sf.set_loglevel("INFO")
with limited.serve():
    source = sf.sources.CAVESource(limited_client)
    complete = sf.fetch(strongest, source=source, batch_size=40, progress=False)
sf.set_loglevel("WARNING")
involved = microns_table[["pre_pt_root_id", "post_pt_root_id"]].isin(strongest)
expected = microns_table.loc[involved.any(axis=1), "id"]
same = sorted(complete["id"]) == sorted(expected)
print(f"{source.requests['query']} queries, {len(complete)} synapses, complete: {same}")

# %% [markdown]
# A single neuron with more synapses than one query returns cannot be split further: that is an
# error naming it, never a partial table.

# %%
with limited.serve():
    try:
        sf.fetch(ROOT, source=limited_client, progress=False)
    except sf.FetchError as err:
        print(type(err).__name__ + ":", err)

# %% [markdown]
# ## 6. Transient failures and a local cache
#
# Connection errors, 429 (rate limits, honouring `Retry-After`) and 5xx answers are retried with
# back-off by one retry layer; a query that keeps failing is an error naming its ids.
# `cache=DIR` keeps every fetched batch, so a repeated analysis runs offline:

# %%
failures = {"left": 3}


def flaky(kind, body):  # the fake server's failure hook: three 503s, then fine
    if kind == "query" and failures["left"]:
        failures["left"] -= 1
        return 503
    return None


microns.fail = flaky
cache = work / "cave-cache"
with microns.serve():
    source = sf.sources.CAVESource(client, backoff=0.01, cache=cache)
    first = sf.fetch(ROOT, source=source, materialization=795, progress=False)
    queries = microns.calls["query"]
    again = sf.fetch(ROOT, source=source, materialization=795, progress=False)
microns.fail = None
print(f"{len(first)} synapses, after 3 failed attempts")
print(
    f"repeated: equal {again.equals(first)}, {microns.calls['query'] - queries} new queries"
)

# %% [markdown]
# ## Test your own CAVE code offline
#
# `synframe.testing_cave` is public: the same fake server works in your test suite (it needs
# `responses`: `pip install "synframe[test]"`).
#
# ```python
# import pandas as pd
# import synframe as sf
# from synframe.testing_cave import FakeCAVE, make_client
#
#
# def test_my_analysis():
#     table = pd.read_parquet("my_synapses_in_cave_layout.parquet")
#     fake = FakeCAVE("minnie65_public", tables={"synapses_pni_2": table}, row_limit=1000)
#     client = make_client("minnie65_public", "synapses_pni_2", versions=[1078])
#     with fake.serve():
#         result = my_analysis(client)  # your code, calling caveclient or sf.fetch
#     assert fake.calls["query"] > 0
# ```
#
# `FakeCAVE` takes tables and views in CAVE layout (split positions in voxels), version
# timestamps, root-id lifetimes, a row limit, latency and a failure hook; `calls` counts the
# requests it answered. `register(rsps)` adds its endpoints to your own `responses.RequestsMock`.
