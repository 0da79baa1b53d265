"""``clean``: drop autapses, background partners, low scores, duplicates and far-away synapses."""

from __future__ import annotations

import copy
import logging
import numbers
from typing import NamedTuple

import numpy as np
import pandas as pd

from . import _neurons, _spatial
from ._validation import run_schema, stage_schema
from .errors import OptionError, SchemaError
from .schemas import SynapseTable
from .units import length_nm, neuron_scale_nm

__all__ = ["clean"]

log = logging.getLogger("synframe")

#: the rules of ``clean`` in the order they run; each counts the rows it removed
RULES = ("duplicates", "autapses", "background", "low_score", "too_far")


def _check_min_score(syn: pd.DataFrame, min_score) -> float | None:
    if min_score is None:
        return None
    if (
        isinstance(min_score, bool)
        or not isinstance(min_score, numbers.Real)
        or not np.isfinite(min_score)
    ):
        raise OptionError(f"min_score must be a finite number (e.g. 50), got {min_score!r}")
    if min_score < 0:
        raise OptionError(f"min_score must not be negative, got {min_score!r}")
    if SynapseTable.cleft_score not in syn:
        raise SchemaError(
            f"min_score={min_score} needs a '{SynapseTable.cleft_score}' column, which this table "
            "lacks; fetch with a source that has cleft scores or pass min_score=None"
        )
    return float(min_score)


def clean(
    syn: pd.DataFrame,
    *,
    autapses: bool = True,
    background: bool = True,
    min_score: float | None = None,
    dedupe: bool = True,
    neurons=None,
    max_distance: str | float | None = "10 um",
    return_removed: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """Drop autapses, background partners, low-confidence, duplicate and far-away synapses.

    Returns a new table; ``syn`` is never modified. How many rows each rule removed is logged and
    recorded in ``attrs["history"]`` (see [`synframe.history`][synframe.reports.history]); ``return_removed=True`` also
    hands back the removed rows themselves, each with the rule that removed it.

    Parameters
    ----------
    syn
        A synapse table ([`SynapseTable`][synframe.schemas.SynapseTable]), positions in nm.
    autapses
        Drop synapses with ``pre == post``.
    background
        Drop synapses whose ``pre`` or ``post`` is 0 (the background segment).
    min_score
        Keep only ``cleft_score >= min_score`` (Buhmann et al. used 30, FlyWire analyses 50).
        ``None`` keeps every score.
    dedupe
        Keep the first row of each synapse ``id``.
    neurons
        navis neurons (skeletons, meshes or dotprops, in any length units). A synapse is dropped
        when it lies farther than ``max_distance`` from the neuron it belongs to: the presynaptic
        position for the neuron's presynapses, the postsynaptic position for its postsynapses.
        Synapses of neurons not given here are kept.
    max_distance
        The distance threshold: a quantity string (``"10 um"``) or a number in nm. ``None`` skips the
        distance rule.
    return_removed
        Also return the removed rows.

    Returns
    -------
    pandas.DataFrame or (pandas.DataFrame, pandas.DataFrame)
        The kept rows (original index), validated as [`CleanSynapses`][synframe.schemas.CleanSynapses];
        with ``return_removed``, also the removed rows (original index) with a categorical
        ``reason`` column: the first rule, in the order ``duplicates, autapses, background,
        low_score, too_far``, that removed each.

    Examples
    --------
    >>> import synframe as sf
    >>> syn = sf.datasets.example_synapses()
    >>> out = sf.clean(syn, neurons=sf.datasets.example_neuron(), max_distance="10 um")
    >>> len(syn), len(out)
    (2424, 2424)
    >>> out.attrs["history"][-1]["removed"]
    {'duplicates': 0, 'autapses': 0, 'background': 0, 'low_score': 0, 'too_far': 0}
    >>> kept, removed = sf.clean(syn, neurons=sf.datasets.example_neuron(), max_distance="1 um",
    ...                          return_removed=True)
    >>> len(kept) + len(removed) == len(syn), removed["reason"].value_counts().to_dict()
    (True, {'too_far': 405, 'duplicates': 0, 'autapses': 0, 'background': 0, 'low_score': 0})
    """
    run_schema(syn, stage_schema("synapses"), "SynapseTable (input of clean)")
    if not isinstance(return_removed, bool):
        raise OptionError(f"return_removed must be True or False, got {return_removed!r}")
    n = len(syn)
    rules = rule_codes(
        syn, autapses=autapses, background=background, min_score=min_score, dedupe=dedupe,
        neurons=neurons, max_distance=max_distance,
    )  # fmt: skip
    keep, reason, removed, unchecked = rules.keep, rules.reason, rules.removed, rules.unchecked

    # a copy either way (never a view of syn); with nothing removed the index stays as it is (a
    # RangeIndex stays one: 8 bytes a row less than the kept labels)
    out = syn.copy() if keep.all() else syn.loc[keep]
    attrs = copy.deepcopy(syn.attrs)
    attrs["units"] = "nm"
    record = {
        "stage": "clean",
        "rows_in": n,
        "rows_out": int(keep.sum()),
        "removed": removed,
        "options": {
            "autapses": autapses,
            "background": background,
            "min_score": rules.min_score,
            "dedupe": dedupe,
            "max_distance_nm": rules.max_distance_nm if neurons is not None else None,
            "neurons": rules.neurons,
        },
    }
    if unchecked is not None:
        record["not_near_given_neurons"] = unchecked
    attrs.setdefault("history", []).append(record)
    out.attrs = attrs

    parts = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in removed.items() if v)
    log.info("clean: %d -> %d synapses (removed: %s)", n, record["rows_out"], parts or "none")
    if unchecked:
        log.info(
            "clean: %d synapses belong to neurons not given in `neurons`; their distance was not checked",
            unchecked,
        )

    drop_checks = tuple(
        name for name, on in (("no_autapses", autapses), ("no_background", background)) if not on
    )
    # ids are unique by construction after dedupe: not hashed a second time by the schema
    out = run_schema(
        out, stage_schema("clean", drop_checks=drop_checks, unique_ids=False), "CleanSynapses"
    )
    if not return_removed:
        return out
    dropped = syn.loc[~keep].copy()
    dropped["reason"] = pd.Categorical.from_codes(reason[~keep] - 1, categories=list(RULES))
    dropped.attrs = copy.deepcopy(attrs)
    return out, dropped


