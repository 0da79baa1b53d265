"""``CAVESource``: synapses from a CAVE datastack (FlyWire, MICrONS …) through caveclient.

One module, though over 450 lines: one class (the query planning, batching, row-limit splitting and
provenance of a CAVE fetch) and the small session helpers (one retry layer, request timeout) only it
installs on its client.

Compared to fafbseg 3.2.3's ``flywire.get_synapses`` (which walks materialization versions newest
first with two requests each, queries batches one after another, and returns a truncated table
silently when the server's row limit is hit):

- ``materialization="auto"`` takes three requests whatever the number of versions (the versions'
  timestamps, and the ids' creation and supersession times), and an impossible id set is an error
  that names the ids;
- batches run concurrently (a bounded thread pool); failed requests are retried by one layer only,
  the client's own HTTP sessions (urllib3 ``Retry``, which synframe configures: connection errors,
  timeouts, 429 honouring ``Retry-After``, and 5xx, with exponential back-off capped per wait),
  and every attempt has a ``timeout``, so a request is tried at most ``retries + 1`` times in a
  bounded time (a stalled connection is given up, never waited on forever);
- a result at the server's row limit (its ``Warning: … Limited query to N rows`` header, which
  caveclient only logs, or ``row_limit`` rows) is split and re-queried, down to single ids; a single
  id over the limit, or a persistent failure, raises [`FetchError`][synframe.errors.FetchError] naming the
  ids -- a partial table is never returned as whole;
- positions are asked for in nm (``desired_resolution=[1, 1, 1]``);
- options a datastack cannot honour raise.

(Over 400 lines on purpose: one class speaking one server protocol -- versions, queries, retries,
truncation, cache -- whose parts share its state.)
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from .._ids import as_ids
from .._layout import from_cave
from ..errors import FetchError, OptionError, SourceError, format_problems
from ..schemas import NEUROTRANSMITTERS, SynapseTable
from ._base import Query

__all__ = ["CAVESource"]

log = logging.getLogger("synframe")

FLYWIRE_DATASTACKS = ("flywire_fafb_public", "flywire_fafb_production", "flywire_fafb_sandbox")
FLYWIRE_TABLE = "synapses_nt_v1"
FLYWIRE_VIEW = "valid_synapses_nt_np_v6"
FLYWIRE_CLEFT_THRESHOLD = 50
_RETRY_STATUS = {429, 500, 502, 503, 504}
_KEEP = (
    SynapseTable.id, SynapseTable.pre, SynapseTable.post, "pre_x", "pre_y", "pre_z", "post_x", "post_y",
    "post_z", SynapseTable.cleft_score, SynapseTable.connection_score, SynapseTable.size,
    SynapseTable.neuropil, *NEUROTRANSMITTERS,
)  # fmt: skip


class _Truncated(Exception):
    """A result hit the server's row limit."""


