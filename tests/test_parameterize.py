"""``sf.parameterize``: the seed notebook's model on real data, keyed randomness, errors, copulas."""

import navis
import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import special, stats
from test_pathways import CLASSES, FITTED, seed_notebook_prop_stats

import synframe as sf
from conftest import ROOT
from synframe.testing import assert_parameterized, pathway_stats_dicts, typed_synapse_tables


@pytest.fixture
def classed():
    return sf.datasets.example_synapse_classes()


@pytest.fixture
def notebook_stats():
    return sf.pathway_stats(
        seed_notebook_prop_stats(shared_within=False),
        CLASSES,
        CLASSES,
        by="synapse_class",
    )


def test_seed_notebook_model_on_microns(syn, classed, notebook_stats):
    out = sf.parameterize(syn, notebook_stats, by="synapse_class", types=classed, seed=1)
    sf.validate(out, "parameterized")
    # every pathway x property follows its model (gamma by KS, constants exactly, dtypes)
    assert_parameterized(out, notebook_stats, by="synapse_class", types=classed)
    assert out["syn_type_id"].dtype == np.int64 and out["conductance"].dtype == np.float64
    src = classed.reindex(out.pre).to_numpy()
    tgt = classed.reindex(out.post).to_numpy()
    counts = pd.Series(list(zip(src, tgt, strict=True))).value_counts()
    assert (
        counts[("extrinsic_neuron", "excitatory_neuron")] > 1000
        and counts[("inhibitory_neuron", "excitatory_neuron")] > 40
    )
    for (s, t), n in counts.items():
        sel = (src == s) & (tgt == t)
        mean, std = (2.0, 0.5) if s == "inhibitory_neuron" else (1.0, 0.5)
        got = out.loc[sel, "conductance"]
        assert abs(got.mean() - mean) < 5 * std / np.sqrt(n), (s, t, n, got.mean())
        assert (out.loc[sel, "syn_type_id"] == (1 if s == "inhibitory_neuron" else 100)).all()
    assert out.attrs["properties"] == ["conductance", "syn_type_id"]
    rec = out.attrs["history"][-1]
    assert (
        rec["seed"] == 1
        and rec["by"] == "synapse_class"
        and sum(rec["pathways"].values()) == len(syn)
    )


def test_types_from_columns_dict_series_and_frame_agree(syn, classed, notebook_stats):
    ref = sf.parameterize(syn, notebook_stats, by="synapse_class", types=classed, seed=5)
    cols = syn.assign(
        pre_synapse_class=classed.reindex(syn.pre).to_numpy(),
        post_synapse_class=classed.reindex(syn.post).to_numpy(),
    )
    frame = classed.rename("synapse_class").rename_axis("root_id").reset_index()
    for got in (
        sf.parameterize(cols, notebook_stats, by="synapse_class", seed=5),
        sf.parameterize(syn, notebook_stats, by="synapse_class", types=classed.to_dict(), seed=5),
        sf.parameterize(syn, notebook_stats, by="synapse_class", types=frame, seed=5),
    ):
        assert np.array_equal(got["conductance"].to_numpy(), ref["conductance"].to_numpy())


def test_shuffle_subset_and_chunks_are_bit_identical(syn, classed, notebook_stats):
    shared = sf.pathway_stats(seed_notebook_prop_stats(shared_within=True), CLASSES, CLASSES)
    for st_ in (notebook_stats, shared):
        ref = sf.parameterize(syn, st_, by="synapse_class", types=classed, seed=11).set_index("id")
        shuffled = syn.sample(frac=1.0, random_state=3)
        got = sf.parameterize(shuffled, st_, by="synapse_class", types=classed, seed=11).set_index(
            "id"
        )
        assert np.array_equal(
            got.loc[ref.index, "conductance"].to_numpy(), ref["conductance"].to_numpy()
        )
        chunks = [sf.parameterize(shuffled.iloc[r], st_, by="synapse_class", types=classed, seed=11)
                  for r in np.array_split(np.arange(len(syn)), 7)]  # fmt: skip
        joined = pd.concat(chunks).set_index("id")
        assert np.array_equal(
            joined.loc[ref.index, "conductance"].to_numpy(), ref["conductance"].to_numpy()
        )


