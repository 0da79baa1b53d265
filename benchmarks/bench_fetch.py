"""Benchmark: sf.fetch from an indexed LocalStore vs. reading the dump with pandas + isin.

Usage (from the repository root, in the project's environment)::

    python benchmarks/bench_fetch.py --synapses 100_000_000 --workdir benchmarks/data

Steps, each in its own process so that its peak memory (ru_maxrss) is its own:

1. ``generate``: a FlyWire-sized dump in the CAVE layout (``synframe.testing.SyntheticDump``,
   seeded, log-normal per-neuron degree skew), one parquet file (skipped if it already exists);
2. ``build``: ``LocalStore.build`` (two sorted copies, 65,536-row row groups);
3. ``fetch``: ``sf.fetch`` of 1, 10 and 100 random neurons -- cold (first query of a fresh
   process) and warm (median of 5 repeats);
4. ``baseline``: what users do today -- ``pd.read_parquet(dump)`` then
   ``df[df.pre_pt_root_id.isin(ids) | df.post_pt_root_id.isin(ids)]`` for the same 10 neurons.

Prints one JSON line per step and a summary table (markdown) at the end.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SEED = 20261121


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _dump(args):
    from synframe.testing import SyntheticDump

    return SyntheticDump(args.synapses, seed=SEED)


def _sample(args, n: int) -> np.ndarray:
    d = _dump(args)
    return np.random.default_rng([SEED, n]).choice(d.neuron_ids, n, replace=False)


def step_generate(args) -> dict:
    path = Path(args.workdir) / "dump.parquet"
    if path.exists():
        return {"step": "generate", "skipped": True, "bytes": path.stat().st_size}
    t = time.perf_counter()
    _dump(args).write_parquet(path)
    return {"step": "generate", "seconds": time.perf_counter() - t, "bytes": path.stat().st_size}


def step_build(args) -> dict:
    from synframe.sources import LocalStore

    wd = Path(args.workdir)
    t = time.perf_counter()
    LocalStore.build(
        wd / "dump.parquet",
        wd / "store",
        resolution=(4, 4, 40),
        overwrite=True,
        memory_limit="12GB",
    )
    secs = time.perf_counter() - t
    size = sum(p.stat().st_size for p in (wd / "store").iterdir())
    return {"step": "build", "seconds": secs, "store_bytes": size, "peak_mb": _peak_mb()}


def step_fetch(args) -> dict:
    import synframe as sf

    store = sf.sources.LocalStore(Path(args.workdir) / "store")
    out = {"step": "fetch"}
    for n in (1, 10, 100):
        ids = _sample(args, n)
        t = time.perf_counter()
        syn = sf.fetch(ids, source=store, progress=False)
        cold = time.perf_counter() - t
        warm = []
        for _ in range(5):
            t = time.perf_counter()
            sf.fetch(ids, source=store, progress=False)
            warm.append(time.perf_counter() - t)
        out[f"n{n}"] = {"synapses": len(syn), "cold_s": cold, "warm_s": statistics.median(warm)}
    out["peak_mb"] = _peak_mb()
    return out


def step_baseline(args) -> dict:
    import pandas as pd

    ids = _sample(args, 10)
    t = time.perf_counter()
    df = pd.read_parquet(Path(args.workdir) / "dump.parquet")
    read = time.perf_counter() - t
    t2 = time.perf_counter()
    hit = df[df["pre_pt_root_id"].isin(ids) | df["post_pt_root_id"].isin(ids)]
    filt = time.perf_counter() - t2
    return {
        "step": "baseline",
        "synapses": len(hit),
        "read_s": read,
        "filter_s": filt,
        "total_s": read + filt,
        "peak_mb": _peak_mb(),
        "frame_mb": df.memory_usage(deep=True).sum() / 2**20,
    }


STEPS = {
    "generate": step_generate,
    "build": step_build,
    "fetch": step_fetch,
    "baseline": step_baseline,
}


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--synapses", type=lambda s: int(s.replace("_", "")), default=100_000_000)
    p.add_argument("--workdir", default="benchmarks/data")
    p.add_argument("--step", choices=sorted(STEPS), help="run one step in this process")
    p.add_argument("--skip", nargs="*", default=[], help="steps to skip")
    args = p.parse_args()
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    if args.step:
        print(json.dumps(STEPS[args.step](args)), flush=True)
        return
    results = {}
    for step in STEPS:
        if step in args.skip:
            continue
        cmd = [
            sys.executable,
            __file__,
            "--step",
            step,
            "--synapses",
            str(args.synapses),
            "--workdir",
            args.workdir,
        ]
        res = subprocess.run(cmd, capture_output=True, text=True, check=True)
        results[step] = json.loads(res.stdout.strip().splitlines()[-1])
        print(json.dumps(results[step]), flush=True)
    if "fetch" in results and "baseline" in results:
        f, b = results["fetch"], results["baseline"]
        print("\n| query | synapses | cold (s) | warm (s) |\n|---|---|---|---|")
        for n in (1, 10, 100):
            r = f[f"n{n}"]
            print(f"| {n} neurons | {r['synapses']:,} | {r['cold_s']:.3f} | {r['warm_s']:.3f} |")
        print(
            f"\nbaseline (pandas read + isin, 10 neurons): {b['total_s']:.1f} s, peak {b['peak_mb']:,.0f} MB; "
            f"synframe warm 10 neurons: {f['n10']['warm_s']:.3f} s, peak {f['peak_mb']:,.0f} MB; "
            f"speed-up {b['total_s'] / f['n10']['warm_s']:,.0f}x"
        )


if __name__ == "__main__":
    main()
