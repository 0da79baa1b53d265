"""connectome-manipulator 1.0.4 compatibility: ``ConnPropsModel`` / ``conn_props`` semantics.

Parts are ported from connectome-manipulator's own unit tests (``tests/unit/test_model_types.py``
``test_ConnPropsModel`` and ``tests/unit/test_conn_props.py`` ``test_build``; Copyright (c) 2024
Blue Brain Project/EPFL, Apache-2.0), rewritten against synframe. Reference values CM produced
(its fits of the nbS1 test circuit, its draws, its verdicts on model files) are in
``tests/data/cm``, written by ``tests/data/cm/make_cm_fixtures.py``: no CM needed to run this.
With ``SYNFRAME_CM_PYTHON=/path/to/python-with-CM``, files synframe writes are also loaded by CM
itself.
"""

import json
import os
import subprocess
import warnings
from decimal import Decimal, localcontext
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

import synframe as sf
from conftest import DATA
from synframe.distributions import (
    CM_TYPES,
    keyed_uniforms,
    output_dtype,
    sample,
    shared_within,
    spec_problems,
)
from synframe.testing import assert_drawn_from, assert_parameterized

CM = DATA / "cm"
CIRCUIT = DATA / "sonata" / "obi_nbS1_O1_E2Sst_L5" / "circuit_config.json"
EXTERNAL = "external_S1nonbarrel_neurons__S1nonbarrel_neurons__chemical"
PROPS = ["conductance", "u_syn", "depression_time", "facilitation_time", "decay_time",
         "n_rrp_vesicles", "syn_type_id"]  # fmt: skip
DISTR = {"conductance": "gamma", "u_syn": "truncnorm", "depression_time": "gamma",
         "facilitation_time": "normal", "decay_time": "normal", "n_rrp_vesicles": "discrete",
         "syn_type_id": "constant", "n_syn_per_conn": "ztpoisson"}  # fmt: skip


def _load(name):
    return json.loads((CM / name).read_text())


def _table(n_conn, per, seed=0, **props):
    """``n_conn`` connections of ``per`` synapses each, one pathway type 'A' -> 'A'."""
    rng = np.random.default_rng(seed)
    pre = np.repeat(np.arange(n_conn, dtype=np.int64) + 10, per)
    df = pd.DataFrame({"id": np.arange(len(pre)), "pre": pre, "post": np.full(len(pre), 1)})
    for c in ("pre_x", "pre_y", "pre_z", "post_x", "post_y", "post_z"):
        df[c] = rng.uniform(0, 1e5, len(df))
    df["pre_t"] = "A"
    df["post_t"] = "A"
    for k, v in props.items():
        df[k] = v
    return df


@pytest.fixture(scope="module")
def external():
    return sf.read_edges(
        CIRCUIT, EXTERNAL, properties=PROPS, node_properties=("mtype", "layer", "synapse_class")
    )


# --- models CM writes load here, exactly ------------------------------------------------------------


def test_cm_model_with_infinite_bounds_loads_losslessly_and_clips_as_cm(tmp_path):
    path = CM / "fit_external.json"
    assert "Infinity" in path.read_text() and "-Infinity" in path.read_text()
    stats = sf.load_pathway_stats(path, by="mtype")
    cell = stats.sel(property="conductance", src="L5_TPC:A", tgt="L5_MC").item()
    assert cell["lower_bound"] == 0.0 and cell["upper_bound"] == np.inf
    assert (
        stats.sel(property="facilitation_time", src="L1_DAC", tgt="L5_MC").item()["lower_bound"]
        == -np.inf
    )
    # lossless: the dict CM wrote comes back, every key (prop_cov {}, data_keys, __version_info__)
    original = _load("fit_external.json")
    back = sf.pathways.to_dict(stats)
    assert {k: v for k, v in back.items() if k != "__synframe__"} == original
    assert back["__synframe__"] == {"by": "mtype"}
    sf.save_pathway_stats(stats, tmp_path / "again.json")
    assert sf.pathways.to_dict(sf.load_pathway_stats(tmp_path / "again.json")) == back
    # clipping exactly as CM: a one-sided bound clips one side only, and the values follow the spec
    for prop in ("conductance", "facilitation_time"):
        x = stats.syn.sample(prop, "L5_TPC:A", "L5_MC", n=20_000, seed=2)
        spec = stats.sel(property=prop, src="L5_TPC:A", tgt="L5_MC").item()
        assert x.dtype == output_dtype(spec) == np.float64
        assert_drawn_from(x, spec)
    x = stats.syn.sample("conductance", "L5_TPC:A", "L5_MC", n=20_000, seed=2)
    assert x.min() >= 0.0 and np.isfinite(x).all()