@given(typed_synapse_tables(min_rows=1, max_rows=60), pathway_stats_dicts(src_types=("EXC", "INH"), tgt_types=("EXC", "INH")),
       st.integers(0, 2**31), st.randoms(use_true_random=False))  # fmt: skip
def test_keyed_randomness_properties(syn, model, seed, rnd):
    stats_ = sf.pathways.from_dict(model)
    ref = sf.parameterize(syn, stats_, by="synapse_class", seed=seed)
    # row order and chunking do not matter
    perm = list(range(len(syn)))
    rnd.shuffle(perm)
    cut = rnd.randint(0, len(syn))
    parts = [syn.iloc[perm[:cut]], syn.iloc[perm[cut:]]]
    got = pd.concat(
        [sf.parameterize(p, stats_, by="synapse_class", seed=seed) for p in parts if len(p)]
    )
    got = got.loc[ref.index]
    for p in ("g", "u"):
        assert np.array_equal(got[p].to_numpy(), ref[p].to_numpy(), equal_nan=True)
    # every pathway x property against its spec: support, bounds, dtype, frequencies, and one
    # value per connection wherever the spec says shared_within
    assert_parameterized(ref, stats_, by="synapse_class")
    # the same seed gives the same values
    again = sf.parameterize(syn, stats_, by="synapse_class", seed=seed)
    assert again[["g", "u"]].equals(ref[["g", "u"]])


def test_different_seeds_differ(syn, classed, notebook_stats):
    a = sf.parameterize(syn, notebook_stats, by="synapse_class", types=classed, seed=1)
    b = sf.parameterize(syn, notebook_stats, by="synapse_class", types=classed, seed=2)
    assert (a["conductance"] != b["conductance"]).mean() > 0.99
    c = sf.parameterize(syn, notebook_stats, by="synapse_class", types=classed)  # seed drawn ...
    seed = c.attrs["history"][-1]["seed"]
    d = sf.parameterize(
        syn, notebook_stats, by="synapse_class", types=classed, seed=seed
    )  # ... and recorded
    assert c["conductance"].equals(d["conductance"])


def test_missing_pathways_are_listed_with_counts(syn, classed):
    two = {p: {s: {t: v for t, v in by_t.items() if t != "inhibitory_neuron"} for s, by_t in by_s.items() if s != "inhibitory_neuron"}
           for p, by_s in seed_notebook_prop_stats().items()}  # fmt: skip
    small = ["excitatory_neuron", "extrinsic_neuron"]
    stats_ = sf.pathway_stats(two, small, small)
    n_inh = int((classed.reindex(syn.pre) == "inhibitory_neuron").sum())
    with pytest.raises(sf.PathwayError) as exc:
        sf.parameterize(syn, stats_, by="synapse_class", types=classed, seed=1)
    msg = str(exc.value)
    assert f"(inhibitory_neuron, excitatory_neuron): {n_inh} synapses" in msg
    assert "'*' wildcard" in msg


def test_unknown_types_and_missing_columns(syn, classed, notebook_stats):
    with pytest.raises(sf.PathwayError, match="pre_synapse_class"):
        sf.parameterize(syn, notebook_stats, by="synapse_class", seed=1)
    partial = classed.iloc[:10]
    with pytest.raises(sf.PathwayError, match="synapses have no source 'synapse_class'"):
        sf.parameterize(syn, notebook_stats, by="synapse_class", types=partial, seed=1)
    with pytest.raises(sf.SynframeError, match="floats"):
        sf.parameterize(syn, notebook_stats, by="synapse_class", types={float(ROOT): "x"}, seed=1)