class Rules(NamedTuple):
    """What ``clean``'s rules decided for each row, and the options as they were resolved."""

    keep: np.ndarray
    reason: np.ndarray
    removed: dict[str, int]
    unchecked: int | None
    min_score: float | None
    max_distance_nm: float | None
    neurons: int | None


def rule_codes(
    syn: pd.DataFrame,
    *,
    autapses: bool = True,
    background: bool = True,
    min_score: float | None = None,
    dedupe: bool = True,
    neurons=None,
    max_distance: str | float | None = "10 um",
) -> Rules:
    """The rules of ``clean`` on a valid table, without building a table.

    ``keep`` is a boolean per row; ``reason`` is 0 for kept rows, else 1 + the index in ``RULES`` of the first rule that removed
    the row; ``removed`` counts rows per rule; ``unchecked`` is the number of kept rows of neurons
    not in ``neurons`` (``None`` when no distance was checked). Options are checked as ``clean``
    checks them (``sf.dask.clean`` marks each partition with this).
    """
    score = _check_min_score(syn, min_score)
    threshold = None if max_distance is None else length_nm(max_distance, name="max_distance")
    if neurons is not None:
        neurons = _neurons.as_neuron_list(neurons)
    n = len(syn)
    keep = np.ones(n, dtype=bool)
    reason = np.zeros(n, dtype=np.int8)
    removed = dict.fromkeys(RULES, 0)
    pre = syn[SynapseTable.pre].to_numpy()
    post = syn[SynapseTable.post].to_numpy()

    def drop(rule: str, bad: np.ndarray) -> None:
        hit = keep & bad
        removed[rule] = int(hit.sum())
        keep[hit] = False
        reason[hit] = RULES.index(rule) + 1

    if dedupe:
        drop("duplicates", _repeated_ids(syn[SynapseTable.id]))
    if autapses:
        drop("autapses", pre == post)
    if background:
        drop("background", (pre == 0) | (post == 0))
    if score is not None:
        drop("low_score", ~(syn[SynapseTable.cleft_score].to_numpy(dtype="float64") >= score))
    unchecked = None
    if neurons is not None and threshold is not None:
        too_far, checked = _too_far(syn, neurons, threshold)
        drop("too_far", too_far)
        unchecked = int((keep & ~checked).sum())
    return Rules(
        keep,
        reason,
        removed,
        unchecked,
        score,
        threshold,
        None if neurons is None else len(neurons),
    )


def _repeated_ids(ids: pd.Series) -> np.ndarray:
    """``ids.duplicated(keep="first")``; for ids in ascending order (as fetched) without hashing."""
    values = ids.to_numpy()
    if values.dtype.kind in "iu" and len(values) > 1:
        step = values[1:] >= values[:-1]
        if step.all():
            return np.r_[False, values[1:] == values[:-1]]
    return ids.duplicated(keep="first").to_numpy()


def _too_far(syn: pd.DataFrame, neurons, threshold_nm: float) -> tuple[np.ndarray, np.ndarray]:
    """Rows farther than ``threshold_nm`` from their neuron, and rows that had a neuron to check."""
    n = len(syn)
    too_far = np.zeros(n, dtype=bool)
    checked = np.zeros(n, dtype=bool)
    ids = _neurons.neuron_ids(neurons)
    for neuron in neurons:  # refuse unusable units before any work, even without synapses
        neuron_scale_nm(neuron)
    xyz = _spatial.positions_nm(syn)
    points = {}
    dists: dict[int, list] = {}
    boxes: dict[int, list] = {}
    for k, side, rows in _spatial.side_rows(syn, ids):
        if k not in points:
            points[k] = _neurons.neuron_points(neurons[k])
        pos = xyz[side][rows]
        dist, _ = points[k].query(pos)
        too_far[rows] |= dist > threshold_nm
        checked[rows] = True
        dists.setdefault(k, []).append(dist)
        boxes.setdefault(k, []).append(_neurons.bbox_side(pos))
    _neurons.check_scale(((ids[k], dists[k], boxes[k], points[k]) for k in dists), "clean")
    return too_far, checked
