"""The one place where flaxen reaches into JAX's private traceback machinery.

JAX filters its own frames out of tracebacks that cross a JAX API boundary
(``jax.jit``, ``jax.grad``, ...; see the ``jax_traceback_filtering`` option).
The list of hidden paths and the ``api_boundary`` decorator live in
``jax._src.traceback_util``, which has no public counterpart. Everything that
uses them goes through :func:`private_traceback_util`, which returns ``None``
when a JAX release no longer has them; callers then fall back to flaxen's own
filtering (see ``_exclusions.py``).
"""

from __future__ import annotations

from types import ModuleType


def private_traceback_util() -> ModuleType | None:
    """JAX's private traceback module, if it still has what flaxen uses."""
    try:
        from jax._src import traceback_util
    except ImportError:
        return None
    paths = getattr(traceback_util, "_exclude_paths", None)
    boundary = getattr(traceback_util, "api_boundary", None)
    if not isinstance(paths, list) or not callable(boundary):
        return None
    return traceback_util


def register_source_info_exclusion(path: str) -> None:
    """Hides ``path`` from the source locations JAX reports (public API)."""
    try:
        from jax.extend import source_info_util
    except ImportError:
        return
    source_info_util.register_exclusion(path)
