"""Running the stage schemas: lazy validation, one error listing every failure with its fix.

`synframe.schemas` holds the models; this module picks a stage's schema
(`stage_schema`), runs it (`run_schema`) and words the failures (`hint`).
"""

from __future__ import annotations

import copy
import warnings
from typing import Literal

import numpy as np
import pandas as pd
import pandera.pandas as pa

from .errors import SchemaError
from .schemas import CleanSynapses, Connectors, ParameterizedSynapses, SynapseTable

__all__ = ["check_unique_columns", "run_schema", "stage_schema", "validate", "validate_connectors"]

Stage = Literal["synapses", "clean", "parameterized", "connectors"]
_MODELS: dict[str, type[pa.DataFrameModel]] = {
    "synapses": SynapseTable,
    "fetch": SynapseTable,
    "clean": CleanSynapses,
    "parameterized": ParameterizedSynapses,
    "parameterize": ParameterizedSynapses,
    "connectors": Connectors,
}

_ID_COLUMNS = {
    "id",
    "pre",
    "post",
    "connector_id",
    "node_id",
    "vertex_id",
    "point_id",
    "partner_id",
}


def hint(column: str, check: str, examples: list) -> str:
    """The fix for one failing check, in words a user can act on."""
    if check == "column_in_dataframe":
        return "add it (synframe tables use fafbseg's names: id, pre, post, pre_x … post_z, in nm)"
    if check.startswith("dtype(") and column in _ID_COLUMNS:
        got = examples[0] if examples else "?"
        if "float" in str(got):
            return (
                f"ids are stored as {got}, which cannot hold 64-bit ids exactly; read them as int64 "
                f"(e.g. pd.read_csv(..., dtype={{'{column}': 'int64'}})) from the original source"
            )
        if str(got).lower() == "uint64":
            return (
                f"all are below 2**63, so df['{column}'].astype('int64') converts them exactly "
                "(exact only below 2**63: uint64 values of 2**63 and more wrap to negative numbers)"
            )
        if str(got).lower().startswith("uint64 with ids"):
            return (
                "ids of 2**63 or more cannot be represented as int64 (synframe's ids are int64, "
                "< 2**63; no CAVE neuron or synapse id is this large): find where the column was "
                "written wrongly -- do not convert it with astype('int64'), which wraps such ids to "
                "negative numbers"
            )
        return f"ids are stored as {got}; convert to int64 (df['{column}'].astype('int64'))"
    if check.startswith("dtype("):
        return f"convert the column (df['{column}'].astype(...)); it is stored as {examples[:1]}"
    if check == "finite_position":
        return "positions must be finite numbers in nm; drop or fix the rows with NaN/inf or text"
    if check == "finite_number":
        return "scores and sizes must be finite numbers; drop or fill the NaN rows"
    if check == "not_nullable":
        if column in _ID_COLUMNS:
            return "ids must not be missing; drop those rows"
        return "missing values (NaN/None): drop or fill those rows"
    if check == "field_uniqueness":
        return "synapse ids must be unique; sf.clean(..., dedupe=True) drops duplicates"
    if check == "no_autapses":
        return "rows with pre == post are autapses; sf.clean(..., autapses=True) drops them"
    if check == "no_background":
        return "rows with partner id 0 are background; sf.clean(..., background=True) drops them"
    if check == "properties_present":
        return "parameter columns are missing; run sf.parameterize on the table"
    if check.startswith(("greater_than", "less_than", "in_range")):
        return "values are outside the allowed range"
    if check.startswith("isin"):
        return "values are not among the allowed ones"
    return "see the failing values"


