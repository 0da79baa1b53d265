"""What a table is and what was done to it: history, the notebook reprs, the log level."""

import subprocess
import sys

import pandas as pd
import pytest

import synframe as sf
from conftest import ROOT


@pytest.fixture
def pipeline(syn, neuron):
    out = sf.clean(syn, neurons=neuron, max_distance="1 um")
    return out.syn.parameterize(
        sf.datasets.example_pathway_stats(),
        by="synapse_class",
        types=sf.datasets.example_synapse_classes(),
        seed=7,
    )


def test_history_lists_every_stage_with_rows_and_removals(pipeline):
    h = sf.history(pipeline)
    assert h["stage"].tolist() == ["fetch", "clean", "parameterize"]
    assert h["rows_out"].tolist() == [2424, 2019, 2019]
    clean = h.iloc[1]
    assert clean["rows_in"] - clean["rows_out"] == clean["removed"] == clean["too_far"] == 405
    assert h.loc[2, "options"]["seed"] == 7 and h.loc[2, "options"]["by"] == "synapse_class"
    assert h.loc[0, "options"]["materialization"] == "auto"
    assert pipeline.syn.history().equals(h)
    assert sf.history(pd.DataFrame()).empty  # no history: an empty table, not an error


def test_history_records_provenance_of_the_draws(pipeline):
    record = pipeline.attrs["history"][-1]
    assert record["synframe_version"] == sf.__version__
    assert len(record["stats_sha256"]) == 64
    other = sf.datasets.example_pathway_stats(shared_within=True)
    again = sf.parameterize(
        pipeline,
        other,
        by="synapse_class",
        types=sf.datasets.example_synapse_classes(),
        seed=7,
        overwrite=True,
    )
    assert again.attrs["history"][-1]["stats_sha256"] != record["stats_sha256"]


def test_synapse_table_repr_in_a_notebook(pipeline):
    text = repr(pipeline.syn)
    assert "synapses     2,019 (unique ids)" in text
    assert "properties   conductance, syn_type_id" in text
    assert "fetch (2,424) -> clean (2,019) -> parameterize (2,019)" in text
    assert "clean" in text.splitlines()[-1]  # the methods
    html = pipeline.syn._repr_html_()
    assert html.startswith("<table>") and "2,019" in html and "minnie65_public" in html
    neurons = sf.datasets.example_cell_types()
    assert "not a synapse table" in repr(neurons.syn)


def test_pathway_stats_repr_in_a_notebook():
    stats = sf.datasets.example_pathway_stats()
    assert repr(stats.syn).startswith("Connection/synapse property distributions between 3x3")
    html = stats.syn._repr_html_()
    assert "<table" in html and "gamma(mean=2, std=0.5)" in html
    table = stats.syn.table()
    assert table.shape == (2, 9) and table.index.tolist() == ["conductance", "syn_type_id"]


def test_set_loglevel_shows_what_stages_do():
    code = (
        "import synframe as sf\n"
        "sf.set_loglevel('INFO')\n"
        "sf.clean(sf.datasets.example_synapses())\n"
        "sf.set_loglevel('WARNING')\n"
        "sf.clean(sf.datasets.example_synapses())\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stderr.count("INFO synframe: clean: 2424 -> 2424 synapses") == 1
    with pytest.raises(sf.OptionError, match="level must be one of"):
        sf.set_loglevel("LOUD")


def test_fetch_history_keeps_the_query(syn):
    h = sf.history(syn)
    assert h.loc[0, "rows_out"] == len(syn) and h.loc[0, "options"]["neurons"] == 1
    assert ROOT not in h.loc[0, "options"].values()  # query ids are kept in attrs, not shown
