"""Hostile input to attach / connectors_to_table / clean_connectors (#12): no row lost, no key
overwritten, ids never through float64, neurons never changed unless inplace=True."""

import navis
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import synframe as sf
from conftest import ROOT, frame_hash


def neuron(nid, connectors=None, nodes=2, units="1 nm"):
    """A small skeleton (``nodes`` nodes on a line) with hand-made connectors."""
    table = pd.DataFrame(
        {
            "node_id": np.arange(1, nodes + 1),
            "parent_id": np.r_[-1, np.arange(1, nodes)][:nodes],
            "x": np.arange(nodes, dtype=float),
            "y": 0.0,
            "z": 0.0,
        }
    )
    n = navis.TreeNeuron(table, id=nid, units=units)
    if connectors is not None:
        n.connectors = pd.DataFrame(connectors)
    return n


def con(ids, types, xyz=1.0, **extra):
    return {"connector_id": ids, "node_id": 1, "type": types, "x": xyz, "y": xyz, "z": xyz, **extra}


def neuron_hash(nl) -> list[int]:
    return [
        frame_hash(n.connectors) if n.connectors is not None else 0 for n in navis.NeuronList(nl)
    ] + [frame_hash(n.nodes) for n in navis.NeuronList(nl)]


# --- connectors_to_table: nothing lost ------------------------------------------------------------


def test_polyadic_connector_keeps_every_postsynaptic_partner():
    """CATMAID / neuPrint: one presynapse, several postsynaptic neurons."""
    nl = [
        neuron(10, con([5], ["pre"], 1.0)),
        neuron(20, con([5], ["post"], 2.0)),
        neuron(30, con([5], ["post"], 3.0)),
    ]
    before = neuron_hash(nl)
    table = sf.connectors_to_table(nl)
    assert table[["id", "pre", "post"]].values.tolist() == [[5, 10, 20], [5, 10, 30]]
    assert table["pre_x"].tolist() == [1.0, 1.0] and table["post_x"].tolist() == [2.0, 3.0]
    assert neuron_hash(nl) == before


def test_polyadic_without_the_presynaptic_neuron():
    table = sf.connectors_to_table([neuron(20, con([5], ["post"])), neuron(30, con([5], ["post"]))])
    assert sorted(table["post"]) == [20, 30] and (table["pre"] == 0).all()


def test_two_postsynaptic_sites_on_one_neuron_are_two_rows():
    table = sf.connectors_to_table([neuron(20, con([5, 5], ["post", "post"], [1.0, 2.0]))])
    assert len(table) == 2 and sorted(table["post_x"]) == [1.0, 2.0]


def test_a_synapse_claimed_presynaptic_twice_is_refused():
    nl = [
        neuron(10, con([5], ["pre"])),
        neuron(40, con([5], ["pre"])),
        neuron(20, con([5], ["post"])),
    ]
    with pytest.raises(
        sf.SchemaError, match=r"presynaptic on more than one connector.*5: \[10, 40\]"
    ):
        sf.connectors_to_table(nl)


def test_per_neuron_connector_ids_are_refused_not_merged():
    """navis' hemibrain examples number connectors per neuron: ids repeat across neurons for
    unrelated synapses. Merging them would invent synapses; the error says why."""
    with pytest.raises(sf.SchemaError, match="connector ids per neuron rather than synapse ids"):
        sf.connectors_to_table(navis.example_neurons(3, kind="skeleton"))


def test_partner_id_contradicting_the_presynaptic_neuron():
    nl = [neuron(10, con([5], ["pre"])), neuron(20, con([5], ["post"], partner_id=[99]))]
    with pytest.raises(sf.SchemaError, match="partner_id 99, presynaptic on neuron 10"):
        sf.connectors_to_table(nl)


@pytest.mark.parametrize(
    "types, message",
    [
        (["pre", "gap_junction"], "gap_junction"),
        (["pre", "post", "abutting"], "abutting"),
        ([0, 1, 2], r"\[2\]"),
        (["pre", "presynapse"], "presynapse"),
        (["pre", 0], "not one presynaptic"),
        ([True, False], "True"),
    ],
)
def test_unknown_types_are_not_taken_as_post(types, message):
    n = neuron(1, con(list(range(len(types))), types))
    with pytest.raises(sf.SchemaError, match=message):
        sf.connectors_to_table(n)


@pytest.mark.parametrize(
    "types", [["pre", "post"], [0, 1], ["0", "1"], ["presynapse", "postsynapse"], ["PRE", "POST"]]
)
def test_navis_type_labels(types):
    table = sf.connectors_to_table(neuron(1, con([5, 6], types)))
    assert table[["id", "pre", "post"]].values.tolist() == [[5, 1, 0], [6, 0, 1]]


