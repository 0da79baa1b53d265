"""``sf.fetch`` and the local store (DuckDB over parquet / feather / DuckDB files, indexed stores)."""

import duckdb
import navis
import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import synframe as sf
from conftest import DATA, ROOT
from synframe.sources import LocalStore, Query
from synframe.testing import SyntheticDump

RES = np.array([4.0, 4.0, 40.0])


# --- the embedded store against the published files ---------------------------------------------


def _raw(name: str) -> pd.DataFrame:
    return pd.read_feather(DATA / name).sort_values("id", ignore_index=True)


@pytest.mark.parametrize(
    ("pre", "post", "files"),
    [(True, True, ["pre_syn.feather", "post_syn.feather"]), (True, False, ["pre_syn.feather"]),
     (False, True, ["post_syn.feather"])],
)  # fmt: skip
def test_embedded_store_answers_what_the_raw_files_hold(pre, post, files):
    raw = pd.concat([_raw(f) for f in files]).sort_values("id", ignore_index=True)
    syn = sf.fetch(ROOT, pre=pre, post=post, progress=False)
    np.testing.assert_array_equal(syn["id"].to_numpy(), raw["id"].to_numpy())
    for side in ("pre", "post"):
        assert (syn[side].to_numpy() == raw[f"{side}_pt_root_id"].to_numpy()).all()
        vox = np.stack(raw[f"{side}_pt_position"].to_numpy()).astype("float64")
        np.testing.assert_array_equal(
            syn[[f"{side}_x", f"{side}_y", f"{side}_z"]].to_numpy(), vox * RES
        )
    assert syn.attrs["units"] == "nm" and syn.attrs["resolution"] == [4.0, 4.0, 40.0]
    assert syn.attrs["materialization"] == 795 and syn.attrs["datastack"] == "minnie65_public"
    sf.validate(syn)


def test_partner_query_and_unknown_ids():
    partner = int(
        sf.datasets.example_synapses().query("post == @ROOT")["pre"].value_counts().index[0]
    )
    syn = sf.fetch([ROOT, partner, 12345], progress=False)
    assert len(syn) == 2424  # the partner's synapses onto ROOT are already among ROOT's: once only
    assert syn["id"].is_unique
    assert len(sf.fetch(12345, progress=False)) == 0


# --- a store built from a generated dump, against pandas isin ------------------------------------


@pytest.fixture(scope="module")
def dump(tmp_path_factory):
    d = SyntheticDump(60_000, n_neurons=400, seed=7)
    frame = d.frame()
    root = tmp_path_factory.mktemp("dump")
    frame.to_parquet(root / "dump.parquet", row_group_size=7_000)
    (root / "parts").mkdir()
    for i, rows in enumerate(np.array_split(np.arange(len(frame)), 3)):
        frame.iloc[rows].to_parquet(root / "parts" / f"part-{i}.parquet")
    frame.reset_index(drop=True).to_feather(root / "dump.feather")
    con = duckdb.connect(str(root / "dump.duckdb"))
    con.register("frame", frame)
    con.execute("CREATE TABLE synapses AS SELECT * FROM frame")
    con.close()
    LocalStore.build(root / "dump.parquet", root / "store", resolution=d.resolution,
                     datastack="synthetic", materialization=783, filtered=True, row_group_size=2_000)  # fmt: skip
    return d, frame, root


def _expected(frame: pd.DataFrame, ids, pre: bool, post: bool) -> pd.DataFrame:
    mask = np.zeros(len(frame), dtype=bool)
    if pre:
        mask |= frame["pre_pt_root_id"].isin(ids).to_numpy()
    if post:
        mask |= frame["post_pt_root_id"].isin(ids).to_numpy()
    return frame[mask].sort_values("id", ignore_index=True)