def test_cm_draws_dtypes_bounds_and_rounding():
    """For every spec CM drew: same dtype, and CM's values and synframe's follow one distribution."""
    meta = _load("draws.json")
    arrays = np.load(CM / "draws.npz")
    checked = 0
    for k, m in enumerate(meta):
        spec, cm = m["spec"], arrays[f"v{k}"]
        nsyn = m["property"] == "n_syn_per_conn"
        if spec_problems(spec):  # CM's garbage in, garbage out: refused here instead
            assert spec.get("upper_bound") == -np.inf and np.all(np.isneginf(cm))
            continue
        ours = sample(spec, keyed_uniforms(3, "g", np.arange(len(cm))), n_syn_per_conn=nsyn)
        assert str(ours.dtype) == m["dtype"] == str(output_dtype(spec, n_syn_per_conn=nsyn)), spec
        shared = shared_within(spec) and not nsyn
        if shared:  # CM repeats one value within a connection
            assert m["unique"] == 1
            cm = cm[:1]
        assert_drawn_from(cm, spec, n_syn_per_conn=nsyn)  # our semantics describe CM's sampler
        assert_drawn_from(ours, spec, n_syn_per_conn=nsyn)
        if m["unique"] == 1 and not shared:  # deterministic specs: the very same value
            assert np.unique(ours).tolist() == np.unique(cm).tolist(), spec
        elif not shared:
            assert st.ks_2samp(ours.astype(float), cm.astype(float)).pvalue > 1e-6, spec
        checked += 1
    assert checked == len(meta) - 1


@pytest.mark.parametrize(("mean", "expected"), [(0.4, 1), (2.5, 2), (3.5, 4), (-3.0, 1), (7.0, 7)])
def test_n_syn_per_conn_is_rounded_integer_at_least_one(mean, expected):
    stats = sf.pathway_stats({"n_syn_per_conn": {"A": {"A": {"type": "constant", "mean": mean}}}})
    x = stats.syn.sample("n_syn_per_conn", "A", "A", n=10)
    assert x.dtype == np.int64 and np.all(x == expected)
    normal = sf.pathway_stats(
        {"n_syn_per_conn": {"A": {"A": {"type": "normal", "mean": 1.0, "std": 2.0}}}}
    )
    y = normal.syn.sample("n_syn_per_conn", "A", "A", n=20_000, seed=1)
    assert y.dtype == np.int64 and y.min() == 1
    assert_drawn_from(y, {"type": "normal", "mean": 1.0, "std": 2.0}, n_syn_per_conn=True)


# --- what synframe writes loads in CM --------------------------------------------------------------


def test_cm_problems_agree_with_cm_on_its_verdicts():
    """synframe's reading of CM's load checks against CM's own verdict on each model file."""
    cases = _load("validation.json")
    assert len(cases) > 30
    for case in cases:
        problems = sf.pathways.cm_problems(case["model"])
        if case["name"] == "other_model_class":  # CM builds another model class from it
            assert problems and case["cm_ok"]
            continue
        assert (problems == []) == case["cm_ok"], (case["name"], problems, case["cm_error"])
        # what synframe reads it writes in a form CM loads (adding the 'model' key CM needs),
        # except for distribution types CM lacks (saved with a warning)
        try:
            stats = sf.pathways.from_dict(case["model"])
        except sf.PathwayError:
            assert not case["cm_ok"], case["name"]
            continue
        after = sf.pathways.cm_problems(sf.pathways.to_dict(stats))
        assert after == [] or case["name"].startswith("unknown_type"), (case["name"], after)
    by_name = {c["name"]: c for c in cases}
    # the extra key for the pathway property is metadata to CM: no "unused parameter" warning
    assert by_name["synframe_meta_key"]["cm_ok"]
    assert by_name["synframe_meta_key"]["cm_unused_parameters"] == []
    assert by_name["unknown_top_key"]["cm_unused_parameters"] == ["pathway_property"]
    # CM ignores the wildcard entries synframe keeps beside the explicit cells
    assert by_name["wildcard_entries_kept"]["cm_ok"]
    for name in (
        "shared_within_null",
        "bounds_infinite",
        "bounds_minus_infinite",
        "prop_cov_empty",
    ):
        assert by_name[name]["cm_ok"]
        sf.pathways.from_dict(by_name[name]["model"])  # and synframe loads them


