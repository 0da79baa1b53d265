"""Reference values from connectome-manipulator 1.0.4 for ``tests/test_cm_compat.py``.

Run with a Python that has connectome-manipulator 1.0.4 installed (it brings bluepysnap); it is not part of the test suite::

    python tests/data/cm/make_cm_fixtures.py

It writes, next to itself (each file small; the tests need no connectome-manipulator):

- ``fit_external.json``: CM's ``conn_props.extract`` + ``build`` on the nbS1 test circuit's
  ``external_S1nonbarrel_neurons__S1nonbarrel_neurons__chemical`` population (by mtype, at least 5
  connections per pathway, 38 of 74 pathways interpolated by layer / synapse class), mixed types,
  ``data_types`` and one-sided ``data_bounds`` with ``±inf`` (written by CM as ``±Infinity``),
  saved by CM's ``save_model``;
- ``fit_external_default.json``: the same population with CM's defaults (every property ``normal``,
  no minimum, no bounds);
- ``extract_external.json``: CM's per-pathway statistics of the first fit before interpolation;
- ``draws.npz`` + ``draws.json``: values CM's ``ConnPropsModel.draw`` gives for a list of specs
  (dtype, bounds, rounding, ``n_syn_per_conn``), drawn with numpy's legacy seeded RNG;
- ``interpolation.json``: CM's ``build`` interpolating discrete values / counts on a small grid
  (4 mtypes, data in 2 of 16 pathways) where cells interpolated earlier enter later merges;
- ``validation.json``: model dicts loaded with CM's ``AbstractModel.model_from_file``: whether CM
  accepts each, its error, and the warnings it logs.

connectome-manipulator is Apache-2.0 (Blue Brain Project/EPFL); only its outputs are stored here.
"""

import json
import logging
import os
import re
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CIRCUIT = HERE.parent / "sonata" / "obi_nbS1_O1_E2Sst_L5" / "circuit_config.json"
POPULATION = "external_S1nonbarrel_neurons__S1nonbarrel_neurons__chemical"
PROPS = ["conductance", "u_syn", "depression_time", "facilitation_time", "decay_time",
         "n_rrp_vesicles", "syn_type_id"]  # fmt: skip
DISTR = {"conductance": "gamma", "u_syn": "truncnorm", "depression_time": "gamma",
         "facilitation_time": "normal", "decay_time": "normal", "n_rrp_vesicles": "discrete",
         "syn_type_id": "constant", "n_syn_per_conn": "ztpoisson"}  # fmt: skip
DTYPES = {"n_rrp_vesicles": "int", "syn_type_id": "int"}
BOUNDS = {"conductance": [0.0, np.inf], "facilitation_time": [-np.inf, 1000.0], "u_syn": [0, 1]}


def _plain(x):
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if hasattr(x, "tolist"):
        return _plain(x.tolist())
    return x


def fits() -> None:
    import bluepysnap
    from connectome_manipulator.model_building import conn_props

    circuit = bluepysnap.Circuit(str(CIRCUIT))
    ex = conn_props.extract(circuit, min_sample_size_per_group=5, sel_props=PROPS,
                            edges_popul_name=POPULATION)  # fmt: skip
    model = conn_props.build(**ex, distr_types=DISTR, data_types=DTYPES, data_bounds=BOUNDS)
    model.save_model(str(HERE), "fit_external")
    keep = ("mean", "std", "min", "max", "shared_within", "norm_loc", "norm_scale")
    out = {
        "m_types": ex["m_types"],
        "m_type_class": ex["m_type_class"],
        "m_type_layer": ex["m_type_layer"],
        "syn_props": ex["syn_props"],
        "conn_prop_data": {k: ex["conn_prop_data"][k] for k in keep},
        "syns_per_conn_data": {
            k: ex["syns_per_conn_data"][k] for k in keep if k != "shared_within"
        },
    }
    (HERE / "extract_external.json").write_text(json.dumps(_plain(out)))
    ex = conn_props.extract(circuit, sel_props=PROPS, edges_popul_name=POPULATION)
    conn_props.build(**ex).save_model(str(HERE), "fit_external_default")


