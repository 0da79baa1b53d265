"""SONATA: parameterize a real circuit atomically, write and read EM synaptomes."""

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import libsonata
import numpy as np
import pytest

import synframe as sf
from conftest import DATA, ROOT

OBI = DATA / "sonata" / "obi_nbS1_O1_E2Sst_L5"
LOCAL = "S1nonbarrel_neurons__S1nonbarrel_neurons__chemical"
EXTERNAL = "external_S1nonbarrel_neurons__S1nonbarrel_neurons__chemical"


def seed_model(classes=("EXC", "INH")):
    """The seed notebook's model (gamma conductance, constant int syn_type_id) for EXC/INH."""
    exc = {"conductance": {"type": "gamma", "mean": 1.0, "std": 0.5},
           "syn_type_id": {"type": "constant", "mean": 100, "dtype": "int"}}  # fmt: skip
    inh = {"conductance": {"type": "gamma", "mean": 2.0, "std": 0.5},
           "syn_type_id": {"type": "constant", "mean": 1, "dtype": "int"}}  # fmt: skip
    by = {"EXC": exc, "INH": inh}
    return sf.pathway_stats(
        {p: {s: {t: by[s][p] for t in classes} for s in classes} for p in exc},
        by="synapse_class",
    )


@pytest.fixture
def circuit(tmp_path):
    dst = tmp_path / "circuit"
    shutil.copytree(OBI, dst)
    return dst / "circuit_config.json"


def hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def datasets(path: Path) -> dict[str, np.ndarray]:
    out = {}
    with h5py.File(path, "r") as h5:
        h5.visititems(
            lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None
        )
    return out


# --- reading ----------------------------------------------------------------------------------------


def test_read_edges_of_a_real_circuit():
    syn = sf.read_edges(OBI / "circuit_config.json", LOCAL)
    pop = libsonata.EdgeStorage(str(OBI / f"{LOCAL}/edges.h5")).open_population(LOCAL)
    assert len(syn) == pop.size == 57
    sel = pop.select_all()
    assert (syn["pre"].to_numpy() == pop.source_nodes(sel)).all()
    np.testing.assert_allclose(
        syn["post_x"], pop.get_attribute("afferent_center_x", sel) * 1000
    )  # µm -> nm
    assert set(syn["pre_synapse_class"]) == {"EXC"} and set(syn["post_synapse_class"]) == {"INH"}
    assert (
        syn.attrs["population"] == LOCAL and syn.attrs["source_population"] == "S1nonbarrel_neurons"
    )
    sf.validate(syn)
    few = sf.read_edges(
        OBI / "circuit_config.json", LOCAL, properties=["u_syn"], node_properties=()
    )
    assert "u_syn" in few and "conductance" not in few and "pre_mtype" not in few


def test_read_edges_errors():
    with pytest.raises(sf.SynframeError, match="4 edge populations"):
        sf.read_edges(OBI / "circuit_config.json")
    with pytest.raises(sf.SynframeError, match="no edge population 'nope'"):
        sf.read_edges(OBI / "circuit_config.json", "nope")
    with pytest.raises(sf.SynframeError, match="no synapse position"):  # no nodes without a config
        sf.read_edges(DATA / "sonata" / "allen_layer4" / "l4_l4_edges.h5")
    with pytest.raises(sf.SynframeError, match="no attributes"):
        sf.read_edges(OBI / "circuit_config.json", LOCAL, properties=["nope"])


# --- parameterizing circuits --------------------------------------------------------------------------


def test_parameterize_all_populations_into_a_new_circuit(circuit, tmp_path, caplog):
    before = hashes(circuit.parent)
    with caplog.at_level(logging.INFO, logger="synframe"):
        out = sf.parameterize_circuit(circuit, seed_model(), by="synapse_class", seed=1,
                                      overwrite=True, output=tmp_path / "out")  # fmt: skip
    assert hashes(circuit.parent) == before  # the input is untouched
    assert (
        "POm__S1nonbarrel_neurons__chemical': source nodes lack 'synapse_class': skipped"
        in caplog.text
    )
    assert "Re-parameterizing synapses." in caplog.text
    assert "conductance <gamma>; syn_type_id <constant (int)>" in caplog.text
    cfg = libsonata.CircuitConfig.from_file(str(out))
    for name in (LOCAL, EXTERNAL):
        pop = cfg.edge_population(name)
        sel = pop.select_all()
        g = np.asarray(pop.get_attribute("conductance", sel))
        t = np.asarray(pop.get_attribute("syn_type_id", sel))
        assert len(g) == len(t) == pop.size
        assert g.dtype == np.float32 and t.dtype == np.int16  # dtypes of the existing datasets kept
        syn = sf.read_edges(out, name)
        for cls, (mean, std, tid) in {"EXC": (1.0, 0.5, 100), "INH": (2.0, 0.5, 1)}.items():
            sel_c = (syn["pre_synapse_class"] == cls).to_numpy()
            if not sel_c.any():
                continue
            n_conn = syn[sel_c].groupby(["pre", "post"]).ngroups  # shared within connections
            assert abs(g[sel_c].mean() - mean) < 5 * std / np.sqrt(n_conn)
            assert (t[sel_c] == tid).all()
    # every other dataset is identical, byte for byte
    old = datasets(OBI / f"{EXTERNAL}.h5")
    new_file = Path(cfg.edge_population_properties(EXTERNAL).elements_path)
    new = datasets(new_file)
    assert set(old) == set(new)
    for key in old:
        if key.endswith(("/conductance", "/syn_type_id")):
            continue
        assert np.array_equal(old[key], new[key]), key
    # untouched populations still point at the original files
    assert Path(
        cfg.edge_population_properties("VPM__S1nonbarrel_neurons__chemical").elements_path
    ) == (circuit.parent / "VPM__S1nonbarrel_neurons__chemical" / "edges.h5")
    import bluepysnap

    snap = bluepysnap.Circuit(str(out))
    assert snap.edges[EXTERNAL].size == 6951
    assert len(snap.edges[LOCAL].afferent_edges(1)) == 57