def test_overwrite_and_properties(syn, classed, notebook_stats):
    once = sf.parameterize(
        syn, notebook_stats, by="synapse_class", types=classed, seed=1, properties=["conductance"]
    )
    assert "syn_type_id" not in once
    with pytest.raises(sf.PathwayError, match="overwrite=True"):
        sf.parameterize(once, notebook_stats, by="synapse_class", types=classed, seed=2)
    twice = sf.parameterize(
        once, notebook_stats, by="synapse_class", types=classed, seed=2, overwrite=True
    )
    assert not twice["conductance"].equals(once["conductance"])
    assert twice.attrs["history"][-1]["overwritten"] == ["conductance"]
    with pytest.raises(sf.PathwayError, match="not in the stats"):
        sf.parameterize(syn, notebook_stats, by="synapse_class", types=classed, properties=["nope"])
    with pytest.raises(sf.OptionError, match="seed"):
        sf.parameterize(syn, notebook_stats, by="synapse_class", types=classed, seed=-1)


def test_n_syn_per_conn_is_kept_but_not_drawn(syn, classed):
    ps = seed_notebook_prop_stats()
    ps["n_syn_per_conn"] = {
        s: {t: {"type": "ztpoisson", "mean": 3.0} for t in CLASSES} for s in CLASSES
    }
    out = sf.parameterize(
        syn, sf.pathway_stats(ps, CLASSES, CLASSES), by="synapse_class", types=classed, seed=1
    )
    assert "n_syn_per_conn" not in out


def test_correlated_properties_gaussian_copula():
    types = FITTED["src_types"]
    model = dict(FITTED)
    model["prop_cov"] = {
        "props": ["conductance", "u_syn"],
        "cov": {s: {t: [[1.0, 0.6], [0.6, 1.0]] for t in types} for s in types},
    }
    stats_ = sf.pathways.from_dict(model)
    n = 20_000
    rng = np.random.default_rng(0)
    syn = pd.DataFrame({"id": np.arange(n), "pre": np.arange(n) + 10, "post": np.full(n, 1)})
    for c in ("pre_x", "pre_y", "pre_z", "post_x", "post_y", "post_z"):
        syn[c] = rng.uniform(0, 1, n)
    out = sf.parameterize(
        syn,
        stats_,
        by="mtype",
        types={**{i: "L5_MC" for i in range(10, n + 10)}, 1: "L5_TPC:A"},
        seed=4,
    )
    # back to the normal scale through each marginal's CDF: correlation as specified
    g = stats.gamma(a=(0.8 / 0.3) ** 2, scale=0.3**2 / 0.8).cdf(out["conductance"])
    u = stats.truncnorm(-2.5, 2.5, loc=0.5, scale=0.2).cdf(out["u_syn"])
    r = np.corrcoef(special.ndtri(g), special.ndtri(u))[0, 1]
    assert abs(r - 0.6) < 5 * (1 - 0.6**2) / np.sqrt(n)
    # marginals unchanged
    assert abs(out["conductance"].mean() - 0.8) < 5 * 0.3 / np.sqrt(n)
    assert abs(out["u_syn"].mean() - 0.5) < 0.01
    assert_parameterized(
        out, stats_, by="mtype", types={**{i: "L5_MC" for i in range(10, n + 10)}, 1: "L5_TPC:A"}
    )


def test_neuronlist_parameterize_matches_table(syn, classed, notebook_stats, neuron):
    nl = sf.attach(syn, neuron)
    out = nl.syn.parameterize(notebook_stats, by="synapse_class", types=classed, seed=9)
    ref = sf.parameterize(syn, notebook_stats, by="synapse_class", types=classed, seed=9).set_index(
        "id"
    )
    con = out[0].connectors.set_index("connector_id")
    assert np.array_equal(
        con["conductance"].to_numpy(), ref.loc[con.index, "conductance"].to_numpy()
    )
    assert isinstance(out, navis.NeuronList) and "conductance" not in nl[0].connectors
