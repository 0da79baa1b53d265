"""The ``synframe`` argument parser: one subparser per command, their options and help."""

from __future__ import annotations

import argparse

from .. import __version__
from . import _circuits, _em
from ._args import (
    FINITE_FLOAT,
    MATERIALIZATION,
    NON_NEGATIVE_INT,
    POSITIVE_FLOAT,
    POSITIVE_INT,
    TABLE_SUFFIXES,
    _Formatter,
    _Parser,
)


def _seed_arg(parser: argparse.ArgumentParser, default: int | None = None) -> None:
    parser.add_argument(
        "--seed",
        type=NON_NEGATIVE_INT,
        default=default,
        help="seed of the draws: the same seed gives the same values"
        + ("" if default is not None else " (default: drawn, printed and recorded)"),
    )


def _populations_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--populations",
        "--population",
        dest="populations",
        nargs="+",
        default=None,
        metavar="POPULATION",
        help="edge populations to use (default: all)",
    )


def _source_args(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--source",
        default=None,
        help=f"where to fetch {what} from: a local dump or store (parquet, feather, DuckDB), a "
        "SONATA circuit_config.json or a CAVE datastack name (default: the embedded example "
        "store, or $SYNFRAME_SOURCE)",
    )
    parser.add_argument(
        "--population",
        default=None,
        help="the edge population, when --source is a SONATA circuit with several",
    )
    _resolution_arg(parser)


