"""What drew the values is recorded in every circuit synframe writes (#13): the ``synframe`` entry
of ``circuit_config.json`` and the ``synframe_provenance`` attribute of the edge population, read
back with libsonata and h5py -- for ``write_circuit`` (pandas and dask), ``write_synaptome`` and
the commands ``demo``, ``synaptome`` and ``circuit``."""

import hashlib
import json
import re
from pathlib import Path

import h5py
import libsonata
import numpy as np
import pytest

import synframe as sf
from conftest import ROOT
from synframe._provenance import stats_sha256
from synframe.cli import main


def edge_record(config: Path) -> dict | None:
    """The ``synframe_provenance`` attribute of the circuit's only edge population (h5py), after
    libsonata opened the population (the attribute does not get in its way)."""
    cfg = libsonata.CircuitConfig.from_file(str(config))
    (name,) = cfg.edge_populations
    pop = cfg.edge_population(name)
    assert pop.size > 0
    path = cfg.edge_population_properties(name).elements_path
    with h5py.File(path, "r") as h5:
        raw = h5["edges"][name].attrs.get("synframe_provenance")
    return None if raw is None else json.loads(raw)


def config_record(config: Path) -> dict:
    return json.loads(Path(config).read_text())["synframe"]


@pytest.fixture
def drawn(syn):
    stats = sf.datasets.example_pathway_stats()
    classes = sf.datasets.example_synapse_classes()
    out = sf.parameterize(syn, stats, by="synapse_class", types=classes, seed=7)
    return out, stats


def check(config: Path, stats, seed: int) -> None:
    entry = config_record(config)
    assert entry["synframe_version"] == sf.__version__
    record = entry["parameterize"]
    assert record["seed"] == seed and record["by"] == "synapse_class"
    assert record["stats_sha256"] == stats_sha256(stats)
    assert record["properties"] == ["conductance", "syn_type_id"]
    assert edge_record(config) == record


def test_write_circuit_records_what_drew_the_values(drawn, tmp_path):
    syn, stats = drawn
    config = sf.write_circuit(syn, tmp_path / "net")
    check(config, stats, 7)
    assert config_record(config)["written_by"] == "synframe.write_circuit"
    assert config_record(config)["stages"][-1] == "parameterize"


def test_write_synaptome_records_what_drew_the_values(drawn, tmp_path):
    syn, stats = drawn
    config = sf.write_synaptome(syn, tmp_path / "s", neurons=[ROOT])
    check(config, stats, 7)
    assert config_record(config)["written_by"] == "synframe.write_synaptome"


def test_two_parameterizations_keep_both_records(drawn, tmp_path):
    syn, stats = drawn
    again = sf.parameterize(syn, stats, by="synapse_class", properties=["conductance"],
                            types=sf.datasets.example_synapse_classes(), seed=8,
                            overwrite=True)  # fmt: skip
    record = edge_record(sf.write_circuit(again, tmp_path / "net"))
    assert record["seed"] == 8 and record["properties"] == ["conductance"]
    assert [r["seed"] for r in record["earlier"]] == [7]


def test_an_unparameterized_table_records_no_draw(syn, tmp_path):
    config = sf.write_circuit(syn, tmp_path / "net")
    assert "parameterize" not in config_record(config) and edge_record(config) is None
    config = sf.write_synaptome(syn, tmp_path / "s", neurons=[ROOT])
    assert "parameterize" not in config_record(config) and edge_record(config) is None


def test_a_dask_table_records_its_meta_attrs(drawn, tmp_path):
    """From dask the record is read from ``ddf._meta.attrs`` (where a parameterize on dask
    leaves it)."""
    import dask.dataframe as dd

    syn, stats = drawn
    ddf = dd.from_pandas(syn, npartitions=3)
    assert ddf._meta.attrs["history"][-1]["stage"] == "parameterize"
    config = sf.write_circuit(ddf, tmp_path / "net")
    check(config, stats, 7)
    assert (sf.read_edges(config)["conductance"].to_numpy() == syn["conductance"].to_numpy()).all()


def drawn_seed(stderr: str) -> int:
    return int(re.search(r"seed (\d+) \(drawn; pass --seed \1 to repeat\)", stderr).group(1))


def test_cli_demo_and_synaptome_record_the_seed(tmp_path, capsys):
    assert main(["demo", "--output", str(tmp_path / "d"), "--seed", "5"]) == 0
    stats = sf.datasets.example_pathway_stats()
    check(tmp_path / "d" / "circuit_config.json", stats, 5)
    capsys.readouterr()
    assert main(["synaptome", str(ROOT), "--output", str(tmp_path / "s"), "--seed", "11"]) == 0
    check(tmp_path / "s" / "circuit_config.json", stats, 11)


def test_cli_circuit_records_the_drawn_seed_and_the_stats_file(tmp_path, syn, capsys):
    store = tmp_path / "syn.parquet"
    syn.to_parquet(store)
    neurons = tmp_path / "neurons.csv"
    classes = sf.datasets.example_synapse_classes().rename_axis("root_id").reset_index()
    classes.to_csv(neurons, index=False)
    stats_file = sf.save_pathway_stats(sf.datasets.example_pathway_stats(), tmp_path / "st.json")
    args = ["circuit", "--source", str(store), "--output", str(tmp_path / "net"),
            "--neurons", str(neurons), "--stats", str(stats_file), "--by", "synapse_class"]  # fmt: skip
    assert main(args) == 0
    seed = drawn_seed(capsys.readouterr().err)
    config = tmp_path / "net" / "circuit_config.json"
    check(config, sf.load_pathway_stats(stats_file), seed)
    record = edge_record(config)
    assert record["stats_file_sha256"] == hashlib.sha256(stats_file.read_bytes()).hexdigest()
    assert np.isfinite(sf.read_edges(config)["conductance"]).all()
