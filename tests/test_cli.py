"""The command line, through the installed console script."""

import argparse
import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import synframe as sf
from conftest import DATA, ROOT


def _synframe(*args):
    exe = shutil.which("synframe")
    cmd = [exe, *args] if exe else [sys.executable, "-m", "synframe", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def test_demo_runs_the_pipeline(tmp_path):
    res = _synframe("demo", "--output", str(tmp_path / "demo"))
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "2424 synapses (259 outputs, 2165 inputs)" in out
    assert "too far 0" in out
    assert "2424 connectors on 5830 skeleton nodes" in out
    assert "conductance <gamma>; syn_type_id <constant (int)>" in out
    inh = next(line for line in out.splitlines() if "from inhibitory_neuron" in line)
    assert float(inh.split("conductance")[1].split("±")[0]) > 1.5  # inhibitory mean 2.0
    assert str(tmp_path / "demo" / "circuit_config.json") in out
    assert len(sf.read_edges(tmp_path / "demo" / "circuit_config.json")) == 2165


def test_demo_seed_changes_values(tmp_path):
    a = _synframe("demo", "--seed", "1", "--output", str(tmp_path / "a"))
    b = _synframe("demo", "--seed", "2", "--output", str(tmp_path / "b"))
    assert a.returncode == b.returncode == 0
    assert a.stdout != b.stdout


def test_demo_threshold_changes_result(tmp_path):
    res = _synframe("demo", "--max-distance", "1 um", "--output", str(tmp_path / "demo"))
    assert res.returncode == 0, res.stderr
    assert "too far 0" not in res.stdout


@pytest.mark.parametrize(
    "bad", [["demo", "--max-distance", "-3 um"], ["demo", "--max-distance", "3 kg"]]
)
def test_bad_arguments_exit_2_with_a_message(bad, tmp_path):
    res = _synframe(*bad, "--output", str(tmp_path / "d"))
    assert res.returncode == 2
    assert "--max-distance" in res.stderr and "Traceback" not in res.stderr


@pytest.fixture
def circuit(tmp_path):
    dst = tmp_path / "circuit"
    shutil.copytree(DATA / "sonata" / "obi_nbS1_O1_E2Sst_L5", dst)
    return dst / "circuit_config.json"


def test_parameterize_fit_stats_round_trip(circuit, tmp_path):
    res = _synframe("fit-stats", str(circuit), "--pathway-property", "synapse_class", "--properties", "conductance",
                    "u_syn", "--distributions", "conductance=gamma", "u_syn=truncnorm", "--min-connections", "1",
                    "--output", str(tmp_path / "stats.json"))  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "conductance <gamma>; u_syn <truncnorm>" in " ".join(res.stdout.split())
    before = (
        circuit.parent / "external_S1nonbarrel_neurons__S1nonbarrel_neurons__chemical.h5"
    ).read_bytes()
    res = _synframe("parameterize", str(circuit), "--stats", str(tmp_path / "stats.json"), "--pathway-property",
                    "synapse_class", "--seed", "1", "--output", str(tmp_path / "out"))  # fmt: skip
    assert res.returncode == 1 and "pass --overwrite to redraw" in res.stderr  # properties exist
    res = _synframe("parameterize", str(circuit), "--stats", str(tmp_path / "stats.json"), "--pathway-property",
                    "synapse_class", "--seed", "1", "--output", str(tmp_path / "out"), "--overwrite-if-exists",
                    "-v")  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "Re-parameterizing synapses" in res.stderr
    out = Path(res.stdout.strip().splitlines()[-1])
    assert out == tmp_path / "out" / "circuit_config.json"
    ext = sf.read_edges(out, "external_S1nonbarrel_neurons__S1nonbarrel_neurons__chemical")
    assert ext["u_syn"].between(0, 1).all()
    assert (
        circuit.parent / "external_S1nonbarrel_neurons__S1nonbarrel_neurons__chemical.h5"
    ).read_bytes() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [
                "parameterize",
                "nope.json",
                "--stats",
                "s.json",
                "--pathway-property",
                "x",
                "--inplace",
            ],
            "CIRCUIT_CONFIG nope.json: no such file",
        ),
        (
            [
                "parameterize",
                "{circuit}",
                "--stats",
                "missing.json",
                "--pathway-property",
                "x",
                "--inplace",
            ],
            "--stats missing.json: no such file",
        ),
        (
            ["parameterize", "{circuit}", "--stats", "s.json", "--pathway-property", "x"],
            "one of the arguments",
        ),
        (["fetch", "1.5", "--output", "x.parquet"], "not an integer id"),
        (["fetch", "1", "--output", "x.xlsx"], "--output x.xlsx: unknown table format"),
        (["fetch", "1", "--output", "x.csv", "--population", "p"], "--population needs --source"),
        (["bogus"], "invalid choice"),
    ],
)
def test_bad_arguments_everywhere(args, message, circuit, tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    res = _synframe(*[a.replace("{circuit}", str(circuit)) for a in args])
    assert res.returncode == 2, res.stdout
    assert message in res.stderr and "Traceback" not in res.stderr
    assert not list(work.iterdir())  # nothing written


def test_a_failing_command_exits_1_with_one_line(tmp_path):
    res = _synframe("synaptome", "12345", "--output", str(tmp_path / "out"))
    assert res.returncode == 1
    assert "no synapses onto" in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_fetch_and_synaptome(tmp_path):
    res = _synframe("fetch", str(ROOT), "--no-pre", "--output", str(tmp_path / "syn.parquet"))
    assert res.returncode == 0, res.stderr
    syn = pd.read_parquet(tmp_path / "syn.parquet")
    assert len(syn) == 2165 and syn["pre"].dtype == "int64"
    res = _synframe("synaptome", str(ROOT), "--output", str(tmp_path / "s"), "--seed", "4")
    assert res.returncode == 0, res.stderr
    back = sf.read_edges(tmp_path / "s" / "circuit_config.json")
    assert len(back) == 2165 and {"conductance", "syn_type_id", "pre_synapse_class"} <= set(
        back.columns
    )


def test_help():
    res = _synframe("--help")
    assert res.returncode == 0 and "demo" in res.stdout


def test_version_and_bare_command():
    res = _synframe("--version")
    assert res.returncode == 0 and res.stdout.strip() == f"synframe {sf.__version__}"
    res = _synframe()
    assert res.returncode == 0 and "usage: synframe" in res.stdout and "fetch" in res.stdout


def _commands():
    from synframe.cli import _subparser, build_parser

    parser = build_parser()
    names = next(a for a in parser._actions if a.dest == "command").choices
    return {name: _subparser(parser, name) for name in names}


@pytest.mark.parametrize("command", sorted(_commands()))
def test_every_option_has_help_and_shows_its_default(command):
    sub = _commands()[command]
    text = sub.format_help()
    for action in sub._actions:
        assert action.help, f"{command} {action.option_strings or action.dest} has no help"
        optional = action.option_strings and not action.required
        if optional and action.default is not argparse.SUPPRESS and action.dest != "help":
            shown = f"(default: {action.default}" if "(default" not in action.help else "(default"
            assert shown in " ".join(text.split()), (command, action.dest)


@pytest.mark.parametrize("suffix", [".parquet", ".feather", ".csv", ".csv.gz"])
def test_fetch_writes_the_format_its_suffix_names(tmp_path, suffix):
    out = tmp_path / f"syn{suffix}"
    res = _synframe("fetch", str(ROOT), "--output", str(out))
    assert res.returncode == 0, res.stderr
    read = {".parquet": pd.read_parquet, ".feather": pd.read_feather}.get(suffix, pd.read_csv)
    back = read(out)
    ref = sf.datasets.example_synapses()
    assert back["pre"].dtype == "int64" and back["id"].tolist() == ref["id"].tolist()
    assert back["post"].tolist() == ref["post"].tolist()  # 64-bit ids exact, csv included
    if suffix == ".parquet":
        assert out.read_bytes()[:4] == b"PAR1"


def test_fetch_finding_nothing_fails_unless_allowed(tmp_path):
    out = tmp_path / "none.parquet"
    res = _synframe("fetch", "12345", "--output", str(out))
    assert res.returncode == 1 and "no synapses found" in res.stderr and not out.exists()
    res = _synframe("fetch", "12345", "--output", str(out), "--allow-empty")
    assert res.returncode == 0 and len(pd.read_parquet(out)) == 0


def test_fetch_from_a_circuit_with_several_populations_needs_population(circuit, tmp_path):
    out = tmp_path / "syn.parquet"
    res = _synframe("fetch", "0", "--source", str(circuit), "--output", str(out))
    assert res.returncode == 2 and "--population" in res.stderr and "Traceback" not in res.stderr
    assert "VPM__S1nonbarrel_neurons__chemical" in res.stderr  # the choices are listed
    res = _synframe("fetch", "0", "1", "--source", str(circuit), "--population",
                    "S1nonbarrel_neurons__S1nonbarrel_neurons__chemical", "--output", str(out))  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert len(pd.read_parquet(out)) > 0


def test_drawn_seed_is_printed_and_recorded(circuit, tmp_path):
    import json

    import h5py

    stats = tmp_path / "stats.json"
    model = sf.pathway_stats(
        {"g": {"*": {"*": {"type": "gamma", "mean": 1.0, "std": 0.5}}}}, by="synapse_class"
    )
    with pytest.warns(sf.SynframeWarning, match="only '\\*' wildcard types"):
        sf.save_pathway_stats(model, stats)
    res = _synframe("parameterize", str(circuit), "--stats", str(stats), "--by", "synapse_class",
                    "--output", str(tmp_path / "a"))  # fmt: skip
    assert res.returncode == 0, res.stderr
    seed = int(re.search(r"seed (\d+) \(drawn; pass --seed \1 to repeat\)", res.stderr).group(1))
    config = json.loads((tmp_path / "a" / "circuit_config.json").read_text())
    record = config["synframe"]["parameterize_circuit"]
    assert record["seed"] == seed and record["synframe_version"] == sf.__version__
    assert record["stats_file_sha256"] == hashlib.sha256(stats.read_bytes()).hexdigest()
    pop = "S1nonbarrel_neurons__S1nonbarrel_neurons__chemical"
    edges = sf.read_edges(tmp_path / "a" / "circuit_config.json", pop)
    with h5py.File(config_edges_file(tmp_path / "a", pop)) as h5:
        assert json.loads(h5["edges"][pop].attrs["synframe_provenance"])["seed"] == seed
    res = _synframe("parameterize", str(circuit), "--stats", str(stats), "--by", "synapse_class",
                    "--output", str(tmp_path / "b"), "--seed", str(seed))  # fmt: skip
    again = sf.read_edges(tmp_path / "b" / "circuit_config.json", pop)
    assert res.returncode == 0 and "drawn" not in res.stderr
    assert (again["g"].to_numpy() == edges["g"].to_numpy()).all()  # the printed seed repeats it


def config_edges_file(folder: Path, population: str) -> Path:
    import libsonata

    cfg = libsonata.CircuitConfig.from_file(str(folder / "circuit_config.json"))
    return Path(cfg.edge_population_properties(population).elements_path)


def test_stats_that_are_not_json_give_one_line(circuit, tmp_path):
    bad = tmp_path / "x.parquet"
    sf.datasets.example_synapses().to_parquet(bad)
    res = _synframe("parameterize", str(circuit), "--stats", str(bad), "--by", "synapse_class",
                    "--output", str(tmp_path / "out"))  # fmt: skip
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert "not a ConnPropsModel JSON file" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


def test_an_unexpected_error_is_one_line_unless_asked(monkeypatch, capsys):
    from synframe import cli

    def broken(args):
        raise KeyError("boom")

    monkeypatch.setattr(cli._em, "_demo", broken)
    monkeypatch.delenv("SYNFRAME_TRACEBACK", raising=False)
    assert cli.main(["demo"]) == 1
    err = capsys.readouterr().err
    assert "internal error: KeyError" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    monkeypatch.setenv("SYNFRAME_TRACEBACK", "1")
    with pytest.raises(KeyError):
        cli.main(["demo"])


def test_circuit_command_from_a_store(tmp_path):
    from synframe.synthetic import SyntheticDump

    dump = SyntheticDump(20_000, n_neurons=300, seed=2)
    dump.write_parquet(tmp_path / "dump.parquet")
    store = tmp_path / "store"
    sf.sources.LocalStore.build(tmp_path / "dump.parquet", store, resolution=dump.resolution)
    neurons = pd.DataFrame({"root_id": dump.neuron_ids, "synapse_class": "EXC"})
    neurons.to_csv(tmp_path / "neurons.csv", index=False)
    stats = tmp_path / "stats.json"
    with pytest.warns(sf.SynframeWarning, match="only '\\*' wildcard types"):
        sf.save_pathway_stats(
            sf.pathway_stats({"g": {"*": {"*": {"type": "gamma", "mean": 1.0, "std": 0.2}}}}), stats
        )
    res = _synframe("circuit", "--source", str(store), "--output", str(tmp_path / "net"),
                    "--neurons", str(tmp_path / "neurons.csv"), "--stats", str(stats),
                    "--by", "synapse_class", "--seed", "3", "--workers", "2",
                    "--memory-limit", "1GiB")  # fmt: skip
    assert res.returncode == 0, res.stderr
    edges = sf.read_edges(tmp_path / "net" / "circuit_config.json", properties=["g"])
    kept = sf.clean(sf.sources.LocalStore(store).to_dask().compute())  # autapses go
    assert len(edges) == len(kept) > 19_000 and (edges["g"] > 0).all()
    res = _synframe("circuit", "--source", str(store), "--output", str(tmp_path / "one"),
                    "--neurons", str(tmp_path / "neurons.csv"), "--stats", str(stats),
                    "--by", "synapse_class", "--seed", "3")  # fmt: skip
    assert res.returncode == 0, res.stderr
    one = sf.read_edges(tmp_path / "one" / "circuit_config.json", properties=["g"])
    pd.testing.assert_frame_equal(one, edges)  # in-process pandas == 2 dask workers
    res = _synframe("circuit", "--source", str(store), "--output", str(tmp_path / "x"),
                    "--stats", str(stats))  # fmt: skip
    assert res.returncode == 2 and "--stats needs --neurons" in res.stderr


def test_resolution_scales_a_voxel_dump_like_the_python_api(tmp_path, capsys):
    """``--resolution`` is LocalStore(resolution=): one value for x, y, z or three."""
    import numpy as np

    from synframe.cli import main
    from synframe.synthetic import SyntheticDump

    dump = SyntheticDump(3_000, n_neurons=30, seed=4)
    dump.write_parquet(tmp_path / "dump.parquet")
    ids = [str(i) for i in dump.neuron_ids[:3]]
    raw = pd.read_parquet(tmp_path / "dump.parquet").set_index("id")
    for res in (["4", "4", "40"], ["8"], ["0.5", "2", "33.3"]):
        out = tmp_path / f"{'_'.join(res)}.parquet"
        assert main(["fetch", *ids, "--source", str(tmp_path / "dump.parquet"),
                     "--resolution", *res, "--output", str(out)]) == 0  # fmt: skip
        got = pd.read_parquet(out).set_index("id")
        want = sf.fetch(
            [int(i) for i in ids],
            source=sf.sources.LocalStore(
                tmp_path / "dump.parquet", resolution=[float(r) for r in res]
            ),
        ).set_index("id")
        pd.testing.assert_frame_equal(got, want, check_like=True)
        scale = np.broadcast_to([float(r) for r in res], (3,))
        for k, axis in enumerate("xyz"):
            voxels = raw.loc[got.index, f"post_pt_position_{axis}"].to_numpy()
            np.testing.assert_allclose(got[f"post_{axis}"].to_numpy(), voxels * scale[k])
    store = tmp_path / "store"
    sf.sources.LocalStore.build(tmp_path / "dump.parquet", store, resolution=dump.resolution)
    out = tmp_path / "from_store.parquet"
    args = ["fetch", *ids, "--source", str(store), "--output", str(out), "--overwrite"]
    assert main(args) == 0 and main([*args, "--resolution", "4", "4", "40"]) == 0
    pd.testing.assert_frame_equal(
        pd.read_parquet(out).set_index("id"),
        pd.read_parquet(tmp_path / "4_4_40.parquet").set_index("id"),
        check_like=True,
    )
    capsys.readouterr()
    assert main([*args, "--resolution", "1"]) == 2
    assert "--resolution 1: --source" in capsys.readouterr().err


def test_synaptome_max_distance_reaches_clean(tmp_path):
    """``synframe synaptome --max-distance`` is clean(max_distance=): a tighter one keeps fewer."""
    from synframe.cli import main

    counts = {}
    for d in ("10 um", "1 um", "none"):
        out = tmp_path / d.replace(" ", "")
        assert main(["synaptome", str(ROOT), "--output", str(out), "--max-distance", d]) == 0
        counts[d] = len(sf.read_edges(out / "circuit_config.json"))
    neuron = sf.datasets.example_neuron()
    syn = sf.fetch(ROOT)
    for d, n in counts.items():
        want = sf.clean(syn, neurons=neuron, max_distance=None if d == "none" else d)
        assert n == (want.post == ROOT).sum(), d
    assert counts["1 um"] < counts["10 um"] <= counts["none"]


def test_workers_start_while_another_cluster_holds_port_8787(tmp_path, capsys):
    """``--workers``: the local dask cluster takes a free port for its HTTP server, so a cluster
    of another process on 8787 (a shared machine) costs no warning (pytest runs -W error)."""
    import contextlib
    import socket

    from synframe.cli import main
    from synframe.synthetic import SyntheticDump

    dump = SyntheticDump(2_000, n_neurons=30, seed=6)
    dump.write_parquet(tmp_path / "dump.parquet")
    with socket.socket() as held:
        held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        with contextlib.suppress(OSError):  # already held by someone else: just as good
            held.bind(("", 8787))
            held.listen()
        code = main(["circuit", "--source", str(tmp_path / "dump.parquet"), "--resolution", "4",
                     "4", "40", "--output", str(tmp_path / "net"), "--workers", "1",
                     "--memory-limit", "1GiB"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert len(sf.read_edges(tmp_path / "net" / "circuit_config.json")) > 1_900


def test_a_model_fitted_from_a_synaptome_parameterizes_a_synaptome(tmp_path, capsys):
    """A synaptome holds afferent synapses only, so a model fitted from one has pathways onto the
    neuron's class only; `synaptome` draws only what it writes, and the values are those of
    parameterizing the whole table (keyed draws)."""
    from synframe.cli import main

    first = tmp_path / "first"
    assert main(["synaptome", str(ROOT), "--output", str(first), "--seed", "3"]) == 0
    model = tmp_path / "model.json"
    assert main(["fit-stats", str(first / "circuit_config.json"), "--by", "synapse_class",
                 "--properties", "conductance", "--output", str(model)]) == 0  # fmt: skip
    stats = sf.load_pathway_stats(model)
    assert list(stats.tgt.values) != list(stats.src.values)  # onto the neuron's class only
    second = tmp_path / "second"
    capsys.readouterr()
    code = main(["synaptome", str(ROOT), "--stats", str(model), "--output", str(second),
                 "--seed", "5"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    back = sf.read_edges(second / "circuit_config.json").set_index("id").sort_index()
    whole = sf.clean(sf.datasets.example_synapses(), neurons=sf.datasets.example_neuron())
    expected = sf.parameterize(whole[whole.post == ROOT], stats, by="synapse_class",
                               types=sf.datasets.example_synapse_classes(), seed=5)  # fmt: skip
    expected = expected.set_index("id").sort_index()
    assert back.index.equals(expected.index)
    assert (back["conductance"].to_numpy() == expected["conductance"].to_numpy()).all()
