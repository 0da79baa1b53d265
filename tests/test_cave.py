"""The CAVE source against a fake CAVE deployment (caveclient's CAVEclientMock + responses).

The real caveclient code runs end to end -- requests, Arrow decoding, unit conversion -- against
callbacks that serve real MICrONS synapses (and a FlyWire-shaped table); synframe is not patched.
"""

import re
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
import responses

import synframe as sf
from conftest import DATA, ROOT
from synframe.testing import SyntheticDump
from synframe.testing_cave import FakeCAVE, make_client


def microns_table() -> pd.DataFrame:
    """The example neuron's synapses exactly as published (CAVE layout, 4 x 4 x 40 nm voxels)."""
    raw = pd.concat([pd.read_feather(DATA / "pre_syn.feather"), pd.read_feather(DATA / "post_syn.feather")],
                    ignore_index=True)  # fmt: skip
    for col in ("pre_pt_position", "post_pt_position", "ctr_pt_position"):
        xyz = np.stack(raw[col].to_numpy())
        for i, a in enumerate("xyz"):
            raw[f"{col}_{a}"] = xyz[:, i]
        raw = raw.drop(columns=col)
    return raw


@pytest.fixture(scope="module")
def microns_client():
    return make_client("minnie65_public", "synapses_pni_2", [795])


@pytest.fixture
def microns(microns_client):
    fake = FakeCAVE("minnie65_public", tables={"synapses_pni_2": microns_table()})
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.register(rsps)
        yield microns_client, fake


def test_microns_results_equal_the_data_served_in_nm(microns):
    client, fake = microns
    syn = sf.fetch(ROOT, source=client, progress=False)
    ref = sf.datasets.example_synapses()  # the same files, converted independently
    pd.testing.assert_frame_equal(syn[ref.columns], ref)
    assert syn["id"].is_unique and syn.attrs["materialization"] == 795
    assert fake.calls["query"] == 2  # one batch: a pre and a post query
    assert syn.attrs["datastack"] == "minnie65_public" and syn.attrs["table"] == "synapses_pni_2"
    post = sf.fetch(ROOT, source=sf.sources.CAVESource(client), pre=False, progress=False)
    assert len(post) == 2165 and (post.post == ROOT).all()


def test_microns_options_it_cannot_honour(microns):
    client, _ = microns
    for kw, match in [({"transmitters": True}, "no neurotransmitter"), ({"neuropils": True}, "filtered view"),
                      ({"min_score": 50}, "no cleft_score")]:  # fmt: skip
        with pytest.raises(sf.SourceError, match=match):
            sf.fetch(ROOT, source=client, progress=False, **kw)


def test_row_limit_splits_batches_and_the_table_is_complete(microns_client):
    partners = microns_table().query("post_pt_root_id == @ROOT")["pre_pt_root_id"].value_counts()
    ids = partners.index[:40].tolist()  # the 40 strongest inputs: a few synapses each
    assert partners.iloc[:40].sum() > 50 >= partners.iloc[0]
    fake = FakeCAVE("minnie65_public", tables={"synapses_pni_2": microns_table()}, row_limit=50)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.register(rsps)
        syn = sf.fetch(
            ids,
            source=sf.sources.CAVESource(microns_client, max_workers=4),
            batch_size=40,
            progress=False,
        )
    raw = microns_table()
    expected = raw[raw.pre_pt_root_id.isin(ids) | raw.post_pt_root_id.isin(ids)]["id"]
    assert sorted(syn["id"]) == sorted(expected.unique())
    assert fake.calls["query"] > 2  # the truncated batches were split and asked again


def test_a_single_neuron_over_the_limit_fails_loudly(microns_client):
    fake = FakeCAVE("minnie65_public", tables={"synapses_pni_2": microns_table()}, row_limit=100)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.register(rsps)
        with pytest.raises(sf.FetchError, match=f"neuron {ROOT} alone"):
            sf.fetch(ROOT, source=microns_client, progress=False)


def test_transient_503s_are_retried(microns_client):
    failures = {"n": 0}

    def flaky(kind, body):
        if kind == "query" and failures["n"] < 3:
            failures["n"] += 1
            return 503
        return None

    fake = FakeCAVE("minnie65_public", tables={"synapses_pni_2": microns_table()}, fail=flaky)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.register(rsps)
        syn = sf.fetch(
            ROOT, source=sf.sources.CAVESource(microns_client, backoff=0.01), progress=False
        )
    assert len(syn) == 2424 and failures["n"] == 3


