"""Ordinary mistakes that used to give silently wrong results: each is now an error or a warning.

- positions in µm (or voxels) in a table that says nm, or a neuron in other units than it says:
  ``clean`` dropped everything as "too far", ``attach`` attached everything ~1 mm away;
- ``parameterize_circuit`` / ``synframe parameterize --by <a property no population has>`` changed
  nothing and exited 0;
- ``fit_pathway_stats`` / ``synframe fit-stats`` without distributions fitted an unbounded normal
  that draws negative conductances;
- stats fitted by one pathway property applied by another, and stats loaded from JSON that had
  forgotten their pathway property;
- ``stats.syn.param("shape")`` returned all-NaN.
"""

import json
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

import synframe as sf
from conftest import DATA, rescaled

CIRCUIT = DATA / "sonata" / "obi_nbS1_O1_E2Sst_L5"
POSITIONS = ["pre_x", "pre_y", "pre_z", "post_x", "post_y", "post_z"]


def _synframe(*args):
    exe = shutil.which("synframe")
    cmd = [exe, *args] if exe else [sys.executable, "-m", "synframe", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def _scaled(syn, factors):
    out = syn.copy()
    for side in ("pre", "post"):
        for axis, f in zip("xyz", factors, strict=True):
            out[f"{side}_{axis}"] = out[f"{side}_{axis}"] / f
    return out


# --- units ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "factors", [(1000, 1000, 1000), (4, 4, 40)], ids=["um_as_nm", "voxels_as_nm"]
)
def test_positions_in_other_units_warn_in_clean_and_attach(syn, neuron, factors):
    wrong = _scaled(syn, factors)
    with pytest.warns(sf.SynframeWarning, match=r"units\?") as rec:
        out = sf.clean(wrong, neurons=neuron)
    assert len(out) == 0  # the result is still what was asked; the warning names the likely cause
    assert "clean: 1 of 1 neurons" in str(rec[0].message) and "nm" in str(rec[0].message)
    with pytest.warns(sf.SynframeWarning, match=r"attach: .* units\?"):
        nl = sf.attach(wrong, neuron)
    assert nl[0].connectors["distance"].median() > 100_000  # ~0.1-1 mm away


def test_a_neuron_in_other_units_than_it_says_warns(syn, neuron):
    mislabelled = rescaled(neuron, 1000, "1 nanometer")  # µm coordinates labelled nm
    with pytest.warns(sf.SynframeWarning, match=r"units\?.*neuron size 0.359 µm"):
        sf.attach(syn, mislabelled)
    with pytest.warns(sf.SynframeWarning, match=r"units\?"):
        sf.clean(syn, neurons=mislabelled)


def test_right_units_and_a_few_stray_synapses_do_not_warn(syn, neuron):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sf.clean(syn, neurons=neuron)
        sf.attach(syn, neuron)
        sf.attach(syn, rescaled(neuron, 1000, "1 micrometer"))  # other units, said right
        stray = syn.copy()
        stray.loc[stray.index[:20], POSITIONS] += 2e6  # 20 synapses 2 mm off: dropped, no warning
        assert len(sf.clean(stray, neurons=neuron)) == len(syn) - 20


# --- parameterize_circuit with a pathway property no population has -----------------------------------


@pytest.fixture
def circuit(tmp_path):
    dst = tmp_path / "circuit"
    shutil.copytree(CIRCUIT, dst)
    return dst / "circuit_config.json"


@pytest.fixture
def any_stats():
    return sf.pathway_stats({"g": {"*": {"*": {"type": "gamma", "mean": 1.0, "std": 0.2}}}})


def test_parameterize_circuit_with_an_unknown_property_is_an_error(circuit, any_stats, tmp_path):
    with pytest.raises(sf.OptionError, match=r"no edge population has 'cell_type'.*'mtype'"):
        sf.parameterize_circuit(circuit, any_stats, by="cell_type", output=tmp_path / "out")
    assert not (tmp_path / "out").exists()
    # a property some populations have still works, the others skipped with a warning
    out = sf.parameterize_circuit(circuit, any_stats, by="mtype", output=tmp_path / "ok", seed=1)
    assert "g" in sf.read_edges(out, "external_S1nonbarrel_neurons__S1nonbarrel_neurons__chemical")


def test_cli_parameterize_with_an_unknown_property_exits_2(circuit, any_stats, tmp_path):
    with pytest.warns(sf.SynframeWarning, match="only '\\*' wildcard types"):
        sf.save_pathway_stats(any_stats, tmp_path / "s.json")
    res = _synframe("parameterize", str(circuit), "--stats", str(tmp_path / "s.json"),
                    "--pathway-property", "cell_type", "--output", str(tmp_path / "out"))  # fmt: skip
    assert res.returncode == 2, res.stdout
    assert "no edge population has 'cell_type'" in res.stderr and "synapse_class" in res.stderr
    assert not (tmp_path / "out").exists()


# --- fitting without distributions -------------------------------------------------------------------


def _positive_table(n_conn=400, per=3):
    rng = np.random.default_rng(3)
    pre = np.repeat(np.arange(n_conn, dtype=np.int64) + 10, per)
    df = pd.DataFrame({"id": np.arange(len(pre)), "pre": pre, "post": np.full(len(pre), 1)})
    for c in POSITIONS:
        df[c] = rng.uniform(0, 1e5, len(df))
    df["pre_c"], df["post_c"] = "EXC", "EXC"
    # skewed, positive, near 0: an unbounded normal fit puts ~10 % of its mass below 0
    df["conductance"] = rng.gamma(1.5, 0.3, len(df))
    df["n_rrp_vesicles"] = rng.integers(1, 4, len(df)).astype("int16")
    return df


