"""Pathway statistics: an ``xarray.DataArray`` over ``("property", "src", "tgt")``, one spec per cell.

Built from the ConnPropsModel / obi-one nested dict (:func:`pathway_stats`, or :func:`from_dict` for a
whole model), loaded from its JSON (:func:`load_pathway_stats`), or fitted from a synapse table
(:func:`synframe.fit_pathway_stats`). The helpers here are also methods of the ``.syn`` accessor of
the DataArray: ``stats.syn.summary()`` is ``sf.pathways.summary(stats)``.
The round trip with the JSON layout is lossless: every key of every cell and every top-level key
(``model``, ``prop_cov`` …) comes back out unchanged.

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
from .distributions import COPULA_TYPES, shared_within, spec_problems
from .errors import PathwayError, format_problems

__all__ = [
    "DIMS",
    "N_SYN_PER_CONN",
    "WILDCARD",
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
#: connectome-manipulator's structural property (synapses per connection): kept, never drawn
N_SYN_PER_CONN = "n_syn_per_conn"
_KNOWN_TOP = ("src_types", "tgt_types", "prop_stats")


def _plain(x):
    """JSON-friendly Python values (numpy scalars/arrays to Python)."""
    if isinstance(x, Mapping):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if hasattr(x, "tolist"):
        return x.tolist()
    return x


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
        ``{property: {src_type: {tgt_type: spec}}}`` (see :mod:`synframe.distributions`).
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
    problems: list[str] = []
    props = [str(p) for p in prop_stats]
    prop_stats = {str(p): v for p, v in prop_stats.items()}
    seen_src: list[str] = []
    seen_tgt: list[str] = []
    for p, by_src in prop_stats.items():
        if not isinstance(by_src, Mapping):
            problems.append(
                f"property {p!r}: expected {{src: {{tgt: spec}}}}, got {type(by_src).__name__}"
            )
            continue
        for s, by_tgt in by_src.items():
            if str(s) not in seen_src:
                seen_src.append(str(s))
            if not isinstance(by_tgt, Mapping):
                problems.append(f"property {p!r}, src {s!r}: expected {{tgt: spec}}")
                continue
            for t in by_tgt:
                if str(t) not in seen_tgt:
                    seen_tgt.append(str(t))
    src = (
        [str(s) for s in src_types]
        if src_types is not None
        else [s for s in seen_src if s != WILDCARD]
    )
    tgt = (
        [str(t) for t in tgt_types]
        if tgt_types is not None
        else [t for t in seen_tgt if t != WILDCARD]
    )
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


def _cov_problems(stats: xr.DataArray) -> list[str]:
    cov = stats.attrs.get("prop_cov") or {}
    if not cov:
        return []
    out = []
    if "props" not in cov or "cov" not in cov:
        return ["prop_cov needs 'props' (property names) and 'cov' ({src: {tgt: matrix}})"]
    names = list(cov["props"])
    missing = [p for p in names if p not in stats["property"].values]
    if missing:
        return [f"prop_cov properties {missing} are not in prop_stats"]
    if N_SYN_PER_CONN in names:
        out.append(f"prop_cov cannot correlate '{N_SYN_PER_CONN}'")
    src = [s for s in stats["src"].values if s != WILDCARD]
    tgt = [t for t in stats["tgt"].values if t != WILDCARD]
    for s in src:
        for t in tgt:
            mat = cov["cov"].get(s, {}).get(t) if isinstance(cov["cov"].get(s), Mapping) else None
            if mat is None:
                out.append(f"prop_cov has no matrix for pathway ({s}, {t})")
                continue
            m = np.asarray(mat, dtype="float64")
            if m.shape != (len(names), len(names)):
                out.append(
                    f"prop_cov ({s}, {t}): matrix shape {m.shape}, expected {(len(names),) * 2}"
                )
                continue
            if not np.allclose(np.diag(m), 1.0) or not np.allclose(m, m.T):
                out.append(
                    f"prop_cov ({s}, {t}): must be symmetric with unit diagonal (a correlation matrix)"
                )
            elif np.linalg.eigvalsh(m).min() < -1e-10:
                out.append(f"prop_cov ({s}, {t}): not positive semi-definite")
            specs = [lookup(stats, p, s, t) for p in names]
            if any(sp is None for sp in specs):
                continue
            kinds = [sp["type"] for sp in specs]
            bad = [k for k in kinds if k not in COPULA_TYPES]
            if bad:
                out.append(f"prop_cov ({s}, {t}): cannot correlate distribution types {bad}")
            if len({shared_within(sp) for sp in specs}) > 1:
                out.append(
                    f"prop_cov ({s}, {t}): correlated properties must agree on shared_within"
                )
    return out


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


def lookup(stats: xr.DataArray, prop: str, src: str, tgt: str):
    """The spec for one pathway, with wildcard fallback; ``None`` if not covered."""
    return Cells(stats)(prop, src, tgt)


def validate(stats) -> xr.DataArray:
    """``stats`` if it is a valid pathway-statistics DataArray, else a clear error."""
    if not isinstance(stats, xr.DataArray) or tuple(stats.dims) != DIMS:
        raise PathwayError(
            "expected pathway statistics: an xarray.DataArray with dims ('property', 'src', 'tgt') "
            "made by sf.pathway_stats / sf.load_pathway_stats / sf.fit_pathway_stats"
        )
    return stats


def to_dict(stats: xr.DataArray) -> dict:
    """The ConnPropsModel dict (``src_types, tgt_types, prop_stats`` …) of ``stats``; lossless.

    Examples
    --------
    >>> import synframe as sf
    >>> d = {"src_types": ["E"], "tgt_types": ["E"], "prop_stats": {"u": {"E": {"E": {"type": "constant", "mean": 0.5, "shared_within": 1.0}}}}}
    >>> sf.pathways.to_dict(sf.pathways.from_dict(d)) == d
    True
    """
    validate(stats)
    src = [s for s in stats["src"].values.tolist()]
    tgt = [t for t in stats["tgt"].values.tolist()]
    prop_stats: dict = {}
    for i, p in enumerate(stats["property"].values.tolist()):
        prop_stats[p] = {}
        for j, s in enumerate(src):
            row = {
                t: copy.deepcopy(stats.values[i, j, k])
                for k, t in enumerate(tgt)
                if stats.values[i, j, k] is not None
            }
            if row:
                prop_stats[p][s] = row
    extra = dict(stats.attrs.get("extra") or {})
    out = {
        "src_types": [s for s in src if s != WILDCARD],
        "tgt_types": [t for t in tgt if t != WILDCARD],
        "prop_stats": prop_stats,
    }
    if stats.attrs.get("prop_cov"):
        out["prop_cov"] = copy.deepcopy(stats.attrs["prop_cov"])
    order = extra.pop("_key_order", None)
    out.update(extra)
    if order:
        out = {k: out[k] for k in order if k in out} | {
            k: v for k, v in out.items() if k not in order
        }
    return out


def from_dict(model: Mapping) -> xr.DataArray:
    """Pathway statistics from a whole ConnPropsModel dict (``{src_types, tgt_types, prop_stats, …}``)."""
    if not isinstance(model, Mapping) or "prop_stats" not in model:
        raise PathwayError(
            "a ConnPropsModel dict needs 'prop_stats' (and usually 'src_types', 'tgt_types')"
        )
    extra = {k: v for k, v in model.items() if k not in (*_KNOWN_TOP, "prop_cov")}
    extra["_key_order"] = list(model.keys())
    return pathway_stats(
        model["prop_stats"],
        model.get("src_types"),
        model.get("tgt_types"),
        prop_cov=model.get("prop_cov") or None,
        extra=extra,
    )


def load_pathway_stats(path: str | os.PathLike) -> xr.DataArray:
    """Load a ConnPropsModel JSON (``{src_types, tgt_types, prop_stats, …}``) as pathway statistics.

    Fitted connectome-manipulator models load unchanged (``shared_within`` as 1.0/0.0, ``dtype``,
    bounds, and any other keys are kept for :func:`save_pathway_stats`).
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
        stats = from_dict(model)
    except PathwayError as exc:
        raise PathwayError(f"{path}: {exc}") from None
    stats.attrs["file"] = str(path)
    stats.attrs["file_sha256"] = hashlib.sha256(raw).hexdigest()
    return stats


