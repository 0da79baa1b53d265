"""Hostile input for the engine (#12): seeds, property names, pathway statistics made or changed
by hand, distributions that overflow, ``sample``'s arguments, wildcard-only models, bmtk edges'
``nsyns`` in ``fit_pathway_stats``, progress bars, and reports on odd tables.

Each case asserts the error class and what the message names, that inputs are unchanged and that
nothing is written on refusal.
"""

import copy
import json
import re
import shutil
import warnings

import h5py
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from test_sonata_bmtk import ALLEN, POP, l4_config

import synframe as sf
from conftest import frame_hash
from synframe import _draw, distributions
from synframe.distributions import keyed_uniforms, sample, spec_problems

GAMMA = {"type": "gamma", "mean": 1.0, "std": 0.5}


def model(prop_stats=None, **kw):
    return sf.pathway_stats(prop_stats or {"g": {"*": {"*": GAMMA}}}, by="synapse_class", **kw)


@pytest.fixture
def classed():
    return sf.datasets.example_synapse_classes()


def hand_made(cells, props=("g",), src=("A",), tgt=("A",), **attrs):
    """A DataArray laid out like pathway statistics, cells as given (no checks)."""
    values = np.empty((len(props), len(src), len(tgt)), dtype=object)
    values[...] = None
    flat = list(cells) if isinstance(cells, list) else [cells]
    for i, c in enumerate(flat):
        if i < values.size:
            values.flat[i] = c
    da = xr.DataArray(
        values, dims=("property", "src", "tgt"),
        coords={"property": list(props), "src": list(src), "tgt": list(tgt)},
    )  # fmt: skip
    da.attrs.update(attrs)
    return da


# --- seeds -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "seed", [-1, 1.5, 1.0, np.float64(2.0), "1", b"1", True, np.bool_(False), 2**63, 2**80, [1]]
)
def test_bad_seeds_are_option_errors(seed, syn, classed):
    with pytest.raises(sf.OptionError, match="seed must be an int in"):
        _draw.resolve_seed(seed)
    before = frame_hash(syn)
    with pytest.raises(sf.OptionError, match="seed"):
        sf.parameterize(syn, model(), by="synapse_class", types=classed, seed=seed)
    with pytest.raises(sf.OptionError, match="seed"):
        sf.pathways.sample(model(), "g", "A", "B", 5, seed=seed)
    assert frame_hash(syn) == before
    with pytest.raises(ValueError):  # an OptionError is a ValueError (and a TypeError) too
        _draw.resolve_seed(seed)


@pytest.mark.parametrize("seed", [0, 2**63 - 1, np.int64(7), np.uint64(2**63 - 1)])
def test_good_seeds_are_ints(seed):
    got = _draw.resolve_seed(seed)
    assert type(got) is int and got == int(seed)


def test_a_drawn_seed_is_in_range_and_recorded(syn, classed):
    out = sf.parameterize(syn, model(), by="synapse_class", types=classed, progress=False)
    seed = out.attrs["history"][-1]["seed"]
    assert type(seed) is int and 0 <= seed < 2**63


# --- property names ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "why"),
    [("id", "column of every"), ("pre", "column of every"), ("post_x", "column of every"),
     ("cleft_score", "column of every"), ("pre_synapse_class", "annotation"),
     ("post_cell_type", "annotation")],
)  # fmt: skip
@pytest.mark.parametrize("overwrite", [False, True])
def test_properties_named_like_table_columns_are_refused(name, why, overwrite, syn, classed):
    stats = model({name: {"*": {"*": GAMMA}}})
    before = frame_hash(syn)
    with pytest.raises(sf.PathwayError, match=why) as exc:
        sf.parameterize(syn, stats, by="synapse_class", types=classed, seed=1, overwrite=overwrite)
    assert repr(name) in str(exc.value) and "rename them" in str(exc.value)
    assert frame_hash(syn) == before


def test_several_bad_names_are_reported_at_once(syn, classed):
    g = {"*": {"*": GAMMA}}
    stats = model({"pre": g, "post_y": g, "pre_ei": g, "fine": g})
    with pytest.raises(sf.PathwayError) as exc:
        sf.parameterize(syn, stats, by="synapse_class", types=classed, seed=1)
    assert all(repr(n) in str(exc.value) for n in ("pre", "post_y", "pre_ei"))
    assert "'fine'" not in str(exc.value)
    # the others may still be drawn
    out = sf.parameterize(syn, stats, by="synapse_class", types=classed, seed=1, properties="fine")
    assert "fine" in out and "pre_ei" not in out


@pytest.mark.parametrize(
    ("properties", "match"),
    [({"g": 1}, "property name or a list"), (5, "property name or a list"),
     (b"g", "property name or a list"), ([1], r"names \(str\)"), ([], "is empty")],
)  # fmt: skip
def test_properties_argument_is_checked(properties, match, syn, classed):
    with pytest.raises(sf.OptionError, match=match):
        sf.parameterize(syn, model(), by="synapse_class", types=classed, properties=properties)


