"""synframe's table verbs on dask DataFrames: lazy, with the same results as pandas.

One module, though over 400 lines: one short section per verb, sharing the shuffle and
partition helpers.

Each verb has the pandas verb's signature and, like the pandas verbs, is aliased as
``ddf.syn.<verb>`` (``fit_pathway_stats``, which returns statistics, not a table, is a function
only, as in pandas). Work happens
partition by partition on the workers (``dask.distributed`` or any dask scheduler); what crosses
partitions is a dask reduction or shuffle, never a home-made parallel layer:

- [`clean`][synframe.dask.clean]: the rules that look at one row run per partition; duplicate synapse ids are found
  across partitions with a shuffle of ``(id, partition, row)`` and the first occurrence in the
  table's order is kept, as ``DataFrame.duplicated(keep="first")`` keeps it;
- [`annotate`][synframe.dask.annotate], [`validate`][synframe.dask.validate], [`parameterize`][synframe.dask.parameterize]: per partition (keyed randomness makes a
  synapse's values independent of how the table is split);
- [`connectivity`][synframe.dask.connectivity]: counted per partition; only neurons whose synapses are in several
  partitions go through dask's group-by (none when partitioned as the store is);
- [`fit_pathway_stats`][synframe.dask.fit_pathway_stats]: a reduction of exact per-pathway summaries (one or two
  reads of the table), connections split across partitions merged by dask's group-by.

Results equal the pandas verb's on the computed table (``ddf.compute()``) for any partitioning:
the same rows, in the same order (except [`connectivity`][synframe.dask.connectivity], see there), values and dtypes.
``attrs`` (provenance, history) are not tracked through dask graphs.

Importing synframe registers ``dask.dataframe.DataFrame.syn`` (``pip install synframe[dask]``).

Examples
--------
>>> import dask.dataframe as dd
>>> import synframe as sf
>>> syn = sf.datasets.example_synapses()
>>> ddf = dd.from_pandas(syn, npartitions=4)
>>> stats = sf.datasets.example_pathway_stats()
>>> classes = sf.datasets.example_synapse_classes()
>>> lazy = ddf.syn.parameterize(stats, by="synapse_class", types=classes, seed=1)
>>> eager = sf.parameterize(syn, stats, by="synapse_class", types=classes, seed=1)
>>> bool((lazy.compute()["conductance"] == eager["conductance"]).all())
True
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from . import _draw
from ._validation import run_schema, stage_schema
from ._validation import validate as _validate
from .annotate import annotate as _annotate
from .clean import RULES, rule_codes
from .clean import clean as _clean
from .connectivity import connectivity as _connectivity
from .errors import OptionError
from .parameterize import parameterize as _parameterize
from .pathways import check_by as _check_by
from .pathways import validate as _validate_stats
from .schemas import SynapseTable

__all__ = ["annotate", "clean", "connectivity", "fit_pathway_stats", "parameterize", "validate"]


def _check_dask(ddf, verb: str) -> None:
    import dask.dataframe as dd

    if not isinstance(ddf, dd.DataFrame):
        raise OptionError(
            f"synframe.dask.{verb} takes a dask DataFrame, got {type(ddf).__name__}; for pandas "
            f"use sf.{verb}"
        )


#: up to this many partitions shuffles are dask's task-based ones: on few partitions they cost
#: less than the peer-to-peer shuffle's background transfers (20 M synapses, 10 partitions, 2
#: workers: 32 s instead of 37.5 s); beyond it dask chooses (p2p on a distributed cluster)
TASK_SHUFFLE_PARTITIONS = 256


def _shuffle_method(ddf) -> str | None:
    return "tasks" if ddf.npartitions <= TASK_SHUFFLE_PARTITIONS else None


def _no_attrs(df: pd.DataFrame) -> pd.DataFrame:
    df.attrs = {}
    return df


def parameterize(
    ddf,
    stats: xr.DataArray,
    *,
    by: str,
    types=None,
    seed: int | None = None,
    properties: Sequence[str] | None = None,
    overwrite: bool = False,
    progress: bool = True,
):
    """[`synframe.parameterize`][synframe.parameterize.parameterize] partition by partition (lazy); the seed is fixed once.

    ``progress`` is passed to every partition's [`synframe.parameterize`][synframe.parameterize.parameterize] (a bar for each
    partition that takes more than 2 seconds); for one bar over the whole computation use dask's
    (``dask.diagnostics.ProgressBar``) and ``progress=False``.
    """
    _check_dask(ddf, "parameterize")
    if not isinstance(progress, bool):
        raise OptionError(f"progress must be True or False, got {progress!r}")
    _validate_stats(stats)  # now, not when the graph is computed
    _check_by(stats, by)
    seed = _draw.resolve_seed(
        seed
    )  # one seed for all partitions (None would draw one per partition)
    props = _draw.select_properties(stats, properties)
    meta = ddf._meta.copy()
    for p in props:
        meta[p] = pd.Series(dtype=_draw.property_dtype(stats, p))
    return ddf.map_partitions(
        _parameterize,
        stats,
        by=by,
        types=types,
        seed=seed,
        properties=props,
        overwrite=overwrite,
        progress=progress,
        meta=meta,
    )


def validate(ddf, stage="synapses"):
    """[`synframe.validate`][synframe._validation.validate] on every partition (lazy: errors surface at compute time)."""
    _check_dask(ddf, "validate")
    return ddf.map_partitions(_validate, stage, meta=ddf._meta)


def annotate(
    ddf,
    neurons: pd.DataFrame,
    *,
    id_column: str | None = None,
    columns: Sequence[str] | str | None = None,
    sides: Sequence[str] = ("pre", "post"),
):
    """[`synframe.annotate`][synframe.annotate.annotate] on every partition (the neuron table goes to every worker)."""
    _check_dask(ddf, "annotate")
    kwargs = {"id_column": id_column, "columns": columns, "sides": sides}
    meta = _annotate(ddf._meta, neurons, **kwargs)  # checks the options now, not at compute time
    return ddf.map_partitions(_annotate, neurons, **kwargs, meta=meta)


# --- clean ------------------------------------------------------------------------------------------


def _tag(df: pd.DataFrame, partition_info=None) -> pd.DataFrame:
    """``(id, partition, row)`` of every row: where each synapse id occurs."""
    number = partition_info["number"] if partition_info else 0
    return pd.DataFrame(
        {
            "id": df[SynapseTable.id].to_numpy(),
            "part": np.full(len(df), number, dtype=np.int64),
            "row": np.arange(len(df), dtype=np.int64),
        }
    )


def _later_occurrences(df: pd.DataFrame) -> pd.DataFrame:
    """Of the rows of one id-shuffled partition: every occurrence of an id but the first."""
    dup = df[df["id"].duplicated(keep=False)]
    if dup.empty:
        return dup[["part", "row"]]
    dup = dup.sort_values(["id", "part", "row"], kind="stable")
    return dup.loc[dup["id"].duplicated(keep="first"), ["part", "row"]]


def _drops(pieces: list[pd.DataFrame]) -> dict[int, np.ndarray]:
    """partition -> rows to drop, from the shuffled partitions' later occurrences."""
    rows = pd.concat(pieces, ignore_index=True) if pieces else pd.DataFrame({"part": [], "row": []})
    return {int(p): np.sort(g["row"].to_numpy()) for p, g in rows.groupby("part")}


