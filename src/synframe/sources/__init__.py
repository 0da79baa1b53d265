"""Where synapses come from: the :class:`Source` protocol, backends, and ``source=`` coercion.

Every backend answers one question -- the synapses of these neurons -- through one method,
:meth:`Source.fetch`, taking a :class:`Query`. ``sf.fetch(..., source=...)`` accepts a ``Source``, a
path (parquet / feather file, a directory of parquet files, a DuckDB database, a store built by
:meth:`LocalStore.build`), or nothing: then the default source (:func:`set_default_source`, else the
``SYNFRAME_SOURCE`` environment variable, else the embedded example store).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from ..errors import SourceError

__all__ = [
    "CAVE",
    "LocalStore",
    "Query",
    "SonataSource",
    "Source",
    "as_source",
    "get_default_source",
    "set_default_source",
]


@dataclass(frozen=True)
class Query:
    """What ``sf.fetch`` asks a source for (ids are unique int64)."""

    ids: np.ndarray
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


@runtime_checkable
class Source(Protocol):
    """A synapse source: one method, returning a canonical table (nm) with provenance in attrs.

    ``fetch`` returns the synapses where ``pre`` is in ``query.ids`` (if ``query.pre``) or ``post``
    is (if ``query.post``), each synapse once; it raises :class:`~synframe.errors.SourceError` for
    an option it cannot honour rather than ignoring it.
    """

    def fetch(self, query: Query) -> pd.DataFrame:  # pragma: no cover - protocol
        ...


_default: Source | None = None


def set_default_source(source) -> Source | None:
    """Use ``source`` when ``sf.fetch`` gets none (``None`` restores the built-in default).

    Returns the previous default.
    """
    global _default
    previous = _default
    _default = None if source is None else as_source(source)
    return previous


def get_default_source() -> Source:
    """The source ``sf.fetch`` uses when given none."""
    if _default is not None:
        return _default
    env = os.environ.get("SYNFRAME_SOURCE")
    if env:
        return as_source(env)
    from ..datasets import example_store

    return example_store()


def as_source(source) -> Source:
    """A :class:`Source` from whatever ``source=`` was given."""
    if source is None:
        return get_default_source()
    if isinstance(source, Source) and not isinstance(source, (str, Path)):
        return source
    if hasattr(source, "materialize") and hasattr(source, "chunkedgraph"):  # a CAVEclient
        return CAVE(source)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source).expanduser()
        if path.exists() and path.suffix == ".json":  # a SONATA circuit config
            return SonataSource(path)
        if path.exists():
            return LocalStore(path)
        if isinstance(source, str) and "/" not in source and not path.suffix:  # a datastack name
            return CAVE(source)
        raise SourceError(
            f"source {str(source)!r} is not an existing file or directory; give a parquet/feather "
            "dump, a directory of parquet files, a DuckDB database or a store built with "
            "sf.sources.LocalStore.build"
        )
    raise SourceError(
        f"cannot use a {type(source).__name__} as a synapse source; give a path to a local dump or "
        "a Source object"
    )


from .cave import CAVE  # noqa: E402
from .local import LocalStore  # noqa: E402  (LocalStore needs Query/Source defined above)
from .sonata import SonataSource  # noqa: E402