def test_properties_listed_twice_are_drawn_once(syn, classed):
    once = sf.parameterize(syn, model(), by="synapse_class", types=classed, seed=3)
    twice = sf.parameterize(
        syn, model(), by="synapse_class", types=classed, seed=3, properties=["g", "g"]
    )
    pd.testing.assert_frame_equal(once, twice)
    assert twice.columns.tolist().count("g") == 1


def test_overwrite_must_be_a_bool(syn, classed):
    with pytest.raises(sf.OptionError, match="overwrite must be True or False"):
        sf.parameterize(syn, model(), by="synapse_class", types=classed, overwrite="yes")


# --- pathway statistics validated whole --------------------------------------------------------


def test_pathway_stats_arguments(syn):
    g = {"A": {"A": GAMMA}}
    with pytest.raises(sf.OptionError, match="by must be"):
        sf.pathway_stats({"g": g}, by=5)
    with pytest.raises(sf.OptionError, match="by must be"):
        sf.pathway_stats({"g": g}, by="")
    with pytest.raises(sf.PathwayError, match="src_types must be a list"):
        sf.pathway_stats({"g": g}, src_types="A")
    with pytest.raises(sf.PathwayError, match=r"tgt_types lists \['A'\] more than once"):
        sf.pathway_stats({"g": g}, tgt_types=["A", "A"])
    with pytest.raises(sf.PathwayError, match="given twice"):
        sf.pathway_stats({1: g, "1": g})
    with pytest.raises(sf.PathwayError, match="src type 1 is given twice"):
        sf.pathway_stats({"g": {"1": {"A": GAMMA}, 1: {"A": GAMMA}}})
    with pytest.raises(sf.PathwayError, match="tgt type"):
        sf.pathway_stats({"g": {"A": {"1": GAMMA, 1: GAMMA}}})
    # numbers as type names become their text (what tables' types become)
    stats = sf.pathway_stats({"g": {1: {2: GAMMA}}})
    assert stats["src"].values.tolist() == ["1"] and stats["tgt"].values.tolist() == ["2"]


def test_pathway_stats_do_not_modify_their_input():
    prop_stats = {"g": {"A": {"A": dict(GAMMA)}, 1: {"A": {"type": "constant", "mean": 2}}}}
    before = copy.deepcopy(prop_stats)
    sf.pathway_stats(prop_stats)
    assert prop_stats == before


@pytest.mark.parametrize(
    ("cell", "match"),
    [(5, "g \\[A -> A\\]"), ("gamma", "g \\[A -> A\\]"),
     ({"type": "gamma", "mean": np.nan, "std": 1.0}, "mean"),
     ({"type": "nope"}, "nope"), ({"mean": 1.0}, "type")],
)  # fmt: skip
def test_hand_made_cells_are_validated(cell, match, syn, classed):
    stats = hand_made(cell)
    with pytest.raises(sf.PathwayError, match=match):
        sf.pathways.validate(stats)
    before = frame_hash(syn)
    with pytest.raises(sf.PathwayError, match="invalid pathway statistics"):
        sf.parameterize(syn, stats, by="synapse_class", types=classed, seed=1)
    assert frame_hash(syn) == before
    # the views still show what the cells hold
    shown = "invalid" if not isinstance(cell, dict) else str(cell.get("type"))
    assert f"g <{shown}>" in sf.pathways.summary(stats)
    assert sf.pathways.kinds(stats).shape == (1, 1, 1)
    assert len(sf.pathways.table(stats)) == 1


def test_every_bad_cell_is_listed():
    stats = hand_made([5, {"type": "gamma", "mean": -1.0, "std": 1.0}], src=("A", "B"))
    with pytest.raises(sf.PathwayError) as exc:
        sf.pathways.validate(stats)
    assert "g [A -> A]" in str(exc.value) and "g [B -> A]" in str(exc.value)
    assert "2 problem(s)" in str(exc.value)


@pytest.mark.parametrize(
    ("coords", "match"),
    [({"src": [1]}, "src coordinates must be str"),
     ({"property": ["g", "g"]}, r"property \['g'\] appear more than once"),
     ({"tgt": ["A", "A"]}, r"tgt \['A'\] appear more than once")],
)  # fmt: skip
def test_coordinates_must_be_distinct_str(coords, match):
    shape = {"property": ["g"], "src": ["A"], "tgt": ["A"]}
    shape.update(coords)
    stats = hand_made([GAMMA] * 2, props=shape["property"], src=shape["src"], tgt=shape["tgt"])
    with pytest.raises(sf.PathwayError, match=match):
        sf.pathways.validate(stats)
    with pytest.raises(sf.PathwayError, match=match):  # views need the layout too
        sf.pathways.summary(stats)


def test_attrs_by_must_be_a_name():
    with pytest.raises(sf.PathwayError, match=r"attrs\['by'\]"):
        sf.pathways.validate(hand_made(GAMMA, by=3))


