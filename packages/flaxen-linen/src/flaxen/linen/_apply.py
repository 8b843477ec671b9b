"""Running Modules: ``init``, ``apply``, ``bind`` and their free-function forms.

``init`` is ``apply`` with no variables, a ``params`` stream and (by default)
every collection but ``intermediates`` mutable. Each call binds a *clone* of
the module to a fresh root scope, so the user's module stays unbound and the
functions stay pure.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import jax

from flaxen import core
from flaxen.core._filters import DenyList, Filter, union_filters
from flaxen.errors import (
    ApplyModuleInvalidMethodError,
    CallUnbindOnUnboundModuleError,
    IncorrectPostInitOverrideError,
    InvalidInstanceModuleError,
)

from . import _naming
from ._intercept import intercept_methods
from ._state import ModuleState, context

_DEFAULT_MUTABLE = DenyList("intermediates")


def _is_module(x: Any) -> bool:
    from ._module import Module

    return isinstance(x, Module)


def check_instance(module: Any) -> None:
    if not _is_module(module):
        raise InvalidInstanceModuleError()


def check_module(module: Any) -> None:
    """What the Module methods check first: an instance, constructed properly.

    Raises:
      InvalidInstanceModuleError: called on the class instead of an instance.
      IncorrectPostInitOverrideError: its ``__post_init__`` never called
        ``super().__post_init__()``.
    """
    check_instance(module)
    if "_state" not in module.__dict__:
        raise IncorrectPostInitOverrideError()


def resolve_method(module: Any, method: Callable[..., Any] | str | None) -> Callable[..., Any]:
    """The function ``apply`` calls as ``fn(bound_module, *args, **kwargs)``.

    Raises:
      ApplyModuleInvalidMethodError: ``method`` is neither a method of the
        module nor a function taking the module as its first argument.
    """
    if method is None:
        method = type(module).__call__
    elif isinstance(method, str):
        attribute = getattr(module, method)
        if not callable(attribute):
            raise ApplyModuleInvalidMethodError(method)
        method = attribute
    if inspect.ismethod(method) and _is_module(method.__self__):
        # A method of this or any other Module instance: its function runs on
        # the applied module.
        return method.__func__
    if not callable(method):
        raise ApplyModuleInvalidMethodError(method)
    if not _takes_arguments(method):
        raise ApplyModuleInvalidMethodError(method)
    return method


# inspect.signature costs tens of microseconds, once per apply otherwise;
# functions (and classes' __call__) are few and long-lived.
_TAKES_ARGUMENTS: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


def _takes_arguments(method: Callable[..., Any]) -> bool:
    try:
        return _TAKES_ARGUMENTS[method]
    except (KeyError, TypeError):  # TypeError: not weak-referenceable / unhashable
        pass
    try:
        answer = bool(inspect.signature(method).parameters)
    except (TypeError, ValueError):  # no signature to read: let the call decide
        answer = True
    with contextlib.suppress(TypeError):
        _TAKES_ARGUMENTS[method] = answer
    return answer


def bound_clone(module: Any, scope: core.Scope) -> Any:
    """A copy of the (unbound) ``module`` bound to the root ``scope``.

    An unbound module holds nothing but its constructor arguments and what
    its ``__post_init__`` derived from them, so copying its attributes equals
    re-running the constructor, at a fraction of the cost.
    """
    attrs = module.__dict__
    state = attrs.get("_state")
    if state is None or attrs.get("scope") is not None or state.setup_called:
        return module.clone(parent=scope)
    clone = object.__new__(type(module))
    new_attrs = clone.__dict__
    new_attrs.update(attrs)
    state = new_attrs["_state"] = ModuleState()
    state.is_initialized = True
    new_attrs["scope"] = scope
    new_attrs["parent"] = scope
    _naming.adopt_fields(clone)
    return clone


def _scope_fn(fn: Callable[..., Any], module: Any, capture: Any) -> Callable[..., Any]:
    if capture is False:

        def run(scope: core.Scope, *args: Any, **kwargs: Any) -> Any:
            return fn(bound_clone(module, scope), *args, **kwargs)

        return run

    def run_capturing(scope: core.Scope, *args: Any, **kwargs: Any) -> Any:
        context.capture_stack.append(capture)
        try:
            return fn(bound_clone(module, scope), *args, **kwargs)
        finally:
            context.capture_stack.pop()

    return run_capturing


def _with_intermediates(mutable: Filter, capture: Any) -> Filter:
    return union_filters(mutable, "intermediates") if capture is not False else mutable


def apply(
    fn: Callable[..., Any],
    module: Any,
    mutable: Filter = False,
    capture_intermediates: bool | Callable[[Any, str], bool] = False,
) -> Callable[..., Any]:
    """An apply function ``(variables, *args, rngs=None, **kwargs)`` for ``fn(module, ...)``.

    ``fn`` receives a clone of ``module`` bound to the variables. The result
    composes with JAX transforms (``jax.jit(nn.apply(f, module))``).
    """
    check_instance(module)
    return core.apply(
        _scope_fn(fn, module, capture_intermediates),
        mutable=_with_intermediates(mutable, capture_intermediates),
    )


def init_with_output(
    fn: Callable[..., Any],
    module: Any,
    mutable: Filter = _DEFAULT_MUTABLE,
    capture_intermediates: bool | Callable[[Any, str], bool] = False,
) -> Callable[..., Any]:
    """An init function ``(rngs, *args, **kwargs) -> (output, variables)`` for ``fn``."""
    check_instance(module)
    return core.init(
        _scope_fn(fn, module, capture_intermediates),
        mutable=_with_intermediates(mutable, capture_intermediates),
    )


def init(
    fn: Callable[..., Any],
    module: Any,
    mutable: Filter = _DEFAULT_MUTABLE,
    capture_intermediates: bool | Callable[[Any, str], bool] = False,
) -> Callable[..., Any]:
    """An init function ``(rngs, *args, **kwargs) -> variables`` for ``fn(module, ...)``."""
    init_fn = init_with_output(fn, module, mutable, capture_intermediates)

    @functools.wraps(init_fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return init_fn(*args, **kwargs)[1]

    return wrapper


def lazy_init(
    fn: Callable[..., Any], module: Any, mutable: Filter = _DEFAULT_MUTABLE
) -> Callable[..., Any]:
    """Like :func:`init`, for inputs given as ``jax.ShapeDtypeStruct`` (no forward FLOPs)."""
    check_instance(module)
    return core.lazy_init(_scope_fn(fn, module, False), mutable=mutable)


def bind(
    module: Any,
    variables: Mapping[str, Any],
    rngs: Mapping[str, Any] | None = None,
    mutable: Filter = False,
) -> Any:
    check_instance(module)
    return bound_clone(module, core.bind(variables, rngs=rngs, mutable=mutable))


def unbind(module: Any) -> tuple[Any, Any]:
    if module.__dict__.get("scope") is None:
        raise CallUnbindOnUnboundModuleError()
    variables = module.variables
    return module.clone(parent=None, name=None), variables


def module_paths(
    module: Any,
    rngs: Any,
    *args: Any,
    show_repeated: bool = False,
    mutable: Filter = _DEFAULT_MUTABLE,
    **kwargs: Any,
) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def record(next_fun: Any, call_args: Any, call_kwargs: Any, info: Any) -> Any:
        instance = info.module
        # A module whose setup ran but none of whose methods did is not used.
        if info.method_name != "setup" and instance.__dict__.get("scope") is not None:
            path = "/".join(instance.path)
            if path not in found or show_repeated:
                found[path] = instance.clone(parent=None, name=None)
        return next_fun(*call_args, **call_kwargs)

    def run(rngs: Any, *args: Any, **kwargs: Any) -> Any:
        with intercept_methods(record):
            return module.init(rngs, *args, mutable=mutable, **kwargs)

    jax.eval_shape(lambda: run(rngs, *args, **kwargs))
    return found
