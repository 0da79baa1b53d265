"""hypothesis strategies for synframe tables, so you can property-test your own code on them.

Needs ``hypothesis`` (``pip install synframe[test]``). The seeded synthetic dump generator,
:class:`~synframe.synthetic.SyntheticDump`, needs only numpy and is re-exported here.

Examples
--------
>>> from hypothesis import given
>>> import synframe as sf
>>> from synframe.testing import synapse_tables
>>> @given(synapse_tables(max_rows=20))
... def test_clean_is_idempotent(syn):
...     once = sf.clean(syn)
...     assert sf.clean(once).equals(once)
>>> test_clean_is_idempotent()
"""

from __future__ import annotations

import numpy as np
import pandas as pd

try:
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - exercised only without the test extra
    raise ImportError(
        "synframe.testing needs hypothesis: pip install 'synframe[test]' (or pip install hypothesis)"
    ) from exc

from .schemas import POSITIONS, SynapseTable
from .synthetic import SyntheticDump

__all__ = [
    "SyntheticDump",
    "distribution_specs",
    "invalid_distribution_specs",
    "neuron_ids",
    "pathway_stats_dicts",
    "synapse_tables",
    "typed_synapse_tables",
]

#: realistic 64-bit ids (FlyWire / MICrONS root ids are ~7.2e17 / ~8.6e17: beyond float64's 2**53)
_ID_BASE = 720575940600000000


def neuron_ids(*, pool: int = 8, background: bool = True) -> st.SearchStrategy[int]:
    """64-bit neuron ids drawn from a small pool (so partners repeat), optionally with 0 (background)."""
    ids = st.integers(min_value=0, max_value=pool - 1).map(lambda i: _ID_BASE + 7919 * i)
    return st.one_of(st.just(0), ids) if background else ids


@st.composite
def synapse_tables(
    draw,
    *,
    min_rows: int = 0,
    max_rows: int = 50,
    pool: int = 8,
    background: bool = True,
    autapses: bool = True,
    duplicates: bool = True,
    scores: bool = True,
    extent_nm: float = 50_000.0,
) -> pd.DataFrame:
    """Canonical synapse tables (:class:`~synframe.schemas.SynapseTable`), positions in nm.

    With the defaults they contain what ``clean`` must remove: background partners (id 0),
    autapses, duplicated synapse ids (same id, possibly different rows) and a ``cleft_score``
    spread over 0–200.
    """
    n = draw(st.integers(min_value=min_rows, max_value=max_rows))
    partner = neuron_ids(pool=pool, background=background)
    pre = draw(st.lists(partner, min_size=n, max_size=n))
    post = draw(st.lists(partner, min_size=n, max_size=n))
    if not autapses:
        post = [q if q != p else p + 1 for p, q in zip(pre, post, strict=True)]
    if duplicates:
        ids = draw(st.lists(st.integers(1, max(1, 2 * n)), min_size=n, max_size=n))
    else:
        ids = draw(st.lists(st.integers(1, 2**40), min_size=n, max_size=n, unique=True))
    coord = st.floats(0, extent_nm, allow_nan=False, allow_infinity=False, width=32)
    xyz = draw(st.lists(st.tuples(*[coord] * 6), min_size=n, max_size=n))
    arr = np.asarray(xyz, dtype="float64").reshape(n, 6)
    df = pd.DataFrame(
        {
            SynapseTable.id: np.asarray(ids, dtype="int64"),
            SynapseTable.pre: np.asarray(pre, dtype="int64"),
            SynapseTable.post: np.asarray(post, dtype="int64"),
        }
    )
    for i, col in enumerate(POSITIONS):
        df[col] = arr[:, i]
    if scores:
        df[SynapseTable.cleft_score] = np.asarray(
            draw(st.lists(st.integers(0, 200), min_size=n, max_size=n)), dtype="int64"
        )
    df.attrs["units"] = "nm"
    return df


# --- distribution specs and pathway statistics -----------------------------------------------------

_finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
_positive = st.floats(0.01, 1e3, allow_nan=False, allow_infinity=False)
_nonneg = st.floats(0.0, 1e3, allow_nan=False, allow_infinity=False)


