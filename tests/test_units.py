"""Lengths: the common units are converted without pint, and agree with pint's conversion."""

import subprocess
import sys

import pytest

from synframe import units
from synframe.units import length_nm


@pytest.mark.parametrize("unit", sorted(units._NM_PER_UNIT))
@pytest.mark.parametrize("magnitude", [0.0, 2.5, 1e-3, 7e4])
def test_fast_units_agree_with_pint(unit, magnitude):
    ureg = units._ureg()
    expected = ureg.Quantity(magnitude, ureg.Unit(unit)).to("nm").magnitude
    assert length_nm(f"{magnitude} {unit}") == pytest.approx(expected, rel=1e-12, abs=1e-6)


@pytest.mark.parametrize("text", ["5 um", "10 nm", "0.5 mm", "3 microns"])
def test_common_lengths_do_not_load_navis(text):
    """A dask worker or the CLI parsing ``--max-distance 5um`` need not import navis (~2-3 s)."""
    code = f"import sys; from synframe.units import length_nm; length_nm({text!r}); print('navis' in sys.modules, 'pint' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_other_units_still_go_through_pint():
    assert length_nm("5 angstrom") == pytest.approx(0.5)
    assert length_nm("1 inch") == pytest.approx(25.4e6)
    with pytest.raises(units.UnitsError, match="not a length"):
        length_nm("5 s")
