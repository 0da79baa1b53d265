"""Reading SONATA edge populations as canonical synapse tables (µm -> nm, node root ids)."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd

from .._validation import run_schema, stage_schema
from ..errors import OptionError, SonataError
from ..schemas import SynapseTable
from ._circuit import UM, Circuit, check_chunk_size, chunk_ranges

__all__ = ["CENTERS", "iter_edges", "read_edges"]

#: SONATA's synapse position attributes (µm), per side
CENTERS = {
    "pre": ("efferent_center_x", "efferent_center_y", "efferent_center_z"),
    "post": ("afferent_center_x", "afferent_center_y", "afferent_center_z"),
}


def iter_edges(
    config_or_h5: str | os.PathLike,
    population: str | None = None,
    *,
    properties: Sequence[str] | None = None,
    node_properties: Sequence[str] = ("synapse_class", "mtype"),
    chunk_size: int = 1_000_000,
    positions: bool = True,
    edge_ranges: Sequence[tuple[int, int]] | None = None,
) -> Iterator[pd.DataFrame]:
    """[`read_edges`][synframe.sonata.read.read_edges] in chunks of ``chunk_size`` edges (for populations larger than memory).

    ``positions=False`` skips the position columns (for work that needs only ids and properties);
    ``edge_ranges``: read these ``(start, stop)`` edge ranges instead (one chunk each).
    """
    chunk_size = check_chunk_size(chunk_size)
    props_in = _names(properties, "properties")
    node_props = _names(node_properties, "node_properties") or []
    circuit = Circuit(config_or_h5)
    name = circuit.population(population)
    pop = circuit.edges(name)
    attrs = pop.attribute_names
    if props_in is None:
        props = sorted(attrs - {*CENTERS["pre"], *CENTERS["post"]})
    else:
        props = props_in
        unknown = [p for p in props if p not in attrs]
        if unknown:
            raise SonataError(
                f"edge population {name!r} has no attributes {unknown}; it has {sorted(attrs)}"
            )
    nodes = {"pre": circuit.nodes(pop.source), "post": circuit.nodes(pop.target)}
    node_cache: dict[tuple[str, str], np.ndarray | None] = {}

    def node_values(side: str, prop: str):
        key = (side, prop)
        if key not in node_cache:
            view = nodes[side]
            values = None if view is None or prop not in view.attribute_names else view.get(prop)
            if values is not None and prop == "root_id":
                values = _exact_ids(values, f"node population {view.name!r} root_id", view.path)
            node_cache[key] = values
        return node_cache[key]

    for start, stop in edge_ranges or chunk_ranges(pop.size, chunk_size):
        ends = {"pre": pop.source_nodes(start, stop), "post": pop.target_nodes(start, stop)}
        for side, dataset in (("pre", "source_node_id"), ("post", "target_node_id")):
            _check_node_ids(ends[side], nodes[side], name, dataset, start, pop.path)
        cols: dict[str, np.ndarray] = {}
        if "synapse_id" in attrs:  # written by write_synaptome: the original synapse id
            cols[SynapseTable.id] = _exact_ids(
                pop.get("synapse_id", start, stop),
                f"edge population {name!r} synapse_id",
                pop.path,
            )
        else:
            cols[SynapseTable.id] = np.arange(start, stop, dtype=np.int64)
        roots = {side: node_values(side, "root_id") for side in ("pre", "post")}
        for side, column in (("pre", SynapseTable.pre), ("post", SynapseTable.post)):
            root = roots[side]
            cols[column] = ends[side] if root is None else root[ends[side]]
        if positions:
            cols.update(_positions(pop, name, start, stop, attrs, ends, node_values))
        if roots["pre"] is not None or roots["post"] is not None:
            cols["pre_node_id"], cols["post_node_id"] = ends["pre"], ends["post"]
        for p in props:
            if p != "synapse_id":
                cols[p] = pop.get(p, start, stop)
        for side in ("pre", "post"):
            for p in node_props:
                v = node_values(side, p)
                if v is not None:
                    cols[f"{side}_{p}"] = v[ends[side]]
        df = pd.DataFrame(cols)
        df.attrs = {
            "units": "nm",
            "source": f"SONATA {circuit.path}",
            "population": name,
            "source_population": pop.source,
            "target_population": pop.target,
            "edges": int(pop.size),
            "history": [],
        }
        yield df


def _names(values, what: str) -> list[str] | None:
    """``properties=`` / ``node_properties=``: None, one name, or names (strings, each once)."""
    if values is None:
        return None
    names = [values] if isinstance(values, str) else values
    try:
        names = list(names)
    except TypeError:
        raise OptionError(f"{what} must be a name or a list of names, got {values!r}") from None
    bad = [v for v in names if not isinstance(v, str)]
    if bad:
        raise OptionError(f"{what}: {bad[:3]} are not names (str)")
    return list(dict.fromkeys(names))


def _exact_ids(values, what: str, path) -> np.ndarray:
    """Ids stored in a SONATA file as int64, refusing what is not exact (floats, >= 2**63)."""
    values = np.asarray(values)
    if values.dtype.kind == "i":
        if len(values) and values.min() < 0:
            raise SonataError(f"{path}: {what} holds negative values ({int(values.min())})")
        return values.astype(np.int64, copy=False)
    if values.dtype.kind == "u":
        if len(values) and values.max() >= 2**63:
            raise SonataError(
                f"{path}: {what} holds {int(values.max())}, which does not fit in int64 "
                "(ids must be < 2**63)"
            )
        return values.astype(np.int64)
    raise SonataError(
        f"{path}: {what} is stored as {values.dtype}, not as integers; 64-bit ids do not survive "
        "floats (or text) exactly -- rewrite the dataset as int64 from the original ids"
    )


def _check_node_ids(ids: np.ndarray, nodes, name: str, dataset: str, start: int, path) -> None:
    """Every node id of an edge must be a row of its node population."""
    if not len(ids):
        return
    bad = ids < 0 if nodes is None else (ids < 0) | (ids >= nodes.size)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        size = "" if nodes is None else f" (node population {nodes.name!r} has {nodes.size} nodes)"
        raise SonataError(
            f"{path}: edge population {name!r}: {int(bad.sum())} {dataset} values are not node "
            f"ids{size}, e.g. edge {start + k} has {dataset} {int(ids[k]) & (2**64 - 1)}; the file "
            "is corrupt or belongs to another node population"
        )


def _positions(pop, name, start, stop, attrs, ends, node_values) -> dict[str, np.ndarray]:
    """Synapse positions (nm), per row the first known of: this side's synapse centre, the other
    side's, this side's node position, the other side's node position."""
    out = {}
    for side, other in (("pre", "post"), ("post", "pre")):
        xyz = np.full((stop - start, 3), np.nan)
        for source in (side, other):
            if all(c in attrs for c in CENTERS[source]):
                gap = np.isnan(xyz).any(axis=1)
                for k, c in enumerate(CENTERS[source]):
                    v = np.asarray(pop.get(c, start, stop), dtype=np.float64)
                    xyz[gap, k] = v[gap]
        for source in (side, other):
            values = [node_values(source, a) for a in "xyz"]
            gap = np.isnan(xyz).any(axis=1)
            if gap.any() and all(v is not None for v in values):
                for k, v in enumerate(values):
                    xyz[gap, k] = np.asarray(v, dtype=np.float64)[ends[source][gap]]
        if np.isnan(xyz).any():
            raise SonataError(
                f"edge population {name!r}: {int(np.isnan(xyz).any(axis=1).sum())} edges have no "
                "synapse position (afferent/efferent_center_*) and their nodes no x/y/z; "
                "synframe tables need positions"
            )
        for k, a in enumerate("xyz"):
            out[f"{side}_{a}"] = xyz[:, k] * UM
    return out