@pytest.mark.parametrize(
    "column, values, message",
    [
        ("connector_id", [5.0, 6.0], "floats"),
        ("connector_id", [5, np.nan], "missing"),
        ("connector_id", np.array([2**63, 6], dtype=np.uint64), "does not fit in int64"),
        ("connector_id", [-5, 6], "negative"),
        ("connector_id", ["5", "٣"], "'٣' is not an integer id"),
        ("partner_id", [1.0, 2.0], "floats"),
        ("partner_id", pd.array([1, None], dtype="Int64"), "missing"),
        ("partner_id", [True, False], "boolean"),
    ],
)
def test_ids_that_cannot_be_exact_are_refused(column, values, message):
    data = con([5, 6], ["pre", "post"])
    data[column] = values
    with pytest.raises(sf.IdError, match=message) as err:
        sf.connectors_to_table(neuron(1, data))
    assert column in str(err.value)


def test_uint64_ids_below_2_63_are_exact():
    big = np.array([2**62 + 1, 2**62 + 3], dtype=np.uint64)  # float64 would merge them
    table = sf.connectors_to_table(neuron(1, con(big, ["pre", "post"], partner_id=big)))
    assert table["id"].tolist() == [2**62 + 1, 2**62 + 3]
    assert table["post"].tolist() == [2**62 + 1, 1]


@pytest.mark.parametrize(
    "change, error, message",
    [
        ({"pre": [7, 8]}, sf.SchemaError, r"columns \['pre'\] would replace"),
        ({"post_z": [7.0, 8.0]}, sf.SchemaError, "post_z"),
        ({"id": [1, 2]}, sf.SchemaError, "repeated column names"),  # navis renames id
        ({"x": ["a", 1.0]}, sf.SchemaError, "not all numbers"),
        ({"y": [np.nan, 1.0]}, sf.SchemaError, "no finite x/y/z"),
    ],
)
def test_connector_columns_never_replace_keys(change, error, message):
    data = {**con([5, 6], ["pre", "post"]), **change}
    n = neuron(1, data)
    before = neuron_hash([n])
    with pytest.raises(error, match=message):
        sf.connectors_to_table(n)
    assert neuron_hash([n]) == before


def test_connector_tables_that_are_not_tables():
    n = neuron(1, con([5], ["pre"]))
    n.connectors = pd.concat([n.connectors, n.connectors[["x"]]], axis=1)
    with pytest.raises(sf.SchemaError, match=r"repeated column names \['x'\]"):
        sf.connectors_to_table(n)
    m = neuron(1)
    m._connectors = pd.DataFrame({"connector_id": [5], "x": [1.0], "y": [1.0], "z": [1.0]})
    with pytest.raises(sf.SchemaError, match=r"lack columns \['type'\]"):
        sf.connectors_to_table(m)
    with pytest.raises(sf.NeuronTypeError):
        sf.connectors_to_table(pd.DataFrame({"connector_id": [1]}))
    with pytest.raises(sf.OptionError, match="duplicate ids"):
        sf.connectors_to_table([neuron(1, con([5], ["pre"])), neuron(1, con([6], ["pre"]))])
    with pytest.raises(sf.IdError):
        sf.connectors_to_table(neuron("abc", con([5], ["pre"])))


def test_integer_columns_on_some_neurons_stay_exact():
    big = 2**62 + 1
    nl = [neuron(1, con([5], ["pre"], tag=[big])), neuron(2, con([6], ["pre"]))]
    table = sf.connectors_to_table(nl)
    assert table["tag"].dtype == "Int64" and table["tag"].iloc[0] == big
    assert table["tag"].isna().iloc[1]


