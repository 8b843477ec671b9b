"""What happens when a Module method is called.

User methods (``__call__`` and every public method a subclass defines,
except ``@nowrap`` ones) are wrapped once, when the class is created. A call
of a wrapped method:

1. refuses to run a ``@compact`` method of an unbound Module;
2. on entering a compact method (not recursively), starts a new *call
   generation*: auto-name counters restart, so the same submodules get the
   same names and reuse their variables;
3. pushes the Module on the context stack (submodules constructed now get it
   as parent), runs ``setup`` if it has not run, goes through the active
   interceptors, and records the output in ``intermediates`` when
   ``capture_intermediates`` asks for it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax

from flaxen.configurations._flags import config as _config
from flaxen.errors import CallCompactUnboundModuleError, IncorrectPostInitOverrideError

from ._intercept import run_intercepted
from ._state import context

_flags = _config._values

#: Flags of a wrapped method: it is the ``@compact`` method; it runs a lifted
#: transform (so setup must not run on the outer, un-lifted instance).
COMPACT = 1
LIFTED = 2


def module_state(module: Any) -> Any:
    state = module.__dict__.get("_state")
    if state is None:
        raise IncorrectPostInitOverrideError()
    return state


def call_method(
    module: Any, fun: Callable[..., Any], name: str, flags: int, args: tuple, kwargs: dict
) -> Any:
    """Runs ``fun(module, *args, **kwargs)`` as a wrapped Module method."""
    attrs = module.__dict__
    state = attrs.get("_state")
    if state is None:
        raise IncorrectPostInitOverrideError()
    scope = attrs.get("scope")
    entering = False
    if flags & COMPACT:
        if scope is None:
            raise CallCompactUnboundModuleError()
        if not state.in_compact_method:
            entering = True
            state.in_compact_method = True
            state.generation += 1
            state.autoname_cursor = {}
            saved = state.setup_reservations
            scope.reservations = {k: set(v) for k, v in saved.items()} if saved else {}
    stack = context.module_stack
    stack.append(module)
    try:
        if scope is not None and not state.setup_called:
            module._try_setup(shallow=bool(flags & LIFTED))
        if context.interceptors:
            call = functools.partial(run_intercepted, fun, module, name)
            if scope is not None and _flags["flaxen_profile"]:
                with jax.named_scope(attrs.get("name") or type(module).__name__):
                    y = call(args, kwargs)
            else:
                y = call(args, kwargs)
        elif scope is not None and _flags["flaxen_profile"]:
            with jax.named_scope(attrs.get("name") or type(module).__name__):
                y = fun(module, *args, **kwargs)
        else:
            y = fun(module, *args, **kwargs)
        if context.capture_stack and scope is not None:
            _maybe_capture(module, name, y)
        return y
    finally:
        stack.pop()
        if entering:
            state.in_compact_method = False


def _maybe_capture(module: Any, name: str, y: Any) -> None:
    capture = context.capture_stack[-1]
    if capture is True:
        wanted = name == "__call__"
    elif callable(capture):
        wanted = capture(module, name)
    else:
        wanted = False
    if wanted:
        module.sow("intermediates", name, y)


def wrap_method(fun: Callable[..., Any], name: str) -> Callable[..., Any]:
    """The wrapper installed on the class for a user method."""
    flags = (COMPACT if getattr(fun, "compact", False) else 0) | (
        LIFTED if getattr(fun, "lifted", False) else 0
    )

    @functools.wraps(fun)
    def wrapped(self: Any, *args: Any, **kwargs: Any) -> Any:
        return call_method(self, fun, name, flags, args, kwargs)

    wrapped.method_handler_wrapped = True  # type: ignore[attr-defined]
    wrapped.unwrapped = fun  # type: ignore[attr-defined]
    return wrapped


def unwrap(fun: Any) -> Any:
    """The user's function behind a wrapped method (identity otherwise)."""
    return getattr(fun, "unwrapped", fun)
