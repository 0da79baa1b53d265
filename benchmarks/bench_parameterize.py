"""Benchmark: sf.parameterize vs connectome-manipulator's ConnPropsModel (the obi-one task's sampler).

Usage (from the repository root)::

    python benchmarks/bench_parameterize.py --workdir benchmarks/out \\
        --reference-python /path/to/venv-with-connectome-manipulator/bin/python

The reference environment needs ``pip install -r benchmarks/requirements-reference.txt``
(connectome-manipulator 1.0.4; it does not need synframe). Without ``--reference-python`` only
synframe is measured.

Workloads (seeded): 1,000,000 synapses in 50,000 connections between 25,000 neurons (20 synapses
per connection), and in 400,000 connections between 200,000 neurons (2.5 per connection, closer to
EM connectomes), of 3 synapse classes (3 x 3 pathways), 10 Tsodyks-Markram properties: gamma shared (conductance,
depression_time, facilitation_time), truncnorm shared (u_syn, decay_time), discrete int shared
(n_rrp_vesicles), constants (u_hill_coefficient, conductance_scale_factor, syn_type_id int), normal
per synapse with a lower bound (delay).

Measured, in one run:

- synframe: ``sf.parameterize(syn, stats, by="synapse_class", seed=1)`` (median of 5 and fastest
  of 5, after a warm-up); for scaling, 10 million synapses in memory and 100 million as 10 independent chunks
  of 10 million (keyed randomness makes chunked results identical to one pass);
- reference, per connection (what the obi-one task does: ``ConnPropsModel.apply(src_type,
  tgt_type, n_syn)`` per connection, a DataFrame of all properties, legacy global RNG) on the
  first ``--per-connection`` connections, extrapolated linearly to all connections;
- reference, per pathway: ``ConnPropsModel.draw_from_distribution`` once per (property, pathway),
  then broadcast to synapses, bounds and dtype -- the same samplers, used vectorized (median and
  fastest of 5).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

CLASSES = ["EXC", "INH", "EXT"]


def model() -> dict:
    """The 10-property Tsodyks-Markram model, 3 x 3 synapse_class pathways."""

    def cell(s: str, t: str) -> dict:
        inh = s == "INH"
        return {
            "conductance": {"type": "gamma", "mean": 1.5 if inh else 0.8, "std": 0.5},
            "depression_time": {"type": "gamma", "mean": 700.0 if inh else 650.0, "std": 200.0},
            "facilitation_time": {"type": "gamma", "mean": 20.0 if inh else 15.0, "std": 10.0},
            "u_syn": {"type": "truncnorm", "norm_loc": 0.25 if inh else 0.5, "norm_scale": 0.1,
                      "min": 0.0, "max": 1.0},
            "decay_time": {"type": "truncnorm", "norm_loc": 8.3 if inh else 1.7, "norm_scale": 2.2,
                           "min": 0.2, "max": 20.0},
            "n_rrp_vesicles": {"type": "discrete", "val": [1, 2, 3, 4], "p": [0.2, 0.3, 0.3, 0.2],
                               "dtype": "int"},
            "u_hill_coefficient": {"type": "constant", "mean": 2.79},
            "conductance_scale_factor": {"type": "constant", "mean": 0.7},
            "syn_type_id": {"type": "constant", "mean": 1 if inh else 100, "dtype": "int"},
            "delay": {"type": "normal", "mean": 1.0 + 0.1 * CLASSES.index(t), "std": 0.3,
                      "lower_bound": 0.1, "shared_within": False},
        }  # fmt: skip

    props = list(cell("EXC", "EXC"))
    return {
        "src_types": CLASSES,
        "tgt_types": CLASSES,
        "prop_stats": {p: {s: {t: cell(s, t)[p] for t in CLASSES} for s in CLASSES} for p in props},
    }


def workload(n_syn: int, n_conn: int, seed: int = 1) -> pd.DataFrame:
    """``n_syn`` synapses in ``n_conn`` connections, with pre/post synapse classes."""
    rng = np.random.default_rng(seed)
    n_neurons = n_conn // 2
    cls = rng.choice(CLASSES, n_neurons, p=[0.6, 0.2, 0.2])
    pairs = (
        rng.choice(n_neurons * n_neurons, size=n_conn * 2, replace=False)
        if n_neurons < 3_000_000
        else None
    )
    pairs = np.unique(pairs)[:n_conn]
    pre, post = pairs // n_neurons, pairs % n_neurons
    sizes = rng.multinomial(n_syn - n_conn, np.full(n_conn, 1 / n_conn)) + 1  # >= 1 synapse each
    conn = np.repeat(np.arange(n_conn), sizes)
    base = 864691135000000000
    df = pd.DataFrame(
        {
            "id": np.arange(n_syn, dtype=np.int64) + 1,
            "pre": (base + pre[conn]).astype(np.int64),
            "post": (base + post[conn]).astype(np.int64),
        }
    )
    xyz = rng.uniform(0, 1e6, (n_syn, 3)).astype(np.float32)
    for i, a in enumerate("xyz"):
        df[f"pre_{a}"] = xyz[:, i]
        df[f"post_{a}"] = xyz[:, i]
    df["pre_synapse_class"] = pd.Categorical(cls[pre[conn]], categories=CLASSES)
    df["post_synapse_class"] = pd.Categorical(cls[post[conn]], categories=CLASSES)
    return df


def time_synframe(syn: pd.DataFrame, stats, repeats: int = 5, *, runs: bool = False):
    """Median of ``repeats`` runs after a warm-up (``runs``: the list of their times)."""
    import synframe as sf

    sf.parameterize(
        syn.iloc[:1000], stats, by="synapse_class", seed=1
    )  # warm-up (imports, pandera)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        sf.parameterize(syn, stats, by="synapse_class", seed=1)
        times.append(time.perf_counter() - t)
    return times if runs else statistics.median(times)


REFERENCE = r"""
import json, sys, time
import numpy as np, pandas as pd
from connectome_manipulator.model_building.model_types import ConnPropsModel
wd, n_first = sys.argv[1], int(sys.argv[2])
reps = int(sys.argv[3]) if len(sys.argv) > 3 else 1  # per-pathway repetitions (median, min)
spec = json.load(open(f"{wd}/model.json"))
model = ConnPropsModel(**spec)
syn = pd.read_parquet(f"{wd}/workload.parquet", columns=["pre", "post", "pre_synapse_class", "post_synapse_class"])
conns = syn.groupby(["pre", "post"], sort=False, observed=True)
props = list(spec["prop_stats"])
np.random.seed(1)
# (1) per connection, as the obi-one task: the model applied connection by connection (a
# DataFrame of all properties per connection, drawn with the legacy global RNG)
t = time.perf_counter()
done = 0
for (_, _), grp in (conns if n_first > 0 else ()):  # 0: per pathway only
    s, tt, n = grp["pre_synapse_class"].iat[0], grp["post_synapse_class"].iat[0], len(grp)
    model.apply(src_type=s, tgt_type=tt, n_syn=n)
    done += 1
    if done >= n_first:
        break