def _models_synframe_writes(tmp_path):
    """A built model (wildcards, prop_cov by wildcard), a fitted one (pooled fallback) and a loaded one."""
    g = {"type": "gamma", "mean": 1.0, "std": 0.5}
    u = {"type": "truncnorm", "norm_loc": 0.5, "norm_scale": 0.2, "min": 0.0, "max": 1.0}
    built = sf.pathway_stats(
        {"g": {"*": {"*": g}, "EXC": {"INH": g | {"mean": 2.0}}}, "u": {"*": {"*": u}},
         "n_syn_per_conn": {"*": {"*": {"type": "ztpoisson", "mean": 3.0}}}},
        ["EXC", "INH"], ["EXC", "INH"], by="synapse_class",
        prop_cov={"props": ["g", "u"], "cov": {"*": {"*": [[1.0, 0.5], [0.5, 1.0]]}}},
    )  # fmt: skip
    df = _table(40, 3, seed=2)
    df.loc[df.pre == 10, "pre_t"] = "rare"
    df["g"] = np.random.default_rng(1).gamma(4.0, 0.25, len(df))
    fitted = sf.fit_pathway_stats(df, by="t", properties=["g", "n_syn_per_conn"])
    assert "*" in fitted["src"].values  # the sparse pathway uses the pooled wildcard fit
    loaded = sf.load_pathway_stats(CM / "fit_external.json")
    out = {}
    for name, stats in (("built", built), ("fitted", fitted), ("loaded", loaded)):
        out[name] = sf.save_pathway_stats(stats, tmp_path / f"{name}.json")
    return out


def test_models_synframe_writes_pass_cms_load_checks(tmp_path):
    for name, path in _models_synframe_writes(tmp_path).items():
        model = json.loads(path.read_text())
        assert sf.pathways.cm_problems(model) == [], name
        assert model["model"] == "ConnPropsModel" and "prop_cov" in model
        for p, by_src in model["prop_stats"].items():  # an explicit cell for every listed pathway
            for s in model["src_types"]:
                assert set(model["tgt_types"]) <= set(by_src[s]), (name, p, s)
    built = json.loads((tmp_path / "built.json").read_text())
    assert built["prop_stats"]["g"]["EXC"]["INH"]["mean"] == 2.0
    assert built["prop_stats"]["g"]["INH"]["EXC"]["mean"] == 1.0  # from the wildcard
    assert built["prop_cov"]["cov"]["INH"]["INH"] == [[1.0, 0.5], [0.5, 1.0]]
    assert built["__synframe__"] == {"by": "synapse_class"}
    # the written form reads back to the same draws
    stats = sf.load_pathway_stats(tmp_path / "built.json")
    assert stats.attrs["by"] == "synapse_class"
    for s, t in (("EXC", "INH"), ("INH", "EXC"), ("rare", "EXC")):  # rare: through the wildcard
        for p in ("g", "n_syn_per_conn"):
            ref = sf.pathways.sample(built_stats := sf.pathways.from_dict(built), p, s, t, 50)
            assert np.array_equal(sf.pathways.sample(stats, p, s, t, 50), ref)
    assert built_stats.attrs["by"] == "synapse_class"


@pytest.mark.skipif(
    not os.environ.get("SYNFRAME_CM_PYTHON"),
    reason="set SYNFRAME_CM_PYTHON to a Python with connectome-manipulator 1.0.4",
)
def test_connectome_manipulator_itself_loads_what_synframe_writes(tmp_path):
    paths = _models_synframe_writes(tmp_path)
    code = (
        "import sys, json\n"
        "from connectome_manipulator.model_building import model_types\n"
        "for path in sys.argv[1:]:\n"
        "    m = model_types.AbstractModel.model_from_file(path)\n"
        "    s, t = m.get_src_types()[0], m.get_tgt_types()[0]\n"
        "    df = m.apply(src_type=s, tgt_type=t, n_syn=4)\n"
        "    print(json.dumps({'path': path, 'columns': list(df.columns), 'rows': len(df)}))\n"
    )
    res = subprocess.run(
        [os.environ["SYNFRAME_CM_PYTHON"], "-c", code, *map(str, paths.values())],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr
    loaded = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["rows"] for r in loaded] == [4, 4, 4]
    assert "Unused parameter" not in res.stderr


