"""``sf.attach`` / ``connectors_to_table`` on real neurons, and navis analyses on the result."""

import logging

import navis
import numpy as np
import pandas as pd
import pytest

import synframe as sf
from conftest import ROOT, rescaled


def hemibrain_table(neuron) -> pd.DataFrame:
    """A navis hemibrain example neuron's own connectors as a synapse table in nm (8 nm voxels)."""
    con = neuron.connectors
    xyz = con[["x", "y", "z"]].to_numpy(dtype="float64") * 8
    is_pre = (con["type"] == "pre").to_numpy()
    partner = 10**12 + np.arange(len(con))  # hemibrain example connectors carry no partner ids
    df = pd.DataFrame(
        {
            "id": (neuron.id * 10**5 + con["connector_id"].to_numpy()).astype("int64"),
            "pre": np.where(is_pre, neuron.id, partner).astype("int64"),
            "post": np.where(is_pre, partner, neuron.id).astype("int64"),
        }
    )
    for i, a in enumerate("xyz"):
        df[f"pre_{a}"] = xyz[:, i]
        df[f"post_{a}"] = xyz[:, i]
    df["confidence"] = con["confidence"].to_numpy()
    return df


@pytest.fixture(scope="module")
def hemibrain():
    return navis.example_neurons(3, kind="skeleton")


# --- the MICrONS example --------------------------------------------------------------------------


def test_microns_synapses_attach_near_their_skeleton(syn, neuron):
    nl = sf.attach(syn, neuron)
    con = nl[0].connectors
    sf.validate_connectors(nl)
    assert (con["type"] == "pre").sum() == (syn.pre == ROOT).sum() == 259
    assert (con["type"] == "post").sum() == (syn.post == ROOT).sum() == 2165
    assert sorted(con["connector_id"]) == sorted(syn["id"])
    assert con["distance"].max() < 3_000  # nm: the same reconstruction, a level-2 skeleton
    assert con["node_id"].isin(neuron.nodes["node_id"]).all()
    # the attached node really is the nearest one (brute force on a sample)
    nodes = neuron.nodes[["x", "y", "z"]].to_numpy(dtype="float64")
    for row in con.sample(50, random_state=0).itertuples():
        d = np.linalg.norm(nodes - [row.x, row.y, row.z], axis=1)
        assert np.isclose(d.min(), row.distance)
        assert neuron.nodes["node_id"].iloc[d.argmin()] == row.node_id or np.isclose(
            d[neuron.nodes["node_id"].to_numpy() == row.node_id][0], d.min()
        )
    assert neuron.connectors is None  # not in place: the input neuron is untouched


def test_scores_and_other_columns_ride_along(syn, neuron):
    syn = syn.assign(
        cleft_score=np.arange(len(syn)) % 200, neuropil=pd.Categorical(["V1"] * len(syn))
    )
    con = sf.attach(syn, neuron)[0].connectors
    merged = con.merge(syn, left_on="connector_id", right_on="id")
    assert (merged["cleft_score_x"] == merged["cleft_score_y"]).all()
    assert con["neuropil"].dtype == "category"
    assert (merged["size_x"] == merged["size_y"]).all()


def test_inplace(syn, neuron):
    out = sf.attach(syn, neuron, inplace=True)
    assert out[0] is neuron and len(neuron.connectors) == 2424


@pytest.mark.parametrize(
    ("nm_per_unit", "units"), [(8, "8 nm"), (1000, "1 um"), (1, "1 nanometer")]
)
def test_units_do_not_change_node_ids(syn, neuron, nm_per_unit, units):
    ref = sf.attach(syn, neuron)[0].connectors
    other = rescaled(neuron, nm_per_unit, units)
    got = sf.attach(syn, other)[0].connectors
    assert (got["node_id"].to_numpy() == ref["node_id"].to_numpy()).all()
    np.testing.assert_allclose(
        got[["x", "y", "z"]].to_numpy() * nm_per_unit, ref[["x", "y", "z"]].to_numpy()
    )
    np.testing.assert_allclose(
        got["distance"].to_numpy() * nm_per_unit, ref["distance"].to_numpy(), rtol=1e-6
    )


def test_max_distance_drops_and_counts(syn, neuron, caplog):
    with caplog.at_level(logging.INFO, logger="synframe"):
        con = sf.attach(syn, neuron, max_distance="1 um")[0].connectors
    assert len(con) == len(sf.clean(syn, neurons=neuron, max_distance="1 um"))
    assert (con["distance"] <= 1000).all()
    assert f"{2424 - len(con)} farther than max_distance dropped" in caplog.text


def test_autapses_appear_twice_and_strangers_are_ignored(syn, neuron, caplog):
    aut = syn.iloc[:1].assign(post=ROOT, id=1)
    stranger = syn.iloc[:3].assign(pre=5, post=6, id=[2, 3, 4])
    table = pd.concat([syn, aut, stranger], ignore_index=True)
    with caplog.at_level(logging.INFO, logger="synframe"):
        con = sf.attach(table, neuron)[0].connectors
    assert sorted(con.loc[con.connector_id == 1, "type"]) == ["post", "pre"]
    assert not con["connector_id"].isin([2, 3, 4]).any()
    assert "3 of other neurons ignored" in caplog.text


def test_neurons_without_synapses_get_empty_connectors(syn, neuron):
    lonely = neuron.copy()
    lonely.id = 42
    nl = sf.attach(syn, navis.NeuronList([neuron, lonely]))
    assert len(nl[1].connectors) == 0
    assert list(nl[1].connectors.columns) == list(nl[0].connectors.columns)
    assert nl[1].connectors["connector_id"].dtype == "int64"