def _resolution_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--table",
        default=None,
        help="the table to read when --source is a DuckDB database with several (for other "
        "dumps: the source table's name, recorded as provenance)",
    )
    parser.add_argument(
        "--resolution",
        nargs="+",
        type=POSITIVE_FLOAT,
        default=None,
        metavar="NM",
        help="voxel size in nm (one value, or x y z) of a local dump's positions, e.g. 4 4 40 "
        "for FlyWire/MICrONS voxels or 1 for nm; needed when the dump is in CAVE layout (default: "
        "none; a store built with LocalStore.build records its own)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``synframe`` argument parser (also used to document the command line)."""
    parser = _Parser(
        prog="synframe",
        description="EM synapse tables to simulation-ready synaptomes. "
        "Run `synframe COMMAND --help` for a command's options.",
        epilog="Exit codes: 0 success, 1 the command failed, 2 the command line is wrong, "
        "130/143 interrupted (SIGINT/SIGTERM; nothing half-written is left).",
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"synframe {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what each stage does")
    # -v also after the command (SUPPRESS: a subcommand's default must not undo the top-level flag)
    common = _Parser(add_help=False)
    common.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="log what each stage does",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, func, help: str, description: str | None = None):
        p = sub.add_parser(
            name,
            parents=[common],
            help=help,
            description=description or help,
            formatter_class=_Formatter,
        )
        p.set_defaults(func=func)
        return p

    demo = command(
        "demo",
        _em._demo,
        "the full pipeline on the embedded MICrONS example neuron",
        _em._demo.__doc__,
    )
    demo.add_argument(
        "--max-distance",
        default="10 um",
        help="drop synapses farther than this from the skeleton (a length: '10 um', '500 nm')",
    )
    _seed_arg(demo, default=1)
    demo.add_argument(
        "--output", default="synframe-demo", help="the SONATA synaptome directory to write"
    )

    par = command(
        "parameterize",
        _circuits._parameterize,
        "draw synapse properties for a SONATA circuit (the obi-one task)",
        "Draw synapse properties per pathway for a SONATA circuit's edge populations; "
        "validated before anything is written, files swapped in atomically. obi-one's flag "
        "names --pathway-property and --overwrite-if-exists are accepted too.",
    )
    par.add_argument("circuit_config", metavar="CIRCUIT_CONFIG", help="circuit_config.json")
    par.add_argument("--stats", required=True, help="pathway statistics: ConnPropsModel JSON file")
    par.add_argument(
        "--by",
        "--pathway-property",
        dest="by",
        required=True,
        help="pathway property: the node property the stats' types are values of, e.g. "
        "synapse_class (--pathway-property is obi-one's name for it)",
    )
    _seed_arg(par)
    _populations_arg(par)
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
    par.add_argument(
        "--chunk-size",
        type=POSITIVE_INT,
        default=1_000_000,
        help="edges drawn and written at a time",
    )
    par.add_argument(
        "--workers",
        type=NON_NEGATIVE_INT,
        default=0,
        help="draw on N local dask worker processes (0: here)",
    )
    par.add_argument("--memory-limit", default="4GiB", help="memory limit of each dask worker")

    fit = command(
        "fit-stats",
        _circuits._fit_stats,
        "fit pathway statistics from a circuit's edge properties",
        "Fit a ConnPropsModel (connectome-manipulator 1.0.4's conn_props semantics) from a "
        "circuit's edge properties; the JSON loads in connectome-manipulator.",
    )
    fit.add_argument("circuit_config", metavar="CIRCUIT_CONFIG", help="circuit_config.json")
    fit.add_argument(
        "--by",
        "--pathway-property",
        dest="by",
        required=True,
        help="pathway property: the node property to group pathways by, e.g. synapse_class",
    )
    fit.add_argument(
        "--properties", nargs="+", required=True, help="edge properties (and/or n_syn_per_conn)"
    )
    fit.add_argument(
        "--distributions",
        nargs="*",
        default=[],
        metavar="PROPERTY=TYPE",
        help="distribution type per property, e.g. conductance=gamma",
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
    fit.add_argument(
        "--min-connections",
        type=NON_NEGATIVE_INT,
        default=5,
        help="pathways with fewer connections use the fit over all pathways",
    )
    _populations_arg(fit)
    fit.add_argument("--output", required=True, help="the stats JSON file to write")
    fit.add_argument("--overwrite", action="store_true", help="replace an existing --output file")

    fe = command(
        "fetch",
        _em._fetch,
        "fetch synapses of neurons into a table file",
        "Fetch the synapses of neurons into a table file (format by suffix: "
        + ", ".join(TABLE_SUFFIXES)
        + "). Finding no synapse is an error unless --allow-empty.",
    )
    fe.add_argument("ids", nargs="+", help="neuron ids")
    _source_args(fe, "synapses")
    fe.add_argument(
        "--output", required=True, help="table file to write: .parquet, .feather or .csv"
    )
    fe.add_argument("--overwrite", action="store_true", help="replace an existing --output file")
    fe.add_argument("--no-pre", action="store_true", help="skip the neurons' presynapses")
    fe.add_argument("--no-post", action="store_true", help="skip the neurons' postsynapses")
    fe.add_argument(
        "--unfiltered", action="store_true", help="the raw synapse table, not the curated one"
    )
    fe.add_argument(
        "--min-score",
        type=FINITE_FLOAT,
        default=None,
        help="keep synapses with cleft_score >= this",
    )
    fe.add_argument(
        "--transmitters", action="store_true", help="add neurotransmitter probabilities"
    )
    fe.add_argument("--neuropils", action="store_true", help="add the neuropil column")
    fe.add_argument(
        "--materialization",
        default="auto",
        type=MATERIALIZATION,
        help="'auto', 'latest', 'live' or a version number",
    )
    fe.add_argument("--batch-size", type=POSITIVE_INT, default=None, help="neuron ids per query")
    fe.add_argument(
        "--allow-empty", action="store_true", help="write an empty table when nothing is found"
    )

    ci = command(
        "circuit",
        _circuits._circuit,
        "a local store's synapses -> a SONATA network circuit (on dask with --workers)",
        "Write the synapses of a local store (all, or those of the given neurons) as a SONATA "
        "network circuit: cleaned, optionally parameterized, one node per neuron. With --workers "
        "N the tables stay partitioned on a local dask cluster (bounded memory per process).",
    )
    ci.add_argument("ids", nargs="*", help="neuron ids (default: every synapse of the store)")
    ci.add_argument(
        "--source", required=True, help="a local store (LocalStore.build) or a parquet dump"
    )
    _resolution_arg(ci)
    ci.add_argument("--output", required=True, help="the circuit directory to create")
    ci.add_argument(
        "--neurons",
        default=None,
        help="table of neurons (parquet, feather, csv): an id column and annotations, which "
        "become node properties; every neuron of the synapses must be in it",
    )
    ci.add_argument("--stats", default=None, help="pathway statistics JSON to parameterize with")
    ci.add_argument(
        "--by", "--pathway-property", dest="by", default=None, help="--neurons column of types"
    )
    _seed_arg(ci)
    ci.add_argument("--no-clean", action="store_true", help="write the synapses as they are")
    ci.add_argument(
        "--min-score", type=FINITE_FLOAT, default=None, help="clean: keep cleft_score >= this"
    )
    ci.add_argument(
        "--workers",
        type=NON_NEGATIVE_INT,
        default=0,
        help="dask workers on this machine (0: in this process)",
    )
    ci.add_argument("--memory-limit", default="4GiB", help="memory limit of each dask worker")
    ci.add_argument(
        "--partition-size", type=POSITIVE_INT, default=2_000_000, help="synapses per dask partition"
    )
    ci.add_argument("--overwrite", action="store_true", help="replace a circuit synframe wrote")

    sy = command(
        "synaptome",
        _em._synaptome,
        "neuron ids -> parameterized SONATA synaptome",
    )
    sy.add_argument("ids", nargs="+", help="ids of the reconstructed neuron(s)")
    _source_args(sy, "their synapses")
    sy.add_argument("--output", required=True, help="the synaptome directory to create")
    sy.add_argument(
        "--stats",
        default=None,
        help="pathway statistics JSON (default: the obi-one notebook's synapse_class model)",
    )
    sy.add_argument("--by", default="synapse_class", help="pathway property")
    sy.add_argument(
        "--types",
        default=None,
        help="CSV: neuron id in the first column, and a column named like --by",
    )
    sy.add_argument(
        "--skeleton",
        nargs="+",
        default=None,
        metavar="FILE.swc",
        help="SWC skeleton(s) of the neuron(s), named <neuron id>.swc (one file for one id: any "
        "name); written as morphologies with section ids per synapse. Default: the embedded "
        "skeleton for the example neuron, else none",
    )
    sy.add_argument(
        "--skeleton-units",
        default=None,
        help="units of the SWC coordinates, e.g. nm, um, '8 nm' (default: the file's navis header)",
    )
    sy.add_argument(
        "--max-distance",
        default="10 um",
        help="drop synapses farther than this from the neuron's skeleton (a length: '10 um', "
        "'500 nm'; 'none' keeps them all); used with skeletons only",
    )
    sy.add_argument(
        "--min-score",
        type=FINITE_FLOAT,
        default=None,
        help="keep synapses with cleft_score >= this (default: keep all)",
    )
    _seed_arg(sy, default=1)
    sy.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    return parser