@st.composite
def distribution_specs(draw, *, types=None, bounds: bool = True) -> dict:
    """Valid ConnPropsModel distribution specs (every type, optional bounds / dtype / shared_within)."""
    from .distributions import DISTRIBUTIONS

    kind = draw(st.sampled_from(sorted(types or DISTRIBUTIONS)))
    spec: dict = {"type": kind}
    if kind == "constant":
        spec["mean"] = draw(_finite)
    elif kind in ("normal", "lognormal"):
        spec["mean"] = draw(_finite if kind == "normal" else st.floats(-3, 3))
        spec["std"] = draw(_nonneg if kind == "normal" else st.floats(0, 1))
    elif kind == "truncnorm":
        lo = draw(_finite)
        spec.update(
            norm_loc=draw(_finite), norm_scale=draw(_nonneg), min=lo, max=lo + draw(_nonneg)
        )
    elif kind == "gamma":
        spec.update(mean=draw(_positive), std=draw(_nonneg))
    elif kind == "poisson":
        spec["mean"] = draw(st.floats(0, 50))
    elif kind == "ztpoisson":
        spec["mean"] = draw(st.floats(1, 50))
    elif kind == "discrete":
        k = draw(st.integers(1, 6))
        val = draw(st.lists(st.integers(-10, 10), min_size=k, max_size=k))
        w = np.asarray(draw(st.lists(st.floats(0.01, 1), min_size=k, max_size=k)))
        spec.update(val=val, p=(w / w.sum()).tolist())
    elif kind == "uniform":
        lo = draw(_finite)
        spec.update(min=lo, max=lo + draw(_nonneg))
    elif kind == "exponential":
        spec["mean"] = draw(_positive)
    if bounds and draw(st.booleans()):
        lo = draw(_finite)
        spec["lower_bound"] = lo
        if draw(st.booleans()):
            spec["upper_bound"] = lo + draw(_nonneg)
    if draw(st.booleans()):
        spec["dtype"] = draw(st.sampled_from(["int", "float"]))
    if draw(st.booleans()):
        spec["shared_within"] = draw(st.sampled_from([True, False, 1.0, 0.0]))
    return spec


@st.composite
def invalid_distribution_specs(draw) -> dict:
    """Specs that ``synframe`` must refuse: unknown types, missing or out-of-range parameters."""
    broken = draw(
        st.sampled_from(
            [
                {"type": "gaussian", "mean": 1.0, "std": 1.0},
                {"type": "gamma", "mean": 1.0},
                {"type": "gamma", "mean": -1.0, "std": 0.5},
                {"type": "gamma", "mean": 1.0, "std": -0.5},
                {"type": "truncnorm", "norm_loc": 0.0, "norm_scale": 1.0, "min": 2.0, "max": 1.0},
                {"type": "discrete", "val": [1, 2], "p": [0.5, 0.6]},
                {"type": "discrete", "val": [1, 2, 3], "p": [0.5, 0.5]},
                {"type": "ztpoisson", "mean": 0.5},
                {"type": "poisson", "mean": -1.0},
                {"type": "normal", "mean": float("nan"), "std": 1.0},
                {"type": "uniform", "min": 3.0, "max": 1.0},
                {"type": "constant", "mean": 1.0, "lower_bound": 2.0, "upper_bound": 1.0},
                {"type": "constant", "mean": 1.0, "shared_within": "yes"},
                {"type": "constant", "mean": 1.0, "dtype": "integer-ish"},
                {"type": "exponential", "mean": 0.0},
                {"mean": 1.0},
            ]
        )
    )
    return dict(broken)


@st.composite
def pathway_stats_dicts(
    draw, *, src_types=("EXC", "INH"), tgt_types=("EXC", "INH"), properties=("g", "u")
) -> dict:
    """ConnPropsModel dicts ``{src_types, tgt_types, prop_stats}`` with valid specs in every cell."""
    return {
        "src_types": list(src_types),
        "tgt_types": list(tgt_types),
        "prop_stats": {
            p: {s: {t: draw(distribution_specs()) for t in tgt_types} for s in src_types}
            for p in properties
        },
    }


@st.composite
def typed_synapse_tables(
    draw, *, by: str = "synapse_class", classes=("EXC", "INH"), **kw
) -> pd.DataFrame:
    """Synapse tables (no autapses, no background, unique ids) with ``pre_<by>`` / ``post_<by>``."""
    df = draw(synapse_tables(background=False, autapses=False, duplicates=False, **kw))
    ids = np.union1d(df["pre"].to_numpy(), df["post"].to_numpy())
    cls = draw(st.lists(st.sampled_from(list(classes)), min_size=len(ids), max_size=len(ids)))
    table = pd.Series(cls, index=ids, dtype=object)
    df[f"pre_{by}"] = table.reindex(df["pre"].to_numpy()).to_numpy()
    df[f"post_{by}"] = table.reindex(df["post"].to_numpy()).to_numpy()
    return df
