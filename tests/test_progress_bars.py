"""Progress bars (#13) on the long stages this module's functions run: shown when forced with
``SYNFRAME_PROGRESS=1`` (as on a terminal), never with ``progress=False``."""

import shutil

import pytest

import synframe as sf
from conftest import DATA, ROOT

OBI = DATA / "sonata" / "obi_nbS1_O1_E2Sst_L5"


@pytest.fixture
def circuit(tmp_path):
    shutil.copytree(OBI, tmp_path / "circuit")
    return tmp_path / "circuit" / "circuit_config.json"


def model():
    g = {"type": "gamma", "mean": 1.0, "std": 0.5}
    return sf.pathway_stats({"conductance": {"*": {"*": g}}}, by="synapse_class")


def drawn():
    syn = sf.datasets.example_synapses()
    classes = sf.datasets.example_synapse_classes()
    return sf.parameterize(syn, sf.datasets.example_pathway_stats(), by="synapse_class",
                           types=classes, seed=1)  # fmt: skip


def run_parameterize_circuit(tmp_path, circuit, progress):
    sf.parameterize_circuit(circuit, model(), by="synapse_class", seed=1, overwrite=True,
                            output=tmp_path / f"out{progress}", chunk_size=1000,
                            progress=progress)  # fmt: skip


def run_write_synaptome(tmp_path, circuit, progress):
    sf.write_synaptome(drawn(), tmp_path / f"s{progress}", neurons=sf.datasets.example_neuron(),
                       progress=progress)  # fmt: skip


def run_write_circuit(tmp_path, circuit, progress):
    sf.write_circuit(drawn(), tmp_path / f"n{progress}", chunk_size=500, progress=progress)


def run_write_circuit_dask(tmp_path, circuit, progress):
    import dask.dataframe as dd

    ddf = dd.from_pandas(drawn(), npartitions=4)
    sf.write_circuit(ddf, tmp_path / f"d{progress}", progress=progress)


def run_attach(tmp_path, circuit, progress):
    sf.attach(sf.datasets.example_synapses(), sf.datasets.example_neuron(), progress=progress)


CASES = {
    "parameterize_circuit": (run_parameterize_circuit, ["parameterize_circuit", "edge"]),
    "write_synaptome": (run_write_synaptome, ["write_synaptome", "step"]),
    "write_circuit": (run_write_circuit, ["write_circuit: edges"]),
    "write_circuit (dask)": (
        run_write_circuit_dask,
        ["write_circuit: parts"],
    ),
    "attach": (run_attach, ["attach (pre, post)"]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_bar_when_forced_and_none_when_turned_off(name, tmp_path, circuit, capsys, monkeypatch):
    run, expected = CASES[name]
    monkeypatch.setenv("SYNFRAME_PROGRESS", "1")
    capsys.readouterr()
    run(tmp_path, circuit, True)
    err = capsys.readouterr().err
    for text in expected:
        assert text in err, (text, err[-500:])
    run(tmp_path, circuit, False)
    err = capsys.readouterr().err
    assert not any(text in err for text in expected), err[-500:]


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_progress_must_be_a_bool(value, tmp_path, circuit):
    syn = drawn()
    for call in (
        lambda: sf.attach(syn, sf.datasets.example_neuron(), progress=value),
        lambda: sf.write_circuit(syn, tmp_path / "n", progress=value),
        lambda: sf.write_synaptome(syn, tmp_path / "s", neurons=[ROOT], progress=value),
        lambda: sf.parameterize_circuit(
            circuit,
            model(),
            by="synapse_class",
            overwrite=True,
            output=tmp_path / "o",
            progress=value,
        ),
    ):
        with pytest.raises(sf.OptionError, match="progress must be True or False"):
            call()
    assert not any((tmp_path / d).exists() for d in ("n", "s", "o"))


class Counting:
    """A stand-in for the progress bar that counts what the stage reports."""

    def __init__(self, total, desc, progress=True, **kw):
        self.total, self.desc, self.n = total, desc, 0

    def update(self, k=1):
        self.n += k

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("name", list(CASES))
def test_every_bar_ends_at_its_total(name, tmp_path, circuit, monkeypatch):
    """The counts the stages report add up to the totals they announce."""
    import importlib

    made = []

    def spy(*args, **kwargs):
        made.append(Counting(*args, **kwargs))
        return made[-1]

    for module in ("synframe.attach", "synframe.sonata.circuit", "synframe.sonata.synaptome",
                   "synframe.sonata.network"):  # fmt: skip
        monkeypatch.setattr(importlib.import_module(module), "bar", spy)
    CASES[name][0](tmp_path, circuit, True)
    assert made and all(b.total > 0 and b.n == b.total for b in made), [
        (b.desc, b.n, b.total) for b in made
    ]


def test_local_store_build_shows_its_two_copies(tmp_path, capsys, monkeypatch):
    from synframe.synthetic import SyntheticDump

    dump = SyntheticDump(2_000, n_neurons=20, seed=2)
    dump.write_parquet(tmp_path / "dump.parquet")
    build = sf.sources.LocalStore.build
    monkeypatch.setenv("SYNFRAME_PROGRESS", "1")
    capsys.readouterr()
    build(tmp_path / "dump.parquet", tmp_path / "a", resolution=dump.resolution)
    err = capsys.readouterr().err
    assert "LocalStore.build" in err and "/2 " in err, err
    import synframe._progress

    made = []
    monkeypatch.setattr(
        synframe._progress, "bar", lambda *a, **k: made.append(Counting(*a, **k)) or made[-1]
    )
    build(tmp_path / "dump.parquet", tmp_path / "spied", resolution=dump.resolution)
    assert [(b.desc, b.n, b.total) for b in made] == [("LocalStore.build", 2, 2)]
    build(tmp_path / "dump.parquet", tmp_path / "b", resolution=dump.resolution, progress=False)
    assert "LocalStore.build" not in capsys.readouterr().err
    with pytest.raises(sf.SourceError, match="progress must be True or False"):
        build(tmp_path / "dump.parquet", tmp_path / "c", resolution=dump.resolution, progress="no")
    assert not (tmp_path / "c").exists()
