"""``write_circuit``: SONATA network circuits read back by libsonata and bluepysnap."""

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import dask.dataframe as dd
import h5py
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import synframe as sf


@pytest.fixture(scope="module")
def parameterized():
    syn = sf.datasets.example_synapses()
    stats = sf.datasets.example_pathway_stats(shared_within=True)
    classes = sf.datasets.example_synapse_classes()
    out = sf.parameterize(syn, stats, by="synapse_class", types=classes, seed=1)
    return out.assign(neuropil=pd.Categorical(np.where(out.pre % 2 == 0, "V1", "RL")))


@pytest.fixture(scope="module")
def neurons():
    classes = sf.datasets.example_synapse_classes().rename_axis("root_id").reset_index()
    return classes.assign(layer=np.arange(len(classes)) % 6)


def datasets(config: Path) -> dict[str, np.ndarray]:
    out = {}
    for f in ("nodes.h5", "edges.h5"):
        with h5py.File(config.parent / f) as h5:
            h5.visititems(
                lambda name, obj, f=f: (
                    out.__setitem__(f"{f}:{name}", obj[()])
                    if isinstance(obj, h5py.Dataset)
                    else None
                )
            )
    return out


def test_round_trip_through_libsonata_and_bluepysnap(parameterized, neurons, tmp_path):
    import bluepysnap
    import libsonata

    config = sf.write_circuit(parameterized, tmp_path / "net", neurons=neurons)
    circuit = bluepysnap.Circuit(str(config))
    nodes = circuit.nodes["neurons"]
    assert nodes.size == len(neurons)
    got = nodes.get(properties=["root_id", "synapse_class", "layer"])
    assert got["root_id"].tolist() == neurons["root_id"].tolist()  # node ids in table order
    assert got["synapse_class"].tolist() == neurons["synapse_class"].tolist()
    edges = circuit.edges["neurons__neurons__chemical"]
    assert edges.size == len(parameterized)
    props = edges.get(edges.ids(), ["@source_node", "@target_node", "synapse_id", "conductance",
                                     "syn_type_id", "neuropil", "afferent_center_x"])  # fmt: skip
    root = neurons["root_id"].to_numpy()
    assert (root[props["@source_node"]] == parameterized["pre"].to_numpy()).all()
    assert (root[props["@target_node"]] == parameterized["post"].to_numpy()).all()
    assert (props["synapse_id"].to_numpy() == parameterized["id"].to_numpy()).all()
    # values written are the values drawn: float64 stays float64, int64 stays int64
    assert (props["conductance"].to_numpy() == parameterized["conductance"].to_numpy()).all()
    assert props["syn_type_id"].dtype == np.int64
    assert props["neuropil"].tolist() == parameterized["neuropil"].astype(str).tolist()
    np.testing.assert_allclose(
        props["afferent_center_x"], parameterized["post_x"] / 1000, rtol=1e-6
    )
    # libsonata's indices answer afferent queries
    storage = libsonata.EdgeStorage(str(config.parent / "edges.h5"))
    pop = storage.open_population("neurons__neurons__chemical")
    node = int(np.flatnonzero(root == sf.datasets.EXAMPLE_ROOT_ID)[0])
    assert len(pop.afferent_edges([node]).flatten()) == 2165


def test_read_edges_and_parameterize_circuit_work_on_it(parameterized, neurons, tmp_path):
    config = sf.write_circuit(parameterized.drop(columns=["conductance", "syn_type_id"]),
                              tmp_path / "net", neurons=neurons)  # fmt: skip
    back = sf.read_edges(config, node_properties=["synapse_class"])
    assert back["id"].tolist() == parameterized["id"].tolist()
    assert (back["pre"].to_numpy() == parameterized["pre"].to_numpy()).all()
    stats = sf.datasets.example_pathway_stats(shared_within=True)
    out = sf.parameterize_circuit(config, stats, by="synapse_class", seed=1, output=tmp_path / "p")
    drawn = sf.read_edges(out, properties=["conductance"])
    assert (drawn["conductance"] > 0).all() and len(drawn) == len(parameterized)


