"""A synaptome's files: what can be written (population and property names, values) and the node
and edge HDF5 files of [`synframe.write_synaptome`][synframe.sonata.synaptome.write_synaptome].

Values are written in the dtype they have (what libsonata reads is what was drawn); names HDF5 or
libsonata would misread, and values SONATA cannot hold, are refused before anything is written.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import OptionError, SonataError, format_problems
from ..schemas import POSITIONS, SynapseTable
from ._circuit import LAYOUT_DATASETS, UM, name_problem, string_dataset
from ._record import stamp
from .morphology import Morphology
from .read import CENTERS

__all__ = [
    "DEFAULT_NAMES",
    "SECTION_DATASETS",
    "annotation_names",
    "check_population_names",
    "check_replaceable",
    "properties",
    "sonata_values",
    "write_edges",
    "write_nodes",
]


DEFAULT_NAMES = {
    "neurons": "synaptome",
    "afferents": "synaptome_afferent_neurons",
    "edges": "synaptome_afferents",
}


#: what write_synaptome puts in a synaptome folder; an existing folder holding anything else is
#: not replaced (it is not one synframe wrote, or someone added files to it)
SYNAPTOME_ENTRIES = frozenset({"circuit_config.json", "nodes.h5", "edges.h5", "morphologies"})


def check_replaceable(path: Path, overwrite: bool) -> None:
    """Refuse to replace ``path`` unless it is a synaptome synframe wrote (and overwrite=True)."""
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise SonataError(f"cannot create {path}: {parent} is a file, not a directory")
            break
    if not (path.exists() or path.is_symlink()):
        return
    if not overwrite:
        raise SonataError(f"{path} exists; pass overwrite=True to replace it")
    if not path.is_dir():
        raise SonataError(
            f"{path} exists and is not a directory; overwrite=True replaces only a synaptome "
            "written by synframe -- choose another path or remove the file yourself"
        )
    entries = {p.name for p in path.iterdir()}
    written_by_synframe = False
    with contextlib.suppress(OSError, ValueError, TypeError, RecursionError):
        config = json.loads((path / "circuit_config.json").read_text(encoding="utf-8"))
        written_by_synframe = isinstance(config, dict) and "synframe" in config
    foreign = sorted(entries - SYNAPTOME_ENTRIES)
    if not written_by_synframe or foreign:
        what = (
            f"it holds files synframe does not write ({', '.join(foreign[:5])})"
            if foreign and written_by_synframe
            else "it is not a synaptome written by synframe (no synframe circuit_config.json)"
        )
        raise SonataError(
            f"{path} exists and {what}; overwrite=True replaces only a synaptome synframe wrote, "
            "so that nothing else is deleted -- choose another path or empty it yourself"
        )


def check_population_names(population_names) -> dict[str, str]:
    """``population_names=`` merged over the defaults, every name valid and distinct."""
    given = dict(population_names or {})
    unknown = sorted(map(str, set(given) - set(DEFAULT_NAMES)))
    if unknown:
        raise OptionError(f"population_names: unknown keys {unknown}; use {sorted(DEFAULT_NAMES)}")
    names = {**DEFAULT_NAMES, **given}
    problems = [f"{k}: {p}" for k, v in names.items() if (p := name_problem(v))]
    if problems:
        raise OptionError(
            format_problems("population_names cannot be SONATA populations", problems)
        )
    if len(set(names.values())) < len(names):
        raise OptionError(
            f"population_names: every population needs its own name (SONATA looks populations up "
            f"by name), got {names}"
        )
    return names


def properties(syn: pd.DataFrame, aff: pd.DataFrame) -> list[str]:
    """The parameterized properties (``attrs['properties']``) to write as edge attributes."""
    listed = syn.attrs.get("properties", [])
    listed = [listed] if isinstance(listed, str) else list(listed or [])
    missing = [p for p in listed if p not in aff.columns]
    if missing:
        raise SonataError(
            f"attrs['properties'] lists {missing}, which are not columns of the table; "
            "parameterize again (sf.parameterize) or correct attrs['properties']"
        )
    props = list(dict.fromkeys(listed))
    written = {"synapse_id", *CENTERS["pre"], *CENTERS["post"]}
    written |= {name for name, _ in SECTION_DATASETS.values()}
    problems = [
        f"{p!r}: {problem}"
        for p in props
        if (problem := name_problem(p)
            or ("a dataset synframe writes itself" if p in written | LAYOUT_DATASETS else None))
    ]  # fmt: skip
    if problems:
        raise SonataError(
            format_problems(
                "these properties cannot be SONATA edge attributes (rename the columns and "
                "attrs['properties'])",
                problems,
            )
        )
    for p in props:
        values = sonata_values(aff[p], f"property {p!r}")  # refuse what cannot be stored
        if values.dtype.kind == "f" and not np.isfinite(values).all():
            raise SonataError(
                f"property {p!r} has {int((~np.isfinite(values)).sum())} NaN/inf values; a "
                "simulator cannot use them -- parameterize those synapses (sf.parameterize) or "
                "drop them"
            )
    return props


def annotation_names(aff: pd.DataFrame) -> None:
    """``pre_<a>`` / ``post_<a>`` columns become node attributes ``<a>``: their names must be valid."""
    problems = []
    for col in aff.columns:
        for side in ("pre", "post"):
            annotation = isinstance(col, str) and col.startswith(f"{side}_")
            if (
                annotation
                and col not in POSITIONS
                and (problem := name_problem(col[len(side) + 1 :]))
            ):
                problems.append(f"column {col!r}: node attribute {problem}")
    if problems:
        raise SonataError(
            format_problems(
                "these annotation columns cannot be SONATA node attributes (rename them)", problems
            )
        )


def sonata_values(values: pd.Series, what: str) -> np.ndarray:
    """A column as the array written to SONATA, exactly: the dtype it has, when libsonata reads it.

    Kept as they are: int8 … int64, uint8 … uint64, float32, float64 and text. Widened without
    change of value: booleans (to uint8 0/1), float16 (to float32), nullable integers without
    missing values (to their numpy dtype), categories (to text). Refused: missing values of
    integer columns, complex numbers, dates and other objects.
    """
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        values = values.astype(object)
        dtype = values.dtype
    if not isinstance(dtype, np.dtype):  # pandas extension dtypes: nullable ints, strings, arrow
        if values.isna().any():
            raise SonataError(
                f"{what} has {int(values.isna().sum())} missing values; SONATA attributes have one "
                "value per edge/node -- fill or drop them first"
            )
        kind = getattr(dtype, "kind", "O")
        values = values.to_numpy(
            dtype=getattr(dtype, "numpy_dtype", None) if kind in "iufb" else object
        )
    else:
        values = values.to_numpy()
    kind = values.dtype.kind
    if kind == "b":
        return values.astype(np.uint8)
    if kind == "f" and values.dtype.itemsize < 4:
        return values.astype(np.float32)
    if kind in "iuf" and values.dtype.itemsize <= 8:
        return values
    if kind in "OUS":
        if kind == "O" and not all(isinstance(v, str) for v in values):
            kinds = sorted({type(v).__name__ for v in values if not isinstance(v, str)})
            raise SonataError(
                f"{what} holds {', '.join(kinds)} values, which SONATA cannot store; give numbers "
                "or text"
            )
        return values.astype(str).astype(object)
    raise SonataError(f"{what} is {values.dtype}, which SONATA cannot store; give numbers or text")


def write_nodes(file: Path, aff: pd.DataFrame, names, ids, partners, morphs) -> None:
    """The reconstructed neurons and their virtual partners, with root ids and annotations."""
    import h5py

    with h5py.File(file, "w") as h5:
        for pop, node_ids, side in (
            (names["neurons"], ids, "post"),
            (names["afferents"], partners, "pre"),
        ):
            g = h5.create_group(f"nodes/{pop}")
            g.create_dataset("node_type_id", data=np.full(len(node_ids), -1, dtype=np.int64))
            g0 = g.create_group("0")
            g0.create_dataset("root_id", data=node_ids.astype(np.int64))
            if side == "post" and morphs:
                _write_placement(g0, [morphs[int(i)] for i in node_ids])
            model = "biophysical" if side == "post" else "virtual"
            string_dataset(g0, "model_type", [model] * len(node_ids))
            _write_annotations(g0, aff, node_ids, side)


def _write_placement(group, morphs: list[Morphology]) -> None:
    """Morphology names and soma positions (µm; no rotation: the SWC is in circuit axes)."""
    string_dataset(group, "morphology", [m.name for m in morphs])
    centers = np.array([m.center for m in morphs], dtype=np.float32).reshape(-1, 3)
    for k, axis in enumerate("xyz"):
        group.create_dataset(axis, data=centers[:, k])


def _write_annotations(group, aff: pd.DataFrame, node_ids, side: str) -> None:
    """Every ``<side>_<annotation>`` column that is known for all the nodes, as a node property."""
    key = SynapseTable.post if side == "post" else SynapseTable.pre
    first = aff.drop_duplicates(key).set_index(key)
    for col in aff.columns:
        if not isinstance(col, str) or not col.startswith(f"{side}_") or col in POSITIONS:
            continue
        vals = first[col].reindex(node_ids)
        name = col[len(side) + 1 :]
        if vals.isna().any() or name in group:
            continue
        numeric = pd.api.types.is_numeric_dtype(vals.dtype)
        if numeric and not pd.api.types.is_bool_dtype(vals.dtype):
            group.create_dataset(name, data=sonata_values(vals, f"column {col!r}"))
        else:
            string_dataset(group, name, vals.to_numpy())


#: SONATA edge datasets from `synframe.sonata.morphology.locate` and their dtypes
SECTION_DATASETS = {
    "section_id": ("afferent_section_id", np.uint32),
    "section_pos": ("afferent_section_pos", np.float32),
    "section_type": ("afferent_section_type", np.uint32),
    "segment_id": ("afferent_segment_id", np.uint32),
    "segment_offset": ("afferent_segment_offset", np.float32),
}


def write_edges(
    file: Path, aff: pd.DataFrame, names, ids, partners, props, section, drawn=None
) -> None:
    """One edge per afferent synapse: ids, centers (µm), section ids, properties; then indices."""
    import h5py
    import libsonata

    n = len(aff)
    src_idx = np.searchsorted(partners, aff[SynapseTable.pre].to_numpy())
    tgt_idx = np.searchsorted(ids, aff[SynapseTable.post].to_numpy())
    with h5py.File(file, "w") as h5:
        g = h5.create_group(f"edges/{names['edges']}")
        stamp(g, drawn)
        src = g.create_dataset("source_node_id", data=src_idx.astype(np.uint64))
        src.attrs["node_population"] = names["afferents"]
        tgt = g.create_dataset("target_node_id", data=tgt_idx.astype(np.uint64))
        tgt.attrs["node_population"] = names["neurons"]
        g.create_dataset("edge_type_id", data=np.full(n, -1, dtype=np.int64))
        g.create_dataset("edge_group_id", data=np.zeros(n, dtype=np.int64))
        g.create_dataset("edge_group_index", data=np.arange(n, dtype=np.uint64))
        g0 = g.create_group("0")
        g0.create_dataset("synapse_id", data=aff[SynapseTable.id].to_numpy(dtype=np.int64))
        for side in ("pre", "post"):
            for c, dst in zip([f"{side}_{a}" for a in "xyz"], CENTERS[side], strict=True):
                um = aff[c].to_numpy(dtype=np.float64) / UM
                g0.create_dataset(dst, data=um.astype(np.float32))
        for key, (name, dtype) in SECTION_DATASETS.items():
            if section is not None:
                g0.create_dataset(name, data=section[key].astype(dtype))
        for p in props:  # the values drawn, in the dtype drawn (no narrowing to 32 bits)
            values = sonata_values(aff[p], f"property {p!r}")
            if values.dtype == object:
                string_dataset(g0, p, values)
            else:
                g0.create_dataset(p, data=values)
    libsonata.EdgePopulation.write_indices(str(file), names["edges"], len(partners), len(ids))