def _reasons(df: pd.DataFrame, drops, kwargs, number: int) -> np.ndarray:
    """Per row of one partition: 0 kept, else 1 + the index in ``RULES`` of the rule removing it."""
    run_schema(df, stage_schema("synapses"), "SynapseTable (input of clean)")
    codes = rule_codes(df, dedupe=False, **kwargs).reason  # positions: no table is built
    drop = None if drops is None else drops.get(number)
    if drop is not None and len(drop):  # pandas checks duplicates first
        codes[drop] = RULES.index("duplicates") + 1
    return codes


def _marked(df, drops, kwargs, partition_info=None):
    """The partition with a ``_reason`` column (0 kept, else 1 + the rule's index)."""
    number = partition_info["number"] if partition_info else 0
    return _no_attrs(df.assign(_reason=_reasons(df, drops, kwargs, number)))


def _kept(marked: pd.DataFrame) -> pd.DataFrame:
    return _no_attrs(marked[marked["_reason"].to_numpy() == 0].drop(columns="_reason"))


def _kept_rows(df, drops, kwargs, partition_info=None):
    """The partition's kept rows, copied once (no ``_reason`` column in between)."""
    number = partition_info["number"] if partition_info else 0
    keep = _reasons(df, drops, kwargs, number) == 0
    return _no_attrs(df.copy() if keep.all() else df[keep])


