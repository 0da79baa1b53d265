"""The command line, through the installed console script."""

import shutil
import subprocess
import sys

import pytest


def _synframe(*args):
    exe = shutil.which("synframe")
    cmd = [exe, *args] if exe else [sys.executable, "-m", "synframe", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def test_demo_runs_and_summarizes():
    res = _synframe("demo")
    assert res.returncode == 0, res.stderr
    assert "2424 synapses (259 outputs, 2165 inputs)" in res.stdout
    assert "too far 0" in res.stdout


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
