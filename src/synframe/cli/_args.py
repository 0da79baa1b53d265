"""What the commands share: argparse value types, the help formatter, checks of paths and
options, and ``--source`` / ``--resolution`` / ``--table`` / ``--populations`` as synframe objects.

Imports nothing heavy at module level (``synframe --help`` stays fast)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from pathlib import Path

from .._io import staged_file
from ..errors import IdError, OptionError, UnitsError

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


def _existing(path: str | None, flag: str) -> str | None:
    """``path`` if it exists, else an error naming the flag."""
    if path is not None and not Path(path).expanduser().exists():
        raise OptionError(f"{flag} {path}: no such file or directory")
    return path


def _ids(values: list[str]) -> list[int]:
    from .._ids import as_ids

    return as_ids(values, what="neuron ids").tolist()


def _seed(args: argparse.Namespace) -> int:
    """``--seed``, or a drawn seed that is printed so the run can be repeated."""
    from .._draw import resolve_seed

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


def _writable(output: str, flag: str = "--output", *, overwrite: bool = True, inputs=()) -> str:
    """``output`` if a file can be written there (its folder exists), else a usage error.

    An existing file is replaced only with ``overwrite``; a file that is one of ``inputs`` (an
    ``(flag, path)`` pair for each file the command reads; a folder counts with everything in it)
    is never replaced: the command would destroy what it reads.
    """
    path = Path(output).expanduser()
    if path.is_dir():
        raise OptionError(f"{flag} {output} is a directory; give a file name")
    target = path.resolve()
    for in_flag, source in inputs:
        source = Path(source).expanduser().resolve()
        if target == source or source in target.parents:
            raise OptionError(
                f"{flag} {output} is what {in_flag} reads ({source}); write to another file"
            )
    if (path.exists() or path.is_symlink()) and not overwrite:
        raise OptionError(f"{flag} {output} exists; pass --overwrite to replace it")
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

    from ..sources.local import LocalStore

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
        from ..errors import SourceError

        _local_only(args, "is no file (a CAVE datastack serves positions in nm)")  # offline
        try:
            return sf.sources.as_source(args.source)  # a known CAVE datastack name
        except SourceError as exc:
            raise OptionError(f"--source {args.source}: {exc}") from None
    if path.suffix == ".json" and path.exists():
        _local_only(args, "is a SONATA circuit, whose positions are in its own units")
        from ..sonata._circuit import Circuit

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
            # a free local port: None still binds the scheduler's HTTP server to 8787 and warns when
            # another cluster on the machine holds it
            dashboard_address="127.0.0.1:0",
            # dask's own INFO/WARNING lines (workers starting, shuffles) only with -v
            silence_logs=logging.ERROR if logging.getLogger().level > logging.INFO else False,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):  # fmt: skip
        yield client
