"""Opening SONATA circuits: a circuit config or a single edges file, its populations and files.

Facts of libsonata 0.1 this package relies on: its wheel cannot read compressed datasets (nothing
synframe writes is compressed); libsonata and h5py link separate HDF5 libraries, so every libsonata
handle on a file is closed before h5py writes it; an index cannot be overwritten (indices are
written once, into fresh files); populations with more than one edge group are refused.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from ..errors import SonataError

__all__ = ["UM", "Circuit", "chunk_ranges"]

UM = 1000.0  # nm per µm: SONATA positions are µm, synframe tables nm


class Circuit:
    """Edge and node populations of a circuit config or of a single edges file."""

    def __init__(self, path: str | os.PathLike) -> None:
        import libsonata

        self.path = Path(path).expanduser().resolve()
        if not self.path.exists():
            raise SonataError(f"{self.path} does not exist")
        self.config = None
        self.edge_files: dict[str, Path] = {}
        self.node_files: dict[str, Path] = {}
        self.edge_nodes: dict[str, tuple[str, str]] = {}
        try:
            if self.path.suffix == ".json":
                cfg = libsonata.CircuitConfig.from_file(str(self.path))
                self.config = cfg
                for name in sorted(cfg.edge_populations):
                    self.edge_files[name] = Path(cfg.edge_population_properties(name).elements_path)
                for name in sorted(cfg.node_populations):
                    self.node_files[name] = Path(cfg.node_population_properties(name).elements_path)
            else:
                for name in sorted(libsonata.EdgeStorage(str(self.path)).population_names):
                    self.edge_files[name] = self.path
        except libsonata.SonataError as exc:
            raise SonataError(f"{self.path}: {exc}") from None
        if not self.edge_files:
            raise SonataError(f"{self.path}: no edge populations found")

    def edges(self, name: str):
        """An open libsonata EdgePopulation (closed when garbage-collected)."""
        import libsonata

        if name not in self.edge_files:
            raise SonataError(
                f"no edge population {name!r}; the circuit has {sorted(self.edge_files)}"
            )
        try:
            return libsonata.EdgeStorage(str(self.edge_files[name])).open_population(name)
        except libsonata.SonataError as exc:
            if "single-group" in str(exc):
                raise SonataError(
                    f"edge population {name!r} has more than one edge group; libsonata (and so synframe) "
                    "reads single-group populations only -- split it into one population per group "
                    "(e.g. with h5py) first"
                ) from None
            raise SonataError(f"{self.edge_files[name]}: {exc}") from None

    def nodes(self, name: str):
        import libsonata

        if name not in self.node_files:
            return None
        return libsonata.NodeStorage(str(self.node_files[name])).open_population(name)

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
