"""The ``.syn`` accessors: thin shells over synframe's plain functions.

Every method is a one-line delegation (``df.syn.clean(**kw)`` is exactly ``sf.clean(df, **kw)``);
``tests/test_accessors.py`` keeps the signatures equal. Logic lives in the stage modules, not here.
"""

from __future__ import annotations

import pandas as pd
import xarray as xr

from .annotate import annotate as _annotate
from .attach import attach as _attach
from .attach import clean_connectors as _clean_connectors
from .attach import connectors_to_table as _connectors_to_table
from .clean import clean as _clean
from .connectivity import connectivity as _connectivity
from .dask import parameterize as _dask_parameterize
from .dask import validate as _dask_validate
from .errors import AccessorError
from .fetch import fetch as _fetch
from .parameterize import parameterize as _parameterize
from .parameterize import parameterize_connectors as _parameterize_connectors
from .pathways import check_pathway_stats as _check_stats
from .pathways import sample_pathway as _sample_pathway
from .pathways import save_pathway_stats as _save_pathway_stats
from .pathways import stats_kinds as _kinds
from .pathways import stats_param as _param
from .pathways import stats_summary as _summary
from .pathways import stats_to_dict as _stats_to_dict
from .schemas import validate as _validate
from .schemas import validate_connectors as _validate_connectors

__all__ = [
    "ALIASES",
    "DaskAccessor",
    "NeuronListAccessor",
    "PathwayStatsAccessor",
    "SynapseAccessor",
    "register",
]


def _options(namespace: dict) -> dict:
    """A method's arguments (its ``locals()`` minus ``self``), to pass on unchanged."""
    return {k: v for k, v in namespace.items() if k != "self"}


class _Fetch:
    """``fetch`` for both accessors: on a neuron table and on a NeuronList (which it attaches to)."""

    def fetch(
        self,
        *,
        source=None,
        pre=True,
        post=True,
        filtered=True,
        min_score=None,
        transmitters=False,
        neuropils=False,
        materialization="auto",
        batch_size=None,
        progress=True,
        id_column=None,
        carry=None,
        attach=True,
    ):
        """Alias of :func:`synframe.fetch` (a table of neurons, or navis neurons it attaches to)."""
        return _fetch(self._obj, **_options(locals()))


class SynapseAccessor(_Fetch):
    """``DataFrame.syn``: synframe's verbs on a synapse table (or, for ``fetch``, a neuron table)."""

    def __init__(self, obj: pd.DataFrame) -> None:
        self._obj = obj

    def validate(self, stage="synapses"):
        """Alias of :func:`synframe.validate`."""
        return _validate(self._obj, **_options(locals()))

    def clean(
        self,
        *,
        autapses=True,
        background=True,
        min_score=None,
        dedupe=True,
        neurons=None,
        max_distance="10 um",
    ):
        """Alias of :func:`synframe.clean`."""
        return _clean(self._obj, **_options(locals()))

    def attach(self, neurons, *, inplace=False, max_distance=None):
        """Alias of :func:`synframe.attach`."""
        return _attach(self._obj, **_options(locals()))

    def parameterize(self, stats, *, by, types=None, seed=None, properties=None, overwrite=False):
        """Alias of :func:`synframe.parameterize`."""
        return _parameterize(self._obj, **_options(locals()))

    def annotate(self, neurons, *, id_column=None, columns=None, sides=("pre", "post")):
        """Alias of :func:`synframe.annotate`."""
        return _annotate(self._obj, **_options(locals()))

    def connectivity(self, *, by=None, threshold=1):
        """Alias of :func:`synframe.connectivity`."""
        return _connectivity(self._obj, **_options(locals()))


class NeuronListAccessor(_Fetch):
    """``NeuronList.syn``: synframe's verbs on navis neurons (their ``.connectors``)."""

    def __init__(self, obj) -> None:
        self._obj = obj

    def validate(self):
        """Alias of :func:`synframe.validate_connectors`."""
        return _validate_connectors(self._obj)

    def attach(self, syn, *, inplace=False, max_distance=None):
        """Alias of :func:`synframe.attach` (``sf.attach(syn, neurons)``)."""
        return _attach(neurons=self._obj, **_options(locals()))

    def to_table(self):
        """Alias of :func:`synframe.connectors_to_table`."""
        return _connectors_to_table(self._obj)

    def clean(
        self,
        *,
        autapses=True,
        background=True,
        min_score=None,
        dedupe=True,
        max_distance="10 um",
        inplace=False,
    ):
        """Alias of :func:`synframe.clean_connectors`."""
        return _clean_connectors(self._obj, **_options(locals()))

    def parameterize(self, stats, *, by, types=None, seed=None, properties=None, overwrite=False):
        """Alias of :func:`synframe.parameterize_connectors`."""
        return _parameterize_connectors(self._obj, **_options(locals()))


