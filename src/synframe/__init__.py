"""synframe: EM synapse tables to simulation-ready synaptomes, inside pandas, xarray and navis.

Importing synframe registers the ``.syn`` accessors on ``pandas.DataFrame``, ``xarray.DataArray``,
``navis.NeuronList`` and ``dask.dataframe.DataFrame`` (now, or as soon as each library is imported).

The top level holds the stage verbs, the schemas, the errors and the modules; everything is loaded
on first use, so ``import synframe`` and the command line start fast.
"""

from __future__ import annotations

import importlib
import sys
import types
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from . import errors
from .accessors import register as _register
from .errors import (
    AccessorError,
    FetchError,
    IdError,
    NeuronTypeError,
    OptionError,
    PathwayError,
    SchemaError,
    SonataError,
    SourceError,
    SynframeError,
    SynframeWarning,
    UnitsError,
)

try:
    __version__ = version("synframe")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

#: public name -> the module that defines it (loaded on first access)
_LAZY = {
    # stage verbs
    "fetch": "fetch",
    "clean": "clean",
    "attach": "attach",
    "connectors_to_table": "attach",
    "annotate": "annotate",
    "connectivity": "connectivity",
    "parameterize": "parameterize",
    "clean_connectors": "connectors",
    "parameterize_connectors": "connectors",
    "fit_pathway_stats": "fit",
    "validate": "_validation",
    "validate_connectors": "_validation",
    "pathway_stats": "pathways",
    "load_pathway_stats": "pathways",
    "save_pathway_stats": "pathways",
    "read_edges": "sonata",
    "write_synaptome": "sonata",
    "write_circuit": "sonata",
    "parameterize_circuit": "sonata",
    "set_default_source": "sources",
    "history": "reports",
    "plot_connectivity": "plot",
    "set_loglevel": "_logging",
    # schemas
    "SynapseTable": "schemas",
    "CleanSynapses": "schemas",
    "ParameterizedSynapses": "schemas",
    "Connectors": "schemas",
}
_MODULES = (
    "dask",
    "datasets",
    "distributions",
    "pathways",
    "plot",
    "reports",
    "schemas",
    "sonata",
    "sources",
    "units",
)
#: optional modules, importable but not loaded by ``from synframe import *``
_OPTIONAL = ("testing", "testing_cave", "synthetic")

__all__ = [  # noqa: RUF022 - grouped: verbs, schemas, errors, modules
    # stage verbs
    "annotate",
    "attach",
    "clean",
    "clean_connectors",
    "connectivity",
    "connectors_to_table",
    "fetch",
    "fit_pathway_stats",
    "history",
    "load_pathway_stats",
    "parameterize",
    "parameterize_circuit",
    "parameterize_connectors",
    "pathway_stats",
    "plot_connectivity",
    "read_edges",
    "save_pathway_stats",
    "set_default_source",
    "set_loglevel",
    "validate",
    "validate_connectors",
    "write_circuit",
    "write_synaptome",
    # schemas
    "CleanSynapses",
    "Connectors",
    "ParameterizedSynapses",
    "SynapseTable",
    # errors
    "AccessorError",
    "FetchError",
    "IdError",
    "NeuronTypeError",
    "OptionError",
    "PathwayError",
    "SchemaError",
    "SonataError",
    "SourceError",
    "SynframeError",
    "SynframeWarning",
    "UnitsError",
    # modules
    "dask",
    "datasets",
    "distributions",
    "errors",
    "pathways",
    "plot",
    "reports",
    "schemas",
    "sonata",
    "sources",
    "units",
    "__version__",
]

if TYPE_CHECKING:  # for type checkers and IDEs; at run time these load on first use
    from . import (
        dask,
        datasets,
        distributions,
        pathways,
        plot,
        reports,
        schemas,
        sonata,
        sources,
        units,
    )
    from ._logging import set_loglevel
    from ._validation import validate, validate_connectors
    from .annotate import annotate
    from .attach import attach, connectors_to_table
    from .clean import clean
    from .connectivity import connectivity
    from .connectors import clean_connectors, parameterize_connectors
    from .fetch import fetch
    from .fit import fit_pathway_stats
    from .parameterize import parameterize
    from .pathways import load_pathway_stats, pathway_stats, save_pathway_stats
    from .plot import plot_connectivity
    from .reports import history
    from .schemas import CleanSynapses, Connectors, ParameterizedSynapses, SynapseTable
    from .sonata import parameterize_circuit, read_edges, write_circuit, write_synaptome
    from .sources import set_default_source


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    elif name in _MODULES or name in _OPTIONAL:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, *_OPTIONAL})


class _Package(types.ModuleType):
    """Keeps ``sf.fetch`` the function when the submodule ``synframe.fetch`` is imported.

    Importing a submodule binds it as an attribute of its package; for the verbs that share their
    module's name (``fetch``, ``clean`` …) that would replace the function by the module.
    """

    def __setattr__(self, name: str, value) -> None:
        if isinstance(value, types.ModuleType) and _LAZY.get(name) == name:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
_register()