def test_new_properties_and_chunking(circuit, tmp_path):
    stats = sf.pathway_stats({"u_new": {"*": {"*": {"type": "truncnorm", "norm_loc": 0.5, "norm_scale": 0.2,
                                                      "min": 0.0, "max": 1.0, "shared_within": False}}}})  # fmt: skip
    a = sf.parameterize_circuit(circuit, stats, by="synapse_class", seed=3, output=tmp_path / "a")
    b = sf.parameterize_circuit(circuit, stats, by="synapse_class", seed=3,
                                output=tmp_path / "b", chunk_size=1000)  # fmt: skip
    x = sf.read_edges(a, EXTERNAL)["u_new"].to_numpy()
    y = sf.read_edges(b, EXTERNAL)["u_new"].to_numpy()
    assert x.dtype == np.float32 and np.array_equal(x, y)  # chunked == one pass
    assert x.min() >= 0 and x.max() <= 1


def test_overwrite_refused_without_the_flag(circuit):
    before = hashes(circuit.parent)
    with pytest.raises(sf.PathwayError, match="overwrite=True"):
        sf.parameterize_circuit(circuit, seed_model(), by="synapse_class", seed=1, inplace=True)
    assert hashes(circuit.parent) == before
    sf.parameterize_circuit(circuit, seed_model(), by="synapse_class", seed=1, inplace=True,
                            overwrite=True)  # fmt: skip
    after = hashes(circuit.parent)
    assert after[f"{EXTERNAL}.h5"] != before[f"{EXTERNAL}.h5"]
    assert (
        after["VPM__S1nonbarrel_neurons__chemical/edges.h5"]
        == before["VPM__S1nonbarrel_neurons__chemical/edges.h5"]
    )
    assert sorted(after) == sorted(before)  # no stray temporary files


def test_missing_pathway_value_fails_before_any_write(circuit, tmp_path):
    before = hashes(circuit.parent)
    with pytest.raises(sf.PathwayError, match=r"nothing was written:[\s\S]*\('EXC', 'INH'\)"):
        sf.parameterize_circuit(circuit, seed_model(classes=("EXC",)), by="synapse_class",
                                seed=1, overwrite=True, output=tmp_path / "out")  # fmt: skip
    assert hashes(circuit.parent) == before and not (tmp_path / "out").exists()
    with pytest.raises(sf.SynframeError, match="output=DIR"):
        sf.parameterize_circuit(circuit, seed_model(), by="synapse_class")


def test_error_between_populations_leaves_the_input_identical(circuit, monkeypatch):
    import synframe.sonata._edgefile as sonata

    before = hashes(circuit.parent)
    real, calls = sonata.write_population, []

    def flaky(*args, **kwargs):
        calls.append(args[1])
        if len(calls) == 2:
            raise RuntimeError("disk full (injected)")
        return real(*args, **kwargs)

    monkeypatch.setattr(sonata, "write_population", flaky)
    with pytest.raises(RuntimeError, match="injected"):
        sf.parameterize_circuit(circuit, seed_model(), by="synapse_class", seed=1,
                                inplace=True, overwrite=True)  # fmt: skip
    assert len(calls) == 2
    assert hashes(circuit.parent) == before