SPECS = [  # (property, spec): CM's draw of each
    ("g", {"type": "constant", "mean": 3}),
    ("g", {"type": "constant", "mean": 3.0}),
    ("g", {"type": "constant", "mean": 3, "lower_bound": 0.0}),
    ("g", {"type": "constant", "mean": 3, "lower_bound": 0}),
    ("g", {"type": "constant", "mean": 3, "upper_bound": -np.inf}),
    ("g", {"type": "constant", "mean": 2.5, "dtype": "int"}),
    ("g", {"type": "constant", "mean": 3.5, "dtype": "int"}),
    ("g", {"type": "constant", "mean": 2.7, "dtype": "int32"}),
    ("g", {"type": "constant", "mean": -2.7, "dtype": "int16"}),
    ("g", {"type": "constant", "mean": 2.7, "dtype": "float32"}),
    ("g", {"type": "zero"}),
    ("g", {"type": "gamma", "mean": 2, "std": 0}),
    ("g", {"type": "gamma", "mean": 2.0, "std": 0.0, "upper_bound": 1}),
    ("g", {"type": "truncnorm", "norm_loc": 5, "norm_scale": 0, "min": 0, "max": 2}),
    ("g", {"type": "truncnorm", "norm_loc": 5, "norm_scale": 0.0, "min": 0.0, "max": 2}),
    ("g", {"type": "normal", "mean": 1.0, "std": 0.5, "shared_within": False}),
    ("g", {"type": "normal", "mean": 1.0, "std": 0.5, "shared_within": None}),
    ("g", {"type": "normal", "mean": 1.0, "std": 0.5, "shared_within": 0.0,
           "lower_bound": 0.8, "upper_bound": np.inf}),
    ("g", {"type": "normal", "mean": 1.0, "std": 0.5, "shared_within": False,
           "lower_bound": -np.inf, "upper_bound": 1.2}),
    ("g", {"type": "normal", "mean": 1.4, "std": 0.8, "shared_within": False, "dtype": "int"}),
    ("g", {"type": "normal", "mean": 1.4, "std": 0.8, "shared_within": False, "dtype": "int32"}),
    ("g", {"type": "gamma", "mean": 1.0, "std": 0.4, "shared_within": False}),
    ("g", {"type": "truncnorm", "norm_loc": 0.5, "norm_scale": 0.3, "min": 0.2, "max": 1.0,
           "shared_within": False}),
    ("g", {"type": "poisson", "mean": 2.5, "shared_within": False}),
    ("g", {"type": "poisson", "mean": 2.5, "shared_within": False, "lower_bound": 1.0}),
    ("g", {"type": "poisson", "mean": 2.5, "shared_within": False, "upper_bound": 3}),
    ("g", {"type": "ztpoisson", "mean": 1.8, "shared_within": False}),
    ("g", {"type": "discrete", "val": [1, 2, 5], "p": [0.2, 0.5, 0.3], "shared_within": False}),
    ("g", {"type": "discrete", "val": [1.0, 2, 5], "p": [0.2, 0.5, 0.3], "shared_within": False}),
    ("g", {"type": "discrete", "val": [1, 2, 5], "p": [0.2, 0.5, 0.3], "shared_within": False,
           "dtype": "float32"}),
    ("g", {"type": "normal", "mean": 1.0, "std": 0.5, "shared_within": True}),
    ("n_syn_per_conn", {"type": "constant", "mean": 0.4}),
    ("n_syn_per_conn", {"type": "constant", "mean": 2.5}),
    ("n_syn_per_conn", {"type": "constant", "mean": -3.0}),
    ("n_syn_per_conn", {"type": "constant", "mean": 3.5, "upper_bound": 2.5}),
    ("n_syn_per_conn", {"type": "constant", "mean": 3.5, "dtype": "float"}),
    ("n_syn_per_conn", {"type": "normal", "mean": 1.0, "std": 2.0}),
    ("n_syn_per_conn", {"type": "gamma", "mean": 3.0, "std": 2.0}),
    ("n_syn_per_conn", {"type": "ztpoisson", "mean": 2.2}),
]  # fmt: skip
N_DRAWS = 2000


def draws() -> None:
    from connectome_manipulator.model_building import model_types

    np.random.seed(20261122)  # noqa: NPY002 - CM draws from the legacy global RNG
    meta, arrays = [], {}
    for k, (prop, spec) in enumerate(SPECS):
        model = model_types.ConnPropsModel(
            src_types=["A"], tgt_types=["A"], prop_stats={prop: {"A": {"A": spec}}}
        )
        values = model.draw(prop, "A", "A", size=N_DRAWS)
        arrays[f"v{k}"] = values
        meta.append({"property": prop, "spec": spec, "dtype": str(values.dtype),
                     "unique": len(np.unique(values))})  # fmt: skip
    np.savez_compressed(HERE / "draws.npz", **arrays)
    (HERE / "draws.json").write_text(json.dumps(_plain(meta), indent=1))


