"""``sf.fit_pathway_stats``: fitting then sampling recovers the original parameters."""

import numpy as np
import pandas as pd
import pytest
from test_pathways import FITTED

import synframe as sf


@pytest.fixture(scope="module")
def table():
    """40,000 synapses in 4,000 connections between 2 mtypes (2 x 2 pathways)."""
    rng = np.random.default_rng(12)
    n_conn, per = 4_000, 10
    pre = np.repeat(np.arange(n_conn) + 1_000, per)
    post = np.repeat(rng.integers(0, 200, n_conn), per)
    df = pd.DataFrame({"id": np.arange(len(pre)), "pre": pre, "post": post})
    for c in ("pre_x", "pre_y", "pre_z", "post_x", "post_y", "post_z"):
        df[c] = rng.uniform(0, 1e5, len(df))
    types = {**{i: ("L5_TPC:A" if i % 2 else "L5_MC") for i in range(1_000, 1_000 + n_conn)},
             **{i: ("L5_TPC:A" if i % 3 else "L5_MC") for i in range(200)}}  # fmt: skip
    return df, types


def test_fit_then_sample_recovers_the_parameters(table):
    df, types = table
    truth = sf.pathways.from_dict({k: v for k, v in FITTED.items() if k != "prop_cov"})
    drawn = sf.parameterize(df, truth, by="mtype", types=types, seed=1)
    fitted = sf.fit_pathway_stats(
        drawn, by="mtype", types=types, properties=["conductance", "delay", "n_rrp_vesicles", "u_syn"],
        distributions={"conductance": "gamma", "delay": "normal", "n_rrp_vesicles": "discrete", "u_syn": "truncnorm"},
    )  # fmt: skip
    for s in ("L5_TPC:A", "L5_MC"):
        for t in ("L5_TPC:A", "L5_MC"):
            cell = lambda p, s=s, t=t: fitted.sel(property=p, src=s, tgt=t).item()  # noqa: E731
            g = cell("conductance")
            n_conn = g and (drawn.pre.map(types).eq(s) & drawn.post.map(types).eq(t)).sum() / 10
            assert g["shared_within"] is True and cell("delay")["shared_within"] is False
            tol = 5 * 0.3 / np.sqrt(n_conn)
            assert abs(g["mean"] - 0.8) < tol and abs(g["std"] - 0.3) < 0.1
            d = cell("delay")
            assert abs(d["mean"] - 1.2) < 5 * 0.2 / np.sqrt(10 * n_conn)
            v = cell("n_rrp_vesicles")
            assert v["val"] == [1, 2, 3] and v["dtype"] == "int"
            assert np.allclose(v["p"], [0.2, 0.5, 0.3], atol=5 * 0.5 / np.sqrt(n_conn))
            u = cell("u_syn")
            assert abs(u["norm_loc"] - 0.5) < 0.05 and abs(u["norm_scale"] - 0.2) < 0.03
    # and the fitted model samples what it fitted
    again = sf.parameterize(df, fitted, by="mtype", types=types, seed=2)
    assert abs(again["conductance"].mean() - drawn["conductance"].mean()) < 0.03


def test_sparse_pathways_fall_back_to_a_wildcard_fit(table):
    df, types = table
    df = df.copy()
    df["g"] = np.random.default_rng(0).gamma(4.0, 0.25, len(df))
    types = dict(types)
    types[1_000] = "rare"  # one connection only
    fitted = sf.fit_pathway_stats(
        df, by="mtype", types=types, properties="g", distributions="gamma", min_connections=5
    )
    assert "*" in fitted["src"].values and "*" in fitted["tgt"].values
    assert {f[1] for f in fitted.attrs["fit"]["filled"]} == {"rare"}
    assert {f[3] for f in fitted.attrs["fit"]["filled"]} == {"*"}
    from synframe.pathways import lookup

    assert lookup(fitted, "g", "rare", "L5_MC") is fitted.sel(property="g", src="*", tgt="*").item()
    assert fitted.sel(property="g", src="rare", tgt="L5_MC").item() is None


def test_fit_errors(table):
    df, types = table
    with pytest.raises(sf.PathwayError, match="not columns"):
        sf.fit_pathway_stats(df, by="mtype", types=types, properties="nope")
    bad = df.assign(g=-1.0)
    with pytest.raises(sf.PathwayError, match="gamma needs positive values"):
        sf.fit_pathway_stats(bad, by="mtype", types=types, properties="g", distributions="gamma")
    many = df.assign(g=np.arange(len(df), dtype=float))
    with pytest.raises(sf.PathwayError, match="too many for 'discrete'"):
        sf.fit_pathway_stats(
            many, by="mtype", types=types, properties="g", distributions="discrete"
        )


