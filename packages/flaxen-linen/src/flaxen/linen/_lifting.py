"""Adapting Modules to the core's lifted transforms.

The transforms themselves live in ``flaxen.core.lift`` and act on functions of
a Scope. Here a transform is applied to a Module in one of three forms:

* a Module *class* (``nn.vmap(nn.Dense, ...)``): a subclass named after the
  transform (``VmapDense``) whose chosen methods run lifted;
* a *function* taking a Module first (``nn.vmap(lambda mdl, x: mdl(x), ...)``);
* a *method decorator* (``@nn.remat`` on ``__call__``), which is the function
  form applied to a method.

Inside the transform, the module is re-created bound to the lifted scope (a
clone of the original class, same attributes, same name and path) and the
original method runs on it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import jax

from flaxen.core import Scope, Variable
from flaxen.errors import (
    CallCompactUnboundModuleError,
    TransformedMethodReturnValueError,
    TransformTargetError,
)

from ._calls import COMPACT, call_method, unwrap

# make_core(core_fn, method_name) -> transformed core function of (scope, *args).
CoreTransform = Callable[[Callable[..., Any], str], Callable[..., Any]]


def _module_class() -> type:
    from ._module import Module

    return Module


def inner_clone(module: Any, scope: Scope, cls: type | None = None) -> Any:
    """``module`` re-created (as ``cls``) and bound to the lifted ``scope``."""
    cls = type(module) if cls is None else cls
    attrs = module.__dict__
    kwargs = {field: attrs[field] for field in cls._init_fields}
    originals = attrs["_state"].originals
    if originals:
        kwargs.update(originals)
    return cls(parent=scope, name=attrs.get("name"), **kwargs)


def _check_outputs(y: Any, method_name: str) -> Any:
    module_cls = _module_class()
    for leaf in jax.tree_util.tree_leaves(
        y, is_leaf=lambda x: isinstance(x, (module_cls, Variable))
    ):
        if isinstance(leaf, (module_cls, Variable)):
            raise TransformedMethodReturnValueError(method_name)
    return y


def _bound_scope(module: Any) -> Scope:
    scope = module.__dict__.get("scope")
    if scope is None:
        raise CallCompactUnboundModuleError()
    return scope


def _method_names(methods: Any) -> dict[str, dict[str, Any]]:
    if methods is None:
        return {"__call__": {}}
    if isinstance(methods, str):
        return {methods: {}}
    if isinstance(methods, Mapping):
        return {name: dict(overrides) for name, overrides in methods.items()}
    return {name: {} for name in methods}


def lift_class(
    transform_name: str,
    target: type,
    make_core: Callable[..., Callable[..., Any]],
    methods: str | Iterable[str] | Mapping[str, Mapping[str, Any]] | None,
) -> type:
    """A subclass of ``target`` whose ``methods`` run under a lifted transform.

    ``make_core(core_fn, method_name, **overrides)`` returns the transformed
    core function; ``overrides`` come from a ``methods`` mapping.
    """
    namespace: dict[str, Any] = {
        "__module__": target.__module__,
        "__qualname__": f"{transform_name}{target.__qualname__}",
    }
    for method_name, overrides in _method_names(methods).items():
        original = getattr(target, method_name)
        raw = unwrap(original)
        flags = COMPACT if getattr(raw, "compact", False) else 0
        namespace[method_name] = _lifted_method(
            target, method_name, raw, flags, make_core, overrides
        )
    return type(f"{transform_name}{target.__name__}", (target,), namespace)


def _lifted_method(
    target: type,
    method_name: str,
    raw: Callable[..., Any],
    flags: int,
    make_core: Callable[..., Callable[..., Any]],
    overrides: Mapping[str, Any],
) -> Callable[..., Any]:
    def core_fn(inner_scope: Scope, module: Any, *args: Any, **kwargs: Any) -> Any:
        clone = inner_clone(module, inner_scope, target)
        return _check_outputs(
            call_method(clone, raw, method_name, flags, args, kwargs), method_name
        )

    transformed = make_core(core_fn, method_name, **overrides)

    @functools.wraps(raw)
    def lifted(self: Any, *args: Any, **kwargs: Any) -> Any:
        return transformed(_bound_scope(self), self, *args, **kwargs)

    lifted.lifted = True  # type: ignore[attr-defined]
    if hasattr(lifted, "compact"):
        del lifted.compact  # the transformed class has no compact method of its own
    return lifted


def lift_function(
    fn: Callable[..., Any], make_core: Callable[..., Callable[..., Any]]
) -> Callable[..., Any]:
    """``fn(module, *args)`` run with ``module`` lifted into the transform."""
    name = getattr(fn, "__name__", "fn")

    def core_fn(inner_scope: Scope, module: Any, *args: Any, **kwargs: Any) -> Any:
        clone = inner_clone(module, inner_scope)
        return _check_outputs(call_method(clone, fn, name, COMPACT, args, kwargs), name)

    transformed = make_core(core_fn, name)

    @functools.wraps(fn)
    def wrapped(module: Any, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(module, _module_class()):
            raise TransformTargetError(fn)
        return transformed(_bound_scope(module), module, *args, **kwargs)

    wrapped.lifted = True  # type: ignore[attr-defined]
    return wrapped


def lift(
    transform_name: str,
    target: Any,
    make_core: Callable[..., Callable[..., Any]],
    methods: Any = None,
) -> Any:
    """Dispatches on the target: a Module class, or a function of a Module."""
    module_cls = _module_class()
    if isinstance(target, type) and issubclass(target, module_cls):
        return lift_class(transform_name, target, make_core, methods)
    if isinstance(target, module_cls) or not callable(target):
        raise TransformTargetError(target)
    return lift_function(target, make_core)


def module_arg_core(core_transform: Callable[[Callable[..., Any]], Callable[..., Any]]):
    """Adapts a core transform of ``fn(scope, *args)`` to functions ``fn(scope, module, *args)``.

    The module rides along as a closure so that the core transform only sees
    array arguments.
    """

    def make_core(core_fn: Callable[..., Any], method_name: str, **overrides: Any):
        def transformed(scope: Scope, module: Any, *args: Any, **kwargs: Any) -> Any:
            def bound(inner_scope: Scope, *args: Any) -> Any:
                return core_fn(inner_scope, module, *args, **kwargs)

            return core_transform(bound, **overrides)(scope, *args)

        return transformed

    return make_core
