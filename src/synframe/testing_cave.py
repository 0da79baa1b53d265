"""A fake CAVE deployment, so that code which fetches from CAVE can be tested offline.

The client is caveclient's own ``CAVEclientMock`` (`make_client`); `FakeCAVE` answers
the materialization and chunkedgraph requests synframe makes -- version lists and timestamps,
table and view queries (Arrow bodies, as the real servers send), live queries, root timestamps
-- from tables you give it, with ``responses`` callbacks. The real caveclient code runs end to
end (requests, Arrow decoding, unit conversion); nothing in synframe or caveclient is patched.
It can also play a server's bad days: a row limit (with the server's ``Warning`` header),
latency, and failures you inject.

Needs ``responses`` (``pip install 'synframe[test]'`` or ``pip install responses``), imported
only when a server is registered or a client made.

Examples
--------
Serve the bundled MICrONS neuron's synapses (CAVE layout, 4 x 4 x 40 nm voxels) as
``minnie65_public``'s ``synapses_pni_2`` table, and fetch through a CAVE client:

>>> import pandas as pd
>>> import synframe as sf
>>> from synframe.testing_cave import FakeCAVE, make_client
>>> table = pd.read_parquet(sf.datasets.path("microns_v795_synapses.parquet"))
>>> fake = FakeCAVE("minnie65_public", tables={"synapses_pni_2": table})
>>> client = make_client("minnie65_public", "synapses_pni_2", [795])
>>> with fake.serve():
...     syn = sf.fetch(sf.datasets.EXAMPLE_ROOT_ID, source=client, progress=False)
>>> len(syn), syn.attrs["materialization"], fake.calls["query"]
(2424, 795, 2)
"""

from __future__ import annotations

import contextlib
import json
import numbers
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from .errors import OptionError

__all__ = ["FakeCAVE", "arrow_body", "make_client"]

_NEEDS = (
    "synframe.testing_cave needs responses: pip install 'synframe[test]' (or pip install responses)"
)


def _responses():
    try:
        import responses
    except ImportError as exc:  # pragma: no cover - exercised only without the test extra
        raise ImportError(_NEEDS) from exc
    return responses


def _server() -> str:
    """The address caveclient's mock client talks to (``TEST_LOCAL_SERVER``)."""
    _responses()  # caveclient.tools.testing only warns without responses
    from caveclient.tools.testing import TEST_LOCAL_SERVER

    return TEST_LOCAL_SERVER.rstrip("/")


def arrow_body(df: pd.DataFrame) -> bytes:
    """A DataFrame as an Arrow IPC stream: the body CAVE's materialization server sends."""
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    table = pa.Table.from_pandas(df, preserve_index=False)
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def make_client(datastack: str, synapse_table: str, versions: list[int]):
    """A ``CAVEclient`` for ``datastack`` built by caveclient's ``CAVEclientMock``.

    Its info names ``synapse_table``; ``versions`` are the materialization versions it knows (the
    newest is set). Make a fresh client per `FakeCAVE` whose versions differ: caveclient
    caches metadata.
    """
    if not isinstance(datastack, str) or not datastack:
        raise OptionError(f"datastack must be a datastack name (str), got {datastack!r}")
    if not isinstance(synapse_table, str) or not synapse_table:
        raise OptionError(f"synapse_table must be a table name (str), got {synapse_table!r}")
    versions = _versions_list(versions)
    _server()
    from caveclient.tools.testing import CAVEclientMock, default_info

    info = default_info()
    info["synapse_table"] = synapse_table
    return CAVEclientMock(
        datastack_name=datastack, chunkedgraph=True, materialization=True, info_file=info,
        available_materialization_versions=versions, set_version=max(versions),
    )  # fmt: skip


def _versions_list(versions) -> list[int]:
    ok = isinstance(versions, (list, tuple)) and len(versions) > 0
    ok = ok and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in versions)
    if not ok:
        raise OptionError(f"versions must be a non-empty list of ints, got {versions!r}")
    return [int(v) for v in versions]


