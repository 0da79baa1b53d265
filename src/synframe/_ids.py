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

    Ids are whole numbers in ``0 … 2**63 - 1``. Refused, with an [`IdError`][synframe.errors.IdError]
    naming the value: floats (even integral: an id that went through float64 may already be
    wrong), booleans (also inside a list of ints: ``[0, False]``), missing values (``NaN``,
    ``None``, ``<NA>``), negative numbers, numbers of 2**63 and above, and text that is not ASCII
    digits (``'1.5'``, ``'-3'``, ``'²'``, ``'٣'``).

    Examples
    --------
    >>> from synframe._ids import as_ids
    >>> as_ids(["864691136040432126", 5]).tolist()
    [864691136040432126, 5]
    >>> as_ids([0, False])
    Traceback (most recent call last):
    ...
    synframe.errors.IdError: ids: False is a boolean, not an id
    """
    if isinstance(values, (str, bytes, numbers.Number)) or np.isscalar(values):
        values = [values]
    elif isinstance(values, (set, frozenset, dict)) or not hasattr(values, "__len__"):
        raise IdError(
            f"{what}: a {type(values).__name__} is not a list of ids; pass an int, a string of "
            "digits, or a list / array / Series of them"
        )
    if isinstance(values, (pd.Series, pd.Index)):
        values = _extension_to_numpy(values, what)
    if isinstance(values, (list, tuple)):
        # numpy turns [0, False] into [0, 0] and [1, 2.5] into floats: look at the values first
        kinds = set(map(type, values))  # C speed; a per-value isinstance loop is 10x slower
        if bool in kinds or np.bool_ in kinds:
            v = next(v for v in values if isinstance(v, (bool, np.bool_)))
            raise IdError(f"{what}: {v!r} is a boolean, not an id")
    arr = np.asarray(values) if not isinstance(values, np.ndarray) else values
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    if arr.size == 0:
        return np.empty(0, dtype="int64")
    kind = arr.dtype.kind
    if kind == "b":
        raise IdError(f"{what} are booleans, not ids")
    if kind == "f" or kind == "c":
        if np.isnan(arr).any():
            raise IdError(f"{what}: {int(np.isnan(arr).sum())} missing (NaN); drop them first")
        raise IdError(f"{what} are floats ({arr.dtype}); {_FLOAT_HINT}")
    if kind == "i":
        out = arr.astype("int64", copy=False)
        if out.min() < 0:
            raise IdError(f"{what}: {int(out.min())} is negative; ids are >= 0")
        return out
    if kind == "u":
        if arr.max() > np.iinfo("int64").max:
            raise IdError(f"{what}: {int(arr.max())} does not fit in int64 (ids must be < 2**63)")
        return arr.astype("int64")
    if kind in "OUS":
        # fast path: every value reads as a string of ASCII digits (Python ints, or ids typed as
        # text); anything else ("1.5", "True", "²", None) gets the per-value errors
        try:
            text = np.char.strip(arr.astype(str)).astype("S")  # not ASCII: UnicodeEncodeError
            if np.char.isdigit(text).all():
                return text.astype(np.int64)
        except (UnicodeEncodeError, OverflowError, ValueError):
            pass  # reported by the per-value path below
        out = np.empty(len(arr), dtype="int64")
        for i, v in enumerate(arr):  # object arrays only: ids typed by hand or read as text
            out[i] = _one(v, what)
        return out
    raise IdError(f"{what} of dtype {arr.dtype} are not integer ids")


def _extension_to_numpy(values: pd.Series | pd.Index, what: str) -> np.ndarray:
    """The values of a Series/Index as numpy, integers kept exact (nullable and arrow dtypes)."""
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        values = pd.Series(np.asarray(values.astype(object)))
        dtype = values.dtype
    if isinstance(dtype, np.dtype):
        return values.to_numpy()
    missing = values.isna()
    if missing.any():
        raise IdError(f"{what}: {int(missing.sum())} missing (<NA>); drop them first")
    kind = getattr(dtype, "kind", "O")
    if kind in "iu":
        return values.to_numpy(dtype=getattr(dtype, "numpy_dtype", None))
    if kind == "b":
        raise IdError(f"{what} are booleans, not ids")
    return values.to_numpy(dtype=object)


def _one(v, what: str) -> int:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, bytes):
        try:
            v = v.decode("ascii")
        except UnicodeDecodeError:
            raise IdError(f"{what}: {v!r} is not an integer id") from None
    if isinstance(v, (bool, np.bool_)):
        raise IdError(f"{what}: {v!r} is a boolean, not an id")
    if v is None or v is pd.NA or v is pd.NaT:
        raise IdError(f"{what}: a missing value ({v!r}); drop it first")
    if isinstance(v, numbers.Integral):
        out = int(v)
    elif isinstance(v, str) and v.strip().isascii() and v.strip().isdigit():
        out = int(v.strip())
    elif isinstance(v, numbers.Real):
        if v != v:
            raise IdError(f"{what}: a missing value (NaN); drop it first")
        raise IdError(f"{what}: {v!r} is a float; {_FLOAT_HINT}")
    else:
        raise IdError(f"{what}: {v!r} is not an integer id (ids are whole numbers >= 0)")
    if out < 0:
        raise IdError(f"{what}: {v!r} is negative; ids are >= 0")
    if out >= 2**63:
        raise IdError(f"{what}: {v!r} does not fit in int64 (ids must be < 2**63)")
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
