"""Atomic file and directory writes: write aside, then ``os.replace`` into place."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _aside(path: Path, what: str) -> Path:
    return path.parent / f".{path.name}.{what}-{uuid.uuid4().hex[:8]}"


@contextmanager
def staged_dir(
    path: str | os.PathLike, *, staging: Path | None = None, prepared: bool = False
) -> Iterator[Path]:
    """Yield an empty sibling directory to fill; on success it replaces ``path``, on error it goes.

    An existing ``path`` is moved aside first and deleted only after the new one is in place, so at
    every moment ``path`` is either the old or the new directory, never a half-written one. What
    was at ``path`` -- a directory, a file or a symbolic link (the link goes, not its target) --
    leaves no copy behind. Callers decide whether replacing it is allowed.

    ``staging`` names the directory to fill (by default a new random sibling). A task that may be
    run again after its process was killed (a dask worker restarted by its nanny) names it after
    its own write, so a later attempt deletes what a killed one left instead of adding a copy.
    ``prepared``: ``staging`` exists and holds what earlier tasks of the write put there; it is
    kept and completed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if staging is None:
        staging = _aside(path, "staging")
        staging.mkdir()
    elif not prepared:
        remove(staging)  # a killed attempt of the same write
        staging.mkdir()
    old = None
    try:
        yield staging
        if path.exists() or path.is_symlink():
            old = _aside(path, "old")
            os.replace(path, old)
        os.replace(staging, path)
    except BaseException:  # also KeyboardInterrupt / the CLI's SIGTERM: put back what was there
        if old is not None and (old.exists() or old.is_symlink()) and not path.exists():
            os.replace(old, path)
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if old is not None:
        try:
            remove(old)
        except BaseException:  # interrupted while deleting the old copy: finish, then go on up
            remove(old)
            raise


def remove(path: Path) -> None:
    """Delete a file, a symbolic link (not its target) or a directory tree."""
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def staged_file(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a sibling temporary file name to write; on success it replaces ``path``."""
    path = Path(path)
    tmp = _aside(path, "tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