def _assert_same(syn: pd.DataFrame, exp: pd.DataFrame) -> None:
    np.testing.assert_array_equal(syn["id"].to_numpy(), exp["id"].to_numpy())
    assert (syn["pre"].to_numpy() == exp["pre_pt_root_id"].to_numpy()).all()
    assert (syn["post"].to_numpy() == exp["post_pt_root_id"].to_numpy()).all()
    for side in ("pre", "post"):
        vox = exp[[f"{side}_pt_position_{a}" for a in "xyz"]].to_numpy(dtype="float64")
        np.testing.assert_array_equal(syn[[f"{side}_{a}" for a in "xyz"]].to_numpy(), vox * RES)
    np.testing.assert_array_equal(syn["cleft_score"].to_numpy(), exp["cleft_score"].to_numpy())


@given(
    n_known=st.integers(0, 12),
    unknown=st.lists(st.integers(1, 2**62), max_size=3),
    sides=st.sampled_from([(True, True), (True, False), (False, True)]),
    seed=st.integers(0, 2**32 - 1),
)
def test_store_equals_pandas_isin(dump, n_known, unknown, sides, seed):
    d, frame, root = dump
    rng = np.random.default_rng(seed)
    ids = [*rng.choice(d.neuron_ids, n_known, replace=False).tolist(), *unknown]
    pre, post = sides
    syn = sf.fetch(ids, source=root / "store", pre=pre, post=post, progress=False)
    _assert_same(syn, _expected(frame, ids, pre, post))


@pytest.mark.parametrize("kind", ["dump.parquet", "parts", "dump.feather", "dump.duckdb", "store"])
def test_every_kind_of_dump_gives_the_same_answer(dump, kind):
    d, frame, root = dump
    ids = d.neuron_ids[[0, 5, 17, 200]]
    source = LocalStore(root / kind, resolution=None if kind == "store" else d.resolution)
    syn = sf.fetch(ids, source=source, progress=False)
    _assert_same(syn, _expected(frame, ids, True, True))


def test_list_valued_positions(dump, tmp_path):
    d, frame, _ = dump
    listed = frame.iloc[:5000].copy()
    for side in ("pre", "post"):
        cols = [f"{side}_pt_position_{a}" for a in "xyz"]
        listed[f"{side}_pt_position"] = list(listed[cols].to_numpy())
        listed = listed.drop(columns=cols)
    listed.to_parquet(tmp_path / "listed.parquet")
    ids = d.neuron_ids[:50]
    syn = sf.fetch(
        ids, source=LocalStore(tmp_path / "listed.parquet", resolution=d.resolution), progress=False
    )
    _assert_same(syn, _expected(frame.iloc[:5000], ids, True, True))


def test_options_min_score_transmitters_neuropils(dump):
    d, frame, root = dump
    ids = d.neuron_ids[:20]
    syn = sf.fetch(
        ids, source=root / "store", min_score=50, transmitters=True, neuropils=True, progress=False
    )
    exp = _expected(frame, ids, True, True)
    exp = exp[exp.cleft_score >= 50]
    np.testing.assert_array_equal(syn["id"].to_numpy(), exp["id"].to_numpy())
    np.testing.assert_allclose(syn["acetylcholine"].to_numpy(), exp["ach"].to_numpy())
    assert syn["neuropil"].dtype == "category"
    assert (syn["neuropil"].astype(str).to_numpy() == exp["neuropil"].astype(str).to_numpy()).all()
    plain = sf.fetch(ids, source=root / "store", progress=False)
    assert "gaba" not in plain and "neuropil" not in plain


def test_options_a_source_cannot_honour_raise():
    with pytest.raises(sf.SourceError, match="transmitters=True needs"):
        sf.fetch(ROOT, transmitters=True, progress=False)
    with pytest.raises(sf.SourceError, match="neuropils=True needs"):
        sf.fetch(ROOT, neuropils=True, progress=False)
    with pytest.raises(sf.SourceError, match="min_score needs") as exc:
        sf.fetch(ROOT, min_score=50, neuropils=True, progress=False)
    assert "neuropils=True needs" in str(exc.value)  # every problem listed at once
    with pytest.raises(sf.SourceError, match="not 630"):
        sf.fetch(ROOT, materialization=630, progress=False)
    with pytest.raises(sf.SourceError, match="'live' needs a CAVE source"):
        sf.fetch(ROOT, materialization="live", progress=False)
    assert len(sf.fetch(ROOT, materialization=795, progress=False)) == 2424


