"""Progress bars for the stages that can take more than a few seconds.

One place decides how they look and when they show: a tqdm bar that appears only after 2 seconds
(quick calls stay silent), never when ``progress=False``, and not when stderr is not a terminal
(logs and CI) unless forced with ``SYNFRAME_PROGRESS=1``.
"""

from __future__ import annotations

import os

__all__ = ["bar"]


def bar(total: int | None, desc: str, progress: bool = True, *, unit: str = "it"):
    """A progress bar (a tqdm object; use as a context manager, ``.update(n)``)."""
    from tqdm.auto import tqdm

    if not isinstance(progress, bool):
        from .errors import OptionError

        raise OptionError(f"progress must be True or False, got {progress!r}")
    forced = os.environ.get("SYNFRAME_PROGRESS") == "1"
    disable = True if not progress else (False if forced else None)  # None: only on a terminal
    return tqdm(total=total, desc=desc, unit=unit, disable=disable, delay=0 if forced else 2.0,
                leave=False, dynamic_ncols=True)  # fmt: skip
