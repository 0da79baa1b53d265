"""Synaptomes checked by the programs that read them: MorphIO, bluepysnap, libsonata.

A synapse mapped through (afferent_section_id, afferent_section_pos) along MorphIO's section
polyline, placed by bluepysnap (node x/y/z), must land where the synapse is.
"""

import json
from pathlib import Path

import bluepysnap
import libsonata
import morphio
import navis
import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import synframe as sf
from conftest import ROOT, frame_hash, rescaled
from synframe.cli import main
from synframe.sonata.morphology import DEFAULT_RADII_UM, build_morphology, locate, write_swc

EDGES = "synaptome_afferents"


def morphio_warnings(path) -> list:
    """Warnings MorphIO emits while reading ``path`` (it must read it at all)."""
    collector = morphio.WarningHandlerCollector()
    morphio.Morphology(str(path), warning_handler=collector)
    return [str(w.warning) for w in collector.get_all()]


def polyline_point(morph, section_id: int, pos: float) -> np.ndarray:
    """The point at fraction ``pos`` of MorphIO section ``section_id - 1`` (0: the soma centre)."""
    if section_id == 0:
        return np.asarray(morph.soma.center, dtype=np.float64)
    pts = morph.section(section_id - 1).points.astype(np.float64)
    along = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))]
    return np.array([np.interp(pos * along[-1], along, pts[:, k]) for k in range(3)])


def segment_point(morph, section_id: int, segment: int, offset: float) -> np.ndarray:
    if section_id == 0:
        return np.asarray(morph.soma.center, dtype=np.float64)
    pts = morph.section(section_id - 1).points.astype(np.float64)
    if len(pts) == 1:  # a one-point section has no segment: segment 0, offset 0 is its point
        return pts[0]
    a, b = pts[segment], pts[segment + 1]
    step = np.linalg.norm(b - a)
    return a + (b - a) * (offset / step if step > 0 else 0.0)


def edge_attributes(config: Path, names) -> dict[str, np.ndarray]:
    pop = libsonata.CircuitConfig.from_file(str(config)).edge_population(EDGES)
    sel = pop.select_all()
    return {n: np.asarray(pop.get_attribute(n, sel)) for n in names}


@pytest.fixture(scope="module")
def synaptome(tmp_path_factory):
    """The example neuron's synaptome, written with its level-2 skeleton."""
    out = tmp_path_factory.mktemp("synaptome") / "s"
    syn = sf.datasets.example_synapses()
    return sf.write_synaptome(syn, out, neurons=sf.datasets.example_neuron())


# --- MorphIO ------------------------------------------------------------------------------------------


def test_morphio_reads_the_morphology_without_warnings(synaptome):
    swc = synaptome.parent / "morphologies" / f"{ROOT}.swc"
    assert morphio_warnings(swc) == []
    m = morphio.Morphology(str(swc))
    assert m.soma.type == morphio.SomaType.SOMA_SINGLE_POINT
    assert m.soma.diameters[0] == pytest.approx(2 * DEFAULT_RADII_UM["soma"])
    assert np.allclose(m.soma.center, 0)  # relative to the soma; node x/y/z places it
    assert (m.diameters > 0).all()
    types = {int(t) for t in m.section_types}
    assert types == {int(morphio.SectionType.axon), int(morphio.SectionType.basal_dendrite)}
    # the axon is where the neuron's 259 presynapses are: most of them lie nearest an axon section
    syn = sf.datasets.example_synapses()
    morph = build_morphology(sf.datasets.example_neuron())
    outs = syn.loc[syn.pre == ROOT, ["pre_x", "pre_y", "pre_z"]].to_numpy() / 1000
    on_axon = [
        m.section(s - 1).type == morphio.SectionType.axon
        for s in locate(morph, outs)["section_id"]
        if s > 0
    ]
    assert np.mean(on_axon) > 0.9


