"""Benchmark: a whole EM-sized table through fetch -> clean -> connectivity -> parameterize (+ fit),
each stage against the reference operation of the same hardware, measured in the same run.

Usage (from the repository root, in the project's environment)::

    python benchmarks/bench_pipeline.py --synapses 20_000_000 --workdir benchmarks/data \\
        [--reference-python /path/to/venv-with-connectome-manipulator/bin/python]

The workload: ``synframe.synthetic.SyntheticDump(n_synapses, seed=3)`` written to one parquet file
(FlyWire's CAVE layout, 900 synapses per neuron, log-normal per-neuron degrees: ~1.3 synapses per
connection at 20 M rows, as in EM connectomes). Steps, each in its own process (so that its peak
memory, ``ru_maxrss``, is its own) and one after the other:

1. ``generate``: the dump (skipped if it exists);
2. ``read``: ``pd.read_parquet(dump)`` (the reference of fetch), ``sf.fetch(source=store)`` (the
   whole table) and ``sf.fetch(all_ids, source=store)`` (every neuron id, the normal path), each
   cold in a fresh process, alternated twice (fastest of two each);
3. ``pipeline``: warm-up on a small table (imports), then, as a user writes it::

       syn = sf.fetch(source=store)                 # the whole table
       syn = sf.clean(syn)                          # no neurons
       edges = sf.connectivity(syn)
       syn = sf.parameterize(syn, stats, by="synapse_class", types=classes, seed=1)

   with the peak memory of each stage (Linux: ``/proc/self/clear_refs`` between stages) and
   their maximum, the pipeline's peak (compared with the final table's size); then on the same
   frames: DuckDB's ``GROUP BY pre, post`` (to pandas via
   ``.df()``, via Arrow, and via Arrow on one thread), alternated with ``connectivity`` twice
   more (fastest of each), ``fit_pathway_stats`` of the moment-
   fitted properties against a plain pandas group-by computing the same statistics, and the fit
   of the two truncated-normal properties (a maximum-likelihood optimisation: no group-by
   equivalent, reported alone);
4. ``reference``: connectome-manipulator 1.0.4's samplers used per pathway (as in
   ``bench_parameterize.py``) on the same synapses (with ``--reference-python``).

Prints one JSON line per step and a markdown table at the end.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import bench_parameterize as bp  # the 10-property model and the CM reference

SEED = 3
#: moment-fitted properties of the model and the type fitted to each
MOMENT_FITS = {
    "conductance": "gamma", "depression_time": "gamma", "facilitation_time": "gamma",
    "n_rrp_vesicles": "discrete", "u_hill_coefficient": "constant",
    "conductance_scale_factor": "constant", "syn_type_id": "constant", "delay": "normal",
}  # fmt: skip
MLE_FITS = {"u_syn": "truncnorm", "decay_time": "truncnorm"}


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _reset_peak() -> bool:
    """Start a new peak (Linux: ``/proc/self/clear_refs``); False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _stage(res: dict, name: str, f):
    """Run one stage: its time and, where it can be reset, its own peak memory."""
    fresh = _reset_peak()
    out, res[f"{name}_s"] = _timed(f)
    if fresh:
        res[f"{name}_peak_gb"] = _peak_gb()
    return out


def _dump_path(args) -> Path:
    return Path(args.workdir) / f"dump_{args.synapses}.parquet"


def _timed(f):
    t = time.perf_counter()
    out = f()
    return out, time.perf_counter() - t


def _classes(ids: np.ndarray):
    """A synapse_class per neuron (seeded): 60 % EXC, 20 % INH, 20 % EXT."""
    import pandas as pd

    cls = np.random.default_rng(SEED).choice(bp.CLASSES, len(ids), p=[0.6, 0.2, 0.2])
    return pd.DataFrame({"root_id": ids, "synapse_class": cls})


def step_generate(args) -> dict:
    from synframe.synthetic import SyntheticDump

    path = _dump_path(args)
    if path.exists():
        return {"step": "generate", "skipped": True, "bytes": path.stat().st_size}
    _, secs = _timed(lambda: SyntheticDump(args.synapses, seed=SEED).write_parquet(path))
    return {"step": "generate", "seconds": secs, "bytes": path.stat().st_size}


