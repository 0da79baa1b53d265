"""pandera models of the tables each stage produces (running them: `synframe._validation`).

The schemas inherit like the stages: [`SynapseTable`][synframe.schemas.SynapseTable] (what ``fetch`` returns) →
[`CleanSynapses`][synframe.schemas.CleanSynapses] (what ``clean`` returns) → [`ParameterizedSynapses`][synframe.schemas.ParameterizedSynapses] (what
``parameterize`` returns); [`Connectors`][synframe.schemas.Connectors] is navis' ``neuron.connectors`` layout.

Column names are read from the models (``SynapseTable.pre == "pre"``), never typed as strings
elsewhere in synframe.

Validation ([`synframe.validate`][synframe._validation.validate]) is lazy: every failing check is collected and reported in
one [`SchemaError`][synframe.errors.SchemaError], with a hint that says how to fix each.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

__all__ = [
    "NEUROTRANSMITTERS",
    "POSITIONS",
    "CleanSynapses",
    "Connectors",
    "ParameterizedSynapses",
    "SynapseTable",
]


def _finite_numbers(series: pd.Series) -> pd.Series | bool:
    """True where a value is a finite number (dtype must be numeric, bool excluded)."""
    if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return False
    values = series.to_numpy()
    if values.dtype.kind not in "fiu":  # nullable (Float64, Int64 …): NA as NaN
        values = series.to_numpy(dtype="float64", na_value=np.nan)
    return pd.Series(np.isfinite(values), index=series.index)  # plain numpy: no float64 copy


class SynapseTable(pa.DataFrameModel):
    """A synapse table as ``fetch`` returns it: one row per synapse, positions in nm.

    Required: ``id`` (int64 synapse id), ``pre``/``post`` (int64 neuron ids; never float64, which
    cannot hold 64-bit ids), ``pre_x … post_z`` (finite numbers, nm). Optional: scores, ``size``,
    ``neuropil``, neurotransmitter probabilities in [0, 1], and ``pre_<annotation>`` /
    ``post_<annotation>`` columns of any type. Duplicate ids are allowed here (``clean`` drops them).
    """

    id: Series[np.int64]
    pre: Series[np.int64]
    post: Series[np.int64]
    pre_x: Series[Any]
    pre_y: Series[Any]
    pre_z: Series[Any]
    post_x: Series[Any]
    post_y: Series[Any]
    post_z: Series[Any]
    cleft_score: Optional[Series[Any]]
    connection_score: Optional[Series[Any]]
    size: Optional[Series[Any]]
    neuropil: Optional[Series[Any]]
    gaba: Optional[Series[float]] = pa.Field(ge=0, le=1)
    acetylcholine: Optional[Series[float]] = pa.Field(ge=0, le=1)
    glutamate: Optional[Series[float]] = pa.Field(ge=0, le=1)
    octopamine: Optional[Series[float]] = pa.Field(ge=0, le=1)
    serotonin: Optional[Series[float]] = pa.Field(ge=0, le=1)
    dopamine: Optional[Series[float]] = pa.Field(ge=0, le=1)

    class Config:
        strict = False
        coerce = False

    @pa.check("pre_x", "pre_y", "pre_z", "post_x", "post_y", "post_z", name="finite_position")
    def _finite_position(cls, series: pd.Series) -> pd.Series | bool:
        return _finite_numbers(series)

    @pa.check("cleft_score", "connection_score", "size", name="finite_number")
    def _finite_score(cls, series: pd.Series) -> pd.Series | bool:
        return _finite_numbers(series)


class CleanSynapses(SynapseTable):
    """A synapse table as ``clean`` returns it: unique ids, no autapses, no background partners.

    ``clean`` validates its output with exactly the checks of the rules it ran (a rule switched off
    is not checked).
    """

    id: Series[np.int64] = pa.Field(unique=True)

    @pa.dataframe_check(name="no_autapses", ignore_na=False)  # ignore_na: an isna() of every cell
    def _no_autapses(cls, df: pd.DataFrame) -> pd.Series | bool:
        if cls.pre not in df or cls.post not in df:
            return True
        return df[cls.pre] != df[cls.post]

    @pa.dataframe_check(name="no_background", ignore_na=False)
    def _no_background(cls, df: pd.DataFrame) -> pd.Series | bool:
        if cls.pre not in df or cls.post not in df:
            return True
        return (df[cls.pre] != 0) & (df[cls.post] != 0)


class ParameterizedSynapses(CleanSynapses):
    """A clean synapse table with one finite column per physiological property.

    The property columns are the ones ``parameterize`` recorded in
    ``df.attrs["properties"]``.
    """

    @pa.dataframe_check(name="properties_present", ignore_na=False)
    def _properties(cls, df: pd.DataFrame) -> bool:
        props = df.attrs.get("properties", [])
        return bool(props) and all(p in df for p in props)


class Connectors(pa.DataFrameModel):
    """navis' connector table (``neuron.connectors``) as synframe writes it.

    ``connector_id`` is the synapse id (so connectors join back to the synapse table); the attached
    point is ``node_id`` (skeletons), ``vertex_id`` (meshes) or ``point_id`` (dotprops); ``x, y, z``
    are in the neuron's units.
    """

    connector_id: Series[np.int64]
    type: Series[str] = pa.Field(isin=["pre", "post"])
    x: Series[Any]
    y: Series[Any]
    z: Series[Any]
    node_id: Optional[Series[np.int64]]
    vertex_id: Optional[Series[np.int64]]
    point_id: Optional[Series[np.int64]]
    partner_id: Optional[Series[np.int64]]
    distance: Optional[Series[float]] = pa.Field(ge=0)

    class Config:
        strict = False
        coerce = False

    @pa.check("x", "y", "z", name="finite_position")
    def _finite_position(cls, series: pd.Series) -> pd.Series | bool:
        return _finite_numbers(series)


#: position columns of the canonical table, in nm
POSITIONS = (
    SynapseTable.pre_x,
    SynapseTable.pre_y,
    SynapseTable.pre_z,
    SynapseTable.post_x,
    SynapseTable.post_y,
    SynapseTable.post_z,
)
#: per-synapse neurotransmitter probability columns (Eckstein et al. 2020), fafbseg's names
NEUROTRANSMITTERS = (
    SynapseTable.gaba,
    SynapseTable.acetylcholine,
    SynapseTable.glutamate,
    SynapseTable.octopamine,
    SynapseTable.serotonin,
    SynapseTable.dopamine,
)
