"""Figures: pathway statistics, drawn parameters against their model, connectivity, history, neurons.

Every function returns a matplotlib ``Figure``, takes ``figsize=`` (and ``ax=`` where it draws one
panel), and works headless: figures are built with ``matplotlib.figure.Figure``, never pyplot, so
no display and no backend setting is needed (in a notebook they show as any figure does).

Aliases: ``stats.syn.plot(...)`` is [`plot_stats`][synframe.plot.plot_stats]; ``syn.syn.plot_parameters(...)``,
``syn.syn.plot_connectivity(...)``, ``syn.syn.plot_history()`` are [`plot_parameters`][synframe.plot.plot_parameters],
[`plot_connectivity`][synframe.plot.plot_connectivity], [`plot_history`][synframe.plot.plot_history].

One module, a little over 400 lines: the figures share their panel layout, colour scales and
labelling helpers, and users find every plot in one place (``sf.plot``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from . import _draw, distributions, pathways
from .errors import OptionError, PathwayError
from .pathways import WILDCARD, Cells, validate
from .schemas import SynapseTable

__all__ = [
    "model_moments",
    "plot_connectivity",
    "plot_history",
    "plot_parameters",
    "plot_stats",
    "plot_synapses",
]

#: quantile grid on which a model's moments and histograms are computed (deterministic)
_GRID = (np.arange(20_000) + 0.5) / 20_000


def _figure(figsize, ax, panels: int = 1, ncols: int | None = None):
    """(figure, axes) -- the given ``ax`` (one panel only) or a new figure with a grid."""
    if ax is not None:
        if panels != 1:
            raise OptionError(f"ax= draws one panel; this figure has {panels}: omit ax")
        return ax.figure, [ax]
    from matplotlib.figure import Figure

    ncols = ncols or min(panels, 3)
    nrows = -(-panels // ncols)
    size = figsize or (4.2 * ncols, 3.6 * nrows)
    fig = Figure(figsize=size, layout="constrained")
    return fig, [fig.add_subplot(nrows, ncols, i + 1) for i in range(panels)]


def model_moments(spec: Mapping) -> tuple[float, float]:
    """(mean, standard deviation) of a distribution spec, bounds and dtype applied.

    Computed on a fine deterministic quantile grid (20,000 points): exact to about 3 digits for any
    type, which is what a figure shows.

    Examples
    --------
    >>> from synframe.plot import model_moments
    >>> [round(x, 2) for x in model_moments({"type": "gamma", "mean": 2.0, "std": 0.5})]
    [2.0, 0.5]
    """
    values = distributions.sample(spec, _GRID).astype(np.float64)
    return float(values.mean()), float(values.std())


def _cell_values(stats: xr.DataArray, name: str) -> xr.DataArray:
    """``mean``/``std`` of each cell's distribution, or the raw parameter ``name``."""
    if name not in ("mean", "std"):
        return pathways.param(stats, name)
    k = 0 if name == "mean" else 1
    cells = Cells(stats)
    props = stats["property"].values.tolist()
    src = [s for s in stats["src"].values.tolist() if s != WILDCARD]
    tgt = [t for t in stats["tgt"].values.tolist() if t != WILDCARD]
    out = np.full((len(props), len(src), len(tgt)), np.nan)
    for i, p in enumerate(props):
        for j, s in enumerate(src):
            for m, t in enumerate(tgt):
                spec = cells(p, s, t)
                if spec is not None:
                    out[i, j, m] = model_moments(spec)[k]
    return xr.DataArray(
        out, dims=("property", "src", "tgt"), coords={"property": props, "src": src, "tgt": tgt}
    )