@pytest.mark.parametrize(
    ("matrix", "match"),
    [([[1.0, 0.9], [0.9, 1.0], [0, 0]], "shape"), ([[1.0, 2.0], [2.0, 1.0]], "semi-definite"),
     ([[1.0, 0.5], [0.4, 1.0]], "symmetric"), ([[1.0, np.nan], [np.nan, 1.0]], "NaN"),
     ("identity", "not a matrix of numbers")],
)  # fmt: skip
def test_wildcard_prop_cov_matrices_are_validated(matrix, match):
    n = {"type": "normal", "mean": 1.0, "std": 0.1}
    prop_stats = {"a": {"*": {"*": n}}, "b": {"*": {"*": n}}}
    cov = {"props": ["a", "b"], "cov": {"*": {"*": matrix}}}
    with pytest.raises(sf.PathwayError, match=r"prop_cov \(\*, \*\): .*" + match):
        sf.pathway_stats(prop_stats, prop_cov=cov)
    good = sf.pathway_stats(prop_stats, prop_cov={**cov, "cov": {"*": {"*": np.eye(2).tolist()}}})
    bad = good.copy()
    bad.attrs = {**good.attrs, "prop_cov": cov}
    with pytest.raises(sf.PathwayError, match=match):  # changed by hand after it was made
        sf.pathways.validate(bad)


@pytest.mark.parametrize(
    ("cov", "match"),
    [({"props": "ab", "cov": {}}, "non-empty list"), ({"props": ["a", "a"], "cov": {}}, "distinct"),
     ({"props": ["a", "b"], "cov": [[1]]}, r"\{src: \{tgt: matrix\}\}"),
     ({"props": ["a", "zz"], "cov": {}}, "not in prop_stats"), (["a"], "needs 'props'")],
)  # fmt: skip
def test_prop_cov_layout_is_validated(cov, match):
    n = {"type": "normal", "mean": 1.0, "std": 0.1}
    with pytest.raises(sf.PathwayError, match=match):
        sf.pathway_stats({"a": {"*": {"*": n}}, "b": {"*": {"*": n}}}, prop_cov=cov)


# --- distributions that overflow ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "match"),
    [({"type": "lognormal", "mean": 1000.0, "std": 1.0}, "cannot be drawn in float64"),
     ({"type": "normal", "mean": 1e308, "std": 1e308}, "cannot be drawn in float64"),
     ({"type": "exponential", "mean": 1e307}, "cannot be drawn in float64"),
     ({"type": "gamma", "mean": 1e-200, "std": 1.0}, "under- or overflow"),
     ({"type": "poisson", "mean": 1e10}, "above 1e\\+09"),
     ({"type": "normal", "mean": 3e9, "std": 1.0, "dtype": "int32"}, "do not fit dtype 'int32'"),
     ({"type": "constant", "mean": 300, "dtype": "uint8"}, "do not fit dtype 'uint8'"),
     ({"type": "constant", "mean": -5, "dtype": "uint32"}, "do not fit dtype 'uint32'"),
     ({"type": "constant", "mean": 1e300, "dtype": "float32"}, "would become infinite"),
     ({"type": "normal", "mean": 1e19, "std": 1.0, "dtype": "int"}, "fit dtype 'int'"),
     ({"type": "normal", "mean": 2e19, "std": 1.0, "dtype": "uint64"}, "fit dtype 'uint64'"),
     ({"type": "poisson", "mean": 1e9, "dtype": "int16"}, "fit dtype 'int16'")],
)  # fmt: skip
def test_distributions_that_overflow_are_refused(spec, match, syn, classed):
    problems = spec_problems(spec)
    assert problems and any(re.search(match, p) for p in problems), problems
    with pytest.raises(sf.PathwayError, match=match):
        sf.pathway_stats({"g": {"*": {"*": spec}}})
    before = frame_hash(syn)
    with pytest.raises(sf.PathwayError):
        sf.parameterize(syn, hand_made(spec, src=("*",), tgt=("*",)), by="x", types=classed)
    assert frame_hash(syn) == before


@pytest.mark.parametrize(
    "spec",
    [{"type": "gamma", "mean": 1e200, "std": 1e200}, {"type": "uniform", "min": -1e308, "max": 1e308},
     {"type": "lognormal", "mean": 700.0, "std": 0.5}, {"type": "poisson", "mean": 1e9},
     {"type": "constant", "mean": 255, "dtype": "uint8"},
     {"type": "normal", "mean": 3e9, "std": 1.0, "dtype": "int32", "upper_bound": 2e9},
     {"type": "constant", "mean": 3e38, "dtype": "float32"}],
)  # fmt: skip
def test_distributions_near_the_limits_are_drawn_finite(spec):
    assert spec_problems(spec) == []
    u = np.r_[distributions.U_EXTREMES[0], keyed_uniforms(1, "g", np.arange(2000)),
              distributions.U_EXTREMES[1]]  # fmt: skip
    x = sample(spec, u)
    assert np.isfinite(x.astype("float64")).all()
    assert x.dtype == np.dtype(distributions.output_dtype(spec))


def test_casts_are_checked_exactly():
    # 2**63 is beyond int64 although float64 rounds it to a value that compares equal
    with pytest.raises(sf.PathwayError, match="do not fit"):
        distributions._cast(np.array([2.0**63]), "int64")
    assert distributions._cast(np.array([-0.5, 255.9]), "uint8").tolist() == [0, 255]
    with pytest.raises(sf.PathwayError, match="do not fit"):
        distributions._cast(np.array([256.0]), "uint8")


