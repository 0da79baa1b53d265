"""synframe's log: ``logging.getLogger("synframe")``, and [`set_loglevel`][synframe._logging.set_loglevel] (as navis has)."""

from __future__ import annotations

import logging

from .errors import OptionError

__all__ = ["set_loglevel"]

_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def set_loglevel(level: str | int = "INFO") -> None:
    """Show synframe's log messages at ``level`` and above (``"INFO"``: what each stage did).

    The first call gives the ``synframe`` logger its own handler (to stderr), so messages show in a
    notebook without configuring ``logging``. (They still reach the root logger too: if you
    configured root logging at that level yourself, you don't need this function.)

    Examples
    --------
    >>> import synframe as sf
    >>> sf.set_loglevel("INFO")
    >>> sf.set_loglevel("WARNING")  # back to warnings only
    >>> sf.set_loglevel("LOUD")
    Traceback (most recent call last):
    ...
    synframe.errors.OptionError: level must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL ...
    """
    if isinstance(level, str) and level.upper() in _LEVELS:
        level = level.upper()
    elif isinstance(level, bool) or not isinstance(level, int) or level < 0:
        raise OptionError(
            f"level must be one of {', '.join(_LEVELS)} (or a logging level number), got {level!r}"
        )
    logger = logging.getLogger("synframe")
    logger.setLevel(level)
    if not any(getattr(h, "_synframe", False) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler._synframe = True
        handler.setFormatter(logging.Formatter("%(levelname)s synframe: %(message)s"))
        logger.addHandler(handler)
