"""Converting CAVE-layout synapse tables (``pre_pt_root_id``, voxel positions …) to the canonical table."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .errors import SchemaError
from .schemas import POSITIONS, SynapseTable

#: CAVE / FlyWire column names → canonical (fafbseg) names
CAVE_NAMES = {
    "pre_pt_root_id": SynapseTable.pre,
    "post_pt_root_id": SynapseTable.post,
    "ach": SynapseTable.acetylcholine,
    "glut": SynapseTable.glutamate,
    "oct": SynapseTable.octopamine,
    "ser": SynapseTable.serotonin,
    "da": SynapseTable.dopamine,
}


def resolution_array(resolution: float | Sequence[float]) -> np.ndarray:
    """nm per voxel along x, y, z."""
    res = np.broadcast_to(np.asarray(resolution, dtype="float64"), (3,)).copy()
    if not np.all(np.isfinite(res)) or np.any(res <= 0):
        raise SchemaError(
            f"voxel resolution must be three positive numbers (nm), got {resolution!r}"
        )
    return res


def from_cave(df: pd.DataFrame, resolution: float | Sequence[float] = (1, 1, 1)) -> pd.DataFrame:
    """A canonical synapse table (nm) from a table in CAVE's layout.

    Positions may be split (``pre_pt_position_x`` …) or list-valued (``pre_pt_position``); they are
    multiplied by ``resolution`` (nm per voxel). Tables already in the canonical layout pass through
    (positions scaled likewise). Columns synframe does not know are kept.
    """
    res = resolution_array(resolution)
    out = df.rename(columns=CAVE_NAMES)
    for side in ("pre", "post"):
        names = [f"{side}_{a}" for a in "xyz"]
        split = [f"{side}_pt_position_{a}" for a in "xyz"]
        listed = f"{side}_pt_position"
        if all(c in out for c in split):
            xyz = out[split].to_numpy(dtype="float64")
            out = out.drop(columns=split)
        elif listed in out:
            xyz = (
                np.stack(out[listed].to_numpy()).astype("float64") if len(out) else np.empty((0, 3))
            )
            out = out.drop(columns=listed)
        elif all(c in out for c in names):
            xyz = out[names].to_numpy(dtype="float64")
        else:
            raise SchemaError(
                f"no {side}-synaptic positions: expected {split}, '{listed}' or {names}"
            )
        for i, c in enumerate(names):
            out[c] = xyz[:, i] * res[i]
    drop = [c for c in out.columns if c.startswith("ctr_pt_position")]
    out = out.drop(columns=drop)
    first = [
        c for c in (SynapseTable.id, SynapseTable.pre, SynapseTable.post, *POSITIONS) if c in out
    ]
    return out[first + [c for c in out.columns if c not in first]]