def _read_once(args) -> dict:
    """One cold read in this (fresh) process: ``--read`` says which."""
    import pandas as pd

    import synframe as sf

    path = _dump_path(args)
    store = sf.sources.LocalStore(path, resolution=(4, 4, 40))
    sf.fetch(source=sf.datasets.example_store())  # imports
    out = {"step": "read", "what": args.read}
    if args.read == "read_parquet":
        frame, out["seconds"] = _timed(lambda: pd.read_parquet(path))
        out["frame_gb"] = frame.memory_usage(deep=True).sum() / 2**30
    elif args.read == "fetch_whole":
        frame, out["seconds"] = _timed(lambda: sf.fetch(source=store))
    else:  # every neuron id through the normal path
        ids = np.unique(store.read(["pre", "post"]).to_numpy())
        frame, out["seconds"] = _timed(lambda: sf.fetch(ids, source=store, progress=False))
        out["neurons"] = len(ids)
    out["rows"] = len(frame)
    out["peak_gb"] = _peak_gb()
    return out


READS = ("read_parquet", "fetch_whole", "fetch_ids")


def step_read(args) -> dict:
    """Cold reads, each in a fresh process, alternated twice: the fastest of two of each.

    (In one process a second ``pd.read_parquet`` reuses the memory Arrow's allocator kept from the
    first and skips the page faults of fresh memory, which synframe gives back to the OS.)
    """
    runs: dict[str, list[dict]] = {r: [] for r in READS}
    for _ in range(2):
        for what in READS:
            cmd = [sys.executable, __file__, "--step", "read_once", "--read", what,
                   "--synapses", str(args.synapses), "--workdir", args.workdir]  # fmt: skip
            res = subprocess.run(cmd, capture_output=True, text=True, check=True)
            runs[what].append(json.loads(res.stdout.strip().splitlines()[-1]))
    out = {"step": "read"}
    for what, rs in runs.items():
        out[f"{what}_s"] = min(r["seconds"] for r in rs)
        out[f"{what}_runs_s"] = [r["seconds"] for r in rs]
        out[f"{what}_peak_gb"] = max(r["peak_gb"] for r in rs)
    out["read_parquet_frame_gb"] = runs["read_parquet"][0]["frame_gb"]
    out["neurons"] = runs["fetch_ids"][0]["neurons"]
    return out


def _pandas_fit_reference(syn, classes) -> float:
    """The statistics of ``fit_pathway_stats`` for MOMENT_FITS with a plain pandas group-by.

    Per connection: first, min, max and count of every property (one group-by on pre, post); per
    pathway: shared = no multi-synapse connection varies; mean / std of the per-connection first
    values (shared) or of the synapses' values, value frequencies for discrete ones.
    """
    import pandas as pd

    t = time.perf_counter()
    props = list(MOMENT_FITS)
    cls = classes.set_index("root_id")["synapse_class"]
    df = syn[["pre", "post", *props]]
    per_conn = df.groupby(["pre", "post"], sort=False).agg(
        **{f"{p}_{f}": (p, f) for p in props for f in ("first", "min", "max")},
        n=(props[0], "size"),
    )
    idx = per_conn.index
    per_conn["src"] = cls.reindex(idx.get_level_values(0)).to_numpy()
    per_conn["tgt"] = cls.reindex(idx.get_level_values(1)).to_numpy()
    syn_path = pd.DataFrame(
        {
            "src": cls.reindex(df["pre"]).to_numpy(),
            "tgt": cls.reindex(df["post"]).to_numpy(),
        }
    )
    out = {}
    for p in props:
        multi = per_conn[per_conn["n"] > 1]
        varies = (
            ((multi[f"{p}_max"] - multi[f"{p}_min"]).abs() > 1e-9 * multi[f"{p}_max"].abs())
            .groupby([multi["src"], multi["tgt"]])
            .any()
        )
        shared = not varies.any()
        if shared:
            grouped = per_conn.groupby(["src", "tgt"])[f"{p}_first"]
        else:
            grouped = syn[p].groupby([syn_path["src"], syn_path["tgt"]])
        if MOMENT_FITS[p] == "discrete":
            out[p] = grouped.value_counts(normalize=True)
        else:
            out[p] = grouped.agg(["mean", "std", "size"])
    return time.perf_counter() - t


