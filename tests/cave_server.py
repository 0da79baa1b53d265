"""A fake CAVE deployment for tests and benchmarks: caveclient's own CAVEclientMock for the client,
``responses`` callbacks that speak the materialization and chunkedgraph endpoints (Arrow bodies),
serving real data. The real caveclient code runs; synframe is not patched.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import responses
from caveclient.tools.testing import CAVEclientMock, default_info


def arrow_body(df: pd.DataFrame) -> bytes:
    sink = pa.BufferOutputStream()
    table = pa.Table.from_pandas(df, preserve_index=False)
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def make_client(datastack: str, synapse_table: str, versions: list[int]):
    """A CAVEclient built by caveclient's CAVEclientMock for ``datastack``."""
    info = default_info()
    info["synapse_table"] = synapse_table
    return CAVEclientMock(
        datastack_name=datastack, chunkedgraph=True, materialization=True, info_file=info,
        available_materialization_versions=versions, set_version=max(versions),
    )  # fmt: skip


class FakeCAVE:
    """Materialization + chunkedgraph endpoints over in-memory tables.

    ``tables`` / ``views``: name -> DataFrame in CAVE layout (split positions in voxels of
    ``resolution``). ``versions``: version -> timestamp. ``roots``: root id -> (created, superseded
    or None). ``row_limit``: rows a query returns at most (with the server's Warning header).
    ``latency``: seconds each query takes. ``fail``: callable(kind, body) -> HTTP status or None.
    """

    def __init__(self, datastack, *, tables, views=None, resolution=(4, 4, 40), versions=None, roots=None,
                 row_limit=None, latency=0.0, fail=None):  # fmt: skip
        self.datastack = datastack
        self.tables = tables
        self.views = views or {}
        self.resolution = np.asarray(resolution, dtype=float)
        self.versions = versions or {795: datetime(2023, 4, 20, tzinfo=UTC)}
        self.roots = roots or {}
        self.row_limit = row_limit
        self.latency = latency
        self.fail = fail
        self.calls = Counter()
        self._lock = threading.Lock()

    def _hit(self, kind):
        with self._lock:
            self.calls[kind] += 1

    def register(self, rsps: responses.RequestsMock) -> None:
        base = re.escape(f"https://local.cave.com/materialize/api/v3/datastack/{self.datastack}")
        rsps.add_callback(responses.GET, re.compile(base + r"/versions(\?.*)?$"), self._versions)
        rsps.add_callback(
            responses.GET, re.compile(base + r"/metadata(\?.*)?$"), self._versions_metadata
        )
        rsps.add_callback(
            responses.GET, re.compile(base + r"/version/(\d+)$"), self._version_metadata
        )
        rsps.add_callback(
            responses.GET,
            re.compile(base + r"/version/\d+/table/([^/]+)/metadata$"),
            self._table_metadata,
        )
        rsps.add_callback(
            responses.GET,
            re.compile(base + r"/version/\d+/views/([^/]+)/metadata$"),
            self._table_metadata,
        )
        rsps.add_callback(
            responses.POST,
            re.compile(base + r"/version/(\d+)/table/([^/]+)/query.*"),
            self._table_query,
        )
        rsps.add_callback(
            responses.POST,
            re.compile(base + r"/version/(\d+)/views/([^/]+)/query.*"),
            self._view_query,
        )
        rsps.add_callback(responses.POST, re.compile(base + r"/query.*"), self._live_query)
        rsps.add_callback(
            responses.POST, re.compile(r"https://local.cave.com/segmentation/api/v1/table/[^/]+/root_timestamps.*"),
            self._root_timestamps,
        )  # fmt: skip

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
        return self._answer("query", request, self.tables[name], server_converts=False)

    def _view_query(self, request):
        name = re.search(r"/views/([^/]+)/query", request.url).group(1)
        return self._answer("query", request, self.views[name], server_converts=True)

    def _live_query(self, request):
        name = json.loads(request.body)["table"]
        return self._answer("live_query", request, self.tables[name], server_converts=True)