connector_rows = st.lists(
    st.tuples(
        st.integers(0, 5),  # neuron
        st.integers(0, 8),  # connector id
        st.booleans(),  # presynaptic?
        st.floats(-1e6, 1e6),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=60)
@given(connector_rows)
def test_no_row_is_lost(rows):
    """Every postsynaptic connector is a row; every presynaptic one without a postsynaptic
    partner in the list is a row; anything else is an error -- never a silent drop."""
    frame = pd.DataFrame(rows, columns=["neuron", "cid", "pre", "xyz"])
    nl = []
    for nid, grp in frame.groupby("neuron"):
        nl.append(neuron(int(nid) + 1, con(grp["cid"].tolist(),
                                           np.where(grp["pre"], "pre", "post").tolist(),
                                           grp["xyz"].tolist())))  # fmt: skip
    before = neuron_hash(nl)
    pre_rows = frame[frame["pre"]]
    post_rows = frame[~frame["pre"]]
    try:
        table = sf.connectors_to_table(nl)
    except sf.SchemaError as exc:
        assert pre_rows["cid"].duplicated().any(), exc  # the one reason to refuse here
        return
    finally:
        assert neuron_hash(nl) == before
    alone = ~pre_rows["cid"].isin(post_rows["cid"])
    assert len(table) == len(post_rows) + int(alone.sum())
    assert sorted(table["id"]) == sorted([*post_rows["cid"], *pre_rows.loc[alone, "cid"]])
    for cid, grp in table.groupby("id"):  # the presynaptic neuron, when listed, is everyone's pre
        listed = pre_rows.loc[pre_rows["cid"] == cid, "neuron"]
        if len(listed):
            assert (grp["pre"] == int(listed.iloc[0]) + 1).all()


def test_round_trip_through_attach_is_exact(syn):
    nl = sf.attach(syn, sf.datasets.example_neuron())
    back = sf.connectors_to_table(nl)
    pd.testing.assert_frame_equal(back[syn.columns], syn)


# --- attach ---------------------------------------------------------------------------------------


def empty_neuron(nid):
    nodes = pd.DataFrame(
        {
            "node_id": pd.Series([], dtype="int64"),
            "parent_id": pd.Series([], dtype="int64"),
            "x": [],
            "y": [],
            "z": [],
        }
    )
    return navis.TreeNeuron(nodes, id=nid, units="1 nm")


def test_a_neuron_without_nodes(syn):
    """It used to attach every synapse to node -1 at distance inf (and clean dropped them all)."""
    h = frame_hash(syn)
    with pytest.raises(sf.SchemaError, match=f"neuron {ROOT} has no nodes"):
        sf.attach(syn, empty_neuron(ROOT))
    with pytest.raises(sf.SchemaError, match="has no nodes"):
        sf.clean(syn, neurons=empty_neuron(ROOT))
    assert frame_hash(syn) == h
    # a neuron without nodes and without synapses is fine: empty connectors
    nl = sf.attach(syn, [sf.datasets.example_neuron(), empty_neuron(5)])
    assert len(nl[1].connectors) == 0 and len(nl[0].connectors) == len(syn)


def test_non_finite_node_coordinates(syn):
    n = sf.datasets.example_neuron()
    n.nodes.loc[3, "x"] = np.nan
    with pytest.raises(sf.SchemaError, match="non-finite coordinates"):
        sf.attach(syn, n)


@pytest.mark.parametrize(
    "column", ["type", "x", "node_id", "distance", "partner_id", "connector_id"]
)
def test_table_columns_never_replace_connector_columns(syn, column):
    bad = syn.assign(**{column: 1})
    n = sf.datasets.example_neuron()
    with pytest.raises(sf.SchemaError, match=f"'{column}'"):
        sf.attach(bad, n, inplace=True)
    assert n.connectors is None  # nothing attached


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"max_distance": "um"}, sf.UnitsError, "no number"),
        ({"max_distance": "10"}, sf.UnitsError, "no unit"),
        ({"max_distance": "(1 nm"}, sf.UnitsError, "max_distance"),
        ({"max_distance": float("nan")}, sf.UnitsError, "finite"),
        ({"max_distance": -1}, sf.UnitsError, "negative"),
        ({"max_distance": True}, sf.UnitsError, "max_distance"),
        ({"inplace": "yes"}, sf.OptionError, "inplace"),
    ],
)
def test_attach_options(syn, kwargs, error, message):
    n = sf.datasets.example_neuron()
    h = frame_hash(syn)
    with pytest.raises(error, match=message):
        sf.attach(syn, n, **kwargs)
    assert frame_hash(syn) == h and n.connectors is None


def test_attach_refuses_what_is_not_a_neuron(syn):
    with pytest.raises(sf.NeuronTypeError):
        sf.attach(syn, "864691136040432126")
    with pytest.raises(sf.NeuronTypeError):
        sf.attach(syn, [sf.datasets.example_neuron(), 5])
    with pytest.raises(sf.SchemaError, match="duplicate synapse ids"):
        sf.attach(pd.concat([syn, syn.iloc[:1]]), sf.datasets.example_neuron())
    with pytest.raises(sf.SchemaError, match="repeated column names"):
        sf.attach(pd.concat([syn, syn[["pre_x"]]], axis=1), sf.datasets.example_neuron())
    n = sf.datasets.example_neuron()
    n.units = "1 second"
    with pytest.raises(sf.UnitsError, match="not a"):
        sf.attach(syn, n)


def test_clean_connectors_and_parameterize_connectors_on_bad_neurons(syn):
    with pytest.raises(sf.SchemaError, match="gap"):
        sf.clean_connectors(neuron(1, con([5, 6], ["pre", "gap"])))
    with pytest.raises(sf.NeuronTypeError):
        sf.clean_connectors(syn)
