"""Synapses per neuron and side: row positions and nm positions, for ``clean`` and ``attach``.

One sort per side; each neuron's rows are a slice of it (no per-synapse Python). The neurons' own
points and KD-trees live in `synframe._neurons`.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from .schemas import SynapseTable

SIDES = ("pre", "post")
_SIDE_COLUMN = {"pre": SynapseTable.pre, "post": SynapseTable.post}
_SIDE_XYZ = {
    "pre": [SynapseTable.pre_x, SynapseTable.pre_y, SynapseTable.pre_z],
    "post": [SynapseTable.post_x, SynapseTable.post_y, SynapseTable.post_z],
}


def side_rows(syn: pd.DataFrame, neuron_ids: np.ndarray) -> Iterator[tuple[int, str, np.ndarray]]:
    """For each neuron (by position in ``neuron_ids``) and side, the row positions of its synapses.

    One sort per side; each neuron's rows are a slice of it (no per-synapse Python).
    """
    for side in SIDES:
        col = syn[_SIDE_COLUMN[side]].to_numpy()
        order = np.argsort(col, kind="stable")
        ordered = col[order]
        left = np.searchsorted(ordered, neuron_ids, side="left")
        right = np.searchsorted(ordered, neuron_ids, side="right")
        for k in range(len(neuron_ids)):
            if right[k] > left[k]:
                yield k, side, order[left[k] : right[k]]


def positions_nm(syn: pd.DataFrame) -> dict[str, np.ndarray]:
    """The (n, 3) nm positions of every row, per side (``{"pre": ..., "post": ...}``)."""
    return {side: syn[_SIDE_XYZ[side]].to_numpy(dtype="float64") for side in SIDES}