def test_filtered_is_checked_against_the_dump(dump):
    d, _, root = dump
    with pytest.raises(sf.SourceError, match="holds only filtered synapses"):
        sf.fetch(d.neuron_ids[0], source=root / "store", filtered=False, progress=False)
    raw = LocalStore(root / "dump.parquet", resolution=d.resolution, filtered=False)
    with pytest.raises(sf.SourceError, match="unfiltered synapses"):
        sf.fetch(d.neuron_ids[0], source=raw, progress=False)
    assert len(sf.fetch(d.neuron_ids[0], source=raw, filtered=False, progress=False)) > 0


def test_bad_dumps_are_refused(dump, tmp_path):
    _d, frame, root = dump
    with pytest.raises(sf.SourceError, match="declare their size"):
        LocalStore(root / "dump.parquet")
    frame.iloc[:100].astype({"pre_pt_root_id": "float64"}).to_parquet(tmp_path / "f.parquet")
    with pytest.raises(sf.SourceError, match="ids must be stored as integers"):
        LocalStore(tmp_path / "f.parquet", resolution=4)
    frame.iloc[:100].drop(columns=["post_pt_position_x"]).to_parquet(tmp_path / "p.parquet")
    with pytest.raises(sf.SourceError, match="no post-synaptic positions"):
        LocalStore(tmp_path / "p.parquet", resolution=4)
    (tmp_path / "x.csv").write_text("id\n1\n")
    with pytest.raises(sf.SourceError, match="unknown kind of dump"):
        LocalStore(tmp_path / "x.csv")
    with pytest.raises(sf.SourceError, match="not an existing file"):
        sf.fetch(1, source=tmp_path / "nope.parquet")


def test_build_is_atomic_and_refuses_to_overwrite(dump, tmp_path):
    d, _, root = dump
    with pytest.raises(sf.SourceError, match="exists; pass overwrite=True"):
        LocalStore.build(root / "dump.parquet", root / "store", resolution=d.resolution)
    with pytest.raises(duckdb.Error):  # fails inside DuckDB, half way through the build
        LocalStore.build(
            root / "dump.parquet", tmp_path / "s", resolution=d.resolution, memory_limit="1MB"
        )
    assert not (tmp_path / "s").exists() and list(tmp_path.iterdir()) == []
    store = LocalStore.build(root / "dump.feather", tmp_path / "s", resolution=d.resolution)
    again = LocalStore.build(
        root / "dump.parquet", tmp_path / "s", resolution=d.resolution, overwrite=True
    )
    assert store.indexed and again.indexed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]


def test_store_reads_few_row_groups(dump):
    d, _, root = dump
    con = duckdb.connect()
    ids = ", ".join(str(i) for i in d.neuron_ids[:3])
    plan = con.execute(
        f"EXPLAIN ANALYZE SELECT * FROM read_parquet('{root / 'store' / 'by_pre.parquet'}') WHERE pre IN ({ids})"
    ).fetchall()[0][1]
    scanned, total = (
        int(v) for v in plan.split("Row Groups Scanned:")[1].split("\n")[0].strip(" │").split("/")
    )
    assert total == 30 and scanned <= 6


# --- what fetch accepts ---------------------------------------------------------------------------


def test_ids_as_digit_strings_and_navis_neurons():
    a = sf.fetch(str(ROOT), progress=False)
    b = sf.fetch(np.array([ROOT], dtype="uint64"), progress=False)
    c = sf.fetch(sf.datasets.example_neuron(), progress=False)
    d = sf.fetch(navis.NeuronList([sf.datasets.example_neuron()]), progress=False)
    for other in (b, c, d):
        pd.testing.assert_frame_equal(a, other)


@pytest.mark.parametrize("bad", [float(ROOT), [1.0, 2.0], np.array([ROOT], dtype="float64")])
def test_float_ids_are_refused(bad):
    with pytest.raises(sf.SynframeError, match="floats"):
        sf.fetch(bad, progress=False)


