"""The ``synframe`` command line.

``synframe demo`` runs the README's main job on the embedded example data; ``synframe COMMAND
--help`` documents every command. Exit codes: 0 success, 1 the command ran and failed (on the data,
the model, the circuit), 2 the command line is wrong (an unknown or missing flag, a bad value, a
missing input file), 130 / 143 interrupted by SIGINT / SIGTERM (the output being written is
removed; what was at ``--output`` before stays). Errors are one line naming the flag to change; a
traceback is printed only with ``SYNFRAME_TRACEBACK=1``.

Startup is kept fast: this module imports nothing heavy; each command imports what it uses.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import signal
import sys
import threading
from pathlib import Path

from . import __version__
from ._io import staged_file
from .errors import IdError, OptionError, SynframeError, UnitsError

__all__ = ["build_parser", "main"]

#: errors that mean the command line is wrong (exit 2); other SynframeErrors exit 1
USAGE_ERRORS = (OptionError, IdError, UnitsError)
#: table formats ``--output`` understands, by suffix
TABLE_SUFFIXES = (".parquet", ".pq", ".feather", ".arrow", ".csv", ".csv.gz")


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one line naming the flag (argparse prints the usage first)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _type(convert, what: str):
    """An argparse ``type=``: ``convert(text)``, or a usage error saying what is expected."""

    def parse(text: str):
        try:
            return convert(text)
        except (ValueError, TypeError, OverflowError):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None

    parse.__name__ = what  # argparse names the type in some messages
    return parse


def _int_at_least(low: int):
    def convert(text: str) -> int:
        value = int(text)
        if value < low:
            raise ValueError
        return value

    return convert


def _finite_float(text: str) -> float:
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError
    return value


def _positive_float(text: str) -> float:
    value = _finite_float(text)
    if value <= 0:
        raise ValueError
    return value


def _materialization(text: str) -> int | str:
    if text in ("auto", "latest", "live"):
        return text
    if text.isascii() and text.isdigit():
        return int(text)
    raise ValueError


POSITIVE_INT = _type(_int_at_least(1), "a positive integer")
NON_NEGATIVE_INT = _type(_int_at_least(0), "an integer >= 0")
FINITE_FLOAT = _type(_finite_float, "a finite number")
POSITIVE_FLOAT = _type(_positive_float, "a positive finite number")
MATERIALIZATION = _type(_materialization, "'auto', 'latest', 'live' or a version number")


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Help with every option's default (unless required, or the help says it already)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.required or "(default" in text or action.default is argparse.SUPPRESS:
            return text
        return super()._get_help_string(action)


# --- helpers ------------------------------------------------------------------------------------


def _existing(path: str | None, flag: str) -> str | None:
    """``path`` if it exists, else an error naming the flag."""
    if path is not None and not Path(path).expanduser().exists():
        raise OptionError(f"{flag} {path}: no such file or directory")
    return path


def _ids(values: list[str]) -> list[int]:
    from ._ids import as_ids

    return as_ids(values, what="neuron ids").tolist()


def _seed(args: argparse.Namespace) -> int:
    """``--seed``, or a drawn seed that is printed so the run can be repeated."""
    from ._draw import resolve_seed

    if args.seed is not None:
        return resolve_seed(args.seed)
    seed = resolve_seed(None)
    print(
        f"synframe {args.command}: seed {seed} (drawn; pass --seed {seed} to repeat)",
        file=sys.stderr,
    )
    return seed


def _load_stats(path: str):
    import synframe as sf

    return sf.load_pathway_stats(_existing(path, "--stats"))


def _table_format(output: str) -> str:
    """The suffix of ``--output`` that names its format (an error for an unknown one)."""
    name = output.lower()
    for suffix in sorted(TABLE_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    raise OptionError(
        f"--output {output}: unknown table format; end the name with one of "
        f"{', '.join(TABLE_SUFFIXES)}"
    )


def _writable(output: str, flag: str = "--output") -> str:
    """``output`` if a file can be written there (its folder exists), else a usage error."""
    path = Path(output).expanduser()
    if path.is_dir():
        raise OptionError(f"{flag} {output} is a directory; give a file name")
    folder = path.parent
    if not folder.is_dir():
        raise OptionError(f"{flag} {output}: the folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK):
        raise OptionError(f"{flag} {output}: the folder {folder} is not writable")
    return output


def _write_table(df, output: str) -> None:
    """Write a table in the format its suffix names (atomically: a temporary file, then a rename)."""
    suffix = _table_format(output)
    try:
        with staged_file(Path(output).expanduser()) as tmp:
            if suffix in (".parquet", ".pq"):
                df.to_parquet(tmp)
            elif suffix in (".feather", ".arrow"):
                df.reset_index(drop=True).to_feather(tmp)
            else:
                df.to_csv(tmp, index=False, compression="gzip" if suffix == ".csv.gz" else None)
    except OSError as exc:
        raise OSError(f"--output {output}: cannot write it ({exc.strerror or exc})") from None


def _resolution(args: argparse.Namespace) -> list[float] | None:
    """``--resolution``: nm per voxel, one value (x = y = z) or three (x y z)."""
    res = getattr(args, "resolution", None)
    if res is not None and len(res) not in (1, 3):
        raise OptionError(
            f"--resolution {' '.join(f'{r:g}' for r in res)}: give one size (nm per voxel along "
            "x, y and z) or three (x y z), e.g. --resolution 4 4 40"
        )
    return res


def _local_store(path: str, resolution: list[float] | None, table: str | None = None):
    """``--source PATH`` as a local store, its positions scaled to nm by ``--resolution``.

    A dump whose positions are in CAVE layout (``pre_pt_position_x`` ..., usually voxels) needs
    ``--resolution``; a store built with ``LocalStore.build`` recorded its own, which a different
    ``--resolution`` would contradict.
    """
    import numpy as np

    from .sources.local import LocalStore

    store = LocalStore(path, resolution=1.0 if resolution is None else resolution, table=table)
    recorded = " ".join(f"{r:g}" for r in store.resolution)
    if store.indexed and resolution is not None:
        if not np.allclose(np.broadcast_to(resolution, (3,)), store.resolution):
            raise OptionError(
                f"--resolution {' '.join(f'{r:g}' for r in resolution)}: --source {path} is a "
                f"store built with resolution {recorded} nm, which it applies; drop --resolution"
            )
    elif resolution is None and store._layout.cave_positions:
        raise OptionError(
            f"--source {path}: positions are in CAVE layout, usually voxels; give their size in "
            "nm with --resolution (e.g. --resolution 4 4 40 for FlyWire/MICrONS voxels, "
            "--resolution 1 if they are nm already)"
        )
    return store


def _local_only(args: argparse.Namespace, what: str) -> None:
    """Refuse ``--resolution`` / ``--table`` for a ``--source`` that is not a local dump."""
    given = [flag for flag in ("--resolution", "--table") if getattr(args, flag[2:]) is not None]
    if given:
        raise OptionError(
            f"{' and '.join(given)} {'apply' if len(given) > 1 else 'applies'} to a local dump "
            f"given with --source; --source {args.source or ''} {what}".replace("  ", " ")
        )


def _source(args: argparse.Namespace):
    """``--source`` (``--population`` for SONATA circuits, ``--resolution`` for local dumps) as a
    synapse source."""
    import synframe as sf

    resolution = _resolution(args)
    if args.source is None:
        if args.population is not None:
            raise OptionError("--population needs --source CIRCUIT_CONFIG (a SONATA circuit)")
        _local_only(args, "is not given (the embedded example store has its own)")
        return None
    path = Path(args.source).expanduser()
    if not path.exists():
        from .errors import SourceError

        _local_only(args, "is no file (a CAVE datastack serves positions in nm)")  # offline
        try:
            return sf.sources.as_source(args.source)  # a known CAVE datastack name
        except SourceError as exc:
            raise OptionError(f"--source {args.source}: {exc}") from None
    if path.suffix == ".json" and path.exists():
        _local_only(args, "is a SONATA circuit, whose positions are in its own units")
        from .sonata._circuit import Circuit

        populations = sorted(Circuit(path).edge_files)
        if args.population is not None and args.population not in populations:
            raise OptionError(
                f"--population {args.population}: no such edge population in --source "
                f"{args.source}; it has {', '.join(populations)}"
            )
        if args.population is None and len(populations) > 1:
            raise OptionError(
                f"--source {args.source} has {len(populations)} edge populations; choose one with "
                f"--population ({', '.join(populations)})"
            )
        return sf.sources.SonataSource(path, args.population)
    if args.population is not None:
        raise OptionError(
            f"--population applies to SONATA circuits; --source {args.source} is not a "
            "circuit_config.json"
        )
    return _local_store(args.source, resolution, args.table)


# --- commands -----------------------------------------------------------------------------------


def _demo(args: argparse.Namespace) -> int:
    """Fetch, clean, attach, parameterize and write the embedded MICrONS example neuron as SONATA."""
    import synframe as sf

    from .sonata._synaptome_files import check_replaceable

    check_replaceable(Path(args.output).expanduser().resolve(), True)  # before any work
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
    seed = _seed(args)
    syn = syn.syn.parameterize(stats, by="synapse_class", types=classes, seed=seed)
    summary = " ".join(sf.pathways.summary(stats).split())
    print(f"  parameterize {len(syn):>6} synapses, seed {seed}; {summary}")
    src = classes.reindex(syn.pre).to_numpy()
    table = syn.assign(src=src).groupby("src")["conductance"].agg(["size", "mean", "std"])
    for cls, row in table.iterrows():
        print(
            f"    from {cls:<18} {int(row['size']):>5} synapses, "
            f"conductance {row['mean']:.2f} ± {row['std']:.2f}"
        )
    syn = syn.syn.annotate(classes.rename_axis("root_id").reset_index(), columns="synapse_class")
    config = sf.write_synaptome(syn, args.output, neurons=neuron, overwrite=True)
    back = sf.read_edges(config)
    print(
        f"  SONATA       {len(back):>6} afferent synapses from {back.pre.nunique()} virtual "
        f"partners -> {config}"
    )
    return 0


def _parameterize(args: argparse.Namespace) -> int:
    import synframe as sf

    from .sonata._circuit import Circuit

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


@contextlib.contextmanager
def _local_cluster(workers: int, memory_limit: str):
    """A dask.distributed client on ``workers`` local worker processes (None for 0)."""
    if not workers:
        yield None
        return
    import distributed

    with (
        distributed.LocalCluster(
            n_workers=workers, threads_per_worker=1, memory_limit=memory_limit,
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):  # fmt: skip
        yield client


def _fit_stats(args: argparse.Namespace) -> int:
    import pandas as pd

    import synframe as sf

    from .sonata._circuit import Circuit

    circuit = Circuit(_existing(args.circuit_config, "CIRCUIT_CONFIG"))
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
    _writable(args.output)
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


def _populations(circuit, given: list[str] | None) -> list[str]:
    """``--populations``: every one an edge population of the circuit (default: all of them)."""
    known = sorted(circuit.edge_files)
    unknown = [p for p in given or [] if p not in circuit.edge_files]
    if unknown:
        raise OptionError(
            f"--populations {' '.join(unknown)}: no such edge population; the circuit has "
            f"{', '.join(known)}"
        )
    return list(dict.fromkeys(given)) if given else known


def _fetch(args: argparse.Namespace) -> int:
    import synframe as sf

    ids = _ids(args.ids)
    _table_format(args.output)  # refuse an unknown format before fetching, not after
    _writable(args.output)
    if args.no_pre and args.no_post:
        raise OptionError("--no-pre and --no-post together leave nothing to fetch; drop one")
    syn = sf.fetch(
        ids, source=_source(args), pre=not args.no_pre, post=not args.no_post,
        filtered=not args.unfiltered, min_score=args.min_score, transmitters=args.transmitters,
        neuropils=args.neuropils, materialization=args.materialization,
        batch_size=args.batch_size, progress=False,
    )  # fmt: skip
    if len(syn) == 0 and not args.allow_empty:
        print(
            f"synframe fetch: error: no synapses found for {len(ids)} neuron id(s) in "
            f"{syn.attrs.get('source')}; nothing written (pass --allow-empty to write an empty "
            "table)",
            file=sys.stderr,
        )
        return 1
    _write_table(syn, args.output)
    print(f"{len(syn)} synapses -> {args.output}")
    return 0


def _synaptome_skeletons(args: argparse.Namespace, ids: list[int]):
    """The skeletons for ``synframe synaptome``: --skeleton files, or the embedded example's."""
    import navis

    import synframe as sf

    from .units import neuron_scale_nm

    if not args.skeleton:
        if args.skeleton_units:
            raise OptionError("--skeleton-units needs --skeleton FILE.swc")
        if args.source is None and ids == [sf.datasets.EXAMPLE_ROOT_ID]:
            return navis.NeuronList([sf.datasets.example_neuron()])
        return None
    files = [Path(f) for f in args.skeleton]
    by_stem = {f.stem: f for f in files}
    if len(files) == 1 and len(ids) == 1 and files[0].stem != str(ids[0]):
        by_stem = {str(ids[0]): files[0]}
    missing = [i for i in ids if str(i) not in by_stem]
    extra = sorted(set(by_stem) - {str(i) for i in ids})
    if missing or extra:
        raise OptionError(
            f"--skeleton: name each file <neuron id>.swc (no skeleton for {missing}; files not "
            f"matching an id: {extra}); one file for one id may have any name"
        )
    out = []
    for i in ids:
        f = by_stem[str(i)]
        if not f.is_file():
            raise OptionError(f"--skeleton: {f} does not exist")
        try:
            n = navis.read_swc(str(f), read_meta=True)
        except Exception as exc:
            raise OptionError(f"--skeleton: cannot read {f} as SWC: {exc}") from None
        n.id = i
        if args.skeleton_units:
            try:
                n.units = args.skeleton_units
                neuron_scale_nm(n)
            except Exception:
                raise OptionError(
                    f"--skeleton-units {args.skeleton_units!r} is not a length unit; give e.g. "
                    "nm, um or '8 nm'"
                ) from None
        elif str(getattr(n, "units", None)) in ("None", "dimensionless", "1 dimensionless"):
            raise OptionError(
                f"--skeleton: {f} does not say its units; pass --skeleton-units (e.g. nm, um, '8 nm')"
            )
        out.append(n)
    return navis.NeuronList(out)