def _cell(**kw):
    return {"type": "normal", "mean": 1.0, "std": 0.5, **kw}


def _model(cell=None, prop_cov=None, **top):
    cell = cell or _cell()
    d = {"src_types": ["A", "B"], "tgt_types": ["A", "B"],
         "prop_stats": {p: {s: {t: dict(cell) for t in "AB"} for s in "AB"} for p in ("g", "u")},
         "model": "ConnPropsModel"}  # fmt: skip
    if prop_cov is not None:
        d["prop_cov"] = prop_cov
    d.update(top)
    return d


def _cov(mat, props=("g", "u")):
    return {"props": list(props), "cov": {s: {t: mat for t in "AB"} for s in "AB"}}


def corpus():
    ok = _model()
    no_model = _model()
    del no_model["model"]
    no_src = _model()
    del no_src["prop_stats"]["u"]["B"]
    no_tgt = _model()
    del no_tgt["prop_stats"]["g"]["A"]["B"]
    no_type = _model()
    del no_type["prop_stats"]["g"]["A"]["A"]["type"]
    wildcard = _model()
    for p in ("g", "u"):
        wildcard["prop_stats"][p]["*"] = {"*": _cell(mean=9.0)}
        wildcard["prop_stats"][p]["A"]["*"] = _cell(mean=8.0)
    no_src_types = _model()
    del no_src_types["src_types"]
    cov_nsyn = _model(prop_cov=_cov([[1.0, 0.2], [0.2, 1.0]], ("g", "n_syn_per_conn")))
    cov_nsyn["prop_stats"]["n_syn_per_conn"] = cov_nsyn["prop_stats"]["g"]
    cov_missing = _model(prop_cov=_cov([[1.0, 0.2], [0.2, 1.0]]))
    del cov_missing["prop_cov"]["cov"]["B"]["A"]
    return {
        "ok": ok,
        "no_model_key": no_model,
        "other_model_class": _model(model="ConnProbModel"),
        "missing_src_type": no_src,
        "missing_tgt_type": no_tgt,
        "missing_type": no_type,
        "unknown_type_lognormal": _model({"type": "lognormal", "mean": 0.0, "std": 1.0}),
        "unknown_type_uniform": _model({"type": "uniform", "min": 0.0, "max": 1.0}),
        "gamma_without_std": _model({"type": "gamma", "mean": 1.0}),
        "truncnorm_without_max": _model(
            {"type": "truncnorm", "norm_loc": 0, "norm_scale": 1, "min": 0}
        ),
        "discrete_p_sum": _model({"type": "discrete", "val": [1, 2], "p": [0.5, 0.4]}),
        "discrete_len": _model({"type": "discrete", "val": [1, 2, 3], "p": [0.5, 0.5]}),
        "discrete_empty": _model({"type": "discrete", "val": [], "p": []}),
        "bounds_crossed": _model(_cell(lower_bound=2.0, upper_bound=1.0)),
        "bounds_infinite": _model(_cell(lower_bound=0.0, upper_bound=np.inf)),
        "bounds_minus_infinite": _model(_cell(lower_bound=-np.inf, upper_bound=3)),
        "shared_within_null": _model(_cell(shared_within=None)),
        "shared_within_float": _model(_cell(shared_within=0.0)),
        "dtype_int32": _model(_cell(dtype="int32")),
        "prop_cov_empty": _model(prop_cov={}),
        "prop_cov_ok": _model(prop_cov=_cov([[1.0, 0.3], [0.3, 1.0]])),
        "prop_cov_diag_not_exactly_one": _model(prop_cov=_cov([[1.0 - 1e-12, 0.3], [0.3, 1.0]])),
        "prop_cov_not_exactly_symmetric": _model(prop_cov=_cov([[1.0, 0.3], [0.3 + 1e-12, 1.0]])),
        "prop_cov_wrong_size": _model(prop_cov=_cov([[1.0]])),
        "prop_cov_missing_pathway": cov_missing,
        "prop_cov_n_syn_per_conn": cov_nsyn,
        "prop_cov_unknown_prop": _model(prop_cov=_cov([[1.0, 0.3], [0.3, 1.0]], ("g", "nope"))),
        "prop_cov_no_cov_key": _model(prop_cov={"props": ["g", "u"]}),
        "synframe_meta_key": _model(__synframe__={"by": "mtype"}),
        "unknown_top_key": _model(pathway_property="mtype"),
        "wildcard_entries_kept": wildcard,
        "data_keys": _model(data_keys=["table"]),
        "data_keys_empty": _model(data_keys=[]),
        "no_src_types": no_src_types,
        "extra_cell_keys": _model(_cell(n=57, comment="fitted")),
    }


