"""``parameterize``: physiological parameters per synapse, drawn from pathway-specific distributions."""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from . import _draw, _progress, _provenance
from ._validation import run_schema, stage_schema
from .errors import OptionError, PathwayError, format_problems
from .pathways import N_SYN_PER_CONN, check_by, summary, validate

__all__ = ["parameterize"]

log = logging.getLogger("synframe")


def parameterize(
    syn: pd.DataFrame,
    stats: xr.DataArray,
    *,
    by: str,
    types=None,
    seed: int | None = None,
    properties: Sequence[str] | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> pd.DataFrame:
    """Give every synapse values of physiological properties drawn from pathway-specific distributions.

    Parameters
    ----------
    syn
        A synapse table.
    stats
        Pathway statistics ([`synframe.pathway_stats`][synframe.pathways.pathway_stats], [`synframe.load_pathway_stats`][synframe.pathways.load_pathway_stats],
        [`synframe.fit_pathway_stats`][synframe.fit.fit_pathway_stats]).
    by
        The pathway property (e.g. ``"synapse_class"``): source/target types are read from
        ``pre_<by>`` / ``post_<by>`` columns, or from ``types``. Must be the property the stats
        were made for when they record one (``stats.attrs["by"]``, kept in their JSON).
    types
        neuron id -> type: a dict, a Series indexed by id, or a DataFrame with an id column and a
        ``by`` column.
    seed
        Values depend only on (seed, property, pre, post[, synapse id]): the same seed gives the
        same values, bit for bit, however the table is sorted, subset or split. ``None`` draws a
        seed (recorded in ``attrs["history"]``).
    properties
        Which properties to draw (default: all in ``stats`` except ``n_syn_per_conn``).
    overwrite
        Replace existing property columns (otherwise an error). Never the table's own columns:
        a property may not be named like a canonical column (``id``, ``pre``, ``post_x``,
        ``cleft_score`` ...) nor like an annotation (``pre_<name>`` / ``post_<name>``).
    progress
        A progress bar over the (property, pathway) draws, on a terminal, for calls that take
        more than 2 seconds (``SYNFRAME_PROGRESS=1`` forces it elsewhere).

    Returns
    -------
    pandas.DataFrame
        A copy of ``syn`` with one column per property (``dtype`` as the specs say), validated as
        [`ParameterizedSynapses`][synframe.schemas.ParameterizedSynapses].

    Examples
    --------
    >>> import synframe as sf
    >>> syn = sf.datasets.example_synapses()
    >>> exc = {"type": "gamma", "mean": 1.0, "std": 0.5}
    >>> stats = sf.pathway_stats({"conductance": {"*": {"*": exc}}})
    >>> types = {i: "any" for i in set(syn.pre) | set(syn.post)}
    >>> out = sf.parameterize(syn, stats, by="synapse_class", types=types, seed=1)
    >>> round(float(out["conductance"].mean()), 1)
    1.0
    """
    run_schema(syn, stage_schema("synapses"), "SynapseTable (input of parameterize)")
    validate(stats)
    check_by(stats, by)
    if not isinstance(overwrite, (bool, np.bool_)):
        raise OptionError(f"overwrite must be True or False, got {overwrite!r}")
    if isinstance(progress, np.bool_):
        progress = bool(progress)
    props = _draw.select_properties(stats, properties)
    if N_SYN_PER_CONN in props:
        raise PathwayError(
            f"{N_SYN_PER_CONN!r} is synapses per connection (the connectome's structure, as "
            "connectome-manipulator uses it), not a property drawn per synapse: leave it out of "
            "properties (stats.syn.sample draws it)"
        )
    _draw.check_property_names(props)
    existing = [p for p in props if p in syn.columns]
    if existing and not overwrite:
        raise PathwayError(
            f"the table already has columns {existing}; pass overwrite=True to redraw them"
        )
    seed = _draw.resolve_seed(seed)
    src, tgt = _draw.pathway_types(syn, by, types)
    plan = _draw.plan(syn, src, tgt)
    missing = _draw.missing_pathways(stats, props, plan)
    if missing:
        raise PathwayError(
            format_problems(f"pathways missing from the stats for {by!r}", missing)
            + "\n  add them to the stats, or a '*' wildcard entry as an explicit fallback"
        )
    total = len(props) * len(plan.pathways)
    with _progress.bar(total, "parameterize", progress, unit="draw") as bar:
        values = _draw.draw(stats, props, plan, seed, tick=bar.update)
    pathways = {f"{s}->{t}": len(r) for (s, t), r in zip(plan.pathways, plan.syn_rows, strict=True)}
    del plan, src, tgt  # their arrays, before the copy of the table (peak memory)
    out = syn.copy()
    for p in props:
        out[p] = values.pop(p)  # copied into the frame: the drawn array goes right away
    attrs = copy.deepcopy(syn.attrs)
    attrs["properties"] = list(dict.fromkeys([*attrs.get("properties", []), *props]))
    attrs.setdefault("history", []).append(
        {
            "stage": "parameterize",
            "rows_in": len(syn),
            "rows_out": len(out),
            **_provenance.record(stats, seed=seed, by=by, properties=props),
            "pathways": pathways,
            "model": summary(stats),
            "overwritten": existing,
        }
    )
    out.attrs = attrs
    log.info("%s", summary(stats))
    log.info(  # connections are not counted: grouping a whole EM table costs seconds
        "parameterize: %d synapses, %d pathways, seed %d", len(out), len(pathways), seed
    )
    return run_schema(
        out,
        stage_schema(
            "parameterized", unique_ids=False, drop_checks=("no_autapses", "no_background")
        ),
        "ParameterizedSynapses",
    )