def _report(failure_cases: pd.DataFrame, name: str) -> tuple[str, pd.DataFrame]:
    """Group pandera's failure cases into one line per (column, check)."""
    rows = []
    fc = failure_cases.copy()
    fc["column"] = fc["column"].astype(object).where(fc["column"].notna(), None)
    fc["check"] = fc["check"].astype(str).str.lstrip("_")  # inherited checks: function names
    fc["failure_case"] = pd.Series(
        [x.item() if isinstance(x, np.generic) else x for x in fc["failure_case"]],
        index=fc.index,
        dtype=object,
    )
    frame_level = (fc["schema_context"] == "DataFrameSchema") & (
        fc["check"] != "column_in_dataframe"
    )
    for check, grp in fc[frame_level].groupby("check", sort=False):
        idx = pd.unique(grp["index"].dropna())
        rows.append(
            {
                "column": None,
                "check": str(check),
                "count": len(idx),
                "examples": [int(i) if isinstance(i, np.integer) else i for i in idx[:5]],
            }
        )
    rest = fc[~frame_level]
    for (column, check), grp in rest.groupby(["column", "check"], sort=False, dropna=False):
        if check == "column_in_dataframe":
            column = grp["failure_case"].iloc[0]
        cases = grp["failure_case"].tolist()
        rows.append(
            {"column": column, "check": str(check), "count": len(cases), "examples": cases[:5]}
        )
    for row in rows:
        row["hint"] = hint(row["column"] or "", row["check"], row["examples"])
    table = pd.DataFrame(rows, columns=["column", "check", "count", "examples", "hint"])
    lines = [f"{name}: {len(table)} problem(s) found:"]
    for row in table.itertuples():
        where = f"column '{row.column}'" if row.column else "table"
        if row.check == "column_in_dataframe":
            what = f"missing column '{row.column}'"
        elif row.check.startswith("dtype("):
            what = f"{where}: expected {row.check[6:-1].strip(chr(39))}, got {row.examples[0]}"
        elif row.column is None:
            what = (
                f"{where}: check '{row.check}' fails for {row.count} row(s) (index {row.examples})"
            )
        else:
            what = (
                f"{where}: check '{row.check}' fails for {row.count} value(s), e.g. {row.examples}"
            )
        lines.append(f"  - {what} -- {row.hint}")
    return "\n".join(lines), table


def stage_schema(
    stage: str, *, drop_checks: tuple[str, ...] = (), unique_ids: bool = True
) -> pa.DataFrameSchema:
    """The pandera schema of ``stage``, without the frame checks ``drop_checks`` (rules not run)."""
    model = _MODELS.get(stage) if isinstance(stage, str) else None
    if model is None:
        raise SchemaError(f"unknown stage {stage!r}; use one of {sorted(set(_MODELS))}")
    schema = model.to_schema()
    if drop_checks:
        schema = copy.deepcopy(schema)
        # inherited frame checks carry their function's name (``_no_autapses``) in pandera
        schema.checks = [c for c in schema.checks if c.name.lstrip("_") not in drop_checks]
    if not unique_ids and "id" in schema.columns:
        schema = schema.update_column("id", unique=False)
    return schema


def check_unique_columns(df: pd.DataFrame, name: str) -> None:
    """A [`SchemaError`][synframe.errors.SchemaError] naming the repeated column labels of ``df`` (pandas allows them;
    ``df[label]`` is then a table, not a column, and every stage would misread it)."""
    dup = df.columns[df.columns.duplicated()]
    if len(dup):
        raise SchemaError(
            f"{name}: repeated column names {sorted(map(str, pd.unique(dup)))}; give each column "
            "one name (e.g. df.loc[:, ~df.columns.duplicated()] keeps the first)"
        )


def run_schema(df: pd.DataFrame, schema: pa.DataFrameSchema, name: str) -> pd.DataFrame:
    """Validate ``df`` against ``schema`` lazily; raise one [`SchemaError`][synframe.errors.SchemaError] listing every failure."""
    if not isinstance(df, pd.DataFrame):
        kind = f"{type(df).__module__}.{type(df).__qualname__}"
        hint = ""
        if kind.startswith("dask."):
            hint = (
                "; sf.dask has the table verbs for dask DataFrames (sf.dask.clean, "
                "sf.dask.parameterize, ...); otherwise .compute() a table that fits in memory"
            )
        raise SchemaError(f"{name}: expected a pandas DataFrame, got {kind}{hint}")
    check_unique_columns(df, name)
    attrs = df.attrs
    # pandera reports only the first missing column: list them all, and check the rest without them
    missing = [c for c, col in schema.columns.items() if col.required and c not in df.columns]
    cases = (
        [
            pd.DataFrame(
                {
                    "schema_context": "DataFrameSchema",
                    "column": missing,
                    "check": "column_in_dataframe",
                    "check_number": None,
                    "failure_case": missing,
                    "index": None,
                }
            )
        ]
        if missing
        else []
    )
    if missing:
        schema = schema.remove_columns(missing)
    try:
        with warnings.catch_warnings():
            # pandera's own failure-case concatenation trips pandas FutureWarnings
            warnings.simplefilter("ignore", FutureWarning)
            # positional index: pandera drops failure cases of frame checks on duplicate labels
            # (a shallow copy: no data is copied)
            positional = df.copy(deep=False)
            positional.index = pd.RangeIndex(len(df))
            try:
                schema.validate(positional, lazy=True, inplace=True)
            finally:
                # pandera caches its accessor on the frame, and the accessor refers back to the
                # frame: a cycle that would keep this shallow copy -- and so the table's arrays --
                # alive until the garbage collector runs, long after the caller dropped the table
                vars(positional).pop("pandera", None)
    except pa.errors.SchemaErrors as exc:
        fc = exc.failure_cases.copy()
        pos = pd.to_numeric(fc["index"], errors="coerce")
        ok = (pos.notna() & fc["column"].isin(df.columns)).to_numpy()
        labels = fc["index"].astype(object).to_numpy()
        rows = pos[ok].astype("int64").to_numpy()
        labels[ok] = df.index.to_numpy()[rows]
        fc["index"] = labels
        # pandera reports failing values through float64: take them from the table instead, so
        # 64-bit ids are shown exactly
        cases_ = fc["failure_case"].astype(object).to_numpy()
        for column in pd.unique(fc.loc[ok, "column"]):
            sel = ok & (fc["column"] == column).to_numpy()
            cases_[sel] = df[column].to_numpy()[pos[sel].astype("int64").to_numpy()]
        fc["failure_case"] = pd.Series(cases_, index=fc.index, dtype=object)
        cases.append(_dtype_cases(fc, df))
    if cases:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            message, table = _report(pd.concat(cases, ignore_index=True), name)
        raise SchemaError(message, table) from None
    df.attrs = attrs
    return df


