"""The ``synframe`` command line.

``synframe demo`` runs the README's main job on the embedded example data; ``synframe COMMAND
--help`` documents every command. Exit codes: 0 success, 1 the command ran and failed (on the data,
the model, the circuit), 2 the command line is wrong (an unknown or missing flag, a bad value, a
missing input file), 130 / 143 interrupted by SIGINT / SIGTERM (the output being written is
removed; what was at ``--output`` before stays). Errors are one line naming the flag to change; a
traceback is printed only with ``SYNFRAME_TRACEBACK=1``.

Modules: ``_args`` (value types, shared checks, ``--source`` and friends), ``_em`` (demo, fetch,
synaptome), ``_circuits`` (parameterize, fit-stats, circuit), ``_parser`` (the argparse tree) and
this one (``main``: errors in the command line's words, signals). Startup is kept fast: nothing
heavy is imported at module level; each command imports what it uses.
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

from ..errors import SynframeError
from ._args import USAGE_ERRORS
from ._parser import build_parser

__all__ = ["build_parser", "main"]


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
    "demo": {"overwrite=True replaces only": "the demo replaces only"},
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
        else:  # "seed must be ..." opening a message or a clause
            message = re.sub(rf"(?:(?<=^)|(?<=: )|(?<=; )){dest} must\b", f"{flag} must", message)
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
    if not args.verbose:  # urllib3's retry lines before the one-line error: only with -v
        logging.getLogger("urllib3").setLevel(logging.ERROR)
    try:
        with _signals_interrupt() as received, _one_line_warnings(where, words):
            try:
                _import_deferring_signals(HEAVY_IMPORTS.get(args.command, ()))
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
def _one_line_warnings(where: str, words):
    """Warnings as the command's own lines (``synframe X: warning: ...``), not Python's
    ``file:line: Category: message`` and the source line."""
    import warnings

    def show(message, category, filename, lineno, file=None, line=None):
        text = _one_line(_flag_words(str(message), words))
        print(f"{where}: warning: {text}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


#: what a command will import that must not see a signal mid-import: navis brings trimesh, which
#: wraps optional imports in ``except BaseException`` and so swallows the KeyboardInterrupt (the
#: command then ran on, ignoring ^C, or failed on a half-imported networkx)
HEAVY_IMPORTS = {"demo": ("navis",), "synaptome": ("navis",)}


def _import_deferring_signals(names) -> None:
    """Import ``names`` with SIGINT/SIGTERM held back; one that came meanwhile is delivered right
    after, in synframe's code, where it interrupts the command cleanly."""
    if not names or threading.current_thread() is not threading.main_thread():
        return
    import importlib

    held = {signal.SIGINT, signal.SIGTERM}
    before = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        for name in names:
            importlib.import_module(name)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


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
