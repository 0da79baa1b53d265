"""SONATA as the specification allows it: the Allen Institute's bmtk-built layer-4 circuit.

Its config lists no populations, its edge population has two groups (libsonata refuses it), and
per-type attributes live in node/edge types CSVs. Every result is compared with bmtk's own reader
(``bmtk.utils.sonata``), the program that reads these circuits in practice.
"""

import json
import shutil
import warnings

import h5py
import numpy as np
import pandas as pd
import pytest

import synframe as sf
from conftest import DATA
from synframe.cli import main

ALLEN = DATA / "sonata" / "allen_layer4"
POP = "l4_to_l4"


def l4_config(root, network) -> str:
    """Upstream's circuit_config.json without its LGN entries (their files are not in the fixture)."""
    cfg = json.loads((ALLEN / "circuit_config.json").read_text())
    cfg["manifest"]["$NETWORK_DIR"] = str(network)
    for kind in ("nodes", "edges"):
        cfg["networks"][kind] = [e for e in cfg["networks"][kind] if "lgn" not in json.dumps(e)]
    path = root / "circuit_config.json"
    path.write_text(json.dumps(cfg, indent=2))
    return path


@pytest.fixture
def circuit(tmp_path):
    """A writable copy of the layer-4 circuit: (config, network folder)."""
    network = tmp_path / "network"
    shutil.copytree(ALLEN, network)
    return l4_config(tmp_path, network), network


def bmtk_file(network, edges="l4_l4_edges.h5", nodes="l4_nodes.h5", edge_types=None):
    from bmtk.utils.sonata import File

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # bmtk's own deprecation warnings
        return File(
            data_files=[str(network / nodes), str(network / edges)],
            data_type_files=[
                str(network / "l4_node_types.csv"),
                str(edge_types or network / "l4_l4_edge_types.csv"),
            ],
        )


def bmtk_edges(net, props) -> pd.DataFrame:
    """The edges as bmtk's simulators see them: edge by edge, in file order, types merged.

    (bmtk's ``EdgePopulation.to_dataframe`` is not used: with this circuit it pairs 45 % of the
    ``syn_weight`` values with other edges' source/target ids.)
    """

    def value(edge, p):
        try:
            return edge[p]
        except KeyError:
            return None

    rows = [
        (e.source_node_id, e.target_node_id, *(value(e, p) for p in props)) for e in net.edges[POP]
    ]
    return pd.DataFrame(rows, columns=["pre", "post", *props])


def bmtk_nodes(net) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return net.nodes["l4"].to_dataframe()


