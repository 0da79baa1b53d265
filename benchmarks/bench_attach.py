"""Benchmark: sf.attach for 1,000 neurons vs. the per-neuron pandas approach fafbseg uses.

Usage (from the repository root)::

    python benchmarks/bench_attach.py --neurons 1000

Workload: 1,000 copies of the MICrONS example neuron (5,830-node skeleton; each copy shifted by a
random offset and given its own id) and their synapses (2,424 each: 2.4 million rows, partners
keep their real ids). Both approaches build one KD-tree per neuron; they differ in how the table is
split per neuron:

- baseline (fafbseg's ``get_synapses(..., attach=True)`` loop): for each neuron, boolean-mask the
  whole table for ``pre == id`` and ``post == id``, query the KD-tree, concat the pre/post frames;
- synframe: ``sf.attach(syn, neurons)`` -- one sort per side, each neuron a slice.

Prints JSON with both timings and the ratio; asserts both give the same node ids.
"""

from __future__ import annotations

import argparse
import json
import time

import navis
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

import synframe as sf


def workload(n: int, seed: int = 1):
    base = sf.datasets.example_synapses()
    neuron = sf.datasets.example_neuron()
    root = sf.datasets.EXAMPLE_ROOT_ID
    rng = np.random.default_rng(seed)
    offsets = rng.uniform(-2e6, 2e6, (n, 3))
    neurons, tables = [], []
    for k in range(n):
        nid = root + 1 + k
        nrn = neuron.copy()
        nrn.nodes[["x", "y", "z"]] = neuron.nodes[["x", "y", "z"]].to_numpy() + offsets[k]
        nrn.id = nid
        neurons.append(nrn)
        t = base.copy()
        t["id"] = t["id"] * 10_000 + k
        t.loc[t.pre == root, "pre"] = nid
        t.loc[t.post == root, "post"] = nid
        for c in ("pre_x", "pre_y", "pre_z", "post_x", "post_y", "post_z"):
            t[c] = t[c] + offsets[k]["xyz".index(c[-1])]
        tables.append(t)
    syn = pd.concat(tables, ignore_index=True)
    syn["cleft_score"] = rng.integers(0, 200, len(syn))
    return navis.NeuronList(neurons), syn


def baseline(syn: pd.DataFrame, neurons) -> dict:
    """fafbseg-style: per neuron, mask the full table for each side, KD-tree, build frames."""
    out = {}
    for n in neurons:
        pre = syn[syn.pre == n.id]
        post = syn[syn.post == n.id]
        cn = pd.concat(
            [
                pd.DataFrame({"x": pre.pre_x.values, "y": pre.pre_y.values, "z": pre.pre_z.values,
                              "cleft_score": pre.cleft_score.values, "partner_id": pre.post.values,
                              "type": "pre", "connector_id": pre.id.values}),
                pd.DataFrame({"x": post.post_x.values, "y": post.post_y.values, "z": post.post_z.values,
                              "cleft_score": post.cleft_score.values, "partner_id": post.pre.values,
                              "type": "post", "connector_id": post.id.values}),
            ],
            ignore_index=True,
        )  # fmt: skip
        tree = cKDTree(n.nodes[["x", "y", "z"]].values)
        _, ix = tree.query(cn[["x", "y", "z"]].values)
        cn["node_id"] = n.nodes.node_id.values[ix]
        n.connectors = cn
        out[n.id] = cn
    return out


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--neurons", type=int, default=1000)
    args = p.parse_args()
    neurons, syn = workload(args.neurons)
    t = time.perf_counter()
    ref = baseline(syn, neurons)
    t_base = time.perf_counter() - t
    t = time.perf_counter()
    nl = sf.attach(syn, neurons, inplace=True)  # in place, like fafbseg: same work as the baseline
    t_sf = time.perf_counter() - t
    t = time.perf_counter()
    sf.attach(syn, neurons)  # the default: copies the neurons first
    t_copy = time.perf_counter() - t
    for n in nl[:20]:
        a = n.connectors.sort_values(["connector_id", "type"])
        b = ref[n.id].sort_values(["connector_id", "type"])
        assert (a["node_id"].to_numpy() == b["node_id"].to_numpy()).all()
    print(
        json.dumps(
            {
                "neurons": len(neurons),
                "synapses": len(syn),
                "baseline_s": round(t_base, 2),
                "synframe_s": round(t_sf, 2),
                "synframe_with_copies_s": round(t_copy, 2),
                "ratio": round(t_base / t_sf, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