def test_mixed_cell_dtypes_keep_integers_exact(syn, classed):
    """A property whose cells give int64 and float64 goes into a float64 column: integers that
    float64 cannot hold exactly are refused, not rounded."""
    big = {"type": "constant", "mean": 2**53 + 1, "dtype": "int64"}
    stats = sf.pathway_stats(
        {"g": {"excitatory_neuron": {"*": big}, "*": {"*": GAMMA}}}, by="synapse_class"
    )
    with pytest.raises(sf.PathwayError, match="cannot hold them exactly"):
        sf.parameterize(syn, stats, by="synapse_class", types=classed, seed=1)


# --- sample() ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "match"),
    [({"prop": "nope"}, "not a property"), ({"prop": 3}, "not a property"),
     ({"src": 1}, "src must be a type name"), ({"tgt": None}, "tgt must be a type name"),
     ({"n": -1}, "n must be a non-negative int"), ({"n": 2.0}, "n must be"),
     ({"n": True}, "n must be"), ({"n": "5"}, "n must be"), ({"seed": -3}, "seed")],
)  # fmt: skip
def test_sample_checks_its_arguments(kw, match):
    args = {"prop": "g", "src": "A", "tgt": "B", "n": 10, "seed": 0, **kw}
    stats = model()
    with pytest.raises(sf.OptionError, match=match):
        sf.pathways.sample(stats, args.pop("prop"), args.pop("src"), args.pop("tgt"), **args)


def test_sample_of_a_missing_pathway_and_of_an_invalid_cell():
    stats = sf.pathway_stats({"g": {"A": {"A": GAMMA}}})
    with pytest.raises(sf.PathwayError, match=r"no spec for 'g' on pathway \(B, A\).*\['A'\]"):
        sf.pathways.sample(stats, "g", "B", "A")
    bad = hand_made({"type": "gamma", "mean": -1.0, "std": 1.0})
    with pytest.raises(sf.PathwayError, match=r"g \[A -> A\]"):
        sf.pathways.sample(bad, "g", "A", "A")
    assert len(sf.pathways.sample(stats, "g", "A", "A", 0)) == 0
    assert len(stats.syn.sample("g", "A", "A", np.int32(7))) == 7


# --- wildcard-only models ----------------------------------------------------------------------


def test_wildcard_only_models_warn_when_saved(tmp_path):
    path = tmp_path / "model.json"
    with pytest.warns(sf.SynframeWarning, match="src_types and tgt_types are empty"):
        sf.save_pathway_stats(model(), path)
    saved = json.loads(path.read_text())
    assert saved["src_types"] == [] and saved["tgt_types"] == []
    half = sf.pathway_stats({"g": {"A": {"*": GAMMA}}})
    with pytest.warns(sf.SynframeWarning, match="tgt_types are empty") as rec:
        sf.save_pathway_stats(half, tmp_path / "half.json")
    assert not any("src_types and" in str(w.message) for w in rec)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # explicit types: no warning
        sf.save_pathway_stats(model(src_types=["A"], tgt_types=["B"]), tmp_path / "typed.json")
    assert json.loads((tmp_path / "typed.json").read_text())["src_types"] == ["A"]


def test_summary_counts_the_wildcard_as_one_type():
    text = sf.pathways.summary(sf.pathway_stats({"g": {"A": {"*": GAMMA}, "B": {"*": GAMMA},
                                                       "C": {"*": GAMMA}}}))  # fmt: skip
    assert "3x1 'type' pathways ('*' stands for any type" in text
    plain = sf.pathways.summary(sf.pathway_stats({"g": {"A": {"B": GAMMA}}}))
    assert "1x1 'type' pathways:" in plain and "'*'" not in plain


# --- fit_pathway_stats and bmtk's nsyns --------------------------------------------------------


@pytest.fixture(scope="module")
def l4_edges(tmp_path_factory):
    """The Allen layer-4 edges with ``nsyns`` 1..5 on group 1 (missing on group 0: 1 synapse)."""
    root = tmp_path_factory.mktemp("l4")
    network = root / "network"
    shutil.copytree(ALLEN, network)
    with h5py.File(network / "l4_l4_edges.h5", "r+") as h5:
        n1 = int((h5[f"edges/{POP}/edge_group_id"][()] == 1).sum())
        h5.create_dataset(f"edges/{POP}/1/nsyns", data=np.arange(n1, dtype=np.uint16) % 5 + 1)
    syn = sf.read_edges(l4_config(root, network), node_properties=("ei",))
    assert syn["nsyns"].isna().any() and (syn["nsyns"] > 1).any()
    return syn


def expanded(syn, nsyns="nsyns"):
    """Every row repeated ``nsyns`` times (missing: once), as one row per synapse."""
    w = syn[nsyns].fillna(1).to_numpy().astype(np.int64)
    out = syn.loc[syn.index.repeat(w)].drop(columns=nsyns).reset_index(drop=True)
    out["id"] = np.arange(len(out))
    return out


