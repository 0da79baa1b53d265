"""SIGINT / SIGTERM in the middle of a CLI write (#12, #13): the staged output is removed, what was
at ``--output`` before is still there, the exit code is 128 + the signal and stderr says so in one
line.

Deterministic, no sleeps that race: a driver script wraps one step of the write so that, once that
step has written its part into the staging directory, it writes a marker file and stalls; the test
waits for the marker, then sends the signal to a process that is certainly mid-write.
"""

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import synframe as sf
from conftest import DATA, ROOT

DRIVER = """
import importlib, sys, time
from pathlib import Path

module, name, marker, *argv = sys.argv[1:]
owner = importlib.import_module(module)
*parents, last = name.split(".")
for part in parents:
    owner = getattr(owner, part)
original = getattr(owner, last)


def stalled(*args, **kwargs):
    result = original(*args, **kwargs)
    Path(marker).write_text("written")
    while True:  # the signal ends this
        time.sleep(0.05)


setattr(owner, last, stalled)
from synframe.cli import main

sys.exit(main(argv))
"""

OBI = DATA / "sonata" / "obi_nbS1_O1_E2Sst_L5"


def snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else ""
        for p in sorted(root.rglob("*"))
    }


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A voxel dump, a circuit and stats for the commands that write."""
    from synframe.synthetic import SyntheticDump

    root = tmp_path_factory.mktemp("inputs")
    SyntheticDump(3_000, n_neurons=40, seed=5).write_parquet(root / "dump.parquet")
    shutil.copytree(OBI, root / "c")
    model = sf.pathway_stats({"g": {"*": {"*": {"type": "gamma", "mean": 1.0, "std": 0.5}}}})
    with pytest.warns(sf.SynframeWarning, match="only '\\*' wildcard types"):
        sf.save_pathway_stats(model, root / "stats.json")  # the CLI draws it; CM could not
    return root


def commands(inputs: Path) -> dict[str, tuple[str, str, list[str]]]:
    """command -> (module, attribute stalled after it wrote, argv); output is ``out``."""
    return {
        "synaptome": ("synframe.sonata.synaptome", "write_edges",
                      ["synaptome", str(ROOT), "--output", "out", "--seed", "1"]),
        "circuit": ("synframe.sonata._network_files", "network_config",
                    ["circuit", "--source", str(inputs / "dump.parquet"), "--resolution", "4",
                     "4", "40", "--output", "out"]),
        "parameterize": ("synframe.sonata.circuit", "write_config",
                         ["parameterize", str(inputs / "c" / "circuit_config.json"), "--stats",
                          str(inputs / "stats.json"), "--by", "synapse_class", "--seed", "1",
                          "--output", "out"]),
        "fetch": ("pandas.core.frame", "DataFrame.to_parquet",
                  ["fetch", str(ROOT), "--output", "out.parquet"]),
    }  # fmt: skip


def _as_from_a_terminal() -> None:
    """The child starts with default SIGINT/SIGTERM handling, as a command typed in a terminal:
    run in the background (CI scripts, nohup) the test process may ignore SIGINT, and a child
    inherits that (the CLI then rightly keeps ignoring it; see the nohup test below)."""
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, signal.SIG_DFL)


def interrupt(work: Path, module: str, name: str, argv: list[str], signum: int, *, nohup=False):
    (work / "driver.py").write_text(DRIVER)
    marker = work.parent / f"{work.name}.marker"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    env.pop("SYNFRAME_TRACEBACK", None)
    proc = subprocess.Popen(
        [sys.executable, "driver.py", module, name, str(marker), *argv],
        cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        preexec_fn=_ignore_sigint if nohup else _as_from_a_terminal,
    )  # fmt: skip
    deadline = time.monotonic() + 240
    while not marker.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"the write never reached its stalled step:\n{out}\n{err}")
        time.sleep(0.05)
    try:
        return _after_signal(proc, signum, nohup)
    finally:  # whatever happened, no child outlives the test (nor its open pipes)
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _after_signal(proc: subprocess.Popen, signum: int, nohup: bool):
    proc.send_signal(signum)
    if nohup:  # an ignored SIGINT changes nothing: let the write go on, then end it
        try:
            out, err = proc.communicate(timeout=3)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=120)
            return "still running after SIGINT", out, err
        return proc.returncode, out, err
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def _ignore_sigint() -> None:
    _as_from_a_terminal()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as `nohup cmd &` starts it


CASES = [
    ("synaptome", signal.SIGTERM),
    ("synaptome", signal.SIGINT),
    ("parameterize", signal.SIGTERM),
    ("parameterize", signal.SIGINT),
    ("circuit", signal.SIGTERM),
    ("fetch", signal.SIGTERM),
]


@pytest.mark.parametrize(
    "command, signum", CASES, ids=[f"{c}-{signal.Signals(s).name}" for c, s in CASES]
)
def test_a_signal_mid_write_leaves_no_half_written_output(inputs, tmp_path, command, signum):
    work = tmp_path / "work"
    work.mkdir()
    module, name, argv = commands(inputs)[command]
    (work / "driver.py").write_text(DRIVER)
    before = snapshot(work)
    code, _out, err = interrupt(work, module, name, argv, signum)
    assert code == 128 + signum, err
    lines = err.strip().splitlines()
    assert lines[-1] == (
        f"synframe {command}: interrupted by {signal.Signals(signum).name}; no half-written "
        "output left"
    ), err
    assert "Traceback" not in err
    assert snapshot(work) == before  # no output, no staging directory, no temporary file
    assert snapshot(inputs / "c") == snapshot(OBI)  # the input circuit untouched


def test_a_signal_mid_overwrite_keeps_the_old_synaptome(tmp_path):
    """``--overwrite``: until the new synaptome is complete, the old one stays, byte for byte."""
    from synframe.cli import main

    work = tmp_path / "work"
    work.mkdir()
    assert main(["synaptome", str(ROOT), "--output", str(work / "out"), "--seed", "2"]) == 0
    (work / "driver.py").write_text(DRIVER)
    before = snapshot(work)
    argv = ["synaptome", str(ROOT), "--output", "out", "--seed", "3", "--overwrite"]
    code, _out, err = interrupt(
        work, "synframe.sonata.synaptome", "write_edges", argv, signal.SIGTERM
    )
    assert code == 143 and "interrupted by SIGTERM" in err
    assert snapshot(work) == before
    assert len(sf.read_edges(work / "out" / "circuit_config.json")) > 0


def test_a_command_started_with_sigint_ignored_keeps_ignoring_it(inputs, tmp_path):
    """`nohup synframe ... &` ignores SIGINT (the shell's ^C is not for it); SIGTERM still ends it
    cleanly."""
    work = tmp_path / "work"
    work.mkdir()
    module, name, argv = commands(inputs)["synaptome"]
    (work / "driver.py").write_text(DRIVER)
    before = snapshot(work)
    code, _out, err = interrupt(work, module, name, argv, signal.SIGINT, nohup=True)
    assert code == "still running after SIGINT", err
    assert (
        err.strip().splitlines()[-1].endswith("interrupted by SIGTERM; no half-written output left")
    )
    assert snapshot(work) == before


SWALLOWER = """
import os, signal, time
try:  # as trimesh guards its optional imports: a KeyboardInterrupt raised in here is lost
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.5)
except BaseException:
    pass
"""

SWALLOW_DRIVER = """
import sys
sys.path.insert(0, ".")
from synframe import cli
cli.HEAVY_IMPORTS["demo"] = ("swallower",)
sys.exit(cli.main(["demo", "--output", "out"]))
"""


def test_a_signal_during_a_library_import_that_swallows_it_still_interrupts(tmp_path):
    """^C while navis (trimesh) is being imported: held back until the import is done, then it
    interrupts the command (it was lost: the demo ran on and wrote its output)."""
    (tmp_path / "swallower.py").write_text(SWALLOWER)
    (tmp_path / "driver.py").write_text(SWALLOW_DRIVER)
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    env.pop("SYNFRAME_TRACEBACK", None)
    proc = subprocess.run(
        [sys.executable, "driver.py"], cwd=tmp_path, capture_output=True, text=True, env=env,
        preexec_fn=_as_from_a_terminal, timeout=240,
    )  # fmt: skip
    assert proc.returncode == 128 + signal.SIGINT, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        "synframe demo: interrupted by SIGINT; no half-written output left"
    )
    assert not (tmp_path / "out").exists()
