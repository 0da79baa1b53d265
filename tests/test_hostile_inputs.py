"""Hostile input to ids, lengths, fetch, annotate, the schemas, atomic writes, sources, datasets
and the accessors (#12)."""

import os
import re
import string

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import synframe as sf
from conftest import ROOT, frame_hash
from synframe._ids import as_ids
from synframe._io import staged_dir, staged_file
from synframe.errors import format_problems
from synframe.units import length_nm

# --- ids -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values, message",
    [
        ([-5], "-5 is negative"),
        (-3, "negative"),
        (np.int8(-1), "negative"),
        ([0, False], "False is a boolean"),
        ([1, np.True_], "boolean"),
        ([True], "boolean"),
        (["²"], "'²' is not an integer id"),
        (["٣"], "'٣' is not an integer id"),  # Arabic-Indic three: int() would take it as 3
        (["1", "①"], "'①'"),
        (["1.5"], "'1.5'"),
        (["-3"], "'-3'"),
        (["+5"], "'+5'"),
        ([""], "''"),
        ([np.nan], "missing"),
        ([1.0], "floats"),
        ([None], "missing"),
        (pd.Series([1, None], dtype="Int64"), "missing"),
        (pd.Series([1, None], dtype="int64[pyarrow]"), "missing"),
        ([2**63], "does not fit in int64"),
        (np.array([2**64 - 1], dtype=np.uint64), "does not fit in int64"),
        (pd.Series([2**63], dtype="UInt64"), "does not fit in int64"),
        ({1, 2}, "a set is not a list of ids"),
        ({"a": 1}, "a dict"),
        (None, "NoneType"),
        (np.array(["2020-01-01"], dtype="datetime64[D]"), "not integer ids"),
        ([b"\xff"], "not an integer id"),
    ],
)
def test_ids_refused(values, message):
    with pytest.raises(sf.IdError, match=re.escape(message)) as err:
        as_ids(values)
    assert isinstance(err.value, ValueError) and isinstance(err.value, TypeError)


@pytest.mark.parametrize(
    "values, expected",
    [
        ([ROOT, "864691136040432127"], [ROOT, ROOT + 1]),
        ([" 7 ", b"8"], [7, 8]),
        (pd.Series([1, 2], dtype="UInt64"), [1, 2]),
        (pd.Series([2**62 + 1], dtype="Int64"), [2**62 + 1]),
        (pd.Series(["1", "2"], dtype="string"), [1, 2]),
        (pd.Series(pd.Categorical([5, 6])), [5, 6]),
        (np.array([2**63 - 1], dtype=np.uint64), [2**63 - 1]),
        ([], []),
    ],
)
def test_ids_accepted_exactly(values, expected):
    out = as_ids(values)
    assert out.dtype == np.int64 and out.tolist() == expected


@given(st.lists(st.integers(0, 2**63 - 1), max_size=20))
def test_any_int64_id_round_trips_as_int_or_text(ids):
    assert as_ids(ids).tolist() == ids
    assert as_ids([str(i) for i in ids]).tolist() == ids
    assert as_ids(np.array(ids, dtype=np.uint64)).tolist() == ids


@given(st.lists(st.one_of(st.integers(), st.floats(), st.text(max_size=4), st.booleans(),
                          st.none()), min_size=1, max_size=8))  # fmt: skip
def test_ids_either_exact_or_an_id_error(values):
    try:
        out = as_ids(values)
    except sf.IdError:
        return
    # accepted: every value was a whole number 0 <= v < 2**63, given as int or ASCII digits
    for v, o in zip(values, out.tolist(), strict=True):
        assert not isinstance(v, (bool, float)) and v is not None
        assert int(v.strip() if isinstance(v, str) else v) == o
        if isinstance(v, str):
            assert v.strip().isascii() and v.strip().isdigit()