per_conn = time.perf_counter() - t
# (2) per pathway: draw_from_distribution once per (property, pathway), broadcast, bounds, dtype
def per_pathway_once():
    t = time.perf_counter()
    codes = conns.ngroup().to_numpy()
    first = conns.head(1)
    src_c, tgt_c = syn["pre_synapse_class"].to_numpy(), syn["post_synapse_class"].to_numpy()
    csrc, ctgt = first["pre_synapse_class"].to_numpy(), first["post_synapse_class"].to_numpy()
    out = {}
    for p in props:
        vals = np.empty(len(syn))
        for s in spec["src_types"]:
            for tt in spec["tgt_types"]:
                d = spec["prop_stats"][p][s][tt]
                if d.get("shared_within", True):
                    sel_c = (csrc == s) & (ctgt == tt)
                    v = np.empty(len(csrc)); v[sel_c] = ConnPropsModel.draw_from_distribution(d, int(sel_c.sum()))
                    sel = (src_c == s) & (tgt_c == tt)
                    vals[sel] = v[codes[sel]]
                else:
                    sel = (src_c == s) & (tgt_c == tt)
                    vals[sel] = ConnPropsModel.draw_from_distribution(d, int(sel.sum()))
                if "lower_bound" in d: vals[sel] = np.maximum(vals[sel], d["lower_bound"])
                if "upper_bound" in d: vals[sel] = np.minimum(vals[sel], d["upper_bound"])
        out[p] = vals
    return time.perf_counter() - t, int(codes.max()) + 1