FIT = {"by": "ei", "distributions": {"syn_weight": "normal", "delay": "normal", "n_syn_per_conn": "gamma"},
       "progress": False}  # fmt: skip


def test_fit_counts_nsyns_like_repeated_rows(l4_edges):
    syn = l4_edges
    before = frame_hash(syn)
    props = ["syn_weight", "delay", "n_syn_per_conn"]
    weighted = sf.fit_pathway_stats(syn, properties=props, **FIT)
    assert frame_hash(syn) == before
    repeated = sf.fit_pathway_stats(expanded(syn), properties=props, nsyns=None, **FIT)
    assert (
        weighted.syn.to_dict()["prop_stats"].keys() == repeated.syn.to_dict()["prop_stats"].keys()
    )
    for name in ("mean", "std"):
        np.testing.assert_allclose(
            weighted.syn.param(name).values, repeated.syn.param(name).values, rtol=1e-9
        )
    assert weighted.attrs["fit"]["nsyns"] == "nsyns" and repeated.attrs["fit"]["nsyns"] is None
    n_syn = int(syn["nsyns"].fillna(1).sum())
    assert weighted.attrs["fit"]["synapses"] == n_syn == repeated.attrs["fit"]["synapses"]
    assert weighted.attrs["fit"]["rows"] == len(syn)
    # and the plain fit (every edge one synapse) differs: nsyns changed something
    plain = sf.fit_pathway_stats(syn, properties=props, nsyns=None, **FIT)
    assert not np.allclose(
        plain.syn.param("mean").sel(property="n_syn_per_conn").values,
        weighted.syn.param("mean").sel(property="n_syn_per_conn").values,
    )


def test_fit_n_syn_per_conn_is_the_sum_of_nsyns(l4_edges):
    """By hand: per (pre ei, post ei) pathway, the mean and std over connections of the sum of
    nsyns over each connection's edges."""
    syn = l4_edges
    fitted = sf.fit_pathway_stats(syn, properties=["n_syn_per_conn"], **FIT)
    per_conn = (
        syn.assign(w=syn["nsyns"].fillna(1))
        .groupby(["pre", "post"])
        .agg(w=("w", "sum"), s=("pre_ei", "first"), t=("post_ei", "first"))
    )
    checked = 0
    for (s, t), g in per_conn.groupby(["s", "t"]):
        spec = fitted.syn.to_dict()["prop_stats"]["n_syn_per_conn"][str(s)][str(t)]
        assert spec["mean"] == pytest.approx(g["w"].mean(), rel=1e-12)
        assert spec["std"] == pytest.approx(g["w"].std(ddof=0), rel=1e-12)
        checked += 1
    assert checked == 4


def test_fit_weighted_per_synapse_statistics_by_hand():
    """Two rows of one connection with different values: each counts nsyns times."""
    df = pd.DataFrame({"id": [0, 1, 2, 3], "pre": [1, 1, 2, 2], "post": [9, 9, 9, 9],
                       "g": [1.0, 4.0, 2.0, 2.5], "nsyns": [3, 1, 2, 0]})  # fmt: skip
    for c in ("pre_x", "pre_y", "pre_z", "post_x", "post_y", "post_z"):
        df[c] = 0.0
    types = {1: "A", 2: "A", 9: "A"}
    before = df.copy()
    st_ = sf.fit_pathway_stats(df, properties=["g", "n_syn_per_conn"], by="t", types=types,
                               distributions="normal", progress=False)  # fmt: skip
    pd.testing.assert_frame_equal(df, before)
    values = np.array([1.0, 1.0, 1.0, 4.0, 2.0, 2.0])  # the row with nsyns 0 stands for none
    spec = st_.syn.to_dict()["prop_stats"]["g"]["A"]["A"]
    assert spec["mean"] == pytest.approx(values.mean()) and spec["std"] == pytest.approx(
        values.std()
    )
    n = st_.syn.to_dict()["prop_stats"]["n_syn_per_conn"]["A"]["A"]
    assert n["mean"] == pytest.approx(3.0) and n["std"] == pytest.approx(1.0)  # 4 and 2
    assert st_.attrs["fit"]["synapses"] == 6 and st_.attrs["fit"]["rows"] == 3


@pytest.mark.parametrize(
    ("nsyns", "column", "error", "match"),
    [(5, None, sf.OptionError, "nsyns must be a column name"),
     ("count", None, sf.OptionError, "not a column"),
     ("nsyns", [1.0, 1.5, 1.0, 1.0], sf.PathwayError, "must hold counts"),
     ("nsyns", [1, -1, 1, 1], sf.PathwayError, "must hold counts"),
     ("nsyns", [1.0, np.inf, 1.0, 1.0], sf.PathwayError, "must hold counts"),
     ("nsyns", ["1", "1", "1", "1"], sf.PathwayError, "must hold numbers"),
     ("nsyns", [True, True, False, True], sf.PathwayError, "must hold numbers"),
     ("nsyns", [0, 0, 0, 0], sf.PathwayError, "no synapses to fit")],
)  # fmt: skip
def test_fit_nsyns_is_checked(nsyns, column, error, match):
    df = pd.DataFrame({"id": [0, 1, 2, 3], "pre": [1, 1, 2, 2], "post": [9, 9, 9, 9],
                       "g": [1.0, 4.0, 2.0, 2.5]})  # fmt: skip
    for c in ("pre_x", "pre_y", "pre_z", "post_x", "post_y", "post_z"):
        df[c] = 0.0
    if column is not None:
        df["nsyns"] = column
    before = df.copy()
    with pytest.raises(error, match=match):
        sf.fit_pathway_stats(df, properties="g", by="t", types={1: "A", 2: "A", 9: "A"},
                             nsyns=nsyns, progress=False)  # fmt: skip
    pd.testing.assert_frame_equal(df, before)