# --- lengths -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, message",
    [
        ("um", "no number"),
        ("µm", "no number"),
        ("nm", "no number"),
        ("10", "no unit"),
        ("", "no number"),
        ("(1 nm", "no number"),
        ("um * 3", "no number"),
        ("2**3 nm", "unknown units"),
        ("10 kg", "not a length"),
        ("10 m/s", "not a length"),
        ("10 parsecs of doom", "unknown units"),
        ("nan um", "finite"),
        ("inf nm", "finite"),
        ("1e400 nm", "finite"),
        (float("nan"), "finite"),
        (2**1100, "finite"),
        (-1, "negative"),
        ("-1 um", "negative"),
        (True, "must be a length"),
        (None, "must be a length"),
        ([1], "unknown units"),
    ],
)
def test_lengths_refused(value, message):
    with pytest.raises(sf.UnitsError, match=message):
        length_nm(value, name="max_distance")


@pytest.mark.parametrize(
    "value, nm",
    [("10 um", 10_000.0), ("10um", 10_000.0), ("2.5 µm", 2_500.0), (".5 micron", 500.0),
     ("1e4 nm", 10_000.0), ("8 nanometer", 8.0), (500, 500.0), (np.int64(5), 5.0),
     ("-0 nm", 0.0)],
)  # fmt: skip
def test_lengths_accepted(value, nm):
    assert length_nm(value) == nm


@given(st.text(alphabet=string.printable + "µμ²٣", max_size=12))
def test_any_text_is_a_length_or_a_units_error(text):
    try:
        nm = length_nm(text)
    except sf.UnitsError:
        return
    assert np.isfinite(nm) and nm >= 0
    assert any(c.isdigit() for c in text)  # a number was given, never a bare unit


# --- fetch ---------------------------------------------------------------------------------------


def fetch(x=ROOT, **kw):
    return sf.fetch(x, progress=False, **kw)


@pytest.mark.parametrize(
    "x, kwargs, error, message",
    [
        ([-5], {}, sf.IdError, "negative"),
        ([0, False], {}, sf.IdError, "boolean"),
        (["²"], {}, sf.IdError, "'²'"),
        ([float(ROOT)], {}, sf.IdError, "floats"),
        (ROOT, {"min_score": float("nan")}, sf.OptionError, "min_score must be a finite"),
        (ROOT, {"min_score": float("inf")}, sf.OptionError, "min_score"),
        (ROOT, {"min_score": "5"}, sf.OptionError, "min_score"),
        (ROOT, {"min_score": True}, sf.OptionError, "min_score"),
        (ROOT, {"pre": "no"}, sf.OptionError, "pre must be True or False"),
        (ROOT, {"post": None}, sf.OptionError, "post must be True or False"),
        (ROOT, {"filtered": 0}, sf.OptionError, "filtered"),
        (ROOT, {"transmitters": "yes"}, sf.OptionError, "transmitters"),
        (ROOT, {"neuropils": 1}, sf.OptionError, "neuropils"),
        (ROOT, {"attach": "x"}, sf.OptionError, "attach"),
        (ROOT, {"pre": False, "post": False}, sf.OptionError, "nothing to fetch"),
        (ROOT, {"materialization": -1}, sf.OptionError, "materialization"),
        (ROOT, {"materialization": 1.5}, sf.OptionError, "materialization"),
        (ROOT, {"materialization": True}, sf.OptionError, "materialization"),
        (ROOT, {"materialization": None}, sf.OptionError, "materialization"),
        (ROOT, {"materialization": "newest"}, sf.OptionError, "materialization"),
        (ROOT, {"batch_size": 0}, sf.OptionError, "batch_size"),
        (ROOT, {"batch_size": 2.0}, sf.OptionError, "batch_size"),
        (ROOT, {"id_column": 5}, sf.OptionError, "id_column"),
        (ROOT, {"carry": ["x"]}, sf.OptionError, "carry= needs a DataFrame"),
        (ROOT, {"source": "typo"}, sf.SourceError, "known CAVE datastack"),
        (ROOT, {"source": 5}, sf.SourceError, "cannot use a int"),
        (pd.DataFrame([[ROOT, ROOT]], columns=["root_id", "root_id"]), {}, sf.SchemaError,
         r"repeated column names \['root_id'\]"),
        (pd.DataFrame({"a": [ROOT]}), {}, sf.SchemaError, "no neuron id column"),
        (pd.DataFrame({"root_id": [ROOT]}), {"carry": 5}, sf.OptionError, "carry"),
        (pd.DataFrame({"root_id": [ROOT], "x": [1.0]}), {"carry": "x"}, sf.SchemaError,
         r"replace the synapse table's own columns \['pre_x', 'post_x'\]"),
    ],
)  # fmt: skip
def test_fetch_refuses_before_asking_the_source(x, kwargs, error, message):
    h = frame_hash(x) if isinstance(x, pd.DataFrame) else None
    with pytest.raises(error, match=message):
        fetch(x, **kwargs)
    if h is not None:
        assert frame_hash(x) == h