def test_dask_writes_the_same_circuit_as_pandas(parameterized, neurons, tmp_path):
    a = sf.write_circuit(parameterized, tmp_path / "a", neurons=neurons, chunk_size=700)
    b = sf.write_circuit(dd.from_pandas(parameterized, npartitions=6), tmp_path / "b",
                         neurons=neurons)  # fmt: skip
    da, db = datasets(a), datasets(b)
    assert da.keys() == db.keys() and len(da) > 20
    for name in da:
        assert da[name].dtype == db[name].dtype and np.array_equal(da[name], db[name]), name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]  # no part files left


def test_dask_circuit_computed_with_other_results(parameterized, neurons, tmp_path):
    import dask

    ddf = dd.from_pandas(parameterized, npartitions=4)
    lazy = sf.write_circuit(ddf, tmp_path / "net", neurons=neurons, compute=False)
    assert not (tmp_path / "net").exists()  # nothing happens before compute
    edges = sf.dask.connectivity(ddf)
    config, counted = dask.compute(lazy, edges.map_partitions(len).sum())
    assert counted == len(sf.connectivity(parameterized))
    assert len(sf.read_edges(config.iloc[0])) == len(parameterized)


def test_a_retried_final_task_replaces_what_a_killed_attempt_left(
    parameterized, neurons, tmp_path, monkeypatch
):
    """A dask worker killed by its nanny (memory limit) while stitching leaves its staging
    directory; the retried task must delete it, not add a second multi-GB copy beside it."""
    import types

    from synframe.sonata import network

    fixed = types.SimpleNamespace(uuid4=lambda: types.SimpleNamespace(hex="feedc0de" * 4))
    monkeypatch.setattr(network, "uuid", fixed)  # this module's names only (dask uses uuid4)
    left = tmp_path / ".net.staging-feedc0de"  # what the killed attempt of this write left
    left.mkdir()
    (left / "edges.h5").write_bytes(b"half a file")
    ddf = dd.from_pandas(parameterized, npartitions=3)
    config = sf.write_circuit(ddf, tmp_path / "net", neurons=neurons)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net"]
    assert len(sf.read_edges(config)) == len(parameterized)


def test_staged_dir_with_a_named_staging_replaces_a_leftover(tmp_path):
    from synframe._io import staged_dir

    leftover = tmp_path / ".out.staging-x"
    leftover.mkdir()
    (leftover / "junk").write_text("from a killed attempt")
    with staged_dir(tmp_path / "out", staging=leftover) as staging:
        assert staging == leftover and not any(staging.iterdir())
        (staging / "new").write_text("new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["new"]


def test_without_neurons_nodes_are_the_synapses_neurons(parameterized, tmp_path):
    import bluepysnap

    config = sf.write_circuit(parameterized, tmp_path / "net")
    nodes = bluepysnap.Circuit(str(config)).nodes["neurons"].get(properties=["root_id"])
    expect = np.union1d(parameterized.pre, parameterized.post)
    assert nodes["root_id"].tolist() == expect.tolist()


def test_bad_input_is_refused_before_writing(parameterized, neurons, tmp_path):
    out = tmp_path / "net"
    with pytest.raises(sf.SonataError, match="not in `neurons`"):
        sf.write_circuit(parameterized, out, neurons=neurons.iloc[5:])
    with pytest.raises(sf.SonataError, match="duplicate synapse ids"):
        sf.write_circuit(pd.concat([parameterized, parameterized.iloc[:3]]), out)
    with pytest.raises(sf.OptionError, match="node_population"):
        sf.write_circuit(parameterized, out, node_population="../x")
    with pytest.raises(sf.SonataError, match="missing values"):
        sf.write_circuit(parameterized.assign(conductance=np.nan), out)
    with pytest.raises(sf.OptionError, match="more than once"):
        sf.write_circuit(parameterized, out, neurons=pd.concat([neurons, neurons.iloc[:2]]))
    assert not out.exists() and not list(tmp_path.iterdir())  # nothing written, no leftovers


def test_overwrite_replaces_only_a_circuit_synframe_wrote(parameterized, tmp_path):
    other = tmp_path / "mine"
    other.mkdir()
    (other / "thesis.tex").write_text("years of work")
    with pytest.raises(sf.SonataError, match="exists"):
        sf.write_circuit(parameterized, other)
    with pytest.raises(sf.SonataError, match="not a circuit synframe wrote"):
        sf.write_circuit(parameterized, other, overwrite=True)
    assert (other / "thesis.tex").read_text() == "years of work"
    config = sf.write_circuit(parameterized, tmp_path / "net")
    again = sf.write_circuit(parameterized.iloc[:100], tmp_path / "net", overwrite=True)
    assert again == config and len(sf.read_edges(again)) == 100


def test_a_kill_during_write_leaves_no_circuit(parameterized, tmp_path):
    table = tmp_path / "syn.parquet"
    parameterized.to_parquet(table)
    script = textwrap.dedent(f"""
        import os, signal
        import pandas as pd
        import synframe as sf
        import synframe.sonata._network_files as network
        real = network.write_nodes
        def killer(*args, **kwargs):
            real(*args, **kwargs)
            os.kill(os.getpid(), signal.SIGKILL)  # after the nodes, before the edges
        network.write_nodes = killer
        sf.write_circuit(pd.read_parquet({str(table)!r}), {str(tmp_path / "net")!r})
    """)
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300)  # fmt: skip
    assert res.returncode == -signal.SIGKILL, res.stderr
    assert not (tmp_path / "net").exists()  # only the staging directory is left behind
    left = [p.name for p in tmp_path.iterdir() if p.name.startswith(".net.staging-")]
    assert left and os.listdir(tmp_path / left[0])
    config = sf.write_circuit(parameterized, tmp_path / "net")  # the next run just works
    assert json.loads(config.read_text())["synframe"]["written_by"] == "synframe.write_circuit"