def plot_stats(
    stats: xr.DataArray,
    param: str = "mean",
    *,
    properties: Sequence[str] | None = None,
    ax=None,
    figsize: tuple[float, float] | None = None,
    annotate: bool = True,
    cmap: str = "viridis",
):
    """One heatmap panel per property over (src, tgt) pathways, each cell annotated.

    Parameters
    ----------
    stats
        Pathway statistics.
    param
        ``"mean"`` / ``"std"``: of each cell's distribution (bounds and dtype applied, whatever its
        type); any other name: that raw parameter (``"norm_loc"``, ``"shape"`` …).
    properties
        The properties to show (default: all).
    ax
        Draw into this axes (one property only).

    Examples
    --------
    >>> import synframe as sf
    >>> fig = sf.datasets.example_pathway_stats().syn.plot()
    >>> [a.get_title() for a in fig.axes if a.get_label() != "<colorbar>"]
    ['conductance (mean)', 'syn_type_id (mean)']
    """
    validate(stats)
    values = _cell_values(stats, param)
    props = values["property"].values.tolist() if properties is None else list(properties)
    unknown = [p for p in props if p not in values["property"].values]
    if unknown:
        raise OptionError(
            f"properties {unknown} are not in the stats ({values['property'].values.tolist()})"
        )
    fig, axes = _figure(figsize, ax, len(props))
    by = stats.attrs.get("by") or "type"
    for a, p in zip(axes, props, strict=True):
        grid = values.sel(property=p)
        data = grid.values.astype(np.float64)
        image = a.imshow(data, cmap=cmap, aspect="auto")
        a.set_xticks(
            range(data.shape[1]), [str(t) for t in grid["tgt"].values], rotation=45, ha="right"
        )
        a.set_yticks(range(data.shape[0]), [str(s) for s in grid["src"].values])
        a.set_xlabel(f"target {by}")
        a.set_ylabel(f"source {by}")
        a.set_title(f"{p} ({param})")
        fig.colorbar(image, ax=a, shrink=0.8)
        if annotate:
            finite = data[np.isfinite(data)]
            mid = (finite.min() + finite.max()) / 2 if len(finite) else 0.0
            for (r, c), v in np.ndenumerate(data):
                if np.isfinite(v):
                    a.text(c, r, f"{v:.3g}", ha="center", va="center", fontsize=8,
                           color="black" if v > mid else "white")  # fmt: skip
    return fig


def _pathway_rows(syn, stats, by, types):
    src, tgt = _draw.pathway_types(syn, by, types)
    plan = _draw.plan(syn, src, tgt)
    return plan


def plot_parameters(
    syn: pd.DataFrame,
    stats: xr.DataArray,
    *,
    by: str,
    types=None,
    properties: Sequence[str] | None = None,
    bins: int = 40,
    figsize: tuple[float, float] | None = None,
):
    """Per pathway and property: the drawn values' histogram against the model's density.

    The visual check that sampling is right. A property drawn per connection
    (``shared_within``) is shown with one value per connection, as it was drawn. The model's
    curve is the expected histogram (bin masses of the model, bounds and dtype applied): for
    integer and discrete properties, bars of the model's probabilities.

    Examples
    --------
    >>> import synframe as sf
    >>> syn = sf.datasets.example_synapses()
    >>> stats = sf.datasets.example_pathway_stats()
    >>> classes = sf.datasets.example_synapse_classes()
    >>> drawn = sf.parameterize(syn, stats, by="synapse_class", types=classes, seed=1)
    >>> fig = drawn.syn.plot_parameters(stats, by="synapse_class", types=classes,
    ...                                 properties=["conductance"])
    >>> len(fig.axes)  # one panel per pathway present
    5
    """
    validate(stats)
    props = _draw.select_properties(stats, properties)
    missing = [p for p in props if p not in syn.columns]
    if missing:
        raise PathwayError(f"the table has no columns {missing}: parameterize it first")
    plan = _pathway_rows(syn, stats, by, types)
    cells = Cells(stats)
    panels = [(p, k) for p in props for k in range(len(plan.pathways))]
    fig, axes = _figure(figsize, None, len(panels), ncols=min(len(plan.pathways), 4))
    for a, (p, k) in zip(axes, panels, strict=True):
        s, t = plan.pathways[k]
        spec = cells(p, s, t)
        values = syn[p].to_numpy()
        rows = plan.syn_rows[k]
        if distributions.shared_within(spec):  # one value per connection, as drawn
            _, first = np.unique(plan.conn[rows], return_index=True)
            rows = rows[first]
        drawn = values[rows].astype(np.float64)
        model = distributions.sample(spec, _GRID).astype(np.float64)
        discrete = spec["type"] in ("discrete", "poisson", "ztpoisson", "constant", "zero") or (
            np.issubdtype(values.dtype, np.integer)
        )
        if discrete:
            levels = np.union1d(np.unique(drawn), np.unique(model))
            got = np.array([(drawn == v).mean() for v in levels])
            want = np.array([(model == v).mean() for v in levels])
            width = 0.4 * (np.min(np.diff(levels)) if len(levels) > 1 else 1.0)
            a.bar(levels - width / 2, got, width=width, label=f"drawn (n={len(drawn)})")
            a.bar(levels + width / 2, want, width=width, label="model", alpha=0.7)
            a.set_ylabel("probability")
        else:
            lo, hi = np.nanmin([drawn.min(), model.min()]), np.nanmax([drawn.max(), model.max()])
            edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
            a.hist(drawn, bins=edges, density=True, alpha=0.6, label=f"drawn (n={len(drawn)})")
            mass, _ = np.histogram(model, bins=edges)
            centers = (edges[:-1] + edges[1:]) / 2
            a.plot(centers, mass / len(model) / np.diff(edges), color="black", label="model")
            a.set_ylabel("density")
        a.set_xlabel(p)
        a.set_title(f"{s} -> {t}", fontsize=9)
        a.legend(fontsize=7)
    return fig


