"""synframe: EM synapse tables to simulation-ready synaptomes, inside pandas, xarray and navis.

Importing synframe registers the ``.syn`` accessors on ``pandas.DataFrame`` and
``navis.NeuronList``.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from . import datasets, sources
from .annotate import annotate
from .connectivity import connectivity
from .fetch import fetch
from .sources import set_default_source
from .accessors import register as _register
from .clean import clean
from .errors import (
    AccessorError,
    FetchError,
    PathwayError,
    SchemaError,
    SourceError,
    SynframeError,
    UnitsError,
)
from .schemas import (
    CleanSynapses,
    Connectors,
    ParameterizedSynapses,
    SynapseTable,
    validate,
    validate_connectors,
)

try:
    __version__ = version("synframe")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "AccessorError",
    "CleanSynapses",
    "Connectors",
    "FetchError",
    "ParameterizedSynapses",
    "PathwayError",
    "SchemaError",
    "SourceError",
    "SynapseTable",
    "SynframeError",
    "UnitsError",
    "annotate",
    "clean",
    "connectivity",
    "datasets",
    "fetch",
    "set_default_source",
    "sources",
    "validate",
    "validate_connectors",
]

_register()
