"""Benchmark: a FlyWire-scale EM connectome end to end on dask, into a SONATA network circuit.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_connectome.py --synapses 100_000_000 --workers 2,1
    .venv/bin/python benchmarks/bench_connectome.py --synapses 20_000_000 --check-pandas

Workload: ``SyntheticDump(n_synapses, seed=3)`` (EM-like: log-normal degrees, few synapses per
connection, background partners, autapses) written as parquet and built into a
:class:`~synframe.sources.LocalStore` once (timed separately: it is not part of the pipeline).
Then, on a ``dask.distributed.LocalCluster`` of ``--workers`` processes (1 thread each, memory
limit ``--memory-limit``), one graph computed once:

    store.to_dask() -> sf.dask.clean -> sf.dask.connectivity -> edges to parquet
                                     -> sf.dask.parameterize (10 Tsodyks-Markram properties, 6
                                        shared per connection, by synapse_class)
                                     -> sf.write_circuit (network circuit, on disk)

Reported: total wall time and throughput; time per stage (CPU seconds of the tasks of each stage,
from the scheduler's task stream, and the client's final stitching); peak memory (RSS) of every
process (client, scheduler is in the client, nanny and worker processes), sampled every 0.1 s; the
speed-up of the first ``--workers`` value over the others. ``--check-pandas``: the same pipeline in
pandas in this process, and the two circuits compared dataset by dataset (hash of every dataset).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))

STAGES = {  # task-name prefixes -> stage (dask-expr names tasks after their functions)
    "read_part": "fetch (read the store)",
    "synframe-store": "fetch (read the store)",
    "_tag": "clean (duplicates: ids)",
    "_later_occurrences": "clean (duplicates: ids)",
    "_drops": "clean (duplicates: ids)",
    "_marked": "clean",
    "_kept": "clean",
    "shuffle": "shuffles (clean's duplicate ids, connectivity's shared neurons)",
    "_pair_counts": "connectivity (count per partition)",
    "_pres": "connectivity (count per partition)",
    "_shared_pres": "connectivity (count per partition)",
    "_split": "connectivity (count per partition)",
    "groupby": "connectivity (sum shared neurons)",
    "size": "connectivity (sum shared neurons)",
    "to_parquet": "connectivity (to parquet)",
    "to-parquet": "connectivity (to parquet)",
    "toparquet": "connectivity (to parquet)",
    "_parameterize": "parameterize",
    "parameterize": "parameterize",
    "write_part": "write_circuit (parts, on the workers)",
    "_append_part": "write_circuit (edge file, part after part)",
    "_plan_indices": "write_circuit (indices, on the workers)",
    "_fill_index": "write_circuit (indices, on the workers)",
    "_close": "write_circuit (nodes, index tables, config)",
}


def stage_of(key: str) -> str:
    name = key[0] if isinstance(key, tuple) else key
    name = str(name).strip("('")
    for prefix, stage in STAGES.items():
        if prefix in name:
            return stage
    return f"other ({name.split('-')[0]})"


class PeakMemory:
    """Peak RSS of this process and its children, sampled in a thread."""

    def __init__(self, interval: float = 0.1) -> None:
        import psutil

        self.psutil = psutil
        self.interval = interval
        self.peak: dict[str, int] = defaultdict(int)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = self.psutil.Process()
        while not self._stop.is_set():
            procs = [me, *me.children(recursive=True)]
            for p in procs:
                try:
                    rss = p.memory_info().rss
                    name = "client+scheduler" if p.pid == me.pid else f"{p.name()}[{p.pid}]"
                    self.peak[name] = max(self.peak[name], rss)
                except self.psutil.Error:
                    pass
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def neuron_classes(ids: np.ndarray) -> pd.DataFrame:
    """Every neuron's synapse class (80 % EXC, 15 % INH, 5 % EXT, by a hash of its id)."""
    h = (ids.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(54)
    u = h.astype(np.float64) / 1024
    cls = np.where(u < 0.80, "EXC", np.where(u < 0.95, "INH", "EXT"))
    return pd.DataFrame({"root_id": ids, "synapse_class": cls})


def prepare(n: int, workdir: Path):
    import synframe as sf
    from synframe.synthetic import SyntheticDump

    dump = SyntheticDump(n, seed=3, background=0.001)
    folder = workdir / f"connectome-{n}"
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "store" / "synframe_store.json").exists():
        t = time.perf_counter()
        dump.write_parquet(folder / "dump.parquet")
        print(f"  dump written in {time.perf_counter() - t:.1f} s", flush=True)
        t = time.perf_counter()
        sf.sources.LocalStore.build(
            folder / "dump.parquet", folder / "store", resolution=dump.resolution,
            overwrite=True, memory_limit="8GB",
        )  # fmt: skip
        print(f"  store built in {time.perf_counter() - t:.1f} s (not part of the pipeline)")
    store = sf.sources.LocalStore(folder / "store")
    return store, neuron_classes(np.r_[0, dump.neuron_ids]), folder


def read_files(folder: Path) -> tuple[float, int]:
    """Read every file under ``folder`` once (seconds, bytes): the hardware's reference for
    reading the store, and the same warm page cache before every run (else the first run reads
    from the disk and the second from memory, whatever the worker counts)."""
    start, size = time.perf_counter(), 0
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        with open(f, "rb", buffering=0) as fh:
            while chunk := fh.read(64 << 20):
                size += len(chunk)
    return time.perf_counter() - start, size


