"""Provenance of drawn values: which synframe, seed, model and pathway property made them.

Recorded in a parameterized table's ``attrs["history"]`` and in every SONATA edge population that
``parameterize_circuit`` writes (an HDF5 attribute ``synframe_provenance`` on ``/edges/<pop>``, and
the ``synframe`` entry of a new circuit's ``circuit_config.json``), so that a result can be traced
to its inputs and repeated.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime

import xarray as xr

from .pathways import _plain, to_dict

__all__ = ["record", "stats_sha256"]


def stats_sha256(stats: xr.DataArray) -> str:
    """SHA-256 of the model's canonical JSON (sorted keys): equal models, equal hashes."""
    text = json.dumps(_plain(to_dict(stats)), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def record(
    stats: xr.DataArray, *, seed: int, by: str, properties: Sequence[str], timestamp: bool = False
) -> dict:
    """What made a set of drawn values (JSON-serializable); with the time when ``timestamp``."""
    from . import __version__

    out = {
        "synframe_version": __version__,
        "seed": int(seed),
        "by": by,
        "properties": [str(p) for p in properties],
        "stats_sha256": stats_sha256(stats),
    }
    if timestamp:
        out["time"] = datetime.now(UTC).isoformat(timespec="seconds")
    if stats.attrs.get("file"):
        out["stats_file"] = stats.attrs["file"]
        out["stats_file_sha256"] = stats.attrs.get("file_sha256")
    return out