def test_fetch_accepts_numpy_scalars_for_options():
    assert len(fetch(batch_size=np.int64(5), materialization=np.int64(795), pre=np.True_)) == 2424


def test_as_source_fails_fast_offline(monkeypatch):
    import caveclient

    def no_network(*args, **kwargs):  # pragma: no cover - failing path
        raise AssertionError("as_source went to the network")

    monkeypatch.setattr(caveclient, "CAVEclient", no_network)
    for typo in ("typo", "minnie65", "flywire_fafb"):
        with pytest.raises(sf.SourceError, match="known CAVE datastack"):
            sf.sources.as_source(typo)
    with pytest.raises(sf.SourceError, match="not an existing file or directory"):
        sf.sources.as_source("/nope/dump.parquet")
    monkeypatch.setenv("SYNFRAME_SOURCE", "typo")
    with pytest.raises(sf.SourceError, match="typo"):
        fetch()


def test_cave_source_options_refused_offline():
    class Client:  # just enough of caveclient's interface; never called
        datastack_name = "minnie65_public"
        materialize = chunkedgraph = object()

        class info:
            @staticmethod
            def get_datastack_info():
                return {"synapse_table": "synapses_pni_2"}

    for kwargs, message in [
        ({"max_workers": 0}, "max_workers"),
        ({"retries": -1}, "retries"),
        ({"backoff": float("nan")}, "backoff"),
        ({"row_limit": -1}, "row_limit"),
        ({"row_limit": 1.5}, "row_limit"),
        ({"synapse_table": 5}, "synapse_table"),
        ({"view": ["v"]}, "view"),
        ({"cache": 5}, "cache"),
        ({"cache": __file__}, "not a directory"),
    ]:
        with pytest.raises(sf.OptionError, match=message):
            sf.sources.CAVESource(Client(), **{"retries": None, **kwargs})
    with pytest.raises(sf.SourceError, match="CAVEclient"):
        sf.sources.CAVESource(object())


# --- annotate ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "neurons, kwargs, error, message",
    [
        (pd.DataFrame({"root_id": [ROOT], "x": [1.0]}), {}, sf.SchemaError, "pre_x"),
        (pd.DataFrame({"root_id": [ROOT], "y": [1.0]}), {"sides": "post"}, sf.SchemaError,
         r"\['post_y'\]"),
        (pd.DataFrame({"root_id": [ROOT, ROOT], "t": [1, 2]}), {}, sf.SchemaError, "repeated ids"),
        (pd.DataFrame([[ROOT, 1, 2]], columns=["root_id", "t", "t"]), {}, sf.SchemaError,
         "repeated column names"),
        (pd.DataFrame({"root_id": [float(ROOT)], "t": [1]}), {}, sf.IdError, "floats"),
        (pd.DataFrame({"root_id": ["²"], "t": [1]}), {}, sf.IdError, "'²'"),
        (pd.DataFrame({"root_id": [ROOT], "t": [1]}), {"sides": ["pre", "left"]}, sf.OptionError,
         "left"),
        (pd.DataFrame({"root_id": [ROOT], "t": [1]}), {"sides": []}, sf.OptionError, "sides"),
        (pd.DataFrame({"root_id": [ROOT], "t": [1]}), {"columns": 5}, sf.OptionError, "columns"),
        (pd.DataFrame({"root_id": [ROOT], "t": [1]}), {"columns": ["u"]}, sf.SchemaError, "u"),
        (pd.DataFrame({"root_id": [ROOT], "t": [1]}), {"id_column": 0}, sf.OptionError,
         "id_column"),
        (pd.Series([1]), {}, sf.SchemaError, "neurons must be a pandas DataFrame"),
    ],
)  # fmt: skip
def test_annotate_refuses(syn, neurons, kwargs, error, message):
    h = frame_hash(syn)
    with pytest.raises(error, match=message):
        sf.annotate(syn, neurons, **kwargs)
    assert frame_hash(syn) == h