def assert_same(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    """Column by column, row by row; missing values (None/NaN/<NA>) must coincide."""
    assert len(ours) == len(theirs)
    for c in theirs:
        a = ours[c].astype(object).where(ours[c].notna(), None).to_numpy()
        b = theirs[c].astype(object).where(theirs[c].notna(), None).to_numpy()
        assert ((a == b) | pd.isna(a) & pd.isna(b)).all(), c


def test_the_fixture_carries_its_licence():
    assert "Allen Institute" in (ALLEN / "LICENSE.txt").read_text()
    assert (ALLEN / "README.md").exists()


def test_populations_are_found_in_the_files(circuit):
    config, _ = circuit
    from synframe.sonata._circuit import Circuit

    c = Circuit(config)
    assert list(c.edge_files) == [POP] and list(c.node_files) == ["l4"]
    assert c.edge_types[POP].name == "l4_l4_edge_types.csv"


def test_a_config_naming_missing_files_says_which(tmp_path):
    network = tmp_path / "network"
    shutil.copytree(ALLEN, network)
    shutil.copy(ALLEN / "circuit_config.json", tmp_path)  # upstream's, with its LGN entries
    with pytest.raises(sf.SonataError, match=r"lgn_nodes\.h5 does not exist"):
        sf.read_edges(tmp_path / "circuit_config.json", POP)


def test_read_edges_matches_bmtk(circuit):
    config, network = circuit
    syn = sf.read_edges(config, node_properties=("ei", "model_name"))
    net = bmtk_file(network)
    props = ["dist", "pos_x", "sec_id", "sec_x", "syn_weight", "type", "delay",
             "model_template", "target_query"]  # fmt: skip
    edges, nodes = bmtk_edges(net, props), bmtk_nodes(net)
    assert len(syn) == len(edges) == 47020
    assert syn.attrs["population"] == POP
    # every attribute, per-edge datasets of both groups and per-type CSV columns, as bmtk has them
    assert_same(syn, edges)
    # group 1 (point-neuron targets) has no sec_id: missing there, exact integers elsewhere
    assert str(syn["sec_id"].dtype) == "Int32" and syn["sec_id"].isna().sum() == 32237
    # node types merged per node
    by_id = nodes
    assert (syn["post_ei"].to_numpy() == by_id.loc[syn["post"], "ei"].to_numpy()).all()
    assert (
        syn["pre_model_name"].to_numpy() == by_id.loc[syn["pre"], "model_name"].to_numpy()
    ).all()
    # no synapse centres: positions are the nodes' (µm -> nm)
    np.testing.assert_allclose(syn["post_x"], by_id.loc[syn["post"], "x"].to_numpy() * 1000)
    np.testing.assert_allclose(syn["pre_z"], by_id.loc[syn["pre"], "z"].to_numpy() * 1000)


def add_dataset(file, path, data):
    with h5py.File(file, "r+") as h5:
        h5.create_dataset(path, data=data)


def test_per_edge_datasets_win_over_the_types_csv(circuit):
    config, network = circuit
    edges = network / "l4_l4_edges.h5"
    with h5py.File(edges, "r") as h5:
        n1 = int((h5[f"edges/{POP}/edge_group_id"][()] == 1).sum())
    add_dataset(edges, f"edges/{POP}/1/delay", np.linspace(0.5, 1.5, n1))  # group 1 only
    add_dataset(edges, f"edges/{POP}/1/nsyns", np.arange(n1, dtype=np.uint16) % 5 + 1)
    syn = sf.read_edges(config)
    with h5py.File(edges, "r") as h5:
        gid = h5[f"edges/{POP}/edge_group_id"][()]
        gidx = h5[f"edges/{POP}/edge_group_index"][()]
    in1 = gid == 1
    np.testing.assert_array_equal(
        syn["delay"].to_numpy()[in1], np.linspace(0.5, 1.5, n1)[gidx[in1]]
    )
    assert (syn["delay"].to_numpy()[~in1] == 2.0).all()  # the types CSV for group 0
    # one row per edge; nsyns is the edge's synapse count
    assert len(syn) == 47020 and syn["nsyns"].isna().sum() == (~in1).sum()
    assert syn["nsyns"].dropna().between(1, 5).all()
    theirs = bmtk_edges(bmtk_file(network), ["syn_weight", "delay", "nsyns", "sec_id"])
    assert_same(syn, theirs)  # bmtk applies the same precedence


def test_multi_group_nodes_and_a_population_column(circuit):
    config, network = circuit
    nodes = network / "l4_nodes.h5"
    with h5py.File(nodes, "r+") as h5:  # the last 100 nodes move to a group of their own
        pop = h5["nodes/l4"]
        gid, gidx = pop["node_group_id"][()], pop["node_group_index"][()]
        g0 = {k: pop["0"][k][()] for k in pop["0"]}
        gid[349:], gidx[349:] = 1, np.arange(100)
        del pop["node_group_id"], pop["node_group_index"]
        pop["node_group_id"], pop["node_group_index"] = gid, gidx
        for axis in "xyz":
            pop[f"1/{axis}"] = g0[axis][349:]
    types = pd.read_csv(network / "l4_node_types.csv", sep=" ")
    other = types.assign(population="elsewhere", ei="NOPE")
    pd.concat([types.assign(population="l4"), other]).to_csv(
        network / "l4_node_types.csv", sep=" ", index=False, na_rep="NULL"
    )
    syn = sf.read_edges(config, node_properties=("ei", "tuning_angle"))
    assert set(syn["post_ei"]) == {"e", "i"}  # only the rows of population l4
    moved = syn["post"] >= 349
    assert syn.loc[moved, "post_tuning_angle"].isna().all()  # group 1 has no tuning_angle
    np.testing.assert_allclose(syn["post_x"], g0["x"][syn["post"]] * 1000)


def test_fit_stats_cli_on_a_bmtk_circuit(circuit, tmp_path, capsys):
    config, network = circuit
    out = tmp_path / "stats.json"
    args = ["fit-stats", str(config), "--by", "ei", "--properties", "syn_weight", "delay"]
    assert main([*args, "--min-connections", "1", "--output", str(out)]) == 0
    stats = sf.load_pathway_stats(out)
    net = bmtk_file(network)
    edges, ei = bmtk_edges(net, ["syn_weight"]), bmtk_nodes(net)["ei"]
    edges = edges.assign(src=ei.loc[edges["pre"]].to_numpy(), tgt=ei.loc[edges["post"]].to_numpy())
    for (s, t), rows in edges.groupby(["src", "tgt"]):
        per_conn = rows.groupby(["pre", "post"])["syn_weight"].first()
        mean = float(stats.syn.param("mean").sel(property="syn_weight", src=s, tgt=t))
        assert mean == pytest.approx(per_conn.mean(), rel=1e-9), (s, t)
        assert float(stats.syn.param("mean").sel(property="delay", src=s, tgt=t)) == 2.0


def gamma(mean, std=0.0):
    return (
        {"type": "gamma", "mean": mean, "std": std} if std else {"type": "constant", "mean": mean}
    )


def test_parameterize_writes_every_group(circuit, tmp_path):
    config, network = circuit
    model = {
        "syn_weight": {
            s: {t: gamma(m, m / 4) for t in "ei"} for s, m in (("e", 1e-3), ("i", 4e-3))
        },
        "u_new": {
            s: {t: {"type": "constant", "mean": 7, "dtype": "int"} for t in "ei"} for s in "ei"
        },
    }
    stats = sf.pathway_stats(model, by="ei")
    with pytest.raises(sf.PathwayError, match="syn_weight"):
        sf.parameterize_circuit(config, stats, by="ei", seed=1, output=tmp_path / "refused")
    out = sf.parameterize_circuit(
        config, stats, by="ei", seed=1, overwrite=True, output=tmp_path / "out"
    )
    new_edges = tmp_path / "out" / "edges" / "network__l4_l4_edges.h5"
    assert new_edges.exists()
    with h5py.File(new_edges, "r") as h5:  # every group got its rows' values, sized to the group
        pop = h5[f"edges/{POP}"]
        gid = pop["edge_group_id"][()]
        for g in ("0", "1"):
            assert pop[g]["u_new"].shape == ((gid == int(g)).sum(),)
            assert (pop[g]["u_new"][()] == 7).all() and pop[g]["u_new"].dtype == np.int32
            assert pop[g]["syn_weight"].dtype == np.float64  # the existing dtype is kept
    syn = sf.read_edges(out, node_properties=("ei",))
    before = sf.read_edges(config)
    assert not np.allclose(syn["syn_weight"], before["syn_weight"])
    for s, m in (("e", 1e-3), ("i", 4e-3)):
        w = syn.loc[syn["pre_ei"] == s, "syn_weight"]
        n_conn = syn[syn["pre_ei"] == s].groupby(["pre", "post"]).ngroups
        assert abs(w.mean() - m) < 5 * (m / 4) / np.sqrt(n_conn)
    pd.testing.assert_series_equal(syn["sec_id"], before["sec_id"])  # other datasets untouched
    net = bmtk_file(network, edges=f"../out/edges/{new_edges.name}")
    assert_same(syn, bmtk_edges(net, ["syn_weight", "u_new", "sec_id"]))  # bmtk reads it back


def test_type_level_properties_count_as_existing(circuit, tmp_path):
    config, _ = circuit
    stats = sf.pathway_stats({"delay": {"*": {"*": {"type": "constant", "mean": 1.5}}}})
    with pytest.raises(sf.PathwayError, match=r"already has \['delay'\]"):
        sf.parameterize_circuit(config, stats, by="ei", seed=1, output=tmp_path / "a")
    out = sf.parameterize_circuit(
        config, stats, by="ei", seed=1, overwrite=True, output=tmp_path / "b"
    )
    assert (sf.read_edges(out)["delay"] == 1.5).all()  # per-edge datasets now win over the CSV


@pytest.mark.parametrize(
    ("csv", "match"),
    [
        ("type_id delay\n100 2.0\n", "no 'edge_type_id' column"),
        ("edge_type_id delay\n100 2.0\n100 3.0\n", "values repeat"),
        ("edge_type_id delay\n100 2.0\n", r"edge_type_ids \[101, 102"),
    ],
)
def test_broken_types_files_are_named(circuit, csv, match):
    config, network = circuit
    (network / "l4_l4_edge_types.csv").write_text(csv)
    with pytest.raises(sf.SonataError, match=match):
        sf.read_edges(config, properties=["delay"], node_properties=())


def test_reading_leaves_the_circuit_untouched(circuit):
    config, network = circuit
    before = {p.name: p.read_bytes() for p in network.iterdir()}
    sf.read_edges(config, node_properties=("ei",))
    list(sf.sonata.iter_edges(config, chunk_size=10_000, positions=False))
    assert {p.name: p.read_bytes() for p in network.iterdir()} == before


def test_chunks_equal_one_pass_across_groups(circuit):
    config, _ = circuit
    whole = sf.read_edges(config, node_properties=("ei",))
    parts = pd.concat(sf.sonata.iter_edges(config, node_properties=("ei",), chunk_size=7_001))
    pd.testing.assert_frame_equal(parts.reset_index(drop=True), whole, check_dtype=False)
