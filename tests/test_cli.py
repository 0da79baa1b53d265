"""The command line, through the installed console script."""

import shutil
import subprocess
import sys

import pytest


def _synframe(*args):
    exe = shutil.which("synframe")
    cmd = [exe, *args] if exe else [sys.executable, "-m", "synframe", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def test_demo_runs_the_pipeline():
    res = _synframe("demo")
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "2424 synapses (259 outputs, 2165 inputs)" in out
    assert "too far 0" in out
    assert "2424 connectors on 5830 skeleton nodes" in out
    assert "conductance <gamma>; syn_type_id <constant (int)>" in out
    inh = next(line for line in out.splitlines() if "from inhibitory_neuron" in line)
    assert float(inh.split("conductance")[1].split("±")[0]) > 1.5  # inhibitory mean 2.0


def test_demo_seed_changes_values():
    a, b = _synframe("demo", "--seed", "1"), _synframe("demo", "--seed", "2")
    assert a.returncode == b.returncode == 0
    assert a.stdout != b.stdout


def test_demo_threshold_changes_result():
    res = _synframe("demo", "--max-distance", "1 um")
    assert res.returncode == 0, res.stderr
    assert "too far 0" not in res.stdout


@pytest.mark.parametrize(
    "bad", [["demo", "--max-distance", "-3 um"], ["demo", "--max-distance", "3 kg"]]
)
def test_bad_arguments_exit_2_with_a_message(bad):
    res = _synframe(*bad)
    assert res.returncode == 2
    assert "max_distance" in res.stderr and "Traceback" not in res.stderr


def test_help():
    res = _synframe("--help")
    assert res.returncode == 0 and "demo" in res.stdout
