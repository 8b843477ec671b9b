"""Adapting Modules to the core's lifted transforms.

The transforms themselves live in ``flaxen.core.lift`` and act on functions of
a scope tree. Here a transform is applied to a Module in one of three forms:

* a Module *class* (``nn.vmap(nn.Dense, ...)``): a subclass named after the
  transform (``VmapDense``) whose chosen methods run lifted;
* a *function* taking a Module first (``nn.vmap(lambda mdl, x: mdl(x), ...)``);
* a *method decorator* (``@nn.remat`` on ``__call__``), which is the function
  form applied to a method.

A lifted call lifts every bound Module it can reach: the module itself, the
bound modules in its fields (a shared submodule passed to it) and those in
the arguments (also inside pytrees, such as a ``struct`` closure). Their
scopes form the scope tree the core transform lifts; the arguments carry
leafless placeholders instead of the modules. Inside the transform, each
module is re-created (same class, attributes, name and path) and bound to its
lifted scope, and the original method runs on the re-created target module.
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
from ._naming import module_leaves

# make_core(core_fn, method_name) -> transformed core function of (scope, *args).
CoreTransform = Callable[[Callable[..., Any], str], Callable[..., Any]]


def _module_class() -> type:
    from ._module import Module

    return Module


def _is_module(x: Any) -> bool:
    return isinstance(x, _module_class())


class _Slot:
    """Where a lifted module sat in the arguments: a pytree node without leaves."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index


jax.tree_util.register_pytree_node(_Slot, lambda s: ((), s.index), lambda index, _: _Slot(index))


def _is_slot(x: Any) -> bool:
    return isinstance(x, _Slot)


def _field_value(module: Any, field: str) -> Any:
    """A field as constructed: before the orphans in it were adopted (they are adopted again)."""
    originals = module.__dict__["_state"].originals
    if originals and field in originals:
        return originals[field]
    return module.__dict__[field]


class LiftedModules:
    """The bound modules one lifted call lifts; the target module is ``modules[0]``.

    Attributes:
      modules: the outer modules, in the order of their scopes in :attr:`scopes`.
      scopes: the scope tree handed to the core transform.
    """

    __slots__ = ("_fields", "_index", "modules", "scopes", "slotted")

    def __init__(self, module: Any) -> None:
        self.modules: list[Any] = []
        self._index: dict[int, int] = {}
        # Per module: the fields that hold bound modules (rebuilt with the lifted ones).
        self._fields: list[tuple[str, ...]] = []
        self._add(module)
        self.scopes: tuple[Scope, ...] = ()
        self.slotted = False  # whether arguments hold placeholders

    def _add(self, module: Any) -> int:
        index = self._index.get(id(module))
        if index is not None:
            return index
        index = self._index[id(module)] = len(self.modules)
        self.modules.append(module)
        self._fields.append(())
        fields = []
        for field in type(module)._init_fields:
            bound = [m for m in module_leaves(_field_value(module, field)) if _bound(m)]
            if bound:
                fields.append(field)
                for other in bound:
                    self._add(other)
        self._fields[index] = tuple(fields)
        return index

    def slot_arguments(self, tree: Any) -> Any:
        """``tree`` with every bound module replaced by a placeholder (collecting it)."""
        leaves, treedef = jax.tree_util.tree_flatten(tree, is_leaf=_is_module)
        if not any(_is_module(leaf) for leaf in leaves):
            return tree
        leaves = [_Slot(self._add(leaf)) if _bound(leaf) else leaf for leaf in leaves]
        self.slotted = True
        return treedef.unflatten(leaves)

    def seal(self) -> None:
        """Fixes the scope tree once every module is collected."""
        self.scopes = tuple(_bound_scope(m) for m in self.modules)

    def rebuild(self, inner_scopes: Any, target_cls: type | None = None) -> list[Any]:
        """The modules re-created on the lifted scopes (``modules[0]`` as ``target_cls``)."""
        clones: list[Any] = [None] * len(self.modules)

        def build(index: int) -> Any:
            clone = clones[index]
            if clone is None:
                module = self.modules[index]
                cls = target_cls if index == 0 and target_cls is not None else type(module)
                kwargs = {field: _field_value(module, field) for field in cls._init_fields}
                for field in self._fields[index]:
                    kwargs[field] = jax.tree_util.tree_map(
                        lambda x: build(self._index[id(x)]) if _bound(x) else x,
                        kwargs[field],
                        is_leaf=_is_module,
                    )
                clone = cls(parent=inner_scopes[index], name=module.__dict__.get("name"), **kwargs)
                clones[index] = clone
            return clone

        for index in range(len(self.modules)):
            build(index)
        return clones

    def fill(self, tree: Any, clones: list[Any]) -> Any:
        """``tree`` with the placeholders replaced by the re-created modules."""
        if not self.slotted:
            return tree
        return jax.tree_util.tree_map(
            lambda x: clones[x.index] if _is_slot(x) else x, tree, is_leaf=_is_slot
        )


