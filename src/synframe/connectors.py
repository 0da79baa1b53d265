"""The stage verbs on neurons whose synapses are their ``.connectors`` (``NeuronList.syn``).

Each turns the connectors back into a synapse table ([`synframe.connectors_to_table`][synframe.attach.connectors_to_table]), runs
the table verb, and attaches the result again: results are those of the table verbs.
"""

from __future__ import annotations

from collections.abc import Sequence

import xarray as xr

from ._neurons import as_neuron_list
from .attach import attach, connectors_to_table
from .clean import clean
from .parameterize import parameterize

__all__ = ["clean_connectors", "parameterize_connectors"]


def clean_connectors(
    neurons,
    *,
    autapses: bool = True,
    background: bool = True,
    min_score: float | None = None,
    dedupe: bool = True,
    max_distance: str | float | None = "10 um",
    inplace: bool = False,
):
    """``sf.clean`` for neurons whose synapses are their ``.connectors``; returns the NeuronList.

    The connectors are turned back into a synapse table ([`connectors_to_table`][synframe.attach.connectors_to_table]), cleaned
    against these same neurons ([`synframe.clean`][synframe.clean.clean]), and attached again.

    Examples
    --------
    >>> import synframe as sf
    >>> nl = sf.attach(sf.datasets.example_synapses(), sf.datasets.example_neuron())
    >>> len(sf.clean_connectors(nl, max_distance="1 um")[0].connectors)
    2019
    """
    nl = as_neuron_list(neurons)
    table = connectors_to_table(nl)
    kept = clean(
        table,
        autapses=autapses,
        background=background,
        min_score=min_score,
        dedupe=dedupe,
        neurons=nl,
        max_distance=max_distance,
    )
    return attach(kept, nl, inplace=inplace)


def parameterize_connectors(
    neurons,
    stats: xr.DataArray,
    *,
    by: str,
    types=None,
    seed: int | None = None,
    properties: Sequence[str] | None = None,
    overwrite: bool = False,
    progress: bool = True,
):
    """[`synframe.parameterize`][synframe.parameterize.parameterize] for neurons whose synapses are their ``.connectors``; returns the NeuronList.

    Values are identical to parameterizing the table ([`synframe.connectors_to_table`][synframe.attach.connectors_to_table]) itself.
    """
    table = connectors_to_table(neurons)
    out = parameterize(
        table,
        stats,
        by=by,
        types=types,
        seed=seed,
        properties=properties,
        overwrite=overwrite,
        progress=progress,
    )
    return attach(out, neurons)