class PathwayStatsAccessor:
    """``DataArray.syn``: views and I/O of pathway statistics (dims ``property, src, tgt``)."""

    def __init__(self, obj) -> None:
        self._obj = obj

    def to_dict(self):
        """Alias of :func:`synframe.stats_to_dict`."""
        return _stats_to_dict(self._obj)

    def to_json(self, path):
        """Alias of :func:`synframe.save_pathway_stats`."""
        return _save_pathway_stats(self._obj, **_options(locals()))

    def summary(self):
        """Alias of :func:`synframe.stats_summary`."""
        return _summary(self._obj)

    def param(self, name):
        """Alias of :func:`synframe.stats_param`."""
        return _param(self._obj, **_options(locals()))

    def kinds(self):
        """Alias of :func:`synframe.stats_kinds`."""
        return _kinds(self._obj)

    def sample(self, prop, src, tgt, n=1000, *, seed=0):
        """Alias of :func:`synframe.sample_pathway`."""
        return _sample_pathway(self._obj, **_options(locals()))

    def validate(self):
        """Alias of :func:`synframe.check_pathway_stats`."""
        return _check_stats(self._obj)


class DaskAccessor:
    """``dask.dataframe.DataFrame.syn``: partition-wise verbs with pandas' results."""

    def __init__(self, obj) -> None:
        self._obj = obj

    def parameterize(self, stats, *, by, types=None, seed=None, properties=None, overwrite=False):
        """Alias of :func:`synframe.dask.parameterize`."""
        return _dask_parameterize(self._obj, **_options(locals()))

    def validate(self, stage="synapses"):
        """Alias of :func:`synframe.dask.validate`."""
        return _dask_validate(self._obj, **_options(locals()))


#: accessor class -> {method name: (the plain function it delegates to, its data parameter)}
ALIASES = {
    SynapseAccessor: {
        "validate": (_validate, "df"),
        "clean": (_clean, "syn"),
        "fetch": (_fetch, "x"),
        "attach": (_attach, "syn"),
        "parameterize": (_parameterize, "syn"),
        "annotate": (_annotate, "syn"),
        "connectivity": (_connectivity, "syn"),
    },
    NeuronListAccessor: {
        "validate": (_validate_connectors, "neurons"),
        "fetch": (_fetch, "x"),
        "attach": (_attach, "neurons"),
        "to_table": (_connectors_to_table, "neurons"),
        "clean": (_clean_connectors, "neurons"),
        "parameterize": (_parameterize_connectors, "neurons"),
    },
    DaskAccessor: {
        "parameterize": (_dask_parameterize, "ddf"),
        "validate": (_dask_validate, "ddf"),
    },
    PathwayStatsAccessor: {
        "to_dict": (_stats_to_dict, "stats"),
        "to_json": (_save_pathway_stats, "stats"),
        "summary": (_summary, "stats"),
        "param": (_param, "stats"),
        "kinds": (_kinds, "stats"),
        "sample": (_sample_pathway, "stats"),
        "validate": (_check_stats, "stats"),
    },
}


class _NeuronListDescriptor:
    """navis has no accessor registry: this descriptor on ``NeuronList`` builds the accessor.

    An ``AttributeError`` escaping a descriptor makes Python fall back to
    ``NeuronList.__getattr__``, which would answer with a misleading "attribute not found in
    NeuronList or its neurons"; any failure is therefore re-raised as :class:`AccessorError`.
    """

    def __get__(self, obj, objtype=None):
        if obj is None:
            return NeuronListAccessor
        try:
            return NeuronListAccessor(obj)
        except Exception as exc:
            raise AccessorError(
                f"synframe could not create the .syn accessor on this {type(obj).__name__}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc


def register() -> None:
    """Register ``pd.DataFrame.syn`` and ``navis.NeuronList.syn`` (idempotent; done on import)."""
    import warnings

    import navis

    if getattr(pd.DataFrame, "syn", None) is not SynapseAccessor:
        with warnings.catch_warnings():  # re-registering on reload warns; harmless
            warnings.simplefilter("ignore", UserWarning)
            pd.api.extensions.register_dataframe_accessor("syn")(SynapseAccessor)
    navis.NeuronList.syn = _NeuronListDescriptor()
    try:  # dask is optional (pip install synframe[dask])
        import dask.dataframe as dd
    except ImportError:
        dd = None
    if dd is not None and getattr(dd.DataFrame, "syn", None) is not DaskAccessor:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dd.extensions.register_dataframe_accessor("syn")(DaskAccessor)
    if getattr(xr.DataArray, "syn", None) is not PathwayStatsAccessor:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", xr.core.extensions.AccessorRegistrationWarning)
            xr.register_dataarray_accessor("syn")(PathwayStatsAccessor)
