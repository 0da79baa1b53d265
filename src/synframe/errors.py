"""synframe's exceptions: one root, :class:`SynframeError`, and a subclass per kind of problem.

Every message names the problem and the fix. Errors about bad input also derive from the built-in
exception a Python user would expect (``ValueError``, ``TypeError``, ``KeyError`` ...), so existing
``except ValueError`` code keeps working.
"""

from __future__ import annotations

import pandas as pd

__all__ = [
    "AccessorError",
    "FetchError",
    "PathwayError",
    "SchemaError",
    "SourceError",
    "SynframeError",
    "UnitsError",
]


class SynframeError(Exception):
    """Base class of every error synframe raises on purpose."""


class SchemaError(SynframeError, ValueError):
    """A table does not match its stage's schema; ``failures`` lists every problem at once."""

    def __init__(self, message: str, failures: pd.DataFrame | None = None) -> None:
        super().__init__(message)
        #: one row per failing check: ``column, check, count, examples, hint``
        self.failures = failures if failures is not None else pd.DataFrame()


class UnitsError(SynframeError, ValueError):
    """A length, threshold or neuron unit is missing, unknown or not a length."""


class AccessorError(SynframeError, RuntimeError):
    """The ``.syn`` accessor could not be created for this object."""


class SourceError(SynframeError, ValueError):
    """A synapse source cannot be opened or cannot answer the request as asked."""


class FetchError(SynframeError, RuntimeError):
    """Fetching synapses failed for some ids; the message names them."""


class PathwayError(SynframeError, ValueError):
    """Pathway statistics are invalid or do not cover the synapses they are applied to."""
