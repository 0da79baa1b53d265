"""Lengths and units: synapse tables are in nm, navis neurons carry ``neuron.units``.

Uses navis' own pint registry, so a ``neuron.units`` quantity and a threshold string speak the
same language (``"10 um"``, ``"10 micron"``, ``"10 µm"``, ``"8 nanometer"`` …).
"""

from __future__ import annotations

import functools
import numbers
import re
from typing import TYPE_CHECKING

import numpy as np

from .errors import UnitsError

if TYPE_CHECKING:
    import pint

__all__ = ["length_nm", "neuron_scale_nm"]


def _ureg() -> pint.UnitRegistry:
    import navis

    return navis.config.ureg


#: a length written as text: a number, then its unit (``"10 um"``, ``"2.5µm"``, ``"1e4 nm"``)
_LENGTH_TEXT = re.compile(r"^\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*([^\d\s].*?)\s*$")


def length_nm(value: str | float | pint.Quantity, *, name: str = "length") -> float:
    """A length in nm from a quantity string (``"10 um"``), a pint quantity, or a number in nm.

    A string is a number followed by its unit: a unit alone (``"um"``) or a bare number
    (``"10"``) is refused rather than guessed.

    Examples
    --------
    >>> from synframe.units import length_nm
    >>> length_nm("10 um"), length_nm("2.5 µm"), length_nm(500)
    (10000.0, 2500.0, 500.0)
    >>> length_nm("-1 um")
    Traceback (most recent call last):
    ...
    synframe.errors.UnitsError: length must not be negative, got '-1 um'
    >>> length_nm("um")
    Traceback (most recent call last):
    ...
    synframe.errors.UnitsError: length 'um' has no number; give e.g. '10 um', '10000 nm' or a number in nm
    """
    example = "give e.g. '10 um', '10000 nm' or a number in nm"
    if isinstance(value, (bool, np.bool_)) or value is None:
        raise UnitsError(f"{name} must be a length like '10 um' or a number in nm, got {value!r}")
    if isinstance(value, numbers.Real):
        try:
            nm = float(value)
        except OverflowError:
            raise UnitsError(f"{name} must be finite, got {value!r}") from None
    elif isinstance(value, str):
        match = _LENGTH_TEXT.match(value.replace("µ", "u").replace("μ", "u"))
        if match is None:
            words = value.split()
            try:
                number = float(words[0]) if words else None
            except ValueError:
                number = None
            if number is not None and not np.isfinite(number):
                raise UnitsError(f"{name} must be finite, got {value!r}")
            try:
                float(value)
            except ValueError:
                raise UnitsError(f"{name} {value!r} has no number; {example}") from None
            raise UnitsError(f"{name} {value!r} has no unit; {example}")
        nm = _to_nm(float(match.group(1)), match.group(2), value, name)
    else:
        nm = _to_nm(None, value, value, name)
    nm = round(nm, 6) + 0.0  # -0.0 -> 0.0; pint's 1e-6 / 1e-9 leaves 9999.999999999998 for "10 um"
    if not np.isfinite(nm):
        raise UnitsError(f"{name} must be finite, got {value!r}")
    if nm < 0:
        raise UnitsError(f"{name} must not be negative, got {value!r}")
    return nm


#: the common length units, converted without loading pint (and navis, whose registry it is):
#: ``length_nm`` runs on dask workers and in ``--help``-fast CLI paths; anything else goes to pint
_NM_PER_UNIT = {
    "nm": 1.0, "nanometer": 1.0, "nanometers": 1.0,
    "um": 1e3, "micron": 1e3, "microns": 1e3, "micrometer": 1e3, "micrometers": 1e3,
    "mm": 1e6, "millimeter": 1e6, "millimeters": 1e6,
    "m": 1e9, "meter": 1e9, "meters": 1e9,
}  # fmt: skip


def _to_nm(magnitude: float | None, unit, value, name: str) -> float:
    """``magnitude`` of ``unit`` (a unit name; or, without magnitude, a pint quantity) in nm."""
    if magnitude is not None and isinstance(unit, str) and unit in _NM_PER_UNIT:
        return magnitude * _NM_PER_UNIT[unit]
    import pint

    ureg = _ureg()
    try:
        if magnitude is None:
            if not isinstance(unit, pint.Quantity):
                raise TypeError
            q = unit
        else:
            q = ureg.Quantity(magnitude, ureg.Unit(unit))
        return float(q.to("nm").magnitude)
    except pint.errors.DimensionalityError:
        raise UnitsError(
            f"{name} {value!r} is not a length; give e.g. '10 um' or a number in nm"
        ) from None
    except Exception:  # pint's parser raises many kinds (UndefinedUnitError, TokenError …)
        raise UnitsError(
            f"{name} {value!r} has unknown units; give e.g. '10 um', '10000 nm' or a number in nm"
        ) from None


@functools.lru_cache(maxsize=256)
def _cached_scale(unit_str: str) -> np.ndarray | str:
    try:
        q = _ureg()(unit_str)
        scale = np.broadcast_to(np.asarray(q.to("nm").magnitude, dtype="float64"), (3,)).copy()
    except Exception as exc:  # reported by the caller with the neuron's id
        return f"{type(exc).__name__}"
    return scale


def _scale_of_unit_string(unit_str: str, ident) -> np.ndarray:
    scale = _cached_scale(unit_str)
    fix = "set it, e.g. neuron.units = '1 nm' (or '8 nm' for hemibrain voxels)"
    if isinstance(scale, str):
        if unit_str in ("dimensionless", "1 dimensionless", "1", "None"):
            raise UnitsError(f"neuron {ident} has no units; {fix}")
        raise UnitsError(
            f"neuron {ident} has units {unit_str!r}, which are not a known length; {fix}"
        )
    if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
        raise UnitsError(f"neuron {ident} has unusable units {unit_str!r}; {fix}")
    return scale


def neuron_scale_nm(neuron) -> np.ndarray:
    """How many nm one coordinate unit of ``neuron`` is, per axis (shape (3,)).

    navis neurons carry ``neuron.units`` (e.g. ``8 nanometer`` for hemibrain voxels, ``1 micrometer``
    for light-level data). Neurons without length units are refused: guessing would silently put
    synapses µm or voxels away from where they are.
    """
    import pint

    ident = getattr(neuron, "id", "?")
    unit_str = getattr(neuron, "_unit_str", None)  # navis keeps units as a string and re-parses it
    if isinstance(unit_str, str):  # on every `.units` access (~1.5 ms): parse each string once
        return _scale_of_unit_string(unit_str, ident).copy()
    units = getattr(neuron, "units", None)
    fix = "set it, e.g. neuron.units = '1 nm' (or '8 nm' for hemibrain voxels)"
    if units is None or str(units) in ("dimensionless", "1 dimensionless"):
        raise UnitsError(f"neuron {ident} has no units; {fix}")
    try:
        scale = np.asarray(units.to("nm").magnitude, dtype="float64")
    except pint.errors.DimensionalityError:
        raise UnitsError(
            f"neuron {ident} has units {units!s}, which are not a length; {fix}"
        ) from None
    except AttributeError:
        try:
            scale = np.asarray(_ureg().Quantity(str(units)).to("nm").magnitude, dtype="float64")
        except Exception:
            raise UnitsError(f"neuron {ident} has unknown units {units!r}; {fix}") from None
    scale = np.broadcast_to(scale, (3,)).astype("float64") if scale.size in (1, 3) else None
    if scale is None or not np.all(np.isfinite(scale)) or np.any(scale <= 0):
        raise UnitsError(f"neuron {ident} has unusable units {units!s}; {fix}")
    return scale
