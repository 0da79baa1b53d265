"""Neuron ids: int64 end to end, never through float64."""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

from .errors import IdError, SchemaError

__all__ = ["as_ids", "id_column_of", "unique_ids"]

_FLOAT_HINT = (
    "64-bit neuron ids cannot be held exactly by floats (FlyWire/MICrONS root ids are > 2**53); "
    "pass ints or strings of digits, and read id columns as int64 (e.g. dtype={'root_id': 'int64'})"
)


def as_ids(values, *, what: str = "ids") -> np.ndarray:
    """A 1-d int64 array of ids from an int, a string of digits, or a list/array/Series of them.

    Floats are refused, even when integral: an id that went through float64 may already be wrong.
    """
    if isinstance(values, (str, bytes, numbers.Number)) or np.isscalar(values):
        values = [values]
    if isinstance(values, (pd.Series, pd.Index)):
        values = values.to_numpy()
    arr = np.asarray(values) if not isinstance(values, np.ndarray) else values
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    if arr.size == 0:
        return np.empty(0, dtype="int64")
    kind = arr.dtype.kind
    if kind == "b":
        raise IdError(f"{what} are booleans, not ids")
    if kind == "f" or kind == "c":
        raise IdError(f"{what} are floats ({arr.dtype}); {_FLOAT_HINT}")
    if kind == "i":
        return arr.astype("int64", copy=False)
    if kind == "u":
        if len(arr) and arr.max() > np.iinfo("int64").max:
            raise IdError(f"{what} do not fit in int64 (largest {arr.max()})")
        return arr.astype("int64")
    if kind in "OUS":
        # fast path: every value reads as a string of digits (Python ints, or ids typed as text);
        # floats ("1.5", "1.0") and booleans ("True") are not digits and get the per-value errors
        text = np.char.strip(arr.astype(str))
        if np.char.isdigit(text).all():
            try:
                return text.astype(np.int64)
            except OverflowError:
                pass  # reported by the per-value path below
        out = np.empty(len(arr), dtype="int64")
        for i, v in enumerate(arr):  # object arrays only: ids typed by hand or read as text
            out[i] = _one(v, what)
        return out
    raise IdError(f"{what} of dtype {arr.dtype} are not integer ids")


def _one(v, what: str) -> int:
    if isinstance(v, bytes):
        v = v.decode()
    if isinstance(v, (bool, np.bool_)):
        raise IdError(f"{what}: {v!r} is a boolean, not an id")
    if isinstance(v, numbers.Integral):
        out = int(v)
    elif isinstance(v, str) and v.strip().isdigit():
        out = int(v.strip())
    elif isinstance(v, numbers.Real):
        raise IdError(f"{what}: {v!r} is a float; {_FLOAT_HINT}")
    else:
        raise IdError(f"{what}: {v!r} is not an integer id")
    if not 0 <= out < 2**63:
        raise IdError(f"{what}: {v!r} does not fit in int64")
    return out


def unique_ids(ids: np.ndarray) -> np.ndarray:
    """Unique ids in order of first appearance."""
    _, first = np.unique(ids, return_index=True)
    return ids[np.sort(first)]


#: names a neuron table's id column usually has, most specific first
ID_CANDIDATES = ("root_id", "id", "pt_root_id", "bodyId", "body_id", "segment_id", "skid")


def id_column_of(neurons: pd.DataFrame, id_column: str | None) -> str:
    """The id column of a table of neurons (given, or the first of the usual names)."""
    if id_column is not None:
        if id_column not in neurons.columns:
            raise SchemaError(
                f"id_column {id_column!r} is not a column of the neuron table (columns: "
                f"{list(neurons.columns)[:12]}); pass the column holding the neuron ids"
            )
        return id_column
    for name in ID_CANDIDATES:
        if name in neurons.columns:
            return name
    raise SchemaError(
        f"no neuron id column found among {list(neurons.columns)[:12]}; pass id_column=..., e.g. "
        "id_column='root_id'"
    )