def test_hostile_options_are_clear_errors_and_nothing_is_modified(table):
    df, types = table
    df = df.assign(g=np.random.default_rng(2).gamma(4.0, 0.25, len(df)))
    before = df.copy()
    cases = [
        (dict(min_connections=0), "min_connections"),
        (dict(min_connections=True), "min_connections"),
        (dict(min_connections=2.5), "min_connections"),
        (dict(properties=[]), "properties is empty"),
        (dict(distributions="gaussian"), "unknown distribution type"),
        (dict(distributions=3), "distributions must be"),
        (dict(bounds="yes"), "bounds must be"),
        (dict(bounds={"g": [2.0, 1.0]}), "lower_bound"),
        (dict(dtypes={"g": "int-ish"}), "dtype"),
        (dict(truncnorm_fit="ls"), "truncnorm_fit"),
        (dict(interpolate=["layer"]), "no columns"),
        (dict(src_types=["L5_MC"]), "not in src_types"),
        (dict(src_types=["L5_MC", "L5_MC", "L5_TPC:A"]), "duplicates"),
    ]
    for kw, match in cases:
        args = {"by": "mtype", "types": types, "properties": "g"} | kw
        with pytest.raises(sf.SynframeError, match=match):
            sf.fit_pathway_stats(df, **args)
    with pytest.raises(sf.PathwayError, match="finite"):
        sf.fit_pathway_stats(
            df.assign(g=np.r_[np.nan, df["g"].to_numpy()[1:]]),
            by="mtype",
            types=types,
            properties="g",
        )
    with pytest.raises(sf.PathwayError, match="numbers"):
        sf.fit_pathway_stats(df.assign(g="x"), by="mtype", types=types, properties="g")
    with pytest.raises(sf.PathwayError, match="no synapses"):
        sf.fit_pathway_stats(df.iloc[:0], by="mtype", types=types, properties="g")
    with pytest.raises(sf.PathwayError, match="no pathway has 1000000 or more connections"):
        sf.fit_pathway_stats(df, by="mtype", types=types, properties="g", min_connections=10**6,
                             interpolate=pd.DataFrame({"c": ["E", "I"]}, index=["L5_TPC:A", "L5_MC"]))  # fmt: skip
    pd.testing.assert_frame_equal(df, before)


def test_interpolation_groups_from_a_frame_and_types_without_synapses(table):
    """Types listed but absent from the table are filled at the level their groups allow."""
    df, types = table
    df = df.assign(g=np.random.default_rng(2).gamma(4.0, 0.25, len(df)))
    groups = pd.DataFrame({"layer": ["5", "5", "6"], "synapse_class": ["EXC", "INH", "EXC"]},
                          index=["L5_TPC:A", "L5_MC", "L6_TPC"])  # fmt: skip
    stats = sf.fit_pathway_stats(
        df, by="mtype", types=types, properties=["g", "n_syn_per_conn"], distributions="gamma",
        interpolate=groups, src_types=["L5_TPC:A", "L5_MC", "L6_TPC"],
    )  # fmt: skip
    assert "*" not in stats["src"].values  # every cell explicit, nothing pooled
    filled = {(f[1], f[2]): f[3] for f in stats.attrs["fit"]["filled"] if f[0] == "g"}
    assert filled == {("L6_TPC", "L5_TPC:A"): 3, ("L6_TPC", "L5_MC"): 3}  # same class both sides
    l6 = stats.sel(property="g", src="L6_TPC", tgt="L5_MC").item()
    l5 = stats.sel(property="g", src="L5_TPC:A", tgt="L5_MC").item()
    assert l6["mean"] == l5["mean"] and l6["std"] == l5["std"]  # the only EXC source with data
    n = stats.sel(property="n_syn_per_conn", src="L6_TPC", tgt="L5_MC").item()
    assert "shared_within" not in n and "dtype" not in n
    with pytest.raises(sf.PathwayError, match="no \\['layer', 'synapse_class'\\] for types"):
        sf.fit_pathway_stats(df, by="mtype", types=types, properties="g", interpolate=groups.iloc[:2],
                             src_types=["L5_TPC:A", "L5_MC", "L6_TPC"])  # fmt: skip


def test_n_syn_per_conn_is_not_a_synapse_property(table):
    df, types = table
    stats = sf.pathway_stats({"n_syn_per_conn": {"*": {"*": {"type": "constant", "mean": 2}}},
                              "g": {"*": {"*": {"type": "constant", "mean": 1.0}}}})  # fmt: skip
    with pytest.raises(sf.PathwayError, match="synapses per connection"):
        sf.parameterize(df, stats, by="mtype", types=types, properties=["n_syn_per_conn"], seed=1)
    assert "n_syn_per_conn" not in sf.parameterize(df, stats, by="mtype", types=types, seed=1)