def landing_distances(config: Path) -> np.ndarray:
    """Distance (µm) from each synapse to where its section id / position puts it."""
    names = ["afferent_section_id", "afferent_section_pos"] + [
        f"afferent_center_{a}" for a in "xyz"
    ]
    attrs = edge_attributes(config, names)
    morph = bluepysnap.Circuit(str(config)).nodes["synaptome"].morph.get(0, transform=True)
    synapse = np.c_[
        attrs["afferent_center_x"], attrs["afferent_center_y"], attrs["afferent_center_z"]
    ]
    landed = [
        polyline_point(morph, s, p)
        for s, p in zip(attrs["afferent_section_id"], attrs["afferent_section_pos"], strict=True)
    ]
    return np.linalg.norm(np.array(landed) - synapse, axis=1)


def test_section_ids_land_on_the_synapses(synaptome):
    """(section id, position) through MorphIO's polyline, placed by bluepysnap: median < 2 µm."""
    attrs = edge_attributes(
        synaptome,
        ["afferent_section_id", "afferent_section_pos", "afferent_section_type",
         "afferent_segment_id", "afferent_segment_offset",
         "afferent_center_x", "afferent_center_y", "afferent_center_z"],
    )  # fmt: skip
    assert attrs["afferent_section_id"].dtype == np.uint32
    morph = bluepysnap.Circuit(str(synaptome)).nodes["synaptome"].morph.get(0, transform=True)
    synapse = np.c_[
        attrs["afferent_center_x"], attrs["afferent_center_y"], attrs["afferent_center_z"]
    ]
    sec, pos = attrs["afferent_section_id"], attrs["afferent_section_pos"]
    landed = np.array([polyline_point(morph, s, p) for s, p in zip(sec, pos, strict=True)])
    dist = np.linalg.norm(landed - synapse, axis=1)
    assert np.median(dist) < 2.0 and np.percentile(dist, 95) < 10.0, np.percentile(dist, [50, 95])
    assert (sec > 0).mean() > 0.95  # almost all on neurites; the rest on the soma
    assert pos.min() >= 0 and pos.max() <= 1
    # the segment id / offset name the same point; the section type is MorphIO's
    seg = np.array(
        [
            segment_point(morph, s, g, o)
            for s, g, o in zip(
                sec, attrs["afferent_segment_id"], attrs["afferent_segment_offset"], strict=True
            )
        ]
    )
    assert np.abs(seg - landed).max() < 1e-3
    types = np.array([int(morph.section(s - 1).type) if s else 1 for s in sec])
    assert (types == attrs["afferent_section_type"]).all()


def test_bluepysnap_finds_the_morphology_by_name(synaptome):
    nodes = bluepysnap.Circuit(str(synaptome)).nodes["synaptome"]
    assert nodes.get(0, "morphology") == str(ROOT)
    assert nodes.morph.get_filepath(0) == synaptome.parent / "morphologies" / f"{ROOT}.swc"
    local = nodes.morph.get(0)  # not transformed: the soma at the origin
    assert np.allclose(local.soma.center, 0)
    neuron = sf.datasets.example_neuron()
    soma = neuron.nodes.set_index("node_id").loc[[neuron.soma], ["x", "y", "z"]]
    soma = soma.to_numpy(dtype=np.float64).ravel() / 1000
    np.testing.assert_allclose(np.asarray(nodes.positions(0), dtype=np.float64), soma, atol=1e-4)


def test_no_empty_folders_and_a_valid_config_without_skeletons(tmp_path, syn):
    from bluepysnap.circuit_validation import validate_node_population

    config = sf.write_synaptome(syn, tmp_path / "s", neurons=[ROOT])
    assert sorted(p.name for p in config.parent.iterdir()) == [
        "circuit_config.json",
        "edges.h5",
        "nodes.h5",
    ]
    cfg = libsonata.CircuitConfig.from_file(str(config))
    assert cfg.node_population_properties("synaptome").type == "biophysical"
    nodes = bluepysnap.Circuit(str(config)).nodes["synaptome"]
    assert "morphology" not in nodes.property_names
    assert "afferent_section_id" not in edge_names(config)
    raw = json.loads(config.read_text())
    pop = raw["networks"]["nodes"][0]["populations"]["synaptome"]
    pop = {k: str(config.parent) if v == "$BASE_DIR" else v for k, v in pop.items()}
    assert validate_node_population(str(config.parent / "nodes.h5"), pop, "synaptome") == []


