"""Per-thread context and per-instance bookkeeping of Modules.

The *context* records which Module methods are running (so a Module
constructed inside ``setup`` or a ``@compact`` method knows its parent), the
active method interceptors, and the ``capture_intermediates`` filters of the
``apply`` calls in progress.

The *state* of a Module instance records whether ``setup`` ran, whether a
``@compact`` method is running, and which names its children, parameters and
variables took — per *call generation*, so a compact method that runs again
reuses the names of its previous run instead of clashing with them.
"""

from __future__ import annotations

import threading
from typing import Any

# Kinds of names a module hands out (as NameInUseError words them).
SUBMODULE = "submodule"
PARAM = "param"
VARIABLE = "variable"


class _Context(threading.local):
    def __init__(self) -> None:
        self.module_stack: list[Any] = [None]
        self.interceptors: list[Any] = []
        self.capture_stack: list[Any] = []


context = _Context()


class ModuleState:
    """Mutable bookkeeping of one Module instance (not part of its identity)."""

    __slots__ = (
        "adopted",
        "autoname_cursor",
        "children",
        "generation",
        "in_compact_method",
        "in_setup",
        "is_initialized",
        "names",
        "originals",
        "setup_called",
        "setup_reservations",
    )

    def __init__(self) -> None:
        self.in_compact_method = False
        self.in_setup = False
        self.setup_called = False
        self.is_initialized = False
        self.autoname_cursor: dict[str, int] = {}
        # name -> {holder: generation}; the holder is None for a child module,
        # the collection for a variable (a parameter is a 'params' variable).
        self.names: dict[str, dict[str | None, int]] = {}
        # name -> bound child module (for repr and module_paths).
        self.children: dict[str, Any] = {}
        # Incremented at each outermost entry into a compact method; 0 = setup.
        self.generation = 0
        self.setup_reservations: dict[str, set[str | None]] | None = None
        # Constructor arguments replaced by adopted (bound) clones: clone() uses these.
        self.originals: dict[str, Any] | None = None
        # On a root module only: id(orphan) -> (orphan, its adopted clone), so an
        # orphan handed to several modules of one tree is adopted once and shared.
        self.adopted: dict[int, tuple[Any, Any]] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, value)
