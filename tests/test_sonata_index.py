"""SONATA edge indices written in chunks equal libsonata's ``write_indices``, byte for byte."""

from __future__ import annotations

from pathlib import Path

import h5py
import libsonata
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synframe.sonata import _index as index
from synframe.sonata._index import write_indices

DATASETS = [
    f"indices/{g}/{d}"
    for g in ("source_to_target", "target_to_source")
    for d in ("node_id_to_ranges", "range_to_edge_id")
]


def _edge_file(path, source, target):
    with h5py.File(path, "w") as h5:
        pop = h5.create_group("edges/pop")
        for name, ids in (("source_node_id", source), ("target_node_id", target)):
            pop.create_dataset(name, data=np.asarray(ids, dtype=np.uint64))
            pop[name].attrs["node_population"] = "nodes"
        pop.create_dataset("edge_type_id", data=np.full(len(source), -1, dtype=np.int64))
        pop.create_group("0")


def _indices(path):
    with h5py.File(path) as h5:
        pop = h5["edges/pop"]
        return {d: pop[d][()] for d in DATASETS}


def _both(tmp_path, source, target, n_source, n_target, **kwargs):
    ours, theirs = tmp_path / "ours.h5", tmp_path / "theirs.h5"
    for f in (ours, theirs):
        _edge_file(f, source, target)
    write_indices(ours, "pop", n_source, n_target, **kwargs)
    libsonata.EdgePopulation.write_indices(str(theirs), "pop", n_source, n_target)
    return _indices(ours), _indices(theirs)


def _assert_same(a, b):
    for d in DATASETS:
        assert a[d].dtype == b[d].dtype == np.uint64, d
        assert a[d].shape == b[d].shape, d
        np.testing.assert_array_equal(a[d], b[d], err_msg=d)


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    n_nodes=st.integers(0, 12),
    n=st.integers(0, 80),
    chunk=st.integers(1, 9),
    sort_source=st.booleans(),
)
def test_equals_libsonata(tmp_path_factory, data, n_nodes, n, chunk, sort_source):
    n = n if n_nodes else 0
    ids = st.lists(st.integers(0, max(0, n_nodes - 1)), min_size=n, max_size=n)
    source, target = np.array(data.draw(ids), int), np.array(data.draw(ids), int)
    if sort_source:  # as a store's copy sorted by pre gives them: long runs
        source = np.sort(source)
    tmp = tmp_path_factory.mktemp("idx")
    block = data.draw(st.integers(1, 5))  # nodes in several blocks
    with pytest.MonkeyPatch.context() as m:
        m.setattr(index, "BLOCK", block)
        ours, theirs = _both(tmp, source, target, n_nodes, n_nodes + (n_nodes > 0), chunk=chunk)
    _assert_same(ours, theirs)


def test_large_runs_across_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(index, "BLOCK", 37)  # several blocks
    rng = np.random.default_rng(1)
    source = np.sort(rng.integers(0, 300, 20_000))
    target = np.repeat(rng.integers(0, 500, 4_000), 5)  # runs of 5 straddling chunk ends
    ours, theirs = _both(tmp_path, source, target, 300, 500, chunk=997)
    _assert_same(ours, theirs)
    # and libsonata reads what we wrote
    _edge_file(tmp_path / "read.h5", source, target)
    write_indices(tmp_path / "read.h5", "pop", 300, 500, chunk=997)
    pop = libsonata.EdgeStorage(str(tmp_path / "read.h5")).open_population("pop")
    for node in (0, 17, 299):
        got = pop.efferent_edges([node]).flatten()
        np.testing.assert_array_equal(got, np.flatnonzero(source == node))
    for node in (3, 250, 499):
        got = pop.afferent_edges([node]).flatten()
        np.testing.assert_array_equal(got, np.flatnonzero(target == node))


def test_node_id_out_of_range(tmp_path):
    _edge_file(tmp_path / "e.h5", [0, 5], [0, 1])
    with pytest.raises(ValueError, match="node id 5"):
        write_indices(tmp_path / "e.h5", "pop", 3, 3)


def test_write_circuit_indices_are_libsonatas(tmp_path):
    import shutil

    import synframe as sf

    config = sf.write_circuit(sf.datasets.example_synapses(), tmp_path / "net")
    edges = config.parent / "edges.h5"
    theirs = tmp_path / "theirs.h5"
    shutil.copy(edges, theirs)
    with h5py.File(theirs, "r+") as h5:
        (name,) = h5["edges"]
        del h5["edges"][name]["indices"]
    with h5py.File(config.parent / "nodes.h5") as h5:
        (nodes,) = h5["nodes"]
        n_nodes = h5["nodes"][nodes]["node_type_id"].shape[0]
    libsonata.EdgePopulation.write_indices(str(theirs), name, n_nodes, n_nodes)
    with h5py.File(edges) as a, h5py.File(theirs) as b:
        for d in DATASETS:
            np.testing.assert_array_equal(a["edges"][name][d][()], b["edges"][name][d][()])


@pytest.mark.parametrize(("npartitions", "block"), [(1, 4096), (3, 1), (7, 5)])
def test_write_circuit_from_dask_fills_the_indices_in_pieces(tmp_path, npartitions, block):
    """From dask (with a neuron table) the indices' ranges are written by several fill tasks,
    each a range of blocks, straight into the edge file: the same bytes as libsonata's."""
    import dask
    import dask.dataframe as dd

    import synframe as sf
    from synframe.sonata import network

    syn = sf.datasets.example_synapses().sample(frac=1, random_state=2)  # runs broken up
    ids = np.union1d(syn["pre"], syn["post"])
    neurons = pd.DataFrame({"root_id": np.random.default_rng(3).permutation(ids)})
    ddf = dd.from_pandas(syn, npartitions=npartitions, sort=False)
    with pytest.MonkeyPatch.context() as m, dask.config.set(scheduler="threads"):
        m.setattr(index, "BLOCK", block)  # several blocks: several fill tasks
        lazy = sf.write_circuit(ddf, tmp_path / "net", neurons=neurons, compute=False)
        graph = dict(lazy.__dask_graph__())
        fills = [k for k in graph if "_fill_index" in str(k)]
        assert len(fills) == (2 * network.FILLS if block < 100 else 2)
        config = Path(lazy.compute().iloc[0])
    edges = config.parent / "edges.h5"
    theirs = tmp_path / "theirs.h5"
    with h5py.File(edges) as h5:
        (name,) = h5["edges"]
        source = h5["edges"][name]["source_node_id"][()]
        target = h5["edges"][name]["target_node_id"][()]
    _edge_file(theirs, source, target)
    libsonata.EdgePopulation.write_indices(str(theirs), "pop", len(ids), len(ids))
    with h5py.File(edges) as a, h5py.File(theirs) as b:
        for d in DATASETS:
            np.testing.assert_array_equal(a["edges"][name][d][()], b["edges/pop"][d][()], d)
    pop = libsonata.EdgeStorage(str(edges)).open_population(name)
    for node in (0, len(ids) // 2, len(ids) - 1):
        np.testing.assert_array_equal(
            pop.afferent_edges([node]).flatten(), np.flatnonzero(target == node)
        )
