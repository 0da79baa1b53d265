"""Hostile input for ``LocalStore`` (#12): corrupt, truncated and empty dumps and stores are
``SourceError``s naming the file and the fix; ``build`` never loses data (no overwrite of what it
did not write, no half-written store)."""

import os
import shutil

import duckdb
import pytest

import synframe as sf
from synframe.sources import LocalStore
from synframe.sources import local as local_module

ROOT = sf.datasets.EXAMPLE_ROOT_ID


@pytest.fixture(scope="module")
def dumps(tmp_path_factory):
    """Good dumps of the example synapses (parquet, feather, DuckDB) and a store built from one."""
    d = tmp_path_factory.mktemp("dumps")
    syn = sf.datasets.example_synapses().reset_index(drop=True)
    syn.to_parquet(d / "good.parquet")
    syn.to_feather(d / "good.feather")
    con = duckdb.connect(str(d / "good.duckdb"))
    con.register("s", syn)
    con.execute("CREATE TABLE syn AS SELECT * FROM s")
    con.close()
    LocalStore.build(d / "good.parquet", d / "store")
    return d


def snapshot(root):
    """Every file under ``root`` with its size and modification time (what was written)."""
    return {
        p: (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob("*")) if p.is_file()
    }


def damaged(dumps, tmp_path, name, how):
    """A copy of the good dump ``name`` in tmp_path, damaged ``how``."""
    src = dumps / name
    out = tmp_path / f"{how}{src.suffix}" if src.is_file() else tmp_path / how
    if src.is_dir():
        shutil.copytree(src, out)
        return out
    data = src.read_bytes()
    out.write_bytes(
        {"empty": b"", "truncated": data[: len(data) // 2], "garbage": b"not a dump\n" * 500}[how]
    )
    return out


@pytest.mark.parametrize("name", ["good.parquet", "good.feather", "good.duckdb"])
@pytest.mark.parametrize("how", ["empty", "truncated", "garbage"])
def test_unreadable_dumps_are_source_errors(dumps, tmp_path, name, how):
    bad = damaged(dumps, tmp_path, name, how)
    with pytest.raises(sf.SourceError) as exc:
        LocalStore(bad)
    text = str(exc.value)
    assert str(bad) in text and "export or download it again" in text
    assert "\n" in text and "LINE 1" not in text  # DuckDB's SQL echo is not shown
    with pytest.raises(sf.SourceError, match="cannot read the synapse dump"):
        LocalStore.build(bad, tmp_path / "store")
    assert not (tmp_path / "store").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [bad.name]  # no staging left


def test_a_directory_with_an_unreadable_part(dumps, tmp_path):
    shutil.copy(dumps / "good.parquet", tmp_path / "a.parquet")
    (tmp_path / "b.parquet").write_bytes(b"")
    with pytest.raises(sf.SourceError, match=r"b\.parquet.*too small"):
        sf.fetch(ROOT, source=LocalStore(tmp_path), progress=False)


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (lambda s: (s / "synframe_store.json").write_text("{not json"), "JSONDecodeError"),
        (lambda s: (s / "synframe_store.json").write_bytes(b"\xff\xfe\x00"), "UnicodeDecodeError"),
        (lambda s: (s / "synframe_store.json").write_text("[1, 2]"), "not a synframe store"),
        (lambda s: (s / "synframe_store.json").write_text('{"version": 1, "resolution": 3}'),
         "not a synframe store"),
        (lambda s: os.remove(s / "by_pre.parquet"), "by_pre.parquet"),
        (lambda s: os.remove(s / "by_post.parquet"), "by_post.parquet"),
        (lambda s: (s / "by_post.parquet").write_bytes((s / "by_post.parquet").read_bytes()[:500]),
         "by_post.parquet"),
    ],
)  # fmt: skip
def test_damaged_stores_name_the_file_and_say_rebuild(dumps, tmp_path, damage, match):
    store = damaged(dumps, tmp_path, "store", "copy")
    damage(store)
    with pytest.raises(sf.SourceError, match=match) as exc:
        LocalStore(store)
    assert "rebuild it" in str(exc.value) and "overwrite=True" in str(exc.value)
    # the fix it names works
    LocalStore.build(dumps / "good.parquet", store, overwrite=True)
    assert len(sf.fetch(ROOT, source=LocalStore(store), progress=False)) == 2424


def test_damage_found_at_query_time_is_a_source_error(dumps, tmp_path):
    """A file that opens but cannot be read later (replaced after the store was opened)."""
    store_dir = damaged(dumps, tmp_path, "store", "copy")
    store = LocalStore(store_dir)
    (store_dir / "by_post.parquet").write_bytes(b"")
    with pytest.raises(sf.SourceError, match=r"(?s)by_post\.parquet.*rebuild it"):
        sf.fetch(ROOT, source=store, pre=False, progress=False)


def test_build_refuses_what_it_did_not_write(dumps, tmp_path):
    dump = dumps / "good.parquet"
    precious = tmp_path / "results"
    precious.mkdir()
    (precious / "thesis.txt").write_text("years of work")
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me")
    before = snapshot(tmp_path)
    for target in (precious, a_file):
        with pytest.raises(sf.SourceError, match="exists; pass overwrite=True"):
            LocalStore.build(dump, target)
        with pytest.raises(sf.SourceError, match="replaces only a store built with"):
            LocalStore.build(dump, target, overwrite=True)
    with pytest.raises(sf.SourceError, match="overwrite must be True or False"):
        LocalStore.build(dump, tmp_path / "new", overwrite="yes")
    assert snapshot(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "results"]
    # an empty directory and a store built here are replaced
    (tmp_path / "empty").mkdir()
    assert LocalStore.build(dump, tmp_path / "empty", overwrite=True).indexed