def edge_names(config) -> set[str]:
    return set(
        libsonata.CircuitConfig.from_file(str(config)).edge_population(EDGES).attribute_names
    )


def test_bluepysnap_accepts_the_synaptome_population(synaptome):
    from bluepysnap.circuit_validation import validate_node_population

    raw = json.loads(synaptome.read_text())
    base = str(synaptome.parent)
    pop = {
        k: v.replace("$BASE_DIR", base) if isinstance(v, str) else v
        for k, v in raw["networks"]["nodes"][0]["populations"]["synaptome"].items()
    }
    # the morphology file exists, the e-model directory exists (no template is named yet)
    assert validate_node_population(str(synaptome.parent / "nodes.h5"), pop, "synaptome") == []


# --- units, radii, labels -----------------------------------------------------------------------------


def test_skeleton_units_are_converted(tmp_path, syn, neuron):
    a = sf.write_synaptome(syn, tmp_path / "nm", neurons=neuron)
    b = sf.write_synaptome(syn, tmp_path / "um", neurons=rescaled(neuron, 1000, "1 um"))
    names = ["afferent_section_id", "afferent_section_pos"]
    x, y = edge_attributes(a, names), edge_attributes(b, names)
    assert (x["afferent_section_id"] == y["afferent_section_id"]).all()
    np.testing.assert_allclose(x["afferent_section_pos"], y["afferent_section_pos"], atol=1e-5)


def test_wrong_units_are_refused_before_writing(tmp_path, syn, neuron):
    wrong = neuron.copy()
    wrong.units = "1 um"  # nm coordinates declared as µm: the skeleton lies km away
    with pytest.raises(sf.SonataError, match=r"units"):
        sf.write_synaptome(syn, tmp_path / "s", neurons=wrong)
    assert not (tmp_path / "s").exists()


def test_node_radii_are_used_where_positive(tmp_path, syn, neuron):
    n = neuron.copy()
    r = np.full(n.n_nodes, 800.0)  # nm
    r[::2] = np.nan
    r[1::4] = -1.0
    n.nodes["radius"] = r
    root_row = np.flatnonzero(n.nodes["node_id"].to_numpy() == n.soma)[0]
    n.nodes.loc[root_row, "radius"] = 7000.0
    config = sf.write_synaptome(syn, tmp_path / "s", neurons=n, radii={"dendrite": 0.25})
    m = morphio.Morphology(str(config.parent / "morphologies" / f"{ROOT}.swc"))
    assert m.soma.diameters[0] == pytest.approx(14.0)
    radii = {float(r) for r in np.round(m.diameters.astype(np.float64) / 2, 4)}
    assert radii == {0.8, 0.25, DEFAULT_RADII_UM["axon"]}


@pytest.mark.parametrize(
    "radii",
    [{"soma": 0}, {"soma": -1.0}, {"dendrite": float("nan")}, {"spine": 1.0}, {"axon": "1"}],
)
def test_bad_radii_are_refused(tmp_path, syn, neuron, radii):
    with pytest.raises(sf.OptionError, match="radii"):
        sf.write_synaptome(syn, tmp_path / "s", neurons=neuron, radii=radii)
    assert not (tmp_path / "s").exists()


def test_swc_labels_are_kept_and_type_changes_move_to_bifurcations(tmp_path, neuron):
    import networkx as nx

    n = neuron.copy()
    labels = np.full(n.n_nodes, 3)
    labels[n.nodes["node_id"].to_numpy() == n.soma] = 1
    # an "axon" that starts in the middle of an unbranched stretch, far from the soma
    kids = n.nodes["parent_id"].value_counts()
    only_child = n.nodes["node_id"][n.nodes["parent_id"].map(kids) == 1].to_numpy()
    start = next(s for s in only_child if len(nx.ancestors(n.graph, s)) > 200)
    axon = np.isin(n.nodes["node_id"].to_numpy(), [start, *nx.ancestors(n.graph, start)])
    labels[axon] = 2
    n.nodes["label"] = labels
    raw = tmp_path / "raw.swc"
    navis.write_swc(n, raw)
    with pytest.raises(morphio.RawDataError, match="without a bifuc"):
        morphio.Morphology(str(raw))  # as written naively, MorphIO refuses it
    morph = build_morphology(n)
    swc = tmp_path / "x.swc"
    write_swc(morph, swc)
    assert morphio_warnings(swc) == []
    m = morphio.Morphology(str(swc))
    assert {int(t) for t in m.section_types} == {2, 3}
    assert (morph.kind == 2).sum() < axon.sum()  # the stretch above the first fork stays dendrite


