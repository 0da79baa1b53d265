"""``synframe.testing_cave``: the fake CAVE deployment users test their own CAVE code against."""

import subprocess
import sys
from datetime import UTC, datetime

import pandas as pd
import pytest
import requests

import synframe as sf
from conftest import ROOT
from synframe.testing_cave import FakeCAVE, arrow_body, make_client


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return pd.read_parquet(sf.datasets.path("microns_v795_synapses.parquet"))


@pytest.fixture(scope="module")
def client():
    return make_client("minnie65_public", "synapses_pni_2", [795])


def test_importing_it_loads_neither_responses_nor_caveclient():
    code = (
        "import sys, synframe.testing_cave; "
        "print([m for m in ('responses', 'caveclient') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_serve_answers_with_the_tables_it_was_given(table, client):
    fake = FakeCAVE("minnie65_public", tables={"synapses_pni_2": table})
    with fake.serve() as served:
        assert served is fake
        syn = sf.fetch(ROOT, source=client, progress=False)
        with pytest.raises(requests.ConnectionError):  # nothing else gets through
            requests.get("https://example.invalid/", timeout=1)
    pd.testing.assert_frame_equal(syn, sf.datasets.example_synapses()[syn.columns])
    assert fake.calls["query"] == 2


def test_a_table_it_does_not_serve_is_a_404_that_fetch_reports(table, client):
    fake = FakeCAVE("minnie65_public", tables={"other": table})
    with fake.serve(), pytest.raises(sf.FetchError, match="404"):
        sf.fetch(ROOT, source=client, progress=False)


def test_the_row_limit_sends_the_servers_warning_header(table, client):
    fake = FakeCAVE("minnie65_public", tables={"synapses_pni_2": table}, row_limit=100)
    with fake.serve(), pytest.raises(sf.FetchError, match="Limited query to 100 rows"):
        sf.fetch(ROOT, source=client, progress=False)


def test_arrow_body_round_trips(table):
    import pyarrow as pa

    back = pa.ipc.open_stream(arrow_body(table)).read_pandas()
    pd.testing.assert_frame_equal(back, table)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"datastack": ""}, "datastack"),
        ({"datastack": 5}, "datastack"),
        ({"tables": None}, "tables must map"),
        ({"tables": {"t": [1, 2]}}, "tables must map"),
        ({"views": {3: pd.DataFrame()}}, "views must map"),
        ({"resolution": (4, 4)}, "resolution"),
        ({"resolution": (4, 4, 0)}, "resolution"),
        ({"resolution": (4, 4, float("nan"))}, "resolution"),
        ({"resolution": "4x4x40"}, "resolution"),
        ({"versions": {795: datetime(2023, 4, 20)}}, "timezone-aware"),
        ({"versions": {"795": datetime(2023, 4, 20, tzinfo=UTC)}}, "versions"),
        ({"row_limit": 0}, "row_limit"),
        ({"row_limit": True}, "row_limit"),
        ({"row_limit": 2.5}, "row_limit"),
        ({"latency": -1}, "latency"),
        ({"latency": float("nan")}, "latency"),
        ({"fail": 503}, "fail"),
    ],
)
def test_bad_options_are_refused(table, kw, match):
    args = {"datastack": "minnie65_public", "tables": {"synapses_pni_2": table}, **kw}
    with pytest.raises(sf.OptionError, match=match):
        FakeCAVE(args.pop("datastack"), **args)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("", "t", [1]), "datastack"),
        (("d", None, [1]), "synapse_table"),
        (("d", "t", []), "versions"),
        (("d", "t", [1.5]), "versions"),
        (("d", "t", 795), "versions"),
    ],
)
def test_bad_client_options_are_refused(args, match):
    with pytest.raises(sf.OptionError, match=match):
        make_client(*args)