def _stable(message: str) -> str:
    """CM's messages print Python sets (random order): sort the names in them."""
    return re.sub(
        r"\{('[^']*'(?:, '[^']*')*)\}",
        lambda m: "{" + ", ".join(sorted(m.group(1).split(", "))) + "}",
        message,
    )


def interpolation() -> None:
    from connectome_manipulator.model_building import conn_props

    m_types = [["A", "B", "C", "D"]] * 2
    classes = [["EXC", "EXC", "EXC", "INH"]] * 2
    layers = [[4, 4, 5, 5]] * 2
    shape = (4, 4)
    present = np.zeros(shape, dtype=bool)
    present[0, 0] = present[2, 2] = True
    rng = np.random.default_rng(7)
    nsyn = {
        k: np.full(shape, np.nan) for k in ("mean", "std", "min", "max", "norm_loc", "norm_scale")
    }
    prop = {k: np.full((*shape, 1), np.nan) for k in ("mean", "std", "min", "max", "norm_loc",
                                                       "norm_scale", "shared_within")}  # fmt: skip
    for d in (nsyn, prop):
        for k in ("val", "cnt", "p"):
            d[k] = np.full(shape if d is nsyn else (*shape, 1), np.nan, dtype=object)
    for i, j in zip(*np.nonzero(present), strict=True):
        for d, idx in ((nsyn, (i, j)), (prop, (i, j, 0))):
            for k in ("mean", "std", "min", "max", "norm_loc", "norm_scale"):
                d[k][idx] = rng.random()
            val, cnt = np.unique(rng.integers(1, 6, size=20), return_counts=True)
            d["val"][idx], d["cnt"][idx], d["p"][idx] = val, cnt, cnt / cnt.sum()
        prop["shared_within"][i, j, 0] = 1.0
    model = conn_props.build(nsyn, prop, m_types, classes, layers, ["g"],
                             distr_types={"g": "discrete", "n_syn_per_conn": "discrete"})  # fmt: skip
    out = {
        "m_types": m_types[0], "synapse_class": classes[0], "layer": layers[0],
        "present": present,
        "data": {
            "g": {"val": prop["val"][..., 0], "cnt": prop["cnt"][..., 0]},
            "n_syn_per_conn": {"val": nsyn["val"], "cnt": nsyn["cnt"]},
        },
        "cm": {p: {s: {t: {"val": c["val"], "p": c["p"]} for t, c in by_t.items()}
                   for s, by_t in model.prop_stats[p].items()} for p in ("g", "n_syn_per_conn")},
    }  # fmt: skip
    (HERE / "interpolation.json").write_text(json.dumps(_plain(out)))


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.records = []

    def emit(self, record):
        self.records.append(record.getMessage())


def validation() -> None:
    from connectome_manipulator.model_building import model_types

    handler = _Capture()
    logging.getLogger().addHandler(handler)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, model in corpus().items():
            path = os.path.join(tmp, f"{name}.json")
            Path(path).write_text(json.dumps(model))
            handler.records.clear()
            try:
                model_types.AbstractModel.model_from_file(path)
                ok, error = True, None
            except Exception as exc:  # CM raises AssertionError, KeyError ...
                ok, error = False, _stable(f"{type(exc).__name__}: {exc}".replace(tmp, "<tmp>"))
            unused = sorted(  # the parameter names of CM's "Unused parameter(s): {...}!" warning
                name.strip(" '")
                for r in handler.records
                if r.startswith("Unused parameter")
                for name in re.search(r"\{(.*)\}", r).group(1).split(",")
            )
            out.append({"name": name, "model": model, "cm_ok": ok, "cm_error": error,
                        "cm_unused_parameters": unused})  # fmt: skip
    (HERE / "validation.json").write_text(json.dumps(_plain(out), indent=1))


if __name__ == "__main__":
    import connectome_manipulator

    assert connectome_manipulator.__version__ == "1.0.4", connectome_manipulator.__version__
    print(f"connectome-manipulator {connectome_manipulator.__version__}, numpy {np.__version__}, "
          f"python {sys.version.split()[0]}")  # fmt: skip
    fits()
    draws()
    interpolation()
    validation()