def step_pipeline(args) -> dict:
    import duckdb
    import pandas as pd

    import synframe as sf

    path = _dump_path(args)
    store = sf.sources.LocalStore(path, resolution=(4, 4, 40))
    stats = sf.pathways.from_dict(bp.model())
    res: dict = {"step": "pipeline"}
    # warm-up on the example store: imports (navis via units, pandera, scipy, DuckDB)
    t = time.perf_counter()
    small = sf.clean(sf.fetch(source=sf.datasets.example_store()))
    sf.connectivity(small)
    ids = np.unique(np.r_[small["pre"].to_numpy(), small["post"].to_numpy()])
    sf.parameterize(small, stats, by="synapse_class", types=_classes(ids), seed=1)
    res["warm_up_s"] = time.perf_counter() - t
    res["peak_before_gb"] = _peak_gb()

    syn = _stage(res, "fetch", lambda: sf.fetch(source=store))
    res["rows"] = len(syn)
    ids = np.unique(np.r_[syn["pre"].to_numpy(), syn["post"].to_numpy()])
    classes = _classes(ids)
    syn = _stage(res, "clean", lambda: sf.clean(syn))
    edges = _stage(res, "connectivity", lambda: sf.connectivity(syn))
    res["connections"] = len(edges)
    del edges
    syn = _stage(
        res,
        "parameterize",
        lambda: sf.parameterize(syn, stats, by="synapse_class", types=classes, seed=1),
    )
    stages = ("fetch", "clean", "connectivity", "parameterize")
    per_stage = [res.get(f"{st}_peak_gb") for st in stages]
    res["peak_pipeline_gb"] = max(per_stage) if None not in per_stage else _peak_gb()
    res["final_table_gb"] = syn.memory_usage(deep=True).sum() / 2**30
    res["peak_over_final"] = res["peak_pipeline_gb"] / res["final_table_gb"]

    # references on the same frame (after the pipeline's peak was taken), alternated with
    # synframe's stage twice more: the fastest of the three is the figure (other work on the
    # machine slows single runs)
    con = duckdb.connect()
    con.register("pairs", syn[["pre", "post"]])
    q = "SELECT pre, post, count(*) AS weight FROM pairs GROUP BY pre, post"
    runs: dict[str, list[float]] = {"df": [], "arrow": [], "arrow_1_thread": [], "mine": []}
    for _ in range(2):
        runs["mine"].append(_timed(lambda: sf.connectivity(syn))[1])
        runs["df"].append(_timed(lambda: con.sql(q).df())[1])
        runs["arrow"].append(_timed(lambda: con.sql(q).to_arrow_table().to_pandas())[1])
        con.execute("SET threads = 1")
        runs["arrow_1_thread"].append(_timed(lambda: con.sql(q).to_arrow_table().to_pandas())[1])
        con.execute("RESET threads")
    con.close()
    res["connectivity_fastest_s"] = min(res["connectivity_s"], *runs["mine"])
    res["duckdb_groupby_df_s"] = min(runs["df"])
    res["duckdb_groupby_arrow_s"] = min(runs["arrow"])
    res["duckdb_groupby_arrow_1_thread_s"] = min(runs["arrow_1_thread"])
    _, res["fit_s"] = _timed(
        lambda: sf.fit_pathway_stats(
            syn, by="synapse_class", types=classes, properties=list(MOMENT_FITS),
            distributions=MOMENT_FITS,
        )
    )  # fmt: skip
    res["fit_pandas_reference_s"] = _pandas_fit_reference(syn, classes)
    _, res["fit_truncnorm_mle_s"] = _timed(
        lambda: sf.fit_pathway_stats(
            syn, by="synapse_class", types=classes, properties=list(MLE_FITS),
            distributions=MLE_FITS,
        )
    )  # fmt: skip
    if args.reference_python:  # the synapses the reference samples: pre, post and their classes
        cls = classes.set_index("root_id")["synapse_class"]
        work = pd.DataFrame(
            {
                "pre": syn["pre"].to_numpy(),
                "post": syn["post"].to_numpy(),
                "pre_synapse_class": cls.reindex(syn["pre"]).to_numpy(),
                "post_synapse_class": cls.reindex(syn["post"]).to_numpy(),
            }
        )
        wd = Path(args.workdir) / "cm"
        wd.mkdir(exist_ok=True)
        work.to_parquet(wd / "workload.parquet")
        (wd / "model.json").write_text(json.dumps(bp.model()))
    return res


