"""Pathway statistics: construction, validation, views, lossless ConnPropsModel JSON round trip."""

import json

import numpy as np
import pytest
import xarray as xr
from hypothesis import given

import synframe as sf
from synframe.distributions import CM_TYPES
from synframe.testing import pathway_stats_dicts

CLASSES = ["excitatory_neuron", "inhibitory_neuron", "extrinsic_neuron"]


def seed_notebook_prop_stats(shared_within=False):
    """The model of the obi-one synaptome parameterization notebook (3 x 3 synapse_class pathways)."""
    exc = {
        "conductance": {"type": "gamma", "mean": 1.0, "std": 0.5, "shared_within": shared_within},
        "syn_type_id": {
            "type": "constant",
            "mean": 100,
            "dtype": "int",
            "shared_within": shared_within,
        },
    }
    inh = {
        "conductance": {"type": "gamma", "mean": 2.0, "std": 0.5, "shared_within": shared_within},
        "syn_type_id": {
            "type": "constant",
            "mean": 1,
            "dtype": "int",
            "shared_within": shared_within,
        },
    }
    by_class = {"excitatory_neuron": exc, "extrinsic_neuron": exc, "inhibitory_neuron": inh}
    return {p: {s: {t: by_class[s][p] for t in CLASSES} for s in CLASSES} for p in exc}


def test_seed_notebook_model():
    stats = sf.pathway_stats(seed_notebook_prop_stats(), CLASSES, CLASSES, by="synapse_class")
    assert stats.dims == ("property", "src", "tgt")
    assert stats.shape == (2, 3, 3)
    assert " ".join(stats.syn.summary().split()) == (
        "Connection/synapse property distributions between 3x3 'synapse_class' pathways: "
        "conductance <gamma>; syn_type_id <constant (int)>"
    )
    means = stats.syn.param("mean")
    assert means.sel(property="conductance", src="inhibitory_neuron").values.tolist() == [2.0] * 3
    assert (
        float(means.sel(property="syn_type_id", src="extrinsic_neuron", tgt="inhibitory_neuron"))
        == 100
    )
    assert stats.sel(src="excitatory_neuron").shape == (2, 3)
    assert stats.syn.kinds().sel(property="conductance").values.ravel().tolist() == ["gamma"] * 9


FITTED = {
    "model": "ConnPropsModel",
    "src_types": ["L5_TPC:A", "L5_MC"],
    "tgt_types": ["L5_TPC:A", "L5_MC"],
    "prop_stats": {
        "conductance": {
            s: {t: {"type": "gamma", "mean": 0.8, "std": 0.3, "shared_within": 1.0, "lower_bound": 0.0,
                    "upper_bound": 10.0, "n": 57} for t in ["L5_TPC:A", "L5_MC"]}
            for s in ["L5_TPC:A", "L5_MC"]
        },
        "n_rrp_vesicles": {
            s: {t: {"type": "discrete", "val": [1, 2, 3], "p": [0.2, 0.5, 0.3], "dtype": "int",
                    "shared_within": 1.0} for t in ["L5_TPC:A", "L5_MC"]}
            for s in ["L5_TPC:A", "L5_MC"]
        },
        "delay": {
            s: {t: {"type": "normal", "mean": 1.2, "std": 0.2, "shared_within": 0.0, "lower_bound": 0.1}
                for t in ["L5_TPC:A", "L5_MC"]}
            for s in ["L5_TPC:A", "L5_MC"]
        },
        "u_syn": {
            s: {t: {"type": "truncnorm", "norm_loc": 0.5, "norm_scale": 0.2, "min": 0.0, "max": 1.0,
                    "shared_within": 1.0} for t in ["L5_TPC:A", "L5_MC"]}
            for s in ["L5_TPC:A", "L5_MC"]
        },
    },
    "prop_cov": {
        "props": ["conductance", "u_syn"],
        "cov": {s: {t: [[1.0, 0.6], [0.6, 1.0]] for t in ["L5_TPC:A", "L5_MC"]} for s in ["L5_TPC:A", "L5_MC"]},
    },
    "data_keys": [],
}  # fmt: skip


def test_lossless_json_round_trip(tmp_path):
    path = tmp_path / "model.json"
    path.write_text(json.dumps(FITTED, indent=1))
    stats = sf.load_pathway_stats(path)
    out = tmp_path / "again.json"
    stats.syn.to_json(out)
    assert json.loads(out.read_text()) == FITTED
    assert list(json.loads(out.read_text())) == list(FITTED)  # key order kept too
    assert sf.pathways.to_dict(stats) == FITTED
    # shared_within stored as 1.0 / 0.0 means True / False
    assert (
        stats.sel(property="conductance", src="L5_MC", tgt="L5_MC").item()["shared_within"] == 1.0
    )


