"""Hostile command lines (#12), in process (synframe.cli.main): every error is one line naming the
flag, exit 2 for a wrong command line, 1 for a failure, never a traceback, nothing written."""

import hashlib
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from conftest import DATA, ROOT
from synframe.cli import main
from synframe.synthetic import SyntheticDump

OBI = DATA / "sonata" / "obi_nbS1_O1_E2Sst_L5"
LOCAL = "S1nonbarrel_neurons__S1nonbarrel_neurons__chemical"


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A working folder with a circuit copy, stats files good and bad, and odd inputs."""
    shutil.copytree(OBI, tmp_path / "c")
    (tmp_path / "latin1.json").write_bytes('{"a": "é"}'.encode("latin-1"))
    (tmp_path / "deep.json").write_text("[" * 50_000 + "]" * 50_000)
    (tmp_path / "empty.json").write_text("{}")
    (tmp_path / "types.csv").write_text(f"root_id,synapse_class\n{ROOT},excitatory_neuron\n")
    (tmp_path / "dup_types.csv").write_text(f"root_id,synapse_class\n{ROOT},a\n{ROOT},b\n")
    (tmp_path / "one_column.csv").write_text(f"root_id\n{ROOT}\n")
    (tmp_path / "float_types.csv").write_text(f"root_id,synapse_class\n{float(ROOT)},a\n")
    (tmp_path / "latin1.csv").write_bytes("root_id,synapse_class\n1,é\n".encode("latin-1"))
    (tmp_path / "bad.swc").write_text("this is not an swc file\n")
    (tmp_path / "exists").mkdir()
    (tmp_path / "exists" / "mine.txt").write_text("keep")
    dump = SyntheticDump(500, n_neurons=20, seed=1)
    dump.write_parquet(tmp_path / "voxels.parquet")
    ids = dump.neuron_ids
    pd.DataFrame({"name": ids, "cls": "E"}).to_csv(tmp_path / "noid.csv", index=False)
    pd.DataFrame({"root_id": [*ids[:-1], None], "cls": "E"}).to_csv(tmp_path / "nanid.csv")
    pd.DataFrame({"root_id": ids[:1], "cls": "E"}).to_csv(tmp_path / "one.csv", index=False)
    with duckdb.connect(str(tmp_path / "two.duckdb")) as con:
        con.register("frame", dump.frame())
        con.execute("CREATE TABLE a AS SELECT * FROM frame")
        con.execute("CREATE TABLE b AS SELECT * FROM frame")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


C = "c/circuit_config.json"
PAR = ("parameterize", C, "--by", "synapse_class")
NET = ("circuit", "--source", "voxels.parquet", "--resolution", "4", "4", "40", "--output", "net")

CASES = [
    # (argv, exit code, text the one-line error must contain)
    (("fetch", "²", "--output", "a.parquet"), 2, "'²' is not an integer id"),
    (("fetch", "-5", "--output", "a.parquet"), 2, "'-5'"),
    (("fetch", "1", "--output", "a.txt"), 2, "--output a.txt: unknown table format"),
    (("fetch", "1", "--output", "a.parquet", "--min-score", "nan"), 2, "--min-score"),
    (("fetch", "1", "--output", "a.parquet", "--min-score", "high"), 2, "--min-score"),
    (("fetch", "1", "--output", "a.parquet", "--batch-size", "0"), 2, "--batch-size"),
    (("fetch", "1", "--output", "a.parquet", "--batch-size", "1e3"), 2, "--batch-size"),
    (("fetch", "1", "--output", "a.parquet", "--materialization", "-3"), 2, "--materialization"),
    (("fetch", "1", "--output", "a.parquet", "--source", "typo"), 2, "--source typo"),
    (("fetch", "1", "--output", "a.parquet", "--source", "latin1.json"), 1, "latin1.json"),
    (("fetch", "1", "--output", "a.parquet", "--source", "deep.json"), 1, "nested too deeply"),
    (("fetch", "1", "--output", "a.parquet", "--source", C), 2, "--population"),
    (("fetch", "1", "--output", "a.parquet", "--source", C, "--population", "x"), 2,
     "--population x: no such edge population"),
    (("fetch", "1", "--output", "nodir/a.parquet"), 2, "--output nodir/a.parquet: the folder"),
    (("fetch", "1", "--output", "exists"), 2, "unknown table format"),
    (("fetch", "1", "--output", "a.parquet", "--no-pre", "--no-post"), 2, "--no-pre and --no-post"),
    (("fetch", "1", "--output", "a.parquet", "--bogus"), 2, "unrecognized arguments: --bogus"),
    (("fetch", "1", "--output", "a.parquet"), 1, "no synapses found"),
    (("fetch", "1", "--output", "a.parquet", "--source", "voxels.parquet"), 2,
     "--source voxels.parquet: positions are in CAVE layout, usually voxels; give their size in "
     "nm with --resolution"),
    (("fetch", "1", "--output", "a.parquet", "--source", "voxels.parquet", "--resolution", "4",
      "40"), 2, "--resolution 4 40: give one size"),
    (("fetch", "1", "--output", "a.parquet", "--source", "voxels.parquet", "--resolution", "1",
      "2", "3", "4"), 2, "--resolution 1 2 3 4: give one size"),
    (("fetch", "1", "--output", "a.parquet", "--resolution", "0"), 2,
     "argument --resolution: '0' is not a positive finite number"),
    (("fetch", "1", "--output", "a.parquet", "--resolution", "-4"), 2, "--resolution"),
    (("fetch", "1", "--output", "a.parquet", "--resolution", "inf"), 2, "--resolution"),
    (("fetch", "1", "--output", "a.parquet", "--resolution", "nan"), 2, "--resolution"),
    (("fetch", "1", "--output", "a.parquet", "--resolution", "4nm"), 2, "--resolution"),
    (("fetch", "1", "--output", "a.parquet", "--resolution"), 2,
     "argument --resolution: expected at least one argument"),
    (("fetch", "1", "--output", "a.parquet", "--resolution", "4"), 2,
     "--resolution applies to a local dump given with --source"),
    (("fetch", "1", "--output", "a.parquet", "--source", "flywire_fafb_public", "--resolution",
      "4"), 2, "--resolution applies to a local dump given with --source; --source "
     "flywire_fafb_public is no file"),
    (("fetch", "1", "--output", "a.parquet", "--source", C, "--population", LOCAL,
      "--resolution", "4"), 2, "; --source c/circuit_config.json is a SONATA circuit"),
    (("circuit", "--source", "voxels.parquet", "--output", "net"), 2,
     "--source voxels.parquet: positions are in CAVE layout"),
    (("circuit", "--source", "voxels.parquet", "--output", "net", "--resolution", "0,4"), 2,
     "argument --resolution: '0,4' is not a positive finite number"),
    (("circuit", "--source", C, "--output", "net"), 2, "reads a local store or dump"),
    ((*NET, "--neurons", "noid.csv"), 2,
     "--neurons noid.csv: no neuron id column among ['name', 'cls']; name it one of root_id"),
    ((*NET, "--neurons", "nanid.csv"), 2, "--neurons nanid.csv column 'root_id': 1 missing"),
    ((*NET, "--neurons", "one.csv"), 1, "presynaptic neuron(s) of the synapses are not in --neurons"),
    ((*NET, "--partition-size", "0"), 2, "argument --partition-size: '0' is not a positive"),
    ((*NET, "--min-score", "nan"), 2, "argument --min-score: 'nan' is not a finite number"),
    ((*NET, "--workers", "-1"), 2, "argument --workers: '-1' is not an integer >= 0"),
    (("fetch", "1", "--output", "a.parquet", "--source", "two.duckdb"), 1,
     "two.duckdb: holds tables ['a', 'b']; choose one with --table"),
    (("fetch", "1", "--output", "a.parquet", "--source", "two.duckdb", "--table", "x"), 1,
     "two.duckdb: --table: no table 'x'; it holds ['a', 'b']"),
    (("fetch", "1", "--output", "a.parquet", "--table", "b"), 2,
     "--table applies to a local dump given with --source"),
    (("fetch", "1", "--output", "a.parquet", "--source", "flywire_fafb_public", "--table", "b",
      "--resolution", "4"), 2, "--resolution and --table apply to a local dump"),
    (("fetch", "1", "--output", "a.parquet", "--source", C, "--population", LOCAL,
      "--unfiltered"), 1, "cannot answer this query: --unfiltered: a SONATA circuit holds one"),
    (("fetch", "1", "--output", "a.parquet", "--source", "voxels.parquet", "--resolution", "4",
      "--materialization", "3"), 1, "does not record its version; pass --materialization 'auto' "
     "or declare it (LocalStore(..., materialization=...))"),
    ((*PAR, "--stats", "empty.json", "--inplace", "--workers", "-1"), 2, "--workers"),
    ((*PAR, "--stats", "nope.json", "--inplace"), 2, "--stats nope.json: no such file"),
    ((*PAR, "--stats", "latin1.json", "--inplace"), 1, "latin1.json"),
    ((*PAR, "--stats", "deep.json", "--inplace"), 1, "deep.json"),
    ((*PAR, "--stats", "empty.json", "--inplace"), 1, "empty.json"),
    ((*PAR, "--stats", "empty.json", "--inplace", "--chunk-size", "-1"), 2, "--chunk-size"),
    ((*PAR, "--stats", "empty.json", "--inplace", "--chunk-size", "0"), 2, "--chunk-size"),
    ((*PAR, "--stats", "empty.json", "--inplace", "--seed", "-1"), 2, "--seed"),
    ((*PAR, "--stats", "empty.json", "--inplace", "--seed", "x"), 2, "--seed"),
    ((*PAR, "--stats", "empty.json", "--inplace", "--populations", "nope"), 2,
     "--populations nope: no such edge population"),
    ((*PAR, "--stats", "empty.json"), 2, "one of the arguments --output --inplace"),
    ((*PAR, "--stats", "empty.json", "--inplace", "--output", "o"), 2, "not allowed with"),
    (("parameterize", "latin1.json", "--by", "x", "--stats", "empty.json", "--inplace"), 1,
     "latin1.json"),
    (("parameterize", "c", "--by", "x", "--stats", "empty.json", "--inplace"), 1,
     "is a directory"),
    (("parameterize", "nope.json", "--by", "x", "--stats", "empty.json", "--inplace"), 2,
     "CIRCUIT_CONFIG nope.json"),
    (("fit-stats", C, "--by", "synapse_class", "--properties", "nope", "--output", "s.json"), 2,
     "--properties nope"),
    (("fit-stats", C, "--by", "synapse_class", "--properties", "u_syn", "--output",
      "nodir/s.json"), 2, "--output nodir/s.json"),
    (("fit-stats", C, "--by", "synapse_class", "--properties", "u_syn", "--output", "s.json",
      "--min-connections", "-1"), 2, "--min-connections"),
    (("fit-stats", C, "--by", "synapse_class", "--properties", "u_syn", "--output", "s.json",
      "--populations", "nope"), 2, "--populations nope"),
    (("fit-stats", C, "--by", "synapse_class", "--properties", "u_syn", "--output", "s.json",
      "--distributions", "u_syn"), 2, "--distributions u_syn: give PROPERTY=TYPE"),
    (("fit-stats", C, "--by", "nope", "--properties", "u_syn", "--output", "s.json"), 2,
     "--by nope"),
    (("synaptome", "²", "--output", "s"), 2, "'²'"),
    (("synaptome", ROOT, "--output", "exists"), 2, "--output exists exists; pass --overwrite"),
    (("synaptome", ROOT, "--output", "exists", "--overwrite"), 1, "not a synaptome written by"),
    (("synaptome", ROOT, "--output", "s", "--types", "nope.csv"), 2, "--types nope.csv"),
    (("synaptome", ROOT, "--output", "s", "--types", "latin1.csv"), 2, "--types latin1.csv"),
    (("synaptome", ROOT, "--output", "s", "--types", "one_column.csv"), 2, "--types one_column"),
    (("synaptome", ROOT, "--output", "s", "--types", "dup_types.csv"), 2, "more than once"),
    (("synaptome", ROOT, "--output", "s", "--types", "float_types.csv"), 2, "is not an integer"),
    (("synaptome", ROOT, "--output", "s", "--types", "types.csv", "--by", "cls"), 2,
     "no column 'cls' (--by)"),
    (("synaptome", ROOT, "--output", "s", "--stats", "latin1.json"), 1, "latin1.json"),
    (("synaptome", ROOT, "--output", "s", "--skeleton", "bad.swc"), 2, "--skeleton"),
    (("synaptome", ROOT, "--output", "s", "--skeleton-units", "um"), 2, "--skeleton-units needs"),
    (("synaptome", ROOT, "--output", "s", "--max-distance", "um"), 2,
     "--max-distance 'um' has no number"),
    (("synaptome", ROOT, "--output", "s", "--max-distance", "-1 um"), 2,
     "--max-distance must not be negative"),
    (("synaptome", ROOT, "--output", "s", "--max-distance", "3 kg"), 2, "--max-distance"),
    (("synaptome", ROOT, "--output", "s", "--min-score", "1"), 1,
     "--min-score 1.0 needs a 'cleft_score' column"),
    (("synaptome", ROOT, "--output", "s", "--min-score", "inf"), 2, "--min-score"),
    (("synaptome", ROOT, "--output", "s", "--resolution", "4", "4", "40"), 2,
     "--resolution applies to a local dump given with --source"),
    (("synaptome", 1, "--output", "s", "--source", "voxels.parquet", "--types", "types.csv"), 2,
     "give their size in nm with --resolution"),
    (("synaptome", 12345, "--output", "s", "--skeleton", "bad.swc", "--skeleton-units",
      "banana"), 2, "--skeleton"),
    (("demo", "--max-distance", "um", "--output", "d"), 2, "--max-distance 'um' has no number"),
    (("demo", "--max-distance", "(1 nm", "--output", "d"), 2, "--max-distance"),
    (("demo", "--max-distance", "10 kg", "--output", "d"), 2, "--max-distance"),
    (("demo", "--seed", "1.5", "--output", "d"), 2, "--seed"),
    (("bogus",), 2, "invalid choice: 'bogus'"),
    # an existing output is replaced only with --overwrite; what the command reads, never
    (("fetch", ROOT, "--source", "voxels.parquet", "--resolution", "4", "4", "40",
      "--output", "voxels.parquet"), 2, "--output voxels.parquet is what --source reads"),
    (("fetch", ROOT, "--source", "voxels.parquet", "--resolution", "4", "4", "40",
      "--output", "voxels.parquet", "--overwrite"), 2, "is what --source reads"),
    (("fetch", ROOT, "--output", "types.csv"), 2,
     "--output types.csv exists; pass --overwrite to replace it"),
    (("fit-stats", C, "--by", "synapse_class", "--properties", "conductance", "--output", C,
      "--overwrite"), 2, f"--output {C} is what CIRCUIT_CONFIG reads"),
    (("fit-stats", C, "--by", "synapse_class", "--properties", "conductance", "--output",
      "types.csv"), 2, "--output types.csv exists; pass --overwrite"),
]  # fmt: skip


@pytest.mark.parametrize("argv, code, message", CASES, ids=lambda v: str(v)[:60])
def test_every_error_is_one_line_naming_the_flag(work, capsys, argv, code, message):
    before = snapshot(work)
    got, _out, err = run(capsys, *argv)
    lines = [line for line in err.strip().splitlines() if ": skipping " not in line]
    assert got == code, err
    assert len(lines) == 1, err
    assert message in lines[0], lines[0]
    assert "error" in lines[0] and "Traceback" not in err and "internal error" not in err
    assert snapshot(work) == before  # nothing written, nothing changed


def test_library_messages_over_several_lines_become_one(work, capsys):
    """format_problems messages (one problem a line) are joined: ``header: a; b``."""
    code, _, err = run(
        capsys, "fetch", ROOT, "--output", "a.parquet", "--source", C, "--population", LOCAL,
        "--min-score", "1", "--transmitters",
    )  # fmt: skip
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "cannot answer this query: --min-score: SONATA edges have no cleft scores; " in err
    assert "; --transmitters: SONATA edges carry no transmitter predictions" in err


def test_help_and_version_exit_0_in_process(capsys):
    assert main(["--help"]) == 0
    assert main(["--version"]) == 0
    assert main(["fetch", "--help"]) == 0
    assert "usage" in capsys.readouterr().out


def test_an_interrupted_write_leaves_no_table(work, capsys, monkeypatch):
    import pandas as pd

    def boom(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", boom)
    code, _, err = run(capsys, "fetch", ROOT, "--output", "a.parquet")
    assert code == 1 and "--output a.parquet: cannot write it (No space left on device)" in err
    assert not any(p.name.startswith((".a.parquet", "a.parquet")) for p in work.iterdir())


def test_demo_never_deletes_a_folder_it_did_not_write(work, capsys):
    """demo always overwrites its output: only a synaptome synframe wrote."""
    before = snapshot(work)
    code, _, err = run(capsys, "demo", "--output", "exists")
    assert code == 1 and "not a synaptome written by synframe" in err
    assert len(err.strip().splitlines()) == 1 and snapshot(work) == before


def test_fetch_and_fit_stats_replace_an_output_only_with_overwrite(work, capsys):
    out = work / "types.csv"
    code, _o, err = run(capsys, "fetch", ROOT, "--output", out, "--overwrite")
    assert code == 0, err
    assert len(pd.read_csv(out)) > 2000  # the synapses, no longer the types table
    stats = work / "stats.json"
    argv = ("fit-stats", C, "--by", "synapse_class", "--properties", "conductance", "--output",
            stats)  # fmt: skip
    assert run(capsys, *argv)[0] == 0
    first = stats.read_bytes()
    assert run(capsys, *argv)[0] == 2 and stats.read_bytes() == first
    assert run(capsys, *argv, "--overwrite")[0] == 0


@pytest.mark.parametrize("command", ["fetch", "circuit"])
def test_a_dump_with_uint64_ids_of_2_63_and_more_is_named(work, capsys, command):
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table("voxels.parquet")
    i = table.schema.get_field_index("pre_pt_root_id")
    pre = table.column(i).to_numpy().astype("uint64") + np.uint64(2**63)
    pq.write_table(table.set_column(i, "pre_pt_root_id", pa.array(pre, pa.uint64())), "big.parquet")
    post = table.column("post_pt_root_id")[0].as_py()
    before = snapshot(work)
    argv = {
        "fetch": ("fetch", post, "--source", "big.parquet", "--resolution", 4, 4, 40,
                  "--output", "c2.parquet"),
        "circuit": ("circuit", "--source", "big.parquet", "--resolution", 4, 4, 40,
                    "--output", "cb"),
    }[command]  # fmt: skip
    code, _, err = run(capsys, *argv)
    assert code != 0 and err.count("\n") == 1
    assert "big.parquet" in err and "'pre_pt_root_id' (uint64)" in err and "< 2**63" in err
    assert "internal error" not in err and "not a complete parquet" not in err
    assert snapshot(work) == before


def test_warnings_are_one_line_of_the_command_not_python_source(work, capsys, monkeypatch):
    """A SynframeWarning raised during a command prints as `synframe X: warning: ...`, without
    Python's file:line prefix or the source line."""
    import warnings

    import synframe as sf
    from synframe.cli import _em

    real = _em._fetch

    def warns(args):
        warnings.warn(
            "min_score looks like a fraction\nsecond line", sf.SynframeWarning, stacklevel=1
        )
        return real(args)

    monkeypatch.setattr(_em, "_fetch", warns)
    with warnings.catch_warnings():
        warnings.simplefilter("always")  # pytest runs with -W error
        code, _out, err = run(capsys, "fetch", ROOT, "--output", "w.parquet", "--overwrite")
    assert code == 0, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines == ["synframe fetch: warning: --min-score looks like a fraction second line"]


def test_a_message_about_a_one_word_option_names_its_flag(work, capsys):
    code, _out, err = run(capsys, "demo", "--seed", str(2**70), "--output", "d")
    assert code == 2 and "error: --seed must be an int" in err, err