def read_edges(
    config_or_h5: str | os.PathLike,
    population: str | None = None,
    *,
    properties: Sequence[str] | None = None,
    node_properties: Sequence[str] = ("synapse_class", "mtype"),
    as_dask: bool = False,
    partition_size: int = 2_000_000,
) -> pd.DataFrame:
    """One SONATA edge population as a canonical synapse table (nm).

    ``id`` is the edge id (or the ``synapse_id`` attribute that [`write_synaptome`][synframe.sonata.synaptome.write_synaptome] stores),
    ``pre``/``post`` the source/target node ids (or the nodes' ``root_id`` when they have one; node
    ids are then kept as ``pre_node_id``/``post_node_id``), positions come from
    ``efferent_center_*`` / ``afferent_center_*`` (µm → nm), then the chosen edge ``properties``
    (default: all) and ``node_properties`` as ``pre_<p>`` / ``post_<p>``. Population names are in
    ``attrs``.

    Circuits as the SONATA specification allows them (bmtk's among them) read too: configs that
    list no ``populations`` (they are read from the files), populations with several groups
    (each group's datasets on its rows; a property a group lacks is missing there: NaN,
    ``<NA>`` for integers, ``None`` for text) and node/edge types CSVs, whose per-type columns
    are merged per edge and per node (a row's own dataset wins). An edge with ``nsyns`` stands
    for that many synapses: it stays one row, with its ``nsyns`` column (repeat rows with
    ``df.loc[df.index.repeat(df.nsyns)]`` for one row per synapse).

    Positions, per edge: the side's synapse centre; else the other side's (a synapse has one
    place); else, for edges without synapse positions (point-neuron and bmtk circuits), the
    side's node position (its soma, ``x``/``y``/``z``), else the other side's node position.
    bmtk's ``pos_x/pos_y/pos_z`` are not SONATA attributes and come through as properties.

    ``as_dask=True`` gives a lazy dask DataFrame instead, one partition per ``partition_size``
    edges, each read by a worker (for populations larger than memory); computed, it equals the
    pandas table.

    Examples
    --------
    >>> import tempfile, synframe as sf
    >>> config = sf.write_synaptome(sf.datasets.example_synapses(), tempfile.mkdtemp() + "/s")
    >>> syn = sf.read_edges(config)
    >>> syn.attrs["population"], len(syn), syn["id"].is_unique
    ('synaptome_afferents', 2165, True)
    >>> lazy = sf.read_edges(config, as_dask=True, partition_size=1_000)
    >>> lazy.npartitions, lazy.compute().reset_index(drop=True).equals(syn)
    (3, True)
    """
    if as_dask:
        return _read_edges_dask(
            config_or_h5, population, properties, node_properties, partition_size
        )
    frames = list(
        iter_edges(
            config_or_h5,
            population,
            properties=properties,
            node_properties=node_properties,
            chunk_size=2**62,
        )
    )
    if not frames:  # an empty population
        circuit = Circuit(config_or_h5)
        raise SonataError(f"edge population {circuit.population(population)!r} is empty")
    df = frames[0]
    return run_schema(df, stage_schema("synapses", unique_ids=False), "SynapseTable (from SONATA)")