def test_a_kill_while_the_indices_are_filled_from_dask_leaves_no_circuit(
    parameterized, neurons, tmp_path
):
    """The process dies after the first rows of an index went into the staging edge file: no
    circuit at ``path``; the next write removes what the killed one left and writes it whole."""
    table, classes = tmp_path / "syn.parquet", tmp_path / "neurons.parquet"
    parameterized.to_parquet(table)
    neurons.to_parquet(classes)
    script = textwrap.dedent(f"""
        import os, signal
        import dask.dataframe as dd
        import pandas as pd
        import synframe as sf
        real = os.pwrite
        def killer(*args):
            real(*args)
            os.kill(os.getpid(), signal.SIGKILL)  # one index block written, the rest not
        os.pwrite = killer
        ddf = dd.from_pandas(pd.read_parquet({str(table)!r}), npartitions=5)
        sf.write_circuit(ddf, {str(tmp_path / "net")!r},
                         neurons=pd.read_parquet({str(classes)!r}), progress=False)
    """)
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300)  # fmt: skip
    assert res.returncode == -signal.SIGKILL, res.stderr
    assert not (tmp_path / "net").exists()
    left = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".net."))
    assert left and any(".staging-" in name for name in left)
    ddf = dd.from_pandas(parameterized, npartitions=5)
    config = sf.write_circuit(ddf, tmp_path / "net", neurons=neurons, progress=False)
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".net.")]
    import bluepysnap  # the config with the write's write_id, read by its consumer

    assert json.loads(config.read_text())["synframe"]["write_id"]
    (edges,) = bluepysnap.Circuit(str(config)).edges.values()
    assert edges.size == len(parameterized)
    ref = sf.write_circuit(parameterized, tmp_path / "ref", neurons=neurons, progress=False)
    with h5py.File(config.parent / "edges.h5") as a, h5py.File(ref.parent / "edges.h5") as b:
        (pop,) = a["edges"]
        for g in ("source_to_target", "target_to_source"):
            for d in ("node_id_to_ranges", "range_to_edge_id"):
                key = f"indices/{g}/{d}"
                np.testing.assert_array_equal(a["edges"][pop][key][()], b["edges"][pop][key][()])


def test_bluepysnap_validator_accepts_the_node_population(parameterized, neurons, tmp_path):
    """SONATA requires model_type on nodes: the neurons of a network circuit are virtual (a
    model_type column of the neuron table is written as given)."""
    from bluepysnap.circuit_validation import validate_node_population

    config = sf.write_circuit(parameterized, tmp_path / "net", neurons=neurons)
    raw = json.loads(config.read_text())["networks"]["nodes"][0]
    name, pop = next(iter(raw["populations"].items()))
    assert validate_node_population(str(config.parent / "nodes.h5"), pop, name) == []
    with h5py.File(config.parent / "nodes.h5") as h5:
        assert set(h5[f"nodes/{name}/0/model_type"].asstr()[()]) == {"virtual"}
    given = neurons.assign(model_type="biophysical")
    config = sf.write_circuit(parameterized, tmp_path / "bio", neurons=given)
    with h5py.File(config.parent / "nodes.h5") as h5:
        assert set(h5[f"nodes/{name}/0/model_type"].asstr()[()]) == {"biophysical"}