class CAVESource:
    """A [`Source`][synframe.sources._base.Source] over a CAVE datastack.

    Parameters
    ----------
    client_or_datastack
        A ``caveclient.CAVEclient`` (or anything with its ``materialize`` / ``chunkedgraph`` / ``info``
        interface) or a datastack name (a client is made, with your CAVE token).
    synapse_table
        The raw synapse table (FlyWire: ``synapses_nt_v1``; other datastacks: the datastack info's
        ``synapse_table``).
    view
        The filtered view (FlyWire: ``valid_synapses_nt_np_v6``: deduplicated, cleft score > 50,
        neuropils); datastacks without one serve their table for ``filtered=True`` too.
    max_workers
        Concurrent queries.
    retries, backoff, backoff_max
        How the client's HTTP sessions retry a failed request (connection errors, timeouts, 429,
        500, 502, 503, 504): at most ``retries`` times after the first attempt, waiting ``0,
        2 * backoff, 4 * backoff …`` seconds, each wait (and a server's ``Retry-After``) capped at
        ``backoff_max``. This replaces the client's own retry policy (caveclient retries 502-504
        three times) on its ``materialize`` and ``chunkedgraph`` sessions, so that there is one
        retry layer; ``retries=None`` keeps the client's policy as it is (the timeout still
        applies).
    timeout
        Seconds an attempt may wait for the server: to connect, and between two pieces of the
        answer (requests' connect and read timeouts). Applied to every request of the client's
        ``materialize`` and ``chunkedgraph`` sessions that sets none itself. A server that stalls
        is given up after ``timeout`` seconds and the attempt retried, so one request takes at
        most about ``(retries + 1) * timeout`` seconds plus the back-off waits (with the
        defaults: ``5 * 120 + 0 + 1 + 2 + 4`` s ~ 10 minutes for a server that accepts the
        connection and never answers); an answer still arriving is not cut off (large query
        results stream for longer than ``timeout``, as long as bytes keep coming).
        ``None``: wait forever (not recommended).
    row_limit
        The server's row limit, if known (FlyWire 500,000; CAVE's default 200,000): a result with
        this many rows is treated as truncated even without the ``Warning`` header.
    cache
        A directory to keep fetched batches in, keyed by (datastack, table, version, side, ids,
        options): repeated analyses run offline. Live queries are never cached.
    """

    def __init__(
        self,
        client_or_datastack,
        *,
        synapse_table: str | None = None,
        view: str | None = None,
        max_workers: int = 8,
        retries: int | None = 4,
        backoff: float = 0.5,
        backoff_max: float = 30.0,
        timeout: float | None = 120.0,
        row_limit: int | None = None,
        cache: str | os.PathLike | None = None,
    ) -> None:
        if isinstance(client_or_datastack, str):
            try:
                import caveclient

                client = caveclient.CAVEclient(client_or_datastack)
            except Exception as exc:  # no token, no network ...
                raise SourceError(
                    f"cannot open CAVE datastack {client_or_datastack!r}: {exc}"
                ) from exc
        else:
            client = client_or_datastack
        if not all(hasattr(client, a) for a in ("materialize", "chunkedgraph")):
            raise SourceError(
                "expected a caveclient.CAVEclient (with .materialize and .chunkedgraph)"
            )
        self.client = client
        self.datastack = getattr(client, "datastack_name", None)
        self.flywire = bool(self.datastack) and self.datastack.startswith("flywire_fafb")
        if synapse_table is None:
            synapse_table = (
                FLYWIRE_TABLE
                if self.flywire
                else client.info.get_datastack_info().get("synapse_table")
            )
        for name, value in (("synapse_table", synapse_table), ("view", view)):
            if value is not None and not isinstance(value, str):
                raise OptionError(f"{name} must be a table name (str), got {value!r}")
        if not synapse_table:
            raise SourceError(
                f"datastack {self.datastack!r} names no synapse table; pass synapse_table=..."
            )
        self.table = synapse_table
        self.view = view if view is not None else (FLYWIRE_VIEW if self.flywire else None)
        self.max_workers = _positive_int(max_workers, "max_workers")
        self.retries = None if retries is None else _positive_int(retries, "retries", zero=True)
        self.backoff = _non_negative(backoff, "backoff")
        self.backoff_max = _non_negative(backoff_max, "backoff_max")
        self.timeout = None if timeout is None else _positive_seconds(timeout, "timeout")
        for api in (client.materialize, client.chunkedgraph):
            self._configure_session(getattr(api, "session", None))
        self.row_limit = None if row_limit is None else _positive_int(row_limit, "row_limit")
        if cache is not None and not isinstance(cache, (str, os.PathLike)):
            raise OptionError(f"cache must be a directory path, got {type(cache).__name__}")
        self.cache = None if cache is None else Path(cache).expanduser()
        if self.cache is not None and self.cache.exists() and not self.cache.is_dir():
            raise OptionError(f"cache {self.cache} exists and is not a directory; give a directory")
        self._local = threading.local()
        self._counter = threading.Lock()
        session = getattr(client.materialize, "session", None)
        if session is not None and self._hook not in session.hooks["response"]:
            session.hooks["response"].append(self._hook)
        #: requests made by the last fetch, by kind (for tests and benchmarks)
        self.requests: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"CAVESource({self.datastack!r}, table={self.table!r}, view={self.view!r})"

    def _configure_session(self, session) -> None:
        """Mount one retry policy and the timeout on a client's requests session."""
        if session is None or not hasattr(session, "mount"):
            return
        if self.retries is None:  # the client's own policy, kept
            retry = session.get_adapter("https://").max_retries
        else:
            retry = _retry_class()(
                total=self.retries,
                backoff_factor=self.backoff,
                backoff_max=self.backoff_max,
                status_forcelist=sorted(_RETRY_STATUS),
                allowed_methods=frozenset(["GET", "POST"]),
                respect_retry_after_header=True,
                raise_on_status=False,  # caveclient raises HTTPError with the server's message
            )
        adapter = _adapter_class()(
            timeout=self.timeout, max_retries=retry, pool_maxsize=max(10, self.max_workers)
        )
        session.mount("https://", adapter)
        session.mount("http://", adapter)

    def _hook(self, response, *args, **kwargs):
        """requests response hook: remember the server's Warning header (caveclient only logs it).

        Only set, never cleared here: caveclient may make further requests (table metadata) after
        the query within the same call; ``_call`` clears it before each query.
        """
        warning = response.headers.get("Warning")
        if warning:
            self._local.warning = warning
        return response

    def _count(self, kind: str) -> None:
        with self._counter:
            self.requests[kind] = self.requests.get(kind, 0) + 1

    # -- materialization -------------------------------------------------------------------------

    def resolve(self, ids: np.ndarray, materialization) -> tuple[int | None, datetime | None]:
        """(version, timestamp) to query; version None means a live query at timestamp."""
        mat = self.client.materialize
        if materialization == "live":
            return None, datetime.now(UTC)
        if materialization == "latest":
            self._count("versions")
            return max(mat.get_versions()), None
        if isinstance(materialization, (int, np.integer)) and not isinstance(materialization, bool):
            self._count("versions")
            versions = mat.get_versions()
            if int(materialization) not in versions:
                raise SourceError(
                    f"materialization {materialization} is not available; available: {sorted(versions)}"
                )
            return int(materialization), None
        if materialization != "auto":
            raise SourceError(
                f"materialization must be 'auto', 'latest', 'live' or an int, got {materialization!r}"
            )
        # auto: three requests, whatever the number of versions
        self._count("versions_metadata")
        meta = sorted(mat.get_versions_metadata(), key=lambda m: m["version"], reverse=True)
        if len(ids) == 0:
            return meta[0]["version"], None
        self._count("root_timestamps")
        created = np.asarray(self.client.chunkedgraph.get_root_timestamps(ids), dtype=object)
        self._count("root_timestamps")
        last = np.asarray(
            self.client.chunkedgraph.get_root_timestamps(ids, latest=True), dtype=object
        )
        created_ts = np.array([_utc(t).timestamp() for t in created])
        last_ts = np.array([_utc(t).timestamp() for t in last])
        for m in meta:
            ts = _utc(m["time_stamp"]).timestamp()
            if np.all(created_ts <= ts) and np.all(ts <= last_ts):
                return int(m["version"]), None
        newest, oldest = (
            _utc(meta[0]["time_stamp"]).timestamp(),
            _utc(meta[-1]["time_stamp"]).timestamp(),
        )
        too_new = ids[created_ts > newest].tolist()
        too_old = ids[last_ts < oldest].tolist()
        parts = []
        if too_new:
            parts.append(
                f"ids created after the newest materialization (v{meta[0]['version']}): {too_new[:10]}"
            )
        if too_old:
            parts.append(
                f"ids superseded before the oldest materialization (v{meta[-1]['version']}): {too_old[:10]}"
            )
        if not parts:
            late = ids[np.argmax(created_ts)]
            early = ids[np.argmin(last_ts)]
            parts.append(
                f"no materialization lies between the creation of {late} and the supersession of {early}: "
                "these ids never coexisted in one version"
            )
        raise SourceError(
            "no materialization version holds all these ids; "
            + "; ".join(parts)
            + " -- use materialization='live', or update the ids (client.chunkedgraph.get_latest_roots)"
        )

    # -- querying --------------------------------------------------------------------------------

    def _check(self, query: Query) -> None:
        problems = []
        if query.transmitters and not self.flywire:
            problems.append(
                f"transmitters=True: datastack {self.datastack!r} has no neurotransmitter predictions"
            )
        if query.neuropils and not (self.flywire and query.filtered and self.view):
            problems.append("neuropils=True needs FlyWire's filtered view (filtered=True)")
        if query.min_score is not None and not self.flywire:
            problems.append(f"min_score: the synapses of {self.datastack!r} have no cleft_score")
        if query.materialization == "live" and query.filtered and self.view:
            problems.append(
                "the filtered view cannot be queried live; pass filtered=False with materialization='live'"
            )
        if problems:
            raise SourceError(format_problems(f"{self!r} cannot answer this query", problems))

    def _call(self, side: str, ids: list[int], version, timestamp, use_view: bool) -> pd.DataFrame:
        """One query (its session retries transient failures); raises _Truncated at the row limit."""
        mat = self.client.materialize
        filt = {f"{side}_pt_root_id": ids}
        common = {"split_positions": True, "desired_resolution": [1, 1, 1]}
        self._local.warning = None
        self._count("query")
        if timestamp is not None:
            df = mat.live_live_query(
                self.table,
                timestamp,
                filter_in_dict={self.table: filt},
                log_warning=False,
                **common,
            )
        elif use_view:
            df = mat.query_view(
                self.view, filter_in_dict=filt, materialization_version=version, **common
            )
        else:
            df = mat.query_table(
                self.table,
                filter_in_dict=filt,
                materialization_version=version,
                log_warning=False,
                **common,
            )
        warning = self._local.warning or ""
        if "limited query" in warning.lower() or (self.row_limit and len(df) >= self.row_limit):
            raise _Truncated(warning or f"{len(df)} rows = row_limit")
        return df

    def _batch(self, side: str, ids: list[int], version, timestamp, use_view: bool) -> pd.DataFrame:
        """A batch, split recursively while the server truncates it; cached when asked."""
        key = None
        if self.cache is not None and timestamp is None:
            key = self._cache_key(side, ids, version, use_view)
            if key.exists():
                try:
                    return pd.read_parquet(key)
                except Exception as exc:  # a damaged cache entry is fetched again, not trusted
                    log.warning("fetch: cache file %s is unreadable (%s); fetching again", key, exc)
        try:
            df = self._call(side, ids, version, timestamp, use_view)
        except _Truncated as exc:
            if len(ids) == 1:
                raise FetchError(
                    f"neuron {ids[0]} alone has more {side}synapses than the server returns in one query "
                    f"({exc}); synframe does not return partial tables -- query it by neuropil or bounding box"
                ) from None
            half = len(ids) // 2
            log.info("fetch: %s query of %d ids truncated by the server; splitting", side, len(ids))
            parts = [self._batch(side, ids[:half], version, timestamp, use_view),
                     self._batch(side, ids[half:], version, timestamp, use_view)]  # fmt: skip
            df = pd.concat([p for p in parts if len(p)] or parts[:1], ignore_index=True)
        if key is not None:
            tmp = key.with_name(f".{key.name}.{threading.get_ident()}")
            df.to_parquet(tmp)
            os.replace(tmp, key)
        return df

    def _cache_key(self, side, ids, version, use_view) -> Path:
        table = self.view if use_view else self.table
        raw = json.dumps([self.datastack, table, version, side, sorted(int(i) for i in ids)])
        self.cache.mkdir(parents=True, exist_ok=True)
        return self.cache / f"{hashlib.sha256(raw.encode()).hexdigest()[:32]}.parquet"

    def fetch(self, query: Query) -> pd.DataFrame:
        """Synapses of ``query.ids``: canonical table in nm, each synapse once, sorted by id."""
        from tqdm.auto import tqdm

        self.requests = {}
        self._check(query)
        ids = as_ids(query.ids)
        with self._unanswered("the materialization versions"):
            version, timestamp = self.resolve(ids, query.materialization)
        use_view = bool(query.filtered and self.view) and timestamp is None
        if version is not None and not use_view:  # warm caveclient's cache before threads start
            self._count("metadata")
            with self._unanswered(f"the metadata of table {self.table!r}"):
                self.client.materialize.get_table_metadata(
                    self.table, version=version, log_warning=False
                )
        size = query.batch_size or 10
        sides = [s for s, on in (("pre", query.pre), ("post", query.post)) if on]
        tasks = [
            (side, ids[i : i + size].tolist()) for side in sides for i in range(0, len(ids), size)
        ]
        frames, failed = [], []
        with ThreadPoolExecutor(max_workers=min(self.max_workers, max(len(tasks), 1))) as pool, tqdm(
            total=len(tasks), desc="fetch", unit="query", disable=not query.progress, leave=False
        ) as bar:  # fmt: skip
            futures = {
                pool.submit(self._batch, side, b, version, timestamp, use_view): (side, b)
                for side, b in tasks
            }
            for fut in as_completed(futures):
                side, b = futures[fut]
                try:
                    frames.append(fut.result())
                except FetchError:
                    raise
                except Exception as exc:
                    failed.append((side, b, f"{type(exc).__name__}: {exc}"))
                bar.update()
        if failed:
            ids_failed = sorted({i for _, b, _ in failed for i in b})
            first = failed[0][2]
            raise FetchError(
                f"{len(failed)} of {len(tasks)} queries failed (each retried up to "
                f"{self.retries if self.retries is not None else 'the client default'} times; e.g. "
                f"{first}); "
                f"neuron ids not fetched: {ids_failed[:20]}{' …' if len(ids_failed) > 20 else ''}. "
                "Nothing is returned: a partial table would look whole."
            )
        out = self._canonical(frames, query)
        out.attrs = {
            "units": "nm",
            "source": repr(self),
            "datastack": self.datastack,
            "table": self.view if use_view else self.table,
            "materialization": version,
            "timestamp": (
                timestamp.isoformat() if timestamp is not None else self._version_time(version)
            ),
            "filtered": (True if use_view else (False if self.flywire else None)),
            "resolution": [1.0, 1.0, 1.0],
            "requests": dict(self.requests),
        }
        return out

    @contextlib.contextmanager
    def _unanswered(self, what: str):
        """A request the server did not answer (after the retries) as a [`FetchError`][synframe.errors.FetchError]."""
        import requests

        try:
            yield
        except requests.RequestException as exc:
            raise FetchError(
                f"{self!r}: the server did not answer for {what} ({type(exc).__name__}: {exc}); "
                f"each attempt waits at most {self.timeout} s and is retried "
                f"{self.retries if self.retries is not None else 'as the client does'} times -- "
                "try again later, or raise timeout= / retries="
            ) from exc

    def _version_time(self, version) -> str | None:
        try:
            return str(self.client.materialize.get_timestamp(version))
        except Exception:  # the timestamp is provenance only
            return None

    def _canonical(self, frames: list[pd.DataFrame], query: Query) -> pd.DataFrame:
        frames = [f for f in frames if len(f)]
        if not frames:
            empty = {
                c: pd.Series(dtype="int64" if c in ("id", "pre", "post") else "float64")
                for c in _KEEP[:9]
            }
            return pd.DataFrame(empty)
        raw = pd.concat(frames, ignore_index=True)
        out = from_cave(raw, (1.0, 1.0, 1.0))
        out = out[[c for c in _KEEP if c in out.columns]]
        out = out.drop_duplicates(SynapseTable.id).sort_values(SynapseTable.id, ignore_index=True)
        for c in (SynapseTable.id, SynapseTable.pre, SynapseTable.post):
            out[c] = as_ids(out[c].to_numpy(), what=f"column {c!r}")
        if not query.transmitters:
            out = out.drop(columns=[c for c in NEUROTRANSMITTERS if c in out.columns])
        else:  # probabilities as float64, whatever the server's dtype
            out = out.astype({c: "float64" for c in NEUROTRANSMITTERS if c in out.columns})
        if query.neuropils:
            out[SynapseTable.neuropil] = out[SynapseTable.neuropil].astype("category")
        elif SynapseTable.neuropil in out:
            out = out.drop(columns=SynapseTable.neuropil)
        if query.min_score is not None:
            out = out[out[SynapseTable.cleft_score] >= query.min_score].reset_index(drop=True)
        return out