def test_build_refuses_paths_in_or_around_the_dump(dumps, tmp_path):
    folder = tmp_path / "dump"
    folder.mkdir()
    shutil.copy(dumps / "good.parquet", folder / "part-0.parquet")
    before = snapshot(tmp_path)
    for target in (folder, folder / "store", tmp_path):
        with pytest.raises(sf.SourceError, match="inside the dump"):
            LocalStore.build(folder, target, overwrite=True)
    with pytest.raises(sf.SourceError, match="inside the dump"):
        LocalStore.build(folder / "part-0.parquet", folder / "part-0.parquet", overwrite=True)
    assert snapshot(tmp_path) == before


def test_an_interrupted_build_leaves_the_old_store(dumps, tmp_path, monkeypatch):
    store_dir = damaged(dumps, tmp_path, "store", "copy")
    before = snapshot(store_dir)

    class Interrupted:
        @staticmethod
        def rmtree(*args, **kwargs):  # called once both copies are written
            raise KeyboardInterrupt

    monkeypatch.setattr(local_module, "shutil", Interrupted)
    with pytest.raises(KeyboardInterrupt):
        LocalStore.build(dumps / "good.feather", store_dir, overwrite=True)
    with pytest.raises(KeyboardInterrupt):
        LocalStore.build(dumps / "good.feather", tmp_path / "fresh")
    monkeypatch.undo()
    assert snapshot(store_dir) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy"]  # no staging, no "fresh"
    assert len(LocalStore(store_dir).read()) == 2424


# --- uint64 ids ----------------------------------------------------------------------------------


def _uint64_dump(tmp_path, kind, offset):
    """A CAVE-layout dump whose ``pre_pt_root_id`` is uint64, shifted by ``offset``."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.feather as feather
    import pyarrow.parquet as pq

    from synframe.synthetic import SyntheticDump

    table = pa.Table.from_pandas(SyntheticDump(300, n_neurons=10, seed=3).frame())
    i = table.schema.get_field_index("pre_pt_root_id")
    pre = table.column(i).to_numpy().astype("uint64") + np.uint64(offset)
    table = table.set_column(i, "pre_pt_root_id", pa.array(pre, pa.uint64()))
    path = tmp_path / f"cave_u64.{kind}"
    if kind == "parquet":
        pq.write_table(table, path)
    elif kind == "feather":
        feather.write_feather(table, path)
    else:
        with duckdb.connect(str(path)) as con:
            con.register("t", table)
            con.execute("CREATE TABLE syn AS SELECT * FROM t")
    return path, table


@pytest.mark.parametrize("kind", ["parquet", "feather", "duckdb"])
def test_uint64_ids_of_2_63_and_more_are_id_errors_naming_file_and_column(tmp_path, kind):
    dump, table = _uint64_dump(tmp_path, kind, 2**63)
    before = snapshot(tmp_path)
    big = max(table.column("pre_pt_root_id").to_pylist())
    for attempt in (
        lambda: LocalStore(dump, resolution=(4, 4, 40)),
        lambda: LocalStore.build(dump, tmp_path / "store", resolution=(4, 4, 40)),
    ):
        with pytest.raises(sf.IdError) as exc:
            attempt()
        text = str(exc.value)
        assert str(dump) in text and "'pre_pt_root_id' (uint64)" in text and str(big) in text
        assert "< 2**63" in text and "uint64 ids below 2**63 are accepted" in text
        assert "not a complete parquet" not in text and "Conversion" not in text
    assert snapshot(tmp_path) == before  # nothing written, no staging left


@pytest.mark.parametrize("kind", ["parquet", "feather", "duckdb"])
def test_uint64_ids_below_2_63_are_read_exactly(tmp_path, kind):
    dump, table = _uint64_dump(tmp_path, kind, 2**62)
    pre = sorted(set(table.column("pre_pt_root_id").to_pylist()))
    assert pre[-1] > 2**62  # above 2**53: exact only if never through float64
    got = LocalStore(dump, resolution=(4, 4, 40)).read(["id", "pre"])
    assert got["pre"].dtype == "int64" and sorted(set(got["pre"].tolist())) == pre
    store = LocalStore.build(dump, tmp_path / "store", resolution=(4, 4, 40))
    syn = sf.fetch(pre[-1], source=store, progress=False)
    assert len(syn) and set(syn["pre"].tolist()) | set(syn["post"].tolist()) >= {pre[-1]}


def test_an_id_overflow_found_at_query_time_is_an_id_error(tmp_path, monkeypatch):
    """The fallback: DuckDB's cast error of an id column (e.g. a file that changed after it was
    opened) is an IdError naming the dump, not 'not a complete parquet file'."""
    dump, _ = _uint64_dump(tmp_path, "parquet", 2**63)
    monkeypatch.setattr(LocalStore, "_check_id_range", lambda self, types: None, raising=False)
    store = LocalStore(dump, resolution=(4, 4, 40))
    with pytest.raises(sf.IdError, match=r"cannot be represented as int64") as exc:
        store.read()
    assert str(dump) in str(exc.value) and "< 2**63" in str(exc.value)
    with pytest.raises(sf.IdError, match=r"cannot be represented as int64"):
        LocalStore.build(dump, tmp_path / "store", resolution=(4, 4, 40))
    assert not (tmp_path / "store").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [dump.name]  # no staging left