def test_navis_default_labels_are_not_taken_for_types(tmp_path, neuron):
    swc = tmp_path / "navis.swc"
    navis.write_swc(neuron, swc)  # labels 0 / 1 / 5 (fork) / 6 (end): not neurite types
    back = navis.read_swc(str(swc), read_meta=True)
    assert set(back.nodes["label"]) - {0, 1, 5, 6} == set()
    out = tmp_path / "m.swc"
    write_swc(build_morphology(back), out)
    assert morphio_warnings(out) == []
    assert {int(t) for t in morphio.Morphology(str(out)).section_types} == {3}


def test_broken_skeletons_are_refused(tmp_path, syn, neuron):
    two = neuron.copy()
    two.nodes.loc[two.nodes.index[10], "parent_id"] = -1
    with pytest.raises(sf.SonataError, match="heal_skeleton"):
        sf.write_synaptome(syn, tmp_path / "s", neurons=two)
    mesh = navis.MeshNeuron(
        {"vertices": np.eye(3), "faces": np.array([[0, 1, 2]])}, id=1, units="1 nm"
    )
    with pytest.raises(sf.SonataError, match="not skeletons"):
        sf.write_synaptome(syn, tmp_path / "s", neurons=navis.NeuronList([neuron, mesh]))
    assert not (tmp_path / "s").exists()


def test_inputs_are_not_modified(tmp_path, syn, neuron):
    before = (frame_hash(syn), frame_hash(neuron.nodes), dict(syn.attrs).keys())
    sf.write_synaptome(syn, tmp_path / "s", neurons=neuron)
    assert (frame_hash(syn), frame_hash(neuron.nodes), dict(syn.attrs).keys()) == before


# --- the section order on any tree --------------------------------------------------------------------


@st.composite
def trees(draw, unique=True):
    n = draw(st.integers(3, 60))
    # node 2 hangs off node 1: at least one neurite longer than one node
    parents = [-1, 0, 1] + [draw(st.integers(0, i - 1)) for i in range(3, n)]
    xyz = draw(
        st.lists(st.tuples(*[st.integers(-500, 500)] * 3), min_size=n, max_size=n, unique=True)
    )
    order = draw(st.permutations(range(n)))  # node table order and ids need not be depth first
    ids = np.array(order) * 7 + 3
    nodes = pd.DataFrame(
        {
            "node_id": ids,
            "parent_id": [ids[p] if p >= 0 else -1 for p in parents],
            "x": [p[0] for p in xyz],
            "y": [p[1] for p in xyz],
            "z": [p[2] for p in xyz],
        }
    ).sample(frac=1, random_state=draw(st.integers(0, 100)))
    return navis.TreeNeuron(nodes, units="1 um", id=1)