def test_annotate_tables_that_are_not_synapse_tables(syn):
    types = pd.DataFrame({"root_id": [ROOT], "t": [1]})
    with pytest.raises(sf.SchemaError, match=r"no \['post'\] column"):
        sf.annotate(syn.drop(columns="post"), types)
    with pytest.raises(sf.SchemaError, match="syn must be"):
        sf.annotate([1, 2], types)
    out = sf.annotate(syn, types, sides="pre", columns=("t", "t"))
    assert "pre_t" in out and "post_t" not in out and out["pre_t"].dtype == "Int64"


# --- schemas -------------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", ["synapses", "clean", "parameterized"])
def test_duplicated_column_names(syn, stage):
    for dup in ("pre", "cleft_score", "pre_x"):
        extra = syn[["pre_x"]].rename(columns={"pre_x": dup})
        bad = pd.concat([syn, extra, extra] if dup == "cleft_score" else [syn, extra], axis=1)
        with pytest.raises(sf.SchemaError, match=f"repeated column names \\['{dup}'\\]"):
            sf.validate(bad, stage)


def test_validate_options(syn):
    with pytest.raises(sf.SchemaError, match="unknown stage"):
        sf.validate(syn, "bogus")
    with pytest.raises(sf.SchemaError, match="unknown stage"):
        sf.validate(syn, ["synapses"])
    with pytest.raises(sf.SchemaError, match="expected a pandas DataFrame"):
        sf.validate(syn.to_dict())
    with pytest.raises(sf.SchemaError, match="neuron 1 connectors"):
        import navis

        n = navis.TreeNeuron(
            pd.DataFrame({"node_id": [1], "parent_id": [-1], "x": [0.0], "y": [0.0], "z": [0.0]}),
            id=1,
            units="1 nm",
        )
        n._connectors = pd.DataFrame({"connector_id": [1.5], "type": ["pre"], "x": [0.0],
                                      "y": [0.0], "z": [0.0]})  # fmt: skip
        sf.validate_connectors(n)


@given(
    st.sampled_from(["id", "pre", "post"]),
    st.sampled_from(["float64", "object", "bool", "Int64", "string", "uint64", "int32"]),
)
def test_id_columns_of_any_other_dtype_are_named(column, dtype):
    syn = sf.datasets.example_synapses().iloc[:20]
    try:
        bad = syn.astype({column: dtype})
    except (TypeError, ValueError, OverflowError):
        return
    if dtype == "Int64":  # nullable int64 without missing values: exact, accepted
        assert sf.validate(bad) is bad
        return
    with pytest.raises(sf.SchemaError, match=f"column '{column}'"):
        sf.validate(bad)


# --- atomic writes -------------------------------------------------------------------------------


@pytest.mark.parametrize("what", ["file", "directory", "symlink", "dangling", "nothing"])
def test_staged_dir_replaces_anything_without_leftovers(tmp_path, what):
    path = tmp_path / "out"
    target = tmp_path / "target.txt"
    target.write_text("the link's target stays")
    if what == "file":
        path.write_text("old")
    elif what == "directory":
        path.mkdir()
        (path / "old.txt").write_text("old")
    elif what == "symlink":
        os.symlink(target, path)
    elif what == "dangling":
        os.symlink(tmp_path / "nowhere", path)
    with staged_dir(path) as staging:
        (staging / "new.txt").write_text("new")
    assert path.is_dir() and not path.is_symlink()
    assert sorted(p.name for p in path.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "target.txt"]  # no .old-*
    assert target.read_text() == "the link's target stays"


