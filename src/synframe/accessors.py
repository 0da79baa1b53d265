"""The ``.syn`` accessors: thin shells over synframe's plain functions.

Every method is a one-line delegation (``df.syn.clean(**kw)`` is exactly ``sf.clean(df, **kw)``);
``tests/test_accessors.py`` keeps the signatures equal. Logic lives in the stage modules, not here.
"""

from __future__ import annotations

import pandas as pd

from .annotate import annotate as _annotate
from .attach import attach as _attach
from .attach import clean_connectors as _clean_connectors
from .attach import connectors_to_table as _connectors_to_table
from .clean import clean as _clean
from .connectivity import connectivity as _connectivity
from .errors import AccessorError
from .fetch import fetch as _fetch
from .schemas import validate as _validate
from .schemas import validate_connectors as _validate_connectors

__all__ = ["ALIASES", "NeuronListAccessor", "SynapseAccessor", "register"]


def _options(namespace: dict) -> dict:
    """A method's arguments (its ``locals()`` minus ``self``), to pass on unchanged."""
    return {k: v for k, v in namespace.items() if k != "self"}


class SynapseAccessor:
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
        """Alias of :func:`synframe.fetch` on a table of neurons (one row per neuron)."""
        return _fetch(self._obj, **_options(locals()))

    def attach(self, neurons, *, inplace=False, max_distance=None):
        """Alias of :func:`synframe.attach`."""
        return _attach(self._obj, **_options(locals()))

    def annotate(self, neurons, *, id_column=None, columns=None, sides=("pre", "post")):
        """Alias of :func:`synframe.annotate`."""
        return _annotate(self._obj, **_options(locals()))

    def connectivity(self, *, by=None, threshold=1):
        """Alias of :func:`synframe.connectivity`."""
        return _connectivity(self._obj, **_options(locals()))


class NeuronListAccessor:
    """``NeuronList.syn``: synframe's verbs on navis neurons (their ``.connectors``)."""

    def __init__(self, obj) -> None:
        self._obj = obj

    def validate(self):
        """Alias of :func:`synframe.validate_connectors`."""
        return _validate_connectors(self._obj)

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
        """Alias of :func:`synframe.fetch`: the synapses of these neurons, attached to them."""
        return _fetch(self._obj, **_options(locals()))

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


#: accessor class -> {method name: (the plain function it delegates to, its data parameter)}
ALIASES = {
    SynapseAccessor: {
        "validate": (_validate, "df"),
        "clean": (_clean, "syn"),
        "fetch": (_fetch, "x"),
        "attach": (_attach, "syn"),
        "annotate": (_annotate, "syn"),
        "connectivity": (_connectivity, "syn"),
    },
    NeuronListAccessor: {
        "validate": (_validate_connectors, "neurons"),
        "fetch": (_fetch, "x"),
        "attach": (_attach, "neurons"),
        "to_table": (_connectors_to_table, "neurons"),
        "clean": (_clean_connectors, "neurons"),
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
