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
