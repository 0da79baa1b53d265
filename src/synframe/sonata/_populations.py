"""SONATA node and edge populations as the specification allows them, not only as BBP writes them.

- **Groups.** A population's rows are spread over groups (``/edges/<pop>/0``, ``/1`` …), each with
  its own datasets, located by ``edge_group_id`` / ``edge_group_index`` (nodes: ``node_group_*``).
  libsonata reads single-group populations only, so a population with several groups (bmtk writes
  one per model type) is read with h5py: every group's datasets on its own rows; rows of groups
  without a dataset get a missing value (NaN, ``<NA>`` for integers, ``None`` for text).
- **Types.** ``node_types_file`` / ``edge_types_file`` CSVs (space-separated, ``NULL`` = missing,
  a ``population`` column when one file serves several populations) give per-type attributes,
  keyed by ``node_type_id`` / ``edge_type_id``; a row takes its type's values, and a row's own
  dataset wins where its group has one (the specification's precedence).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import SonataError

__all__ = ["EdgeView", "NodeView", "TypesTable", "group_names"]


class TypesTable:
    """Per-type attributes of one population from its types CSV."""

    def __init__(self, path: Path, kind: str, population: str) -> None:
        self.path, self.key = Path(path), f"{kind}_type_id"
        if not self.path.is_file():
            raise SonataError(f"the {kind} types file {self.path} does not exist")
        try:
            df = pd.read_csv(
                self.path, sep=r"\s+", na_values=["NULL"], keep_default_na=False, quotechar='"'
            )
        except (ValueError, pd.errors.ParserError) as exc:
            raise SonataError(f"{self.path}: not a SONATA types CSV ({exc})") from None
        if self.key not in df:
            raise SonataError(f"{self.path} has no {self.key!r} column; it has {list(df.columns)}")
        if "population" in df:
            df = df[df["population"].astype(str) == population].drop(columns="population")
        if df[self.key].duplicated().any():
            raise SonataError(f"{self.path}: {self.key} values repeat")
        self.table = df.set_index(self.key)

    @property
    def names(self) -> set[str]:
        return set(self.table.columns)

    def values(self, name: str, type_ids: np.ndarray) -> np.ndarray:
        rows = self.table.index.get_indexer(np.asarray(type_ids))
        if (rows < 0).any():
            missing = np.unique(np.asarray(type_ids)[rows < 0])[:5].tolist()
            raise SonataError(f"{self.key}s {missing} are not in {self.path}")
        return self.table[name].to_numpy()[rows]


def group_names(h5pop) -> list[str]:
    """The group names of an open h5py population group ('0', '1' …)."""
    import h5py

    return sorted(
        (k for k, v in h5pop.items() if k.isdigit() and isinstance(v, h5py.Group)), key=int
    )


def _missing(values: np.ndarray, present: np.ndarray):
    """``values`` with the rows where ``present`` is False marked missing (NaN, <NA>, None)."""
    if present.all():
        return values
    if values.dtype.kind in "iub":  # pandas' nullable integers / booleans: exact, no float64
        bits = values.dtype.itemsize * 8
        dtype = {"i": f"Int{bits}", "u": f"UInt{bits}", "b": "boolean"}[values.dtype.kind]
        out = pd.array(values, dtype=dtype)
        out[~present] = pd.NA
        return out
    if values.dtype.kind == "f":
        return np.where(present, values, np.nan)
    out = values.astype(object)
    out[~present] = None
    return out


def _combine(own, present: np.ndarray, typed: np.ndarray):
    """A row's own value where its group has one, its type's value elsewhere."""
    if present.all():
        return own
    if own.dtype.kind in "iufb" and typed.dtype.kind in "iufb":
        return np.where(present, own, typed)
    out = typed.astype(object)
    out[present] = own[present]
    return out


class _Groups:
    """One population's groups, read with h5py (for populations libsonata refuses)."""

    def __init__(self, path: Path, kind: str, name: str) -> None:
        import h5py

        self.path, self.kind, self.name = path, kind, name
        with h5py.File(path, "r") as h5:
            pop = h5[f"{kind}s/{name}"]
            self.groups = group_names(pop)
            self.datasets = {
                g: {k for k, v in pop[g].items() if isinstance(v, h5py.Dataset)}
                for g in self.groups
            }
            self.dtypes: dict[str, np.dtype] = {}  # a chunk's values have one dtype per name
            for g in self.groups:
                for k in self.datasets[g]:
                    text = h5py.check_string_dtype(pop[g][k].dtype) is not None
                    text = text or k in pop[g].get("@library", {})
                    dtype = np.dtype(object) if text else pop[g][k].dtype
                    seen = self.dtypes.get(k, dtype)
                    self.dtypes[k] = (
                        np.dtype(object) if object in (seen, dtype) else np.result_type(seen, dtype)
                    )

    @property
    def names(self) -> set[str]:
        return set().union(*self.datasets.values())

    def layout(self, h5pop, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        gid = np.asarray(h5pop[f"{self.kind}_group_id"][start:stop], dtype=np.int64)
        gidx = np.asarray(h5pop[f"{self.kind}_group_index"][start:stop], dtype=np.int64)
        return gid, gidx

    def read(self, name: str, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """(values, present): ``name`` for rows start..stop from the groups that have it."""
        import h5py

        with h5py.File(self.path, "r") as h5:
            pop = h5[f"{self.kind}s/{self.name}"]
            gid, gidx = self.layout(pop, start, stop)
            unknown = ~np.isin(gid, [int(g) for g in self.groups])
            if unknown.any():
                raise SonataError(
                    f"{self.kind}_group_id of {self.kind} population {self.name!r} names groups "
                    f"{np.unique(gid[unknown])[:5].tolist()} the population does not have "
                    f"(it has {self.groups}); the file is corrupt"
                )
            if len(gidx) and gidx.min() < 0:
                raise SonataError(f"{self.kind}_group_index has negative values")
            present = np.zeros(len(gid), dtype=bool)
            values = np.zeros(len(gid), dtype=self.dtypes[name])
            for g in self.groups:
                mask = (gid == int(g)) & (name in self.datasets[g])
                if not mask.any():
                    continue
                block = _read_rows(pop[g], name, gidx[mask])
                if values.dtype != block.dtype and values.dtype != object:
                    values = values.astype(np.result_type(values.dtype, block.dtype))
                values[mask] = block
                present |= mask
        return values, present


def _read_rows(group, name: str, rows: np.ndarray) -> np.ndarray:
    """``group[name][rows]``, reading the covering slice once (rows are mostly contiguous)."""
    import h5py

    ds = group[name]
    lo, hi = int(rows.min()), int(rows.max()) + 1
    if h5py.check_string_dtype(ds.dtype) is not None:
        block = np.asarray(ds.asstr()[lo:hi], dtype=object)
    else:
        block = np.asarray(ds[lo:hi])
    library = group.get("@library")
    if library is not None and name in library:  # an enumeration: codes -> values
        block = np.asarray(library[name].asstr()[()], dtype=object)[block]
    return block[rows - lo]


class EdgeView:
    """One edge population: ids, endpoints and attributes, groups and types merged."""

    def __init__(self, path: Path, name: str, types: Path | None = None) -> None:
        import h5py
        import libsonata

        self.path, self.name = Path(path), name
        with h5py.File(self.path, "r") as h5:
            pop = _population(h5, "edges", name, self.path)
            _require(pop, ("source_node_id", "target_node_id"), f"edge population {name!r}", path)
            self.size = int(pop["source_node_id"].shape[0])
            self.source = _attr(pop["source_node_id"], "node_population")
            self.target = _attr(pop["target_node_id"], "node_population")
            if int(pop["target_node_id"].shape[0]) != self.size:
                raise SonataError(
                    f"{self.path}: edge population {name!r} has {self.size} source_node_id but "
                    f"{pop['target_node_id'].shape[0]} target_node_id values; the file is corrupt"
                )
            multi = len(group_names(pop)) > 1
            if multi:
                _require(
                    pop, ("edge_group_id", "edge_group_index"), f"edge population {name!r}", path
                )
        self.types = None if types is None else TypesTable(types, "edge", name)
        self._groups = _Groups(self.path, "edge", name) if multi else None
        self._pop = None
        if not multi:
            try:
                self._pop = libsonata.EdgeStorage(str(self.path)).open_population(name)
            except (libsonata.SonataError, RuntimeError) as exc:
                raise SonataError(f"{self.path}: edge population {name!r}: {exc}") from None

    @property
    def groups(self) -> list[str]:
        return ["0"] if self._groups is None else self._groups.groups

    @property
    def own_names(self) -> set[str]:
        """Attributes stored per edge (in at least one group)."""
        return set(self._pop.attribute_names) if self._groups is None else self._groups.names

    @property
    def attribute_names(self) -> set[str]:
        return self.own_names | (self.types.names if self.types is not None else set())

    def _ids(self, dataset: str, start: int, stop: int) -> np.ndarray:
        return wrap_read(
            f"edge population {self.name!r} {dataset}",
            self.path,
            lambda: self._read_ids(dataset, start, stop),
        )

    def _read_ids(self, dataset: str, start: int, stop: int) -> np.ndarray:
        import h5py
        import libsonata

        if self._pop is not None and dataset != "edge_type_id":
            sel = libsonata.Selection([(start, stop)])
            get = self._pop.source_nodes if dataset == "source_node_id" else self._pop.target_nodes
            return np.asarray(get(sel), dtype=np.int64)
        with h5py.File(self.path, "r") as h5:
            return np.asarray(h5[f"edges/{self.name}/{dataset}"][start:stop], dtype=np.int64)

    def source_nodes(self, start: int, stop: int) -> np.ndarray:
        return self._ids("source_node_id", start, stop)

    def target_nodes(self, start: int, stop: int) -> np.ndarray:
        return self._ids("target_node_id", start, stop)

    def get(self, name: str, start: int, stop: int):
        """Values of attribute ``name`` for edges start..stop (own datasets over the types CSV)."""
        return wrap_read(
            f"edge population {self.name!r} attribute {name!r}",
            self.path,
            lambda: self._get(name, start, stop),
        )

    def _get(self, name: str, start: int, stop: int):
        import libsonata

        typed = self.types is not None and name in self.types.names
        if name not in self.own_names and not typed:
            raise SonataError(
                f"edge population {self.name!r} has no attribute {name!r}; it has "
                f"{sorted(self.attribute_names)}"
            )
        if name in self.own_names:
            if self._pop is not None:
                sel = libsonata.Selection([(start, stop)])
                own, present = np.asarray(self._pop.get_attribute(name, sel)), None
            else:
                own, present = self._groups.read(name, start, stop)
            if present is None or present.all() or not typed:
                return own if present is None else _missing(own, present)
            return _combine(
                own, present, self.types.values(name, self._ids("edge_type_id", start, stop))
            )
        return self.types.values(name, self._ids("edge_type_id", start, stop))


class NodeView:
    """One node population's attributes (all nodes at once), groups and types merged."""

    def __init__(self, path: Path, name: str, types: Path | None = None) -> None:
        import h5py
        import libsonata

        self.path, self.name = Path(path), name
        with h5py.File(self.path, "r") as h5:
            pop = _population(h5, "nodes", name, self.path)
            _require(pop, ("node_type_id",), f"node population {name!r}", path)
            self.size = int(pop["node_type_id"].shape[0])
            multi = len(group_names(pop)) > 1
            if multi:
                _require(
                    pop, ("node_group_id", "node_group_index"), f"node population {name!r}", path
                )
        self.types = None if types is None else TypesTable(types, "node", name)
        self._groups = _Groups(self.path, "node", name) if multi else None
        self._pop = None
        if not multi:
            try:
                self._pop = libsonata.NodeStorage(str(self.path)).open_population(name)
            except (libsonata.SonataError, RuntimeError) as exc:
                raise SonataError(f"{self.path}: node population {name!r}: {exc}") from None

    @property
    def own_names(self) -> set[str]:
        return set(self._pop.attribute_names) if self._groups is None else self._groups.names

    @property
    def attribute_names(self) -> set[str]:
        return self.own_names | (self.types.names if self.types is not None else set())

    def _type_ids(self) -> np.ndarray:
        import h5py

        with h5py.File(self.path, "r") as h5:
            return np.asarray(h5[f"nodes/{self.name}/node_type_id"][()], dtype=np.int64)

    def get(self, name: str):
        """Values of attribute ``name`` for every node (node id = row)."""
        return wrap_read(
            f"node population {self.name!r} attribute {name!r}", self.path, lambda: self._get(name)
        )

    def _get(self, name: str):
        typed = self.types is not None and name in self.types.names
        if name in self.own_names:
            if self._pop is not None:
                own = np.asarray(self._pop.get_attribute(name, self._pop.select_all()))
                present = None
            else:
                own, present = self._groups.read(name, 0, self.size)
            if present is None or present.all() or not typed:
                return own if present is None else _missing(own, present)
            return _combine(own, present, self.types.values(name, self._type_ids()))
        if typed:
            return self.types.values(name, self._type_ids())
        raise SonataError(f"node population {self.name!r} has no attribute {name!r}")


def _population(h5, kind: str, name: str, path: Path):
    """The h5py group ``/<kind>/<name>``, or a [`SonataError`][synframe.errors.SonataError] naming what the file has."""
    import h5py

    group = h5.get(kind)
    pops = sorted(group) if isinstance(group, h5py.Group) else []
    if name not in pops or not isinstance(group[name], h5py.Group):
        raise SonataError(
            f"{path} has no {kind[:-1]} population {name!r} (it has {pops}); check the circuit "
            "config's populations"
        )
    return group[name]


def _require(group, names, what: str, path: Path) -> None:
    import h5py

    missing = [n for n in names if not isinstance(group.get(n), h5py.Dataset)]
    if missing:
        raise SonataError(
            f"{path}: {what} lacks the dataset(s) {missing}; the file is not valid SONATA"
        )


def wrap_read(what: str, path: Path, call):
    """``call()``, with a failing read (h5py, libsonata) reported as a [`SonataError`][synframe.errors.SonataError]."""
    import libsonata

    try:
        return call()
    except SonataError:
        raise
    except (
        libsonata.SonataError,
        RuntimeError,
        OSError,
        KeyError,
        ValueError,
        TypeError,
        IndexError,
    ) as exc:
        raise SonataError(f"{path}: cannot read {what}: {exc}") from None


def _attr(dataset, key: str) -> str:
    value = dataset.attrs.get(key, "")
    return value.decode() if isinstance(value, bytes) else str(value)
