"""The ``.syn`` accessors: thin shells over synframe's plain functions.

Every method is a one-line delegation (``df.syn.clean(**kw)`` is exactly ``sf.clean(df, **kw)``);
``tests/test_accessors.py`` keeps the signatures equal. Logic lives in the stage modules, not here.

The functions are looked up when called (`ALIASES` names them), so that registering the
accessors imports nothing heavy. Registration (`register`) happens when synframe is imported
and, for each library, as soon as that library is imported (pandas, xarray, navis, dask).
"""

from __future__ import annotations

import importlib
import warnings

from ._hooks import when_imported
from .errors import AccessorError

__all__ = [
    "ALIASES",
    "DaskAccessor",
    "NeuronListAccessor",
    "PathwayStatsAccessor",
    "SynapseAccessor",
    "register",
]


def _f(path: str):
    """The function at ``"module:name"`` (module relative to synframe)."""
    module, name = path.split(":")
    return getattr(importlib.import_module(f"synframe.{module}"), name)


def _options(namespace: dict) -> dict:
    """A method's arguments (its ``locals()`` minus ``self``), to pass on unchanged."""
    return {k: v for k, v in namespace.items() if k != "self"}


def _describe(df, path: str, escape=str) -> str:
    """A table's description; a repr never raises, whatever the table holds (it only shows)."""
    try:
        return _f(path)(df)
    except Exception as exc:
        shape = f"{df.shape[0]} rows x {df.shape[1]} columns"
        return escape(f"table  {shape} (not described: {type(exc).__name__}: {exc})")


class _Accessor:
    def __init__(self, obj) -> None:
        self._obj = obj

    def __repr__(self) -> str:
        methods = ", ".join(sorted(ALIASES[type(self)]))
        return f"<synframe .syn accessor on a {type(self._obj).__name__}: {methods}>"


class _Fetch(_Accessor):
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
        as_dask=False,
    ):
        """Alias of [`synframe.fetch`][synframe.fetch.fetch] (a table of neurons, or navis neurons it attaches to)."""
        return _f("fetch:fetch")(self._obj, **_options(locals()))


class SynapseAccessor(_Fetch):
    """``DataFrame.syn``: synframe's verbs on a synapse table (or, for ``fetch``, a neuron table)."""

    def __repr__(self) -> str:
        return _describe(self._obj, "reports:describe") + "\n" + super().__repr__()

    def _repr_html_(self) -> str:
        import html

        return _describe(self._obj, "reports:describe_html", escape=html.escape)

    def history(self):
        """Alias of [`synframe.history`][synframe.reports.history]."""
        return _f("reports:history")(self._obj)

    def plot_parameters(self, stats, *, by, types=None, properties=None, bins=40, figsize=None):
        """Alias of [`synframe.plot.plot_parameters`][synframe.plot.plot_parameters]."""
        return _f("plot:plot_parameters")(self._obj, **_options(locals()))

    def plot_connectivity(
        self, *, by, types=None, weight="synapses", ax=None, figsize=None, log=True, cmap="magma"
    ):
        """Alias of [`synframe.plot_connectivity`][synframe.plot.plot_connectivity]."""
        return _f("plot:plot_connectivity")(self._obj, **_options(locals()))

    def plot_history(self, *, ax=None, figsize=None):
        """Alias of [`synframe.plot.plot_history`][synframe.plot.plot_history]."""
        return _f("plot:plot_history")(self._obj, **_options(locals()))

    def validate(self, stage="synapses"):
        """Alias of [`synframe.validate`][synframe._validation.validate]."""
        return _f("_validation:validate")(self._obj, **_options(locals()))

    def clean(
        self,
        *,
        autapses=True,
        background=True,
        min_score=None,
        dedupe=True,
        neurons=None,
        max_distance="10 um",
        return_removed=False,
    ):
        """Alias of [`synframe.clean`][synframe.clean.clean]."""
        return _f("clean:clean")(self._obj, **_options(locals()))

    def attach(self, neurons, *, inplace=False, max_distance=None, progress=True):
        """Alias of [`synframe.attach`][synframe.attach.attach]."""
        return _f("attach:attach")(self._obj, **_options(locals()))

    def parameterize(
        self, stats, *, by, types=None, seed=None, properties=None, overwrite=False, progress=True
    ):
        """Alias of [`synframe.parameterize`][synframe.parameterize.parameterize]."""
        return _f("parameterize:parameterize")(self._obj, **_options(locals()))

    def annotate(self, neurons, *, id_column=None, columns=None, sides=("pre", "post")):
        """Alias of [`synframe.annotate`][synframe.annotate.annotate]."""
        return _f("annotate:annotate")(self._obj, **_options(locals()))

    def connectivity(self, *, by=None, threshold=1):
        """Alias of [`synframe.connectivity`][synframe.connectivity.connectivity]."""
        return _f("connectivity:connectivity")(self._obj, **_options(locals()))


