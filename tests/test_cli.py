"""The command line, through the installed console script."""

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
    assert "max_distance" in res.stderr and "Traceback" not in res.stderr


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
    assert res.returncode == 2 and "overwrite" in res.stderr  # properties exist
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
            "does not exist",
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
            "cannot read",
        ),
        (
            ["parameterize", "{circuit}", "--stats", "s.json", "--pathway-property", "x"],
            "one of the arguments",
        ),
        (["fetch", "1.5", "--output", "x.parquet"], "not an integer id"),
        (["synaptome", "12345", "--output", "out"], "no synapses onto"),
        (["bogus"], "invalid choice"),
    ],
)
def test_bad_arguments_everywhere(args, message, circuit, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = _synframe(*[a.replace("{circuit}", str(circuit)) for a in args])
    assert res.returncode == 2, res.stdout
    assert message in res.stderr and "Traceback" not in res.stderr


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