def test_dask_error_in_the_chain_leaves_nothing(parameterized, neurons, tmp_path):
    import dask

    ddf = dd.from_pandas(parameterized, npartitions=4)
    with pytest.raises(sf.SonataError, match="not in `neurons`"):
        sf.write_circuit(ddf, tmp_path / "net", neurons=neurons.iloc[5:])
    lazy = sf.write_circuit(ddf, tmp_path / "lazy", neurons=neurons.iloc[5:], compute=False)
    with pytest.raises(sf.SonataError, match="not in `neurons`"):
        dask.compute(lazy, scheduler="synchronous")
    assert not list(tmp_path.iterdir())  # no circuit, no staging or part folders


@pytest.mark.parametrize("npartitions", [1, 3])
def test_empty_tables_give_an_empty_edge_population(parameterized, neurons, tmp_path, npartitions):
    import libsonata

    empty = parameterized.iloc[:0]
    for name, table in (
        ("pandas", empty),
        ("dask", dd.from_pandas(empty, npartitions=npartitions)),
    ):
        config = sf.write_circuit(table, tmp_path / name, neurons=neurons)
        edges = libsonata.EdgeStorage(str(config.parent / "edges.h5"))
        (pop,) = edges.population_names
        assert edges.open_population(pop).size == 0
        assert libsonata.NodeStorage(str(config.parent / "nodes.h5")).open_population(
            "neurons"
        ).size == len(neurons)


def _libsonata_indices(config: Path, n_nodes: int, tmp: Path) -> dict[str, np.ndarray]:
    """The indices libsonata writes for the circuit's edges (a copy without ours)."""
    import shutil

    import libsonata

    copy = tmp / "libsonata-edges.h5"
    shutil.copy(config.parent / "edges.h5", copy)
    with h5py.File(copy, "r+") as h5:
        (pop,) = h5["edges"]
        del h5["edges"][pop]["indices"]
    libsonata.EdgePopulation.write_indices(str(copy), pop, n_nodes, n_nodes)
    with h5py.File(copy) as h5:
        g = h5["edges"][pop]["indices"]
        return {f"{k}/{d}": g[k][d][()] for k in g for d in g[k]}


@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_dask_circuit_equals_pandas_for_any_partitioning(parameterized, neurons, data):
    """Parts of any size (empty ones too), runs of a neuron across part boundaries: the dask
    circuit is the pandas one, dataset by dataset, and its indices are libsonata's."""
    import itertools
    import tempfile

    import dask

    table = (
        parameterized.sort_values("post", kind="stable")
        if data.draw(st.booleans())
        else (parameterized)
    )
    cuts = sorted(data.draw(st.lists(st.integers(0, len(table)), max_size=6)))
    pieces = [table.iloc[a:b] for a, b in itertools.pairwise([0, *cuts, len(table)])]
    ddf = dd.from_map(lambda piece: piece, pieces, meta=table.iloc[:0], enforce_metadata=False)
    with_neurons = data.draw(st.booleans())
    kwargs = {"neurons": neurons} if with_neurons else {}
    with tempfile.TemporaryDirectory() as tmp, dask.config.set(scheduler="synchronous"):
        tmp = Path(tmp)
        a = sf.write_circuit(
            table, tmp / "a", chunk_size=data.draw(st.integers(300, 3000)), **kwargs
        )
        b = sf.write_circuit(ddf, tmp / "b", **kwargs)
        da, db = datasets(a), datasets(b)
        assert da.keys() == db.keys()
        for name in da:
            assert da[name].dtype == db[name].dtype and np.array_equal(da[name], db[name]), name
        n_nodes = len(da[next(k for k in da if k.endswith("node_type_id"))])
        theirs = _libsonata_indices(b, n_nodes, tmp)
        for name, values in theirs.items():
            assert np.array_equal(db[f"edges.h5:{next(iter(_pops(b)))}/indices/{name}"], values)
        assert sorted(p.name for p in tmp.iterdir()) == ["a", "b", "libsonata-edges.h5"]


def _pops(config: Path):
    with h5py.File(config.parent / "edges.h5") as h5:
        return [f"edges/{p}" for p in h5["edges"]]