def test_staged_dir_and_file_on_error(tmp_path):
    path = tmp_path / "out"
    path.write_text("old")
    with pytest.raises(RuntimeError), staged_dir(path) as staging:
        (staging / "half.txt").write_text("half")
        raise RuntimeError("interrupted")
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    with pytest.raises(RuntimeError), staged_file(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_staged_dir_interrupted_between_its_two_renames_puts_the_old_one_back(
    tmp_path, monkeypatch
):
    """A signal after the old directory went aside but before the new one came in (the CLI turns
    SIGTERM into KeyboardInterrupt): the old directory is back at its path, nothing else left."""
    from synframe import _io

    path = tmp_path / "out"
    path.mkdir()
    (path / "old.txt").write_text("old")
    calls = []
    real = os.replace

    def replace(src, dst):
        calls.append((os.path.basename(src), os.path.basename(dst)))
        if len(calls) == 2:  # staging -> out
            raise KeyboardInterrupt
        return real(src, dst)

    monkeypatch.setattr(_io.os, "replace", replace)
    with pytest.raises(KeyboardInterrupt), staged_dir(path) as staging:
        (staging / "new.txt").write_text("new")
    assert calls[0][0] == "out" and calls[1][1] == "out"  # the window was hit
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert sorted(p.name for p in path.iterdir()) == ["old.txt"]


# --- errors, datasets, accessors -----------------------------------------------------------------


def test_format_problems():
    assert format_problems("nothing to do", []) == "nothing to do"
    assert format_problems("bad:", [1, "x"]) == "bad:\n  - 1\n  - x"


def test_every_error_is_a_synframe_error_and_the_builtin_it_promises():
    pairs = {
        sf.OptionError: (ValueError, TypeError), sf.SchemaError: (ValueError,),
        sf.IdError: (ValueError, TypeError), sf.UnitsError: (ValueError,),
        sf.NeuronTypeError: (TypeError,), sf.SourceError: (ValueError,),
        sf.FetchError: (RuntimeError,), sf.PathwayError: (ValueError,),
        sf.SonataError: (ValueError,), sf.AccessorError: (RuntimeError,),
    }  # fmt: skip
    for cls, bases in pairs.items():
        assert issubclass(cls, sf.SynframeError) and all(issubclass(cls, b) for b in bases)


def test_datasets_options():
    with pytest.raises(sf.OptionError, match="shared_within"):
        sf.datasets.example_pathway_stats(shared_within="yes")
    assert not sf.datasets.path("no_such_file.parquet").is_file()


@pytest.mark.parametrize(
    "frame",
    [
        lambda s: pd.concat([s, s[["pre"]]], axis=1),
        lambda s: s.assign(pre="x"),
        lambda s: s.assign(pre=np.nan),
        lambda s: s.rename(columns={"pre_x": 5}),
        lambda s: s.iloc[:0],
        lambda s: pd.DataFrame({"pre": [1], "post": [True]}),
    ],
)
def test_accessor_repr_never_raises(syn, frame):
    df = frame(syn)
    assert "rows x" in repr(df.syn) or "synapse" in repr(df.syn)
    assert isinstance(df.syn._repr_html_(), str)


def test_accessors_give_the_same_errors(syn, neuron):
    with pytest.raises(sf.UnitsError, match="no number"):
        syn.syn.attach(neuron, max_distance="um")
    with pytest.raises(sf.SchemaError, match="repeated column names"):
        pd.concat([syn, syn[["pre"]]], axis=1).syn.validate()
    with pytest.raises(sf.SchemaError, match="pre_x"):
        syn.syn.annotate(pd.DataFrame({"root_id": [ROOT], "x": [1.0]}))
    with pytest.raises(sf.OptionError, match="min_score"):
        pd.DataFrame({"root_id": [ROOT]}).syn.fetch(min_score=float("nan"), progress=False)