def test_types_cm_lacks_are_written_with_a_warning(tmp_path):
    stats = sf.pathway_stats({"g": {"A": {"A": {"type": "lognormal", "mean": 0.0, "std": 0.5}}}})
    with pytest.warns(sf.SynframeWarning, match="connectome-manipulator 1.0.4 cannot load"):
        sf.save_pathway_stats(stats, tmp_path / "m.json")
    assert sf.load_pathway_stats(tmp_path / "m.json").sel(property="g").size == 1


def test_prop_cov_and_other_keys_round_trip_losslessly():
    model = {
        "src_types": ["A"], "tgt_types": ["A"],
        "prop_stats": {"g": {"A": {"A": {"type": "normal", "mean": 1, "std": 0.5, "n": 57,
                                          "shared_within": None, "dtype": "int32"}}}},
        "prop_cov": {}, "data_keys": [], "model": "ConnPropsModel",
        "__version_info__": {"connectome_manipulator": "1.0.4"}, "comment": [1, {"x": None}],
    }  # fmt: skip
    assert sf.pathways.to_dict(sf.pathways.from_dict(model)) == model
    assert list(sf.pathways.to_dict(sf.pathways.from_dict(model))) == list(model)
    with pytest.raises(sf.PathwayError, match="ConnProbModel"):
        sf.pathways.from_dict({**model, "model": "ConnProbModel"})


def test_prop_cov_is_checked_exactly_as_cm_checks_it():
    ps = {p: {"A": {"A": {"type": "normal", "mean": 1.0, "std": 0.5}}} for p in ("g", "u")}
    sf.pathway_stats(ps, prop_cov={"props": ["g", "u"], "cov": {"A": {"A": [[1, 0.3], [0.3, 1]]}}})
    for mat in ([[1 - 1e-12, 0.3], [0.3, 1]], [[1, 0.3], [0.3 + 1e-12, 1]]):
        with pytest.raises(sf.PathwayError, match="exactly"):
            sf.pathway_stats(ps, prop_cov={"props": ["g", "u"], "cov": {"A": {"A": mat}}})


# --- dtypes, shared_within, validation as CM ---------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "dtype", "values"),
    [
        ({"type": "poisson", "mean": 2.0}, "int64", None),
        ({"type": "ztpoisson", "mean": 2.0}, "int64", None),
        ({"type": "discrete", "val": [1, 2], "p": [0.5, 0.5]}, "int64", None),
        ({"type": "discrete", "val": [1.0, 2], "p": [0.5, 0.5]}, "float64", None),
        ({"type": "constant", "mean": 3}, "int64", [3]),
        ({"type": "constant", "mean": 3.0}, "float64", [3.0]),
        ({"type": "poisson", "mean": 2.0, "lower_bound": 0.0}, "float64", None),
        ({"type": "poisson", "mean": 2.0, "lower_bound": 0}, "int64", None),
        ({"type": "constant", "mean": 2.7, "dtype": "int32"}, "int32", [2]),  # truncates, as CM
        ({"type": "constant", "mean": -2.7, "dtype": "int16"}, "int16", [-2]),
        ({"type": "constant", "mean": 2.5, "dtype": "int"}, "int64", [2]),  # rounds half to even
        ({"type": "constant", "mean": 3.5, "dtype": "int"}, "int64", [4]),
        ({"type": "gamma", "mean": 2, "std": 0}, "int64", [2]),
        ({"type": "normal", "mean": 1.0, "std": 0.5, "dtype": "float32"}, "float32", None),
    ],
)
def test_output_dtypes_are_cms(spec, dtype, values):
    x = sample(spec, keyed_uniforms(0, "g", np.arange(1000)))
    assert x.dtype == np.dtype(dtype) == output_dtype(spec)
    if values is not None:
        assert np.unique(x).tolist() == values
    # and a parameterized column gets it when every pathway agrees
    stats = sf.pathway_stats({"g": {"*": {"*": spec | {"shared_within": False}}}})
    out = sf.parameterize(_table(20, 3), stats, by="t", seed=1)
    assert out["g"].dtype == np.dtype(dtype)
    assert_parameterized(out, stats, by="t")


