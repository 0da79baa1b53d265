"""The embedded example data equals the published files it was built from."""

import numpy as np
import pandas as pd

import synframe as sf
from conftest import DATA, ROOT


def test_example_synapses_equal_the_raw_feather_in_nm(syn):
    raw = (
        pd.concat(
            [pd.read_feather(DATA / "pre_syn.feather"), pd.read_feather(DATA / "post_syn.feather")]
        )
        .set_index("id")
        .sort_index()
    )
    got = syn.set_index("id").sort_index()
    assert got.index.equals(raw.index)
    for side in ("pre", "post"):
        vox = np.stack(raw[f"{side}_pt_position"].to_numpy())
        np.testing.assert_array_equal(
            got[[f"{side}_{a}" for a in "xyz"]].to_numpy(), vox * [4, 4, 40]
        )
        assert (got[side].to_numpy() == raw[f"{side}_pt_root_id"].to_numpy()).all()
    assert (got["size"] == raw["size"]).all()


def test_example_neuron_is_a_tree_in_nm(neuron):
    assert neuron.id == ROOT
    assert str(neuron.units) == "1 nanometer"
    assert neuron.n_trees == 1 and neuron.n_nodes == 5830
    assert neuron.soma is not None
    # each input synapse lies within a few um of the skeleton (same reconstruction)
    from scipy.spatial import cKDTree

    syn = sf.datasets.example_synapses()
    d, _ = cKDTree(neuron.nodes[["x", "y", "z"]].to_numpy()).query(
        syn.loc[syn.post == ROOT, ["post_x", "post_y", "post_z"]].to_numpy()
    )
    assert d.max() < 3_000


def test_cell_types():
    ct = sf.datasets.example_cell_types()
    assert ct.root_id.is_unique and ct.root_id.dtype == "int64"
    assert set(ct.classification_system) == {"aibs_coarse_excitatory", "aibs_coarse_inhibitory"}