def test_fit_refuses_to_fit_the_count_column_and_odd_by(l4_edges):
    with pytest.raises(sf.OptionError, match="counts the synapses each row stands for"):
        sf.fit_pathway_stats(l4_edges, properties=["nsyns"], by="ei", progress=False)
    # as a property when asked to
    st_ = sf.fit_pathway_stats(l4_edges.fillna({"nsyns": 1}), properties=["nsyns"], by="ei",
                               nsyns=None, progress=False)  # fmt: skip
    assert "nsyns" in st_["property"].values
    for by in (None, 3, ""):
        with pytest.raises(sf.OptionError, match="by must be"):
            sf.fit_pathway_stats(l4_edges, properties=["syn_weight"], by=by, progress=False)


# --- progress bars -----------------------------------------------------------------------------


def run_parameterize(syn, classed, progress):
    return sf.parameterize(syn, model(), by="synapse_class", types=classed, seed=1,
                           progress=progress)  # fmt: skip


def run_fit(syn, classed, progress):
    drawn = run_parameterize(syn, classed, False)
    return sf.fit_pathway_stats(drawn, properties=["g", "n_syn_per_conn"], by="synapse_class",
                                types=classed, progress=progress)  # fmt: skip


BARS = {"parameterize": run_parameterize, "fit_pathway_stats": run_fit}


@pytest.mark.parametrize("name", list(BARS))
def test_a_bar_when_forced_and_none_when_turned_off(name, syn, classed, capsys, monkeypatch):
    monkeypatch.setenv("SYNFRAME_PROGRESS", "1")
    capsys.readouterr()
    forced = BARS[name](syn, classed, True)
    assert name in capsys.readouterr().err
    off = BARS[name](syn, classed, False)
    assert name not in capsys.readouterr().err
    monkeypatch.delenv("SYNFRAME_PROGRESS")
    BARS[name](syn, classed, True)  # not a terminal, not forced: no bar
    assert name not in capsys.readouterr().err
    if name == "parameterize":
        pd.testing.assert_frame_equal(forced.drop(columns=[]), off)
    else:
        assert forced.syn.to_dict() == off.syn.to_dict()


@pytest.mark.parametrize("value", ["yes", 1, None, 0.0])
def test_progress_must_be_a_bool(value, syn, classed):
    before = frame_hash(syn)
    for call in (lambda: run_parameterize(syn, classed, value),
                 lambda: run_fit(syn, classed, value),
                 lambda: syn.syn.parameterize(model(), by="synapse_class", types=classed,
                                              progress=value)):  # fmt: skip
        with pytest.raises(sf.OptionError, match="progress must be True or False"):
            call()
    assert frame_hash(syn) == before


def test_progress_accepts_numpy_bools(syn, classed):
    a = run_parameterize(syn, classed, np.False_)
    b = run_fit(syn, classed, np.True_)
    assert "g" in a and "g" in b["property"].values


def test_every_bar_ends_at_its_total(syn, classed, monkeypatch):
    import synframe._progress as progress_module

    made = []
    real = progress_module.bar

    def spy(total, desc, progress=True, **kw):
        made.append([desc, total, 0])
        inner = real(total, desc, False, **kw)

        def update(k=1):
            made[-1][2] += k

        inner.update = update
        return inner

    monkeypatch.setattr(progress_module, "bar", spy)
    run_fit(syn, classed, True)
    assert [m[0] for m in made] == ["parameterize", "fit_pathway_stats"]
    assert all(total > 0 and n == total for _, total, n in made), made


def test_dask_and_neurons_take_progress_too(syn, classed, neuron):
    dd = pytest.importorskip("dask.dataframe")
    typed = syn.assign(pre_synapse_class=syn["pre"].map(classed).to_numpy(),
                       post_synapse_class=syn["post"].map(classed).to_numpy())  # fmt: skip
    ddf = dd.from_pandas(typed, npartitions=3)
    lazy = sf.dask.parameterize(ddf, model(), by="synapse_class", seed=1, progress=False)
    eager = sf.parameterize(typed, model(), by="synapse_class", seed=1, progress=False)
    got = lazy.compute().set_index("id").loc[eager["id"], "g"].to_numpy()
    np.testing.assert_array_equal(got, eager["g"].to_numpy())
    with pytest.raises(sf.OptionError, match="progress must be True or False"):
        sf.dask.parameterize(ddf, model(), by="synapse_class", seed=1, progress="no")
    import navis

    nl = sf.attach(syn, navis.NeuronList([neuron]))
    with pytest.raises(sf.OptionError, match="progress must be True or False"):
        sf.parameterize_connectors(nl, model(), by="synapse_class", types=classed, progress=2)


