"""The [`Source`][synframe.sources._base.Source] protocol and the [`Query`][synframe.sources._base.Query] every source answers.

Every backend answers one question -- the synapses of these neurons -- through one method,
`Source.fetch`, taking a [`Query`][synframe.sources._base.Query].
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

__all__ = ["Query", "Source"]


@dataclass(frozen=True)
class Query:
    """What ``sf.fetch`` asks a source for (ids are unique int64; ``None``: every synapse)."""

    ids: np.ndarray | None
    pre: bool = True
    post: bool = True
    filtered: bool = True
    min_score: float | None = None
    transmitters: bool = False
    neuropils: bool = False
    materialization: Any = "auto"
    batch_size: int | None = None
    progress: bool = True
    extra: dict = field(default_factory=dict)

    def record(self, rows_out: int) -> dict:
        """The ``attrs["history"]`` entry of a fetch that answered this query with ``rows_out`` rows."""
        return {
            "stage": "fetch",
            "neurons": None if self.ids is None else len(self.ids),  # None: the whole table
            "query_ids": None if self.ids is None else [int(i) for i in self.ids],
            "rows_out": int(rows_out),
            "options": {
                "pre": self.pre,
                "post": self.post,
                "filtered": self.filtered,
                "min_score": self.min_score,
                "transmitters": self.transmitters,
                "neuropils": self.neuropils,
                "materialization": self.materialization,
            },
        }


@runtime_checkable
class Source(Protocol):
    """A synapse source: one method, returning a canonical table (nm) with provenance in attrs.

    ``fetch`` returns the synapses where ``pre`` is in ``query.ids`` (if ``query.pre``) or ``post``
    is (if ``query.post``), each synapse once; it raises [`SourceError`][synframe.errors.SourceError] for
    an option it cannot honour rather than ignoring it. A source that can return its whole table
    (``query.ids`` is ``None``) says so with a class attribute ``whole_table = True``;
    ``sf.fetch`` never sends ``None`` to other sources.
    """

    def fetch(self, query: Query) -> pd.DataFrame:  # pragma: no cover - protocol
        ...
