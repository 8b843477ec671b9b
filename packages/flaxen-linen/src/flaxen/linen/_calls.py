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
   interceptors inside a ``jax.named_scope`` (``'<name>'`` for ``__call__``,
   ``'<name>.<method>'`` otherwise), and records the output in
   ``intermediates`` when ``capture_intermediates`` asks for it.

``setup`` itself runs the same way (``run_setup``): interceptors see it, and
submodules built in it get its module as parent however it was triggered.
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


def scope_name(module: Any, name: str) -> str:
    """The ``jax.named_scope`` of a method call: ``'<module name>'`` or ``'<name>.<method>'``.

    Unnamed (root) modules go by their class name.
    """
    base = module.__dict__.get("name") or type(module).__name__
    return base if name == "__call__" else f"{base}.{name}"


def invoke(module: Any, fun: Callable[..., Any], name: str, args: tuple, kwargs: dict) -> Any:
    """Calls ``fun(module, ...)`` through the interceptors, in a named scope when bound."""
    if module.__dict__.get("scope") is not None and _flags["flaxen_profile"]:
        with jax.named_scope(scope_name(module, name)):
            if context.interceptors:
                return run_intercepted(fun, module, name, args, kwargs)
            return fun(module, *args, **kwargs)
    if context.interceptors:
        return run_intercepted(fun, module, name, args, kwargs)
    return fun(module, *args, **kwargs)


def run_setup(module: Any, setup: Callable[..., Any]) -> Any:
    """Runs ``setup`` as a method of ``module``: submodules built in it get ``module`` as parent.

    Interceptors see it and ``capture_intermediates`` filters may record it.
    """
    stack = context.module_stack
    stack.append(module)
    try:
        y = invoke(module, setup, "setup", (), {})
        if context.capture_stack:
            _maybe_capture(module, "setup", y)
        return y
    finally:
        stack.pop()


def call_method(
    module: Any, fun: Callable[..., Any], name: str, flags: int, args: tuple, kwargs: dict
) -> Any:
    """Runs ``fun(module, *args, **kwargs)`` as a wrapped Module method."""
    attrs = module.__dict__
    state = attrs.get("_state")
    if state is None:
        # A method called by an overridden __post_init__ before it calls
        # super().__post_init__() (or by one that never does): a plain call,
        # except that a compact method needs the module bound.
        if flags & COMPACT:
            raise IncorrectPostInitOverrideError()
        if context.interceptors:
            return run_intercepted(fun, module, name, args, kwargs)
        return fun(module, *args, **kwargs)
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
        if scope is not None and not state.setup_called and not flags & LIFTED:
            # (A lifted method runs setup on the module re-created inside the
            # transform, not on this outer instance.)
            module._try_setup()
        if context.interceptors or (scope is not None and _flags["flaxen_profile"]):
            y = invoke(module, fun, name, args, kwargs)
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
    """The wrapper installed on the class for a user method.

    ``name`` is what interceptors, ``capture_intermediates`` and profiles see:
    the function's own name (``__helper`` rather than ``_Cls__helper``).
    """
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
