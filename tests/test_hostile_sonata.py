"""Hostile input to everything SONATA (#12): read_edges / iter_edges, SonataSource,
parameterize_circuit and write_synaptome.

Each case asserts the three promises: a SynframeError subclass whose message names the file /
population / property / option; the inputs (files, frames) unchanged; nothing lost.
Values written are checked with libsonata, the reader simulators use.
"""

import hashlib
import json
import os
import shutil
from pathlib import Path

import h5py
import libsonata
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import synframe as sf
from conftest import DATA, ROOT, frame_hash
from synframe.sonata import iter_edges

OBI = DATA / "sonata" / "obi_nbS1_O1_E2Sst_L5"
LOCAL = "S1nonbarrel_neurons__S1nonbarrel_neurons__chemical"
EXTERNAL = "external_S1nonbarrel_neurons__S1nonbarrel_neurons__chemical"
LOCAL_EDGES = OBI / LOCAL / "edges.h5"
NODES = OBI / "S1nonbarrel_neurons" / "nodes.h5"


def tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` (symbolic links as their target) and its sha256."""
    return {
        str(p.relative_to(root)): (
            f"-> {os.readlink(p)}" if p.is_symlink() else hashlib.sha256(p.read_bytes()).hexdigest()
        )
        for p in sorted(root.rglob("*"))
        if p.is_file() or p.is_symlink()
    }


@pytest.fixture
def circuit(tmp_path):
    dst = tmp_path / "circuit"
    shutil.copytree(OBI, dst)
    return dst / "circuit_config.json"


def model(prop="conductance", spec=None, classes=("EXC", "INH")):
    spec = spec or {"type": "normal", "mean": 1.0, "std": 0.1}
    return sf.pathway_stats(
        {prop: {s: {t: spec for t in classes} for s in classes}}, by="synapse_class"
    )


def edit(path: Path, dataset: str, values) -> None:
    """Replace ``dataset`` of an h5 file (any dtype) with ``values``."""
    with h5py.File(path, "r+") as h5:
        attrs = dict(h5[dataset].attrs)
        del h5[dataset]
        h5.create_dataset(dataset, data=values)
        for k, v in attrs.items():
            h5[dataset].attrs[k] = v


# --- files that are not what they claim ---------------------------------------------------------


BAD_FILES = {
    "empty.h5": (b"", "cannot be read as HDF5"),
    "garbage.h5": (b"hello" * 100, "cannot be read as HDF5"),
    "truncated.h5": (LOCAL_EDGES.read_bytes()[:50_000], "truncated"),
    "nodes_as_edges.h5": (NODES.read_bytes(), "it is a nodes file"),
    "empty.json": (b"", "invalid JSON"),
    "garbage.json": (b"{not json", "invalid JSON"),
    "list.json": (b"[1, 2]", "a JSON list"),
    "latin1.json": ('{"networks": "é"}'.encode("latin-1"), "not UTF-8"),
    "deep.json": (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),  # libsonata segfaults
    "deep_inside.json": (b'{"networks": {"x": ' + b"[" * 200 + b"]" * 200 + b"}}", "nested"),
    "no_networks.json": (b"{}", "networks"),
    "networks_list.json": (b'{"networks": [1]}', "networks"),
    "edges_not_list.json": (
        b'{"networks": {"nodes": [], "edges": {"edges_file": "x.h5"}}}',
        "edges_file",
    ),
    "edges_file_number.json": (
        b'{"networks": {"nodes": [], "edges": [{"edges_file": 5}]}}',
        "edges_file",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_unreadable_files_are_named(tmp_path, name):
    content, message = BAD_FILES[name]
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(sf.SonataError, match=message) as err:
        sf.read_edges(path)
    assert str(path.name) in str(err.value)
    assert path.read_bytes() == content  # never modified
    with pytest.raises(sf.SonataError):
        sf.sources.SonataSource(path)


def test_missing_and_directory_and_plain_h5(tmp_path):
    with pytest.raises(sf.SonataError, match="does not exist"):
        sf.read_edges(tmp_path / "nope.h5")
    with pytest.raises(sf.SonataError, match=r"is a directory; give its circuit_config\.json"):
        sf.read_edges(OBI)
    with h5py.File(tmp_path / "plain.h5", "w") as h5:
        h5["x"] = [1, 2]
    with pytest.raises(sf.SonataError, match=r"no /edges group"):
        sf.read_edges(tmp_path / "plain.h5")
    with pytest.raises(sf.OptionError, match="a circuit is a path"):
        sf.read_edges(42)


@pytest.mark.parametrize(
    "damage, message",
    [
        ("missing_edges", "does not exist"),
        ("nodes_as_edges", "it is a nodes file"),
        ("truncated_edges", "truncated"),
        ("missing_nodes", "node population 'S1nonbarrel_neurons'.*does not exist"),
        ("garbage_nodes", "node population 'S1nonbarrel_neurons'.*cannot be read as HDF5"),
        ("other_population", f"has no edge population '{LOCAL}'"),
        ("no_target_ids", r"lacks the dataset\(s\) \['target_node_id'\]"),
        ("short_target_ids", "source_node_id but"),
    ],
)
def test_broken_files_of_a_circuit(circuit, damage, message):
    edges = circuit.parent / LOCAL / "edges.h5"
    nodes = circuit.parent / "S1nonbarrel_neurons" / "nodes.h5"
    if damage == "missing_edges":
        edges.unlink()
    elif damage == "nodes_as_edges":
        shutil.copy(nodes, edges)
    elif damage == "truncated_edges":
        edges.write_bytes(edges.read_bytes()[:100_000])
    elif damage == "missing_nodes":
        nodes.unlink()
    elif damage == "garbage_nodes":
        nodes.write_bytes(b"junk")
    elif damage == "other_population":
        shutil.copy(circuit.parent / f"{EXTERNAL}.h5", edges)
    elif damage == "no_target_ids":
        with h5py.File(edges, "r+") as h5:
            del h5[f"edges/{LOCAL}/target_node_id"]
    elif damage == "short_target_ids":
        with h5py.File(edges, "r+") as h5:
            tgt = h5[f"edges/{LOCAL}/target_node_id"][:-1]
        edit(edges, f"edges/{LOCAL}/target_node_id", tgt)
    before = tree(circuit.parent)
    with pytest.raises(sf.SonataError, match=message):
        sf.read_edges(circuit, LOCAL)
    with pytest.raises(sf.SonataError, match=message):
        sf.parameterize_circuit(circuit, model(), by="synapse_class", inplace=True, overwrite=True)
    assert tree(circuit.parent) == before


@pytest.mark.parametrize(
    "dataset, value, message",
    [
        ("source_node_id", 10**6, r"1 source_node_id values are not node ids.*has 2 nodes"),
        ("target_node_id", 2**64 - 1, r"target_node_id values are not node ids"),
    ],
)
def test_out_of_range_node_ids(circuit, dataset, value, message):
    edges = circuit.parent / LOCAL / "edges.h5"
    with h5py.File(edges, "r+") as h5:
        ds = h5[f"edges/{LOCAL}/{dataset}"]
        values = ds[()]
        values[3] = value
        ds[...] = values
    before = tree(circuit.parent)
    with pytest.raises(sf.SonataError, match=message) as err:
        sf.read_edges(circuit, LOCAL)
    assert "edge 3" in str(err.value) and str(value) in str(err.value)
    with pytest.raises(sf.SonataError, match=message):
        list(iter_edges(circuit, LOCAL, chunk_size=2))
    assert tree(circuit.parent) == before


# --- 64-bit ids never through float64 ------------------------------------------------------------


def synaptome(tmp_path, syn=None, **kw) -> Path:
    syn = sf.datasets.example_synapses() if syn is None else syn
    return sf.write_synaptome(syn, tmp_path / "s", neurons=ROOT, **kw)


@pytest.mark.parametrize(
    "dtype, values, message",
    [
        ("float64", lambda v: v.astype(np.float64), "stored as float64"),
        (
            "uint64",
            lambda v: np.where(np.arange(len(v)) == 0, 2**63 + 5, v).astype(np.uint64),
            "9223372036854775813, which does not fit in int64",
        ),
        ("int64", lambda v: -v, "negative"),
        ("text", lambda v: v.astype(str).astype(object), "stored as object"),
    ],
)
@pytest.mark.parametrize("dataset", ["nodes/synaptome_afferent_neurons/0/root_id",
                                     "edges/synaptome_afferents/0/synapse_id"])  # fmt: skip
def test_ids_stored_inexactly_are_refused(tmp_path, dataset, dtype, values, message):
    config = synaptome(tmp_path)
    file = config.parent / ("nodes.h5" if dataset.startswith("nodes") else "edges.h5")
    with h5py.File(file, "r") as h5:
        ids = h5[dataset][()]
    new = values(ids)
    if new.dtype == object:
        with h5py.File(file, "r+") as h5:
            del h5[dataset]
            h5.create_dataset(dataset, data=new, dtype=h5py.string_dtype())
    else:
        edit(file, dataset, new)
    with pytest.raises(sf.SonataError, match=message) as err:
        sf.read_edges(config)
    assert dataset.split("/")[-1] in str(err.value)


def test_uint64_ids_below_2_63_read_exactly(tmp_path):
    config = synaptome(tmp_path)
    with h5py.File(config.parent / "nodes.h5", "r") as h5:
        roots = h5["nodes/synaptome_afferent_neurons/0/root_id"][()]
    big = roots.astype(np.uint64) + np.uint64(2**62)  # not representable in float64
    edit(config.parent / "nodes.h5", "nodes/synaptome_afferent_neurons/0/root_id", big)
    back = sf.read_edges(config)
    assert back["pre"].dtype == np.int64
    assert set(back["pre"].to_numpy()) == {int(v) for v in big}


# --- options of the readers -----------------------------------------------------------------------


@pytest.mark.parametrize("chunk_size", [0, -1, 1.5, True, "10", None])
def test_chunk_size_must_be_a_positive_int(circuit, chunk_size):
    with pytest.raises(sf.OptionError, match="chunk_size must be a positive int"):
        list(iter_edges(circuit, LOCAL, chunk_size=chunk_size))
    with pytest.raises(sf.OptionError, match="chunk_size"):
        sf.sources.SonataSource(circuit, LOCAL, chunk_size=chunk_size)
    before = tree(circuit.parent)
    with pytest.raises(sf.OptionError, match="chunk_size"):  # it used to report success
        sf.parameterize_circuit(
            circuit, model(), by="synapse_class", populations=[LOCAL], chunk_size=chunk_size,
            inplace=True, overwrite=True,
        )  # fmt: skip
    assert tree(circuit.parent) == before


def test_reader_options(circuit):
    with pytest.raises(sf.OptionError, match="population must be a name"):
        sf.read_edges(circuit, 5)
    with pytest.raises(sf.OptionError, match=r"properties: \[5\] are not names"):
        sf.read_edges(circuit, LOCAL, properties=[5])
    with pytest.raises(sf.OptionError, match="node_properties"):
        sf.read_edges(circuit, LOCAL, node_properties=7)
    one = sf.read_edges(circuit, LOCAL, properties="u_syn", node_properties="mtype")
    assert "u_syn" in one and "pre_mtype" in one  # a name, not its letters
    twice = sf.read_edges(circuit, LOCAL, properties=["u_syn", "u_syn"], node_properties=())
    assert list(twice.columns).count("u_syn") == 1


# --- parameterize_circuit: names, outputs, dtypes -------------------------------------------------


@pytest.mark.parametrize(
    "prop", ["../x", "a/b", "", " ", ".", "..", "x\x00y", "@library", "source_node_id",
             "edge_group_index"],
)  # fmt: skip
def test_property_names_that_would_break_the_circuit(circuit, prop):
    before = tree(circuit.parent)
    with pytest.raises(sf.PathwayError, match="nothing was written") as err:
        sf.parameterize_circuit(
            circuit, model(prop), by="synapse_class", inplace=True, overwrite=True
        )
    assert repr(prop) in str(err.value)
    assert tree(circuit.parent) == before
    assert len(sf.read_edges(circuit, LOCAL)) == 57  # still readable


def test_output_names_never_collide(tmp_path):
    """Two edges.h5 from different folders (outside the circuit) and a name the circuit's own
    layout would also produce: every population keeps its own file."""
    src = tmp_path / "c"
    shutil.copytree(OBI, src)
    cfg = json.loads((src / "circuit_config.json").read_text())
    for k, (pop, old) in enumerate([(LOCAL, f"{LOCAL}/edges.h5"), (EXTERNAL, f"{EXTERNAL}.h5")]):
        far = tmp_path / f"elsewhere{k}" / "x"
        far.mkdir(parents=True)
        shutil.move(src / old, far / "edges.h5")
        entry = next(e for e in cfg["networks"]["edges"] if pop in e["populations"])
        entry["edges_file"] = str(far / "edges.h5")
    (src / "circuit_config.json").write_text(json.dumps(cfg))
    before = tree(tmp_path)
    reference = {p: sf.read_edges(src / "circuit_config.json", p) for p in (LOCAL, EXTERNAL)}
    out = sf.parameterize_circuit(
        src / "circuit_config.json", model(), by="synapse_class", seed=2, overwrite=True,
        output=tmp_path / "out",
    )  # fmt: skip
    assert {k: v for k, v in tree(tmp_path).items() if not k.startswith("out")} == before
    files = sorted(p.name for p in (tmp_path / "out" / "edges").iterdir())
    assert len(files) == 2, files
    cfg_new = libsonata.CircuitConfig.from_file(str(out))
    for pop, ref in reference.items():
        assert cfg_new.edge_population(pop).size == len(ref)  # nothing lost
        back = sf.read_edges(out, pop)
        assert back["pre"].equals(ref["pre"]) and not back["conductance"].equals(ref["conductance"])


@pytest.mark.parametrize("how", ["file", "directory", "relative", "config", "circuit"])
def test_symlinked_inputs(tmp_path, how):
    """Whatever is a symbolic link, the new config points at the new files and the originals
    (link and target) are unchanged."""
    src = tmp_path / "c"
    shutil.copytree(OBI, src)
    config = src / "circuit_config.json"
    if how == "file":
        shutil.move(src / LOCAL / "edges.h5", tmp_path / "real.h5")
        os.symlink(tmp_path / "real.h5", src / LOCAL / "edges.h5")
    elif how == "directory":
        shutil.move(src / LOCAL, tmp_path / "realdir")
        os.symlink(tmp_path / "realdir", src / LOCAL)
    elif how == "relative":
        shutil.move(src / LOCAL / "edges.h5", src / "shared.h5")
        os.symlink("../shared.h5", src / LOCAL / "edges.h5")
    elif how == "config":
        (tmp_path / "cfg").mkdir()
        os.symlink(config, tmp_path / "cfg" / "circuit_config.json")
        config = tmp_path / "cfg" / "circuit_config.json"
    else:
        os.symlink(src, tmp_path / "link")
        config = tmp_path / "link" / "circuit_config.json"
    before = tree(tmp_path)
    old = sf.read_edges(config, LOCAL)["conductance"]
    out = sf.parameterize_circuit(
        config, model(), by="synapse_class", seed=1, overwrite=True, output=tmp_path / "out"
    )
    assert {k: v for k, v in tree(tmp_path).items() if not k.startswith("out/")} == before
    path = Path(libsonata.CircuitConfig.from_file(str(out)).edge_population_properties(LOCAL)
                .elements_path)  # fmt: skip
    assert path.resolve().is_relative_to((tmp_path / "out").resolve())
    assert not sf.read_edges(out, LOCAL)["conductance"].equals(old)


def test_inplace_through_a_symlink_keeps_the_link(tmp_path):
    src = tmp_path / "c"
    shutil.copytree(OBI, src)
    shutil.move(src / LOCAL / "edges.h5", tmp_path / "real.h5")
    os.symlink(tmp_path / "real.h5", src / LOCAL / "edges.h5")
    old = sf.read_edges(src / "circuit_config.json", LOCAL)["conductance"]
    sf.parameterize_circuit(
        src / "circuit_config.json", model(), by="synapse_class", seed=1, inplace=True,
        overwrite=True, populations=LOCAL,
    )  # fmt: skip
    assert (src / LOCAL / "edges.h5").is_symlink()
    assert not sf.read_edges(src / "circuit_config.json", LOCAL)["conductance"].equals(old)


@pytest.mark.parametrize(
    "prop, spec, message",
    [
        ("syn_type_id", {"type": "constant", "mean": 40000, "dtype": "int"},
         r"40000\.\.40000, outside the range of the dataset's dtype int16"),
        ("syn_type_id", {"type": "constant", "mean": -40000, "dtype": "int"}, "int16"),
        ("n_rrp_vesicles", {"type": "normal", "mean": 3.0, "std": 1.0}, "fractional values"),
        ("conductance", {"type": "constant", "mean": 1e300}, "float32 cannot hold"),
        ("new_prop", {"type": "constant", "mean": 1e300}, "float32 cannot hold"),
        ("new_int", {"type": "constant", "mean": 3_000_000_000, "dtype": "int"}, "int32"),
    ],
)  # fmt: skip
def test_values_written_are_the_values_drawn(circuit, prop, spec, message, tmp_path):
    before = tree(circuit.parent)
    for where in ({"inplace": True}, {"output": tmp_path / "out"}):
        with pytest.raises(sf.SonataError, match=message) as err:
            sf.parameterize_circuit(
                circuit, model(prop, spec), by="synapse_class", seed=1, overwrite=True,
                populations=[LOCAL], **where,
            )  # fmt: skip
        assert prop in str(err.value)
        assert tree(circuit.parent) == before and not (tmp_path / "out").exists()


def test_values_that_fit_are_written_exactly(circuit):
    spec = {"type": "constant", "mean": 32767, "dtype": "int"}  # int16's largest
    sf.parameterize_circuit(
        circuit, model("syn_type_id", spec), by="synapse_class", seed=1, overwrite=True,
        inplace=True, populations=[LOCAL],
    )  # fmt: skip
    pop = libsonata.EdgeStorage(str(circuit.parent / LOCAL / "edges.h5")).open_population(LOCAL)
    values = pop.get_attribute("syn_type_id", pop.select_all())
    assert values.dtype == np.int16 and (values == 32767).all()


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"overwrite": "yes", "inplace": True}, sf.OptionError, "overwrite must be True or False"),
        ({"inplace": 1}, sf.OptionError, "inplace must be True or False"),
        ({"inplace": True, "by": 5}, sf.OptionError, "by must be the name"),
        ({"inplace": True, "by": ""}, sf.OptionError, "by must be the name"),
        ({"output": 5}, sf.OptionError, "output must be a directory path"),
        ({"inplace": True, "populations": ["nope"]}, sf.SonataError, r"no edge populations \['nope'\]"),
        ({"inplace": True, "seed": -1}, sf.SynframeError, "seed"),
        ({}, sf.SonataError, "output=DIR"),
    ],
)  # fmt: skip
def test_parameterize_circuit_options(circuit, kwargs, error, message):
    before = tree(circuit.parent)
    kwargs = {"by": "synapse_class", **kwargs}
    with pytest.raises(error, match=message):
        sf.parameterize_circuit(circuit, model(), **kwargs)
    assert tree(circuit.parent) == before


def test_a_population_given_as_a_string(circuit, tmp_path):
    out = sf.parameterize_circuit(
        circuit, model(), by="synapse_class", seed=1, overwrite=True, output=tmp_path / "o",
        populations=LOCAL,
    )  # fmt: skip
    assert "conductance" in sf.read_edges(out, LOCAL)


def test_existing_output_is_never_replaced(circuit, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("keep")
    with pytest.raises(sf.SonataError, match="exists; choose a new output directory"):
        sf.parameterize_circuit(
            circuit, model(), by="synapse_class", overwrite=True, output=tmp_path / "out"
        )
    assert (tmp_path / "out" / "mine.txt").read_text() == "keep"


# --- write_synaptome: overwriting, names, dtypes --------------------------------------------------


def test_overwrite_replaces_only_a_synaptome_synframe_wrote(tmp_path):
    syn = sf.datasets.example_synapses()
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "thesis.tex").write_text("precious")
    with pytest.raises(sf.SonataError, match="not a synaptome written by synframe"):
        sf.write_synaptome(syn, folder, neurons=ROOT, overwrite=True)
    assert (folder / "thesis.tex").read_text() == "precious"
    # a file at the path: refused, no .old-* copies left beside it
    (tmp_path / "f").write_text("precious")
    with pytest.raises(sf.SonataError, match="is not a directory"):
        sf.write_synaptome(syn, tmp_path / "f", neurons=ROOT, overwrite=True)
    assert (tmp_path / "f").read_text() == "precious"
    # a synaptome synframe wrote is replaced ...
    shutil.rmtree(folder)
    config = sf.write_synaptome(syn, folder, neurons=ROOT)
    config = sf.write_synaptome(syn, folder, neurons=ROOT, overwrite=True)
    assert len(sf.read_edges(config)) == (syn.post == ROOT).sum()
    # ... unless someone put their own files in it
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(sf.SonataError, match=r"holds files synframe does not write \(notes.txt\)"):
        sf.write_synaptome(syn, folder, neurons=ROOT, overwrite=True)
    assert (folder / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f", "s"]  # no staging leftovers
    with pytest.raises(sf.SonataError, match="is a file, not a directory"):
        sf.write_synaptome(syn, tmp_path / "f" / "inside", neurons=ROOT)


@pytest.mark.parametrize(
    "names, message",
    [
        ({"edges": "a/b"}, "contains '/'"),
        ({"neurons": ""}, "is empty"),
        ({"neurons": 5}, "not a string"),
        ({"afferents": "@x"}, "starts with '@'"),
        ({"neurons": "x", "afferents": "x"}, "its own name"),
        ({"edges": "synaptome"}, "its own name"),
        ({"bogus": "x"}, "unknown keys"),
    ],
)
def test_population_names(tmp_path, names, message):
    with pytest.raises(sf.OptionError, match=message):
        synaptome(tmp_path, population_names=names)
    assert not (tmp_path / "s").exists()


def with_property(name, values):
    syn = sf.datasets.example_synapses()
    syn[name] = values if not callable(values) else values(len(syn))
    syn.attrs["properties"] = [name]
    return syn


@pytest.mark.parametrize(
    "name", ["a/b", "", "..", "x\x00", "@library", "synapse_id", "afferent_center_x",
             "source_node_id", "afferent_section_id"],
)  # fmt: skip
def test_property_names_of_a_synaptome(tmp_path, name):
    syn = with_property(name, 1.0)
    h = frame_hash(syn)
    with pytest.raises(sf.SonataError, match="cannot be SONATA edge attributes") as err:
        synaptome(tmp_path, syn)
    assert repr(name) in str(err.value) and frame_hash(syn) == h
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("column", ["post_a/b", "post_", "pre_@x", "pre_..", "post_x\x00"])
def test_annotation_names_of_a_synaptome(tmp_path, column):
    syn = sf.datasets.example_synapses().assign(**{column: 1})
    with pytest.raises(sf.SonataError, match="cannot be SONATA node attributes") as err:
        synaptome(tmp_path, syn)
    assert repr(column) in str(err.value)


@pytest.mark.parametrize(
    "values, message",
    [
        (pd.array([1, None] * 1212, dtype="Int64"), "missing values"),
        (lambda n: np.full(n, np.nan), "NaN/inf"),
        (lambda n: np.full(n, np.inf), "NaN/inf"),
        (lambda n: np.full(n, 1 + 2j), "cannot store"),
        (lambda n: np.array([object()] * n, dtype=object), "cannot store"),
        (lambda n: pd.date_range("2020", periods=n), "cannot store"),
    ],
)
def test_property_values_a_synaptome_cannot_hold(tmp_path, values, message):
    with pytest.raises(sf.SonataError, match=f"property 'p'.*{message}|{message}"):
        synaptome(tmp_path, with_property("p", values))
    assert not (tmp_path / "s").exists()


#: values a careless cast would change: int32/float32 narrowing, uint wrapping
EXACT = [
    np.array([3_000_000_000, -3_000_000_000], dtype=np.int64),
    np.array([1e300, -1e-300], dtype=np.float64),
    np.array([200, 255], dtype=np.uint8),
    np.array([2**63 - 1, 0], dtype=np.uint64),
    np.array([-5, 7], dtype=np.int8),
    np.array([0.1, 1 / 3], dtype=np.float64),
    np.array([1.5, 2.25], dtype=np.float16),
    np.array([True, False]),
    pd.array([7, 2**40], dtype="Int64"),
    pd.Categorical(["a", "b"]),
    np.array(["x", "é"], dtype=object),
]


@pytest.mark.parametrize("values", EXACT, ids=lambda v: str(v.dtype))
def test_synaptome_properties_are_written_exactly(tmp_path, values):
    """What libsonata reads back is, value for value, what the table held."""
    syn = sf.datasets.example_synapses()
    n = len(syn)
    column = pd.Series(values).take(np.arange(n) % 2).reset_index(drop=True)
    syn = with_property("p", column.to_numpy() if not isinstance(values, pd.Categorical) else
                        pd.Categorical(column))  # fmt: skip
    h = frame_hash(syn)
    config = synaptome(tmp_path, syn)
    assert frame_hash(syn) == h
    pop = libsonata.CircuitConfig.from_file(str(config)).edge_population("synaptome_afferents")
    got = np.asarray(pop.get_attribute("p", pop.select_all()))
    ids = np.asarray(pop.get_attribute("synapse_id", pop.select_all()))
    expected = syn.set_index("id").loc[ids, "p"]
    import bluepysnap  # the reader of circuit users: the same values

    snap = bluepysnap.Circuit(str(config)).edges["synaptome_afferents"]
    through_snap = snap.get(snap.ids(), properties=["p", "synapse_id"]).set_index("synapse_id")
    if got.dtype.kind in "OU":
        assert list(got) == [str(v) for v in expected]
        assert list(through_snap.loc[ids, "p"]) == list(got)
    else:
        assert np.array_equal(through_snap.loc[ids, "p"].to_numpy(), got)
        assert np.array_equal(got, expected.to_numpy(dtype=got.dtype))
        assert np.array_equal(
            got.astype(object), np.asarray(expected, dtype=object).astype(got.dtype).astype(object)
        )


@settings(max_examples=25)
@given(
    st.sampled_from(
        [
            "int8",
            "int16",
            "int32",
            "int64",
            "uint8",
            "uint16",
            "uint32",
            "uint64",
            "float32",
            "float64",
        ]
    ),
    st.data(),
)
def test_any_numeric_property_round_trips_through_libsonata(tmp_path_factory, dtype, data):
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        elements = st.floats(allow_nan=False, allow_infinity=False, width=dtype.itemsize * 8)
    else:
        info = np.iinfo(dtype)
        elements = st.integers(int(info.min), int(info.max))
    pair = data.draw(st.lists(elements, min_size=2, max_size=2))
    syn = with_property("p", lambda n: np.array(pair, dtype=dtype)[np.arange(n) % 2])
    config = synaptome(tmp_path_factory.mktemp("s"), syn)
    pop = libsonata.CircuitConfig.from_file(str(config)).edge_population("synaptome_afferents")
    got = np.asarray(pop.get_attribute("p", pop.select_all()))
    ids = np.asarray(pop.get_attribute("synapse_id", pop.select_all()))
    assert got.dtype == dtype
    assert np.array_equal(got, syn.set_index("id").loc[ids, "p"].to_numpy())


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"neurons": [-1]}, sf.IdError, "negative"),
        ({"neurons": [float(ROOT)]}, sf.IdError, "floats"),
        ({"neurons": ["²"]}, sf.IdError, "'²' is not an integer id"),
        ({"neurons": [True]}, sf.IdError, "boolean"),
        ({"neurons": ROOT, "overwrite": "yes"}, sf.OptionError, "overwrite must be True or False"),
        ({"neurons": ROOT, "radii": {"soma": -1}}, sf.OptionError, "radii"),
        ({"neurons": 123}, sf.SonataError, "no synapses onto the neurons"),
    ],
)
def test_write_synaptome_options(tmp_path, kwargs, error, message):
    syn = sf.datasets.example_synapses()
    h = frame_hash(syn)
    with pytest.raises(error, match=message):
        sf.write_synaptome(syn, tmp_path / "s", **kwargs)
    assert frame_hash(syn) == h and not (tmp_path / "s").exists()
    assert not list(tmp_path.iterdir())  # no staging leftovers


def test_write_synaptome_tables(tmp_path):
    syn = sf.datasets.example_synapses()
    with pytest.raises(sf.SchemaError, match=r"repeated column names \['pre'\]"):
        sf.write_synaptome(pd.concat([syn, syn[["pre"]]], axis=1), tmp_path / "a", neurons=ROOT)
    with pytest.raises(sf.SchemaError, match="missing column 'post_z'"):
        sf.write_synaptome(syn.drop(columns="post_z"), tmp_path / "b", neurons=ROOT)
    with pytest.raises(sf.SchemaError, match="expected int64, got float64"):
        sf.write_synaptome(syn.astype({"pre": "float64"}), tmp_path / "c", neurons=ROOT)
    with pytest.raises(sf.SonataError, match="duplicate synapse ids"):
        sf.write_synaptome(pd.concat([syn, syn.iloc[:1]]), tmp_path / "d", neurons=ROOT)
    with pytest.raises(sf.SonataError, match="nothing to write"):
        sf.write_synaptome(syn.iloc[:0], tmp_path / "e", neurons=ROOT)
    with pytest.raises(sf.OptionError, match="path must be the directory"):
        sf.write_synaptome(syn, "", neurons=ROOT)
    assert not list(tmp_path.iterdir())
    # column names that are not text are carried (or skipped), never a crash
    config = sf.write_synaptome(syn.assign(**{"7": 1}).rename(columns={"7": 7}), tmp_path / "f",
                                neurons=ROOT)  # fmt: skip
    assert len(sf.read_edges(config)) == (syn.post == ROOT).sum()


# --- SonataSource ---------------------------------------------------------------------------------


def test_sonata_source(tmp_path, circuit):
    with pytest.raises(sf.SonataError, match="4 edge populations"):
        sf.sources.SonataSource(circuit)
    with pytest.raises(sf.SonataError, match="no edge population 'nope'"):
        sf.sources.SonataSource(circuit, "nope")
    source = sf.sources.SonataSource(circuit, LOCAL)
    for kw, message in [({"min_score": 1.0}, "cleft scores"), ({"transmitters": True}, "transmitter"),
                        ({"materialization": 3}, "materialization"), ({"filtered": False}, "filtered")]:  # fmt: skip
        with pytest.raises(sf.SourceError, match=message):
            sf.fetch(1, source=source, progress=False, **kw)
    with pytest.raises(sf.IdError):
        sf.fetch([1.0], source=source, progress=False)
    got = sf.fetch([0, 1], source=source, progress=False)
    assert len(got) == len(sf.read_edges(circuit, LOCAL))  # node ids 0 and 1: every edge


@pytest.mark.parametrize("radius", ["abc", -1.0, 0.0, np.inf, np.nan, 1e300])
def test_unusable_skeleton_radii_are_estimated(tmp_path, radius):
    """MorphIO reads every radius as a positive finite number, whatever the nodes held."""
    import morphio

    neuron = sf.datasets.example_neuron()
    neuron.nodes["radius"] = radius
    h = frame_hash(neuron.nodes)
    config = sf.write_synaptome(sf.datasets.example_synapses(), tmp_path / "s", neurons=neuron)
    assert frame_hash(neuron.nodes) == h
    morph = morphio.Morphology(str(config.parent / "morphologies" / f"{ROOT}.swc"))
    diameters = np.concatenate([s.diameters for s in morph.iter()])
    assert np.isfinite(diameters).all() and (diameters > 0).all()
    assert np.isfinite(morph.soma.diameters).all()


# --- multi-group (bmtk) populations, configs listing a population twice, attrs ---------------------


@pytest.fixture
def bmtk(tmp_path):
    """The Allen layer-4 circuit (two edge groups), without its LGN entries."""
    allen = DATA / "sonata" / "allen_layer4"
    network = tmp_path / "network"
    shutil.copytree(allen, network)
    cfg = json.loads((allen / "circuit_config.json").read_text())
    cfg["manifest"]["$NETWORK_DIR"] = str(network)
    for kind in ("nodes", "edges"):
        cfg["networks"][kind] = [e for e in cfg["networks"][kind] if "lgn" not in json.dumps(e)]
    (tmp_path / "circuit_config.json").write_text(json.dumps(cfg))
    return tmp_path / "circuit_config.json", network


@pytest.mark.parametrize(
    "dataset, change, message",
    [
        ("edge_group_id", lambda v: np.where(np.arange(len(v)) == 5, 7, v), r"names groups \[7\]"),
        ("edge_group_index", lambda v: v + 10**6, "cannot read"),
    ],
)
def test_multi_group_layout_that_points_nowhere(bmtk, dataset, change, message):
    config, network = bmtk
    file = network / "l4_l4_edges.h5"
    with h5py.File(file, "r") as h5:
        values = h5[f"edges/l4_to_l4/{dataset}"][()]
    edit(file, f"edges/l4_to_l4/{dataset}", change(values).astype(values.dtype))
    before = tree(network)
    with pytest.raises(sf.SonataError, match=message) as err:
        sf.read_edges(config, "l4_to_l4")
    assert "l4_l4_edges.h5" in str(err.value) or "l4_to_l4" in str(err.value)
    assert tree(network) == before


def test_a_population_listed_twice(tmp_path):
    src = tmp_path / "c"
    shutil.copytree(OBI, src)
    cfg = json.loads((src / "circuit_config.json").read_text())
    twin = dict(cfg["networks"]["edges"][0])
    twin["edges_file"] = "$BASE_DIR/" + f"{EXTERNAL}.h5"
    cfg["networks"]["edges"].append(twin)
    (src / "circuit_config.json").write_text(json.dumps(cfg))
    with pytest.raises(sf.SonataError, match=f"{LOCAL}'? is (listed|declared) twice"):
        sf.read_edges(src / "circuit_config.json", LOCAL)


@pytest.mark.parametrize(
    "listed, ok", [("p", True), (["p", "p"], True), (["p", "nope"], False), ([], True)]
)
def test_properties_listed_in_attrs(tmp_path, listed, ok):
    syn = sf.datasets.example_synapses().assign(p=np.arange(2424, dtype=np.int64))
    syn.attrs["properties"] = listed
    if not ok:
        with pytest.raises(sf.SonataError, match=r"lists \['nope'\]"):
            synaptome(tmp_path, syn)
        return
    back = sf.read_edges(synaptome(tmp_path, syn))
    assert ("p" in back) == bool(listed)  # a name, not its letters
