"""hypothesis strategies for synframe tables, so you can property-test your own code on them.

Needs ``hypothesis`` (``pip install synframe[test]``).

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

__all__ = ["neuron_ids", "synapse_tables"]

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