def _read_types(path: str):
    """``--types``: a CSV with the neuron id in its first column (read as text, never float)."""
    import pandas as pd

    _existing(path, "--types")
    try:
        types = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, OSError, pd.errors.ParserError) as exc:  # also UnicodeDecodeError
        raise OptionError(
            f"--types {path}: not a readable CSV ({type(exc).__name__}: {exc})"
        ) from None
    if types.shape[1] < 2:
        raise OptionError(
            f"--types {path}: needs a neuron id column and a type column, found {list(types.columns)}"
        )
    dup = sorted(set(types.columns[types.columns.duplicated()]))
    if dup:
        raise OptionError(f"--types {path}: repeated column names {dup}")
    return types


def _synaptome(args: argparse.Namespace) -> int:
    """Every input checked (ids, skeletons, types, stats, output) before fetching anything."""
    import synframe as sf

    from ._ids import as_ids
    from .sonata._synaptome_files import check_replaceable
    from .units import length_nm

    ids = _ids(args.ids)
    if args.max_distance.strip().lower() == "none":
        args.max_distance = None
    else:
        length_nm(args.max_distance, name="--max-distance")
    _resolution(args)
    output = Path(args.output).expanduser().resolve()
    if output.exists() and not args.overwrite:
        raise OptionError(f"--output {args.output} exists; pass --overwrite to replace it")
    check_replaceable(output, args.overwrite)
    skeletons = _synaptome_skeletons(args, ids)
    if args.types:
        types = _read_types(args.types)
        idc = types.columns[0]
        types[idc] = as_ids(types[idc], what=f"--types {args.types} column {idc!r}")
        if args.by not in types.columns:
            raise OptionError(
                f"--types {args.types} has no column {args.by!r} (--by); its columns: "
                f"{list(types.columns)}"
            )
        repeated = types[idc][types[idc].duplicated()].unique()[:5].tolist()
        if repeated:
            raise OptionError(f"--types {args.types}: neuron ids {repeated} appear more than once")
        types = types.set_index(idc)[args.by]
    elif args.source is None and args.by == "synapse_class":
        types = sf.datasets.example_synapse_classes()
    else:
        raise OptionError(f"pass --types CSV (first column: neuron id, and a {args.by!r} column)")
    stats = _load_stats(args.stats) if args.stats else None
    if stats is None:
        if args.by != "synapse_class":
            raise OptionError(
                "pass --stats stats.json (the example model types by synapse_class only)"
            )
        stats = sf.datasets.example_pathway_stats()
    seed = _seed(args)
    syn = sf.fetch(ids, source=_source(args), progress=False)
    syn = sf.clean(syn, neurons=skeletons, max_distance=args.max_distance, min_score=args.min_score)
    syn = sf.parameterize(syn, stats, by=args.by, types=types, seed=seed)
    syn = sf.annotate(
        syn, types.rename(args.by).rename_axis("root_id").reset_index(), columns=args.by
    )
    neurons = ids if skeletons is None else skeletons
    config = sf.write_synaptome(syn, args.output, neurons=neurons, overwrite=args.overwrite)
    print(config)
    return 0