def test_killed_process_leaves_the_input_identical(circuit, caplog):
    before = hashes(circuit.parent)
    script = textwrap.dedent(f"""
        import os, signal
        import synframe as sf, synframe.sonata._edgefile as sonata
        from test_sonata import seed_model
        real, calls = sonata.write_population, []
        def killer(*args, **kwargs):
            calls.append(1)
            if len(calls) == 2:  # half way: after one population was written to the temporary copy
                os.kill(os.getpid(), signal.SIGKILL)
            return real(*args, **kwargs)
        sonata.write_population = killer
        sf.parameterize_circuit({str(circuit)!r}, seed_model(), by="synapse_class", seed=1,
                                inplace=True, overwrite=True)
    """)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    res = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert res.returncode == -9, res.stderr
    after = hashes(circuit.parent)
    assert {
        k: v for k, v in after.items() if ".synframe-" not in k
    } == before  # originals untouched
    assert any(".synframe-" in k for k in after)  # the killed run's temporary copy
    with caplog.at_level(logging.WARNING, logger="synframe"):  # the next run says what was left
        sf.parameterize_circuit(circuit, seed_model(), by="synapse_class", seed=1,
                                inplace=True, overwrite=True)  # fmt: skip
    assert "Leftover temporary file(s) of an interrupted run" in caplog.text


# --- EM synaptomes ------------------------------------------------------------------------------------


def test_synaptome_round_trip_on_the_microns_neuron(tmp_path, neuron):
    classes = sf.datasets.example_synapse_classes()
    syn = sf.fetch(ROOT, progress=False).syn.clean()
    syn = sf.parameterize(
        syn, sf.datasets.example_pathway_stats(), by="synapse_class", types=classes, seed=2
    )
    syn = sf.annotate(syn, classes.rename_axis("root_id").reset_index(), columns="synapse_class")
    config = sf.write_synaptome(syn, tmp_path / "synaptome", neurons=neuron)
    back = sf.read_edges(config).set_index("id").sort_index()
    mine = syn[syn.post == ROOT].set_index("id").sort_index()
    assert back.index.equals(mine.index)
    assert (back["pre"] == mine["pre"]).all() and (back["post"] == ROOT).all()
    for c in ("pre_x", "pre_y", "pre_z", "post_x", "post_y", "post_z"):
        np.testing.assert_allclose(back[c], mine[c], rtol=1e-6)  # float32 µm
    np.testing.assert_allclose(back["conductance"], mine["conductance"], rtol=1e-6)
    assert (back["syn_type_id"] == mine["syn_type_id"]).all()
    assert (back["pre_synapse_class"] == mine["pre_synapse_class"]).all()
    assert back["afferent_section_pos"].between(0, 1).all()  # section ids: test_sonata_synaptome
    # real clients of the format
    pop = libsonata.EdgeStorage(str(config.parent / "edges.h5")).open_population(
        "synaptome_afferents"
    )
    assert len(pop.afferent_edges([0]).flatten()) == len(mine)
    import bluepysnap

    snap = bluepysnap.Circuit(str(config))
    assert (
        snap.nodes["synaptome"].size == 1
        and snap.nodes["synaptome_afferent_neurons"].size == mine.pre.nunique()
    )
    assert len(snap.edges["synaptome_afferents"].afferent_edges(0)) == len(mine)
    assert (config.parent / "morphologies" / f"{ROOT}.swc").exists()
    cfg = json.loads(config.read_text())
    assert cfg["synframe"]["materialization"] == 795
    # the synaptome is also a source for sf.fetch
    again = sf.fetch(ROOT, source=config, progress=False)
    assert set(again["id"]) == set(mine.index)


def test_synaptome_errors(tmp_path, syn):
    with pytest.raises(sf.SynframeError, match="no synapses onto"):
        sf.write_synaptome(syn, tmp_path / "x", neurons=[12345])
    sf.write_synaptome(syn, tmp_path / "x")  # neurons from the fetch history
    with pytest.raises(sf.SynframeError, match="exists; pass overwrite=True"):
        sf.write_synaptome(syn, tmp_path / "x")
    plain = syn.copy()
    plain.attrs = {}
    with pytest.raises(sf.SynframeError, match="pass neurons="):
        sf.write_synaptome(plain, tmp_path / "y")


# --- coverage over the pathways the edges have; paths of a new circuit ------------------------------


def exc_inh_model():
    """A model of the EXC -> INH pathway only: the 57 local nbS1 edges are all EXC -> INH."""
    g = {"type": "gamma", "mean": 1.0, "std": 0.5, "lower_bound": 0.0}
    return sf.pathway_stats({"conductance": {"EXC": {"INH": g}}}, by="synapse_class")


