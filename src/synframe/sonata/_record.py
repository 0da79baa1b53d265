"""What a circuit synframe writes records about how it was made.

``write_circuit`` and ``write_synaptome`` write tables whose values were drawn earlier (by
[`synframe.parameterize`][synframe.parameterize.parameterize], whose record is in the table's ``attrs["history"]``; for a dask
table, in ``ddf._meta.attrs``). That record -- synframe version, seed, pathway property,
properties, the model's SHA-256 and its file -- goes into the circuit, as
[`parameterize_circuit`][synframe.sonata.circuit.parameterize_circuit] writes its own: the ``synframe`` entry of
``circuit_config.json`` (key ``parameterize``) and the HDF5 attribute ``synframe_provenance`` (JSON)
on ``/edges/<population>``, so that the values can be traced to their inputs and drawn again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime

__all__ = ["PROVENANCE_ATTRIBUTE", "circuit_entry", "drawn_by", "stamp"]

#: the HDF5 attribute on ``/edges/<population>`` that holds the record (JSON)
PROVENANCE_ATTRIBUTE = "synframe_provenance"

#: the keys of a parameterize record that say what drew the values (not per-pathway counts)
_KEYS = ("synframe_version", "seed", "by", "properties", "stats_sha256", "stats_file",
         "stats_file_sha256", "model")  # fmt: skip


def drawn_by(attrs: Mapping) -> dict | None:
    """What drew a table's values: its last ``parameterize`` record (earlier ones under
    ``"earlier"``, oldest first), or None when the table was not parameterized."""
    history = attrs.get("history") or []
    records = [
        {k: h[k] for k in _KEYS if k in h}
        for h in history
        if isinstance(h, Mapping) and h.get("stage") == "parameterize"
    ]
    if not records:
        return None
    out = dict(records[-1])
    if len(records) > 1:
        out["earlier"] = records[:-1]
    return out


def circuit_entry(attrs: Mapping, written_by: str) -> dict:
    """The ``synframe`` entry of a written circuit's config: writer, version, time, the table's
    source and stages, and what drew its values."""
    from .. import __version__

    entry = {
        "written_by": written_by,
        "synframe_version": __version__,
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "synapses_source": attrs.get("source"),
        "stages": [h.get("stage") for h in attrs.get("history") or [] if isinstance(h, Mapping)],
    }
    drawn = drawn_by(attrs)
    if drawn is not None:
        entry["parameterize"] = drawn
    return entry


def stamp(edge_group, drawn: Mapping | None) -> None:
    """Record what drew the values (`drawn_by`) on an open h5py ``/edges/<population>``."""
    if drawn is not None:
        edge_group.attrs[PROVENANCE_ATTRIBUTE] = json.dumps(drawn, default=str)
