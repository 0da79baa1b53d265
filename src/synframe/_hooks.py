"""Post-import hooks: run a callback once a module is imported (at once if it already is).

synframe registers its ``.syn`` accessors on pandas, xarray, navis and dask classes without importing
those libraries itself: importing navis (~3 s) or dask just to register an accessor would make
``import synframe`` and the command line slow. A callback runs right after the module's own code
has run, whichever of synframe and the library is imported first.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import sys
import threading
from collections.abc import Callable

__all__ = ["when_imported"]

_lock = threading.RLock()
_pending: dict[str, list[Callable[[object], None]]] = {}


def when_imported(name: str, callback: Callable[[object], None]) -> None:
    """Call ``callback(module)`` once module ``name`` is imported; now, if it already is."""
    with _lock:
        module = sys.modules.get(name)
        if module is None or getattr(getattr(module, "__spec__", None), "_initializing", False):
            _pending.setdefault(name, []).append(callback)
            if not any(isinstance(f, _Finder) for f in sys.meta_path):
                sys.meta_path.insert(0, _Finder())
            return
    callback(module)


def _fire(name: str) -> None:
    with _lock:
        callbacks = _pending.pop(name, [])
    for callback in callbacks:
        callback(sys.modules[name])


class _Finder(importlib.abc.MetaPathFinder):
    """Finds a watched module with the other finders and wraps its loader's ``exec_module``."""

    def find_spec(self, fullname, path, target=None):
        if fullname not in _pending:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        original = loader.exec_module

        def exec_module(module):
            original(module)
            with contextlib.suppress(AttributeError):
                del loader.exec_module  # back to the loader's own method
            _fire(fullname)

        try:
            loader.exec_module = exec_module
        except AttributeError:  # pragma: no cover - a loader with __slots__: no hook possible
            return spec
        return spec