@pytest.mark.parametrize("chunk_size", [1_000_000, 7])
def test_coverage_is_checked_over_the_pathways_the_edges_have(circuit, tmp_path, chunk_size):
    """Nodes of both classes on both sides, edges EXC -> INH only: an EXC -> INH model covers them."""
    nodes = libsonata.NodeStorage(str(OBI / "S1nonbarrel_neurons/nodes.h5"))
    nodes = nodes.open_population("S1nonbarrel_neurons")
    classes = nodes.get_attribute("synapse_class", nodes.select_all())
    assert sorted(classes) == ["EXC", "INH"]
    out = sf.parameterize_circuit(
        circuit, exc_inh_model(), by="synapse_class", populations=[LOCAL], seed=1,
        overwrite=True, output=tmp_path / f"out{chunk_size}", chunk_size=chunk_size,
    )  # fmt: skip
    pop = libsonata.CircuitConfig.from_file(str(out)).edge_population(LOCAL)
    g = np.asarray(pop.get_attribute("conductance", pop.select_all()))
    before = sf.read_edges(circuit, LOCAL)["conductance"].to_numpy()
    assert len(g) == 57 and (g > 0).all() and not np.array_equal(g, before)
    # the same model on edges that do have other pathways: refused, naming those only
    with pytest.raises(sf.PathwayError, match=r"\('INH', 'EXC'\)") as err:
        sf.parameterize_circuit(circuit, exc_inh_model(), by="synapse_class",
                                populations=[EXTERNAL], seed=1, overwrite=True,
                                output=tmp_path / "refused", chunk_size=chunk_size)  # fmt: skip
    assert "('EXC', 'INH')" not in str(err.value)
    assert not (tmp_path / "refused").exists()
    # the reverse model does not cover the local edges
    rev = {"type": "gamma", "mean": 1.0, "std": 0.5}
    rev = sf.pathway_stats({"conductance": {"INH": {"EXC": rev}}}, by="synapse_class")
    with pytest.raises(sf.PathwayError, match=r"\[\('EXC', 'INH'\)\]"):
        sf.parameterize_circuit(circuit, rev, by="synapse_class", populations=[LOCAL],
                                overwrite=True, output=tmp_path / "rev")  # fmt: skip


def test_cli_accepts_a_model_of_the_pathways_the_edges_have(circuit, tmp_path, capsys):
    from synframe.cli import main

    stats = sf.save_pathway_stats(exc_inh_model(), tmp_path / "exc_inh.json")
    args = ["parameterize", str(circuit), "--stats", str(stats), "--by", "synapse_class",
            "--population", LOCAL, "--output", str(tmp_path / "p2"), "--overwrite", "--seed", "1"]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    assert (tmp_path / "p2" / "circuit_config.json").exists()


PATH_KEYS = ("morphologies_dir", "biophysical_neuron_models_dir", "mechanisms_dir",
             "node_sets_file", "nodes_file")  # fmt: skip


def test_a_new_circuit_keeps_every_path_pointing_where_it_pointed(circuit, tmp_path):
    """nbS1's mechanisms_dir ('mod', not shipped) and the population's morphologies_dir stay at the
    original circuit, checked with bluepysnap; empty strings (SONATA's "not set") stay empty; a
    value that is not a path stays itself even when a folder of that name exists."""
    import bluepysnap

    (circuit.parent / "chemical").mkdir()  # an edge population's "type" value, as a folder
    out = sf.parameterize_circuit(circuit, exc_inh_model(), by="synapse_class",
                                  populations=[LOCAL], seed=1, overwrite=True,
                                  output=tmp_path / "out")  # fmt: skip
    old, new = bluepysnap.Circuit(str(circuit)), bluepysnap.Circuit(str(out))
    assert new.config["components"]["mechanisms_dir"] == str(circuit.parent / "mod")
    given = json.loads(circuit.read_text())
    pop = "S1nonbarrel_neurons"
    for raw_part, a, b in (
        (given["components"], old.config["components"], new.config["components"]),
        (given["networks"]["nodes"][0]["populations"][pop], old.nodes[pop].config,
         new.nodes[pop].config),
    ):  # fmt: skip
        set_paths = [k for k in PATH_KEYS if isinstance(raw_part.get(k), str) and raw_part[k]]
        assert set_paths
        for key in set_paths:
            assert b[key] == a[key], key
    assert new.nodes["S1nonbarrel_neurons"].config["morphologies_dir"] == str(
        circuit.parent / "morphologies" / "swc"
    )
    raw = json.loads(out.read_text())
    assert raw["components"]["morphologies_dir"] == ""  # empty stays empty
    assert raw["components"]["templates_dir"] == ""
    assert raw["components"]["provenance"]["id_mapping"] == str(circuit.parent / "id_mapping.json")
    types = {
        e["populations"][p]["type"] for e in raw["networks"]["edges"] for p in e["populations"]
    }
    assert types == {"chemical"}
    # untouched populations read the original files, the parameterized one the new file
    assert new.edges[EXTERNAL].h5_filepath == str(circuit.parent / f"{EXTERNAL}.h5")
    assert Path(new.edges[LOCAL].h5_filepath).parent == tmp_path / "out" / "edges"