def test_duplicate_ids_are_refused(syn, neuron):
    with pytest.raises(sf.SchemaError, match="duplicate synapse ids"):
        sf.attach(pd.concat([syn, syn.iloc[:2]]), neuron)


# --- meshes and dotprops --------------------------------------------------------------------------


def test_mesh_and_dotprops_get_vertex_and_point_ids(hemibrain):
    sk = hemibrain[0]
    table = hemibrain_table(sk)
    mesh = navis.example_neurons(1, kind="mesh")
    assert mesh.id == sk.id
    con = sf.attach(table, mesh)[0].connectors
    assert "vertex_id" in con and "node_id" not in con
    assert con["vertex_id"].between(0, len(mesh.vertices) - 1).all()
    assert con["distance"].max() * 8 < 2_000  # synapses lie on the mesh surface
    dp = navis.make_dotprops(sk, k=5)
    con = sf.attach(table, dp)[0].connectors
    assert "point_id" in con and con["point_id"].between(0, len(dp.points) - 1).all()
    sf.validate_connectors(navis.NeuronList([dp]))


# --- hemibrain round trip and navis analyses ------------------------------------------------------


def test_hemibrain_round_trip_recovers_node_ids(hemibrain):
    for sk in hemibrain:
        table = hemibrain_table(sk)
        bare = sk.copy()
        bare._connectors = None
        con = sf.attach(table, bare)[0].connectors
        orig = sk.connectors.assign(connector_id=table["id"].to_numpy())
        merged = orig.merge(con, on=["connector_id", "type"], suffixes=("_orig", "_new"))
        assert len(merged) == len(orig)
        same = (merged["node_id_orig"] == merged["node_id_new"]).mean()
        assert same > 0.98, same


def test_navis_analyses_give_the_same_result(hemibrain):
    sk = hemibrain[0]
    bare = sk.copy()
    bare._connectors = None
    ours = sf.attach(hemibrain_table(sk), bare)[0]
    ref = navis.synapse_flow_centrality(sk.copy())
    got = navis.synapse_flow_centrality(ours.copy())
    a = ref.nodes.set_index("node_id")["synapse_flow_centrality"]
    b = got.nodes.set_index("node_id")["synapse_flow_centrality"]
    assert np.corrcoef(a.loc[b.index], b)[0, 1] > 0.99
    split_ref = navis.split_axon_dendrite(sk, metric="synapse_flow_centrality")
    split_got = navis.split_axon_dendrite(ours, metric="synapse_flow_centrality")
    comp = lambda split: {n.compartment: n.n_nodes for n in split}  # noqa: E731
    ref_c, got_c = comp(split_ref), comp(split_got)
    assert set(ref_c) == set(got_c)
    for k in ref_c:
        assert abs(ref_c[k] - got_c[k]) <= 0.02 * sk.n_nodes
    # presynapses / postsynapses properties work on the attached neuron
    assert len(ours.presynapses) == (sk.connectors["type"] == "pre").sum()


# --- back to a table ------------------------------------------------------------------------------


def test_connectors_to_table_round_trip(syn, neuron):
    nl = sf.attach(syn, rescaled(neuron, 8, "8 nm"))
    back = nl.syn.to_table()
    pd.testing.assert_frame_equal(back[syn.columns], syn, check_exact=False, rtol=1e-9)


def test_synapse_between_two_listed_neurons_is_one_row(syn, neuron):
    partner_id = int(syn.loc[syn.post == ROOT, "pre"].value_counts().index[0])
    partner = neuron.copy()
    partner.id = partner_id  # a stand-in skeleton: only ids and positions matter here
    nl = sf.attach(syn, navis.NeuronList([neuron, partner]))
    assert (nl[1].connectors["partner_id"] == ROOT).all()
    back = sf.connectors_to_table(nl)
    assert back["id"].is_unique and len(back) == len(syn)
    pd.testing.assert_frame_equal(back[syn.columns], syn)


def test_hemibrain_connectors_without_partner_positions(hemibrain):
    back = sf.connectors_to_table(hemibrain[:1])
    assert len(back) == len(hemibrain[0].connectors)
    np.testing.assert_array_equal(
        back[["pre_x", "pre_y", "pre_z"]].to_numpy(),
        back[["post_x", "post_y", "post_z"]].to_numpy(),
    )


# --- fetch onto neurons ---------------------------------------------------------------------------


def test_neuronlist_fetch_attaches(neuron):
    nl = navis.NeuronList([neuron])
    syn = nl.syn.fetch(progress=False)
    assert len(syn) == 2424
    assert len(nl[0].connectors) == 2424  # fafbseg's attach=True: in place
    assert set(nl[0].connectors["connector_id"]) == set(syn["id"])
    fresh = navis.NeuronList([sf.datasets.example_neuron()])
    sf.fetch(fresh, attach=False, progress=False)
    assert fresh[0].connectors is None


def test_clean_connectors(syn, neuron):
    nl = sf.attach(syn.assign(cleft_score=np.arange(len(syn)) % 100), neuron)
    out = nl.syn.clean(min_score=50, max_distance="1 um")
    kept = sf.clean(
        syn.assign(cleft_score=np.arange(len(syn)) % 100),
        min_score=50,
        neurons=neuron,
        max_distance="1 um",
    )
    assert set(out[0].connectors["connector_id"]) == set(kept["id"])
    assert len(nl[0].connectors) == len(syn)  # not in place by default