def test_persistent_failure_names_the_ids(microns_client):
    bad = 864691135448076786  # a real presynaptic partner

    def broken(kind, body):
        ids = next(iter(body["filter_in_dict"].values())) if "filter_in_dict" in body else {}
        return 500 if kind == "query" and bad in next(iter(ids.values()), []) else None

    fake = FakeCAVE("minnie65_public", tables={"synapses_pni_2": microns_table()}, fail=broken)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.register(rsps)
        with pytest.raises(sf.FetchError, match=str(bad)) as exc:
            sf.fetch([ROOT, bad], source=sf.sources.CAVESource(microns_client, backoff=0.001, retries=2),
                     batch_size=1, progress=False)  # fmt: skip
    assert "Nothing is returned" in str(exc.value)


def test_cache_makes_repeats_offline(microns_client, tmp_path):
    fake = FakeCAVE("minnie65_public", tables={"synapses_pni_2": microns_table()})
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.register(rsps)
        cave = sf.sources.CAVESource(microns_client, cache=tmp_path)
        a = sf.fetch(ROOT, source=cave, progress=False)
        n = fake.calls["query"]
        b = sf.fetch(ROOT, source=cave, progress=False)
    assert n == 2 and fake.calls["query"] == 2 and a.equals(b)


# --- materialization -------------------------------------------------------------------------------


def ts(year, month=1):
    return datetime(year, month, 1, tzinfo=UTC)