def test_fit_without_distributions_respects_the_datas_support(caplog):
    df = _positive_table()
    with caplog.at_level("INFO", logger="synframe"):
        stats = sf.fit_pathway_stats(df, by="c", properties=["conductance", "n_rrp_vesicles"])
    assert "chose gamma" in caplog.text
    auto = stats.attrs["fit"]["auto"]
    assert auto == {
        "conductance": "gamma (non-negative values), bounds from the data",
        "n_rrp_vesicles": "discrete (integer values)",
    }
    g = stats.sel(property="conductance", src="EXC", tgt="EXC").item()
    assert g["type"] == "gamma"
    assert (
        g["lower_bound"] == df["conductance"].min() and g["upper_bound"] == df["conductance"].max()
    )
    x = stats.syn.sample("conductance", "EXC", "EXC", n=100_000, seed=1)
    assert x.min() >= df["conductance"].min() > 0
    v = stats.syn.sample("n_rrp_vesicles", "EXC", "EXC", n=1000)
    assert set(np.unique(v)) <= {1, 2, 3} and v.dtype == np.int64
    # explicit types are kept as given, without bounds unless asked for
    plain = sf.fit_pathway_stats(df, by="c", properties="conductance", distributions="normal")
    assert "lower_bound" not in plain.sel(property="conductance", src="EXC", tgt="EXC").item()
    assert plain.attrs["fit"]["auto"] == {}


def test_cli_fit_stats_without_distributions_says_what_it_chose(tmp_path):
    circuit = tmp_path / "c"
    shutil.copytree(CIRCUIT, circuit)
    res = _synframe("fit-stats", str(circuit / "circuit_config.json"), "--pathway-property",
                    "synapse_class", "--properties", "conductance", "n_rrp_vesicles",
                    "--output", str(tmp_path / "s.json"))  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert (
        "conductance: no distribution given: gamma (non-negative values), bounds from the data"
        in res.stdout
    )
    assert "n_rrp_vesicles: no distribution given: discrete (integer values)" in res.stdout
    stats = sf.load_pathway_stats(tmp_path / "s.json")
    for s in ("EXC", "INH"):
        for t in ("EXC", "INH"):
            if stats.sel(property="conductance", src=s, tgt=t).item() is not None:
                assert stats.syn.sample("conductance", s, t, n=20_000).min() > 0
    res = _synframe("fit-stats", str(circuit / "circuit_config.json"), "--pathway-property", "mtype",
                    "--properties", "conductance", "--distributions", "conductance",
                    "--output", str(tmp_path / "t.json"))  # fmt: skip
    assert res.returncode == 2 and "PROPERTY=TYPE" in res.stderr


# --- the pathway property travels with the stats ------------------------------------------------------


def test_stats_remember_their_pathway_property(syn, tmp_path):
    classes = sf.datasets.example_synapse_classes()
    stats = sf.datasets.example_pathway_stats()
    assert stats.attrs["by"] == "synapse_class"
    with pytest.raises(sf.PathwayError, match=r"by 'synapse_class'.*not by='cell_type'"):
        sf.parameterize(syn, stats, by="cell_type", types=classes, seed=1)
    sf.save_pathway_stats(stats, tmp_path / "s.json")
    assert json.loads((tmp_path / "s.json").read_text())["__synframe__"] == {"by": "synapse_class"}
    back = sf.load_pathway_stats(tmp_path / "s.json")
    assert back.attrs["by"] == "synapse_class"
    with pytest.raises(sf.PathwayError, match="cell_type"):
        sf.parameterize(syn, back, by="cell_type", types=classes, seed=1)
    with pytest.raises(sf.PathwayError, match="not by='mtype'"):
        sf.load_pathway_stats(tmp_path / "s.json", by="mtype")
    # fitted stats record it too
    drawn = sf.parameterize(syn, stats, by="synapse_class", types=classes, seed=1)
    fitted = sf.fit_pathway_stats(
        drawn, by="synapse_class", types=classes, properties="conductance"
    )
    with pytest.raises(sf.PathwayError, match="not by='cell_type'"):
        sf.parameterize(syn, fitted, by="cell_type", types=classes, seed=1)
    # a file without it (CM's own) can be told; the override is explicit
    loose = sf.load_pathway_stats(DATA / "cm" / "fit_external.json")
    assert loose.attrs["by"] is None
    assert (
        sf.load_pathway_stats(DATA / "cm" / "fit_external.json", by="mtype").attrs["by"] == "mtype"
    )
    stats.attrs["by"] = "cell_type"
    out = sf.parameterize(syn, stats, by="cell_type", types=classes, seed=1)
    assert "conductance" in out


def test_parameterize_circuit_checks_the_pathway_property(circuit, tmp_path):
    stats = sf.pathway_stats(
        {"g": {"*": {"*": {"type": "gamma", "mean": 1.0, "std": 0.2}}}}, by="synapse_class"
    )
    with pytest.raises(sf.PathwayError, match=r"by 'synapse_class'.*not by='mtype'"):
        sf.parameterize_circuit(circuit, stats, by="mtype", output=tmp_path / "out")
    assert not (tmp_path / "out").exists()


# --- param -----------------------------------------------------------------------------------------


def test_param_names_the_parameters_that_exist():
    stats = sf.datasets.example_pathway_stats()
    with pytest.raises(
        sf.PathwayError, match=r"no cell has a numeric parameter 'shape'.*\['mean', 'std'\]"
    ):
        stats.syn.param("shape")
    with pytest.raises(sf.PathwayError, match="kinds"):
        stats.syn.param("type")
    assert np.isfinite(stats.syn.param("std").sel(property="conductance").values).all()