def step_reference(args) -> dict:
    wd = Path(args.workdir) / "cm"
    out = subprocess.run(
        [args.reference_python, "-c", bp.REFERENCE, str(wd), "0"],  # per pathway only
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    ref = json.loads(out.stdout.strip().splitlines()[-1])
    return {"step": "reference", "cm_per_pathway_s": ref["per_pathway_s"]}


STEPS = {"generate": step_generate, "read": step_read, "pipeline": step_pipeline,
         "reference": step_reference}  # fmt: skip
HELPERS = {"read_once": _read_once}


def table(r: dict) -> str:
    """The markdown summary: stage, synframe, reference, ratio, peak memory."""
    rd, pl = r["read"], r["pipeline"]
    read = rd["read_parquet_s"]
    rows = [
        ("fetch, whole table: `sf.fetch(source=store)`", rd["fetch_whole_s"],
         "`pd.read_parquet(dump)`", read),
        ("fetch, every neuron id: `sf.fetch(ids, source=store)`", rd["fetch_ids_s"],
         "`pd.read_parquet(dump)`", read),
        ("`clean()` (no neurons)", pl["clean_s"], "`pd.read_parquet(dump)`", read),
        ("`connectivity()`", pl["connectivity_fastest_s"],
         "DuckDB `GROUP BY pre, post`, `.df()`", pl["duckdb_groupby_df_s"]),
        ("`connectivity()`", pl["connectivity_fastest_s"],
         "DuckDB `GROUP BY pre, post`, to Arrow, to pandas", pl["duckdb_groupby_arrow_s"]),
        ("`connectivity()`", pl["connectivity_fastest_s"],
         "the same, DuckDB on one thread (synframe uses one)",
         pl["duckdb_groupby_arrow_1_thread_s"]),
        ("`fit_pathway_stats()`, 8 moment-fitted properties", pl["fit_s"],
         "pandas group-by of the same statistics", pl["fit_pandas_reference_s"]),
        ("`fit_pathway_stats()`, 2 truncnorm (MLE)", pl["fit_truncnorm_mle_s"], "--", None),
    ]  # fmt: skip
    if "reference" in r:
        rows.append(
            ("`parameterize()`, 10 properties", pl["parameterize_s"],
             "connectome-manipulator samplers per pathway", r["reference"]["cm_per_pathway_s"])
        )  # fmt: skip
    else:
        rows.append(("`parameterize()`, 10 properties", pl["parameterize_s"], "--", None))
    lines = [
        f"{pl['rows']:,} synapses, {pl['connections']:,} connections",
        "",
        "| stage | synframe | reference operation, same run | reference | ratio |",
        "|---|---|---|---|---|",
    ]
    for name, mine, ref_name, ref in rows:
        ratio = f"{mine / ref:.2f}x" if ref else "--"
        ref_s = f"{ref:.2f} s" if ref else "--"
        lines.append(f"| {name} | {mine:.2f} s | {ref_name} | {ref_s} | {ratio} |")
    lines.append(
        f"| peak memory, fetch -> parameterize | {pl['peak_pipeline_gb']:.2f} GB | the final "
        f"table | {pl['final_table_gb']:.2f} GB | {pl['peak_over_final']:.2f}x |"
    )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--synapses", type=lambda s: int(s.replace("_", "")), default=20_000_000)
    p.add_argument("--workdir", default="benchmarks/data")
    p.add_argument(
        "--reference-python", help="python of an environment with connectome-manipulator"
    )
    p.add_argument("--step", choices=sorted([*STEPS, *HELPERS]), help="run one step here")
    p.add_argument("--read", choices=READS, help="for --step read_once")
    p.add_argument("--skip", nargs="*", default=[], help="steps to skip")
    args = p.parse_args()
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    if args.step:
        print(json.dumps({**STEPS, **HELPERS}[args.step](args)), flush=True)
        return
    results = {}
    for step in STEPS:
        if step in args.skip or (step == "reference" and not args.reference_python):
            continue
        cmd = [sys.executable, __file__, "--step", step, "--synapses", str(args.synapses),
               "--workdir", args.workdir]  # fmt: skip
        if args.reference_python:
            cmd += ["--reference-python", args.reference_python]
        res = subprocess.run(cmd, capture_output=True, text=True, check=True)
        results[step] = json.loads(res.stdout.strip().splitlines()[-1])
        print(json.dumps(results[step]), flush=True)
    if "read" in results and "pipeline" in results:
        print(table(results))


if __name__ == "__main__":
    sys.exit(main())
