"""Real example data shipped with synframe (see ``README.md`` in this folder for origin and licence).

One MICrONS neuron (minnie65_public, materialization 795, root id ``864691136040432126``, an L4a
cell): its 259 output and 2,165 input synapses, its level-2 skeleton, and the AIBS coarse cell types of
1,351 column cells that type many of its partners.
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd

from .._validation import run_schema, stage_schema
from ..sources._base import Query
from ..sources._embedded import EXAMPLE_RESOLUTION
from ..sources._embedded import example_store as _example_store

__all__ = [
    "EXAMPLE_RESOLUTION",
    "EXAMPLE_ROOT_ID",
    "example_cell_types",
    "example_neuron",
    "example_pathway_stats",
    "example_store",
    "example_synapse_classes",
    "example_synapses",
    "path",
]

#: root id of the example MICrONS neuron
EXAMPLE_ROOT_ID = 864691136040432126


def path(name: str):
    """Path of a bundled file (``microns_v795_synapses.parquet`` …)."""
    return resources.files(__name__).joinpath(name)


def example_store():
    """The embedded example store: a [`LocalStore`][synframe.sources.local.LocalStore] over the example synapses.

    It is the default source of ``sf.fetch`` (the CAVE-layout table, 4 × 4 × 40 nm voxels, converted
    to nm on the way out).

    Examples
    --------
    >>> import synframe as sf
    >>> store = sf.datasets.example_store()
    >>> store.datastack, store.materialization
    ('minnie65_public', 795)
    """
    return _example_store()


def example_synapses() -> pd.DataFrame:
    """The example neuron's 2,424 synapses as a canonical synapse table (positions in nm).

    Converted from CAVE's ``synapses_pni_2`` layout (4 × 4 × 40 nm voxels).

    Examples
    --------
    >>> import synframe as sf
    >>> syn = sf.datasets.example_synapses()
    >>> syn.shape
    (2424, 10)
    >>> (syn.pre == sf.datasets.EXAMPLE_ROOT_ID).sum(), (syn.post == sf.datasets.EXAMPLE_ROOT_ID).sum()
    (np.int64(259), np.int64(2165))
    >>> syn.attrs["units"], syn.attrs["datastack"], syn.attrs["materialization"]
    ('nm', 'minnie65_public', 795)
    """
    query = Query(ids=np.array([EXAMPLE_ROOT_ID], dtype=np.int64), progress=False)
    syn = example_store().fetch(query)  # what sf.fetch(EXAMPLE_ROOT_ID) returns
    syn.attrs["history"] = [query.record(len(syn))]
    return run_schema(syn, stage_schema("synapses"), "SynapseTable (example)")


def example_neuron():
    """The example neuron's level-2 skeleton as a ``navis.TreeNeuron`` in nm (5,830 nodes).

    Built from its level-2 graph: a minimum spanning tree on edge length, rooted at the soma (the
    densest place of the graph). Node ``level2_id`` keeps the chunkedgraph level-2 id of each node.

    Examples
    --------
    >>> import synframe as sf
    >>> n = sf.datasets.example_neuron()
    >>> n.id, n.n_nodes, str(n.units)
    (864691136040432126, 5830, '1 nanometer')
    """
    import navis

    with resources.as_file(path("microns_v795_skeleton.parquet")) as p:
        nodes = pd.read_parquet(p)
    neuron = navis.TreeNeuron(
        nodes, id=EXAMPLE_ROOT_ID, name="MICrONS 864691136040432126 (L4a)", units="1 nm"
    )
    neuron.soma = int(nodes.loc[nodes["parent_id"] < 0, "node_id"].iloc[0])
    return neuron


def example_cell_types() -> pd.DataFrame:
    """AIBS coarse cell types of 1,351 MICrONS column cells (``root_id``, ``cell_type``, …).

    Excitatory types L2a … L6wm, inhibitory PTC/DTC/STC/ITC; ``classification_system`` says which.

    Examples
    --------
    >>> import synframe as sf
    >>> ct = sf.datasets.example_cell_types()
    >>> ct.shape, ct.root_id.dtype
    ((1351, 5), dtype('int64'))
    """
    with resources.as_file(path("microns_v795_cell_types.parquet")) as p:
        return pd.read_parquet(p)


#: synapse classes of the obi-one synaptome notebook
SYNAPSE_CLASSES = ("excitatory_neuron", "inhibitory_neuron", "extrinsic_neuron")


def example_synapse_classes() -> pd.Series:
    """``synapse_class`` of the example neuron and all its partners (index: root id).

    Column cells are ``excitatory_neuron`` / ``inhibitory_neuron`` by their AIBS coarse
    classification; the example neuron (an L4a cell) is excitatory; partners outside the column
    table are ``extrinsic_neuron``.

    Examples
    --------
    >>> import synframe as sf
    >>> sf.datasets.example_synapse_classes().value_counts().to_dict()
    {'extrinsic_neuron': 2065, 'excitatory_neuron': 57, 'inhibitory_neuron': 31}
    """
    syn = example_synapses()
    ids = pd.Index(pd.unique(pd.concat([syn["pre"], syn["post"]])), name="root_id")
    ct = example_cell_types().set_index("root_id")["classification_system"]
    cls = ct.map(
        {
            "aibs_coarse_excitatory": "excitatory_neuron",
            "aibs_coarse_inhibitory": "inhibitory_neuron",
        }
    )
    cls.loc[EXAMPLE_ROOT_ID] = "excitatory_neuron"
    return cls.reindex(ids).fillna("extrinsic_neuron").rename("synapse_class")


def example_pathway_stats(shared_within: bool = False):
    """The obi-one synaptome-parameterization notebook's model: 3 x 3 ``synapse_class`` pathways.

    ``conductance`` gamma (mean 1.0, std 0.5 from excitatory and extrinsic sources; 2.0, 0.5 from
    inhibitory ones) and ``syn_type_id`` constant int (100 excitatory, 1 inhibitory).

    Examples
    --------
    >>> import synframe as sf
    >>> print(sf.datasets.example_pathway_stats().syn.summary())
    Connection/synapse property distributions between 3x3 'synapse_class' pathways:
      conductance <gamma>; syn_type_id <constant (int)>
    """
    from ..errors import OptionError
    from ..pathways import pathway_stats

    if not isinstance(shared_within, (bool, np.bool_)):
        raise OptionError(f"shared_within must be True or False, got {shared_within!r}")
    exc = {
        "conductance": {"type": "gamma", "mean": 1.0, "std": 0.5, "shared_within": shared_within},
        "syn_type_id": {
            "type": "constant",
            "mean": 100,
            "dtype": "int",
            "shared_within": shared_within,
        },
    }
    inh = {
        "conductance": {"type": "gamma", "mean": 2.0, "std": 0.5, "shared_within": shared_within},
        "syn_type_id": {
            "type": "constant",
            "mean": 1,
            "dtype": "int",
            "shared_within": shared_within,
        },
    }
    by_class = {"excitatory_neuron": exc, "extrinsic_neuron": exc, "inhibitory_neuron": inh}
    classes = list(SYNAPSE_CLASSES)
    prop_stats = {p: {s: {t: by_class[s][p] for t in classes} for s in classes} for p in exc}
    return pathway_stats(prop_stats, classes, classes, by="synapse_class")
