"""synframe on dask DataFrames: partition-wise, with the same values as pandas.

Keyed randomness makes ``parameterize`` partition-independent: a synapse's values depend only on
(seed, property, pre, post, synapse id), so parameterizing each partition gives exactly what
parameterizing the whole table in pandas gives. Importing synframe registers
``dask.dataframe.DataFrame.syn`` when dask is installed (``pip install synframe[dask]``).

Examples
--------
>>> import dask.dataframe as dd
>>> import synframe as sf
>>> syn = sf.datasets.example_synapses()
>>> ddf = dd.from_pandas(syn, npartitions=4)
>>> stats = sf.datasets.example_pathway_stats()
>>> classes = sf.datasets.example_synapse_classes()
>>> lazy = ddf.syn.parameterize(stats, by="synapse_class", types=classes, seed=1)
>>> eager = sf.parameterize(syn, stats, by="synapse_class", types=classes, seed=1)
>>> bool((lazy.compute()["conductance"] == eager["conductance"]).all())
True
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import xarray as xr

from . import _draw
from ._validation import validate as _validate
from .parameterize import parameterize as _parameterize

__all__ = ["parameterize", "validate"]


def parameterize(
    ddf,
    stats: xr.DataArray,
    *,
    by: str,
    types=None,
    seed: int | None = None,
    properties: Sequence[str] | None = None,
    overwrite: bool = False,
):
    """:func:`synframe.parameterize` partition by partition (lazy); the seed is fixed once."""
    seed = _draw.resolve_seed(
        seed
    )  # one seed for all partitions (None would draw one per partition)
    props = _draw.select_properties(stats, properties)
    meta = ddf._meta.copy()
    for p in props:
        meta[p] = pd.Series(dtype=_draw.property_dtype(stats, p))
    return ddf.map_partitions(
        _parameterize,
        stats,
        by=by,
        types=types,
        seed=seed,
        properties=props,
        overwrite=overwrite,
        meta=meta,
    )


def validate(ddf, stage="synapses"):
    """:func:`synframe.validate` on every partition (lazy: errors surface at compute time)."""
    return ddf.map_partitions(_validate, stage, meta=ddf._meta)
