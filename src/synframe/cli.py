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
    import synframe as sf

    syn = sf.datasets.example_synapses()
    neuron = sf.datasets.example_neuron()
    root = sf.datasets.EXAMPLE_ROOT_ID
    print(f"synframe {sf.__version__} demo: MICrONS minnie65_public v795 neuron {root}")
    print(
        f"  fetched  {len(syn):>6} synapses ({(syn.pre == root).sum()} outputs, "
        f"{(syn.post == root).sum()} inputs), positions in {syn.attrs['units']}"
    )
    print(f"  skeleton {neuron.n_nodes:>6} nodes, {neuron.cable_length / 1e6:.2f} mm of cable")
    out = syn.syn.clean(neurons=neuron, max_distance=args.max_distance)
    record = out.attrs["history"][-1]
    removed = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in record["removed"].items())
    print(f"  cleaned  {len(out):>6} synapses kept within {args.max_distance} of the skeleton")
    print(f"           removed: {removed}")
    partners = out.loc[out.post == root, "pre"].nunique()
    print(
        f"  {partners} presynaptic partners, {out.loc[out.pre == root, 'post'].nunique()} postsynaptic"
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
