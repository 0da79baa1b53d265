"""SONATA: read edge populations, write EM synaptomes, parameterize whole circuits atomically.

Reading goes through libsonata (`.read`); writing through h5py (libsonata only writes
indices). SONATA positions are in µm, synframe tables in nm: converted both ways.
"""

from __future__ import annotations

from .circuit import parameterize_circuit
from .network import write_circuit
from .read import iter_edges, read_edges
from .synaptome import write_synaptome

__all__ = ["iter_edges", "parameterize_circuit", "read_edges", "write_circuit", "write_synaptome"]