# --- reports -----------------------------------------------------------------------------------


def test_describe_repeated_and_multiindex_columns(syn):
    twice = pd.concat([syn, syn[["pre"]]], axis=1)
    text = sf.reports.describe(twice)
    assert "repeated column names ['pre']" in text and "keeps the first" in text
    multi = syn.copy()
    multi.columns = pd.MultiIndex.from_arrays([["a"] * syn.shape[1], syn.columns])
    assert "MultiIndex" in sf.reports.describe(multi)
    assert "repeated column names" in sf.reports.describe_html(twice)
    assert "repeated column names" in repr(twice.syn)


def test_describe_text_and_mixed_ids():
    df = pd.DataFrame({"pre": ["a", "b", "a", 3], "post": ["c", "c", "d", "a"]})
    text = sf.reports.describe(df)
    assert "neurons      5 (3 pre, 3 post)" in text, text
    assert "ids          pre object, post object (synframe's ids are int64)" in text
    assert "connections  4" in text


@pytest.mark.parametrize("obj", [None, [1, 2], pd.Series([1, 2]), "table"])
def test_reports_take_dataframes(obj):
    with pytest.raises(sf.OptionError, match="takes a DataFrame"):
        sf.reports.describe(obj)
    with pytest.raises(sf.OptionError, match="takes a DataFrame"):
        sf.history(obj)


def test_malformed_history_is_shown_not_raised(syn):
    df = syn.iloc[:3].copy()
    df.attrs = {"history": "not a list", "properties": "g"}
    assert len(sf.history(df)) == 0
    assert "properties   g" in sf.reports.describe(df)
    df.attrs = {"history": [
        "junk", {"stage": "clean", "rows_in": "12", "rows_out": 10.0, "removed": {"autapses": True}},
        {"stage": "x", "rows_in": np.nan, "rows_out": 1e30, "removed": [1]},
        {"stage": "y", "rows_in": np.int64(5), "rows_out": 2.5, "options": {"a": 1}},
    ]}  # fmt: skip
    before = copy.deepcopy(df.attrs)
    h = sf.history(df)
    assert h["stage"].tolist() == ["clean", "x", "y"]
    assert h["rows_in"].isna().tolist() == [True, True, False] and h["rows_in"].iloc[2] == 5
    assert h["rows_out"].iloc[0] == 10 and h["rows_out"].iloc[1:].isna().all()
    assert h["autapses"].isna().all()  # True is not a count
    assert str(h["rows_in"].dtype) == "Int64"
    assert df.attrs["history"][1] == before["history"][1]
    sf.reports.describe(df)  # does not raise


# --- by ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("by", [None, 5, "", ["synapse_class"]])
def test_by_must_be_a_name(by, syn, classed):
    """``by`` names the node property whose values are the types: there is no meaningful
    ``by=None`` (even a wildcard-only model needs to know the pathway property)."""
    before = frame_hash(syn)
    with pytest.raises(sf.OptionError, match="these stats were made for by='synapse_class'"):
        sf.parameterize(syn, model(), by=by, types=classed)
    bare = sf.pathway_stats({"g": {"*": {"*": GAMMA}}})  # no by recorded
    with pytest.raises(sf.OptionError, match=r"e\.g\. by='synapse_class'"):
        sf.parameterize(syn, bare, by=by, types=classed)
    assert frame_hash(syn) == before
    dd = pytest.importorskip("dask.dataframe")
    with pytest.raises(sf.OptionError, match="by must be the pathway property"):  # eagerly
        sf.dask.parameterize(dd.from_pandas(syn, npartitions=2), model(), by=by)
    with pytest.raises(sf.OptionError, match="by must be"):
        syn.syn.parameterize(model(), by=by, types=classed)


# --- truncnorm far out or on a tiny interval (found by the property test) ----------------------


@pytest.mark.parametrize(
    ("spec", "near"),
    [  # the normal's centre far below / above [min, max]: draws pile up at the near end
        ({"type": "truncnorm", "norm_loc": -1.0, "norm_scale": 3.4e-192, "min": 0.0, "max": 1.0},
         0.0),
        ({"type": "truncnorm", "norm_loc": 2.0, "norm_scale": 3.4e-192, "min": 0.0, "max": 1.0},
         1.0),
        ({"type": "truncnorm", "norm_loc": -1.0, "norm_scale": 1e-9, "min": 0.0, "max": 1.0}, 0.0),
        # draws ~1e-79 above min = 0: measured from min, they keep their precision
        ({"type": "truncnorm", "norm_loc": -1000.0, "norm_scale": 1.1754943508222875e-38,
          "min": 0.0, "max": 179.2}, 0.0),
        # (min - loc) / scale and (max - loc) / scale both overflow: every draw at min
        ({"type": "truncnorm", "norm_loc": -1e300, "norm_scale": 1e-300, "min": 5.0, "max": 6.0},
         5.0),
        ({"type": "truncnorm", "norm_loc": 1e300, "norm_scale": 1.0, "min": 5.0, "max": 5.0000001},
         5.0000001),
    ],
)  # fmt: skip
def test_truncnorm_far_in_the_tail_is_at_the_near_end(spec, near):
    x = sample(spec, keyed_uniforms(0, "t", np.arange(1000)))
    assert np.isfinite(x).all() and np.abs(x - near).max() < 1e-6
    sf.testing.assert_drawn_from(x, spec)
    if spec["norm_loc"] == -1000.0:
        assert (x > 0).all() and len(np.unique(x)) == len(x)  # not lumped at min


