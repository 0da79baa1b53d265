"""``fetch``: the synapses of given neurons, from any source (fafbseg's ``get_synapses`` semantics)."""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ._ids import as_ids, id_column_of, unique_ids
from ._neurons import as_neuron_list
from ._validation import check_unique_columns, run_schema, stage_schema
from .annotate import annotate
from .errors import OptionError
from .sources import Query, as_source

__all__ = ["fetch"]

log = logging.getLogger("synframe")


def _query_ids(x, id_column: str | None) -> tuple[np.ndarray, pd.DataFrame | None, str | None]:
    """Ids to query from x (ids, neurons, or a DataFrame of neurons) and the neuron table if any."""
    if isinstance(x, pd.DataFrame):
        idc = id_column_of(x, id_column)
        return as_ids(x[idc], what=f"column {idc!r}"), x, idc
    if _is_navis(x):
        nl = as_neuron_list(x)
        return as_ids(np.array([n.id for n in nl], dtype=object), what="neuron ids"), None, None
    return as_ids(x, what="ids"), None, None


def fetch(
    x=None,
    *,
    source=None,
    pre: bool = True,
    post: bool = True,
    filtered: bool = True,
    min_score: float | None = None,
    transmitters: bool = False,
    neuropils: bool = False,
    materialization: int | str = "auto",
    batch_size: int | None = None,
    progress: bool = True,
    id_column: str | None = None,
    carry: Sequence[str] | str | None = None,
    attach: bool = True,
    as_dask: bool = False,
) -> pd.DataFrame:
    """Fetch the synapses of the given neurons -- or, with no neurons, every synapse of a store.

    Parameters
    ----------
    x
        A neuron id, a list / array / Series of ids (ints or strings of digits; floats are refused:
        64-bit ids do not survive float64), navis neurons (their ``.id``), or a DataFrame with one
        row per neuron (ids in ``id_column``). ``None`` (omitted) fetches the whole table of an
        explicitly given ``source`` that can return one (a local dump or store:
        ``sf.fetch(source=store)``); an empty list of ids fetches nothing.
    source
        Where to fetch from: a [`Source`][synframe.sources._base.Source], a path to a local dump or store,
        or ``None`` for the default source ([`synframe.set_default_source`][synframe.sources.set_default_source], the
        ``SYNFRAME_SOURCE`` environment variable, else the embedded example store).
    pre, post
        Fetch the neurons' presynapses (outputs: ``pre`` is a query neuron) and/or postsynapses
        (inputs). A synapse between two query neurons appears once.
    filtered
        Ask for the curated ("filtered") synapse set. A source that holds only raw synapses refuses
        ``True``, one that holds only filtered synapses refuses ``False``; a dataset without the
        distinction serves its only table (``attrs["filtered"]`` is then ``None``).
    min_score
        Keep ``cleft_score >= min_score`` (an error if the source has no cleft scores).
    transmitters
        Add ``gaba, acetylcholine, glutamate, octopamine, serotonin, dopamine`` (an error if the
        source has none).
    neuropils
        Add the categorical ``neuropil`` column (an error if the source has none).
    materialization
        ``"auto"``, ``"latest"``, ``"live"`` or a version number; a local store answers ``"auto"``,
        ``"latest"`` and its own version, and refuses the rest.
    batch_size
        Ids per query.
    progress
        Show a progress bar.
    id_column
        For a DataFrame ``x``: the column holding neuron ids (default ``root_id``, ``id`` …).
    carry
        For a DataFrame ``x``: annotation columns to carry into the synapse table as
        ``pre_<col>`` / ``post_<col>`` (for partner neurons too, when the table has rows for them).
    attach
        When ``x`` is navis neurons: attach the fetched synapses to them, in place, as their
        ``.connectors`` ([`synframe.attach`][synframe.attach.attach]; fafbseg's ``attach=True``). Other ``x`` have
        nothing to attach to.

    as_dask
        Return a lazy ``dask.dataframe.DataFrame`` read by the workers from a local store
        ([`to_dask`][synframe.sources.local.LocalStore.to_dask]: partitions along the store's sorted copies)
        instead of a pandas table. For tables larger than memory; needs a
        [`LocalStore`][synframe.sources.local.LocalStore] source.

    Returns
    -------
    pandas.DataFrame
        A [`SynapseTable`][synframe.schemas.SynapseTable] (positions in nm, sorted by synapse id) with
        provenance in ``attrs`` (source, datastack, table, materialization, resolution).

    Examples
    --------
    >>> import synframe as sf
    >>> syn = sf.fetch(sf.datasets.EXAMPLE_ROOT_ID, progress=False)  # the embedded example store
    >>> len(syn), syn.attrs["materialization"]
    (2424, 795)
    >>> len(sf.fetch(sf.datasets.EXAMPLE_ROOT_ID, post=False, progress=False))
    259
    >>> len(sf.fetch(source=sf.datasets.example_store()))  # every synapse of the store
    2424
    """
    _check_options(
        pre=pre, post=post, filtered=filtered, transmitters=transmitters, neuropils=neuropils,
        progress=progress, attach=attach, min_score=min_score, materialization=materialization,
        batch_size=batch_size, id_column=id_column, carry=carry,
    )  # fmt: skip
    if not (pre or post):
        raise OptionError("pre and post are both False: nothing to fetch; set at least one True")
    if carry is not None and not isinstance(x, pd.DataFrame):
        raise OptionError("carry= needs a DataFrame of neurons as x (one row per neuron)")
    if isinstance(x, pd.DataFrame):
        check_unique_columns(x, "the neuron table (x)")
    batch_size = None if batch_size is None else int(batch_size)
    if x is None:  # the whole table: only of a source named here, never of the default
        if source is None:
            raise OptionError(
                "fetch() without neurons reads a whole synapse table: name it explicitly, "
                "sf.fetch(source=path_or_store), or pass the ids of the neurons to fetch"
            )
        ids, neurons, idc = None, None, None
    else:
        ids, neurons, idc = _query_ids(x, id_column)
        ids = unique_ids(ids)
    src = as_source(source)
    if ids is None and not getattr(src, "whole_table", False):
        raise OptionError(
            f"{src!r} cannot return its whole table; pass the ids of the neurons to fetch "
            "(a whole-table fetch needs a local dump or store: sf.sources.LocalStore)"
        )
    query = Query(
        ids=ids,
        pre=pre,
        post=post,
        filtered=filtered,
        min_score=min_score,
        transmitters=transmitters,
        neuropils=neuropils,
        materialization=materialization,
        batch_size=batch_size,
        progress=progress,
    )
    if as_dask:
        return _fetch_dask(src, query, neurons, idc, carry)
    syn = src.fetch(query)
    attrs = copy.deepcopy(syn.attrs)
    if carry is not None:
        syn = annotate(syn, neurons, id_column=idc, columns=carry)
    attrs.setdefault("units", "nm")
    attrs["history"] = [query.record(len(syn))]
    syn.attrs = attrs
    log.info(
        "fetch: %d synapses of %s neurons from %s",
        len(syn),
        "all" if ids is None else len(ids),
        attrs.get("source"),
    )
    syn = run_schema(syn, stage_schema("synapses"), "SynapseTable (fetched)")
    if attach and _is_navis(x):
        from .attach import attach as attach_

        attach_(syn, x, inplace=True)
    return syn