def plot_connectivity(
    syn: pd.DataFrame,
    *,
    by: str,
    types=None,
    weight: str = "synapses",
    ax=None,
    figsize: tuple[float, float] | None = None,
    log: bool = True,
    cmap: str = "magma",
):
    """A type x type connectivity matrix, on a log colour scale.

    Parameters
    ----------
    syn
        A synapse table, or an edge table from [`synframe.connectivity`][synframe.connectivity.connectivity] (``pre, post,
        weight``).
    by
        The type of each neuron: read from ``pre_<by>`` / ``post_<by>`` columns, or from ``types``.
    types
        neuron id -> type (dict, Series or a neuron table with a ``by`` column).
    weight
        ``"synapses"`` (sum of synapses per pair of types) or ``"connections"`` (neuron pairs).

    Examples
    --------
    >>> import synframe as sf
    >>> syn = sf.datasets.example_synapses()
    >>> fig = sf.plot_connectivity(syn, by="synapse_class", types=sf.datasets.example_synapse_classes())
    >>> fig.axes[0].get_title()
    'synapses between synapse_class types'
    """
    if weight not in ("synapses", "connections"):
        raise OptionError(f"weight must be 'synapses' or 'connections', got {weight!r}")
    src, tgt = _draw.pathway_types(syn, by, types)
    counts = syn["weight"].to_numpy() if "weight" in syn.columns else np.ones(len(syn), np.int64)
    frame = pd.DataFrame(
        {
            "src": np.asarray(src[1], dtype=object)[src[0]],
            "tgt": np.asarray(tgt[1], dtype=object)[tgt[0]],
            "pre": syn[SynapseTable.pre].to_numpy(),
            "post": syn[SynapseTable.post].to_numpy(),
            "n": counts,
        }
    )
    if weight == "connections":
        frame = frame.drop_duplicates(["pre", "post"]).assign(n=1)
    matrix = frame.pivot_table(index="src", columns="tgt", values="n", aggfunc="sum", fill_value=0)
    fig, (a,) = _figure(figsize, ax)
    from matplotlib.colors import LogNorm

    data = matrix.to_numpy(dtype=np.float64)
    shown = np.where(data > 0, data, np.nan)
    norm = (
        LogNorm(vmin=max(np.nanmin(shown), 1), vmax=max(np.nanmax(shown), 1))
        if log and np.isfinite(shown).any()
        else None
    )
    image = a.imshow(shown, cmap=cmap, norm=norm, aspect="auto")
    a.set_xticks(range(data.shape[1]), [str(c) for c in matrix.columns], rotation=45, ha="right")
    a.set_yticks(range(data.shape[0]), [str(r) for r in matrix.index])
    a.set_xlabel(f"postsynaptic {by}")
    a.set_ylabel(f"presynaptic {by}")
    a.set_title(f"{weight} between {by} types")
    fig.colorbar(image, ax=a, label=weight)
    for (r, c), v in np.ndenumerate(data):
        a.text(c, r, f"{int(v):,}", ha="center", va="center", fontsize=8, color="grey",
               fontweight="bold")  # fmt: skip
    return fig