def run_dask(store, classes, stats, out: Path, workers: int, memory_limit: str, partition_size):
    import dask
    import distributed

    import synframe as sf

    seconds, size = read_files(Path(store.path))
    print(f"\nreading the store's files ({size / 2**30:.1f} GiB) before the run: {seconds:.1f} s")
    with (
        PeakMemory() as memory,
        distributed.LocalCluster(
            n_workers=workers, threads_per_worker=1, memory_limit=memory_limit,
            dashboard_address="127.0.0.1:0",  # any free port (None still takes 8787)
        ) as cluster,
        distributed.Client(cluster) as client,
    ):  # fmt: skip
        start = time.perf_counter()
        ddf = store.to_dask(partition_size=partition_size)
        kept = sf.dask.clean(ddf)
        edges = sf.dask.connectivity(kept)
        drawn = sf.dask.parameterize(kept, stats, by="synapse_class", types=classes, seed=1)
        circuit = sf.write_circuit(
            drawn, out / f"circuit-{workers}w", neurons=classes, overwrite=True, compute=False
        )
        with distributed.get_task_stream(client) as stream:
            config, _ = dask.compute(
                circuit, edges.to_parquet(folder_of_edges(out, workers), compute=False)
            )
        wall = time.perf_counter() - start
    if os.environ.get("BENCH_TASK_STREAM"):  # for a timeline: every task's worker and times
        import pickle

        Path(os.environ["BENCH_TASK_STREAM"]).write_bytes(pickle.dumps(stream.data))
    per_stage: dict[str, float] = defaultdict(float)
    for record in stream.data:
        for s in record["startstops"]:
            if s["action"] == "compute":
                per_stage[stage_of(record["key"])] += s["stop"] - s["start"]
    return wall, dict(per_stage), dict(memory.peak), Path(config.iloc[0]), ddf.npartitions


def folder_of_edges(folder: Path, workers: int) -> Path:
    return folder / f"edges-{workers}w"


def run_pandas(store, classes, stats, out: Path):
    import synframe as sf

    start = time.perf_counter()
    table = store.to_dask().compute(scheduler="synchronous")
    kept = sf.clean(table)
    sf.connectivity(kept)
    drawn = sf.parameterize(kept, stats, by="synapse_class", types=classes, seed=1)
    config = sf.write_circuit(drawn, out / "circuit-pandas", neurons=classes, overwrite=True)
    return time.perf_counter() - start, config


def dataset_hashes(config: Path) -> dict[str, str]:
    import h5py

    out = {}
    for f in ("nodes.h5", "edges.h5"):
        with h5py.File(config.parent / f) as h5:

            def visit(name, obj, f=f):
                if isinstance(obj, h5py.Dataset):
                    data = obj[()]
                    raw = (
                        "\n".join(map(str, data)).encode()
                        if data.dtype.kind == "O"
                        else data.tobytes()
                    )
                    out[f"{f}:{name}"] = hashlib.sha256(raw).hexdigest()

            h5.visititems(visit)
    return out


def main() -> None:
    import synframe as sf
    from bench_parameterize import model

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--synapses", type=lambda v: int(v.replace("_", "")), default=100_000_000)
    parser.add_argument("--workers", default="2,1", help="comma-separated worker counts to run")
    parser.add_argument("--memory-limit", default="4GiB")
    parser.add_argument("--partition-size", type=int, default=2_000_000)
    parser.add_argument("--workdir", type=Path, default=Path("benchmarks/data"))
    parser.add_argument("--check-pandas", action="store_true")
    args = parser.parse_args()
    print(f"synframe {sf.__version__}, {os.cpu_count()} cores, {args.synapses:,} synapses")
    store, classes, folder = prepare(args.synapses, args.workdir)
    stats = sf.pathways.from_dict(model())
    stats.attrs["by"] = "synapse_class"
    results = {}
    for workers in [int(w) for w in args.workers.split(",")]:
        wall, stages, peak, config, parts = run_dask(
            store, classes, stats, folder, workers, args.memory_limit, args.partition_size
        )
        results[workers] = wall
        print(f"\n{workers} worker(s), {parts} partitions: {wall:.1f} s end to end, "
              f"{args.synapses / wall / 1e6:.2f} M synapses/s")  # fmt: skip
        for stage, seconds in sorted(stages.items(), key=lambda kv: -kv[1]):
            if seconds >= 0.05:
                print(f"  {stage:<66} {seconds:8.1f} task-seconds")
        for proc, rss in sorted(peak.items()):
            print(f"  peak memory {proc:<56} {rss / 2**30:6.2f} GiB")
        circuit = config.parent
        size = sum(f.stat().st_size for f in circuit.iterdir())
        print(f"  network circuit: {size / 2**30:.1f} GiB on disk ({circuit})")
        if not args.check_pandas:  # room on the disk for the next run
            import shutil

            for written in (circuit, folder_of_edges(folder, workers)):
                shutil.rmtree(written, ignore_errors=True)
    if len(results) > 1:  # of each worker count over the fewest, whatever the order of the runs
        fewest = min(results)
        for w in sorted(results):
            if w != fewest:
                print(f"\nspeed-up {w} vs {fewest} worker(s): {results[fewest] / results[w]:.2f}x")
    if args.check_pandas:
        wall, ref = run_pandas(store, classes, stats, folder)
        print(f"\npandas in one process: {wall:.1f} s")
        a, b = dataset_hashes(ref), dataset_hashes(config)
        same = a == b
        print(f"network circuit from pandas == from dask (every dataset's hash, {len(a)}): {same}")
        if not same:
            print("  differing:", sorted(k for k in a if a[k] != b.get(k)))


if __name__ == "__main__":
    main()