class NeuronListAccessor(_Fetch):
    """``NeuronList.syn``: synframe's verbs on navis neurons (their ``.connectors``)."""

    def validate(self):
        """Alias of [`synframe.validate_connectors`][synframe._validation.validate_connectors]."""
        return _f("_validation:validate_connectors")(self._obj)

    def attach(self, syn, *, inplace=False, max_distance=None, progress=True):
        """Alias of [`synframe.attach`][synframe.attach.attach] (``sf.attach(syn, neurons)``)."""
        return _f("attach:attach")(neurons=self._obj, **_options(locals()))

    def to_table(self):
        """Alias of [`synframe.connectors_to_table`][synframe.attach.connectors_to_table]."""
        return _f("attach:connectors_to_table")(self._obj)

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
        """Alias of [`synframe.clean_connectors`][synframe.connectors.clean_connectors]."""
        return _f("connectors:clean_connectors")(self._obj, **_options(locals()))

    def parameterize(
        self, stats, *, by, types=None, seed=None, properties=None, overwrite=False, progress=True
    ):
        """Alias of [`synframe.parameterize_connectors`][synframe.connectors.parameterize_connectors]."""
        return _f("connectors:parameterize_connectors")(self._obj, **_options(locals()))


class PathwayStatsAccessor(_Accessor):
    """``DataArray.syn``: views and I/O of pathway statistics (dims ``property, src, tgt``)."""

    def __repr__(self) -> str:
        return _f("pathways:summary")(self._obj)

    def _repr_html_(self) -> str:
        import html

        summary = html.escape(_f("pathways:summary")(self._obj)).replace("\n", "<br>")
        return f"<p>{summary}</p>" + _f("pathways:table")(self._obj).to_html()

    def table(self):
        """Alias of [`synframe.pathways.table`][synframe.pathways.table]."""
        return _f("pathways:table")(self._obj)

    def plot(
        self, param="mean", *, properties=None, ax=None, figsize=None, annotate=True, cmap="viridis"
    ):
        """Alias of [`synframe.plot.plot_stats`][synframe.plot.plot_stats]."""
        return _f("plot:plot_stats")(self._obj, **_options(locals()))

    def to_dict(self):
        """Alias of [`synframe.pathways.to_dict`][synframe.pathways.to_dict]."""
        return _f("pathways:to_dict")(self._obj)

    def to_json(self, path):
        """Alias of [`synframe.save_pathway_stats`][synframe.pathways.save_pathway_stats]."""
        return _f("pathways:save_pathway_stats")(self._obj, **_options(locals()))

    def summary(self):
        """Alias of [`synframe.pathways.summary`][synframe.pathways.summary]."""
        return _f("pathways:summary")(self._obj)

    def param(self, name):
        """Alias of [`synframe.pathways.param`][synframe.pathways.param]."""
        return _f("pathways:param")(self._obj, **_options(locals()))

    def kinds(self):
        """Alias of [`synframe.pathways.kinds`][synframe.pathways.kinds]."""
        return _f("pathways:kinds")(self._obj)

    def sample(self, prop, src, tgt, n=1000, *, seed=0):
        """Alias of [`synframe.pathways.sample`][synframe.pathways.sample]."""
        return _f("pathways:sample")(self._obj, **_options(locals()))

    def validate(self):
        """Alias of [`synframe.pathways.validate`][synframe.pathways.validate]."""
        return _f("pathways:validate")(self._obj)


class DaskAccessor(_Accessor):
    """``dask.dataframe.DataFrame.syn``: partition-wise verbs with pandas' results."""

    def clean(
        self,
        *,
        autapses=True,
        background=True,
        min_score=None,
        dedupe=True,
        neurons=None,
        max_distance="10 um",
        return_removed=False,
    ):
        """Alias of [`synframe.dask.clean`][synframe.dask.clean]."""
        return _f("dask:clean")(self._obj, **_options(locals()))

    def annotate(self, neurons, *, id_column=None, columns=None, sides=("pre", "post")):
        """Alias of [`synframe.dask.annotate`][synframe.dask.annotate]."""
        return _f("dask:annotate")(self._obj, **_options(locals()))

    def connectivity(self, *, by=None, threshold=1):
        """Alias of [`synframe.dask.connectivity`][synframe.dask.connectivity]."""
        return _f("dask:connectivity")(self._obj, **_options(locals()))

    def parameterize(
        self, stats, *, by, types=None, seed=None, properties=None, overwrite=False, progress=True
    ):
        """Alias of [`synframe.dask.parameterize`][synframe.dask.parameterize]."""
        return _f("dask:parameterize")(self._obj, **_options(locals()))

    def validate(self, stage="synapses"):
        """Alias of [`synframe.dask.validate`][synframe.dask.validate]."""
        return _f("dask:validate")(self._obj, **_options(locals()))