def _removed(marked: pd.DataFrame) -> pd.DataFrame:
    codes = marked["_reason"].to_numpy()
    out = marked[codes > 0].drop(columns="_reason")
    out["reason"] = pd.Categorical.from_codes(codes[codes > 0] - 1, categories=list(RULES))
    return _no_attrs(out)


def clean(
    ddf,
    *,
    autapses: bool = True,
    background: bool = True,
    min_score: float | None = None,
    dedupe: bool = True,
    neurons=None,
    max_distance: str | float | None = "10 um",
    return_removed: bool = False,
):
    """[`synframe.clean`][synframe.clean.clean] on a dask DataFrame, with duplicates found across partitions.

    The kept rows (and, with ``return_removed``, the removed rows with their ``reason``) are
    exactly those of ``sf.clean(ddf.compute(), ...)``, in the same order.

    Examples
    --------
    >>> import dask.dataframe as dd
    >>> import pandas as pd
    >>> import synframe as sf
    >>> syn = sf.datasets.example_synapses()
    >>> twice = pd.concat([syn, syn.iloc[:10]], ignore_index=True)  # 10 duplicated synapses
    >>> ddf = dd.from_pandas(twice, npartitions=3)
    >>> out = sf.dask.clean(ddf).compute()
    >>> len(out), out.equals(sf.clean(twice))
    (2424, True)
    """
    import dask

    _check_dask(ddf, "clean")
    kwargs = {
        "autapses": autapses, "background": background, "min_score": min_score,
        "neurons": neurons, "max_distance": max_distance,
    }  # fmt: skip
    # every option checked now, on the empty meta (the pandas verb raises the same errors)
    meta = _clean(ddf._meta, dedupe=dedupe, return_removed=True, **kwargs)
    if not isinstance(return_removed, bool):
        raise OptionError(f"return_removed must be True or False, got {return_removed!r}")
    drops = None
    if dedupe:  # where each id occurs, shuffled by id: the later occurrences are dropped
        # the ids are read again rather than every partition held until all are tagged: a
        # projection, so a store's partitions read only their ids for this (optimize_graph)
        ids = ddf[[SynapseTable.id]]
        slim = ids.map_partitions(_tag, meta=_tag(ddf._meta))
        later = slim.shuffle(
            "id", npartitions=max(1, ddf.npartitions), shuffle_method=_shuffle_method(ddf)
        ).map_partitions(_later_occurrences, meta=_tag(ddf._meta)[["part", "row"]])
        drops = dask.delayed(_drops)(later.to_delayed(optimize_graph=True))
    if not return_removed:  # one pass, one copy of the kept rows
        return ddf.map_partitions(_kept_rows, drops, kwargs, meta=_no_attrs(meta[0]))
    marked_meta = _no_attrs(ddf._meta.assign(_reason=np.zeros(0, dtype=np.int8)))
    marked = ddf.map_partitions(_marked, drops, kwargs, meta=marked_meta)
    kept = marked.map_partitions(_kept, meta=_no_attrs(meta[0]))
    return kept, marked.map_partitions(_removed, meta=_no_attrs(meta[1]))