def test_integer_casts_that_do_not_fit_are_errors_not_wrapped():
    with pytest.raises(sf.PathwayError, match="do not fit dtype 'int8'"):
        sample({"type": "constant", "mean": 300.0, "dtype": "int8"}, np.array([0.5]))
    with pytest.raises(sf.PathwayError, match="do not fit dtype 'uint16'"):
        sample({"type": "constant", "mean": -1, "dtype": "uint16"}, np.array([0.5]))
    for bad in ("bool", "str", "object", "int-ish", 3):
        assert spec_problems({"type": "zero", "dtype": bad})


def test_shared_within_null_is_not_shared_as_cm_reads_it():
    spec = {"type": "normal", "mean": 1.0, "std": 0.5, "shared_within": None}
    assert spec_problems(spec) == [] and shared_within(spec) is False
    stats = sf.pathway_stats({"g": {"*": {"*": spec}}})
    out = sf.parameterize(_table(200, 5), stats, by="t", seed=1)
    assert out.groupby("pre")["g"].nunique().min() == 5
    assert_parameterized(out, stats, by="t")


# --- fitting: CM's extract and build ------------------------------------------------------------------


def test_fit_on_nbs1_matches_cms_fit(external):
    """The same circuit gives the same model: every cell of CM's fit (74 pathways, 38 of them
    interpolated, histogram truncnorm fit, discrete counts, ±inf bounds)."""
    for name, kw in (
        ("fit_external.json", dict(
            distributions=DISTR, dtypes={"n_rrp_vesicles": "int", "syn_type_id": "int"},
            bounds={"conductance": [0.0, np.inf], "facilitation_time": [-np.inf, 1000.0], "u_syn": [0, 1]},
            min_connections=5)),
        ("fit_external_default.json", dict(
            distributions="normal", dtypes={}, bounds={}, min_connections=1)),
    ):  # fmt: skip
        ref = _load(name)
        stats = sf.fit_pathway_stats(
            external, by="mtype", properties=[*PROPS, "n_syn_per_conn"],
            interpolate=["layer", "synapse_class"], src_types=ref["src_types"],
            tgt_types=ref["tgt_types"], **kw,
        )  # fmt: skip
        got = sf.pathways.to_dict(stats)
        assert got["src_types"] == ref["src_types"] and got["tgt_types"] == ref["tgt_types"]
        n = 0
        for p, by_src in ref["prop_stats"].items():
            for s, by_tgt in by_src.items():
                for t, cell in by_tgt.items():
                    mine = got["prop_stats"][p][s][t]
                    assert set(mine) == set(cell), (p, s, t)
                    for key, v in cell.items():
                        if isinstance(v, str) or v is None:
                            assert mine[key] == v
                        else:
                            np.testing.assert_allclose(
                                mine[key], v, rtol=1e-9, atol=0, err_msg=f"{name} {p} {s} {t} {key}"
                            )
                    n += 1
        assert n == 8 * 37 * 2
        if name == "fit_external.json":
            levels = [f[3] for f in stats.attrs["fit"]["filled"] if f[0] == "conductance"]
            assert len(levels) == 38 and set(levels) == {2, 3}  # same layer & class, same class


def test_fit_statistics_are_cms_extract(external):
    """Per pathway with data: mean, population std (ddof=0), min, max, shared_within as CM's extract."""
    ref = _load("extract_external.json")
    src, tgt = ref["m_types"]
    stats = sf.fit_pathway_stats(
        external, by="mtype", properties=PROPS, distributions="normal", min_connections=5,
        dtypes={}, bounds={}, src_types=src, tgt_types=tgt,
    )  # fmt: skip
    data = {k: np.asarray(v, dtype=float) for k, v in ref["conn_prop_data"].items()}
    present = np.isfinite(data["mean"][..., 0])
    assert present.sum() == 36
    for k, p in enumerate(ref["syn_props"]):
        for i, s in enumerate(src):
            for j, t in enumerate(tgt):
                if not present[i, j]:
                    continue
                cell = stats.sel(property=p, src=s, tgt=t).item()
                assert cell["mean"] == pytest.approx(data["mean"][i, j, k], rel=1e-12)
                assert cell["std"] == pytest.approx(data["std"][i, j, k], rel=1e-12, abs=1e-15)
                assert cell["shared_within"] == bool(data["shared_within"][i, j, k])
    # syn_type_id is one constant over each pathway: CM takes that as not shared
    assert not any(
        stats.sel(property="syn_type_id", src=s, tgt=t).item()["shared_within"]
        for s in src for t in tgt if stats.sel(property="syn_type_id", src=s, tgt=t).item()
    )  # fmt: skip