def _read_range(config, population, properties, node_properties, edges: tuple[int, int]):
    """One partition of [`read_edges`][synframe.sonata.read.read_edges] with ``as_dask``: the edges ``[start, stop)``."""
    chunk = next(
        iter_edges(
            config,
            population,
            properties=properties,
            node_properties=node_properties,
            edge_ranges=[edges],
        )
    )
    return chunk.set_axis(pd.RangeIndex(edges[0], edges[1]))


def _read_edges_dask(config, population, properties, node_properties, partition_size):
    import dask.dataframe as dd

    from ..errors import OptionError

    if (
        isinstance(partition_size, bool)
        or not isinstance(partition_size, int)
        or partition_size < 1
    ):
        raise OptionError(f"partition_size must be a positive int (edges), got {partition_size!r}")
    circuit = Circuit(config)
    name = circuit.population(population)
    size = int(circuit.edges(name).size)
    if size == 0:
        raise SonataError(f"edge population {name!r} is empty")
    ranges = list(chunk_ranges(size, partition_size))
    meta = _read_range(config, name, properties, node_properties, (0, min(1, size))).iloc[:0]
    read = functools.partial(_read_range, str(config), name, properties, node_properties)
    return dd.from_map(
        read,
        ranges,
        meta=meta,
        divisions=[r[0] for r in ranges] + [ranges[-1][1] - 1],
        enforce_metadata=False,
        label="synframe-edges",
    )
