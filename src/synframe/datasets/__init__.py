"""Real example data shipped with synframe (see ``README.md`` in this folder for origin and licence).

One MICrONS neuron (minnie65_public, materialization 795, root id ``864691136040432126``, an L4a
cell): its 259 output and 2,165 input synapses, its level-2 skeleton, and the AIBS coarse cell types of
1,351 column cells that type many of its partners.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

__all__ = [
    "EXAMPLE_RESOLUTION",
    "EXAMPLE_ROOT_ID",
    "example_cell_types",
    "example_neuron",
    "example_store",
    "example_synapses",
    "path",
]

#: root id of the example MICrONS neuron
EXAMPLE_ROOT_ID = 864691136040432126
#: voxel size (nm) of the example synapse table as CAVE serves it
EXAMPLE_RESOLUTION = (4.0, 4.0, 40.0)


def path(name: str):
    """Path of a bundled file (``microns_v795_synapses.parquet`` …)."""
    return resources.files(__name__).joinpath(name)


def example_store():
    """The embedded example store: a :class:`~synframe.sources.LocalStore` over the example synapses.

    It is the default source of ``sf.fetch`` (the CAVE-layout table, 4 × 4 × 40 nm voxels, converted
    to nm on the way out).

    Examples
    --------
    >>> import synframe as sf
    >>> store = sf.datasets.example_store()
    >>> store.datastack, store.materialization
    ('minnie65_public', 795)
    """
    from ..sources import LocalStore

    with resources.as_file(path("microns_v795_synapses.parquet")) as p:
        return LocalStore(
            p,
            resolution=EXAMPLE_RESOLUTION,
            datastack="minnie65_public",
            materialization=795,
            table="synapses_pni_2",
        )


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
    from ..fetch import fetch

    return fetch(EXAMPLE_ROOT_ID, source=example_store(), progress=False)


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