def test_pre_and_post_false_is_an_error():
    with pytest.raises(sf.SynframeError, match="nothing to fetch"):
        sf.fetch(ROOT, pre=False, post=False)


def test_neuron_tables_carry_annotations():
    types = sf.datasets.example_cell_types()
    neurons = pd.DataFrame({"root_id": [ROOT], "cell_type": ["L4a"], "cls": ["excitatory"]})
    syn = neurons.syn.fetch(id_column="root_id", carry=["cell_type", "cls"], progress=False)
    assert (syn.loc[syn.pre == ROOT, "pre_cell_type"] == "L4a").all()
    assert syn.loc[syn.pre != ROOT, "pre_cell_type"].isna().all()
    assert (syn.loc[syn.post == ROOT, "post_cls"] == "excitatory").all()
    # a neuron table with partner rows annotates the partners too
    table = pd.concat([types[["root_id", "cell_type"]], neurons[["root_id", "cell_type"]]])
    table = table.drop_duplicates("root_id")
    syn = table.syn.fetch(carry="cell_type", progress=False)
    partners = syn[(syn.post == ROOT) & syn.pre.isin(types.root_id)]
    assert len(partners) > 0
    exp = types.set_index("root_id").loc[partners["pre"], "cell_type"].to_numpy()
    assert (partners["pre_cell_type"].to_numpy() == exp).all()


def test_neuron_table_errors():
    neurons = pd.DataFrame({"segment": [ROOT]})
    with pytest.raises(sf.SchemaError, match="no neuron id column found"):
        neurons.syn.fetch(progress=False)
    with pytest.raises(sf.SchemaError, match="'root_id' is not a column"):
        neurons.syn.fetch(id_column="root_id", progress=False)
    ok = pd.DataFrame({"root_id": [str(ROOT)], "t": ["x"]})
    assert len(ok.syn.fetch(carry="t", progress=False)) == 2424
    floats = pd.DataFrame({"root_id": [float(ROOT)]})
    with pytest.raises(sf.SynframeError, match="floats"):
        floats.syn.fetch(progress=False)


def test_int_annotations_of_missing_partners_stay_exact():
    neurons = pd.DataFrame({"root_id": [ROOT], "group": [720575940612345679]})
    syn = neurons.syn.fetch(carry="group", progress=False)
    assert syn["post_group"].dtype == "Int64"
    assert syn.loc[syn.post == ROOT, "post_group"].unique().tolist() == [720575940612345679]


# --- default source, progress ---------------------------------------------------------------------


def test_default_source_can_be_set(dump, monkeypatch):
    d, _, root = dump
    ids = d.neuron_ids[:2]
    previous = sf.set_default_source(root / "store")
    try:
        assert len(sf.fetch(ids, progress=False)) > 0
        assert len(sf.fetch(ROOT, progress=False)) == 0
    finally:
        sf.set_default_source(previous)
    monkeypatch.setenv("SYNFRAME_SOURCE", str(root / "store"))
    assert len(sf.fetch(ids, progress=False)) > 0
    monkeypatch.delenv("SYNFRAME_SOURCE")
    assert len(sf.fetch(ROOT, progress=False)) == 2424


def test_progress_bar(dump, capsys):
    d, _, root = dump
    sf.fetch(d.neuron_ids[:30], source=root / "store", batch_size=5, progress=True)
    assert "fetch" in capsys.readouterr().err
    sf.fetch(d.neuron_ids[:30], source=root / "store", batch_size=5, progress=False)
    assert capsys.readouterr().err == ""


def test_custom_source_objects_work():
    class Fixed:
        def fetch(self, query: Query) -> pd.DataFrame:
            out = sf.datasets.example_synapses()
            return out[out.post.isin(query.ids)] if query.post else out.iloc[:0]

    assert isinstance(Fixed(), sf.sources.Source)
    assert len(sf.fetch(ROOT, source=Fixed(), progress=False)) == 2165


# --- connectivity ---------------------------------------------------------------------------------


