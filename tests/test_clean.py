"""``sf.clean`` on the real MICrONS example neuron."""

import logging

import navis
import numpy as np
import pandas as pd
import pytest

import synframe as sf
from conftest import ROOT, frame_hash, rescaled


def _inject(syn: pd.DataFrame, rng) -> tuple[pd.DataFrame, dict]:
    """The real table plus known bad rows: autapses, background, duplicates, low scores."""
    syn = syn.copy()
    syn["cleft_score"] = rng.integers(60, 200, len(syn))
    base = syn.sample(40, random_state=1)
    aut = base.iloc[:5].assign(post=lambda d: d.pre, id=lambda d: d.id + 10**12)
    bg = base.iloc[5:12].assign(pre=0, id=lambda d: d.id + 2 * 10**12)
    dup = base.iloc[12:20]  # same ids again
    low = base.iloc[20:31].assign(cleft_score=10, id=lambda d: d.id + 3 * 10**12)
    out = pd.concat([syn, aut, bg, dup, low], ignore_index=True)
    out.attrs = dict(syn.attrs)
    return out, {"autapses": 5, "background": 7, "duplicates": 8, "low_score": 11}


def test_injected_rows_are_removed_and_counted(syn, rng):
    dirty, expect = _inject(syn, rng)
    out = sf.clean(dirty, min_score=50)
    removed = out.attrs["history"][-1]["removed"]
    assert {k: removed[k] for k in expect} == expect
    assert removed["too_far"] == 0
    assert len(out) == len(syn)
    assert set(out["id"]) == set(syn["id"])
    assert out["id"].is_unique
    assert not (out.pre == out.post).any()
    assert not ((out.pre == 0) | (out.post == 0)).any()
    assert (out.cleft_score >= 50).all()


def test_rules_can_be_switched_off(syn, rng):
    dirty, expect = _inject(syn, rng)
    out = sf.clean(dirty, autapses=False, background=False, dedupe=False)
    assert len(out) == len(dirty)
    assert out.attrs["history"][-1]["removed"]["autapses"] == 0
    out = sf.clean(dirty, autapses=False)
    assert (out.pre == out.post).sum() == expect["autapses"]


def test_input_is_never_mutated(syn, rng):
    dirty, _ = _inject(syn, rng)
    before, attrs = frame_hash(dirty), repr(dirty.attrs)
    sf.clean(dirty, min_score=50, neurons=sf.datasets.example_neuron())
    assert frame_hash(dirty) == before
    assert repr(dirty.attrs) == attrs


def _moved(syn, neuron, n: int, shift_nm: float, rng) -> tuple[pd.DataFrame, np.ndarray]:
    """Move ``n`` input synapses of the example neuron about ``shift_nm`` away from its skeleton.

    Each is shifted ``shift_nm`` along the axis direction that takes it farthest from every node;
    only synapses that end up 0.75-1.25 x ``shift_nm`` from the skeleton (checked here with scipy,
    independently of synframe) are used.
    """
    from scipy.spatial import cKDTree

    tree = cKDTree(neuron.nodes[["x", "y", "z"]].to_numpy(dtype="float64"))
    rows = np.flatnonzero(syn.post == ROOT)
    xyz = syn[["post_x", "post_y", "post_z"]].to_numpy(dtype="float64")[rows]
    dirs = np.vstack([np.eye(3), -np.eye(3)])
    dist = np.stack([tree.query(xyz + shift_nm * d)[0] for d in dirs], axis=1)
    best = dist.argmax(axis=1)
    ok = np.flatnonzero((dist.max(axis=1) > 0.75 * shift_nm) & (dist.max(axis=1) < 1.25 * shift_nm))
    pick = rng.choice(ok, n, replace=False)
    syn = syn.copy()
    cols = ["post_x", "post_y", "post_z"]
    syn.loc[syn.index[rows[pick]], cols] = xyz[pick] + shift_nm * dirs[best[pick]]
    return syn, syn["id"].to_numpy()[rows[pick]]


def test_synapses_20um_away_dropped_at_10um_kept_at_30um(syn, neuron, rng):
    moved, ids = _moved(syn, neuron, 25, 20_000, rng)
    near = sf.clean(moved, neurons=neuron, max_distance="10 um")
    assert not near.id.isin(ids).any()
    assert near.attrs["history"][-1]["removed"]["too_far"] == len(ids)
    assert len(near) == len(syn) - len(ids)

    far = sf.clean(moved, neurons=neuron, max_distance="30 um")
    assert len(far) == len(syn)
    assert sf.clean(moved, neurons=neuron, max_distance=30_000).equals(far)