def _pair_counts(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """One partition's synapse count per connection (``keys``: pre, post and ``by``)."""
    sizes = df.groupby(keys, observed=True, dropna=False, sort=False).size()
    return _no_attrs(sizes.rename("weight").reset_index().astype({"weight": "int64"}))


def _pres(counts: pd.DataFrame) -> np.ndarray:
    return np.unique(counts[SynapseTable.pre].to_numpy())


def _shared_pres(pres: list[np.ndarray]) -> np.ndarray:
    """The presynaptic neurons whose synapses are in more than one partition."""
    if not pres:
        return np.zeros(0, dtype=np.int64)
    values, times = np.unique(np.concatenate(pres), return_counts=True)
    return values[times > 1]


def _split(counts: pd.DataFrame, shared: np.ndarray, *, local: bool, threshold: int = 1):
    """The rows of neurons that are (``local=False``) or are not in several partitions."""
    inside = np.isin(counts[SynapseTable.pre].to_numpy(), shared)
    rows = counts[~inside] if local else counts[inside]
    if local:  # complete counts: the threshold applies now
        rows = rows[rows["weight"].to_numpy() >= threshold]
    return _no_attrs(rows)


def connectivity(ddf, *, by: str | Sequence[str] | None = None, threshold: int = 1):
    """[`synframe.connectivity`][synframe.connectivity.connectivity] over partitions (lazy): counted where the synapses are.

    Each partition's connections are counted where it is; a presynaptic neuron whose synapses are
    in several partitions (found from each partition's distinct ``pre``, a small reduction) has its
    counts summed by dask's group-by over those rows only. Partitions that hold each neuron's
    synapses together -- as [`LocalStore.to_dask`][synframe.sources.local.LocalStore.to_dask] gives
    them -- need no shuffle; any other partitioning (random rows, say) is still exact, with the
    shuffle its shared neurons need.

    The result has the pandas verb's rows, columns, dtypes and values, but is not globally sorted
    strongest first: in an EM connectome most connections have one synapse, so a global sort by
    weight would put most of the edges into one partition. Sort after computing (as pandas
    does: ``.sort_values(["weight", "pre", "post", *by], ascending=[False, True, True, …],
    ignore_index=True)``) when the result fits in memory.

    Examples
    --------
    >>> import dask.dataframe as dd
    >>> import synframe as sf
    >>> syn = sf.datasets.example_synapses()
    >>> edges = sf.dask.connectivity(dd.from_pandas(syn, npartitions=3), threshold=2).compute()
    >>> keys = ["weight", "pre", "post"]
    >>> edges = edges.sort_values(keys, ascending=[False, True, True], ignore_index=True)
    >>> edges.equals(sf.connectivity(syn, threshold=2))
    True
    """
    import dask
    import dask.dataframe as dd

    _check_dask(ddf, "connectivity")
    meta = _no_attrs(_connectivity(ddf._meta, by=by, threshold=threshold))  # checks the options
    keys = [c for c in meta.columns if c != "weight"]
    counts = ddf.map_partitions(_pair_counts, keys, meta=meta)
    # the counts' own keys (not an optimized copy): each partition is counted once, and held
    # (small: one row per connection) until the neurons in several partitions are known
    pres = [dask.delayed(_pres)(part) for part in counts.to_delayed(optimize_graph=False)]
    shared = dask.delayed(_shared_pres)(pres)
    local = counts.map_partitions(_split, shared, local=True, threshold=threshold, meta=meta)
    across = counts.map_partitions(_split, shared, local=False, meta=meta)
    sums = across.groupby(keys, observed=True, dropna=False, sort=False)["weight"].sum(
        split_out=max(1, ddf.npartitions), shuffle_method=_shuffle_method(ddf)
    )
    summed = sums.reset_index()
    summed = summed[summed["weight"] >= threshold].astype({"weight": "int64"})
    return dd.concat([local, summed.map_partitions(_no_attrs, meta=meta)])


# --- fit_pathway_stats --------------------------------------------------------------------------------


def _graph(name: str, layer: dict, dependencies: list, key):
    """A Delayed for ``key`` of a graph layer written at once (``dask.delayed`` calls would merge
    the table's graph once per task: quadratic in the partitions)."""
    from dask.delayed import Delayed
    from dask.highlevelgraph import HighLevelGraph

    return Delayed(key, HighLevelGraph.from_collections(name, layer, dependencies), layer=name)


def _map_parts(parts: list, func, label: str) -> tuple[list, dict, str]:
    """Tasks applying ``func`` (a partial: its arguments stay opaque to dask) to each partition:
    (keys of the results, the layer holding the tasks, its name)."""
    from dask.base import tokenize

    name = f"synframe-fit-{label}-" + tokenize(func, [p.key for p in parts])
    layer = {(name, i): (func, p.key) for i, p in enumerate(parts)}
    return [(name, i) for i in range(len(parts))], layer, name


def _tree(
    parts: list, results: list, layer: dict, index: int | None, split_every: int = 8, combine=None
):
    """One Delayed merging item ``index`` of each result (keys in ``layer``) with a tree of
    `_summaries.merge` tasks; ``index`` None: the results themselves."""
    from dask.base import tokenize

    if not results:
        import dask

        return dask.delayed(None)
    name = "synframe-fit-merge-" + tokenize(results, index)
    layer = dict(layer)
    keys = []
    for i, r in enumerate(results):
        if index is None and combine is None:
            keys.append(r)
        else:
            item = r if index is None else (operator.getitem, r, index)
            layer[(name, "item", i)] = item if combine is None else (combine, item)
            keys.append((name, "item", i))
    level = 0
    while len(keys) > 1 or level == 0:
        merged = []
        for j in range(0, len(keys), split_every):
            layer[(name, level, j)] = (_merge_all, list(keys[j : j + split_every]))
            merged.append((name, level, j))
        keys, level = merged, level + 1
    return _graph(name, layer, parts, keys[0])


def _merge_all(items: list):
    from . import _summaries

    out = None
    for item in items:
        if isinstance(item, dict) and "ends" in item:
            out = item if out is None else _merge_ends(out, item)
        else:
            out = _summaries.merge(out, item)
    return out


def _fit_part(
    df: pd.DataFrame, piece: dict, group_cols, want, syn_requests, conn_props, conns_only=False
):
    """One partition: pass 1 (summary, connections), or pass 2 (details on the synapses, and the
    connections with the min/max of ``conn_props`` only, or None)."""
    from . import _summaries

    piece = dict(piece)
    df = _as_meta(df, piece.pop("dtypes"))
    run_schema(
        df, stage_schema("synapses", unique_ids=False), "SynapseTable (input of fit_pathway_stats)"
    )
    if syn_requests is None:
        if conns_only:
            return None, _no_attrs(_summaries.conn_table(df, **piece).frame())
        summary, conns = _summaries.syn_summary(df, **piece, group_cols=group_cols, want=want)
        return summary, _no_attrs(conns.frame())
    details = _summaries.syn_details(df, **piece, requests=syn_requests) if syn_requests else {}
    if conn_props is None:
        return details, None
    conns = _summaries.conn_table(df, **{**piece, "props": conn_props})
    return details, _no_attrs(conns.frame())


def _as_meta(df: pd.DataFrame, dtypes: dict) -> pd.DataFrame:
    """The partition with the dtypes dask says the table has (a partition read from a file of
    another schema may differ: the pandas verb sees the computed table's dtypes)."""
    wrong = {c: d for c, d in dtypes.items() if c in df.columns and df[c].dtype != d}
    return df.astype(wrong) if wrong else df


def _fit_part_alone(
    df: pd.DataFrame, *, piece: dict, group_cols, want, syn_requests, conn_requests
):
    """One partition summarised as if no connection had synapses in another: (synapse result,
    connection result, its neurons on each side as `_merge_ends` merges them) -- nothing large
    is kept."""
    from . import _summaries
    from .distributions import N_SYN_PER_CONN

    piece = dict(piece)
    df = _as_meta(df, piece.pop("dtypes"))
    run_schema(
        df, stage_schema("synapses", unique_ids=False), "SynapseTable (input of fit_pathway_stats)"
    )
    if syn_requests is None:
        syn_result, conns = _summaries.syn_summary(df, **piece, group_cols=group_cols, want=want)
        conn_result = _summaries.conn_summary(conns, piece["props"], want)
    else:
        syn_result = (
            _summaries.syn_details(df, **piece, requests=syn_requests) if syn_requests else {}
        )
        if not conn_requests:
            return syn_result, None, None
        props = [p for p in piece["props"] if p in conn_requests]
        conns = _summaries.conn_table(df, **{**piece, "props": props})
        requests = {p: r for p, r in conn_requests.items() if p in props or p == N_SYN_PER_CONN}
        conn_result = _summaries.conn_details(conns, props, requests)
    return syn_result, conn_result, _ends_of(conns[SynapseTable.pre], conns[SynapseTable.post])


def _fit_pass_alone(ddf, piece: dict, group_cols, want, syn_requests=None, conn_requests=None):
    """Delayed (synapse result, connection result, neurons in several partitions) of one pass
    that summarises each partition's connections where it is: exact when no connection has
    synapses in two partitions (no neuron in several partitions on one side, as a store's)."""
    import dask

    parts = ddf.to_delayed(optimize_graph=True)
    func = functools.partial(
        _fit_part_alone, piece={**piece, "dtypes": _meta_dtypes(ddf, piece)},
        group_cols=group_cols, want=want, syn_requests=syn_requests, conn_requests=conn_requests,
    )  # fmt: skip
    results, layer, _ = _map_parts(parts, func, "alone")
    syn_result = _tree(parts, results, layer, 0)
    conn_result = _tree(parts, results, layer, 1)
    if syn_requests is not None:
        return syn_result, conn_result, dask.delayed(None)
    shared = _tree(parts, results, layer, 2)  # merged ends: see _merge_all
    return syn_result, conn_result, shared


def _meta_dtypes(ddf, piece: dict) -> dict:
    columns = [*piece["props"], SynapseTable.pre, SynapseTable.post]
    return {c: ddf._meta[c].dtype for c in columns if c in ddf._meta.columns}


def _frame_ends(conns: pd.DataFrame) -> dict:
    """A partition's neurons on each side, as a mergeable ``{"ends": ...}`` (see `_merge_ends`)."""
    return _ends_of(conns[SynapseTable.pre].to_numpy(), conns[SynapseTable.post].to_numpy())


def _ends_of(pre: np.ndarray, post: np.ndarray) -> dict:
    empty = np.zeros(0, dtype=np.int64)
    return {"ends": (np.unique(pre), empty, np.unique(post), empty)}


def _merge_ends(a: dict, b: dict) -> dict:
    """Neurons seen, and seen in more than one partition, on each side, of two sets of partitions."""
    out = []
    for side in (0, 2):
        seen_a, twice_a = a["ends"][side], a["ends"][side + 1]
        seen_b, twice_b = b["ends"][side], b["ends"][side + 1]
        both = np.intersect1d(seen_a, seen_b, assume_unique=True)
        out += [np.union1d(seen_a, seen_b), np.union1d(np.union1d(twice_a, twice_b), both)]
    return {"ends": tuple(out)}


def _twice(ends: dict | None) -> tuple[np.ndarray, np.ndarray]:
    """The pre- and postsynaptic neurons found in more than one partition."""
    if ends is None:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    return ends["ends"][1], ends["ends"][3]


def _conn_split(conns: pd.DataFrame, shared, *, local: bool) -> pd.DataFrame:
    """Connections that cannot (``local``) or may be split across partitions: a split one has its
    pre and its post in several partitions."""
    pres, posts = shared
    across = np.isin(conns[SynapseTable.pre].to_numpy(), pres) & np.isin(
        conns[SynapseTable.post].to_numpy(), posts
    )
    return _no_attrs(conns[~across] if local else conns[across])


def _fit_pass(
    ddf, piece: dict, group_cols, want, syn_requests=None, conn_requests=None, conns_only=False
):
    """Delayed (synapse result, connection result) of one pass over ``ddf``'s partitions whose
    connections are merged across partitions first: pass 1 without requests (``conns_only``:
    the connections' summary alone), else pass 2 (only the properties requested on connections
    are carried). Every partition's connections are held until all are known."""
    import dask
    import dask.dataframe as dd

    from . import _summaries
    from .distributions import N_SYN_PER_CONN

    first = syn_requests is None
    if first:
        props = piece["props"]
    elif conn_requests:
        props = [p for p in piece["props"] if p in conn_requests]  # n_syn_per_conn: sizes
    else:
        props = None
    parts_in = ddf.to_delayed(optimize_graph=True)
    func = functools.partial(
        _fit_part, piece={**piece, "dtypes": _meta_dtypes(ddf, piece)}, group_cols=group_cols,
        want=want, syn_requests=syn_requests, conn_props=props if not first else None,
        conns_only=conns_only,
    )  # fmt: skip
    results, layer, name = _map_parts(parts_in, func, "merging")
    syn_result = _tree(parts_in, results, layer, 0)
    if props is None:
        return syn_result, dask.delayed(None)
    for i, r in enumerate(results):
        layer[(name, "frame", i)] = (operator.getitem, r, 1)
    from dask.delayed import Delayed
    from dask.highlevelgraph import HighLevelGraph

    graph = HighLevelGraph.from_collections(name, layer, parts_in)  # once: not per frame
    frames = [Delayed((name, "frame", i), graph, layer=name) for i in range(len(results))]
    ends = _tree(parts_in, [(name, "frame", i) for i in range(len(results))], layer, None,
                 combine=_frame_ends)  # fmt: skip
    shared = dask.delayed(_twice)(ends)
    meta = _no_attrs(_summaries.conn_table(ddf._meta, **{**piece, "props": props}).frame())
    conns = dd.from_delayed(frames, meta=meta, verify_meta=False)
    local = conns.map_partitions(_conn_split, shared, local=True, meta=meta)
    across = conns.map_partitions(_conn_split, shared, local=False, meta=meta)
    keys = [SynapseTable.pre, SynapseTable.post, "src", "tgt"]
    how = {"size": "sum"} | {f"lo{i}": "min" for i in range(len(props))}
    how |= {f"hi{i}": "max" for i in range(len(props))}
    merged = (
        across.groupby(keys, sort=False, dropna=False)
        .agg(how, split_out=max(1, ddf.npartitions // 8), shuffle_method=_shuffle_method(ddf))
        .reset_index()
    )
    whole = dd.concat([local, merged.map_partitions(_no_attrs, meta=merged._meta)])
    parts = whole.to_delayed(optimize_graph=False)  # the frames' own keys: each partition read once
    if first:
        func = functools.partial(_summaries.conn_summary, props=props, want=want)
    else:
        requests = {p: r for p, r in conn_requests.items() if p in props or p == N_SYN_PER_CONN}
        func = functools.partial(_summaries.conn_details, props=props, requests=requests)
    summaries, layer, _ = _map_parts(parts, func, "connections")
    return syn_result, _tree(parts, summaries, layer, None)


def fit_pathway_stats(
    ddf,
    *,
    by: str,
    properties: Sequence[str] | str,
    types=None,
    distributions=None,
    min_connections: int = 5,
    bounds=None,
    dtypes=None,
    interpolate=None,
    src_types: Sequence[str] | None = None,
    tgt_types: Sequence[str] | None = None,
    truncnorm_fit: str = "histogram",
    nsyns: str | None = "nsyns",
    progress: bool = True,
) -> xr.DataArray:
    """[`synframe.fit_pathway_stats`][synframe.fit.fit_pathway_stats] as a dask reduction: the same
    statistics, bit for bit, for any partitioning.

    Each partition is summarised where it is (per pathway: counts, exact sums of values and
    squares, min and max, values/counts or logs where the distribution needs them; its
    connections with their sizes and each property's min and max), and the summaries are merged
    by a tree of small tasks. If some neuron has synapses in several partitions on both sides, a
    connection may be split: the connections are then computed again and merged across
    partitions by dask's group-by before they are summarised (holding every partition's
    connections until all are known). Partitions that hold each presynaptic neuron's synapses
    together, as [`LocalStore.to_dask`][synframe.sources.local.LocalStore.to_dask] gives them,
    never need that. The table is read once more for ``truncnorm`` with ``truncnorm_fit=
    "histogram"`` (CM's histogram needs each pathway's range first).
    Eager (returns the statistics, like the pandas verb); the options are checked before any
    partition is read, problems of the values (not numbers, not finite) are reported as the
    pandas verb reports them, and an error raised inside a partition (a neuron without a type)
    counts that partition's synapses.

    The sums are exact (integers), so means and standard deviations are correctly rounded and do
    not depend on how the table is split or ordered -- the pandas verb computes them the same way.

    Examples
    --------
    >>> import dask.dataframe as dd
    >>> import synframe as sf
    >>> syn = sf.datasets.example_synapses()
    >>> types = {i: "any" for i in set(syn.pre) | set(syn.post)}
    >>> truth = sf.pathway_stats({"g": {"*": {"*": {"type": "gamma", "mean": 2.0, "std": 0.5}}}})
    >>> drawn = sf.parameterize(syn, truth, by="c", types=types, seed=3)
    >>> kw = dict(by="c", types=types, properties=["g", "n_syn_per_conn"], progress=False)
    >>> lazy = sf.dask.fit_pathway_stats(dd.from_pandas(drawn, npartitions=3), **kw)
    >>> lazy.equals(sf.fit_pathway_stats(drawn, **kw))
    True
    """
    import dask

    from .fit import fit_from_summaries, fit_options

    _check_dask(ddf, "fit_pathway_stats")
    opts = fit_options(
        ddf._meta, by=by, properties=properties, types=types, distributions=distributions,
        min_connections=min_connections, bounds=bounds, dtypes=dtypes, interpolate=interpolate,
        src_types=src_types, tgt_types=tgt_types, truncnorm_fit=truncnorm_fit, nsyns=nsyns,
        progress=progress,
    )  # fmt: skip
    piece, want = opts["piece"], opts["want"]
    # each partition's connections summarised where they are; exact unless some neuron is in
    # several partitions on both sides (then a connection may be split): then again, merging
    # the connections of those neurons across partitions with dask's group-by
    summary, conns, ends = dask.compute(*_fit_pass_alone(ddf, piece, opts["group_cols"], want))
    pres, posts = _twice(ends)
    split = len(pres) > 0 and len(posts) > 0
    if split:
        _, conns = dask.compute(*_fit_pass(ddf, piece, opts["group_cols"], want, conns_only=True))

    def details(on_synapses: dict, on_connections: dict) -> dict:
        if split:
            graph = _fit_pass(ddf, piece, None, want, on_synapses, on_connections)
        else:
            graph = _fit_pass_alone(ddf, piece, None, want, on_synapses, on_connections)[:2]
        syn_got, conn_got = dask.compute(*graph)
        return {**(syn_got or {}), **(conn_got or {})}

    return fit_from_summaries(summary, conns, details, opts)