def test_connectivity(dump):
    d, _frame, root = dump
    syn = sf.fetch(d.neuron_ids[:10], source=root / "store", neuropils=True, progress=False)
    edges = syn.syn.connectivity()
    exp = syn.groupby(["pre", "post"]).size()
    assert edges["weight"].sum() == len(syn)
    assert (edges.set_index(["pre", "post"])["weight"].sort_index() == exp.sort_index()).all()
    assert edges["weight"].is_monotonic_decreasing
    strong = sf.connectivity(syn, threshold=5)
    assert (strong.weight >= 5).all() and len(strong) == (exp >= 5).sum()
    per_np = sf.connectivity(syn, by="neuropil")
    assert per_np["weight"].sum() == len(syn) and "neuropil" in per_np
    with pytest.raises(sf.SchemaError, match="not in the synapse table"):
        sf.connectivity(syn, by="nope")


# --- whole tables: LocalStore.read, sf.fetch(source=store) ---------------------------------------


@pytest.mark.parametrize("kind", ["dump.parquet", "parts", "dump.feather", "dump.duckdb", "store"])
def test_whole_table_equals_every_id_and_pandas(dump, kind):
    d, frame, root = dump
    source = LocalStore(root / kind, resolution=None if kind == "store" else d.resolution)
    whole = sf.fetch(source=source, transmitters=True, neuropils=True)
    every = sf.fetch(d.neuron_ids, source=source, transmitters=True, neuropils=True,
                     progress=False)  # fmt: skip
    _assert_same(whole, frame.sort_values("id", ignore_index=True))
    assert whole.attrs["history"][0]["neurons"] is None
    assert whole.attrs["history"][0]["query_ids"] is None
    assert every.attrs["history"][0]["neurons"] == len(d.neuron_ids)
    for t in (whole, every):
        t.attrs = {}
    pd.testing.assert_frame_equal(whole, every, check_exact=True)
    read = source.read()
    read.attrs = {}
    pd.testing.assert_frame_equal(read, whole, check_exact=True)
    assert list(read.columns) == source.columns
    assert read["neuropil"].dtype == pd.CategoricalDtype(sorted(frame["neuropil"].unique()))
    assert read["gaba"].dtype == np.float64 and read["cleft_score"].dtype == frame.cleft_score.dtype


def test_many_ids_are_one_semi_join_with_the_answer_of_batches(dump, monkeypatch):
    """More ids than the literal limit: a join with a registered id table, same table."""
    d, frame, root = dump
    ids = d.neuron_ids[::3]
    for kind in ("dump.parquet", "store"):
        source = LocalStore(root / kind, resolution=None if kind == "store" else d.resolution)
        joined = sf.fetch(ids, source=source, progress=False, post=kind == "store")
        monkeypatch.setattr("synframe.sources.local._MAX_LITERALS", 10**9)
        batched = sf.fetch(ids, source=source, progress=False, post=kind == "store")
        monkeypatch.undo()
        pd.testing.assert_frame_equal(joined, batched, check_exact=True)
        _assert_same(joined, _expected(frame, ids, True, kind == "store"))


def test_whole_table_options(dump):
    d, frame, root = dump
    store = LocalStore(root / "store")
    scored = sf.fetch(source=store, min_score=150)
    _assert_same(scored, frame[frame.cleft_score >= 150].sort_values("id", ignore_index=True))
    assert list(sf.fetch(source=store).columns) == list(
        sf.fetch(d.neuron_ids[:1], source=store, progress=False).columns
    )
    sf.validate(sf.fetch(source=store))
    with pytest.raises(sf.SourceError, match="materialization 783, not 1"):
        sf.fetch(source=store, materialization=1)


def test_whole_table_must_be_asked_for_explicitly(dump):
    _d, _, root = dump
    with pytest.raises(sf.OptionError, match="name it explicitly"):
        sf.fetch()
    with pytest.raises(sf.OptionError, match="name it explicitly"):
        sf.fetch(None, progress=False)
    assert len(sf.fetch([], source=root / "store", progress=False)) == 0  # empty ids: nothing
    assert len(sf.fetch(np.array([], dtype=np.int64), source=root / "store")) == 0

    class Fixed:  # a custom source that does not say it can return a whole table
        def fetch(self, query: Query) -> pd.DataFrame:
            raise AssertionError("never asked")

    with pytest.raises(sf.OptionError, match="cannot return its whole table"):
        sf.fetch(source=Fixed())
    with pytest.raises(sf.OptionError, match="carry= needs a DataFrame"):
        sf.fetch(source=root / "store", carry="x")


