"""Build synframe's embedded example data from the public MICrONS files.

Run once by a developer (never at run time or in tests)::

    python scripts/build_example_data.py PATH/TO/microns_v795

``PATH/TO/microns_v795`` holds the files described in ``src/synframe/datasets/README.md``
(CAVEconnectome/pcg_skel ``tests/data`` and lelabbady/Perisomatic_Based_CellTyping ``data/``).
It writes into ``src/synframe/datasets/``:

- ``microns_v795_synapses.parquet`` -- the neuron's 259 output and 2,165 input synapses in the
  CAVE synapse-table layout (split positions, **4 x 4 x 40 nm voxels**, exactly as served);
- ``microns_v795_skeleton.parquet`` -- its level-2 graph made into a tree (minimum spanning tree on
  edge length, rooted in the soma), node coordinates in **nm**;
- ``microns_v795_cell_types.parquet`` -- the column cell-type table.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
import scipy.sparse.csgraph as csg
from scipy.spatial import cKDTree

OUT = Path(__file__).resolve().parents[1] / "src" / "synframe" / "datasets"
ROOT_ID = 864691136040432126


def synapses(src: Path) -> pd.DataFrame:
    pre = pd.read_feather(src / "pre_syn.feather")
    post = pd.read_feather(src / "post_syn.feather")
    frames = []
    for df in (pre, post):
        out = df[["id", "size", "pre_pt_root_id", "post_pt_root_id"]].copy()
        for col in ("pre_pt_position", "post_pt_position", "ctr_pt_position"):
            xyz = np.stack(df[col].to_numpy()).astype("int64")
            for i, ax in enumerate("xyz"):
                out[f"{col}_{ax}"] = xyz[:, i]
        frames.append(out)
    out = pd.concat(frames, ignore_index=True)
    # The level-2 ids of these synapse tables come from another chunkedgraph timestamp than the
    # level-2 graph (only ~3 % of them are graph nodes), so they are not carried over.
    return out.sort_values("id", ignore_index=True)


def skeleton(src: Path) -> pd.DataFrame:
    edges = np.load(src / "lvl2_eg.npy")
    with open(src / "l2_info.pkl", "rb") as fh:
        info = pickle.load(fh)
    l2 = np.array(sorted(int(k) for k in info), dtype="int64")
    xyz = np.array([info[str(k)]["rep_coord_nm"] for k in l2], dtype="float64")
    idx = {k: i for i, k in enumerate(l2)}
    a = np.array([idx[int(u)] for u in edges[:, 0]])
    b = np.array([idx[int(v)] for v in edges[:, 1]])
    w = np.linalg.norm(xyz[a] - xyz[b], axis=1) + 1e-3  # zero-length edges must stay edges
    n = len(l2)
    g = sp.coo_matrix((w, (a, b)), shape=(n, n)).tocsr()
    g = g + g.T
    ncomp, _labels = csg.connected_components(g, directed=False)
    if ncomp != 1:
        raise SystemExit(f"level-2 graph has {ncomp} components; expected 1")
    mst = csg.minimum_spanning_tree(g)
    mst = mst + mst.T
    # soma: the level-2 chunk with the most other chunks within 7.5 um (the soma is the densest
    # place of a level-2 graph: a big compartment cut into many chunks)
    tree = cKDTree(xyz)
    density = np.array([len(x) for x in tree.query_ball_point(xyz, r=7_500)])
    root = int(np.argmax(density))
    _order, pred = csg.breadth_first_order(mst, root, directed=False, return_predecessors=True)
    parent = np.where(pred < 0, -1, pred)
    nodes = pd.DataFrame(
        {
            "node_id": np.arange(n, dtype="int64"),
            "parent_id": parent.astype("int64"),
            "x": xyz[:, 0],
            "y": xyz[:, 1],
            "z": xyz[:, 2],
            "radius": np.zeros(n),
            "level2_id": l2,
        }
    )
    nodes.loc[root, "parent_id"] = -1
    return nodes


def main(src: str) -> None:
    path = Path(src)
    syn = synapses(path)
    syn.to_parquet(OUT / "microns_v795_synapses.parquet", index=False)
    nodes = skeleton(path)
    nodes.to_parquet(OUT / "microns_v795_skeleton.parquet", index=False)
    ct = pd.read_feather(path / "column_radial_truncation_v795.feather")
    ct.to_parquet(OUT / "microns_v795_cell_types.parquet", index=False)
    print(f"{len(syn)} synapses, {len(nodes)} skeleton nodes, {len(ct)} typed cells -> {OUT}")


if __name__ == "__main__":
    main(sys.argv[1])