_MATERIALIZATIONS = ("auto", "latest", "live")


def _check_options(*, min_score, materialization, batch_size, id_column, carry, **flags) -> None:
    """Every option of [`fetch`][synframe.fetch.fetch] of the wrong type or value, refused before any query."""
    for name, value in flags.items():
        if not isinstance(value, (bool, np.bool_)):
            raise OptionError(f"{name} must be True or False, got {value!r}")
    if min_score is not None:
        number = isinstance(min_score, (int, float, np.integer, np.floating))
        if not number or isinstance(min_score, (bool, np.bool_)) or not np.isfinite(min_score):
            raise OptionError(
                f"min_score must be a finite number (keep cleft_score >= it) or None, got "
                f"{min_score!r}"
            )
    version = isinstance(materialization, (int, np.integer)) and not isinstance(
        materialization, (bool, np.bool_)
    )
    if not (materialization in _MATERIALIZATIONS if isinstance(materialization, str) else version):
        raise OptionError(
            f"materialization must be 'auto', 'latest', 'live' or a version number, got "
            f"{materialization!r}"
        )
    if version and materialization < 0:
        raise OptionError(f"materialization must be a version number >= 0, got {materialization}")
    if batch_size is not None and (
        isinstance(batch_size, (bool, np.bool_))
        or not isinstance(batch_size, (int, np.integer))
        or batch_size < 1
    ):
        raise OptionError(f"batch_size must be a positive int, got {batch_size!r}")
    if id_column is not None and not isinstance(id_column, str):
        raise OptionError(f"id_column must be a column name (str), got {id_column!r}")
    names = [carry] if isinstance(carry, str) else carry
    if carry is not None and (
        not isinstance(names, (list, tuple)) or not all(isinstance(c, str) for c in names)
    ):
        raise OptionError(f"carry must be a column name or a list of them, got {carry!r}")


def _is_navis(x) -> bool:
    import navis

    return isinstance(x, (navis.BaseNeuron, navis.NeuronList))


def _fetch_dask(src, query: Query, neurons, id_column, carry):
    """``fetch(..., as_dask=True)``: the store's partitions, filtered and annotated lazily."""
    from .schemas import NEUROTRANSMITTERS, SynapseTable
    from .sources import LocalStore

    if not isinstance(src, LocalStore):
        raise OptionError(
            f"as_dask=True reads a local store; {src!r} is not one (CAVE is queried server side: "
            "fetch into pandas, or dump and build a LocalStore)"
        )
    src._check(query)
    columns = [c for c in src.columns if c not in NEUROTRANSMITTERS and c != SynapseTable.neuropil]
    if query.transmitters:
        columns += list(NEUROTRANSMITTERS)
    if query.neuropils:
        columns.append(SynapseTable.neuropil)
    ddf = src.to_dask(query.ids, columns=columns, pre=query.pre, post=query.post)
    if query.min_score is not None:
        ddf = ddf[ddf[SynapseTable.cleft_score] >= float(query.min_score)]
    if carry is not None:
        from .dask import annotate

        ddf = annotate(ddf, neurons, id_column=id_column, columns=carry)
    return ddf