def test_presynapses_use_the_pre_position(syn, neuron, rng):
    syn = syn.copy()
    out_rows = np.flatnonzero(syn.pre == ROOT)[:10]
    syn.loc[syn.index[out_rows], "post_x"] += 50_000  # partner side: irrelevant for our neuron
    assert len(sf.clean(syn, neurons=neuron)) == len(syn)
    syn.loc[syn.index[out_rows], "pre_x"] += 50_000
    assert len(sf.clean(syn, neurons=neuron)) == len(syn) - 10


@pytest.mark.parametrize(
    ("nm_per_unit", "units"),
    [(1, "1 nm"), (8, "8 nm"), (8, "8 nanometer"), (1000, "1 um"), (1000, "1 micrometer")],
)
def test_same_result_in_any_units(syn, neuron, rng, nm_per_unit, units):
    moved, _ = _moved(syn, neuron, 25, 12_000, rng)
    ref = sf.clean(moved, neurons=neuron, max_distance="5 um")
    assert len(ref) < len(moved)
    got = sf.clean(moved, neurons=rescaled(neuron, nm_per_unit, units), max_distance="5 um")
    pd.testing.assert_frame_equal(got, ref)


def test_meshes_work_too():
    """navis' hemibrain example: a MeshNeuron (8 nm voxels) and its skeleton's real synapses."""
    sk = navis.example_neurons(1, kind="skeleton")
    mesh = navis.example_neurons(1, kind="mesh")
    assert sk.id == mesh.id
    con = sk.connectors
    xyz = con[["x", "y", "z"]].to_numpy(dtype="float64") * 8  # voxels -> nm
    is_pre = (con["type"] == "pre").to_numpy()
    table = pd.DataFrame(
        {
            "id": np.arange(len(con), dtype="int64"),
            "pre": np.where(is_pre, sk.id, 1).astype("int64"),
            "post": np.where(is_pre, 1, sk.id).astype("int64"),
        }
    )
    for i, a in enumerate("xyz"):
        table[f"pre_{a}"] = xyz[:, i]
        table[f"post_{a}"] = xyz[:, i]
    kept = sf.clean(table, neurons=mesh, max_distance="10 um")
    assert len(kept) == len(table)  # synapses of the same reconstruction lie on its mesh
    far = table.copy()
    far.loc[:9, ["pre_z", "post_z"]] += 40_000
    kept = sf.clean(far, neurons=mesh, max_distance="10 um")
    assert len(kept) == len(table) - 10 and not kept.id.isin(range(10)).any()


def test_counts_are_logged(syn, neuron, rng, caplog):
    moved, _ = _moved(syn, neuron, 3, 20_000, rng)
    with caplog.at_level(logging.INFO, logger="synframe"):
        sf.clean(moved, neurons=neuron)
    assert "2424 -> 2421 synapses (removed: 3 too far)" in caplog.text


# --- bad input ------------------------------------------------------------------------------------


def test_missing_columns_are_listed(syn):
    with pytest.raises(sf.SchemaError, match=r"missing column 'post_z'") as exc:
        sf.clean(syn.drop(columns=["post_z", "pre"]))
    assert "missing column 'pre'" in str(exc.value)


def test_float_ids_are_refused(syn):
    with pytest.raises(sf.SchemaError, match=r"column 'pre': expected int64, got float64"):
        sf.clean(syn.astype({"pre": "float64"}))


def test_nan_positions_are_refused(syn):
    bad = syn.copy()
    bad.loc[bad.index[[3, 7]], "post_y"] = np.nan
    with pytest.raises(sf.SchemaError, match=r"column 'post_y': check 'not_nullable' fails for 2"):
        sf.clean(bad)


@pytest.mark.parametrize("value", ["-1 um", -5, float("nan")])
def test_bad_thresholds_are_refused(syn, neuron, value):
    with pytest.raises(sf.UnitsError):
        sf.clean(syn, neurons=neuron, max_distance=value)