@pytest.fixture
def versioned():
    client = make_client(
        "minnie65_public", "synapses_pni_2", [279]
    )  # fresh: caveclient caches metadata
    many = {v: ts(2000 + v // 12, 1 + v % 12) for v in range(240, 280)}  # 40 versions, 2020-2023
    roots = {
        11: (ts(2019), None),  # always there
        12: (ts(2021, 6), ts(2022, 6)),  # only between mid 2021 and mid 2022
        13: (ts(2022, 9), None),  # from late 2022
        14: (ts(2030), None),  # newer than every version
    }
    table = (
        microns_table().iloc[:10].assign(pre_pt_root_id=[11, 12, 13, 14, 11, 12, 13, 14, 11, 12])
    )
    fake = FakeCAVE("minnie65_public", tables={"synapses_pni_2": table}, versions=many, roots=roots)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.register(rsps)
        yield sf.sources.CAVESource(client), fake


# 12 is superseded on 2022-06-01 (caveclient reports its last moment 1 ms earlier): v268 (2022-05-01)
@pytest.mark.parametrize(
    ("ids", "version"), [([11], 279), ([11, 12], 268), ([11, 13], 279), ([12], 268)]
)
def test_auto_picks_the_newest_version_with_every_id_in_three_requests(versioned, ids, version):
    cave, fake = versioned
    got, _ = cave.resolve(np.array(ids), "auto")
    assert got == version
    # constant number of round trips: versions' metadata + creation + supersession times
    assert fake.calls["root_timestamps"] == 2 and fake.calls["versions_metadata"] <= 1
    assert sum(fake.calls.values()) <= 3


def test_auto_refuses_ids_that_never_coexisted(versioned):
    cave, _ = versioned
    with pytest.raises(sf.SourceError, match="never coexisted") as exc:
        cave.resolve(np.array([12, 13]), "auto")
    assert "materialization='live'" in str(exc.value)
    with pytest.raises(
        sf.SourceError, match=r"created after the newest materialization \(v279\): \[14\]"
    ):
        cave.resolve(np.array([11, 14]), "auto")


def test_latest_int_and_live(versioned):
    cave, fake = versioned
    assert cave.resolve(np.array([11]), "latest") == (279, None)
    assert cave.resolve(np.array([11]), 250) == (250, None)
    with pytest.raises(sf.SourceError, match="not available"):
        cave.resolve(np.array([11]), 5)
    syn = sf.fetch([14], source=cave, materialization="live", progress=False)
    assert fake.calls["live_query"] == 2 and set(syn.pre) == {14}
    assert syn.attrs["materialization"] is None and syn.attrs["timestamp"]


# --- a FlyWire-shaped datastack ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def flywire_data():
    raw = SyntheticDump(30_000, n_neurons=200, seed=3).frame()
    raw["neuropil"] = raw["neuropil"].astype(str)
    view = raw[raw.cleft_score > 50].copy()  # the curated view: cleft > 50, with neuropils
    raw = raw.drop(columns="neuropil")
    return raw, view


@pytest.fixture
def flywire(flywire_data):
    raw, view = flywire_data
    client = make_client("flywire_fafb_public", "synapses_nt_v1", [783])
    fake = FakeCAVE("flywire_fafb_public", tables={"synapses_nt_v1": raw}, views={"valid_synapses_nt_np_v6": view},
                    versions={783: ts(2023, 9)})  # fmt: skip
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.register(rsps)
        yield client, fake, raw, view


def test_flywire_filtered_view_transmitters_neuropils(flywire):
    client, _fake, raw, view = flywire
    ids = raw["pre_pt_root_id"].value_counts().index[:5].tolist()
    syn = sf.fetch(ids, source=client, transmitters=True, neuropils=True, progress=False)
    exp = view[view.pre_pt_root_id.isin(ids) | view.post_pt_root_id.isin(ids)].sort_values("id")
    assert syn["id"].tolist() == exp["id"].tolist()
    np.testing.assert_allclose(
        syn["pre_x"], exp["pre_pt_position_x"] * 4.0
    )  # server-side nm conversion
    np.testing.assert_allclose(syn["post_z"], exp["post_pt_position_z"] * 40.0)
    np.testing.assert_allclose(syn["acetylcholine"], exp["ach"], rtol=1e-6)
    assert syn["neuropil"].dtype == "category" and syn.attrs["table"] == "valid_synapses_nt_np_v6"
    assert syn.attrs["filtered"] is True


def test_flywire_unfiltered_and_min_score(flywire):
    client, _fake, raw, _ = flywire
    ids = raw["post_pt_root_id"].value_counts().index[:3].tolist()
    syn = sf.fetch(ids, source=client, filtered=False, min_score=30, progress=False)
    exp = raw[
        (raw.pre_pt_root_id.isin(ids) | raw.post_pt_root_id.isin(ids)) & (raw.cleft_score >= 30)
    ]
    assert sorted(syn["id"]) == sorted(exp["id"]) and syn.attrs["table"] == "synapses_nt_v1"
    assert "gaba" not in syn and "neuropil" not in syn
    with pytest.raises(sf.SourceError, match="filtered view"):
        sf.fetch(ids, source=client, filtered=False, neuropils=True, progress=False)


@pytest.mark.parametrize("retries", [0, 2, 4])
def test_one_retry_layer_tries_a_failing_query_retries_plus_one_times(microns_client, retries):
    """caveclient retries 502-504 itself and synframe used to retry on top (up to 20 tries):
    now the client's session is the only retry layer, with 429 included."""
    fake = FakeCAVE(
        "minnie65_public",
        tables={"synapses_pni_2": microns_table()},
        fail=lambda kind, body: 503 if kind == "query" else None,
    )
    source = sf.sources.CAVESource(microns_client, retries=retries, backoff=0.0)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.register(rsps)
        with pytest.raises(sf.FetchError, match=str(ROOT)):
            sf.fetch(ROOT, source=source, post=False, progress=False)
    assert fake.calls["query"] == retries + 1


def test_rate_limited_queries_are_retried_honouring_retry_after(microns_client):
    seen = {"n": 0}

    def limited(kind, body):
        if kind == "query" and seen["n"] < 2:
            seen["n"] += 1
            return 429
        return None

    fake = FakeCAVE("minnie65_public", tables={"synapses_pni_2": microns_table()}, fail=limited)
    source = sf.sources.CAVESource(microns_client, retries=3, backoff=0.0)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.register(rsps)
        syn = sf.fetch(ROOT, source=source, post=False, progress=False)
    assert len(syn) == 259 and fake.calls["query"] == 3


def test_retry_waits_are_bounded(microns_client):
    import requests

    source = sf.sources.CAVESource(microns_client, retries=6, backoff=1.0, backoff_max=5.0)
    retry = microns_client.materialize.session.get_adapter("https://x").max_retries
    waits = []
    for _ in range(6):
        retry = retry.increment(method="GET", url="/q", error=requests.ConnectionError())
        waits.append(retry.get_backoff_time())
    assert waits == [0.0, 2.0, 4.0, 5.0, 5.0, 5.0]  # exponential, each capped at backoff_max
    response = requests.models.Response()
    response.headers["Retry-After"] = "3600"  # a server asking for an hour gets backoff_max
    assert retry.get_retry_after(type("R", (), {"headers": response.headers})()) == 5.0
    assert 429 in retry.status_forcelist and source.retries == 6


@pytest.mark.parametrize(
    "kw", [{"retries": -1}, {"retries": 1.5}, {"backoff": float("nan")}, {"max_workers": 0}]
)
def test_bad_retry_options_are_refused(microns_client, kw):
    with pytest.raises(sf.OptionError, match=next(iter(kw))):
        sf.sources.CAVESource(microns_client, **kw)


def test_a_bare_word_that_is_no_datastack_fails_offline(monkeypatch):
    import caveclient

    def no_network(*args, **kwargs):
        raise AssertionError("a typo must not reach the network")

    monkeypatch.setattr(caveclient, "CAVEclient", no_network)
    with pytest.raises(sf.SourceError, match=r"nor a known CAVE datastack.*CAVESource"):
        sf.fetch(ROOT, source="flywire_fafb_publik", progress=False)
    with pytest.raises(sf.SourceError, match="is not an existing file"):
        sf.fetch(ROOT, source="/no/such/dump.parquet", progress=False)


# --- timeouts: a server that accepts the connection and never answers -----------------------------


class StallingServer:
    """A TCP server on 127.0.0.1 that accepts connections and never answers; it counts them and
    stops by itself after ``limit`` seconds."""

    def __init__(self, limit: float = 60.0) -> None:
        import socket
        import threading
        import time

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.accepted, self._conns = 0, []
        self._stop = threading.Event()
        self._deadline = time.monotonic() + limit
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import time

        while not self._stop.is_set() and time.monotonic() < self._deadline:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.accepted += 1
            self._conns.append(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for conn in self._conns:
            conn.close()
        self.sock.close()


@pytest.fixture
def stalling():
    from caveclient.tools.testing import CAVEclientMock, default_info

    server = StallingServer()
    info = default_info(server.url)
    info["synapse_table"] = "synapses_pni_2"
    client = CAVEclientMock(
        datastack_name="minnie65_public", local_server=server.url, info_file=info,
        materialization=True, chunkedgraph=True, available_materialization_versions=[795],
        set_version=795,
    )  # fmt: skip
    yield client, server
    server.close()


def within(seconds: float, func) -> tuple[BaseException | None, float]:
    """(the exception ``func()`` raised, seconds it took); a test failure if it is still running
    after ``seconds`` (the fixture's teardown then closes the server, which ends the call)."""
    import threading
    import time

    out: dict = {}

    def run():
        start = time.monotonic()
        try:
            func()
        except BaseException as exc:
            out["exc"] = exc
        out["elapsed"] = time.monotonic() - start

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"still waiting on the stalled server after {seconds} s: no timeout applied")
    return out.get("exc"), out["elapsed"]


def test_a_stalled_server_is_given_up_after_the_timeout(stalling):
    """Each attempt waits ``timeout`` seconds, ``retries + 1`` attempts: a bounded time, then one
    FetchError naming the timeout -- without a timeout this call never returns."""
    client, server = stalling
    sf.datasets.example_synapses()  # imports done before the clock starts
    source = sf.sources.CAVESource(client, timeout=0.4, retries=2, backoff=0.0)
    exc, elapsed = within(
        20, lambda: sf.fetch(ROOT, source=source, materialization="latest", progress=False)
    )
    assert isinstance(exc, sf.FetchError), exc
    assert re.search(r"did not answer.*at most 0.4 s.*retried 2 times", str(exc))
    assert server.accepted == 3  # the first attempt and two retries
    assert 3 * 0.4 <= elapsed < 3 * 0.4 + 5.0


def test_the_timeout_applies_to_the_chunkedgraph_and_with_the_clients_retries(stalling):
    import requests

    client, server = stalling
    source = sf.sources.CAVESource(client, timeout=0.3, retries=None)  # the client's own retries
    assert source.timeout == 0.3
    exc, elapsed = within(20, lambda: client.chunkedgraph.get_root_timestamps([ROOT]))
    assert isinstance(exc, requests.RequestException), exc
    assert server.accepted >= 1 and elapsed < 10 * 0.3 + 5.0


def test_the_default_timeout_and_none(microns_client):
    source = sf.sources.CAVESource(microns_client)
    adapter = microns_client.materialize.session.get_adapter("https://x")
    assert source.timeout == adapter.timeout == 120.0
    assert microns_client.chunkedgraph.session.get_adapter("https://x").timeout == 120.0
    sf.sources.CAVESource(microns_client, timeout=None)
    assert microns_client.materialize.session.get_adapter("https://x").timeout is None


@pytest.mark.parametrize("timeout", [-1, 0, 0.0, float("nan"), float("inf"), True, "10", [5]])
def test_bad_timeouts_are_refused(microns_client, timeout):
    with pytest.raises(sf.OptionError, match="timeout must be a finite number of seconds > 0"):
        sf.sources.CAVESource(microns_client, timeout=timeout)