def _positive_int(value, name: str, *, zero: bool = False) -> int:
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not ok or value < (0 if zero else 1):
        raise OptionError(
            f"{name} must be a {'non-negative' if zero else 'positive'} int, got {value!r}"
        )
    return int(value)


def _positive_seconds(value, name: str) -> float:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not ok or not np.isfinite(value) or value <= 0:
        raise OptionError(
            f"{name} must be a finite number of seconds > 0 (or None to wait forever), "
            f"got {value!r}"
        )
    return float(value)


def _non_negative(value, name: str) -> float:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not ok or not np.isfinite(value) or value < 0:
        raise OptionError(f"{name} must be a finite number >= 0 (seconds), got {value!r}")
    return float(value)


@functools.cache
def _retry_class():
    """urllib3's ``Retry`` with ``Retry-After`` capped (built on first use: urllib3 loads lazily)."""
    from urllib3.util.retry import Retry

    class CappedRetry(Retry):
        """urllib3's Retry with the server's ``Retry-After`` capped at ``backoff_max``."""

        def get_retry_after(self, response):
            after = super().get_retry_after(response)
            return None if after is None else min(after, self.backoff_max)

    return CappedRetry


@functools.cache
def _adapter_class():
    """requests' ``HTTPAdapter`` with a default timeout (built on first use: requests loads lazily)."""
    from requests.adapters import HTTPAdapter

    class TimeoutAdapter(HTTPAdapter):
        """An ``HTTPAdapter`` that gives every request without a timeout of its own ``timeout``."""

        def __init__(self, *args, timeout: float | None = None, **kwargs) -> None:
            self.timeout = timeout
            super().__init__(*args, **kwargs)

        def send(self, request, timeout=None, **kwargs):
            return super().send(request, timeout=self.timeout if timeout is None else timeout,
                                **kwargs)  # fmt: skip

    return TimeoutAdapter


def _utc(t) -> datetime:
    if isinstance(t, str):
        t = datetime.fromisoformat(t)
    if isinstance(t, np.datetime64):
        t = pd.Timestamp(t).to_pydatetime()
    if isinstance(t, pd.Timestamp):
        t = t.to_pydatetime()
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)
