"""Accessors are one-line aliases of the plain functions: same signatures, same results."""

import inspect
import subprocess
import sys

import navis
import pandas as pd
import pytest

import synframe as sf
from synframe.accessors import ALIASES, NeuronListAccessor, _f


def _public(cls):
    return {n for n in dir(cls) if not n.startswith("_") and callable(getattr(cls, n))}


@pytest.mark.parametrize("cls", list(ALIASES))
def test_every_method_has_a_plain_function(cls):
    assert _public(cls) == set(ALIASES[cls])
    for path, _ in ALIASES[cls].values():  # public: at top level, or in sf.dask / sf.pathways
        func = _f(path)
        modules = (sf, sf.dask, sf.pathways, sf.plot)
        assert any(getattr(m, func.__name__, None) is func for m in modules)


@pytest.mark.parametrize(
    ("cls", "name"), [(cls, name) for cls, names in ALIASES.items() for name in names]
)
def test_signatures_match(cls, name):
    path, data = ALIASES[cls][name]
    func = _f(path)
    plain = [p for p in inspect.signature(func).parameters.values() if p.name != data]
    method = list(inspect.signature(getattr(cls, name)).parameters.values())[1:]  # minus self
    assert data in inspect.signature(func).parameters
    assert [(p.name, p.kind, p.default) for p in method] == [
        (p.name, p.kind, p.default) for p in plain
    ]


def test_results_identical(syn, neuron):
    a = syn.syn.clean(neurons=neuron, max_distance="2 um")
    b = sf.clean(syn, neurons=neuron, max_distance="2 um")
    pd.testing.assert_frame_equal(a, b)
    assert a.attrs == b.attrs
    pd.testing.assert_frame_equal(
        syn.syn.connectivity(threshold=2), sf.connectivity(syn, threshold=2)
    )
    nl = navis.NeuronList([neuron])
    for got in (syn.syn.attach(nl), nl.syn.attach(syn)):
        pd.testing.assert_frame_equal(got[0].connectors, sf.attach(syn, nl)[0].connectors)
    attached = sf.attach(syn, nl)
    pd.testing.assert_frame_equal(attached.syn.to_table(), sf.connectors_to_table(attached))
    pd.testing.assert_frame_equal(
        attached.syn.clean(max_distance="1 um")[0].connectors,
        sf.clean_connectors(attached, max_distance="1 um")[0].connectors,
    )


def test_empty_dataframe_has_accessor():
    subprocess.run(
        [sys.executable, "-W", "error", "-c", "import synframe, pandas as pd; pd.DataFrame().syn"],
        check=True,
    )


def test_neuronlist_accessor_exists():
    nl = navis.example_neurons(2)
    assert isinstance(nl.syn, NeuronListAccessor)
    assert isinstance(navis.NeuronList([]).syn, NeuronListAccessor)


def test_neuronlist_accessor_failure_shows_synframes_message(monkeypatch):
    """An AttributeError while creating the accessor must not become navis' misleading message."""

    def broken(self, obj):
        raise AttributeError("'NoneType' object has no attribute 'connectors'")

    monkeypatch.setattr(NeuronListAccessor, "__init__", broken)
    nl = navis.example_neurons(2)
    with pytest.raises(
        sf.AccessorError, match=r"synframe could not create the \.syn accessor"
    ) as exc:
        nl.syn  # noqa: B018
    assert "NoneType" in str(exc.value)
    assert "not found in NeuronList" not in str(exc.value)


@pytest.mark.parametrize(
    "imports",
    [
        "import synframe; import navis, pandas as pd, xarray as xr, dask.dataframe as dd",
        "import navis, pandas as pd, xarray as xr, dask.dataframe as dd; import synframe",
    ],
    ids=["synframe first", "libraries first"],
)
def test_accessors_exist_whatever_the_import_order(imports):
    code = (
        f"{imports}\n"
        "df = pd.DataFrame({'a': [1]})\n"
        "print(type(navis.NeuronList([]).syn).__name__, type(df.syn).__name__,\n"
        "      type(xr.DataArray([1]).syn).__name__,\n"
        "      type(dd.from_pandas(df, npartitions=1).syn).__name__)\n"
    )
    out = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == [
        "NeuronListAccessor",
        "SynapseAccessor",
        "PathwayStatsAccessor",
        "DaskAccessor",
    ]
