"""The ``synframe`` command line.

``synframe demo`` runs the README's main job on the embedded example data.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ._io import staged_file
from .errors import OptionError, SynframeError

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    """Fetch, clean, attach, parameterize and write the embedded MICrONS example neuron as SONATA."""
    import synframe as sf

    root = sf.datasets.EXAMPLE_ROOT_ID
    neuron = sf.datasets.example_neuron()
    print(f"synframe {sf.__version__} demo: MICrONS minnie65_public v795 neuron {root}")
    syn = sf.fetch(root, progress=False)  # the embedded store (DuckDB over parquet)
    print(
        f"  fetch        {len(syn):>6} synapses ({(syn.pre == root).sum()} outputs, "
        f"{(syn.post == root).sum()} inputs) from {syn.attrs['source']}"
    )
    syn = syn.syn.clean(neurons=neuron, max_distance=args.max_distance)
    removed = ", ".join(
        f"{k.replace('_', ' ')} {v}" for k, v in syn.attrs["history"][-1]["removed"].items()
    )
    print(
        f"  clean        {len(syn):>6} kept within {args.max_distance} of the skeleton ({removed})"
    )
    nl = syn.syn.attach(neuron)
    con = nl[0].connectors
    print(
        f"  attach       {len(con):>6} connectors on {neuron.n_nodes} skeleton nodes, "
        f"median distance {con['distance'].median():.0f} nm, connector_id = synapse id"
    )
    classes = sf.datasets.example_synapse_classes()
    stats = sf.datasets.example_pathway_stats()
    syn = syn.syn.parameterize(stats, by="synapse_class", types=classes, seed=args.seed)
    print(
        f"  parameterize {len(syn):>6} synapses, seed {args.seed}; {' '.join(sf.pathways.summary(stats).split())}"
    )
    src = classes.reindex(syn.pre).to_numpy()
    table = syn.assign(src=src).groupby("src")["conductance"].agg(["size", "mean", "std"])
    for cls, row in table.iterrows():
        print(
            f"    from {cls:<18} {int(row['size']):>5} synapses, conductance {row['mean']:.2f} ± {row['std']:.2f}"
        )
    syn = syn.syn.annotate(classes.rename_axis("root_id").reset_index(), columns="synapse_class")
    config = sf.write_synaptome(syn, args.output, neurons=neuron, overwrite=True)
    back = sf.read_edges(config)
    print(
        f"  SONATA       {len(back):>6} afferent synapses from {back.pre.nunique()} virtual partners -> "
        f"{config}"
    )
    return 0


def _ids(values: list[str]) -> list[int]:
    from ._ids import as_ids

    return as_ids(values, what="neuron ids").tolist()


def _parameterize(args: argparse.Namespace) -> int:
    import synframe as sf

    if not Path(args.circuit_config).exists():
        raise OptionError(f"circuit config {args.circuit_config} does not exist")
    stats = sf.load_pathway_stats(args.stats)
    out = sf.parameterize_circuit(
        args.circuit_config,
        stats,
        by=args.by,
        populations=args.populations,
        seed=args.seed,
        overwrite=args.overwrite,
        output=args.output,
        inplace=args.inplace,
        chunk_size=args.chunk_size,
    )
    print(out)
    return 0


def _fit_stats(args: argparse.Namespace) -> int:
    import pandas as pd

    import synframe as sf

    from .sonata._circuit import Circuit

    circuit = Circuit(args.circuit_config)
    pops = args.populations or sorted(circuit.edge_files)
    groups = tuple(args.interpolate or ())
    frames = []
    for k, pop in enumerate(pops):  # node ids repeat across populations: keep connections apart
        df = sf.read_edges(
            args.circuit_config,
            pop,
            properties=args.properties,
            node_properties=(args.by, *groups),
        )
        if f"pre_{args.by}" not in df or f"post_{args.by}" not in df:
            print(
                f"synframe fit-stats: skipping {pop}: its nodes lack {args.by!r}",
                file=sys.stderr,
            )
            continue
        frames.append(df.assign(pre=df["pre"] + (k << 40), id=df["id"] + (k << 40)))
    if not frames:
        raise OptionError(f"no edge population has {args.by!r} on both sides")
    table = pd.concat(frames, ignore_index=True)
    for item in args.distributions:
        if "=" not in item:
            raise OptionError(f"--distributions takes PROPERTY=TYPE, got {item!r}")
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


def _fetch(args: argparse.Namespace) -> int:
    import synframe as sf

    syn = sf.fetch(
        _ids(args.ids), source=args.source, pre=not args.no_pre, post=not args.no_post,
        min_score=args.min_score, transmitters=args.transmitters, neuropils=args.neuropils, progress=False,
    )  # fmt: skip
    with staged_file(args.output) as tmp:
        syn.to_parquet(tmp)
    print(f"{len(syn)} synapses -> {args.output}")
    return 0


def _synaptome(args: argparse.Namespace) -> int:
    import pandas as pd

    import synframe as sf

    from ._ids import as_ids

    ids = _ids(args.ids)
    syn = sf.fetch(ids, source=args.source, progress=False).syn.clean()
    if args.types:
        types = pd.read_csv(args.types, dtype={0: str})
        idc = types.columns[0]
        types[idc] = as_ids(types[idc], what=f"{args.types} column {idc!r}")
        types = types.set_index(idc)[args.by]
    elif args.source is None and args.by == "synapse_class":
        types = sf.datasets.example_synapse_classes()
    else:
        raise OptionError(f"pass --types CSV (first column: neuron id, and a {args.by!r} column)")
    stats = sf.load_pathway_stats(args.stats) if args.stats else None
    if stats is None:
        if args.by != "synapse_class":
            raise OptionError(
                "pass --stats stats.json (the example model types by synapse_class only)"
            )
        stats = sf.datasets.example_pathway_stats()
    syn = sf.parameterize(syn, stats, by=args.by, types=types, seed=args.seed)
    syn = sf.annotate(
        syn, types.rename(args.by).rename_axis("root_id").reset_index(), columns=args.by
    )
    config = sf.write_synaptome(syn, args.output, neurons=ids, overwrite=args.overwrite)
    print(config)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="synframe",
        description="EM synapse tables to simulation-ready synaptomes.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what each stage does")
    # -v also after the command (SUPPRESS: a subcommand's default must not undo the top-level flag)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="log what each stage does",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        parents=[common],
        help="the full pipeline on the embedded MICrONS example neuron",
        description=_demo.__doc__,
    )
    demo.add_argument(
        "--max-distance", default="10 um", help="drop synapses farther than this from the skeleton"
    )
    demo.add_argument("--seed", type=int, default=1, help="seed of the parameter draws")
    demo.add_argument(
        "--output", default="synframe-demo", help="where to write the SONATA synaptome"
    )
    demo.set_defaults(func=_demo)

    par = sub.add_parser(
        "parameterize",
        parents=[common],
        help="draw synapse properties for a SONATA circuit (the obi-one task)",
        description="Draw synapse properties per pathway for a SONATA circuit's edge populations; "
        "validated before anything is written, files swapped in atomically.",
    )
    par.add_argument("circuit_config")
    par.add_argument(
        "--stats", required=True, help="ConnPropsModel JSON (src_types, tgt_types, prop_stats)"
    )
    par.add_argument(
        "--by",
        "--pathway-property",
        dest="by",
        required=True,
        help="pathway property: the node property the stats' types are values of, e.g. "
        "synapse_class (--pathway-property is obi-one's name for it)",
    )
    par.add_argument("--seed", type=int, default=None)
    par.add_argument(
        "--populations", nargs="+", default=None, help="edge populations (default: all)"
    )
    par.add_argument(
        "--overwrite",
        "--overwrite-if-exists",
        dest="overwrite",
        action="store_true",
        help="redraw properties that exist (--overwrite-if-exists is obi-one's name for it)",
    )
    where = par.add_mutually_exclusive_group(required=True)
    where.add_argument("--output", help="write a new circuit directory here")
    where.add_argument("--inplace", action="store_true", help="modify the circuit's edge files")
    par.add_argument("--chunk-size", type=int, default=1_000_000, help="edges per chunk")
    par.set_defaults(func=_parameterize)

    fit = sub.add_parser(
        "fit-stats",
        parents=[common],
        help="fit pathway statistics from a circuit's edge properties",
        description="Fit a ConnPropsModel (connectome-manipulator 1.0.4's conn_props semantics) "
        "from a circuit's edge properties; the JSON loads in connectome-manipulator.",
    )
    fit.add_argument("circuit_config")
    fit.add_argument(
        "--by", "--pathway-property", dest="by", required=True, help="pathway property"
    )
    fit.add_argument(
        "--properties", nargs="+", required=True, help="edge properties (and/or n_syn_per_conn)"
    )
    fit.add_argument(
        "--distributions", nargs="*", default=[], help="PROPERTY=TYPE, e.g. conductance=gamma"
    )
    fit.add_argument(
        "--default-distribution",
        default="auto",
        help="type for properties without --distributions; 'auto' (default) chooses one that "
        "respects the data: constant, discrete for integers, else gamma (values >= 0) or normal, "
        "bounded by the data",
    )
    fit.add_argument(
        "--bounds",
        choices=["auto", "data", "none"],
        default="auto",
        help="lower/upper bounds: from the data for automatically chosen types (auto), for "
        "every property (data), or none",
    )
    fit.add_argument(
        "--interpolate",
        nargs="+",
        default=None,
        metavar="COLUMN",
        help="fill sparse pathways as connectome-manipulator does, from groups of node columns, "
        "finest first (e.g. layer synapse_class); default: one fit on all synapses",
    )
    fit.add_argument(
        "--truncnorm-fit",
        choices=["histogram", "mle"],
        default="histogram",
        help="truncnorm loc/scale: connectome-manipulator's histogram fit, or maximum likelihood",
    )
    fit.add_argument("--min-connections", type=int, default=5)
    fit.add_argument("--populations", nargs="+", default=None)
    fit.add_argument("--output", required=True, help="stats JSON to write")
    fit.set_defaults(func=_fit_stats)

    fe = sub.add_parser(
        "fetch", parents=[common], help="fetch synapses of neurons into a parquet file"
    )
    fe.add_argument("ids", nargs="+", help="neuron ids")
    fe.add_argument(
        "--source",
        default=None,
        help="local dump / store / SONATA config (default: embedded example)",
    )
    fe.add_argument("--output", required=True, help="parquet file to write")
    fe.add_argument("--no-pre", action="store_true", help="skip the neurons' presynapses")
    fe.add_argument("--no-post", action="store_true", help="skip the neurons' postsynapses")
    fe.add_argument("--min-score", type=float, default=None)
    fe.add_argument("--transmitters", action="store_true")
    fe.add_argument("--neuropils", action="store_true")
    fe.set_defaults(func=_fetch)

    sy = sub.add_parser(
        "synaptome", parents=[common], help="neuron ids -> parameterized SONATA synaptome"
    )
    sy.add_argument("ids", nargs="+", help="ids of the reconstructed neuron(s)")
    sy.add_argument("--source", default=None, help="default: the embedded example store")
    sy.add_argument("--output", required=True, help="directory to create")
    sy.add_argument(
        "--stats", default=None, help="ConnPropsModel JSON (default: the seed notebook's model)"
    )
    sy.add_argument("--by", default="synapse_class", help="pathway property")
    sy.add_argument("--types", default=None, help="CSV: neuron id, then a column named like --by")
    sy.add_argument("--seed", type=int, default=1)
    sy.add_argument("--overwrite", action="store_true")
    sy.set_defaults(func=_synaptome)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``synframe`` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.func(args)
    except (SynframeError, OSError) as exc:
        print(f"synframe {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
