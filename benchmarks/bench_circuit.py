"""Benchmark: sf.parameterize_circuit on a large synthetic SONATA population, chunked.

Usage (from the repository root)::

    python benchmarks/bench_circuit.py --edges 20_000_000 --workdir benchmarks/out/circuit

Builds a circuit (50,000 nodes with synapse_class EXC/INH, one edge population of ``--edges`` edges
with existing float32 ``conductance`` and int16 ``syn_type_id``), then redraws the seed notebook's
two properties into a new circuit with ``chunk_size`` 1,000,000 in a fresh process, reporting wall
time and that process's peak memory (``ru_maxrss``) next to the edge file's size.
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

POP, NODES = "cells__cells__chemical", "cells"


def build(wd: Path, n_edges: int, n_nodes: int = 50_000, seed: int = 1) -> Path:
    import h5py
    import libsonata

    rng = np.random.default_rng(seed)
    wd.mkdir(parents=True, exist_ok=True)
    with h5py.File(wd / "nodes.h5", "w") as h5:
        g = h5.create_group(f"nodes/{NODES}")
        g.create_dataset("node_type_id", data=np.full(n_nodes, -1, dtype=np.int64))
        cls = np.where(rng.random(n_nodes) < 0.8, "EXC", "INH").astype(object)
        g.create_dataset("0/synapse_class", data=cls, dtype=h5py.string_dtype())
    # edges sorted by target, 20 synapses per connection on average
    n_conn = n_edges // 20
    src = rng.integers(0, n_nodes, n_conn)
    tgt = np.sort(rng.integers(0, n_nodes, n_conn))
    sizes = rng.multinomial(n_edges - n_conn, np.full(n_conn, 1 / n_conn)) + 1
    with h5py.File(wd / "edges.h5", "w") as h5:
        g = h5.create_group(f"edges/{POP}")
        g.create_dataset("source_node_id", data=np.repeat(src, sizes).astype(np.uint64)).attrs[
            "node_population"
        ] = NODES
        g.create_dataset("target_node_id", data=np.repeat(tgt, sizes).astype(np.uint64)).attrs[
            "node_population"
        ] = NODES
        g.create_dataset("edge_type_id", data=np.full(n_edges, -1, dtype=np.int64))
        g.create_dataset("edge_group_id", data=np.zeros(n_edges, dtype=np.int64))
        g.create_dataset("edge_group_index", data=np.arange(n_edges, dtype=np.uint64))
        g.create_dataset("0/conductance", data=np.ones(n_edges, dtype=np.float32))
        g.create_dataset("0/syn_type_id", data=np.full(n_edges, 100, dtype=np.int16))
    libsonata.EdgePopulation.write_indices(str(wd / "edges.h5"), POP, n_nodes, n_nodes)
    config = {
        "manifest": {"$BASE_DIR": "./"},
        "networks": {
            "nodes": [
                {"nodes_file": "$BASE_DIR/nodes.h5", "populations": {NODES: {"type": "virtual"}}}
            ],
            "edges": [
                {"edges_file": "$BASE_DIR/edges.h5", "populations": {POP: {"type": "chemical"}}}
            ],
        },
    }
    (wd / "circuit_config.json").write_text(json.dumps(config))
    return wd / "circuit_config.json"


def run(config: str, out: str, chunk: int) -> dict:
    import synframe as sf

    exc = {"conductance": {"type": "gamma", "mean": 1.0, "std": 0.5},
           "syn_type_id": {"type": "constant", "mean": 100, "dtype": "int"}}  # fmt: skip
    inh = {"conductance": {"type": "gamma", "mean": 2.0, "std": 0.5},
           "syn_type_id": {"type": "constant", "mean": 1, "dtype": "int"}}  # fmt: skip
    by = {"EXC": exc, "INH": inh}
    stats = sf.pathway_stats({p: {s: {t: by[s][p] for t in by} for s in by} for p in exc})
    t = time.perf_counter()
    sf.parameterize_circuit(config, stats, by="synapse_class", seed=1,
                            overwrite=True, output=out, chunk_size=chunk)  # fmt: skip
    return {
        "seconds": time.perf_counter() - t,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--edges", type=lambda s: int(s.replace("_", "")), default=20_000_000)
    p.add_argument("--workdir", default="benchmarks/out/circuit")
    p.add_argument("--chunk-size", type=int, default=1_000_000)
    p.add_argument("--run", nargs=2, metavar=("CONFIG", "OUT"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.run:
        print(json.dumps(run(*args.run, args.chunk_size)))
        return
    wd = Path(args.workdir)
    t = time.perf_counter()
    config = build(wd / "in", args.edges)
    built = time.perf_counter() - t
    out = wd / f"out-{int(time.time())}"
    res = subprocess.run([sys.executable, __file__, "--run", str(config), str(out), "--chunk-size", str(args.chunk_size)],
                         capture_output=True, text=True, check=True)  # fmt: skip
    result = json.loads(res.stdout.strip().splitlines()[-1])
    result.update(edges=args.edges, chunk_size=args.chunk_size, build_s=built,
                  edge_file_mb=(wd / "in" / "edges.h5").stat().st_size / 2**20)  # fmt: skip
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