def _dtype_cases(fc: pd.DataFrame, df: pd.DataFrame) -> pd.DataFrame:
    """Failure cases with one row per failing dtype check, naming the column's dtype.

    pandera reports a dtype failure either as the dtype or, for some dtypes (uint64 values of
    2**63 and more, checked against int64), as every failing value: the dtype is what the user must
    see. A uint64 id column is named with its largest value when that does not fit int64.
    """
    is_dtype = fc["check"].astype(str).str.lstrip("_").str.startswith("dtype(").to_numpy()
    is_dtype &= fc["column"].isin(df.columns).to_numpy()
    if not is_dtype.any():
        return fc
    rows = []
    for (column, check), _ in fc[is_dtype].groupby(["column", "check"], sort=False):
        got = str(df[column].dtype)
        if column in _ID_COLUMNS and df[column].dtype.kind == "u":
            values = df[column].dropna().to_numpy(dtype="uint64")
            big = values >= np.uint64(2**63)
            if big.any():
                got = f"{got} with ids >= 2**63 ({int(big.sum())} of them, e.g. {int(values[big][0])})"
        rows.append(
            {
                "schema_context": "Column",
                "column": column,
                "check": check,
                "check_number": None,
                "failure_case": got,
                "index": None,
            }
        )
    return pd.concat([fc[~is_dtype], pd.DataFrame(rows)], ignore_index=True)


def validate(df: pd.DataFrame, stage: Stage = "synapses") -> pd.DataFrame:
    """Check ``df`` against the schema of ``stage`` and return it unchanged.

    Parameters
    ----------
    df
        A synapse table (``stage`` = ``"synapses"``, ``"clean"`` or ``"parameterized"``) or a navis
        connector table (``"connectors"``).
    stage
        Which stage's schema to apply.

    Raises
    ------
    SchemaError
        Listing every failing check at once, each with how to fix it.

    Examples
    --------
    >>> import synframe as sf
    >>> syn = sf.datasets.example_synapses()
    >>> sf.validate(syn, "synapses") is syn
    True
    >>> bad = syn.astype({"pre": "float64"}).drop(columns="post_z")
    >>> sf.validate(bad)
    Traceback (most recent call last):
    ...
    synframe.errors.SchemaError: SynapseTable: 2 problem(s) found:
      - missing column 'post_z' -- add it (...)
      - column 'pre': expected int64, got float64 -- ids are stored as float64, ...
    """
    schema = stage_schema(stage)
    return run_schema(df, schema, _MODELS[stage].__name__)


def validate_connectors(neurons) -> object:
    """Check every neuron's ``.connectors`` against [`Connectors`][synframe.schemas.Connectors]; return ``neurons``.

    All failing neurons are reported in one [`SchemaError`][synframe.errors.SchemaError].

    Examples
    --------
    >>> import navis, synframe as sf
    >>> nl = navis.example_neurons(2)
    >>> sf.validate_connectors(nl) is nl
    True
    """
    from ._neurons import as_neuron_list

    nl = as_neuron_list(neurons)
    schema = stage_schema("connectors")
    problems = []
    for neuron in nl:
        con = getattr(neuron, "connectors", None)
        if con is None:
            continue
        try:
            run_schema(con, schema, f"neuron {neuron.id} connectors")
        except SchemaError as exc:
            problems.append(str(exc))
    if problems:
        raise SchemaError("\n".join(problems))
    return neurons