@given(pathway_stats_dicts())
def test_round_trip_any_valid_model(model):
    out = sf.pathways.to_dict(sf.pathways.from_dict(model))
    # every key back unchanged; what connectome-manipulator's loader needs added
    assert out == {**model, "prop_cov": {}, "model": "ConnPropsModel"}
    assert sf.pathways.to_dict(sf.pathways.from_dict(out)) == out
    kinds = {c["type"] for by_s in model["prop_stats"].values() for by_t in by_s.values() for c in by_t.values()}  # fmt: skip
    assert (sf.pathways.cm_problems(out) == []) == (kinds <= set(CM_TYPES))


def test_every_invalid_cell_is_reported_at_once():
    bad = seed_notebook_prop_stats()
    bad["conductance"]["inhibitory_neuron"]["inhibitory_neuron"] = {
        "type": "gamma",
        "mean": -2.0,
        "std": 0.5,
    }
    bad["syn_type_id"]["excitatory_neuron"]["extrinsic_neuron"] = {
        "type": "discrete",
        "val": [1],
        "p": [0.4],
    }
    del bad["conductance"]["extrinsic_neuron"]["excitatory_neuron"]
    with pytest.raises(sf.PathwayError) as exc:
        sf.pathway_stats(bad, CLASSES, CLASSES)
    msg = str(exc.value)
    assert "3 problem(s)" in msg
    assert "conductance [inhibitory_neuron -> inhibitory_neuron]: gamma needs 'mean' > 0" in msg
    assert "sum to 1" in msg
    assert "no spec for pathway(s) (extrinsic_neuron, excitatory_neuron)" in msg


def test_wildcards_are_explicit_fallbacks():
    g = {"type": "constant", "mean": 1.0}
    stats = sf.pathway_stats(
        {"g": {"EXC": {"EXC": g | {"mean": 2.0}}, "*": {"*": g}, "INH": {"*": g | {"mean": 3.0}}}},
        ["EXC", "INH"], ["EXC", "INH"],
    )  # fmt: skip
    from synframe.pathways import lookup

    assert lookup(stats, "g", "EXC", "EXC")["mean"] == 2.0
    assert lookup(stats, "g", "INH", "EXC")["mean"] == 3.0
    assert lookup(stats, "g", "EXC", "INH")["mean"] == 1.0
    with pytest.raises(sf.PathwayError, match="no spec for pathway"):
        sf.pathway_stats({"g": {"EXC": {"EXC": g}}}, ["EXC", "INH"], ["EXC"])


def test_prop_cov_is_validated():
    ps = FITTED["prop_stats"]
    types = FITTED["src_types"]
    for cov, match in [
        ({"props": ["nope"], "cov": {}}, "not in prop_stats"),
        ({"props": ["conductance", "u_syn"], "cov": {s: {t: [[1, 2], [2, 1]] for t in types} for s in types}}, "positive semi-definite"),
        ({"props": ["conductance", "u_syn"], "cov": {s: {t: [[1, 0.5], [0.2, 1]] for t in types} for s in types}}, "symmetric"),
        ({"props": ["conductance", "n_rrp_vesicles"], "cov": {s: {t: np.eye(2).tolist() for t in types} for s in types}}, "cannot correlate"),
        ({"props": ["conductance", "delay"], "cov": {s: {t: np.eye(2).tolist() for t in types} for s in types}}, "agree on shared_within"),
        ({"props": ["conductance", "u_syn"], "cov": {}}, "no matrix for pathway"),
    ]:  # fmt: skip
        with pytest.raises(sf.PathwayError, match=match):
            sf.pathway_stats(ps, types, types, prop_cov=cov)


def test_load_errors(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(sf.PathwayError, match="cannot read"):
        sf.load_pathway_stats(tmp_path / "bad.json")
    (tmp_path / "nostats.json").write_text(json.dumps({"src_types": []}))
    with pytest.raises(sf.PathwayError, match="prop_stats"):
        sf.load_pathway_stats(tmp_path / "nostats.json")
    with pytest.raises(sf.PathwayError, match="expected pathway statistics"):
        sf.pathways.to_dict(xr.DataArray(np.zeros(3)))


def test_save_is_atomic(tmp_path):
    stats = sf.pathways.from_dict(FITTED)
    path = tmp_path / "model.json"
    stats.syn.to_json(path)
    before = path.read_bytes()
    broken = stats.copy()
    broken.attrs["extra"] = {"oops": object()}  # not serializable: fails while writing
    with pytest.raises(TypeError):
        sf.save_pathway_stats(broken, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json"]


def test_sample_view():
    stats = sf.pathway_stats(seed_notebook_prop_stats(), CLASSES, CLASSES)
    x = stats.syn.sample("conductance", "inhibitory_neuron", "excitatory_neuron", n=40_000, seed=3)
    assert abs(x.mean() - 2.0) < 5 * 0.5 / np.sqrt(40_000)
    assert np.array_equal(
        x,
        sf.pathways.sample(
            stats, "conductance", "inhibitory_neuron", "excitatory_neuron", 40_000, seed=3
        ),
    )
