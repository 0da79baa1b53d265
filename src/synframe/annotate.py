"""``annotate``: carry neuron annotations into a synapse table as ``pre_<col>`` / ``post_<col>``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ._ids import as_ids, id_column_of
from ._validation import check_unique_columns
from .errors import OptionError, SchemaError
from .schemas import POSITIONS, SynapseTable

__all__ = ["annotate"]

#: columns of a synapse table annotate never writes (``pre_x`` from a neuron column ``x`` …)
_PROTECTED = frozenset({SynapseTable.id, SynapseTable.pre, SynapseTable.post, *POSITIONS})


def annotate(
    syn: pd.DataFrame,
    neurons: pd.DataFrame,
    *,
    id_column: str | None = None,
    columns: Sequence[str] | str | None = None,
    sides: Sequence[str] = ("pre", "post"),
) -> pd.DataFrame:
    """Add annotations of the neurons on each side of every synapse (``pre_<col>``, ``post_<col>``).

    A neuron missing from ``neurons`` gets a missing value (NaN / <NA>); integer and boolean
    annotations are carried as pandas' nullable ``Int64`` / ``boolean`` (an id never turns into a
    float), whatever the rows, so any subset or partition of a table gets the same dtypes. Returns
    a new table.

    Parameters
    ----------
    syn
        A synapse table.
    neurons
        One row per neuron: an id column and annotation columns (cell type, class …).
    id_column
        The id column of ``neurons`` (default: ``root_id``, ``id`` … whichever exists).
    columns
        The annotation columns to carry (default: all but the id column).
    sides
        Which sides to annotate.

    Examples
    --------
    >>> import synframe as sf
    >>> syn = sf.datasets.example_synapses()
    >>> types = sf.datasets.example_cell_types()
    >>> out = sf.annotate(syn, types, columns="cell_type")
    >>> inputs = out[out.post == sf.datasets.EXAMPLE_ROOT_ID]
    >>> inputs["pre_cell_type"].value_counts().head(3)  # typed presynaptic partners
    pre_cell_type
    PTC    28
    DTC    27
    L4a     6
    Name: count, dtype: int64
    >>> int(inputs["pre_cell_type"].isna().sum())  # partners outside the column table
    2097
    """
    for name, table in (("syn", syn), ("neurons", neurons)):
        if not isinstance(table, pd.DataFrame):
            raise SchemaError(f"{name} must be a pandas DataFrame, got {type(table).__name__}")
        check_unique_columns(table, "the synapse table" if name == "syn" else "the neuron table")
    lacking = [c for c in (SynapseTable.pre, SynapseTable.post) if c not in syn.columns]
    if lacking:
        raise SchemaError(f"the synapse table has no {lacking} column(s); annotate needs both ids")
    if id_column is not None and not isinstance(id_column, str):
        raise OptionError(f"id_column must be a column name (str), got {id_column!r}")
    idc = id_column_of(neurons, id_column)
    if columns is None:
        columns = [c for c in neurons.columns if c != idc]
    elif isinstance(columns, str):
        columns = [columns]
    elif not isinstance(columns, (list, tuple, pd.Index)):
        raise OptionError(f"columns must be a column name or a list of them, got {columns!r}")
    columns = list(dict.fromkeys(columns))
    missing = [c for c in columns if c not in neurons.columns]
    if missing:
        raise SchemaError(f"annotation columns {missing} are not in the neuron table")
    sides = [sides] if isinstance(sides, str) else list(sides)
    bad_sides = [s for s in sides if s not in ("pre", "post")]
    if bad_sides or not sides:
        raise OptionError(f"sides must be 'pre' and/or 'post', got {bad_sides or sides}")
    clash = [f"{s}_{c}" for s in sides for c in columns if f"{s}_{c}" in _PROTECTED]
    if clash:
        raise SchemaError(
            f"annotating would replace the synapse table's own columns {clash}; rename those "
            "neuron columns first (e.g. neurons.rename(columns={'x': 'soma_x'}))"
        )
    ids = as_ids(neurons[idc], what=f"neuron table column {idc!r}")
    uniq, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        raise SchemaError(
            f"neuron table has repeated ids in {idc!r} (e.g. {uniq[counts > 1][:3].tolist()}); "
            "annotations must be one row per neuron"
        )
    table = neurons[list(columns)].set_axis(pd.Index(ids, name=idc))
    for c in columns:  # nullable, so that a neuron missing from the table never turns ints into
        if pd.api.types.is_bool_dtype(table[c].dtype):  # floats -- whatever the rows: the same
            table[c] = table[c].astype("boolean")  # dtypes for any subset or partition
        elif pd.api.types.is_integer_dtype(table[c].dtype):
            table[c] = table[c].astype("Int64")
    out = syn.copy()
    for side in sides:
        key = out[getattr(SynapseTable, side)].to_numpy()
        for c in columns:
            out[f"{side}_{c}"] = table[c].reindex(key).set_axis(out.index)
    return out
