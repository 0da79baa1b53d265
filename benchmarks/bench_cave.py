"""Benchmark: concurrent vs. sequential CAVE fetches with 100 ms of server latency per query.

Usage (from the repository root)::

    python benchmarks/bench_cave.py --neurons 100 --latency 0.1

A fake CAVE deployment (``synframe.testing_cave``: caveclient's own ``CAVEclientMock`` for the
client, ``responses`` callbacks for the materialization and chunkedgraph endpoints, each query
sleeping ``--latency`` seconds) serves a FlyWire-shaped raw table (``SyntheticDump``, 200,000
synapses). 100 neurons in batches of 10 ids (fafbseg's default) = 20 queries (pre and post).
Sequential is ``max_workers=1`` -- fafbseg's schedule -- and concurrent ``max_workers=8``; both go
through the same real caveclient code and return identical tables (checked).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import responses

import synframe as sf
from synframe.testing import SyntheticDump
from synframe.testing_cave import FakeCAVE, make_client


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--neurons", type=int, default=100)
    p.add_argument("--latency", type=float, default=0.1)
    p.add_argument("--workers", type=int, default=8)
    args = p.parse_args()
    dump = SyntheticDump(200_000, n_neurons=1_000, seed=5)
    raw = dump.frame().drop(columns="neuropil")
    ids = np.random.default_rng(5).choice(dump.neuron_ids, args.neurons, replace=False)
    client = make_client("flywire_fafb_public", "synapses_nt_v1", [783])
    fake = FakeCAVE("flywire_fafb_public", tables={"synapses_nt_v1": raw}, latency=args.latency)
    res = {"neurons": args.neurons, "latency_s": args.latency, "batch_size": 10}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.register(rsps)
        tables = {}
        for label, workers in (("sequential", 1), ("concurrent", args.workers)):
            cave = sf.sources.CAVESource(client, max_workers=workers)
            t = time.perf_counter()
            tables[label] = sf.fetch(
                ids, source=cave, filtered=False, batch_size=10, progress=False
            )
            res[f"{label}_s"] = time.perf_counter() - t
            res[f"{label}_queries"] = cave.requests.get("query", 0)
    assert tables["sequential"].equals(tables["concurrent"])
    res["synapses"] = len(tables["concurrent"])
    res["speedup"] = res["sequential_s"] / res["concurrent_s"]
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
