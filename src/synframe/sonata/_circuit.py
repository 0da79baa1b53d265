"""Opening SONATA circuits: a circuit config or a single edges file, its populations and files.

Facts of libsonata 0.1 this package relies on: its wheel cannot read compressed datasets (nothing
synframe writes is compressed); libsonata and h5py link separate HDF5 libraries, so every libsonata
handle on a file is closed before h5py writes it; an index cannot be overwritten (indices are
written once, into fresh files); populations with more than one edge group are refused (synframe
reads those with h5py, `._populations`); a config entry without ``populations`` yields none
(synframe lists them from the file).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import OptionError, SonataError

__all__ = [
    "UM",
    "Circuit",
    "check_chunk_size",
    "check_h5",
    "chunk_ranges",
    "name_problem",
    "read_config_json",
]

UM = 1000.0  # nm per µm: SONATA positions are µm, synframe tables nm

#: datasets of a population group that hold its layout, not properties (never written as one)
LAYOUT_DATASETS = frozenset({
    "source_node_id", "target_node_id", "edge_type_id", "edge_group_id", "edge_group_index",
    "node_type_id", "node_group_id", "node_group_index", "node_id", "edge_id", "indices",
})  # fmt: skip


def name_problem(name) -> str | None:
    """Why ``name`` cannot be a SONATA population or property (an HDF5 name), or None if it can.

    HDF5 reads ``/`` as a path separator (``"a/b"``, ``"../x"`` land in other groups), ``"."`` is
    the group itself, names stop at a NUL byte, and libsonata takes ``@``-names for its own
    (``@library``): a file written with such a name is one no reader finds the value in.
    """
    if not isinstance(name, str):
        return f"{name!r} is a {type(name).__name__}, not a string"
    if not name or not name.strip():
        return f"{name!r} is empty"
    if "/" in name:
        return f"{name!r} contains '/' (HDF5 reads it as a path into other groups)"
    if "\x00" in name:
        return f"{name!r} contains a NUL character"
    if name in (".", ".."):
        return f"{name!r} names a group, not a dataset"
    if name.startswith("@"):
        return f"{name!r} starts with '@' (reserved by SONATA for @library)"
    return None


def check_chunk_size(chunk_size, what: str = "chunk_size") -> int:
    """``chunk_size`` as a positive int, or an [`OptionError`][synframe.errors.OptionError] naming it."""
    if isinstance(chunk_size, (bool, np.bool_)) or not isinstance(chunk_size, (int, np.integer)):
        raise OptionError(f"{what} must be a positive int (edges at a time), got {chunk_size!r}")
    if chunk_size < 1:
        raise OptionError(f"{what} must be a positive int (edges at a time), got {chunk_size}")
    return int(chunk_size)


def read_config_json(path: Path) -> dict:
    """A circuit config as a dict, read with Python first: libsonata's parser crashes the process
    on deeply nested JSON and reports other problems without the file's name."""
    try:
        text = path.read_bytes().decode("utf-8")
        config = json.loads(text)
    except UnicodeDecodeError as exc:
        raise SonataError(f"{path}: not a circuit config (not UTF-8 text: {exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise SonataError(f"{path}: not a circuit config (invalid JSON: {exc})") from None
    except RecursionError:
        raise SonataError(f"{path}: not a circuit config (JSON nested too deeply)") from None
    except OSError as exc:
        raise SonataError(
            f"{path}: cannot read the circuit config ({exc.strerror or exc})"
        ) from None
    if not isinstance(config, dict):
        raise SonataError(
            f"{path}: not a circuit config (a JSON {type(config).__name__}, not an object)"
        )
    if _depth(config) > MAX_CONFIG_DEPTH:
        raise SonataError(f"{path}: not a circuit config (JSON nested too deeply)")
    return config


#: deeper than any circuit config (they nest ~5 levels); deeper JSON is refused before libsonata
MAX_CONFIG_DEPTH = 64


def _depth(value, level: int = 0) -> int:
    if level > MAX_CONFIG_DEPTH:
        return level
    if isinstance(value, dict):
        return max([_depth(v, level + 1) for v in value.values()], default=level + 1)
    if isinstance(value, list):
        return max([_depth(v, level + 1) for v in value], default=level + 1)
    return level


def single_file_config(nodes: dict, edges: dict, synframe: dict) -> dict:
    """A SONATA ``circuit_config.json`` whose populations live in ``nodes.h5`` / ``edges.h5`` next
    to it (population name -> its entry), with synframe's record of how it was made."""
    return {
        "version": 2.4,
        "manifest": {"$BASE_DIR": "./"},
        "components": {},
        "networks": {
            "nodes": [{"nodes_file": "$BASE_DIR/nodes.h5", "populations": nodes}],
            "edges": [{"edges_file": "$BASE_DIR/edges.h5", "populations": edges}],
        },
        "synframe": synframe,
    }


def string_dataset(group, name: str, values) -> None:
    """A variable-length UTF-8 string dataset (what libsonata reads as text)."""
    import h5py

    group.create_dataset(
        name, data=np.asarray(values, dtype=object).astype(str).astype(object),
        dtype=h5py.string_dtype(),
    )  # fmt: skip


def check_h5(path: Path, kind: str, what: str = "") -> None:
    """An [`SonataError`][synframe.errors.SonataError] unless ``path`` is a readable HDF5 file with a ``/<kind>`` group.

    Catches, with the file's name, what libsonata would report as a bare ``RuntimeError`` (or
    crash on): a missing or empty file, a truncated copy, another format, a directory, a nodes
    file where an edges file belongs.
    """
    import h5py

    label = f"{what}: " if what else ""
    if not path.exists():
        raise SonataError(f"{label}{path} does not exist")
    if not path.is_file():
        raise SonataError(f"{label}{path} is not a file (a SONATA {kind} file is HDF5)")
    try:
        with h5py.File(path, "r") as h5:
            groups = sorted(k for k in h5 if isinstance(h5[k], h5py.Group))
    except (OSError, RuntimeError, ValueError) as exc:
        reason = str(exc).split("(", 1)[-1].rstrip(")") if "(" in str(exc) else str(exc)
        raise SonataError(
            f"{label}{path} cannot be read as HDF5 ({reason}): is it truncated, still being "
            f"written, or not a SONATA {kind} file?"
        ) from None
    if kind not in groups:
        other = "nodes" if kind == "edges" else "edges"
        hint = f" -- it is a {other} file" if other in groups else ""
        raise SonataError(
            f"{label}{path} has no /{kind} group (groups: {groups}){hint}; give a SONATA "
            f"{kind} file"
        )


class Circuit:
    """Edge and node populations of a circuit config or of a single edges file.

    Populations are those a config entry lists, or -- when an entry lists none, as bmtk writes
    them -- every population in its file. Types files (``node_types_file``/``edge_types_file``)
    are kept per population; `edges` / `nodes` merge them per row.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        import libsonata

        if not isinstance(path, (str, os.PathLike)):
            raise OptionError(
                f"a circuit is a path to a circuit_config.json or an edges .h5 file, got "
                f"{type(path).__name__}"
            )
        self.path = Path(path).expanduser().resolve()
        if not self.path.exists():
            raise SonataError(f"{self.path} does not exist")
        if not self.path.is_file():
            raise SonataError(
                f"{self.path} is a directory; give its circuit_config.json (or an edges .h5 file)"
            )
        self.config = None
        self.edge_files: dict[str, Path] = {}
        self.node_files: dict[str, Path] = {}
        self.edge_types: dict[str, Path | None] = {}
        self.node_types: dict[str, Path | None] = {}
        try:
            if self.path.suffix == ".json":
                read_config_json(self.path)  # libsonata crashes on some JSON it should refuse
                self.config = libsonata.CircuitConfig.from_file(str(self.path))
                networks = json.loads(self.config.expanded_json).get("networks", {})
                if not isinstance(networks, dict):
                    raise SonataError(f"{self.path}: 'networks' is not a JSON object")
                for kind in ("nodes", "edges"):
                    entries = networks.get(kind, []) or []
                    if not isinstance(entries, list):
                        raise SonataError(f"{self.path}: networks.{kind} is not a list")
                    for entry in entries:
                        self._add_entry(kind, entry)
            else:
                check_h5(self.path, "edges")
                for name in sorted(libsonata.EdgeStorage(str(self.path)).population_names):
                    self.edge_files[name] = self.path
                    self.edge_types[name] = None
        except (libsonata.SonataError, RuntimeError) as exc:
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
        if not isinstance(entry, dict):
            raise SonataError(f"{self.path}: an entry of networks.{kind} is not a JSON object")
        if key not in entry:
            return
        if not isinstance(entry[key], str) or not entry[key]:
            raise SonataError(f"{self.path}: {key} {entry[key]!r} is not a file name")
        file = self._resolve(entry[key])
        types = entry.get(f"{singular}_types_file")
        types = self._resolve(types) if isinstance(types, str) and types else None
        names = list(entry.get("populations") or {})
        if not names:  # bmtk: the populations are the file's
            check_h5(
                file, kind, f"{self.path}: {key} (the config lists no populations, so synframe "
                "reads them from the file)",
            )  # fmt: skip
            storage = libsonata.NodeStorage if kind == "nodes" else libsonata.EdgeStorage
            names = sorted(storage(str(file)).population_names)
        files = self.node_files if kind == "nodes" else self.edge_files
        type_files = self.node_types if kind == "nodes" else self.edge_types
        for name in names:
            if name in files and files[name] != file:
                raise SonataError(
                    f"{self.path}: the {singular} population {name!r} is listed twice, in "
                    f"{files[name]} and {file}; a population has one file"
                )
            files[name] = file
            type_files[name] = types

    def _resolve(self, value: str) -> Path:
        p = Path(value)
        return (p if p.is_absolute() else self.path.parent / p).resolve()

    def edges(self, name: str):
        """The edge population ``name`` (`EdgeView`)."""
        from ._populations import EdgeView

        if name not in self.edge_files:
            raise SonataError(
                f"no edge population {name!r}; the circuit has {sorted(self.edge_files)}"
            )
        check_h5(self.edge_files[name], "edges", f"edge population {name!r}")
        return EdgeView(self.edge_files[name], name, self.edge_types.get(name))

    def nodes(self, name: str):
        """The node population ``name`` (`NodeView`), None if not in the config.

        A node file the config lists must exist and be readable (a [`SonataError`][synframe.errors.SonataError] if not).
        """
        from ._populations import NodeView

        if name not in self.node_files:
            return None
        check_h5(self.node_files[name], "nodes", f"node population {name!r}")
        return NodeView(self.node_files[name], name, self.node_types.get(name))

    def population(self, population: str | None) -> str:
        """The edge population to read: ``population``, or the only one there is."""
        if population is not None and not isinstance(population, str):
            raise OptionError(
                f"population must be a name (str), got {type(population).__name__} "
                f"{population!r}; the circuit has {sorted(self.edge_files)}"
            )
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
