"""Benchmark: ``fit_pathway_stats`` of a whole EM-sized table, pandas and dask.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_fit.py --synapses 20_000_000 --pandas --compare-src OLD/src
    .venv/bin/python benchmarks/bench_fit.py --synapses 100_000_000

Workload: the store of ``bench_connectome.py`` (``SyntheticDump(n, seed=3)``, built once, not
timed), cleaned and parameterized with the 10-property model of ``bench_parameterize.py`` (by
``synapse_class``, seed 1); the fit is connectome-manipulator's with the model's types: 3 gamma,
1 discrete, 3 constant, 1 normal, 2 truncnorm by maximum likelihood (``MOMENT_FITS`` and
``MLE_FITS`` of ``bench_pipeline.py``), by ``synapse_class``.

- dask (``--workers``, 1 thread and ``--memory-limit`` each): ``sf.dask.fit_pathway_stats`` of the
  lazy store -> clean -> parameterize graph (so every read of the table re-reads the store and
  re-draws: a fit with ``discrete`` reads twice); reference operation, same cluster: one pass of
  the same graph (``drawn.map_partitions(len).compute()``). Peak RSS of every process.
- ``--pandas``: the table computed into memory (not timed), ``sf.fit_pathway_stats`` on it
  (time, peak RSS of this process), and the dask statistics compared with it (every float).
- ``--compare-src DIR``: the pandas fit in a fresh process with synframe from ``DIR`` (another
  version) and, for the same conditions, with this one, on the table saved as parquet.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import bench_connectome as bc
import bench_parameterize as bp
from bench_pipeline import MLE_FITS, MOMENT_FITS

FITS = {**MOMENT_FITS, **MLE_FITS}
FIT_KW = {"by": "synapse_class", "properties": list(FITS), "distributions": FITS,
          "truncnorm_fit": "mle", "progress": False}  # fmt: skip

_CHILD = """
import json, resource, sys, time
import pandas as pd
import synframe as sf
table = pd.read_parquet(sys.argv[1])
classes = pd.read_parquet(sys.argv[2])
kw = json.loads(sys.argv[3])
start = time.perf_counter()
sf.fit_pathway_stats(table, types=classes, **kw)
print(json.dumps({"fit_s": time.perf_counter() - start,
                  "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
                  "synframe": sf.__file__}))
"""


def _dask(store, classes, stats, workers: int, memory_limit: str, partition_size: int) -> dict:
    import distributed

    import synframe as sf

    with (
        bc.PeakMemory() as memory,
        distributed.LocalCluster(
            n_workers=workers, threads_per_worker=1, memory_limit=memory_limit,
            dashboard_address="127.0.0.1:0",
        ) as cluster,
        distributed.Client(cluster),
    ):  # fmt: skip
        ddf = store.to_dask(partition_size=partition_size)
        drawn = sf.dask.parameterize(
            sf.dask.clean(ddf), stats, by="synapse_class", types=classes, seed=1, progress=False
        )
        start = time.perf_counter()
        rows = int(drawn.map_partitions(len).compute().sum())
        one_pass = time.perf_counter() - start
        start = time.perf_counter()
        fitted = sf.dask.fit_pathway_stats(drawn, types=classes, **FIT_KW)
        fit_s = time.perf_counter() - start
    return {
        "partitions": ddf.npartitions,
        "rows": rows,
        "one_pass_s": one_pass,
        "fit_s": fit_s,
        "fit_over_one_pass": fit_s / one_pass,
        "peak_gb": {k: v / 2**30 for k, v in memory.peak.items()},
        "stats": fitted,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--synapses", type=lambda v: int(v.replace("_", "")), default=20_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-limit", default="4GiB")
    parser.add_argument("--partition-size", type=int, default=2_000_000)
    parser.add_argument("--workdir", type=Path, default=Path("benchmarks/data"))
    parser.add_argument("--pandas", action="store_true")
    parser.add_argument("--compare-src", type=Path, default=None)
    parser.add_argument("--no-dask", action="store_true", help="only the pandas measurements")
    args = parser.parse_args()

    import synframe as sf

    store, classes, folder = bc.prepare(args.synapses, args.workdir)
    stats = sf.pathways.from_dict(bp.model())
    res: dict = {"synapses": args.synapses, "workers": args.workers}
    dask_stats = None
    if not args.no_dask:
        got = _dask(store, classes, stats, args.workers, args.memory_limit, args.partition_size)
        dask_stats = got.pop("stats")
        res["dask"] = got
        print(json.dumps(res, indent=1), flush=True)
    if args.pandas or args.compare_src:
        table = sf.parameterize(
            sf.clean(store.to_dask().compute(scheduler="synchronous")), stats,
            by="synapse_class", types=classes, seed=1, progress=False,
        )  # fmt: skip
    if args.pandas:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        start = time.perf_counter()
        ref = sf.fit_pathway_stats(table, types=classes, **FIT_KW)
        res["pandas"] = {
            "fit_s": time.perf_counter() - start,
            "table_gb": float(table.memory_usage(deep=True).sum() / 2**30),
            "peak_gb_process": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
            "peak_gb_before_fit": before,
            "dask_equals_pandas": None
            if dask_stats is None
            else repr(sf.pathways.to_dict(dask_stats)) == repr(sf.pathways.to_dict(ref))
            and repr(dask_stats.attrs["fit"]) == repr(ref.attrs["fit"]),
        }
        print(json.dumps(res["pandas"], indent=1), flush=True)
    if args.compare_src:
        path = folder / "fit-table.parquet"
        table.to_parquet(path)
        classes.to_parquet(folder / "fit-classes.parquet")
        del table
        here = Path(sf.__file__).parents[1]
        for name, src in (("compare", args.compare_src), ("this", here)):
            env = {**os.environ, "PYTHONPATH": str(src)}
            out = subprocess.run(
                [sys.executable, "-c", _CHILD, str(path), str(folder / "fit-classes.parquet"),
                 json.dumps(FIT_KW)],
                env=env, capture_output=True, text=True, check=True,
            )  # fmt: skip
            res[f"pandas_fresh_{name}"] = json.loads(out.stdout.strip().splitlines()[-1])
            print(name, res[f"pandas_fresh_{name}"], flush=True)
        path.unlink()
    print(json.dumps({k: v for k, v in res.items()}, indent=1, default=str))


if __name__ == "__main__":
    main()
