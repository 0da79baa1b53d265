"""The ``synframe`` command line.

``synframe demo`` runs the README's main job on the embedded example data.
"""

from __future__ import annotations

import argparse
import logging
import sys

from .errors import SynframeError

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    """Fetch, clean, attach and parameterize the embedded MICrONS example neuron."""
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
        f"  parameterize {len(syn):>6} synapses, seed {args.seed}; {' '.join(sf.stats_summary(stats).split())}"
    )
    src = classes.reindex(syn.pre).to_numpy()
    table = syn.assign(src=src).groupby("src")["conductance"].agg(["size", "mean", "std"])
    for cls, row in table.iterrows():
        print(
            f"    from {cls:<18} {int(row['size']):>5} synapses, conductance {row['mean']:.2f} ± {row['std']:.2f}"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="synframe",
        description="EM synapse tables to simulation-ready synaptomes.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what each stage does")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = sub.add_parser(
        "demo",
        help="run the pipeline on the embedded MICrONS example neuron",
        description=_demo.__doc__,
    )
    demo.add_argument(
        "--max-distance", default="10 um", help="drop synapses farther than this from the skeleton"
    )
    demo.add_argument("--seed", type=int, default=1, help="seed of the parameter draws")
    demo.set_defaults(func=_demo)
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
    except SynframeError as exc:
        print(f"synframe {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
