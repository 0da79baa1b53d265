"""``connectivity``: synapses to edges ``pre, post, weight`` (fafbseg's ``get_connectivity``, any table)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from .errors import OptionError, SchemaError
from .schemas import SynapseTable

__all__ = ["connectivity"]


def connectivity(
    syn: pd.DataFrame, *, by: str | Sequence[str] | None = None, threshold: int = 1
) -> pd.DataFrame:
    """Count synapses per connection: one row per (pre, post[, by…]) with ``weight``.

    Parameters
    ----------
    syn
        A synapse table.
    by
        Extra columns to split connections by (``"neuropil"``, ``"post_cell_type"`` …).
    threshold
        Keep connections with at least this many synapses.

    Returns
    -------
    pandas.DataFrame
        ``pre, post, [by…], weight``, strongest first.

    Examples
    --------
    >>> import synframe as sf
    >>> edges = sf.connectivity(sf.datasets.example_synapses(), threshold=3)
    >>> list(edges.columns), int(edges.weight.max())
    (['pre', 'post', 'weight'], 7)
    """
    by = [] if by is None else [by] if isinstance(by, str) else list(by)
    keys = [SynapseTable.pre, SynapseTable.post, *by]
    missing = [c for c in keys if c not in syn.columns]
    if missing:
        raise SchemaError(f"connectivity: columns {missing} are not in the synapse table")
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
        raise OptionError(f"threshold must be a positive int, got {threshold!r}")
    edges = (
        syn.groupby(keys, observed=True, dropna=False, sort=False)
        .size()
        .rename("weight")
        .reset_index()
    )
    edges = edges[edges["weight"] >= threshold]
    edges = edges.sort_values(
        ["weight", *keys], ascending=[False] + [True] * len(keys), ignore_index=True
    )
    edges["weight"] = edges["weight"].astype("int64")
    edges.attrs = {k: v for k, v in syn.attrs.items() if k != "history"}
    return edges
