"""The commands on SONATA circuits: ``parameterize``, ``fit-stats`` and ``circuit``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import OptionError
from ._args import (
    _existing,
    _load_stats,
    _local_cluster,
    _local_store,
    _populations,
    _read_table,
    _resolution,
    _seed,
    _writable,
)


def _parameterize(args: argparse.Namespace) -> int:
    import synframe as sf

    from ..sonata._circuit import Circuit

    _populations(Circuit(_existing(args.circuit_config, "CIRCUIT_CONFIG")), args.populations)
    stats = _load_stats(args.stats)
    if args.workers < 0:
        raise OptionError(f"--workers must be >= 0, got {args.workers}")
    with _local_cluster(args.workers, args.memory_limit) as client:
        out = sf.parameterize_circuit(
            args.circuit_config,
            stats,
            by=args.by,
            populations=args.populations,
            seed=_seed(args),
            overwrite=args.overwrite,
            output=args.output,
            inplace=args.inplace,
            chunk_size=args.chunk_size,
            scheduler=client,
        )
    print(out)
    return 0


def _fit_stats(args: argparse.Namespace) -> int:
    import pandas as pd

    import synframe as sf

    from ..sonata._circuit import Circuit

    circuit = Circuit(_existing(args.circuit_config, "CIRCUIT_CONFIG"))
    reads = [("CIRCUIT_CONFIG", circuit.path)]
    reads += [
        ("the circuit", f) for f in (*circuit.edge_files.values(), *circuit.node_files.values())
    ]
    _writable(args.output, overwrite=args.overwrite, inputs=reads)
    pops = _populations(circuit, args.populations)
    groups = tuple(args.interpolate or ())
    # n_syn_per_conn is counted from the edges, not read: every other property is an attribute
    attributes = [p for p in args.properties if p != "n_syn_per_conn"]
    for pop in pops:
        lacking = [p for p in attributes if p not in circuit.edges(pop).attribute_names]
        if lacking:
            raise OptionError(
                f"--properties {' '.join(lacking)}: edge population {pop} has no such attribute "
                f"(it has {', '.join(sorted(circuit.edges(pop).attribute_names))})"
            )
    bad = [item for item in args.distributions if "=" not in item]
    if bad:
        raise OptionError(f"--distributions {' '.join(bad)}: give PROPERTY=TYPE, e.g. g=gamma")
    frames = []
    for k, pop in enumerate(pops):  # node ids repeat across populations: keep connections apart
        df = sf.read_edges(
            args.circuit_config,
            pop,
            properties=attributes,
            node_properties=(args.by, *groups),
        )
        if f"pre_{args.by}" not in df or f"post_{args.by}" not in df:
            print(
                f"synframe fit-stats: skipping {pop}: its nodes lack {args.by!r}",
                file=sys.stderr,
            )
            continue
        frames.append(df.assign(_population=k))
    if not frames:
        raise OptionError(f"--by {args.by}: no edge population has it on both sides")
    table = pd.concat(frames, ignore_index=True)
    # node ids and edge ids repeat across populations: number (population, id) pairs afresh
    for col in ("pre", "id"):
        keys = pd.MultiIndex.from_arrays([table["_population"], table[col]])
        table[col] = pd.factorize(keys)[0].astype("int64")
    table = table.drop(columns="_population")
    kinds = dict(item.split("=", 1) for item in args.distributions)
    if args.default_distribution != "auto":
        kinds = {p: kinds.get(p, args.default_distribution) for p in args.properties}
    bounds = {"auto": None, "data": "data", "none": {}}[args.bounds]
    stats = sf.fit_pathway_stats(
        table, by=args.by, properties=args.properties, distributions=kinds,
        min_connections=args.min_connections, bounds=bounds, interpolate=groups or None,
        truncnorm_fit=args.truncnorm_fit,
    )  # fmt: skip
    sf.save_pathway_stats(stats, args.output)
    for prop, what in stats.attrs["fit"]["auto"].items():
        print(f"{prop}: no distribution given: {what}")
    print(sf.pathways.summary(stats))
    print(args.output)
    return 0


def _read_neurons(path: str):
    """``--neurons``: a table with a neuron id column of exact 64-bit ids."""
    from .._ids import ID_CANDIDATES, as_ids, id_column_of
    from ..errors import SchemaError

    neurons = _read_table(path, "--neurons")
    try:
        column = id_column_of(neurons, None)
    except SchemaError:
        raise OptionError(
            f"--neurons {path}: no neuron id column among {list(neurons.columns)[:12]}; name it "
            f"one of {', '.join(ID_CANDIDATES)}"
        ) from None
    as_ids(neurons[column], what=f"--neurons {path} column {column!r}")
    return neurons


def _circuit(args: argparse.Namespace) -> int:
    """Synapses of a local store (all, or of the given neurons) -> a SONATA network circuit."""
    import synframe as sf

    from .._ids import as_ids

    neurons = _read_neurons(args.neurons) if args.neurons else None
    if args.stats and (neurons is None or args.by is None):
        raise OptionError("--stats needs --neurons TABLE and --by COLUMN (each neuron's type)")
    if args.by is not None and (neurons is None or args.by not in neurons.columns):
        raise OptionError(f"--by {args.by}: not a column of --neurons")
    if args.workers < 0:
        raise OptionError(f"--workers must be >= 0, got {args.workers}")
    stats = _load_stats(args.stats) if args.stats else None
    seed = _seed(args) if stats is not None else None
    resolution = _resolution(args)
    _existing(args.source, "--source")
    if Path(args.source).expanduser().suffix == ".json":
        raise OptionError(f"--source {args.source}: synframe circuit reads a local store or dump")
    source = _local_store(args.source, resolution, args.table)
    ids = None if not args.ids else as_ids(args.ids, what="neuron ids")
    with _local_cluster(args.workers, args.memory_limit):
        table = source.to_dask(ids, partition_size=args.partition_size)
        verbs = sf.dask
        if not args.workers:  # in this process, with pandas
            table, verbs = table.compute(scheduler="synchronous"), sf
        if not args.no_clean:
            table = verbs.clean(table, min_score=args.min_score)
        if stats is not None:
            table = verbs.parameterize(table, stats, by=args.by, types=neurons, seed=seed)
        config = sf.write_circuit(table, args.output, neurons=neurons, overwrite=args.overwrite)
    print(config)
    return 0