def _bound(module: Any) -> bool:
    return _is_module(module) and module.__dict__.get("scope") is not None


def lifted_modules(module: Any, args: tuple, kwargs: dict) -> tuple[LiftedModules, tuple, dict]:
    """The modules a lifted call of ``module`` with ``args``/``kwargs`` lifts, and the
    arguments with placeholders in their place."""
    _bound_scope(module)
    lifted = LiftedModules(module)
    args = lifted.slot_arguments(args)
    kwargs = lifted.slot_arguments(kwargs)
    lifted.seal()
    return lifted, args, kwargs


def inner_clone(module: Any, scope: Scope, cls: type | None = None) -> Any:
    """``module`` re-created (as ``cls``) and bound to the lifted ``scope``."""
    cls = type(module) if cls is None else cls
    kwargs = {field: _field_value(module, field) for field in cls._init_fields}
    return cls(parent=scope, name=module.__dict__.get("name"), **kwargs)


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


def _core_fn(
    fn: Callable[..., Any], name: str, flags: int, target: type | None
) -> Callable[..., Any]:
    """``fn`` run on the re-created target module: ``core_fn(inner_scopes, lifted, *args)``."""

    def core_fn(inner_scopes: Any, lifted: LiftedModules, *args: Any, **kwargs: Any) -> Any:
        clones = lifted.rebuild(inner_scopes, target)
        args, kwargs = lifted.fill((args, kwargs), clones)
        return _check_outputs(call_method(clones[0], fn, name, flags, args, kwargs), name)

    return core_fn


def _lifted_method(
    target: type,
    method_name: str,
    raw: Callable[..., Any],
    flags: int,
    make_core: Callable[..., Callable[..., Any]],
    overrides: Mapping[str, Any],
) -> Callable[..., Any]:
    transformed = make_core(_core_fn(raw, method_name, flags, target), method_name, **overrides)

    @functools.wraps(raw)
    def lifted(self: Any, *args: Any, **kwargs: Any) -> Any:
        modules, args, kwargs = lifted_modules(self, args, kwargs)
        return transformed(modules, *args, **kwargs)

    lifted.lifted = True  # type: ignore[attr-defined]
    if hasattr(lifted, "compact"):
        del lifted.compact  # the transformed class has no compact method of its own
    return lifted


def lift_function(
    fn: Callable[..., Any], make_core: Callable[..., Callable[..., Any]]
) -> Callable[..., Any]:
    """``fn(module, *args)`` run with ``module`` lifted into the transform."""
    name = getattr(fn, "__name__", "fn")
    transformed = make_core(_core_fn(fn, name, COMPACT, None), name)

    @functools.wraps(fn)
    def wrapped(module: Any, *args: Any, **kwargs: Any) -> Any:
        if not _is_module(module):
            raise TransformTargetError(fn)
        modules, args, kwargs = lifted_modules(module, args, kwargs)
        return transformed(modules, *args, **kwargs)

    wrapped.lifted = True  # type: ignore[attr-defined]
    return wrapped


def lift(
    transform_name: str,
    target: Any,
    make_core: Callable[..., Callable[..., Any]],
    methods: Any = None,
) -> Any:
    """Dispatches on the target: a Module class, or a function of a Module.

    ``make_core(core_fn, method_name, **overrides)`` must return
    ``transformed(lifted, *args, **kwargs)`` that runs
    ``core_fn(inner_scopes, lifted, *args, **kwargs)`` under the transform,
    ``inner_scopes`` being the lifted ``lifted.scopes``; :func:`module_arg_core`
    builds one from a core transform.
    """
    module_cls = _module_class()
    if isinstance(target, type) and issubclass(target, module_cls):
        return lift_class(transform_name, target, make_core, methods)
    if isinstance(target, module_cls) or not callable(target):
        raise TransformTargetError(target)
    return lift_function(target, make_core)


def module_arg_core(core_transform: Callable[[Callable[..., Any]], Callable[..., Any]]):
    """Adapts a core transform of ``fn(scope, *args)`` to a ``make_core`` for :func:`lift`.

    The core transform receives the scope tree of the lifted modules and only
    the positional arguments; the modules and keyword arguments ride along as
    a closure, so that it only sees arrays.
    """

    def make_core(core_fn: Callable[..., Any], method_name: str, **overrides: Any):
        def transformed(lifted: LiftedModules, *args: Any, **kwargs: Any) -> Any:
            def bound(inner_scopes: Any, *args: Any) -> Any:
                return core_fn(inner_scopes, lifted, *args, **kwargs)

            return core_transform(bound, **overrides)(lifted.scopes, *args)

        return transformed

    return make_core