def test_truncnorm_far_tail_quantiles_are_exact():
    """Beyond 1e4 standard units the truncated normal is an exponential of rate |b| below b
    (scipy's own ppf gives inf or NaN there, and is off by ~1e-10 at 2e4). Checked against the
    exact quantile (mpmath, 60 digits) at 2e4 and 2e5 standard units."""
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 60
    for b in (-2e4, -2e5):
        r = mp.mpf(-b)
        for u in (0.1, 0.3, 0.7, 0.99):
            exact = mp.findroot(
                lambda y, r=r, u=u: mp.erfc((r + y) / mp.sqrt(2)) / mp.erfc(r / mp.sqrt(2)) - u,
                (mp.mpf(1e-9) / r, mp.mpf(10) / r), solver="illinois", tol=1e-50,
            )  # fmt: skip
            x = distributions._truncnorm_std_ppf(np.array([u]), 1.5 * b, b)[0]
            assert abs((b - x) - float(exact)) <= 4 * np.spacing(abs(b)), (b, u)
    from scipy import stats

    u = keyed_uniforms(1, "t", np.arange(200))
    with np.errstate(all="ignore"):
        assert not np.isfinite(stats.truncnorm.ppf(u[:3], 1e9, 1e9 + 1e-8)).any()
    x = distributions._truncnorm_std_ppf(u, 1e9, 1e9 + 1e-8)
    assert ((x >= 1e9) & (x <= 1e9 + 1e-8)).all()
    back = distributions._truncnorm_std_cdf(distributions._truncnorm_std_ppf(u, 2e5, 3e5), 2e5, 3e5)
    np.testing.assert_allclose(back, u, atol=1e-5)  # float resolution of x near 2e5: ~3e-11


def test_truncnorm_on_a_tiny_interval_is_uniform_there():
    spec = {"type": "truncnorm", "norm_loc": 0.0, "norm_scale": 632.5, "min": 4e-249,
            "max": 3.1e-65}  # fmt: skip
    x = sample(spec, keyed_uniforms(2, "t", np.arange(2000)))
    assert (x >= spec["min"]).all() and (x <= spec["max"]).all()
    sf.testing.assert_drawn_from(x, spec)
    assert abs(x.mean() / spec["max"] - 0.5) < 4 / np.sqrt(12 * len(x))  # a uniform's mean


@pytest.mark.parametrize(
    "spec",
    [{"type": "truncnorm", "norm_loc": 0.3, "norm_scale": 0.0, "min": 0.0, "max": 1.0},
     {"type": "truncnorm", "norm_loc": 0.3, "norm_scale": 2.0, "min": 0.5, "max": 0.5},
     {"type": "truncnorm", "norm_loc": 0.3, "norm_scale": 2.0, "min": 0.0, "max": 1.0,
      "lower_bound": 0.25, "upper_bound": 0.25},
     {"type": "truncnorm", "norm_loc": 0.5, "norm_scale": 1e-300, "min": 0.0, "max": 1.0}],
)  # fmt: skip
def test_point_mass_truncnorm_per_synapse_passes_assert_parameterized(spec, syn, classed):
    """One value for every synapse of a connection is all a point mass can give: not taken for a
    per-connection draw where per-synapse was asked (shared_within false)."""
    stats = model({"g": {"*": {"*": {**spec, "shared_within": False}}}})
    out = sf.parameterize(syn, stats, by="synapse_class", types=classed, seed=4, progress=False)
    assert out["g"].nunique() == 1
    sf.testing.assert_parameterized(out, stats, by="synapse_class", types=classed)


@pytest.mark.skipif(
    not __import__("os").environ.get("SYNFRAME_CM_PYTHON"),
    reason="set SYNFRAME_CM_PYTHON to a Python with connectome-manipulator 1.0.4",
)
def test_connectome_manipulator_loads_a_wildcard_only_model_but_has_no_pathway(tmp_path):
    """What the warning says: CM 1.0.4 loads the file, with no types to draw from."""
    import os
    import subprocess

    with pytest.warns(sf.SynframeWarning, match="src_types and tgt_types are empty"):
        sf.save_pathway_stats(model(), tmp_path / "m.json")
    code = (
        "import sys\n"
        "from connectome_manipulator.model_building import model_types\n"
        "m = model_types.AbstractModel.model_from_file(sys.argv[1])\n"
        "print(m.get_src_types(), m.get_tgt_types())\n"
    )
    res = subprocess.run([os.environ["SYNFRAME_CM_PYTHON"], "-c", code, str(tmp_path / "m.json")],
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["[]", "[]"]
