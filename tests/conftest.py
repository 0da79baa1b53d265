import os
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
