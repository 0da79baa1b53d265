"""How a dump's columns are read as canonical columns, in DuckDB SQL (names, list positions, types)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import SourceError
from ..schemas import NEUROTRANSMITTERS, POSITIONS, SynapseTable

__all__ = ["DUCKDB", "FEATHER", "PARQUET", "Layout", "lit", "q"]

PARQUET = (".parquet", ".pq", ".parq")
FEATHER = (".feather", ".arrow", ".ipc", ".arrows")
DUCKDB = (".duckdb", ".db", ".ddb")
_INT_TYPES = (
    "BIGINT",
    "INTEGER",
    "SMALLINT",
    "TINYINT",
    "UBIGINT",
    "UINTEGER",
    "USMALLINT",
    "UTINYINT",
    "HUGEINT",
)

#: canonical name -> names it has in dumps (first found wins)
_ALIASES: dict[str, tuple[str, ...]] = {
    SynapseTable.id: ("id",),
    SynapseTable.pre: ("pre", "pre_pt_root_id"),
    SynapseTable.post: ("post", "post_pt_root_id"),
    SynapseTable.cleft_score: ("cleft_score",),
    SynapseTable.connection_score: ("connection_score",),
    SynapseTable.size: ("size",),
    SynapseTable.neuropil: ("neuropil",),
    SynapseTable.gaba: ("gaba",),
    SynapseTable.acetylcholine: ("acetylcholine", "ach"),
    SynapseTable.glutamate: ("glutamate", "glut"),
    SynapseTable.octopamine: ("octopamine", "oct"),
    SynapseTable.serotonin: ("serotonin", "ser"),
    SynapseTable.dopamine: ("dopamine", "da"),
}

#: canonical columns in the order of a fetched table
_ORDER = (
    SynapseTable.id, SynapseTable.pre, SynapseTable.post, *POSITIONS,
    SynapseTable.cleft_score, SynapseTable.connection_score, SynapseTable.size,
    *NEUROTRANSMITTERS, SynapseTable.neuropil,
)  # fmt: skip


def q(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def lit(path: Path) -> str:
    """A quoted SQL string literal."""
    return "'" + str(path).replace("'", "''") + "'"


class Layout:
    """How the canonical columns are read from one relation (names, list-valued positions, types)."""

    def __init__(self, types: dict[str, str], where: str) -> None:
        self.types = types
        self.expr: dict[str, str] = {}
        for canonical, names in _ALIASES.items():
            found = next((n for n in names if n in types), None)
            if found is not None:
                self.expr[canonical] = q(found)
        self.cave_positions = False
        for side in ("pre", "post"):
            names = [f"{side}_{a}" for a in "xyz"]
            split = [f"{side}_pt_position_{a}" for a in "xyz"]
            listed = f"{side}_pt_position"
            if all(c in types for c in names):
                exprs = [q(c) for c in names]
            elif all(c in types for c in split):
                exprs = [q(c) for c in split]
                self.cave_positions = True
            elif listed in types:
                exprs = [f"{q(listed)}[{i + 1}]" for i in range(3)]
                self.cave_positions = True
            else:
                raise SourceError(
                    f"{where}: no {side}-synaptic positions; expected columns {names}, {split} or a "
                    f"list column '{listed}'"
                )
            self.expr.update(zip(names, exprs, strict=True))
        missing = [
            c for c in (SynapseTable.id, SynapseTable.pre, SynapseTable.post) if c not in self.expr
        ]
        if missing:
            raise SourceError(
                f"{where}: no column for {missing}; a synapse dump needs a synapse id and the pre/post "
                "neuron ids ('id', 'pre'/'pre_pt_root_id', 'post'/'post_pt_root_id')"
            )
        for canonical in (SynapseTable.id, SynapseTable.pre, SynapseTable.post):
            col = self.expr[canonical].strip('"')
            if not types[col].upper().startswith(_INT_TYPES):
                raise SourceError(
                    f"{where}: column '{col}' has type {types[col]}; ids must be stored as integers "
                    "(64-bit ids cannot be held exactly by floats) -- rewrite the dump with int64 ids"
                )

    def has(self, canonical: str) -> bool:
        return canonical in self.expr

    def columns(self) -> list[str]:
        """Every canonical column this relation can give, in the order of a fetched table."""
        return [c for c in _ORDER if self.has(c)]

    def select(
        self,
        resolution: np.ndarray | None,
        *,
        transmitters: bool = False,
        neuropils: bool = False,
        columns: list[str] | None = None,
    ) -> str:
        """The SELECT list producing canonical columns; positions scaled to nm unless ``None``.

        ``columns``: exactly these canonical columns, in this order (else ids, positions, scores,
        and transmitters / neuropil as asked).
        """
        if columns is None:
            columns = [
                c
                for c in self.columns()
                if (c not in NEUROTRANSMITTERS or transmitters)
                and (c != SynapseTable.neuropil or neuropils)
            ]
        parts = []
        for c in columns:
            e = self.expr[c]
            if c in (SynapseTable.id, SynapseTable.pre, SynapseTable.post):
                parts.append(f"CAST({e} AS BIGINT) AS {c}")
            elif c in POSITIONS:
                parts.append(
                    f"{e} AS {c}"
                    if resolution is None
                    else f"CAST({e} AS DOUBLE) * {float(resolution[POSITIONS.index(c) % 3])!r} AS {c}"
                )
            elif c in NEUROTRANSMITTERS:
                parts.append(f"CAST({e} AS DOUBLE) AS {c}")
            else:
                parts.append(f"{e} AS {c}")
        return ", ".join(parts)