#: accessor class -> {method name: ("module:function" it delegates to, its data parameter)}
ALIASES = {
    SynapseAccessor: {
        "validate": ("_validation:validate", "df"),
        "clean": ("clean:clean", "syn"),
        "fetch": ("fetch:fetch", "x"),
        "attach": ("attach:attach", "syn"),
        "parameterize": ("parameterize:parameterize", "syn"),
        "annotate": ("annotate:annotate", "syn"),
        "connectivity": ("connectivity:connectivity", "syn"),
        "history": ("reports:history", "syn"),
        "plot_parameters": ("plot:plot_parameters", "syn"),
        "plot_connectivity": ("plot:plot_connectivity", "syn"),
        "plot_history": ("plot:plot_history", "syn"),
    },
    NeuronListAccessor: {
        "validate": ("_validation:validate_connectors", "neurons"),
        "fetch": ("fetch:fetch", "x"),
        "attach": ("attach:attach", "neurons"),
        "to_table": ("attach:connectors_to_table", "neurons"),
        "clean": ("connectors:clean_connectors", "neurons"),
        "parameterize": ("connectors:parameterize_connectors", "neurons"),
    },
    DaskAccessor: {
        "clean": ("dask:clean", "ddf"),
        "annotate": ("dask:annotate", "ddf"),
        "connectivity": ("dask:connectivity", "ddf"),
        "parameterize": ("dask:parameterize", "ddf"),
        "validate": ("dask:validate", "ddf"),
    },
    PathwayStatsAccessor: {
        "to_dict": ("pathways:to_dict", "stats"),
        "to_json": ("pathways:save_pathway_stats", "stats"),
        "summary": ("pathways:summary", "stats"),
        "param": ("pathways:param", "stats"),
        "kinds": ("pathways:kinds", "stats"),
        "sample": ("pathways:sample", "stats"),
        "validate": ("pathways:validate", "stats"),
        "table": ("pathways:table", "stats"),
        "plot": ("plot:plot_stats", "stats"),
    },
}


class _NeuronListDescriptor:
    """navis has no accessor registry: this descriptor on ``NeuronList`` builds the accessor.

    An ``AttributeError`` escaping a descriptor makes Python fall back to
    ``NeuronList.__getattr__``, which would answer with a misleading "attribute not found in
    NeuronList or its neurons"; any failure is therefore re-raised as [`AccessorError`][synframe.errors.AccessorError].
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


def _claimed(cls, accessor) -> bool:
    """True when ``cls.syn`` is already ours (re-registering on reload must not warn)."""
    current = cls.__dict__.get("syn")
    return getattr(current, "_accessor", current) is accessor or isinstance(
        current, _NeuronListDescriptor
    )


def _pandas(pd) -> None:
    if not _claimed(pd.DataFrame, SynapseAccessor):
        pd.api.extensions.register_dataframe_accessor("syn")(SynapseAccessor)


def _xarray(xr) -> None:
    if not _claimed(xr.DataArray, PathwayStatsAccessor):
        xr.register_dataarray_accessor("syn")(PathwayStatsAccessor)


def _navis(navis) -> None:
    current = navis.NeuronList.__dict__.get("syn")
    if current is not None and not isinstance(current, _NeuronListDescriptor):
        warnings.warn(
            "navis.NeuronList.syn is defined by another package; synframe replaces it",
            stacklevel=2,
        )
    navis.NeuronList.syn = _NeuronListDescriptor()


def _dask(dd) -> None:
    if not _claimed(dd.DataFrame, DaskAccessor):
        dd.extensions.register_dataframe_accessor("syn")(DaskAccessor)


def register() -> None:
    """Register the ``.syn`` accessors on every library imported now or later (idempotent)."""
    when_imported("pandas", _pandas)
    when_imported("xarray", _xarray)
    when_imported("navis", _navis)
    when_imported("dask.dataframe", _dask)