@pytest.mark.parametrize("value", ["10 parsecs of fog", "10 kg", "ten um"])
def test_unknown_or_non_length_units_are_refused(syn, neuron, value):
    with pytest.raises(sf.UnitsError, match="max_distance"):
        sf.clean(syn, neurons=neuron, max_distance=value)


def test_inf_positions_are_refused(syn):
    bad = syn.copy()
    bad.loc[bad.index[3], "pre_x"] = np.inf
    with pytest.raises(
        sf.SchemaError, match=r"column 'pre_x': check 'finite_position' fails for 1"
    ):
        sf.clean(bad)


def test_neurons_without_units_are_refused(syn, neuron):
    neuron.units = None
    with pytest.raises(sf.UnitsError, match="has no units"):
        sf.clean(syn, neurons=neuron)


@pytest.mark.parametrize("score", [-1, "50", float("inf")])
def test_bad_min_score_is_refused(syn, score):
    with pytest.raises(sf.SynframeError, match="min_score"):
        sf.clean(syn.assign(cleft_score=100), min_score=score)


def test_min_score_needs_a_score_column(syn):
    with pytest.raises(sf.SchemaError, match="cleft_score"):
        sf.clean(syn, min_score=50)


def test_not_navis_neurons_are_refused(syn):
    with pytest.raises(sf.SynframeError, match="expected navis neurons"):
        sf.clean(syn, neurons=[1, 2, 3])


def test_return_removed_hands_back_every_removed_row_with_its_reason(syn, rng, neuron):
    dirty, expect = _inject(syn, rng)
    moved, far_ids = _moved(dirty, neuron, 30, 40_000, rng)
    before = frame_hash(moved)
    kept, removed = sf.clean(moved, min_score=50, neurons=neuron, max_distance="10 um",
                             return_removed=True)  # fmt: skip
    assert frame_hash(moved) == before  # the input is untouched
    assert len(kept) + len(removed) == len(moved)  # nothing lost
    assert sorted([*kept.index, *removed.index]) == sorted(moved.index)
    counts = removed["reason"].value_counts().to_dict()
    assert {k: counts[k] for k in expect} == expect
    assert counts["too_far"] == kept.attrs["history"][-1]["removed"]["too_far"] >= 1
    assert set(removed.loc[removed.reason == "too_far", "id"]) <= set(far_ids)
    pd.testing.assert_frame_equal(removed.drop(columns="reason"), moved.loc[removed.index])
    # the same kept table as without return_removed
    pd.testing.assert_frame_equal(kept, sf.clean(moved, min_score=50, neurons=neuron))


@pytest.mark.parametrize("bad", ["yes", 1, None])
def test_return_removed_must_be_a_bool(syn, bad):
    with pytest.raises(sf.OptionError, match="return_removed"):
        sf.clean(syn, return_removed=bad)


@pytest.mark.parametrize("order", ["by_id", "shuffled", "descending"])
def test_duplicates_are_the_first_row_of_each_id_in_any_order(syn, rng, order):
    """Ids in ascending order (as fetched) take a path without hashing: same rows as pandas."""
    dirty = pd.concat([syn, syn.sample(300, random_state=3), syn.iloc[:5]], ignore_index=True)
    if order == "by_id":
        dirty = dirty.sort_values("id", kind="stable")
    elif order == "shuffled":
        dirty = dirty.sample(frac=1.0, random_state=4)
    else:
        dirty = dirty.sort_values("id", ascending=False, kind="stable")
    dirty["cleft_score"] = np.arange(len(dirty))  # tells apart the copies of a row
    out = sf.clean(dirty, dedupe=True)
    expect = dirty[~dirty["id"].duplicated(keep="first")]
    pd.testing.assert_frame_equal(out, expect)
    assert out.attrs["history"][-1]["removed"]["duplicates"] == 305
    kept = sf.clean(dirty, dedupe=False)
    assert len(kept) == len(dirty) and kept.attrs["history"][-1]["removed"]["duplicates"] == 0


def test_output_owns_its_memory(syn):
    out = sf.clean(syn)  # nothing removed: still a copy, never a view of the input
    for col in ("id", "pre", "pre_x"):
        assert not np.shares_memory(out[col].to_numpy(), syn[col].to_numpy())
    out.loc[out.index[0], "pre_x"] = -1.0
    assert syn["pre_x"].iloc[0] != -1.0
