"""Which source paths are hidden from tracebacks, and hiding/showing them."""

from __future__ import annotations

import functools
import os
import types
from collections.abc import Callable
from typing import Any, TypeVar

import jax

from flaxen.configurations import flaxen_filter_frames

from . import _jax_hooks

C = TypeVar("C", bound=Callable[..., Any])

# Every path registered by flaxen packages, in registration order.
_exclusions: dict[str, None] = {}
# The subset currently hidden.
_hidden: dict[str, None] = {}


def _normalize(path: str | os.PathLike[str]) -> str:
    # JAX compares against code objects' co_filename, which are absolute paths
    # as imported (symlinks not resolved).
    return os.path.abspath(os.fspath(path))


def _hide(path: str) -> None:
    if path in _hidden:
        return
    _hidden[path] = None
    jax_tb = _jax_hooks.private_traceback_util()
    if jax_tb is not None and path not in jax_tb._exclude_paths:
        jax_tb._exclude_paths.append(path)
    _jax_hooks.register_source_info_exclusion(path)


def _show(path: str) -> None:
    _hidden.pop(path, None)
    jax_tb = _jax_hooks.private_traceback_util()
    if jax_tb is not None:
        while path in jax_tb._exclude_paths:
            jax_tb._exclude_paths.remove(path)
    # JAX offers no way to undo a source-info exclusion; those stay (as in Flax).


def register_exclusion(path: str | os.PathLike[str]) -> None:
    """Registers a file or directory of flaxen internals to hide from tracebacks.

    flaxen packages call this at import time for their internal modules, e.g.
    ``register_exclusion(os.path.dirname(__file__))``. The path is hidden at
    once when the ``flaxen_filter_frames`` flag is on (the default; set
    ``FLAXEN_FILTER_FRAMES=0`` to keep every frame), and is affected by
    :func:`hide_flaxen_in_tracebacks` / :func:`show_flaxen_in_tracebacks`
    later on.

    Frames are removed when an exception crosses a JAX API boundary
    (``jax.jit``, ``jax.grad``, ..., or :func:`api_boundary`), following
    JAX's ``jax_traceback_filtering`` option.

    Args:
      path: a source file, or a directory whose files are all hidden.
    """
    normalized = _normalize(path)
    _exclusions[normalized] = None
    if flaxen_filter_frames.value:
        _hide(normalized)


def hide_flaxen_in_tracebacks() -> None:
    """Hides flaxen's internal stack frames in tracebacks.

    >>> from flaxen import traceback_util
    >>> traceback_util.show_flaxen_in_tracebacks()
    >>> traceback_util.hide_flaxen_in_tracebacks()
    >>> all(path in traceback_util.hidden_paths() for path in traceback_util.registered_paths())
    True
    """
    for path in _exclusions:
        _hide(path)


def show_flaxen_in_tracebacks() -> None:
    """Shows flaxen's internal stack frames in tracebacks.

    >>> from flaxen import traceback_util
    >>> traceback_util.show_flaxen_in_tracebacks()
    >>> traceback_util.hidden_paths()
    ()
    >>> traceback_util.hide_flaxen_in_tracebacks()
    """
    for path in _exclusions:
        _show(path)


def registered_paths() -> tuple[str, ...]:
    """Every path registered with :func:`register_exclusion`."""
    return tuple(_exclusions)


def hidden_paths() -> tuple[str, ...]:
    """The registered paths currently hidden from tracebacks."""
    return tuple(_hidden)


def _is_hidden(filename: str) -> bool:
    return any(
        filename == path or filename.startswith(path.rstrip(os.sep) + os.sep) for path in _hidden
    )


def _filtered(tb: types.TracebackType | None) -> types.TracebackType | None:
    entries = []
    while tb is not None:
        if not _is_hidden(tb.tb_frame.f_code.co_filename):
            entries.append(tb)
        tb = tb.tb_next
    rebuilt = None
    for entry in reversed(entries):
        rebuilt = types.TracebackType(rebuilt, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
    return rebuilt


def _fallback_api_boundary(fun: C) -> C:
    """Removes hidden frames from exceptions leaving ``fun`` (no JAX internals)."""

    @functools.wraps(fun)
    def boundary(*args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True  # pytest and IPython skip this frame
        try:
            return fun(*args, **kwargs)
        except Exception as error:
            if not _hidden or jax.config.jax_traceback_filtering == "off":
                raise
            # Drop this frame too: re-raising adds it back once.
            tb = error.__traceback__
            inner = tb.tb_next if tb is not None else None
            raise error.with_traceback(_filtered(inner)) from error.__cause__

    return boundary  # type: ignore[return-value]


def api_boundary(fun: C) -> C:
    """Marks ``fun`` as a public entry point whose tracebacks are filtered.

    An exception leaving ``fun`` loses the frames of hidden flaxen (and JAX)
    internals, so the last frame shown is the user's code; the full traceback
    stays available as in JAX (``JAX_TRACEBACK_FILTERING=off`` shows it all).
    Module entry points such as ``init`` and ``apply`` use it.

    >>> from flaxen.traceback_util import api_boundary
    >>> @api_boundary
    ... def entry(x):
    ...   return x + 1
    >>> entry(1)
    2
    """
    jax_tb = _jax_hooks.private_traceback_util()
    if jax_tb is None:
        return _fallback_api_boundary(fun)
    return jax_tb.api_boundary(fun)


def _flaxen_core_internals() -> list[str]:
    # flaxen-core's own machinery: the siblings of this package in the same
    # distribution. Other flaxen packages register their internals themselves.
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    core = os.path.join(root, "core")
    return [
        os.path.join(core, "_scope.py"),
        os.path.join(core, "_functional.py"),
        os.path.join(core, "lift"),
        os.path.dirname(os.path.abspath(__file__)),
    ]


for _path in _flaxen_core_internals():
    register_exclusion(_path)
del _path
