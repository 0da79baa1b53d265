"""Pathway statistics: an ``xarray.DataArray`` over ``("property", "src", "tgt")``, one spec per cell.

One module, though over 450 lines: construction, validation, the ConnPropsModel JSON (to/from
dict, load/save) and the summary all act on the one DataArray layout defined here; the JSON reader
is the constructor's input path and must validate exactly as it does. The JSON input/output with its
connectome-manipulator checks (``to_dict`` to ``cm_problems``) is the seam if it grows.

Built from the ConnPropsModel / obi-one nested dict ([`pathway_stats`][synframe.pathways.pathway_stats], or [`from_dict`][synframe.pathways.from_dict] for a
whole model), loaded from its JSON ([`load_pathway_stats`][synframe.pathways.load_pathway_stats]), or fitted from a synapse table
([`synframe.fit_pathway_stats`][synframe.fit.fit_pathway_stats]). The helpers here are also methods of the ``.syn`` accessor of
the DataArray: ``stats.syn.summary()`` is ``sf.pathways.summary(stats)``.
The JSON layout is connectome-manipulator 1.0.4's (``ConnPropsModel``): what synframe writes
loads with CM's ``AbstractModel.model_from_file`` (``"model": "ConnPropsModel"``, ``prop_cov``,
an explicit cell for every listed (src, tgt) pair; [`cm_problems`][synframe.pathways.cm_problems] lists what CM would refuse),
and what CM writes loads here. The round trip is lossless: every key of every cell and every
top-level key (``prop_cov: {}``, ``data_keys``, ``__version_info__`` …) comes back out unchanged;
keys CM needs (``model``, ``prop_cov``) are added when missing. The pathway property (``by``) is
kept in the extra key ``"__synframe__": {"by": ...}``, which CM ignores (keys starting with
``__`` are metadata to it).

A cell may be missing (``None``) when a wildcard covers it: a ``"*"`` source or target type
applies to every type without its own entry (exact beats ``(src, "*")`` beats ``("*", tgt)``
beats ``("*", "*")``). Wildcards are used only where the stats spell them out.

(Over 400 lines on purpose: one concept -- the stats DataArray, its validation, its JSON round trip
and its views -- that users reach as one namespace, ``sf.pathways``.)
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

if TYPE_CHECKING:
    import pandas as pd

from . import distributions
from ._io import staged_file
from .distributions import CM_TYPES, COPULA_TYPES, N_SYN_PER_CONN, shared_within, spec_problems
from .errors import OptionError, PathwayError, SynframeWarning, format_problems

__all__ = [
    "DIMS",
    "N_SYN_PER_CONN",
    "WILDCARD",
    "check_by",
    "cm_problems",
    "from_dict",
    "kinds",
    "load_pathway_stats",
    "lookup",
    "param",
    "pathway_stats",
    "sample",
    "save_pathway_stats",
    "summary",
    "table",
    "to_dict",
    "validate",
]

DIMS = ("property", "src", "tgt")
WILDCARD = "*"
_KNOWN_TOP = ("src_types", "tgt_types", "prop_stats")
#: the model class name connectome-manipulator reads from the ``"model"`` key
CM_MODEL = "ConnPropsModel"
#: the top-level key with synframe's metadata (CM ignores keys that start with ``__``)
META_KEY = "__synframe__"


def _plain(x):
    """JSON-friendly Python values (numpy scalars/arrays to Python)."""
    if isinstance(x, Mapping):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if hasattr(x, "tolist"):
        return x.tolist()
    return x


def _str_keys(prop_stats: Mapping, problems: list[str]) -> dict:
    """``{property: {src: {tgt: spec}}}`` with str keys (types may be given as numbers: their
    text is what tables' types become); levels that are not dicts and keys that collide once
    made text are problems."""
    out: dict = {}
    for p, by_src in prop_stats.items():
        if str(p) in out:
            problems.append(f"property {p!r} is given twice (as {str(p)!r} and another key)")
            continue
        out[str(p)] = {}
        if not isinstance(by_src, Mapping):
            problems.append(
                f"property {str(p)!r}: expected {{src: {{tgt: spec}}}}, got {type(by_src).__name__}"
            )
            continue
        for s, by_tgt in by_src.items():
            if str(s) in out[str(p)]:
                problems.append(f"property {str(p)!r}: src type {s!r} is given twice")
                continue
            out[str(p)][str(s)] = row = {}
            if not isinstance(by_tgt, Mapping):
                problems.append(f"property {str(p)!r}, src {str(s)!r}: expected {{tgt: spec}}")
                continue
            for t, spec in by_tgt.items():
                if str(t) in row:
                    problems.append(f"property {str(p)!r}, src {str(s)!r}: tgt type {t!r} twice")
                    continue
                row[str(t)] = spec
    return out


def _type_list(types, name: str, problems: list[str]) -> list[str] | None:
    """``src_types`` / ``tgt_types`` as a list of distinct str (None, with a problem, if not)."""
    if isinstance(types, (str, bytes, Mapping)) or not hasattr(types, "__iter__"):
        problems.append(f"{name} must be a list of type names, got {types!r}")
        return None
    out = [str(t) for t in types]
    twice = sorted({t for t in out if out.count(t) > 1})
    if twice:
        problems.append(f"{name} lists {twice} more than once")
        return None
    return out


def pathway_stats(
    prop_stats: Mapping,
    src_types: Sequence[str] | None = None,
    tgt_types: Sequence[str] | None = None,
    *,
    prop_cov: Mapping | None = None,
    by: str | None = None,
    extra: Mapping | None = None,
) -> xr.DataArray:
    """Pathway statistics from the ConnPropsModel nested dict ``prop_stats[property][src][tgt]``.

    Parameters
    ----------
    prop_stats
        ``{property: {src_type: {tgt_type: spec}}}`` (see [`synframe.distributions`][synframe.distributions]).
    src_types, tgt_types
        Type orders (default: as first seen in ``prop_stats``). Every listed type must be covered
        for every property, exactly or by a ``"*"`` wildcard entry.
    prop_cov
        Correlated properties, as in ConnPropsModel: ``{"props": [...], "cov": {src: {tgt:
        correlation matrix}}}`` (unit diagonal, symmetric, positive semi-definite).
    by
        The pathway property: the node property the types are values of (``"synapse_class"``,
        ``"mtype"`` …).
    extra
        Other top-level keys of the model JSON, kept for a lossless round trip.

    Raises
    ------
    PathwayError
        Listing every invalid or missing cell at once.

    Examples
    --------
    >>> import synframe as sf
    >>> exc = {"type": "gamma", "mean": 1.0, "std": 0.5}
    >>> inh = {"type": "gamma", "mean": 2.0, "std": 0.5}
    >>> stats = sf.pathway_stats(
    ...     {"conductance": {"EXC": {"EXC": exc, "INH": exc}, "INH": {"EXC": inh, "INH": inh}}},
    ...     by="synapse_class",
    ... )
    >>> stats.dims, stats.sizes["src"]
    (('property', 'src', 'tgt'), 2)
    >>> print(stats.syn.summary())
    Connection/synapse property distributions between 2x2 'synapse_class' pathways:
      conductance <gamma>
    >>> stats.syn.param("mean").sel(property="conductance", src="INH").values.tolist()
    [2.0, 2.0]
    """
    if not isinstance(prop_stats, Mapping) or not prop_stats:
        raise PathwayError("prop_stats must be a non-empty dict {property: {src: {tgt: spec}}}")
    if by is not None and (not isinstance(by, str) or not by):
        raise OptionError(f"by must be the pathway property's name (a str) or None, got {by!r}")
    problems: list[str] = []
    prop_stats = _str_keys(prop_stats, problems)
    props = list(prop_stats)
    seen_src: list[str] = []
    seen_tgt: list[str] = []
    for by_src in prop_stats.values():
        for s, by_tgt in by_src.items():
            if s not in seen_src:
                seen_src.append(s)
            for t in by_tgt:
                if t not in seen_tgt:
                    seen_tgt.append(t)
    src = _type_list(src_types, "src_types", problems) if src_types is not None else None
    tgt = _type_list(tgt_types, "tgt_types", problems) if tgt_types is not None else None
    src = src if src is not None else [s for s in seen_src if s != WILDCARD]
    tgt = tgt if tgt is not None else [t for t in seen_tgt if t != WILDCARD]
    src_coords = src + ([WILDCARD] if WILDCARD in seen_src and WILDCARD not in src else [])
    tgt_coords = tgt + ([WILDCARD] if WILDCARD in seen_tgt and WILDCARD not in tgt else [])
    unknown_src = [s for s in seen_src if s not in src_coords]
    unknown_tgt = [t for t in seen_tgt if t not in tgt_coords]
    if unknown_src:
        problems.append(f"src types {unknown_src} in prop_stats are not in src_types {src}")
    if unknown_tgt:
        problems.append(f"tgt types {unknown_tgt} in prop_stats are not in tgt_types {tgt}")
    data = np.empty((len(props), len(src_coords), len(tgt_coords)), dtype=object)
    data[:] = None
    for i, p in enumerate(props):
        by_src = prop_stats[p] if isinstance(prop_stats[p], Mapping) else {}
        for j, s in enumerate(src_coords):
            by_tgt = by_src.get(s, {}) if isinstance(by_src.get(s, {}), Mapping) else {}
            for k, t in enumerate(tgt_coords):
                if t in by_tgt:
                    spec = by_tgt[t]
                    for problem in spec_problems(spec):
                        problems.append(f"{p} [{s} -> {t}]: {problem}")
                    data[i, j, k] = copy.deepcopy(dict(spec)) if isinstance(spec, Mapping) else spec
    stats = xr.DataArray(
        data,
        dims=DIMS,
        coords={"property": props, "src": src_coords, "tgt": tgt_coords},
        name="pathway_stats",
        attrs={
            "by": by,
            "prop_cov": _plain(prop_cov) if prop_cov else {},
            "extra": _plain(dict(extra or {})),
        },
    )
    problems += _coverage_problems(stats, src, tgt)
    problems += _cov_problems(stats)
    if problems:
        raise PathwayError(
            format_problems(f"invalid pathway statistics ({len(problems)} problem(s))", problems)
        )
    return stats


def _coverage_problems(stats: xr.DataArray, src: Sequence[str], tgt: Sequence[str]) -> list[str]:
    out = []
    cells = Cells(stats)
    for p in stats["property"].values.tolist():
        missing = [(s, t) for s in src for t in tgt if cells(p, s, t) is None]
        if missing:
            shown = ", ".join(f"({s}, {t})" for s, t in missing[:6])
            more = f" and {len(missing) - 6} more" if len(missing) > 6 else ""
            out.append(
                f"property {p!r}: no spec for pathway(s) {shown}{more}; add them or a '*' wildcard entry"
            )
    return out


def _matrix_problem(mat, n: int) -> str | None:
    """What is wrong with one ``prop_cov`` matrix for ``n`` properties (None: a correlation matrix)."""
    try:
        m = np.asarray(mat, dtype="float64")
    except (TypeError, ValueError, OverflowError):
        return f"not a matrix of numbers ({type(mat).__name__})"
    if m.shape != (n, n):
        return f"matrix shape {m.shape}, expected {(n, n)} (one row and column per property)"
    if not np.isfinite(m).all():
        return "has NaN or infinite entries"
    if not np.all(np.diag(m) == 1.0) or not np.array_equal(m, m.T):
        return (
            "must be exactly symmetric with a diagonal of exactly 1.0 "
            "(a correlation matrix; connectome-manipulator checks both exactly)"
        )
    if np.linalg.eigvalsh(m).min() < -1e-10:
        return "not positive semi-definite (no joint distribution has these correlations)"
    return None


def _cov_problems(stats: xr.DataArray) -> list[str]:
    """Every problem of ``attrs["prop_cov"]``: its layout, every matrix (wildcard ones too: they
    are what pathways without their own matrix use), coverage of the listed pathways, and the
    specs the matrices correlate."""
    cov = stats.attrs.get("prop_cov") or {}
    if not cov:
        return []
    if not isinstance(cov, Mapping) or "props" not in cov or "cov" not in cov:
        return ["prop_cov needs 'props' (property names) and 'cov' ({src: {tgt: matrix}})"]
    names = cov["props"]
    if isinstance(names, (str, bytes)) or not isinstance(names, (list, tuple)) or not names:
        return [f"prop_cov 'props' must be a non-empty list of property names, got {names!r}"]
    if not all(isinstance(n, str) for n in names) or len(set(names)) != len(names):
        return [f"prop_cov 'props' must name distinct properties (str), got {list(names)}"]
    names = list(names)
    missing = [p for p in names if p not in stats["property"].values.tolist()]
    if missing:
        return [f"prop_cov properties {missing} are not in prop_stats"]
    mats = cov["cov"]
    if not isinstance(mats, Mapping) or not all(isinstance(v, Mapping) for v in mats.values()):
        return ["prop_cov 'cov' must be {src: {tgt: matrix}}"]
    out = []
    if N_SYN_PER_CONN in names:
        out.append(f"prop_cov cannot correlate '{N_SYN_PER_CONN}'")
    given = [(str(a), str(b), m) for a, row in mats.items() for b, m in row.items()]
    bad = set()
    for a, b, m in given:
        problem = _matrix_problem(m, len(names))
        if problem:
            out.append(f"prop_cov ({a}, {b}): {problem}")
            bad.add((a, b))
    src = [s for s in stats["src"].values.tolist() if s != WILDCARD]
    tgt = [t for t in stats["tgt"].values.tolist() if t != WILDCARD]
    lacking = [(s, t) for s in src for t in tgt if _cov_lookup(mats, s, t) is None]
    if lacking:
        shown = ", ".join(f"({s}, {t})" for s, t in lacking[:6])
        out.append(
            f"prop_cov has no matrix for pathway(s) {shown}"
            + (f" and {len(lacking) - 6} more" if len(lacking) > 6 else "")
            + " (nor a '*' wildcard)"
        )
    cells = Cells(stats)
    pathways = {(s, t) for s in src for t in tgt} | {(a, b) for a, b, _ in given}
    for s, t in sorted(pathways):
        if (s, t) in bad or _cov_lookup(mats, s, t) is None:
            continue
        specs = [cells(p, s, t) for p in names]
        if any(not isinstance(sp, Mapping) for sp in specs):
            continue
        kinds = [sp.get("type") for sp in specs]
        wrong = [k for k in kinds if k not in COPULA_TYPES]
        if wrong:
            out.append(f"prop_cov ({s}, {t}): cannot correlate distribution types {wrong}")
        if len({shared_within(sp) for sp in specs}) > 1:
            out.append(f"prop_cov ({s}, {t}): correlated properties must agree on shared_within")
    return out


def _cov_lookup(mats, s: str, t: str):
    """The prop_cov matrix of pathway (s, t), with the wildcard fallback of the cells."""
    if not isinstance(mats, Mapping):
        return None
    for a, b in ((s, t), (s, WILDCARD), (WILDCARD, t), (WILDCARD, WILDCARD)):
        if isinstance(mats.get(a), Mapping) and b in mats[a]:
            return mats[a][b]
    return None


class Cells:
    """Fast (property, src, tgt) -> spec lookups with wildcard fallback, for one stats array."""

    def __init__(self, stats: xr.DataArray) -> None:
        self.data = stats.values
        self.prop = {p: i for i, p in enumerate(stats["property"].values.tolist())}
        self.src = {s: i for i, s in enumerate(stats["src"].values.tolist())}
        self.tgt = {t: i for i, t in enumerate(stats["tgt"].values.tolist())}

    def __call__(self, prop: str, src: str, tgt: str):
        i = self.prop[prop]
        for s, t in ((src, tgt), (src, WILDCARD), (WILDCARD, tgt), (WILDCARD, WILDCARD)):
            j, k = self.src.get(s), self.tgt.get(t)
            if j is not None and k is not None and self.data[i, j, k] is not None:
                return self.data[i, j, k]
        return None


def check_by(stats: xr.DataArray, by: str) -> None:
    """Refuse ``by`` when the stats record another pathway property (their types are its values)."""
    stored = stats.attrs.get("by")
    if not isinstance(by, str) or not by:
        hint = (
            f"these stats were made for by={stored!r}"
            if isinstance(stored, str) and stored
            else "e.g. by='synapse_class'"
        )
        raise OptionError(
            f"by must be the pathway property: the name (a str) of the node property whose values "
            f"are the types ({hint}), got {by!r}; the types are read from the table's "
            "pre_<by> / post_<by> columns or from types="
        )
    if stored is not None and by != stored:
        raise PathwayError(
            f"the stats are for pathways by {stored!r} (their types are {stored} values), not "
            f"by={by!r}: pass by={stored!r}, or fit/build stats by {by!r} (to apply these to "
            f"{by!r} values on purpose, set stats.attrs['by'] = {by!r})"
        )


def lookup(stats: xr.DataArray, prop: str, src: str, tgt: str):
    """The spec for one pathway, with wildcard fallback; ``None`` if not covered."""
    return Cells(stats)(prop, src, tgt)


def _structure_problems(stats) -> list[str]:
    """What keeps ``stats`` from being laid out as pathway statistics (dims, coordinates)."""
    if not isinstance(stats, xr.DataArray) or tuple(stats.dims) != DIMS:
        return [
            "expected pathway statistics: an xarray.DataArray with dims ('property', 'src', "
            "'tgt') made by sf.pathway_stats / sf.load_pathway_stats / sf.fit_pathway_stats"
        ]
    out = []
    for dim in DIMS:
        if dim not in stats.coords:
            out.append(f"no {dim!r} coordinate (the {dim} names)")
            continue
        values = stats[dim].values.tolist()
        odd = [v for v in values if not isinstance(v, str)]
        if odd:
            out.append(
                f"{dim} coordinates must be str, got {odd[:5]} "
                f"(stats.assign_coords({dim}=[str(v) for v in stats['{dim}'].values]))"
            )
        twice = sorted({str(v) for v in values if values.count(v) > 1})
        if twice:
            out.append(f"{dim} {twice} appear more than once: every {dim} once")
    if stats.sizes["property"] == 0:
        out.append("no properties")
    return out


def _structure(stats) -> xr.DataArray:
    """``stats`` if laid out as pathway statistics, else a [`PathwayError`][synframe.errors.PathwayError] (views use this:
    they show what the cells hold, valid or not)."""
    found = _structure_problems(stats)
    if found:
        raise PathwayError(
            found[0] if len(found) == 1 else format_problems("invalid pathway statistics", found)
        )
    return stats


def _problems(stats) -> list[str]:
    """Every problem of a pathway-statistics DataArray (empty when valid): its layout, every cell
    (``None`` or a valid spec), coverage of the listed types, ``by`` and ``prop_cov``."""
    out = _structure_problems(stats)
    if out:
        return out
    by = stats.attrs.get("by")
    if by is not None and (not isinstance(by, str) or not by):
        out.append(f"attrs['by'] must be the pathway property's name (a str) or None, got {by!r}")
    props = stats["property"].values.tolist()
    src_all, tgt_all = stats["src"].values.tolist(), stats["tgt"].values.tolist()
    values = stats.values
    for i, p in enumerate(props):
        for j, s in enumerate(src_all):
            for k, t in enumerate(tgt_all):
                cell = values[i, j, k]
                if cell is not None:
                    out += [f"{p} [{s} -> {t}]: {m}" for m in spec_problems(cell)]
    if out:
        return out
    src = [s for s in src_all if s != WILDCARD]
    tgt = [t for t in tgt_all if t != WILDCARD]
    return _coverage_problems(stats, src, tgt) + _cov_problems(stats)


def validate(stats) -> xr.DataArray:
    """``stats`` if they are valid pathway statistics, else a [`PathwayError`][synframe.errors.PathwayError] listing every
    problem (what [`pathway_stats`][synframe.pathways.pathway_stats] checks, for DataArrays made or changed by hand too)."""
    found = _problems(stats)
    if found:
        raise PathwayError(
            format_problems(f"invalid pathway statistics ({len(found)} problem(s))", found)
        )
    return stats


def _expanded_cov(stats: xr.DataArray, src: list[str], tgt: list[str]) -> dict:
    """``prop_cov`` with a matrix for every listed (src, tgt) pair (wildcard entries kept too)."""
    cov = copy.deepcopy(stats.attrs.get("prop_cov") or {})
    if not cov:
        return cov
    mats = cov["cov"]
    for s in src:
        for t in tgt:
            if not (isinstance(mats.get(s), Mapping) and t in mats[s]):
                mats.setdefault(s, {})[t] = copy.deepcopy(_cov_lookup(mats, s, t))
    return cov


def to_dict(stats: xr.DataArray) -> dict:
    """The ConnPropsModel dict (``src_types, tgt_types, prop_stats, prop_cov, model`` …) of ``stats``.

    connectome-manipulator needs a cell for every listed (src, tgt) pair: cells covered by a ``"*"``
    wildcard are written out explicitly (the wildcard entries are kept too, for types not listed;
    CM ignores them). A dict read with [`from_dict`][synframe.pathways.from_dict] comes back with every key unchanged.

    Examples
    --------
    >>> import synframe as sf
    >>> d = {"src_types": ["E"], "tgt_types": ["E"], "prop_stats": {"u": {"E": {"E": {"type": "constant", "mean": 0.5, "shared_within": 1.0}}}}, "prop_cov": {}, "model": "ConnPropsModel"}
    >>> sf.pathways.to_dict(sf.pathways.from_dict(d)) == d
    True
    >>> sorted(sf.pathways.to_dict(sf.pathway_stats({"u": {"*": {"*": {"type": "zero"}}}}, ["E"], ["E"]))["prop_stats"]["u"])
    ['*', 'E']
    """
    validate(stats)
    src_all = [str(s) for s in stats["src"].values.tolist()]
    tgt_all = [str(t) for t in stats["tgt"].values.tolist()]
    src = [s for s in src_all if s != WILDCARD]
    tgt = [t for t in tgt_all if t != WILDCARD]
    cells = Cells(stats)
    prop_stats: dict = {}
    for i, p in enumerate(stats["property"].values.tolist()):
        prop_stats[p] = {}
        for j, s in enumerate(src_all):
            row = {}
            for k, t in enumerate(tgt_all):
                cell = stats.values[i, j, k]
                if cell is None and s != WILDCARD and t != WILDCARD:
                    cell = cells(p, s, t)  # a wildcard's spec, written out for CM
                if cell is not None:
                    row[t] = copy.deepcopy(cell)
            if row:
                prop_stats[p][s] = row
    extra = copy.deepcopy(dict(stats.attrs.get("extra") or {}))
    order = extra.pop("_key_order", None)
    meta = dict(extra.pop(META_KEY, None) or {})
    by = stats.attrs.get("by")
    if by is not None:
        meta["by"] = by
    else:
        meta.pop("by", None)
    out = {
        "src_types": src,
        "tgt_types": tgt,
        "prop_stats": prop_stats,
        "prop_cov": _expanded_cov(stats, src, tgt),
    }
    out.update(extra)
    out.setdefault("model", CM_MODEL)
    if meta:
        out[META_KEY] = meta
    if order:
        out = {k: out[k] for k in order if k in out} | {
            k: v for k, v in out.items() if k not in order
        }
    return out


def from_dict(model: Mapping, *, by: str | None = None) -> xr.DataArray:
    """Pathway statistics from a whole ConnPropsModel dict (``{src_types, tgt_types, prop_stats, …}``).

    The pathway property is read from the dict's ``"__synframe__": {"by": ...}`` entry; ``by``
    gives it for dicts without one (and must agree with it otherwise).
    """
    if not isinstance(model, Mapping) or "prop_stats" not in model:
        raise PathwayError(
            "a ConnPropsModel dict needs 'prop_stats' (and usually 'src_types', 'tgt_types')"
        )
    if model.get("model", CM_MODEL) != CM_MODEL:
        raise PathwayError(
            f"'model' is {model['model']!r}: synframe reads connectome-manipulator's {CM_MODEL!r} "
            "models only"
        )
    meta = model.get(META_KEY)
    if meta is not None and not isinstance(meta, Mapping):
        raise PathwayError(f"{META_KEY!r} must be a dict, got {type(meta).__name__}")
    stored = (meta or {}).get("by")
    if by is not None and stored is not None and by != stored:
        raise PathwayError(
            f"the model is for pathways by {stored!r}, not by={by!r}; load it without by= "
            "or fit/build stats for the property you mean"
        )
    if model.get("data_keys"):
        raise PathwayError(
            f"'data_keys' {model['data_keys']!r}: a ConnPropsModel has no data tables (CM would "
            "look for an .h5 file beside the JSON); remove the key"
        )
    extra = {k: v for k, v in model.items() if k not in (*_KNOWN_TOP, "prop_cov")}
    extra["_key_order"] = list(model.keys())
    return pathway_stats(
        model["prop_stats"],
        model.get("src_types"),
        model.get("tgt_types"),
        prop_cov=model.get("prop_cov") or None,
        by=stored if stored is not None else by,
        extra=extra,
    )


def load_pathway_stats(path: str | os.PathLike, *, by: str | None = None) -> xr.DataArray:
    """Load a ConnPropsModel JSON (``{src_types, tgt_types, prop_stats, …}``) as pathway statistics.

    Models written by connectome-manipulator load unchanged (``shared_within`` as 1.0/0.0 or null,
    ``dtype``, one-sided bounds as ``±Infinity``, and any other keys, kept for
    [`save_pathway_stats`][synframe.pathways.save_pathway_stats]). The pathway property is read from the file (synframe writes it);
    ``by`` gives it for files without it (e.g. CM's own).
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
        model = json.loads(raw.decode("utf-8"))
    except OSError as exc:
        raise PathwayError(f"cannot read pathway statistics from {path}: {exc}") from None
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # JSONDecodeError: ValueError
        raise PathwayError(
            f"cannot read pathway statistics from {path}: not a ConnPropsModel JSON file "
            f"({type(exc).__name__}: {str(exc)[:120]}); give the model's .json file"
        ) from None
    try:
        stats = from_dict(model, by=by)
    except PathwayError as exc:
        raise PathwayError(f"{path}: {exc}") from None
    stats.attrs["file"] = str(path)
    stats.attrs["file_sha256"] = hashlib.sha256(raw).hexdigest()
    return stats


def save_pathway_stats(stats: xr.DataArray, path: str | os.PathLike) -> Path:
    """Write ``stats`` as ConnPropsModel JSON, atomically (temporary file, then ``os.replace``).

    The file loads in connectome-manipulator 1.0.4 (``AbstractModel.model_from_file``). Models using
    distribution types CM 1.0.4 lacks (``lognormal``, ``uniform``, ``exponential``) are written
    with a [`SynframeWarning`][synframe.errors.SynframeWarning] naming them.

    A model whose source or target types are only the ``"*"`` wildcard is written with
    ``src_types`` / ``tgt_types`` empty and a [`SynframeWarning`][synframe.errors.SynframeWarning]: CM
    loads it but has no pathway to draw from (it knows no wildcards), and synframe cannot
    invent the types. Give them (``sf.pathway_stats(..., src_types=[...], tgt_types=[...])``)
    to write every pathway out explicitly.
    """
    import warnings

    path = Path(path)
    model = _plain(to_dict(stats))
    problems = cm_problems(model)
    text = json.dumps(model, indent=2)
    with staged_file(path) as tmp:
        tmp.write_text(text)
    lacking = [k for k in ("src_types", "tgt_types") if not model.get(k)]
    if lacking:
        warnings.warn(
            f"{path}: {' and '.join(lacking)} are empty (the model has only '*' wildcard types): "
            "connectome-manipulator loads it but cannot draw any pathway from it; list the "
            "types (sf.pathway_stats(..., src_types=[...], tgt_types=[...])) to write them out",
            SynframeWarning,
            stacklevel=2,
        )
    if problems:
        warnings.warn(
            f"{path} is a valid synframe model, but connectome-manipulator 1.0.4 cannot load it: "
            + "; ".join(problems[:3])
            + (f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""),
            SynframeWarning,
            stacklevel=2,
        )
    return path


def cm_problems(model: Mapping) -> list[str]:
    """What connectome-manipulator 1.0.4 would refuse when loading ``model`` (a ConnPropsModel dict).

    The checks of ``AbstractModel.model_from_dict`` and ``ConnPropsModel.__init__`` (which stop at
    the first failure; this lists them all). An empty list: CM loads it. Checked against CM itself
    on a corpus of models (``tests/data/cm``).

    Examples
    --------
    >>> import synframe as sf
    >>> stats = sf.pathway_stats({"g": {"E": {"E": {"type": "gamma", "mean": 1.0, "std": 0.5}}}})
    >>> sf.pathways.cm_problems(sf.pathways.to_dict(stats))
    []
    >>> sf.pathways.cm_problems({"src_types": ["E"], "tgt_types": ["E"], "prop_stats": {}})
    ["no 'model' key (CM: 'Model type not found!')"]
    """
    if not isinstance(model, Mapping):
        return [f"expected a dict, got {type(model).__name__}"]
    out = []
    if "model" not in model:
        out.append("no 'model' key (CM: 'Model type not found!')")
    elif model["model"] != CM_MODEL:
        out.append(f"'model' is {model['model']!r}, not {CM_MODEL!r}")
    missing = [k for k in _KNOWN_TOP if k not in model]
    if missing:
        return [*out, f"missing parameters {missing}"]
    if model.get("data_keys"):
        out.append("'data_keys' needs a supplementary .h5 data file; a ConnPropsModel has none")
    ps, src, tgt = model["prop_stats"], model["src_types"], model["tgt_types"]
    if not isinstance(ps, Mapping):
        return [*out, "'prop_stats' must be a dict"]
    for name, types in (("src_types", src), ("tgt_types", tgt)):
        if not isinstance(types, (list, tuple)):
            out.append(f"'{name}' must be a list")
    if any(not isinstance(v, Mapping) for v in ps.values()):
        return [*out, "every prop_stats[property] must be a dict"]
    if not isinstance(src, (list, tuple)) or not isinstance(tgt, (list, tuple)):
        return out
    for p, by_src in ps.items():
        lacking = [s for s in src if s not in by_src]
        if lacking:
            out.append(f"{p}: source types {lacking} missing")
            continue
        for s in src:
            if not isinstance(by_src[s], Mapping):
                out.append(f"{p} [{s}]: must be a dict")
                continue
            lacking = [t for t in tgt if t not in by_src[s]]
            if lacking:
                out.append(f"{p} [{s}]: target types {lacking} missing")
                continue
            for t in tgt:
                out += [f"{p} [{s} -> {t}]: {m}" for m in _cm_cell_problems(by_src[s][t])]
    out += _cm_cov_problems(model.get("prop_cov", {}), list(ps), src, tgt)
    return out


def _cm_cell_problems(cell) -> list[str]:
    if not isinstance(cell, Mapping) or "type" not in cell:
        return ["no distribution 'type'"]
    if cell["type"] not in CM_TYPES:
        return [f"distribution type {cell['type']!r} is not one of CM 1.0.4's {list(CM_TYPES)}"]
    need = distributions.DISTRIBUTIONS[cell["type"]]
    lacking = [a for a in need if a not in cell]
    if lacking:
        return [f"attributes {lacking} missing"]
    out = []
    if any(hasattr(cell[a], "__iter__") and len(cell[a]) == 0 for a in need):
        out.append("empty attribute")
    if "p" in cell:
        try:
            if not np.isclose(np.sum(cell["p"]), 1.0):
                out.append("'p' does not sum to 1")
        except TypeError:
            out.append("'p' is not numbers")
    if "p" in cell and "val" in cell:
        try:
            if len(cell["p"]) != len(cell["val"]):
                out.append("'p' and 'val' differ in length")
        except TypeError:
            out.append("'p' and 'val' must be lists")
    if "lower_bound" in cell and "upper_bound" in cell:
        try:
            if not cell["lower_bound"] <= cell["upper_bound"]:
                out.append("lower_bound > upper_bound")
        except TypeError:
            out.append("bounds must be numbers")
    return out


def _cm_cov_problems(cov, props: list, src, tgt) -> list[str]:
    if not isinstance(cov, Mapping):
        return ["'prop_cov' must be a dict"]
    if not cov:
        return []
    if "props" not in cov or "cov" not in cov:
        return ["'prop_cov' needs 'props' and 'cov'"]
    names = cov["props"]
    if not isinstance(names, (list, tuple)) or not names:
        return ["'prop_cov' 'props' is empty"]
    if any(n not in props for n in names):
        return ["'prop_cov' 'props' names properties not in prop_stats"]
    if N_SYN_PER_CONN in names:
        return [f"'prop_cov' cannot include {N_SYN_PER_CONN!r}"]
    mats = cov["cov"]
    out = []
    for s in src:
        if not isinstance(mats, Mapping) or s not in mats or not isinstance(mats[s], Mapping):
            out.append(f"'prop_cov' has no source type {s!r}")
            continue
        for t in tgt:
            if t not in mats[s]:
                out.append(f"'prop_cov' has no target type {t!r} for source {s!r}")
                continue
            try:
                m = np.array(mats[s][t], dtype="float64")
            except (TypeError, ValueError):
                out.append(f"'prop_cov' ({s}, {t}) is not a matrix")
                continue
            if m.ndim != 2 or not np.all(np.array(m.shape) == len(names)):
                out.append(f"'prop_cov' ({s}, {t}) size mismatch")
            elif not np.all(np.diag(m) == 1.0) or not np.array_equal(m, m.T):
                out.append(f"'prop_cov' ({s}, {t}) needs ones on the diagonal and exact symmetry")
    return out


def summary(stats: xr.DataArray) -> str:
    """A readable description of the model, as connectome-manipulator logs it.

    It describes what the cells hold, valid or not (it is the stats' repr): invalid cells show
    as ``<invalid>``; [`validate`][synframe.pathways.validate] says what is wrong with them. The ``"*"`` wildcard counts
    as one type on its side (and the text says what it stands for).
    """
    _structure(stats)
    src, tgt = stats["src"].values.tolist(), stats["tgt"].values.tolist()
    parts = []
    for i, p in enumerate(stats["property"].values.tolist()):
        cells = [c for c in np.ravel(stats.values[i]) if c is not None]
        good = [c for c in cells if isinstance(c, Mapping)]
        kinds = {str(c.get("type")) for c in good} | (
            {"invalid"} if len(good) < len(cells) else set()
        )
        dtypes = "/".join(sorted({str(c["dtype"]) for c in good if c.get("dtype") is not None}))
        parts.append(f"{p} <{'/'.join(sorted(kinds))}{f' ({dtypes})' if dtypes else ''}>")
    what = stats.attrs.get("by") or "type"
    text = (
        f"Connection/synapse property distributions between {len(src)}x{len(tgt)} '{what}' pathways"
    )
    if WILDCARD in src or WILDCARD in tgt:  # counted as one type each: the fallback of any type
        text += f" ('{WILDCARD}' stands for any type without its own entry)"
    text += ":\n  "
    text += "; ".join(parts)
    cov = stats.attrs.get("prop_cov") or {}
    if cov:
        names = cov.get("props") if isinstance(cov, Mapping) else None
        shown = ", ".join(map(str, names)) if isinstance(names, (list, tuple)) else "<invalid>"
        text += f"\n  Correlated properties: {shown}"
    return text


def param(stats: xr.DataArray, name: str) -> xr.DataArray:
    """A float view of one parameter (``"mean"``, ``"std"`` …) per cell; NaN where absent.

    A name no cell has is an error naming the parameters that exist.
    """
    _structure(stats)
    cells = [c for c in stats.values.ravel() if isinstance(c, Mapping)]
    numeric = sorted(
        {
            k
            for c in cells
            for k, v in c.items()
            if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
        }
    )
    if name not in numeric:
        raise PathwayError(
            f"no cell has a numeric parameter {name!r}; the parameters are {numeric}"
            + (" (kinds() gives each cell's distribution type)" if name == "type" else "")
        )
    vals = np.vectorize(
        lambda c: (
            float(c[name])
            if isinstance(c, Mapping)
            and isinstance(c.get(name), (int, float, np.integer, np.floating))
            and not isinstance(c.get(name), bool)
            else np.nan
        ),
        otypes=[float],
    )(stats.values)
    return xr.DataArray(vals, dims=DIMS, coords=stats.coords, name=name)


def kinds(stats: xr.DataArray) -> xr.DataArray:
    """The distribution type of each cell (``""`` where absent)."""
    _structure(stats)
    vals = np.vectorize(
        lambda c: c.get("type", "") if isinstance(c, Mapping) else "", otypes=[object]
    )(stats.values)
    return xr.DataArray(vals, dims=DIMS, coords=stats.coords, name="type")


def sample(
    stats: xr.DataArray, prop: str, src: str, tgt: str, n: int = 1000, *, seed: int = 0
) -> np.ndarray:
    """``n`` values of one (property, pathway) cell (keyed on 0..n-1: reproducible).

    Values, bounds and dtypes are connectome-manipulator's; ``n_syn_per_conn`` is rounded and at
    least 1, as CM draws synapses per connection.

    Examples
    --------
    >>> import synframe as sf
    >>> stats = sf.pathway_stats({"u": {"E": {"E": {"type": "uniform", "min": 0.0, "max": 1.0}}}})
    >>> x = stats.syn.sample("u", "E", "E", n=10_000, seed=1)
    >>> bool(0 <= x.min() and x.max() <= 1), round(float(x.mean()), 1)
    (True, 0.5)
    """
    _structure(stats)
    props = stats["property"].values.tolist()
    if not isinstance(prop, str) or prop not in props:
        raise OptionError(f"prop {prop!r} is not a property of the stats; they have {props}")
    for name, value in (("src", src), ("tgt", tgt)):
        if not isinstance(value, str):
            raise OptionError(f"{name} must be a type name (str), got {value!r}")
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 0:
        raise OptionError(f"n must be a non-negative int (how many values), got {n!r}")
    seed = distributions.resolve_seed(seed)
    spec = lookup(stats, prop, src, tgt)
    if spec is None:
        raise PathwayError(
            f"no spec for {prop!r} on pathway ({src}, {tgt}): the stats have src types "
            f"{stats['src'].values.tolist()} and tgt types {stats['tgt'].values.tolist()}"
        )
    distributions.validate_spec(spec, f"{prop} [{src} -> {tgt}]")
    idx = np.arange(int(n), dtype=np.int64)
    u = distributions.keyed_uniforms(seed, prop, idx)
    return distributions.sample(spec, u, n_syn_per_conn=prop == N_SYN_PER_CONN)


def _short(spec) -> str:
    """A cell as a short string: ``gamma(mean=1, std=0.5) [0, 10] int shared``."""
    if not isinstance(spec, Mapping):
        return ""
    params = ", ".join(
        f"{k}={v:g}" if isinstance(v, (int, float)) and not isinstance(v, bool) else f"{k}={v}"
        for k, v in spec.items()
        if k not in ("type", "shared_within", "lower_bound", "upper_bound", "dtype")
    )
    text = f"{spec.get('type')}({params})"
    lo, hi = spec.get("lower_bound"), spec.get("upper_bound")
    if lo is not None or hi is not None:
        text += f" [{'' if lo is None else f'{lo:g}'}, {'' if hi is None else f'{hi:g}'}]"
    if spec.get("dtype") is not None:
        text += f" {spec['dtype']}"
    return text + (" per connection" if shared_within(spec) else " per synapse")


def table(stats: xr.DataArray) -> pd.DataFrame:
    """The model as a table: one row per property, one column per pathway ``src -> tgt``.

    Examples
    --------
    >>> import synframe as sf
    >>> t = sf.pathways.table(sf.datasets.example_pathway_stats())
    >>> t.loc["conductance", "inhibitory_neuron -> excitatory_neuron"]
    'gamma(mean=2, std=0.5) per synapse'
    """
    import pandas as pd

    _structure(stats)
    props = stats["property"].values.tolist()
    src, tgt = stats["src"].values.tolist(), stats["tgt"].values.tolist()
    columns = {}
    for j, s in enumerate(src):
        for k, t in enumerate(tgt):
            cells = [_short(stats.values[i, j, k]) for i in range(len(props))]
            if any(cells):
                columns[f"{s} -> {t}"] = cells
    out = pd.DataFrame(columns, index=pd.Index(props, name="property"))
    out.columns.name = f"{stats.attrs.get('by') or 'type'}: src -> tgt"
    return out
