"""Seeded synthetic synapse dumps with EM-like statistics, for benchmarks and scale tests.

Needs only numpy, pandas and (to write parquet) pyarrow.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["NEUROPILS", "SyntheticDump"]

#: a few real FlyWire neuropil names, for synthetic dumps
NEUROPILS = (
    "AL_L", "AL_R", "LH_L", "LH_R", "MB_CA_L", "MB_CA_R", "SLP_L", "SLP_R", "SMP_L", "SMP_R",
    "ME_L", "ME_R", "LO_L", "LO_R", "LOP_L", "LOP_R", "AVLP_L", "AVLP_R", "GNG", "PRW",
)  # fmt: skip


class SyntheticDump:
    """A seeded synapse dump in FlyWire's CAVE layout, with realistic per-neuron degree skew.

    Each neuron gets a log-normal out- and in-weight (a few hubs with thousands of synapses, most
    neurons with tens), a home position and a dominant transmitter; synapses draw their pre and
    post neurons in proportion to those weights. Chunks are generated independently (seeded by
    ``(seed, chunk)``) from the same neurons, so a 100-million-row dump streams in bounded memory.

    Columns: ``id, pre_pt_root_id, post_pt_root_id, pre_pt_position_{x,y,z},
    post_pt_position_{x,y,z}`` (int32, 4 × 4 × 40 nm voxels), ``connection_score, cleft_score``,
    ``gaba, ach, glut, oct, ser, da`` (float32, sum to 1), ``neuropil`` (dictionary strings).

    Examples
    --------
    >>> from synframe.synthetic import SyntheticDump
    >>> dump = SyntheticDump(n_synapses=10_000, n_neurons=500, seed=1)
    >>> df = dump.frame()
    >>> df.shape, df["pre_pt_root_id"].dtype
    ((10000, 18), dtype('int64'))
    """

    resolution = (4.0, 4.0, 40.0)

    def __init__(
        self,
        n_synapses: int,
        *,
        n_neurons: int | None = None,
        seed: int = 0,
        sigma: float = 1.3,
        background: float = 0.0,
    ) -> None:
        self.n_synapses = int(n_synapses)
        self.n_neurons = int(n_neurons or max(10, self.n_synapses // 900))
        self.seed = seed
        self.background = background
        rng = np.random.default_rng([seed, 0])
        offsets = np.sort(rng.choice(2**40, size=self.n_neurons, replace=False))
        self.neuron_ids = (720575940000000000 + offsets).astype("int64")
        w_out = rng.lognormal(0.0, sigma, self.n_neurons)
        w_in = rng.lognormal(0.0, sigma, self.n_neurons)
        self._cdf_out = np.cumsum(w_out) / w_out.sum()
        self._cdf_in = np.cumsum(w_in) / w_in.sum()
        self._home = np.column_stack(
            [rng.uniform(50_000, 250_000, self.n_neurons), rng.uniform(20_000, 100_000, self.n_neurons),
             rng.uniform(100, 7_000, self.n_neurons)]
        )  # fmt: skip
        self._nt = rng.integers(0, 6, self.n_neurons)

    def expected_degree(self) -> pd.DataFrame:
        """Expected number of output / input synapses per neuron."""
        w_out = np.diff(self._cdf_out, prepend=0.0) * self.n_synapses
        w_in = np.diff(self._cdf_in, prepend=0.0) * self.n_synapses
        return pd.DataFrame({"root_id": self.neuron_ids, "n_pre": w_out, "n_post": w_in})

    def chunk(self, start: int, stop: int, index: int) -> pd.DataFrame:
        """Rows ``start:stop`` (synapse ids ``start+1 … stop``), drawn with rng ``(seed, 1, index)``."""
        rng = np.random.default_rng([self.seed, 1, index])
        n = stop - start
        i_pre = np.minimum(np.searchsorted(self._cdf_out, rng.random(n)), self.n_neurons - 1)
        i_post = np.minimum(np.searchsorted(self._cdf_in, rng.random(n)), self.n_neurons - 1)
        pre = self.neuron_ids[i_pre]
        post = self.neuron_ids[i_post]
        if self.background:
            pre = np.where(rng.random(n) < self.background, 0, pre)
            post = np.where(rng.random(n) < self.background, 0, post)
        home = self._home[i_post] + rng.normal(0, [2_000, 2_000, 200], (n, 3))
        home = np.clip(home, 0, None)
        cols = {
            "id": np.arange(start + 1, stop + 1, dtype="int64"),
            "pre_pt_root_id": pre,
            "post_pt_root_id": post,
        }
        shift = rng.normal(0, [30, 30, 3], (n, 3))
        for i, a in enumerate("xyz"):
            cols[f"pre_pt_position_{a}"] = (home[:, i] + shift[:, i]).astype("int32")
        for i, a in enumerate("xyz"):
            cols[f"post_pt_position_{a}"] = (home[:, i] - shift[:, i]).astype("int32")
        cols["connection_score"] = rng.gamma(2.0, 80.0, n).astype("float32")
        cols["cleft_score"] = rng.integers(0, 200, n).astype("int16")
        conc = np.full((n, 6), 0.4)
        conc[np.arange(n), self._nt[i_pre]] = 6.0
        nt = rng.gamma(conc).astype("float32")
        nt /= nt.sum(axis=1, keepdims=True)
        for i, name in enumerate(("gaba", "ach", "glut", "oct", "ser", "da")):
            cols[name] = nt[:, i]
        cols["neuropil"] = pd.Categorical.from_codes(rng.integers(0, len(NEUROPILS), n), NEUROPILS)
        return pd.DataFrame(cols)

    def chunks(self, chunk_size: int = 5_000_000):
        """The dump as a sequence of DataFrames of at most ``chunk_size`` rows."""
        for index, start in enumerate(range(0, self.n_synapses, chunk_size)):
            yield self.chunk(start, min(start + chunk_size, self.n_synapses), index)

    def frame(self) -> pd.DataFrame:
        """The whole dump as one DataFrame (small dumps only)."""
        return pd.concat(list(self.chunks()), ignore_index=True)

    def write_parquet(
        self, path, *, chunk_size: int = 5_000_000, row_group_size: int = 1_000_000
    ) -> None:
        """Write the dump as one parquet file, chunk by chunk (bounded memory)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        writer = None
        try:
            for df in self.chunks(chunk_size):
                table = pa.Table.from_pandas(df, preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(str(path), table.schema, compression="zstd")
                writer.write_table(table, row_group_size=row_group_size)
        finally:
            if writer is not None:
                writer.close()
