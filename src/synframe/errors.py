"""synframe's exceptions and warnings: one root, [`SynframeError`][synframe.errors.SynframeError], a subclass per kind of problem.

Every message names the problem and the fix. Errors about bad input also derive from the built-in
exception a Python user would expect (``ValueError``, ``TypeError`` ...), so existing
``except ValueError`` code keeps working.

=======================  ==========================  ===============================================
class                    also a                      raised when
=======================  ==========================  ===============================================
[`OptionError`][synframe.errors.OptionError]     ``ValueError, TypeError``   an argument (option) has a wrong type or value
[`SchemaError`][synframe.errors.SchemaError]     ``ValueError``              a table does not match its stage's schema
[`IdError`][synframe.errors.IdError]         ``ValueError, TypeError``   ids are not exact 64-bit integers
[`UnitsError`][synframe.errors.UnitsError]      ``ValueError``              a length or a neuron's units are unusable
[`NeuronTypeError`][synframe.errors.NeuronTypeError] ``TypeError``               an object is not a navis neuron synframe can use
[`SourceError`][synframe.errors.SourceError]     ``ValueError``              a synapse source cannot be opened or asked this
[`FetchError`][synframe.errors.FetchError]      ``RuntimeError``            fetching failed for some ids (named)
[`PathwayError`][synframe.errors.PathwayError]    ``ValueError``              pathway statistics are invalid or do not fit
[`SonataError`][synframe.errors.SonataError]     ``ValueError``              a SONATA circuit cannot be read or written
[`AccessorError`][synframe.errors.AccessorError]   ``RuntimeError``            the ``.syn`` accessor could not be created
=======================  ==========================  ===============================================

[`SynframeWarning`][synframe.errors.SynframeWarning] (a ``UserWarning``) flags results that are probably not what was meant,
such as positions whose scale suggests the wrong units.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = [
    "AccessorError",
    "FetchError",
    "IdError",
    "NeuronTypeError",
    "OptionError",
    "PathwayError",
    "SchemaError",
    "SonataError",
    "SourceError",
    "SynframeError",
    "SynframeWarning",
    "UnitsError",
    "format_problems",
]


class SynframeError(Exception):
    """Base class of every error synframe raises on purpose."""


class OptionError(SynframeError, ValueError, TypeError):
    """An argument has the wrong type or an impossible value; the message names it and the fix."""


class SchemaError(SynframeError, ValueError):
    """A table does not match its stage's schema; ``failures`` lists every problem at once."""

    def __init__(self, message: str, failures: Any = None) -> None:
        super().__init__(message)
        if failures is None:
            import pandas as pd

            failures = pd.DataFrame(columns=["column", "check", "count", "examples", "hint"])
        #: one row per failing check: ``column, check, count, examples, hint``
        self.failures = failures


class IdError(SynframeError, ValueError, TypeError):
    """Ids that are not exact 64-bit integers (floats, booleans, text, out of range)."""


class UnitsError(SynframeError, ValueError):
    """A length, threshold or neuron unit is missing, unknown or not a length."""


class NeuronTypeError(SynframeError, TypeError):
    """Not a navis skeleton, mesh or dotprops (or a list of them)."""


class AccessorError(SynframeError, RuntimeError):
    """The ``.syn`` accessor could not be created for this object."""


class SourceError(SynframeError, ValueError):
    """A synapse source cannot be opened or cannot answer the request as asked."""


class FetchError(SynframeError, RuntimeError):
    """Fetching synapses failed for some ids; the message names them."""


class PathwayError(SynframeError, ValueError):
    """Pathway statistics are invalid or do not cover the synapses they are applied to."""


class SonataError(SynframeError, ValueError):
    """A SONATA circuit or file cannot be read or written as asked."""


class SynframeWarning(UserWarning):
    """A result that is probably not what was meant (e.g. positions in the wrong units)."""


def format_problems(header: str, problems: Iterable[str]) -> str:
    """One message for several problems: ``header`` then one ``  - problem`` line each.

    Examples
    --------
    >>> print(format_problems("cannot fit", ["g: no values", "u: NaN"]))
    cannot fit:
      - g: no values
      - u: NaN
    """
    problems = [str(p) for p in problems]
    if not problems:
        return header.rstrip(":")
    return header.rstrip(":") + ":\n  - " + "\n  - ".join(problems)