@given(st.one_of(trees(), trees(unique=False)), st.integers(0, 2**32 - 1))
def test_any_tree_reads_in_morphio_with_our_section_order(tmp_path_factory, tree, seed):
    """Random trees, random node order, coincident points too (zero-length segments)."""
    morph = build_morphology(tree, radii={"soma": 0.01})
    swc = tmp_path_factory.mktemp("t") / "t.swc"
    write_swc(morph, swc)
    assert morphio_warnings(swc) == []
    m = morphio.Morphology(str(swc))
    assert len(m.sections) == morph.n_sections
    lengths = [
        np.linalg.norm(np.diff(s.points.astype(float), axis=0), axis=1).sum() for s in m.sections
    ]
    np.testing.assert_allclose(lengths, morph.length[1:], atol=1e-4)
    rng = np.random.default_rng(seed)
    points = morph.node_xyz[rng.integers(0, len(morph.node_xyz), 20)] + rng.normal(0, 3, (20, 3))
    loc = locate(morph, points)
    landed = np.array(
        [
            polyline_point(m, s, p)
            for s, p in zip(loc["section_id"], loc["section_pos"], strict=True)
        ]
    )
    np.testing.assert_allclose(
        np.linalg.norm(landed + morph.center - points, axis=1), loc["distance"], atol=1e-3
    )
    seg = [
        segment_point(m, s, g, o)
        for s, g, o in zip(loc["section_id"], loc["segment_id"], loc["segment_offset"], strict=True)
    ]
    np.testing.assert_allclose(seg, landed, atol=1e-3)


def test_a_soma_away_from_the_root_is_the_soma(tmp_path, syn, neuron):
    leaf = int(neuron.nodes.loc[neuron.nodes["type"] == "end", "node_id"].iloc[0])
    rooted = navis.reroot_skeleton(neuron, leaf, inplace=False)
    rooted.soma = neuron.soma
    assert rooted.root[0] == leaf
    a = build_morphology(neuron)
    b = build_morphology(rooted)
    np.testing.assert_array_equal(a.center, b.center)
    assert a.n_sections == b.n_sections
    config = sf.write_synaptome(syn, tmp_path / "s", neurons=rooted)
    assert np.median(landing_distances(config)) < 2.0


FLYWIRE_SWC = Path(__file__).parent / "data" / "flywire" / "flywire_720575940634552750.swc"
FLYWIRE_ID = 720575940634552750


def flywire_synaptome(tmp_path):
    """A real FlyWire skeleton (nm, no soma: its root is a neurite node, radius ~97 nm) with one
    synapse beside every node (fixed offsets of ~50 nm), written as a synaptome."""
    n = navis.read_swc(str(FLYWIRE_SWC), read_meta=True)
    n.id = FLYWIRE_ID
    rng = np.random.default_rng(0)
    xyz = n.nodes[["x", "y", "z"]].to_numpy(np.float64) + rng.normal(0, 50, (n.n_nodes, 3))
    k = n.n_nodes
    syn = pd.DataFrame({
        "id": np.arange(1, k + 1, dtype="int64"),
        "pre": (np.arange(k) % 50 + 1).astype("int64"),
        "post": np.full(k, FLYWIRE_ID, dtype="int64"),
        **{f"{side}_{a}": xyz[:, j] for side in ("pre", "post") for j, a in enumerate("xyz")},
    })  # fmt: skip
    syn.attrs["units"] = "nm"
    return n, sf.write_synaptome(syn, tmp_path / "fw", neurons=n)


def test_a_skeleton_without_a_soma_gets_the_estimated_soma_and_no_merged_neurites(tmp_path):
    """FlyWire: the root's 97 nm radius is not a soma radius (MorphIO would read a 0.19 µm soma),
    and no neurite node is merged into a soma that is not there."""
    n, config = flywire_synaptome(tmp_path)
    assert n.soma is None and n.nodes.loc[n.nodes["parent_id"] < 0, "radius"].iloc[0] < 100
    swc = config.parent / "morphologies" / f"{FLYWIRE_ID}.swc"
    assert morphio_warnings(swc) == []
    m = morphio.Morphology(str(swc))
    assert m.soma.diameters[0] == pytest.approx(2 * DEFAULT_RADII_UM["soma"])
    # every node but the root is a neurite sample; radii are the skeleton's own (nm -> µm)
    assert build_morphology(n).xyz.shape[0] == n.n_nodes - 1
    radius_um = n.nodes.loc[n.nodes["parent_id"] >= 0, "radius"].to_numpy() / 1000
    np.testing.assert_allclose(  # MorphIO repeats a section's first point: compare the values
        np.unique(m.diameters / 2), np.unique(radius_um.astype(np.float32)), rtol=1e-5
    )
    # every synapse lands beside its node: none is put on the soma from afar
    dist = landing_distances(config)
    sec = edge_attributes(config, ["afferent_section_id"])["afferent_section_id"]
    assert dist.max() < 0.5, np.sort(dist)[-5:]
    assert (sec == 0).sum() == 1  # the synapse beside the root