def save_pathway_stats(stats: xr.DataArray, path: str | os.PathLike) -> Path:
    """Write ``stats`` as ConnPropsModel JSON, atomically (temporary file, then ``os.replace``)."""
    path = Path(path)
    text = json.dumps(_plain(to_dict(stats)), indent=2)
    with staged_file(path) as tmp:
        tmp.write_text(text)
    return path


def summary(stats: xr.DataArray) -> str:
    """A readable description of the model, as connectome-manipulator logs it."""
    validate(stats)
    src = [s for s in stats["src"].values if s != WILDCARD]
    tgt = [t for t in stats["tgt"].values if t != WILDCARD]
    parts = []
    for i, p in enumerate(stats["property"].values):
        cells = [c for c in stats.values[i].ravel() if c is not None]
        kinds = "/".join(sorted({c["type"] for c in cells}))
        dtypes = "/".join(sorted({str(c["dtype"]) for c in cells if c.get("dtype") is not None}))
        parts.append(f"{p} <{kinds}{f' ({dtypes})' if dtypes else ''}>")
    what = stats.attrs.get("by") or "type"
    text = f"Connection/synapse property distributions between {len(src)}x{len(tgt)} '{what}' pathways:\n  "
    text += "; ".join(parts)
    cov = stats.attrs.get("prop_cov") or {}
    if cov:
        text += f"\n  Correlated properties: {', '.join(cov['props'])}"
    return text


