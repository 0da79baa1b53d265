import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, settings

import synframe as sf

settings.register_profile(
    "ci",
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=30, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

DATA = Path(__file__).parent / "data"
ROOT = sf.datasets.EXAMPLE_ROOT_ID


@pytest.fixture
def syn() -> pd.DataFrame:
    """The MICrONS example neuron's synapses (canonical, nm)."""
    return sf.datasets.example_synapses()


@pytest.fixture
def neuron():
    """The MICrONS example neuron's skeleton (nm)."""
    return sf.datasets.example_neuron()


def rescaled(neuron, nm_per_unit: float, units: str):
    """The same neuron with coordinates in another unit (``nm_per_unit`` nm per coordinate unit)."""
    out = neuron.copy()
    out.nodes[["x", "y", "z"]] = (
        neuron.nodes[["x", "y", "z"]].to_numpy(dtype="float64") / nm_per_unit
    )
    out.units = units
    return out


def frame_hash(df: pd.DataFrame) -> int:
    return int(pd.util.hash_pandas_object(df, index=True).sum()) ^ hash(tuple(df.columns))


@pytest.fixture
def rng():
    return np.random.default_rng(20261121)


def _git_status() -> str | None:
    """``git status --porcelain`` of the checkout (None outside a git checkout)."""
    import subprocess

    try:
        res = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=all"],
            cwd=Path(__file__).parents[1],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout if res.returncode == 0 else None


def pytest_sessionstart(session):
    if not hasattr(session.config, "workerinput"):  # the controller, not an xdist worker
        session.config._synframe_git_status = _git_status()


def pytest_sessionfinish(session, exitstatus):
    """No test writes into the source tree: the checkout's status is what it was."""
    before = getattr(session.config, "_synframe_git_status", None)
    if before is None or hasattr(session.config, "workerinput"):
        return
    after = _git_status()
    if after is not None and after != before:
        new = sorted(set(after.splitlines()) - set(before.splitlines()))
        session.exitstatus = 1
        print(f"\nthe test suite changed the source tree: {new}", file=sys.stderr)
