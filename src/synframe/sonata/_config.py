"""The ``circuit_config.json`` of a new circuit that ``parameterize_circuit`` writes.

The new edge files are referenced from the new folder; every other path points where it pointed
in the original config (made absolute against the original folder, whether it exists or not),
and empty strings -- SONATA's "not set" -- stay empty.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from ._circuit import Circuit

__all__ = ["write_config"]

#: config keys whose values are never paths, whatever files the circuit folder holds
_NOT_PATHS = frozenset({"type", "model_type", "model_template", "version", "target_simulator"})


def _is_path_key(key) -> bool:
    """SONATA keys that name files or folders (``nodes_file``, ``morphologies_dir`` …)."""
    return isinstance(key, str) and key.endswith(("_file", "_dir", "_path", "_index_dir"))


def _absolute_paths(value, base: Path, key=None, in_paths: bool = False):
    """The config with every relative path made absolute against ``base``, the original folder.

    A value is a path when its key names one (``*_file``, ``*_dir``, entries of
    ``alternate_morphologies``) -- whether it exists or not: a ``mechanisms_dir`` the circuit
    does not ship still points where it pointed -- or when it names an existing file or folder
    (``provenance.id_mapping``). Empty strings stay empty (SONATA's "not set"); absolute paths
    and ``$``-variables left unexpanded stay as they are.
    """
    if isinstance(value, dict):
        inner = in_paths or key == "alternate_morphologies"
        return {k: _absolute_paths(v, base, k, inner) for k, v in value.items()}
    if isinstance(value, list):
        return [_absolute_paths(v, base, key, in_paths) for v in value]
    if not isinstance(value, str) or not value or os.path.isabs(value) or key in _NOT_PATHS:
        return value
    if value.startswith("$"):
        return value
    if in_paths or _is_path_key(key) or (base / value).exists():
        return os.path.normpath(base / value)
    return value


def write_config(
    circuit: Circuit, staging: Path, new_edges: Mapping[Path, Path], provenance: Mapping
) -> None:
    """A circuit config for ``staging``: new edge files, everything else where it was (absolute)."""
    cfg = json.loads(circuit.config.expanded_json)  # manifest variables expanded, paths relative
    cfg = _absolute_paths(cfg, circuit.path.parent)
    for entry in cfg.get("networks", {}).get("edges", []):
        if not isinstance(entry.get("edges_file"), str):
            continue
        old = Path(entry["edges_file"]).resolve()
        if old in new_edges:
            entry["edges_file"] = "$BASE_DIR/" + str(new_edges[old])
    cfg["manifest"] = {"$BASE_DIR": "./"}
    cfg["synframe"] = {"parameterize_circuit": dict(provenance), "from": str(circuit.path)}
    (staging / "circuit_config.json").write_text(json.dumps(cfg, indent=2))
