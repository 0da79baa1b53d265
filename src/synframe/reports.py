"""What a table is and what was done to it: [`history`][synframe.reports.history] and the ``.syn`` accessors' reprs.

Every stage appends a record to ``df.attrs["history"]``; [`history`][synframe.reports.history] shows them as a small
DataFrame, and [`describe`][synframe.reports.describe] sums a synapse table up (what ``df.syn`` shows in a notebook).
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from .errors import OptionError
from .schemas import SynapseTable

__all__ = ["describe", "describe_html", "history"]

#: clean's rules, in the order they run (one column each in [`history`][synframe.reports.history])
_RULES = ("duplicates", "autapses", "background", "low_score", "too_far")
#: above this many rows a repr does not count connections (a repr must be instant)
_COUNT_LIMIT = 2_000_000


def history(syn: pd.DataFrame) -> pd.DataFrame:
    """The stages a table went through: one row per stage, rows in and out, what was removed.

    Columns: ``stage``, ``rows_in``, ``rows_out``, ``removed``, one column per ``clean`` rule
    (``duplicates, autapses, background, low_score, too_far``; empty for other stages), and
    ``options`` (the stage's options: what was asked for, the seed, the model …).

    Examples
    --------
    >>> import synframe as sf
    >>> syn = sf.fetch(sf.datasets.EXAMPLE_ROOT_ID, progress=False)
    >>> out = sf.clean(syn, neurons=sf.datasets.example_neuron(), max_distance="1 um")
    >>> sf.history(out)[["stage", "rows_in", "rows_out", "removed", "too_far"]]
       stage  rows_in  rows_out  removed  too_far
    0  fetch     <NA>      2424     <NA>     <NA>
    1  clean     2424      2019      405      405
    """
    if not isinstance(syn, pd.DataFrame):
        raise OptionError(f"history takes a DataFrame (a synapse table), got {type(syn).__name__}")
    records = syn.attrs.get("history", [])
    if not isinstance(records, (list, tuple)):
        records = []
    rows = []
    for rec in records:
        if not isinstance(rec, dict):
            continue
        rows_in, rows_out = _count(rec.get("rows_in")), _count(rec.get("rows_out"))
        removed = rec.get("removed") if isinstance(rec.get("removed"), dict) else {}
        removed = {rule: _count(removed.get(rule)) for rule in _RULES}
        skip = {"stage", "rows_in", "rows_out", "removed", "options", "query_ids"}
        options = dict(rec.get("options") or {})
        options.update({k: v for k, v in rec.items() if k not in skip})
        rows.append(
            {
                "stage": rec.get("stage"),
                "rows_in": rows_in,
                "rows_out": rows_out,
                "removed": (
                    rows_in - rows_out if rows_in is not None and rows_out is not None else None
                ),
                **{rule: removed.get(rule) for rule in _RULES},
                "options": options,
            }
        )
    columns = ["stage", "rows_in", "rows_out", "removed", *_RULES, "options"]
    out = pd.DataFrame(rows, columns=columns)
    for c in ["rows_in", "rows_out", "removed", *_RULES]:
        out[c] = pd.array([_count(v) for v in out[c]], dtype="Int64")
    return out


def _count(v) -> int | None:
    """A row count as recorded (an int, or an integral float), else None (shown as <NA>)."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        return None
    if not np.isfinite(v) or v != int(v) or abs(v) >= 2**63:
        return None
    return int(v)


def _facts(df: pd.DataFrame) -> list[tuple[str, str]]:
    """(label, value) lines that describe a synapse table (or a table of neurons)."""
    if not isinstance(df, pd.DataFrame):
        raise OptionError(f"describe takes a DataFrame (a synapse table), got {type(df).__name__}")
    flat = not isinstance(df.columns, pd.MultiIndex)
    twice = sorted(map(str, pd.unique(df.columns[df.columns.duplicated()]))) if flat else []
    if not flat or twice:
        return [
            ("table", f"{len(df):,} rows x {df.shape[1]} columns"),
            (
                "columns",
                f"repeated column names {twice}: give each column one name "
                "(df.loc[:, ~df.columns.duplicated()] keeps the first)"
                if flat
                else "several levels (a MultiIndex): not a synapse table",
            ),
        ]
    if not (SynapseTable.pre in df and SynapseTable.post in df):
        return [
            (
                "table",
                f"{len(df):,} rows x {df.shape[1]} columns (no pre/post: not a synapse table)",
            ),
            ("use", ".syn.fetch(...) fetches the synapses of the neurons it lists"),
        ]
    n = len(df)
    pre, post = df[SynapseTable.pre].to_numpy(), df[SynapseTable.post].to_numpy()
    facts = [
        (
            "synapses",
            f"{n:,}"
            + (
                f" ({'unique ids' if df[SynapseTable.id].is_unique else 'duplicate ids'})"
                if SynapseTable.id in df
                else ""
            ),
        ),
        (
            "neurons",  # hashed, not sorted: text or mixed ids are counted too
            f"{len(pd.unique(np.concatenate([pre, post]))):,} ({len(pd.unique(pre)):,} pre, "
            f"{len(pd.unique(post)):,} post)",
        ),
    ]
    if pre.dtype != np.int64 or post.dtype != np.int64:
        facts.append(("ids", f"pre {pre.dtype}, post {post.dtype} (synframe's ids are int64)"))
    if n <= _COUNT_LIMIT:
        connections = len(pd.MultiIndex.from_arrays([pre, post]).unique())
        facts.append(("connections", f"{connections:,}"))
    attrs = df.attrs
    where = ", ".join(
        str(x)
        for x in (
            attrs.get("datastack"),
            f"v{attrs['materialization']}" if attrs.get("materialization") is not None else None,
            attrs.get("source"),
        )
        if x
    )
    if where:
        facts.append(("source", where))
    facts.append(("positions", f"{attrs.get('units', 'nm (assumed)')}"))
    props = attrs.get("properties")
    if props:
        shown = props if isinstance(props, (list, tuple)) else [props]
        facts.append(("properties", ", ".join(map(str, shown))))
    stages = history(df)
    if len(stages):
        facts.append(
            (
                "history",
                " -> ".join(
                    f"{r.stage} ({r.rows_out:,})" if r.rows_out is not pd.NA else str(r.stage)
                    for r in stages.itertuples()
                ),
            )
        )
    return facts


def describe(df: pd.DataFrame) -> str:
    """A few lines describing a synapse table: size, neurons, source, units, properties, history.

    Examples
    --------
    >>> import synframe as sf
    >>> print(sf.reports.describe(sf.datasets.example_synapses()))
    synapses     2,424 (unique ids)
    neurons      2,153 (1,927 pre, 241 post)
    connections  2,166
    source       minnie65_public, v795, LocalStore('microns_v795_synapses.parquet', ...)
    positions    nm
    history      fetch (2,424)
    """
    facts = _facts(df)
    width = max(len(k) for k, _ in facts) + 2
    return "\n".join(f"{k:<{width}}{v}" for k, v in facts)


def describe_html(df: pd.DataFrame) -> str:
    """[`describe`][synframe.reports.describe] as a small HTML table (what a notebook shows for ``df.syn``)."""
    rows = "".join(
        f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'>"
        f"{html.escape(v)}</td></tr>"
        for k, v in _facts(df)
    )
    return f"<table><caption>synframe .syn</caption>{rows}</table>"