def test_fit_std_is_the_population_std():
    x = np.random.default_rng(0).normal(2.0, 0.5, 6 * 4)
    df = _table(6, 4, g=x)
    cell = (
        sf.fit_pathway_stats(df, by="t", properties="g", distributions="normal")
        .sel(property="g", src="A", tgt="A")
        .item()
    )
    assert cell["shared_within"] is False
    # numpy's, to the last bits (its sums round at every step; synframe's are exact, so the
    # same for any split of the table): the correctly rounded mean and variance
    exact_mean = sum(Fraction(v) for v in x) / len(x)
    exact_var = sum((Fraction(v) - exact_mean) ** 2 for v in x) / len(x)
    assert cell["mean"] == float(exact_mean) == pytest.approx(np.mean(x), rel=4e-16)
    with localcontext() as ctx:  # the correctly rounded root of the exact variance
        ctx.prec = 60
        exact_std = float((Decimal(exact_var.numerator) / Decimal(exact_var.denominator)).sqrt())
    assert cell["std"] == exact_std == pytest.approx(np.std(x), rel=4e-16)
    assert cell["std"] != pytest.approx(np.std(x, ddof=1), rel=1e-6)


@pytest.mark.parametrize(
    ("values", "n_conn", "shared"),
    [
        (np.full(20, 7.0), 5, False),  # one constant over several connections: not shared (CM)
        (np.full(4, 7.0), 1, True),  # one connection: shared
        (np.repeat([1.0, 2.0, 3.0, 4.0, 5.0], 4), 5, True),  # one value per connection
        (np.r_[np.repeat([1.0, 2.0, 3.0, 4.0], 4), [5.0, 5.0, 5.0, 6.0]], 5, False),  # one varies
    ],
)
def test_shared_within_detection_is_cms(values, n_conn, shared):
    df = _table(n_conn, len(values) // n_conn, g=values)
    cell = (
        sf.fit_pathway_stats(df, by="t", properties="g", distributions="normal", min_connections=1)
        .sel(property="g", src="A", tgt="A")
        .item()
    )
    assert cell["shared_within"] is shared


def _cm_build_test_arrays(seed=0):
    """The arrays of CM's interpolation test: 4 mtypes (L4 EXC x2, L5 EXC, L5 INH)."""
    rng = np.random.default_rng(seed)
    data = {k: rng.random((4, 4)) for k in ("mean", "std", "shared_within", "min", "max",
                                             "norm_loc", "norm_scale")}  # fmt: skip
    data["shared_within"] = np.round(data["shared_within"])
    data["val"] = np.empty((4, 4), dtype=object)
    data["cnt"] = np.empty((4, 4), dtype=object)
    for i in range(4):
        for j in range(4):
            data["val"][i, j], data["cnt"][i, j] = np.unique(
                rng.integers(20, size=10), return_counts=True
            )
    groups = np.array([["4", "EXC"], ["4", "EXC"], ["5", "EXC"], ["5", "INH"]])
    return data, groups


def _comb_discrete(vals, cnts):
    comb = np.hstack([np.repeat(v, c) for v, c in zip(vals, cnts, strict=True)])
    val, cnt = np.unique(comb, return_counts=True)
    return val, cnt / cnt.sum()


@pytest.mark.parametrize("level", [0, 1, 2, 3, 4])
def test_interpolation_levels_ported_from_cms_build_test(level):
    """CM's test_build, "Check interpolation": remove data level by level around (L4_PC:A,
    L4_PC:A) and check the cell is the average over the next less specific grouping."""
    from synframe.fit import _interpolate

    data, groups = _cm_build_test_arrays()
    layer, cls = groups[:, 0], groups[:, 1]
    present = np.ones((4, 4), dtype=bool)
    ts = tt = 0  # test source / target: L4_PC:A
    same_lc = (layer == layer[tt]) & (cls == cls[tt])
    same_c = cls == cls[tt]
    selections = [  # (src_sel, tgt_sel) CM averages over at each level
        (np.arange(4) == ts, same_lc),
        (np.arange(4) == ts, same_c),
        (same_lc, same_lc),
        (same_c, same_c),
        (np.ones(4, bool), np.ones(4, bool)),
    ]
    for k in range(level):  # remove the data the levels before would use
        s_sel, t_sel = selections[k]
        present[np.ix_(s_sel, t_sel)] = False
    present[ts, tt] = False
    model, used = _interpolate(data, present, groups, groups, quirk_vals=True)
    assert used[(ts, tt)] == level
    s_sel, t_sel = selections[level]
    block = np.ix_(np.flatnonzero(s_sel), np.flatnonzero(t_sel))
    for key in ("mean", "std", "norm_loc", "norm_scale"):
        assert model[key][ts, tt] == pytest.approx(np.nanmean(data[key][block]), rel=1e-14)
    assert model["min"][ts, tt] == np.nanmin(data["min"][block])
    assert model["max"][ts, tt] == np.nanmax(data["max"][block])
    assert model["shared_within"][ts, tt] == bool(
        np.round(np.nanmean(data["shared_within"][block]))
    )
    if level == 0:  # the only missing cell: merged counts of the block (CM's comb_discrete)
        val, p = _comb_discrete(data["val"][block].ravel(), data["cnt"][block].ravel())
        cnt = model["cnt"][ts, tt]
        assert np.array_equal(model["val"][ts, tt], val)
        assert np.allclose(cnt / cnt.sum(), p)


def test_cm_build_options_ported(tmp_path):
    """CM's test_build: default normal (mean / std of the data), dtype int, data bounds."""
    rng = np.random.default_rng(5)
    df = _table(300, 4, g=np.repeat(rng.normal(5.0, 1.0, 300), 4), u=rng.random(1200))
    stats = sf.fit_pathway_stats(df, by="t", properties=["g", "u"], distributions="normal")
    g = stats.sel(property="g", src="A", tgt="A").item()
    first = df.groupby("pre")["g"].first()
    assert g["type"] == "normal" and g["mean"] == pytest.approx(first.mean(), rel=1e-12)
    assert g["std"] == pytest.approx(first.std(ddof=0), rel=1e-12) and g["shared_within"]
    # dtype int -> int64 draws
    ints = sf.fit_pathway_stats(
        df, by="t", properties="g", distributions="normal", dtypes={"g": "int"}
    )
    assert ints.syn.sample("g", "A", "A", n=10).dtype == np.int64
    # crossed bounds are an error; one-sided ones clip every draw of a far distribution to them
    with pytest.raises(sf.PathwayError, match="lower_bound"):
        sf.fit_pathway_stats(
            df, by="t", properties="g", distributions="normal", bounds={"g": [20, 10]}
        )
    lo = sf.fit_pathway_stats(
        df, by="t", properties="g", distributions="normal", bounds={"g": [10.0, np.inf]}
    )
    hi = sf.fit_pathway_stats(
        df, by="t", properties="g", distributions="normal", bounds={"g": [-np.inf, -10.0]}
    )
    assert np.all(lo.syn.sample("g", "A", "A", n=100) == 10.0)
    assert np.all(hi.syn.sample("g", "A", "A", n=100) == -10.0)
    sf.save_pathway_stats(lo, tmp_path / "lo.json")
    assert '"upper_bound": Infinity' in (tmp_path / "lo.json").read_text()
    # discrete needs repeated values (at most 100 distinct)
    with pytest.raises(sf.PathwayError, match="too many for 'discrete'"):
        sf.fit_pathway_stats(df, by="t", properties="u", distributions="discrete")


def test_cm_connpropsmodel_test_ported():
    """CM's test_ConnPropsModel: n_syn_per_conn constant, shared / per-synapse draws, bounds."""
    n_syn, mean, std = 10_000, 5.0, 0.5
    model = {
        "model": "ConnPropsModel", "src_types": ["L4_MC"], "tgt_types": ["L4_MC"],
        "prop_stats": {
            "n_syn_per_conn": {"L4_MC": {"L4_MC": {"type": "constant", "mean": n_syn, "dtype": "int"}}},
            "conductance": {"L4_MC": {"L4_MC": {"type": "normal", "mean": mean, "std": std,
                                                "shared_within": True, "dtype": "float"}}},
        },
    }  # fmt: skip
    stats = sf.pathways.from_dict(model)
    assert np.all(stats.syn.sample("n_syn_per_conn", "L4_MC", "L4_MC", n=5) == n_syn)
    one = _table(1, n_syn).assign(pre_t="L4_MC", post_t="L4_MC")
    out = sf.parameterize(one, stats, by="t", seed=0)
    assert out["conductance"].nunique() == 1 and "n_syn_per_conn" not in out
    with pytest.raises(sf.PathwayError, match="WRONG_TYPE"):
        sf.parameterize(one.assign(pre_t="WRONG_TYPE"), stats, by="t", seed=0)
    per = sf.pathways.from_dict(model | {"prop_stats": model["prop_stats"] | {"conductance": {
        "L4_MC": {"L4_MC": {"type": "normal", "mean": mean, "std": std, "shared_within": False}}}}})  # fmt: skip
    out = sf.parameterize(one, per, by="t", seed=0)
    assert out["conductance"].mean() == pytest.approx(mean, rel=1e-2)
    assert out["conductance"].std() == pytest.approx(std, rel=2e-2)
    assert_parameterized(out, per, by="t")
    bounded = sf.pathways.from_dict(model | {"prop_stats": model["prop_stats"] | {"conductance": {
        "L4_MC": {"L4_MC": {"type": "normal", "mean": mean, "std": 5.0, "shared_within": False,
                            "lower_bound": mean - 1, "upper_bound": mean + 1}}}}})  # fmt: skip
    out = sf.parameterize(one, bounded, by="t", seed=0)
    assert out["conductance"].between(mean - 1, mean + 1).all()
    assert_parameterized(out, bounded, by="t")
    back = sf.pathways.from_dict(sf.pathways.to_dict(bounded))
    assert sf.pathways.to_dict(back) == sf.pathways.to_dict(bounded)


def test_auto_types_respect_the_data_and_load_in_cm(external, tmp_path):
    stats = sf.fit_pathway_stats(external, by="synapse_class", properties=PROPS)
    assert stats.attrs["fit"]["auto"]["conductance"].startswith("gamma")
    assert stats.attrs["fit"]["auto"]["n_rrp_vesicles"].startswith("discrete")
    sf.save_pathway_stats(stats, tmp_path / "auto.json")
    assert sf.pathways.cm_problems(json.loads((tmp_path / "auto.json").read_text())) == []
    drawn = sf.parameterize(external, stats, by="synapse_class", seed=1, overwrite=True)
    for p in ("conductance", "u_syn", "depression_time"):  # never outside the data's range
        assert drawn[p].min() >= external[p].min() and drawn[p].max() <= external[p].max()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_parameterized(drawn, stats, by="synapse_class")
    assert set(CM_TYPES) >= set(stats.attrs["fit"]["distributions"].values())


def test_discrete_interpolation_merges_counts_as_cm_does():
    """CM 1.0.4 merges the discrete counts of a block from the cells being filled, so cells
    interpolated earlier count again (for synapse properties; for n_syn_per_conn it merges the
    data): synframe's interpolation gives CM's values and frequencies on a grid where it matters."""
    from synframe.fit import _interpolate

    ref = _load("interpolation.json")
    present = np.asarray(ref["present"])
    groups = np.array(
        [[str(a), b] for a, b in zip(ref["layer"], ref["synapse_class"], strict=True)]
    )
    types = ref["m_types"]
    differs = False
    for prop, quirk in (("g", True), ("n_syn_per_conn", False)):
        data = {k: np.full(present.shape, np.nan) for k in ("mean", "std", "min", "max")}
        data["mean"][present] = 1.0
        data["min"][present] = data["max"][present] = 1.0
        for key in ("val", "cnt"):
            data[key] = np.empty(present.shape, dtype=object)
            for i in range(4):
                for j in range(4):
                    v = ref["data"][prop][key][i][j]
                    data[key][i, j] = np.asarray(v) if isinstance(v, list) else np.nan
        for mode in (quirk, not quirk):
            model, _ = _interpolate(data, present, groups, groups, quirk_vals=mode)
            for i, s in enumerate(types):
                for j, t in enumerate(types):
                    cm = ref["cm"][prop][s][t]
                    cnt = np.asarray(model["cnt"][i, j], dtype=float)
                    same = model["val"][i, j].tolist() == cm["val"] and np.allclose(
                        cnt / cnt.sum(), cm["p"], rtol=1e-12, atol=0
                    )
                    if mode == quirk:
                        assert same, (prop, s, t)
                    differs |= not same
    assert differs  # the other way of merging would not give CM's model
