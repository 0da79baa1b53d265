"""Opening SONATA circuits: a circuit config or a single edges file, its populations and files.

Facts of libsonata 0.1 this package relies on: its wheel cannot read compressed datasets (nothing
synframe writes is compressed); libsonata and h5py link separate HDF5 libraries, so every libsonata
handle on a file is closed before h5py writes it; an index cannot be overwritten (indices are
written once, into fresh files); populations with more than one edge group are refused (synframe
reads those with h5py, :mod:`._populations`); a config entry without ``populations`` yields none
(synframe lists them from the file).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

from ..errors import SonataError

__all__ = ["UM", "Circuit", "chunk_ranges"]

UM = 1000.0  # nm per µm: SONATA positions are µm, synframe tables nm


class Circuit:
    """Edge and node populations of a circuit config or of a single edges file.

    Populations are those a config entry lists, or -- when an entry lists none, as bmtk writes
    them -- every population in its file. Types files (``node_types_file``/``edge_types_file``)
    are kept per population; :meth:`edges` / :meth:`nodes` merge them per row.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        import libsonata

        self.path = Path(path).expanduser().resolve()
        if not self.path.exists():
            raise SonataError(f"{self.path} does not exist")
        self.config = None
        self.edge_files: dict[str, Path] = {}
        self.node_files: dict[str, Path] = {}
        self.edge_types: dict[str, Path | None] = {}
        self.node_types: dict[str, Path | None] = {}
        try:
            if self.path.suffix == ".json":
                self.config = libsonata.CircuitConfig.from_file(str(self.path))
                networks = json.loads(self.config.expanded_json).get("networks", {})
                for kind in ("nodes", "edges"):
                    for entry in networks.get(kind, []) or []:
                        self._add_entry(kind, entry)
            else:
                for name in sorted(libsonata.EdgeStorage(str(self.path)).population_names):
                    self.edge_files[name] = self.path
                    self.edge_types[name] = None
        except libsonata.SonataError as exc:
            raise SonataError(f"{self.path}: {exc}") from None
        if not self.edge_files:
            raise SonataError(f"{self.path}: no edge populations found")
        self.edge_files = dict(sorted(self.edge_files.items()))
        self.node_files = dict(sorted(self.node_files.items()))

    def _add_entry(self, kind: str, entry: dict) -> None:
        """Record the populations of one ``networks.nodes`` / ``networks.edges`` entry."""
        import libsonata

        singular = kind[:-1]
        key = f"{kind}_file"
        if key not in entry:
            return
        file = self._resolve(entry[key])
        types = entry.get(f"{singular}_types_file")
        types = self._resolve(types) if types else None
        names = list(entry.get("populations") or {})
        if not names:  # bmtk: the populations are the file's
            if not file.is_file():
                raise SonataError(
                    f"{self.path}: {key} {file} does not exist (the config lists no populations, "
                    "so synframe reads them from the file)"
                )
            storage = libsonata.NodeStorage if kind == "nodes" else libsonata.EdgeStorage
            names = sorted(storage(str(file)).population_names)
        files = self.node_files if kind == "nodes" else self.edge_files
        type_files = self.node_types if kind == "nodes" else self.edge_types
        for name in names:
            files[name] = file
            type_files[name] = types

    def _resolve(self, value: str) -> Path:
        p = Path(value)
        return (p if p.is_absolute() else self.path.parent / p).resolve()

    def edges(self, name: str):
        """The edge population ``name`` (:class:`~._populations.EdgeView`)."""
        from ._populations import EdgeView

        if name not in self.edge_files:
            raise SonataError(
                f"no edge population {name!r}; the circuit has {sorted(self.edge_files)}"
            )
        if not self.edge_files[name].is_file():
            raise SonataError(f"edge population {name!r}: {self.edge_files[name]} does not exist")
        return EdgeView(self.edge_files[name], name, self.edge_types.get(name))

    def nodes(self, name: str):
        """The node population ``name`` (:class:`~._populations.NodeView`), None if not in the config."""
        from ._populations import NodeView

        if name not in self.node_files or not self.node_files[name].is_file():
            return None
        return NodeView(self.node_files[name], name, self.node_types.get(name))

    def population(self, population: str | None) -> str:
        if population is None:
            if len(self.edge_files) != 1:
                raise SonataError(
                    f"{self.path} has {len(self.edge_files)} edge populations {sorted(self.edge_files)}; "
                    "choose one with population=..."
                )
            return next(iter(self.edge_files))
        if population not in self.edge_files:
            raise SonataError(
                f"no edge population {population!r}; the circuit has {sorted(self.edge_files)}"
            )
        return population


def chunk_ranges(n: int, chunk: int) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` of consecutive chunks of at most ``chunk`` items out of ``n``."""
    for start in range(0, n, chunk):
        yield start, min(start + chunk, n)
