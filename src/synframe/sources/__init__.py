"""Where synapses come from: the [`Source`][synframe.sources._base.Source] protocol, its backends, and ``source=`` coercion.

``sf.fetch(..., source=...)`` accepts a [`Source`][synframe.sources._base.Source] ([`LocalStore`][synframe.sources.local.LocalStore], [`CAVESource`][synframe.sources.cave.CAVESource],
[`SonataSource`][synframe.sources.sonata.SonataSource], or your own object with a ``fetch(query)`` method), a ``caveclient.CAVEclient``,
a path (parquet / feather file, a directory of parquet files, a DuckDB database, a store built by
[`LocalStore.build`][synframe.sources.local.LocalStore.build], a SONATA ``circuit_config.json``), a CAVE datastack name, or nothing: then
the default source ([`set_default_source`][synframe.sources.set_default_source], else the ``SYNFRAME_SOURCE`` environment variable,
else the embedded example store).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import SourceError
from ._base import Query, Source
from .cave import CAVESource
from .local import LocalStore
from .sonata import SonataSource

#: datastack names ``source=`` takes as a bare word (others: ``CAVESource(name)``), so that a typo
#: fails at once, offline, instead of asking a server for a datastack that does not exist
KNOWN_DATASTACKS = (
    "flywire_fafb_public",
    "flywire_fafb_production",
    "flywire_fafb_sandbox",
    "minnie65_public",
    "minnie65_phase3_v1",
    "h01_c3_flat",
    "fanc_production_mar2021",
    "brain_and_nerve_cord",
    "v1dd_public",
    "zheng_ca3",
)

__all__ = [
    "KNOWN_DATASTACKS",
    "CAVESource",
    "LocalStore",
    "Query",
    "SonataSource",
    "Source",
    "as_source",
    "get_default_source",
    "set_default_source",
]

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
    from ._embedded import example_store

    return example_store()


def as_source(source) -> Source:
    """A [`Source`][synframe.sources._base.Source] from whatever ``source=`` was given."""
    if source is None:
        return get_default_source()
    if isinstance(source, Source) and not isinstance(source, (str, Path)):
        return source
    if hasattr(source, "materialize") and hasattr(source, "chunkedgraph"):  # a CAVEclient
        return CAVESource(source)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source).expanduser()
        if path.exists() and path.suffix == ".json":  # a SONATA circuit config
            return SonataSource(path)
        if path.exists():
            return LocalStore(path)
        if isinstance(source, str) and source in KNOWN_DATASTACKS:
            return CAVESource(source)
        bare = isinstance(source, str) and "/" not in source and not path.suffix
        raise SourceError(
            f"source {str(source)!r} is not an existing file or directory"
            + (
                f" nor a known CAVE datastack ({', '.join(KNOWN_DATASTACKS)}); for another "
                f"datastack pass sf.sources.CAVESource({source!r}) or a caveclient.CAVEclient"
                if bare
                else ""
            )
            + "; a local source is a parquet/feather dump, a directory of parquet files, a DuckDB "
            "database, a store built with sf.sources.LocalStore.build or a SONATA circuit_config.json"
        )
    raise SourceError(
        f"cannot use a {type(source).__name__} as a synapse source; give a path to a local dump or "
        "a Source object"
    )
