"""synframe: EM synapse tables to simulation-ready synaptomes, inside pandas, xarray and navis.

Importing synframe registers the ``.syn`` accessors on ``pandas.DataFrame`` and
``navis.NeuronList``.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from . import dask, datasets, sources
from .accessors import register as _register
from .annotate import annotate
from .attach import attach, clean_connectors, connectors_to_table
from .clean import clean
from .connectivity import connectivity
from .errors import (
    AccessorError,
    FetchError,
    PathwayError,
    SchemaError,
    SourceError,
    SynframeError,
    UnitsError,
)
from .fetch import fetch
from .fit import fit_pathway_stats
from .parameterize import parameterize, parameterize_connectors
from .pathways import (
    check_pathway_stats,
    load_pathway_stats,
    pathway_stats,
    pathway_stats_from_dict,
    sample_pathway,
    save_pathway_stats,
    stats_kinds,
    stats_param,
    stats_summary,
    stats_to_dict,
)
from .schemas import (
    CleanSynapses,
    Connectors,
    ParameterizedSynapses,
    SynapseTable,
    validate,
    validate_connectors,
)
from .sonata import iter_edges, parameterize_circuit, read_edges, write_synaptome
from .sources import set_default_source

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
    "attach",
    "check_pathway_stats",
    "clean",
    "clean_connectors",
    "connectivity",
    "connectors_to_table",
    "dask",
    "datasets",
    "fetch",
    "fit_pathway_stats",
    "iter_edges",
    "load_pathway_stats",
    "parameterize",
    "parameterize_circuit",
    "parameterize_connectors",
    "pathway_stats",
    "pathway_stats_from_dict",
    "read_edges",
    "sample_pathway",
    "save_pathway_stats",
    "set_default_source",
    "sources",
    "stats_kinds",
    "stats_param",
    "stats_summary",
    "stats_to_dict",
    "validate",
    "validate_connectors",
    "write_synaptome",
]

_register()