def test_read_columns(dump):
    d, frame, root = dump
    store = LocalStore(root / "dump.parquet", resolution=d.resolution)
    few = store.read(["post", "pre"])
    assert list(few.columns) == ["post", "pre"]
    order = frame.sort_values("id", kind="stable")
    np.testing.assert_array_equal(few["pre"].to_numpy(), order["pre_pt_root_id"].to_numpy())
    assert list(store.read("pre_z").columns) == ["pre_z"]
    np.testing.assert_array_equal(
        store.read("pre_z")["pre_z"].to_numpy(), order["pre_pt_position_z"].to_numpy() * 40.0
    )
    assert few.attrs["units"] == "nm" and few.attrs["resolution"] == [4.0, 4.0, 40.0]


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        (["pre", "nope"], r"unknown columns \['nope'\]"),
        ([], "no columns asked"),
        (["pre", "pre"], r"columns \['pre'\] asked more than once"),
        ([1, "pre"], "column names must be strings"),
        (["size"], r"unknown columns \['size'\]"),  # a column this dump does not have
        (5, "must be a list of column names"),
    ],
)
def test_read_refuses_bad_columns(dump, columns, message):
    d, _, root = dump
    with pytest.raises(sf.SourceError, match=message):
        LocalStore(root / "dump.parquet", resolution=d.resolution).read(columns)


def test_read_empty_and_duplicated_and_unsorted_dumps(dump, tmp_path):
    d, frame, _root = dump
    frame.iloc[:0].to_parquet(tmp_path / "empty.parquet")
    empty = LocalStore(tmp_path / "empty.parquet", resolution=d.resolution)
    for out in (empty.read(), sf.fetch(source=empty)):
        assert len(out) == 0 and out["id"].dtype == np.int64 and out["pre_x"].dtype == np.float64
    empty_store = LocalStore.build(tmp_path / "empty.parquet", tmp_path / "s", resolution=4)
    assert len(empty_store.read()) == 0
    # duplicated ids, not in id order: sorted, each id once (its first row), like fetch by ids
    messy = pd.concat([frame.iloc[500:1000], frame.iloc[:700]]).iloc[::-1]
    messy.to_parquet(tmp_path / "messy.parquet")
    store = LocalStore(tmp_path / "messy.parquet", resolution=d.resolution)
    out = store.read()
    assert out["id"].is_monotonic_increasing and out["id"].is_unique and len(out) == 1000
    ids = np.unique(messy[["pre_pt_root_id", "post_pt_root_id"]].to_numpy())
    by_ids = sf.fetch(ids, source=store, transmitters=True, neuropils=True, progress=False)
    by_ids.attrs = out.attrs = {}
    pd.testing.assert_frame_equal(out, by_ids, check_exact=True)
    assert isinstance(out.index, pd.RangeIndex)


def test_fetched_tables_are_writable_and_own_their_memory(dump):
    d, _, root = dump
    store = LocalStore(root / "store")
    for syn in (store.read(), sf.fetch(d.neuron_ids[:3], source=store, progress=False)):
        syn.loc[0, "pre_x"] = -1.0  # arrays from Arrow: copied into writable pandas blocks
        syn["id"].to_numpy()[0] = 5
        assert syn.loc[0, "pre_x"] == -1.0


def test_read_keeps_the_asked_order_with_the_id_anywhere(dump):
    _d, frame, root = dump
    store = LocalStore(root / "store")
    out = store.read(["pre", "id", "post_x"])
    assert list(out.columns) == ["pre", "id", "post_x"] and out["id"].is_monotonic_increasing
    np.testing.assert_array_equal(out["id"].to_numpy(), np.sort(frame["id"].to_numpy()))
