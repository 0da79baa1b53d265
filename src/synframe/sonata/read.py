"""Reading SONATA edge populations as canonical synapse tables (µm -> nm, node root ids)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd

from .._validation import run_schema, stage_schema
from ..errors import SonataError
from ..schemas import SynapseTable
from ._circuit import UM, Circuit, chunk_ranges

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
) -> Iterator[pd.DataFrame]:
    """:func:`read_edges` in chunks of ``chunk_size`` edges (for populations larger than memory).

    ``positions=False`` skips the position columns (for work that needs only ids and properties).
    """
    import libsonata

    circuit = Circuit(config_or_h5)
    name = circuit.population(population)
    pop = circuit.edges(name)
    attrs = set(pop.attribute_names)
    if properties is None:
        props = sorted(attrs - {*CENTERS["pre"], *CENTERS["post"]})
    else:
        props = [properties] if isinstance(properties, str) else list(properties)
        unknown = [p for p in props if p not in attrs]
        if unknown:
            raise SonataError(
                f"edge population {name!r} has no attributes {unknown}; it has {sorted(attrs)}"
            )
    src_nodes, tgt_nodes = circuit.nodes(pop.source), circuit.nodes(pop.target)
    node_cache: dict[tuple[str, str], np.ndarray | None] = {}

    def node_values(side_nodes, side: str, prop: str):
        key = (side, prop)
        if key not in node_cache:
            node_cache[key] = (
                None
                if side_nodes is None or prop not in side_nodes.attribute_names
                else np.asarray(side_nodes.get_attribute(prop, side_nodes.select_all()))
            )
        return node_cache[key]

    for start, stop in chunk_ranges(pop.size, chunk_size):
        sel = libsonata.Selection([(start, stop)])
        pre_nodes = np.asarray(pop.source_nodes(sel), dtype=np.int64)
        post_nodes = np.asarray(pop.target_nodes(sel), dtype=np.int64)
        edge_ids = np.arange(start, stop, dtype=np.int64)
        cols: dict[str, np.ndarray] = {}
        if "synapse_id" in attrs:  # written by write_synaptome: the original synapse id
            cols[SynapseTable.id] = np.asarray(pop.get_attribute("synapse_id", sel), dtype=np.int64)
        else:
            cols[SynapseTable.id] = edge_ids
        pre_root = node_values(src_nodes, "pre", "root_id")
        post_root = node_values(tgt_nodes, "post", "root_id")
        cols[SynapseTable.pre] = (
            pre_root[pre_nodes].astype(np.int64) if pre_root is not None else pre_nodes
        )
        cols[SynapseTable.post] = (
            post_root[post_nodes].astype(np.int64) if post_root is not None else post_nodes
        )
        for side, nodes_, ids in (("pre", src_nodes, pre_nodes), ("post", tgt_nodes, post_nodes)):
            if not positions:
                break
            names = [f"{side}_{a}" for a in "xyz"]
            if all(c in attrs for c in CENTERS[side]):
                for c, src in zip(names, CENTERS[side], strict=True):
                    cols[c] = np.asarray(pop.get_attribute(src, sel), dtype=np.float64) * UM
            else:
                other = "post" if side == "pre" else "pre"
                if all(c in attrs for c in CENTERS[other]):  # one side only: use it for both
                    for c, src in zip(names, CENTERS[other], strict=True):
                        cols[c] = np.asarray(pop.get_attribute(src, sel), dtype=np.float64) * UM
                else:  # no synapse positions: the node (soma) positions
                    for c, a in zip(names, "xyz", strict=True):
                        v = node_values(nodes_, side, a)
                        if v is None:
                            raise SonataError(
                                f"edge population {name!r} has no synapse positions and its {side} nodes "
                                "no x/y/z; synframe tables need positions"
                            )
                        cols[c] = np.asarray(v, dtype=np.float64)[ids] * UM
        if pre_root is not None or post_root is not None:
            cols["pre_node_id"], cols["post_node_id"] = pre_nodes, post_nodes
        for p in props:
            if p == "synapse_id":
                continue
            cols[p] = np.asarray(pop.get_attribute(p, sel))
        for side, nodes_, ids in (("pre", src_nodes, pre_nodes), ("post", tgt_nodes, post_nodes)):
            for p in node_properties:
                v = node_values(nodes_, side, p)
                if v is not None:
                    cols[f"{side}_{p}"] = v[ids]
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


def read_edges(
    config_or_h5: str | os.PathLike,
    population: str | None = None,
    *,
    properties: Sequence[str] | None = None,
    node_properties: Sequence[str] = ("synapse_class", "mtype"),
) -> pd.DataFrame:
    """One SONATA edge population as a canonical synapse table (nm).

    ``id`` is the edge id (or the ``synapse_id`` attribute that :func:`write_synaptome` stores),
    ``pre``/``post`` the source/target node ids (or the nodes' ``root_id`` when they have one; node
    ids are then kept as ``pre_node_id``/``post_node_id``), positions come from
    ``efferent_center_*`` / ``afferent_center_*`` (µm → nm; the node positions when a population has
    none), then the chosen edge ``properties`` (default: all) and ``node_properties`` as
    ``pre_<p>`` / ``post_<p>``. Population names are in ``attrs``.

    Examples
    --------
    >>> import tempfile, synframe as sf
    >>> config = sf.write_synaptome(sf.datasets.example_synapses(), tempfile.mkdtemp() + "/s")
    >>> syn = sf.read_edges(config)
    >>> syn.attrs["population"], len(syn), syn["id"].is_unique
    ('synaptome_afferents', 2165, True)
    """
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