def test_a_one_point_section_is_where_its_points_land():
    """A leaf at its parent's very position (FlyWire node 1445 on node 69) is a one-point
    section in MorphIO: a point beside it lands on it, not on the soma."""
    n = navis.read_swc(str(FLYWIRE_SWC), read_meta=True)
    nodes = n.nodes.set_index("node_id")
    assert (nodes.loc[1445, ["x", "y", "z"]] == nodes.loc[69, ["x", "y", "z"]]).all()
    assert nodes.loc[1445, "parent_id"] == 69 and 1445 not in set(nodes["parent_id"])
    morph = build_morphology(n)
    point = nodes.loc[[1445], ["x", "y", "z"]].to_numpy(np.float64) / 1000 + 0.05
    loc = locate(morph, point)
    assert loc["section_id"][0] > 0 and loc["distance"][0] < 0.1


# --- the command line ---------------------------------------------------------------------------------


def test_demo_output_is_read_by_bluepysnap(tmp_path, capsys):
    """The issue's reproduction: ``synframe demo`` then bluepysnap ``morph.get(0)``."""
    assert main(["demo", "--output", str(tmp_path / "d")]) == 0
    morph = bluepysnap.Circuit(str(tmp_path / "d" / "circuit_config.json")).nodes["synaptome"]
    assert len(morph.morph.get(0).sections) > 1000


def test_cli_synaptome_with_the_embedded_or_a_given_skeleton(tmp_path, neuron, capsys):
    assert main(["synaptome", str(ROOT), "--output", str(tmp_path / "a")]) == 0
    assert (tmp_path / "a" / "morphologies" / f"{ROOT}.swc").exists()
    swc = tmp_path / "skeleton.swc"
    navis.write_swc(rescaled(neuron, 1000, "1 um"), swc)  # µm, with navis' units header
    assert (
        main(["synaptome", str(ROOT), "--output", str(tmp_path / "b"), "--skeleton", str(swc)]) == 0
    )
    plain = tmp_path / f"{ROOT}.swc"
    plain.write_text("\n".join(line for line in swc.read_text().splitlines() if "Meta" not in line))
    assert (
        main(["synaptome", str(ROOT), "--output", str(tmp_path / "c"), "--skeleton", str(plain)])
        == 2
    )
    assert "--skeleton-units" in capsys.readouterr().err
    args = ["--skeleton", str(plain), "--skeleton-units", "um"]
    assert main(["synaptome", str(ROOT), "--output", str(tmp_path / "c"), *args]) == 0
    for d in "abc":  # navis renumbers nodes on the way: other section ids, same places
        assert np.median(landing_distances(tmp_path / d / "circuit_config.json")) < 2.0
    bad = ["--skeleton", str(plain), "--skeleton-units", "nm"]  # µm read as nm: far off
    assert main(["synaptome", str(ROOT), "--output", str(tmp_path / "e"), *bad]) != 0
    assert not (tmp_path / "e").exists()


def test_a_skeleton_in_the_wrong_units_is_named_as_such(tmp_path, syn, neuron):
    """Coordinates 1000x too small while units stay nm (µm values read as nm): the whole
    skeleton fits in the soma; the message says why that probably happened."""
    tiny = neuron.copy()  # shrunk around its root: every node inside the soma
    xyz = neuron.nodes[["x", "y", "z"]].to_numpy(dtype="float64")
    root = xyz[(neuron.nodes.parent_id < 0).to_numpy()][0]
    tiny.nodes[["x", "y", "z"]] = root + (xyz - root) / 1000
    with pytest.raises(sf.SonataError, match=r"entirely within its soma.*wrong units\?"):
        sf.write_synaptome(syn, tmp_path / "s", neurons=tiny)
    assert not (tmp_path / "s").exists()