class FakeCAVE:
    """Materialization and chunkedgraph endpoints of one datastack, over in-memory tables.

    Parameters
    ----------
    datastack
        The datastack name (``"minnie65_public"``, ``"flywire_fafb_public"`` …).
    tables
        Table name -> DataFrame in CAVE layout with split positions (``pre_pt_root_id``,
        ``post_pt_position_x`` …) in voxels of ``resolution``. Table queries return voxels (the
        client converts), as the real server does.
    views
        View name -> DataFrame, likewise; view and live queries are converted to the requested
        resolution by the server, as the real one does.
    resolution
        The tables' voxel size in nm.
    versions
        Materialization version -> its timestamp (timezone-aware). Default: ``{795: 2023-04-20}``.
    roots
        Root id -> (created, superseded or None) timestamps, for ``materialization="auto"``;
        ids not listed were created on 2020-01-01 and are current.
    row_limit
        Rows a query returns at most; a longer result is cut and the response carries the
        server's ``Warning: 201 - "Limited query to N rows"`` header.
    latency
        Seconds each query takes.
    fail
        ``callable(kind, body) -> HTTP status or None``: fail a request on purpose (``kind`` is
        ``"query"`` or ``"live_query"``, ``body`` the request's JSON).

    Attributes
    ----------
    calls
        Requests answered, by kind (``query``, ``live_query``, ``versions_metadata``,
        ``root_timestamps`` …).
    """

    def __init__(
        self,
        datastack: str,
        *,
        tables: Mapping[str, pd.DataFrame],
        views: Mapping[str, pd.DataFrame] | None = None,
        resolution=(4, 4, 40),
        versions: Mapping[int, datetime] | None = None,
        roots: Mapping[int, tuple[datetime, datetime | None]] | None = None,
        row_limit: int | None = None,
        latency: float = 0.0,
        fail: Callable[[str, dict], int | None] | None = None,
    ) -> None:
        if not isinstance(datastack, str) or not datastack:
            raise OptionError(f"datastack must be a datastack name (str), got {datastack!r}")
        self.datastack = datastack
        self.tables = _frames(tables, "tables")
        self.views = _frames(views or {}, "views")
        res = np.asarray(resolution, dtype=float) if _numbers(resolution) else None
        if res is None or res.shape != (3,) or not (np.isfinite(res).all() and (res > 0).all()):
            raise OptionError(
                f"resolution must be 3 positive voxel sizes in nm, got {resolution!r}"
            )
        self.resolution = res
        self.versions = dict(versions or {795: datetime(2023, 4, 20, tzinfo=UTC)})
        for v, ts in self.versions.items():
            if not isinstance(v, numbers.Integral) or not isinstance(ts, datetime) or not ts.tzinfo:
                raise OptionError(
                    "versions must map version numbers (int) to timezone-aware datetimes, got "
                    f"{v!r}: {ts!r}"
                )
        self.roots = dict(roots or {})
        if row_limit is not None and (
            isinstance(row_limit, bool)
            or not isinstance(row_limit, numbers.Integral)
            or row_limit < 1
        ):
            raise OptionError(f"row_limit must be a positive int or None, got {row_limit!r}")
        self.row_limit = row_limit
        if isinstance(latency, bool) or not isinstance(latency, numbers.Real) or not latency >= 0:
            raise OptionError(f"latency must be a number of seconds >= 0, got {latency!r}")
        self.latency = float(latency)
        if fail is not None and not callable(fail):
            raise OptionError(f"fail must be a callable(kind, body) or None, got {fail!r}")
        self.fail = fail
        self.calls: Counter = Counter()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"FakeCAVE({self.datastack!r}, tables={list(self.tables)}, views={list(self.views)})"

    @contextlib.contextmanager
    def serve(self) -> Iterator[FakeCAVE]:
        """Answer CAVE requests within a ``with`` block (a ``responses.RequestsMock``).

        Requests to other addresses fail inside the block (``responses`` lets none through).
        To combine with your own mocked endpoints, use `register` on your own
        ``RequestsMock`` instead.
        """
        responses = _responses()
        with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
            self.register(rsps)
            yield self

    def _hit(self, kind: str) -> None:
        with self._lock:
            self.calls[kind] += 1

    def register(self, rsps) -> None:
        """Add this datastack's endpoints to a ``responses.RequestsMock``."""
        server = _server()
        base = re.escape(f"{server}/materialize/api/v3/datastack/{self.datastack}")
        get, post = "GET", "POST"
        rsps.add_callback(get, re.compile(base + r"/versions(\?.*)?$"), self._versions)
        rsps.add_callback(get, re.compile(base + r"/metadata(\?.*)?$"), self._versions_metadata)
        rsps.add_callback(get, re.compile(base + r"/version/(\d+)$"), self._version_metadata)
        for kind in ("table", "views"):
            rsps.add_callback(
                get,
                re.compile(base + rf"/version/\d+/{kind}/([^/]+)/metadata$"),
                self._table_metadata,
            )
        rsps.add_callback(
            post, re.compile(base + r"/version/(\d+)/table/([^/]+)/query.*"), self._table_query
        )
        rsps.add_callback(
            post, re.compile(base + r"/version/(\d+)/views/([^/]+)/query.*"), self._view_query
        )
        rsps.add_callback(post, re.compile(base + r"/query.*"), self._live_query)
        segmentation = re.escape(f"{server}/segmentation/api/v1/table/")
        rsps.add_callback(post, re.compile(segmentation + r"[^/]+/root_timestamps.*"), self._root_timestamps)  # fmt: skip

    # -- metadata ---------------------------------------------------------------------------------

    def _versions(self, request):
        self._hit("versions")
        return 200, {}, json.dumps(sorted(self.versions))

    def _meta(self, v):
        ts = self.versions[v].astimezone(UTC).replace(tzinfo=None)  # the server's format
        return {"version": v, "time_stamp": ts.strftime("%Y-%m-%dT%H:%M:%S.%f"),
                "expires_on": "2080-01-01T00:00:00.000000", "valid": True,
                "datastack": self.datastack}  # fmt: skip

    def _versions_metadata(self, request):
        self._hit("versions_metadata")
        return 200, {}, json.dumps([self._meta(v) for v in sorted(self.versions)])

    def _version_metadata(self, request):
        self._hit("version_metadata")
        v = int(re.search(r"/version/(\d+)$", request.url).group(1))
        if v not in self.versions:
            return 404, {}, json.dumps({"message": f"version {v} not found"})
        return 200, {}, json.dumps(self._meta(v))

    def _table_metadata(self, request):
        self._hit("table_metadata")
        rx, ry, rz = self.resolution.tolist()
        return 200, {}, json.dumps({"reference_table": None, "voxel_resolution_x": rx, "voxel_resolution_y": ry,
                                    "voxel_resolution_z": rz})  # fmt: skip

    def _root_timestamps(self, request):
        self._hit("root_timestamps")
        ids = json.loads(request.body)["node_ids"]
        latest = "latest=True" in request.url
        now = datetime.now(UTC).timestamp()
        out = []
        for i in ids:
            created, superseded = self.roots.get(int(i), (datetime(2020, 1, 1, tzinfo=UTC), None))
            out.append(
                (superseded.timestamp() if superseded else now) if latest else created.timestamp()
            )
        return 200, {}, json.dumps({"timestamp": out})

    # -- queries ------------------------------------------------------------------------------------

    def _answer(self, kind, request, frame, *, server_converts):
        self._hit(kind)
        body = json.loads(request.body)
        if self.latency:
            time.sleep(self.latency)
        if self.fail is not None:
            status = self.fail(kind, body)
            if status:
                return status, {}, json.dumps({"message": "injected failure"})
        if frame is None:
            return 404, {}, json.dumps({"message": "no such table"})
        filters = body.get("filter_in_dict") or {}
        if filters and isinstance(next(iter(filters.values())), dict):  # {table: {column: values}}
            filters = next(iter(filters.values()))
        mask = np.ones(len(frame), dtype=bool)
        for col, values in filters.items():
            mask &= frame[col].isin(values).to_numpy()
        out = frame[mask]
        headers = {}
        if self.row_limit is not None and len(out) > self.row_limit:
            out = out.iloc[: self.row_limit]
            headers["Warning"] = f'201 - "Limited query to {self.row_limit} rows"'
        out = out.copy()
        if server_converts:  # what the server does for views and live queries
            desired = np.asarray(body.get("desired_resolution") or self.resolution, dtype=float)
            scale = self.resolution / desired
            for c in out.columns:
                if c.endswith(("_position_x", "_position_y", "_position_z")):
                    out[c] = out[c] * scale["xyz".index(c[-1])]
            headers["dataframe_resolution"] = ", ".join(str(x) for x in desired)
        return 200, {**headers, "Content-Type": "data.arrow"}, arrow_body(out)

    def _table_query(self, request):
        name = re.search(r"/table/([^/]+)/query", request.url).group(1)
        return self._answer("query", request, self.tables.get(name), server_converts=False)

    def _view_query(self, request):
        name = re.search(r"/views/([^/]+)/query", request.url).group(1)
        return self._answer("query", request, self.views.get(name), server_converts=True)

    def _live_query(self, request):
        name = json.loads(request.body)["table"]
        return self._answer("live_query", request, self.tables.get(name), server_converts=True)


def _frames(frames, what: str) -> dict[str, pd.DataFrame]:
    if not isinstance(frames, Mapping) or not all(
        isinstance(k, str) and isinstance(v, pd.DataFrame) for k, v in frames.items()
    ):
        raise OptionError(f"{what} must map table names (str) to DataFrames, got {frames!r:.200}")
    return dict(frames)


def _numbers(x) -> bool:
    try:
        arr = np.asarray(x)
    except Exception:
        return False
    return arr.dtype.kind in "iuf"