def param(stats: xr.DataArray, name: str) -> xr.DataArray:
    """A float view of one parameter (``"mean"``, ``"std"`` …) per cell; NaN where absent."""
    validate(stats)
    vals = np.vectorize(
        lambda c: (
            float(c[name])
            if isinstance(c, Mapping)
            and isinstance(c.get(name), (int, float))
            and not isinstance(c.get(name), bool)
            else np.nan
        ),
        otypes=[float],
    )(stats.values)
    return xr.DataArray(vals, dims=DIMS, coords=stats.coords, name=name)


def kinds(stats: xr.DataArray) -> xr.DataArray:
    """The distribution type of each cell (``""`` where absent)."""
    validate(stats)
    vals = np.vectorize(lambda c: c["type"] if isinstance(c, Mapping) else "", otypes=[object])(
        stats.values
    )
    return xr.DataArray(vals, dims=DIMS, coords=stats.coords, name="type")


def sample(
    stats: xr.DataArray, prop: str, src: str, tgt: str, n: int = 1000, *, seed: int = 0
) -> np.ndarray:
    """``n`` values of one (property, pathway) cell (keyed on 0..n-1: reproducible).

    Examples
    --------
    >>> import synframe as sf
    >>> stats = sf.pathway_stats({"u": {"E": {"E": {"type": "uniform", "min": 0.0, "max": 1.0}}}})
    >>> x = stats.syn.sample("u", "E", "E", n=10_000, seed=1)
    >>> bool(0 <= x.min() and x.max() <= 1), round(float(x.mean()), 1)
    (True, 0.5)
    """
    validate(stats)
    spec = lookup(stats, prop, src, tgt)
    if spec is None:
        raise PathwayError(f"no spec for {prop!r} on pathway ({src}, {tgt})")
    idx = np.arange(int(n), dtype=np.int64)
    return distributions.sample(spec, distributions.keyed_uniforms(seed, prop, idx))


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

    validate(stats)
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
