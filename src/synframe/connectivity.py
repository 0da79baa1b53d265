"""``connectivity``: synapses to edges ``pre, post, weight`` (fafbseg's ``get_connectivity``, any table)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
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
    pre = syn[SynapseTable.pre].to_numpy()
    post = syn[SynapseTable.post].to_numpy()
    if not by and len(syn) and pre.dtype == np.int64 and post.dtype == np.int64:
        edges = _count_pairs(pre, post, threshold)
    else:
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


def _count_pairs(pre: np.ndarray, post: np.ndarray, threshold: int) -> pd.DataFrame:
    """``pre, post, weight`` of integer id columns: strongest first, then by pre and post.

    The same table as pandas' group-by, sort by weight and ids, in a third of its time: ids are
    factorized into sorted codes (a hash over few distinct neurons), each (pre, post) pair becomes
    one integer code whose order is (pre, post) order, the codes are sorted in place, and runs of
    equal codes are the connections; a stable sort by descending weight keeps (pre, post) order
    among equal weights.
    """
    pc, pre_ids = pd.factorize(pre, sort=True)
    qc, post_ids = pd.factorize(post, sort=True)
    width = len(post_ids)
    kind = np.uint32 if len(pre_ids) * width <= 2**32 else np.uint64
    key = pc.astype(kind)
    del pc
    key *= kind(width)
    key += qc.astype(kind)
    del qc
    key.sort()
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    weight = np.diff(starts, append=len(key))
    pairs = key[starts]
    del key, starts
    if threshold > 1:
        strong = weight >= threshold
        weight, pairs = weight[strong], pairs[strong]
    small = np.int16 if len(weight) and weight.max() < 2**15 else np.int64  # radix sort
    order = np.argsort(-weight.astype(small), kind="stable")
    pairs = pairs[order]
    out = np.empty((3, len(order)), dtype=np.int64)  # one block: the frame wraps it, no copy
    np.take(pre_ids, pairs // kind(width), out=out[0])
    np.take(post_ids, pairs % kind(width), out=out[1])
    np.take(weight, order, out=out[2])
    return pd.DataFrame(out.T, columns=[SynapseTable.pre, SynapseTable.post, "weight"], copy=False)
