"""Stage schemas: lazy validation, all failures at once, hints that say the fix."""

import numpy as np
import pandas as pd
import pytest

import synframe as sf
from synframe.schemas import POSITIONS


def test_column_names_come_from_the_models():
    assert sf.SynapseTable.pre == "pre"
    assert POSITIONS == ("pre_x", "pre_y", "pre_z", "post_x", "post_y", "post_z")
    assert issubclass(sf.CleanSynapses, sf.SynapseTable)
    assert issubclass(sf.ParameterizedSynapses, sf.CleanSynapses)


def test_example_validates(syn):
    assert sf.validate(syn) is syn
    assert sf.validate(syn, "clean") is syn
    assert syn.syn.validate() is syn


def test_every_failure_is_reported_at_once(syn):
    bad = syn.astype({"post": "float64"}).drop(columns="pre_z")
    bad.loc[bad.index[0], "post_x"] = np.nan
    bad["gaba"] = 1.5
    with pytest.raises(sf.SchemaError) as exc:
        sf.validate(bad)
    err = exc.value
    assert isinstance(err, sf.SynframeError) and isinstance(err, ValueError)
    msg = str(err)
    assert "4 problem(s)" in msg
    for part in (
        "missing column 'pre_z'",
        "column 'post': expected int64, got float64",
        "column 'post_x': check 'not_nullable'",
        "column 'gaba'",
    ):
        assert part in msg
    assert set(err.failures["column"]) == {"pre_z", "post", "post_x", "gaba"}
    assert "read them as int64" in msg


def test_clean_schema_flags_autapses_duplicates_background(syn):
    bad = pd.concat([syn, syn.iloc[:2]])  # duplicate ids *and* duplicate index labels
    # (.loc on duplicate labels returns rows as float64, which would corrupt 64-bit ids: use iloc)
    bad.iloc[5, bad.columns.get_loc("post")] = bad["pre"].iloc[5]
    bad.iloc[6, bad.columns.get_loc("pre")] = 0
    with pytest.raises(sf.SchemaError) as exc:
        sf.validate(bad, "clean")
    checks = set(exc.value.failures["check"])
    msg = str(exc.value)
    assert f"{syn.id.iloc[0]}, " in msg and f"{syn.id.iloc[0]}.0" not in msg  # exact, not via float
    assert {"field_uniqueness", "no_autapses", "no_background"} <= checks
    sf.validate(bad, "synapses")  # the raw table may hold all of these


def test_connectors_schema():
    import navis

    nl = navis.example_neurons(2)
    assert nl.syn.validate() is nl
    nl[0].connectors.loc[0, "type"] = "gap"
    with pytest.raises(sf.SchemaError, match="isin"):
        sf.validate_connectors(nl)


def test_parameterized_needs_its_properties(syn):
    with pytest.raises(sf.SchemaError, match="properties_present"):
        sf.validate(syn, "parameterized")
    out = syn.assign(conductance=1.0)
    out.attrs["properties"] = ["conductance"]
    assert sf.validate(out, "parameterized") is out


def test_unknown_stage():
    with pytest.raises(sf.SchemaError, match="unknown stage"):
        sf.validate(pd.DataFrame(), "bogus")


def test_not_a_dataframe():
    with pytest.raises(sf.SchemaError, match="expected a pandas DataFrame"):
        sf.validate([1, 2, 3])


def test_uint64_id_columns_name_their_dtype_and_how_to_convert_safely(syn):
    small = syn.copy()
    small["pre"] = small["pre"].astype("uint64")
    with pytest.raises(sf.SchemaError) as exc:
        sf.clean(small)
    msg = str(exc.value)
    assert "column 'pre': expected int64, got uint64 --" in msg
    assert "df['pre'].astype('int64') converts them exactly" in msg
    # the advice is right: the converted table is accepted, with the same ids
    fixed = small.assign(pre=small["pre"].astype("int64"))
    assert fixed["pre"].tolist() == syn["pre"].tolist()
    sf.validate(fixed)

    big = syn.copy()
    big["pre"] = big["pre"].astype("uint64") + np.uint64(2**63)
    kept = big.copy()
    with pytest.raises(sf.SchemaError) as exc:
        sf.clean(big)
    msg = str(exc.value)
    first = int(big["pre"].iloc[0])
    assert f"got uint64 with ids >= 2**63 ({len(big)} of them, e.g. {first})" in msg
    assert "cannot be represented as int64" in msg
    assert "astype('int64')" in msg and "do not convert it" in msg  # a warning, not advice
    assert "converts them exactly" not in msg
    assert exc.value.failures["examples"].iloc[0] == [msg.split("got ")[1].split(" --")[0]]
    pd.testing.assert_frame_equal(big, kept)  # the input is left as it was

    some = syn.copy()
    some["post"] = some["post"].astype("UInt64")
    some.loc[some.index[3], "post"] = np.uint64(2**64 - 1)
    with pytest.raises(sf.SchemaError, match=r"got UInt64 with ids >= 2\*\*63 \(1 of them, e\.g\. "
                       r"18446744073709551615\)"):  # fmt: skip
        sf.validate(some)
