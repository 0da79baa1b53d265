"""The embedded example store: the default source when none is given.

The data file lives in the ``synframe.datasets`` package folder; it is opened by path so that this
module (below ``datasets`` in the layering) does not import the ``datasets`` package.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from .local import LocalStore

#: the embedded MICrONS example synapses (CAVE layout, 4 x 4 x 40 nm voxels)
EXAMPLE_FILE = Path(__file__).resolve().parents[1] / "datasets" / "microns_v795_synapses.parquet"
EXAMPLE_RESOLUTION = (4.0, 4.0, 40.0)


@lru_cache(maxsize=1)
def example_store() -> LocalStore:
    """The embedded example store (a [`LocalStore`][synframe.sources.local.LocalStore] over the example MICrONS synapses).

    It is the default source of ``sf.fetch``; see [`synframe.datasets.example_store`][synframe.datasets.example_store].
    """
    return LocalStore(
        EXAMPLE_FILE,
        resolution=EXAMPLE_RESOLUTION,
        datastack="minnie65_public",
        materialization=795,
        table="synapses_pni_2",
    )
