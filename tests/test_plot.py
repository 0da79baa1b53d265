"""Figures: rendered headless (Agg), checked for panels, labels and the data they show."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import synframe as sf


def panels(fig):
    return [a for a in fig.axes if a.get_visible() and a.get_label() != "<colorbar>"]


def render(fig) -> np.ndarray:
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())


@pytest.fixture(scope="module")
def drawn():
    syn = sf.datasets.example_synapses()
    stats = sf.datasets.example_pathway_stats()
    classes = sf.datasets.example_synapse_classes()
    return sf.parameterize(syn, stats, by="synapse_class", types=classes, seed=1), stats, classes


def test_stats_heatmaps_one_panel_per_property_annotated():
    stats = sf.datasets.example_pathway_stats()
    fig = stats.syn.plot(param="mean")
    assert isinstance(fig, Figure) and render(fig).shape[2] == 4
    axes = panels(fig)
    assert [a.get_title() for a in axes] == ["conductance (mean)", "syn_type_id (mean)"]
    image = axes[0].get_images()[0].get_array()
    assert image.shape == (3, 3)
    row = [t.get_text() for t in axes[0].get_yticklabels()].index("inhibitory_neuron")
    np.testing.assert_allclose(image[row], 2.0, rtol=1e-3)  # the gamma's mean, from the model
    texts = {t.get_text() for t in axes[0].texts}
    assert {"1", "2"} <= texts
    std = panels(stats.syn.plot(param="std", properties=["conductance"]))[0]
    np.testing.assert_allclose(std.get_images()[0].get_array(), 0.5, rtol=1e-2)
    raw = panels(stats.syn.plot(param="mean", properties=["syn_type_id"]))[0]
    assert set(np.unique(raw.get_images()[0].get_array())) == {1.0, 100.0}


def test_stats_plot_into_a_given_axes_and_bad_options():
    stats = sf.datasets.example_pathway_stats()
    fig = Figure()
    ax = fig.subplots()
    assert stats.syn.plot(properties=["conductance"], ax=ax) is fig
    with pytest.raises(sf.OptionError, match="one panel"):
        stats.syn.plot(ax=ax)
    with pytest.raises(sf.OptionError, match="not in the stats"):
        stats.syn.plot(properties=["nope"])


def test_parameters_against_their_model(drawn):
    syn, stats, classes = drawn
    fig = syn.syn.plot_parameters(stats, by="synapse_class", types=classes)
    axes = panels(fig)
    pathways = (
        syn.assign(s=classes.reindex(syn.pre).to_numpy(), t=classes.reindex(syn.post).to_numpy())
        .groupby(["s", "t"])
        .size()
    )
    assert len(axes) == 2 * len(pathways)  # properties x pathways present
    render(fig)
    cond = [a for a in axes if a.get_xlabel() == "conductance"]
    big = max(cond, key=lambda a: int(a.get_legend().get_texts()[0].get_text().split("=")[1][:-1]))
    heights = [p.get_height() for p in big.patches]
    model = big.lines[0].get_ydata()
    assert abs(np.sum(heights) - np.sum(model)) / np.sum(model) < 0.15  # drawn ~ model
    ids = [a for a in axes if a.get_xlabel() == "syn_type_id"]
    assert all(a.get_ylabel() == "probability" for a in ids)  # integers: bars of probabilities


def test_connectivity_matrix_counts_synapses_and_connections(drawn):
    syn, _, classes = drawn
    fig = sf.plot_connectivity(syn, by="synapse_class", types=classes)
    (a,) = panels(fig)
    image = a.get_images()[0].get_array()
    assert np.nansum(image) == len(syn)
    assert a.get_xlabel() == "postsynaptic synapse_class"
    edges = sf.connectivity(syn)
    fig = sf.plot_connectivity(edges, by="synapse_class", types=classes)
    assert np.nansum(panels(fig)[0].get_images()[0].get_array()) == len(syn)  # weights summed
    fig = syn.syn.plot_connectivity(by="synapse_class", types=classes, weight="connections")
    assert np.nansum(panels(fig)[0].get_images()[0].get_array()) == len(edges)
    with pytest.raises(sf.OptionError, match="weight"):
        sf.plot_connectivity(syn, by="synapse_class", types=classes, weight="mass")


def test_history_bars():
    out = sf.clean(sf.datasets.example_synapses(), neurons=sf.datasets.example_neuron(),
                   max_distance="1 um")  # fmt: skip
    fig = out.syn.plot_history()
    (a,) = panels(fig)
    assert [t.get_text() for t in a.get_xticklabels()] == ["fetch", "clean"]
    heights = [p.get_height() for p in a.patches]
    assert 2424 in heights and 2019 in heights and 405 in heights
    with pytest.raises(sf.OptionError, match="no history"):
        sf.datasets.example_cell_types().syn.plot_history()


def test_synapses_on_the_neuron(drawn):
    syn, _, _ = drawn
    neuron = sf.datasets.example_neuron()
    fig = sf.plot.plot_synapses(neuron, syn, color_by="conductance")
    a = panels(fig)[0]
    render(fig)
    points = np.concatenate([c.get_offsets() for c in a.collections[1:]])
    assert len(points) == len(syn)
    nodes = neuron.nodes[["x", "y"]].to_numpy() / 1000
    assert nodes.min(0)[0] - 20 < points[:, 0].min() and points[:, 0].max() < nodes.max(0)[0] + 20
    with pytest.raises(sf.OptionError, match="color_by"):
        sf.plot.plot_synapses(neuron, syn, color_by="nope")