def plot_history(syn: pd.DataFrame, *, ax=None, figsize: tuple[float, float] | None = None):
    """What each stage kept and removed: one bar per stage, removals stacked per rule.

    Examples
    --------
    >>> import synframe as sf
    >>> out = sf.clean(sf.datasets.example_synapses(), neurons=sf.datasets.example_neuron(),
    ...                max_distance="1 um")
    >>> fig = out.syn.plot_history()
    >>> [t.get_text() for t in fig.axes[0].get_xticklabels()]
    ['fetch', 'clean']
    """
    from .reports import history

    table = history(syn)
    if table.empty:
        raise OptionError("the table has no history (attrs['history']): nothing to plot")
    fig, (a,) = _figure(figsize, ax)
    x = np.arange(len(table))
    kept = table["rows_out"].astype("float64").fillna(0).to_numpy()
    a.bar(x, kept, color="#4c72b0", label="kept")
    bottom = kept.copy()
    rules = ["duplicates", "autapses", "background", "low_score", "too_far"]
    for rule in rules:
        removed = table[rule].astype("float64").fillna(0).to_numpy()
        if removed.any():
            a.bar(x, removed, bottom=bottom, label=f"removed: {rule.replace('_', ' ')}")
            bottom += removed
    a.set_xticks(x, table["stage"].tolist())
    a.set_ylabel("synapses")
    a.set_title("rows through the stages")
    a.legend(fontsize=8)
    return fig


def plot_synapses(
    neuron,
    syn: pd.DataFrame,
    *,
    color_by: str | None = None,
    view: str = "xy",
    ax=None,
    figsize: tuple[float, float] | None = None,
    cmap: str = "viridis",
):
    """A navis skeleton (2-d projection) with its synapses, coloured by a parameter.

    Presynapses (outputs) are triangles, postsynapses (inputs) circles; positions are converted
    with the neuron's units, so the synapses sit on the skeleton.

    Examples
    --------
    >>> import synframe as sf
    >>> syn = sf.datasets.example_synapses()
    >>> fig = sf.plot.plot_synapses(sf.datasets.example_neuron(), syn.assign(g=syn.size))
    >>> fig.axes[0].get_xlabel()
    'x (µm)'
    """
    import navis
    from matplotlib.collections import LineCollection

    from ._neurons import neuron_ids
    from .units import neuron_scale_nm

    if not isinstance(neuron, navis.TreeNeuron):
        raise OptionError(f"plot_synapses draws a navis TreeNeuron, got {type(neuron).__name__}")
    axes_of = {"xy": (0, 1), "xz": (0, 2), "yz": (1, 2)}
    if view not in axes_of:
        raise OptionError(f"view must be one of {list(axes_of)}, got {view!r}")
    if color_by is not None and color_by not in syn.columns:
        raise OptionError(f"color_by={color_by!r} is not a column of the synapse table")
    i, j = axes_of[view]
    um = neuron_scale_nm(neuron) / 1000.0
    nodes = neuron.nodes
    xyz = nodes[["x", "y", "z"]].to_numpy(dtype=np.float64) * um
    index = pd.Index(nodes["node_id"].to_numpy())
    parent = index.get_indexer(nodes["parent_id"].to_numpy())
    has = parent >= 0
    segments = np.stack([xyz[has][:, [i, j]], xyz[parent[has]][:, [i, j]]], axis=1)
    fig, (a,) = _figure(figsize or (6, 6), ax)
    a.add_collection(LineCollection(segments, colors="0.6", linewidths=0.6))
    nid = neuron_ids([neuron])[0]
    image = None
    for side, marker in (("pre", "^"), ("post", "o")):
        mine = syn[syn[side].to_numpy() == nid]
        pos = mine[[f"{side}_x", f"{side}_y", f"{side}_z"]].to_numpy(dtype=np.float64) / 1000.0
        colors = mine[color_by].to_numpy() if color_by else None
        image = a.scatter(pos[:, i], pos[:, j], c=colors, cmap=cmap if color_by else None,
                          marker=marker, s=8, label=f"{side}synapses ({len(mine)})")  # fmt: skip
    if color_by and image is not None:
        fig.colorbar(image, ax=a, label=color_by)
    a.autoscale()
    a.set_aspect("equal")
    if j == 1:  # EM y points down into the tissue (as navis draws it: pia up)
        a.invert_yaxis()
    a.set_xlabel(f"{'xyz'[i]} (µm)")
    a.set_ylabel(f"{'xyz'[j]} (µm)")
    a.set_title(f"{getattr(neuron, 'name', None) or neuron.id}")
    a.legend(fontsize=8, loc="best")
    return fig