runs = [per_pathway_once() for _ in range(reps)]
times = sorted(r[0] for r in runs)
print(json.dumps({"per_connection_s": per_conn, "per_connection_conns": done,
                  "per_pathway_s": times[len(times) // 2], "per_pathway_min_s": times[0],
                  "per_pathway_runs_s": [r[0] for r in runs], "connections": runs[0][1]}))
"""


def _reference(args, wd: Path) -> dict:
    out = subprocess.run(
        [args.reference_python, "-c", REFERENCE, str(wd), str(args.per_connection), "5"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    ref = json.loads(out.stdout.strip().splitlines()[-1])
    ref["per_connection_all_s_extrapolated"] = (
        ref["per_connection_s"] * ref["connections"] / ref["per_connection_conns"]
    )
    return ref


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--workdir", default="benchmarks/out")
    p.add_argument("--synapses", type=int, default=1_000_000)
    p.add_argument(
        "--connections",
        type=lambda s: [int(c) for c in s.replace("_", "").split(",")],
        default=[50_000, 400_000],
        help="workloads: connections among --synapses, comma-separated (default 50000,400000: "
        "20 and 2.5 synapses per connection)",
    )
    p.add_argument(
        "--reference-python", help="python of an environment with connectome-manipulator"
    )
    p.add_argument(
        "--per-connection",
        type=int,
        default=5_000,
        help="connections timed for the per-connection reference",
    )
    p.add_argument(
        "--scale", type=int, default=10, help="in-memory scaling check: this many times the size"
    )
    p.add_argument(
        "--chunks",
        type=int,
        default=10,
        help="chunked check: this many chunks of --scale x the size",
    )
    args = p.parse_args()
    import synframe as sf

    spec = model()
    stats = sf.pathways.from_dict(spec)
    results = []
    for n_conn in args.connections:
        wd = Path(args.workdir) / f"conn_{n_conn}"
        wd.mkdir(parents=True, exist_ok=True)
        (wd / "model.json").write_text(json.dumps(spec))
        syn = workload(args.synapses, n_conn)
        syn.to_parquet(wd / "workload.parquet")
        res = {"synapses": len(syn), "connections": n_conn, "properties": len(spec["prop_stats"])}
        # median and fastest of 5: other work on the machine slows single runs
        times = time_synframe(syn, stats, runs=True)
        res["synframe_s"], res["synframe_min_s"] = statistics.median(times), min(times)
        if args.reference_python:
            ref = res["reference"] = _reference(args, wd)
            res["speedup_vs_per_pathway"] = ref["per_pathway_s"] / res["synframe_s"]
            res["speedup_vs_per_pathway_fastest"] = ref["per_pathway_min_s"] / res["synframe_min_s"]
            res["speedup_vs_per_connection"] = (
                ref["per_connection_all_s_extrapolated"] / res["synframe_s"]
            )
        results.append(res)
        print(json.dumps(res), flush=True)
    k = args.scale
    if k > 1:  # scaling, on the first workload's shape
        n_conn = args.connections[0]
        res = {}
        big = workload(args.synapses * k, n_conn * k, seed=k)
        res[f"synframe_{k}x_s"] = time_synframe(big, stats, repeats=1)
        del big
        if args.chunks:
            total = 0.0
            for c in range(args.chunks):
                chunk = workload(args.synapses * k, n_conn * k, seed=1000 + c)
                total += time_synframe(chunk, stats, repeats=1)
                del chunk
            res[f"synframe_{k * args.chunks}x_chunked_s"] = total
        results.append(res)
        print(json.dumps(res), flush=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    sys.exit(main())
