"""``SonataSource``: the synapses of given neurons from a SONATA edge population."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from ..errors import SourceError, format_problems
from ..schemas import SynapseTable
from ..sonata._circuit import Circuit, check_chunk_size
from ..sonata.read import iter_edges
from ._base import Query

__all__ = ["SonataSource"]


class SonataSource:
    """A [`Source`][synframe.sources._base.Source] over one edge population of a SONATA circuit.

    Ids are node ids of the population's source/target nodes -- or their ``root_id`` when the nodes
    have one (synaptomes written by [`synframe.write_synaptome`][synframe.sonata.synaptome.write_synaptome]). Reads in chunks.

    Examples
    --------
    >>> import tempfile, synframe as sf
    >>> config = sf.write_synaptome(sf.datasets.example_synapses(), tempfile.mkdtemp() + "/s")
    >>> len(sf.fetch(sf.datasets.EXAMPLE_ROOT_ID, source=sf.sources.SonataSource(config), progress=False))
    2165
    """

    def __init__(
        self,
        config: str | os.PathLike,
        population: str | None = None,
        *,
        chunk_size: int = 1_000_000,
    ):
        self.config = config
        self.population = Circuit(config).population(population)
        self.chunk_size = check_chunk_size(chunk_size)

    def __repr__(self) -> str:
        return f"SonataSource({str(self.config)!r}, population={self.population!r})"

    def fetch(self, query: Query) -> pd.DataFrame:
        problems = []
        if query.min_score is not None:
            problems.append("min_score: SONATA edges have no cleft scores")
        if query.transmitters:
            problems.append("transmitters=True: SONATA edges carry no transmitter predictions")
        if query.neuropils:
            problems.append("neuropils=True: SONATA edges carry no neuropil")
        if query.materialization not in ("auto", "latest"):
            problems.append("materialization: a SONATA circuit has no materialization versions")
        if not query.filtered:
            problems.append("filtered=False: a SONATA circuit holds one synapse set")
        if problems:
            raise SourceError(format_problems(f"{self!r} cannot answer this query", problems))
        frames, attrs = [], {}
        for chunk in iter_edges(self.config, self.population, chunk_size=self.chunk_size):
            mask = np.zeros(len(chunk), dtype=bool)
            if query.pre:
                mask |= chunk[SynapseTable.pre].isin(query.ids).to_numpy()
            if query.post:
                mask |= chunk[SynapseTable.post].isin(query.ids).to_numpy()
            frames.append(chunk[mask])
            attrs = chunk.attrs
        if not frames:  # an empty edge population
            raise SourceError(f"{self!r}: the edge population is empty; there is nothing to fetch")
        out = (
            pd.concat(frames, ignore_index=True)
            if len(frames) > 1
            else frames[0].reset_index(drop=True)
        )
        out = out.drop_duplicates(SynapseTable.id).sort_values(SynapseTable.id, ignore_index=True)
        out.attrs = {**attrs, "filtered": None}
        return out