def _read_table(path: str, flag: str):
    """A table file by its suffix (parquet, feather, csv); id-like columns stay exact ints."""
    import pandas as pd

    _existing(path, flag)
    suffix = _table_format(path)
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if suffix in (".feather", ".arrow"):
        return pd.read_feather(path)
    return pd.read_csv(path)  # ints are parsed as int64, never through float


def _read_neurons(path: str):
    """``--neurons``: a table with a neuron id column of exact 64-bit ids."""
    from ._ids import ID_CANDIDATES, as_ids, id_column_of
    from .errors import SchemaError

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

    from ._ids import as_ids

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


# --- parser -------------------------------------------------------------------------------------


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
        _demo,
        "the full pipeline on the embedded MICrONS example neuron",
        _demo.__doc__,
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
        _parameterize,
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
        _fit_stats,
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

    fe = command(
        "fetch",
        _fetch,
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
        _circuit,
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
        _synaptome,
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


# --- errors in the words of the command line ------------------------------------------------------


#: library keywords a command passes under another flag's name (``types=`` is ``--neurons`` in
#: ``synframe circuit``); applied before the flags named like their keyword
_TABLE = {
    "choose one with LocalStore(path, table=...)": "choose one with --table",
    ": no table ": ": --table: no table ",
}
KEYWORDS = {
    "fetch": {"filtered=False": "--unfiltered", "pre=False": "--no-pre", "post=False": "--no-post"}
    | _TABLE,
    "circuit": {"types=": "--neurons ", "`neurons`": "--neurons", "types ids": "--neurons ids"}
    | _TABLE,
    "synaptome": {"types=": "--types ", "types ids": "--types ids", "neurons=": "--skeleton "}
    | _TABLE,
    "parameterize": {"scheduler=": "--workers "},
}

#: a Python call in a library message (``LocalStore(path, table=...)``): left as it is
_CALL = re.compile(r"\b[A-Za-z_][\w.]*\((?:[^()]|\([^()]*\))*\)")


def _flag_words(message: str, parser: argparse.ArgumentParser | None) -> str:
    """Python keywords in a library message (``overwrite=True``) as the command's flags."""
    if parser is None:
        return message
    command = parser.prog.split()[-1]
    for keyword, flag in KEYWORDS.get(command, {}).items():
        message = message.replace(keyword, flag)
    calls = _CALL.findall(message)
    for k, call in enumerate(calls):  # a repr or a Python example is not a flag
        message = message.replace(call, f"\0{k}\0", 1)
    for action in parser._actions:
        longs = [s for s in action.option_strings if s.startswith("--")]
        if not longs or action.dest in ("help", "verbose"):
            continue
        flag, dest = longs[0], re.escape(action.dest)
        message = re.sub(rf"(?<!-)\b{dest}=True\b", flag, message)
        message = re.sub(rf"(?<!-)\b{dest}=(False|None)\b", f"no {flag}", message)
        message = re.sub(rf"(?<!-)\b{dest}=", f"{flag} ", message)
        if "_" in action.dest:  # unambiguous names: chunk_size, min_score ...
            message = re.sub(rf"(?<!-)\b{dest}\b", flag, message)
    for k, call in enumerate(calls):
        message = message.replace(f"\0{k}\0", call, 1)
    return message


def _subparser(parser: argparse.ArgumentParser, command: str | None):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices.get(command)
    return None


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``synframe`` console script."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) and usage errors (2): already printed
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    if args.command is None:
        parser.print_help()
        return 0
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    where = f"synframe {args.command}"
    words = _subparser(parser, args.command)
    try:
        with _signals_interrupt() as received:
            try:
                return args.func(args)
            except KeyboardInterrupt:  # staged outputs were removed on the way up
                signum = received[-1] if received else signal.SIGINT
                name = signal.Signals(signum).name
                print(
                    f"{where}: interrupted by {name}; no half-written output left", file=sys.stderr
                )
                return 128 + signum
    except USAGE_ERRORS as exc:
        message, code = f"{where}: error: {_flag_words(str(exc), words)}", 2
    except SynframeError as exc:
        message, code = f"{where}: error: {_flag_words(str(exc), words)}", 1
    except OSError as exc:
        message, code = f"{where}: error: {exc}", 1
    except Exception as exc:  # a bug: one line, the traceback on request
        if os.environ.get("SYNFRAME_TRACEBACK"):
            raise
        message, code = (
            f"{where}: internal error: {type(exc).__name__}: {exc} -- please report it; "
            "SYNFRAME_TRACEBACK=1 shows the traceback",
            1,
        )
    if os.environ.get("SYNFRAME_TRACEBACK"):
        import traceback

        traceback.print_exc()
    print(_one_line(message), file=sys.stderr)
    return code


@contextlib.contextmanager
def _signals_interrupt():
    """SIGTERM (and SIGINT) raise KeyboardInterrupt in the command, so that every staged output
    (``staged_dir`` / ``staged_file``) is removed on the way up instead of being left half-written
    by a process killed where it stood. Yields the list of signals received; a second signal while
    the first unwinds is ignored so the clean-up can finish. Only in the main thread (where Python
    delivers signals); the previous handlers are restored."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def interrupt(signum, frame):
        if received:
            return
        received.append(signum)
        raise KeyboardInterrupt

    wanted = (signal.SIGINT, signal.SIGTERM)
    before = {s: signal.getsignal(s) for s in wanted}
    for s in wanted:
        if before[s] is not signal.SIG_IGN:  # nohup'd and the like keep ignoring it
            signal.signal(s, interrupt)
    try:
        yield received
    finally:
        for s, handler in before.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)


def _one_line(message: str) -> str:
    """A multi-line library message (``format_problems``) as one line: ``header: a; b``."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if len(lines) < 2:
        return message.strip()
    rest = [line[2:] if line.startswith("- ") else line for line in lines[1:]]
    return f"{lines[0]} {'; '.join(rest)}"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
