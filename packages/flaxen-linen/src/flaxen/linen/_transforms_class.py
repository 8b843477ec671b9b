"""Lifted transforms that apply to Module classes, methods and functions.

``vmap``, ``scan``, ``jit``, ``remat``/``checkpoint``, ``remat_scan``,
``map_variables``, ``add_metadata_axis`` and ``fold_rngs``. Each returns, for
a Module class, a subclass named after the transform (``nn.vmap(nn.Dense)``
is ``VmapDense``); for a function ``fn(module, *args)``, a function of the
same signature.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from flaxen.core import lift
from flaxen.core import meta as core_meta
from flaxen.core._filters import Filter

from ._lifting import lift as _lift
from ._lifting import module_arg_core

Target = TypeVar("Target")

_EMPTY: Mapping[Any, Any] = {}


def vmap(
    target: Target,
    variable_axes: Mapping[Filter, Any] = _EMPTY,
    split_rngs: Mapping[Filter, bool] = _EMPTY,
    in_axes: Any = 0,
    out_axes: Any = 0,
    axis_size: int | None = None,
    axis_name: str | None = None,
    spmd_axis_name: str | None = None,
    metadata_params: Mapping[Any, Any] = _EMPTY,
    methods: Any = None,
) -> Target:
    """Lifted ``jax.vmap`` for a Module class or a function taking a Module.

    ``variable_axes`` maps collections to the axis their variables are mapped
    along (``None``: shared); ``split_rngs`` says which streams get a
    different key per element. See the transforms guide for examples.
    """

    def core(fn: Callable[..., Any], **overrides: Any) -> Callable[..., Any]:
        options = dict(
            variable_axes=variable_axes, split_rngs=split_rngs, in_axes=in_axes,
            out_axes=out_axes, axis_size=axis_size, axis_name=axis_name,
            spmd_axis_name=spmd_axis_name, metadata_params=dict(metadata_params),
        )  # fmt: skip
        options.update(overrides)
        return lift.vmap(fn, **options)

    return _lift("Vmap", target, module_arg_core(core), methods)


def scan(
    target: Target,
    variable_axes: Mapping[Filter, Any] = _EMPTY,
    variable_broadcast: Filter = False,
    variable_carry: Filter = False,
    split_rngs: Mapping[Filter, bool] = _EMPTY,
    in_axes: Any = 0,
    out_axes: Any = 0,
    length: int | None = None,
    reverse: bool = False,
    unroll: int = 1,
    data_transform: Callable[..., Any] | None = None,
    metadata_params: Mapping[Any, Any] = _EMPTY,
    methods: Any = None,
    _split_transpose: bool = False,
) -> Target:
    """Lifted ``jax.lax.scan`` for a Module class or a function taking a Module.

    The target's signature is ``(module, carry, *xs) -> (carry, ys)``.
    """

    def core(fn: Callable[..., Any], **overrides: Any) -> Callable[..., Any]:
        options = dict(
            variable_axes=variable_axes, variable_broadcast=variable_broadcast,
            variable_carry=variable_carry, split_rngs=split_rngs, in_axes=in_axes,
            out_axes=out_axes, length=length, reverse=reverse, unroll=unroll,
            data_transform=data_transform, metadata_params=dict(metadata_params),
            _split_transpose=_split_transpose,
        )  # fmt: skip
        options.update(overrides)
        return lift.scan(fn, **options)

    return _lift("Scan", target, module_arg_core(core), methods)


def checkpoint(
    target: Target,
    variables: Filter = True,
    rngs: Filter = True,
    concrete: bool = False,
    prevent_cse: bool = True,
    static_argnums: int | tuple[int, ...] = (),
    policy: Callable[..., bool] | None = None,
    methods: Any = None,
) -> Target:
    """Lifted ``jax.checkpoint`` (alias ``remat``): recompute activations in the backward pass.

    ``static_argnums`` count the module as argument 0, as in Flax.
    """
    static = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)

    def core(fn: Callable[..., Any], **overrides: Any) -> Callable[..., Any]:
        options = dict(
            variables=variables, rngs=rngs, concrete=concrete, prevent_cse=prevent_cse,
            static_argnums=tuple(i - 1 for i in static), policy=policy,
        )  # fmt: skip
        options.update(overrides)
        return lift.checkpoint(fn, **options)

    return _lift("Checkpoint", target, module_arg_core(core), methods)


remat = checkpoint


def remat_scan(
    target: Target,
    lengths: Sequence[int] = (),
    policy: Callable[..., bool] | None = None,
    variable_broadcast: Filter = False,
    variable_carry: Filter = False,
    variable_axes: Mapping[Filter, Any] | None = None,
    split_rngs: Mapping[Filter, bool] | None = None,
) -> Target:
    """``prod(lengths)`` rematerialized steps of ``target`` in nested scans.

    The target maps ``(module, carry) -> carry``.
    """

    def core(fn: Callable[..., Any], **overrides: Any) -> Callable[..., Any]:
        return lift.remat_scan(
            fn,
            lengths=lengths,
            policy=policy,
            variable_broadcast=variable_broadcast,
            variable_carry=variable_carry,
            variable_axes={True: 0} if variable_axes is None else variable_axes,
            split_rngs={True: True} if split_rngs is None else split_rngs,
        )

    return _lift("Remat_scan", target, module_arg_core(core), None)


def map_variables(
    target: Target,
    mapped_collections: Filter = True,
    trans_in_fn: Callable[..., Any] = lambda x: x,
    trans_out_fn: Callable[..., Any] = lambda x: x,
    init: bool = False,
    mutable: bool = False,
    rngs: Filter = True,
    variables: Filter = True,
    methods: Any = None,
) -> Target:
    """Transforms the variables a module sees (e.g. masks its weights).

    ``trans_in_fn`` maps ``{collection: tree}`` before the module runs;
    ``trans_out_fn`` maps it back after, when ``init`` or ``mutable``.
    """

    def core(fn: Callable[..., Any], **overrides: Any) -> Callable[..., Any]:
        options = dict(
            mapped_collections=mapped_collections, map_in_fn=trans_in_fn,
            map_out_fn=trans_out_fn, init=init, mutable=mutable, rngs=rngs,
            variables=variables,
        )  # fmt: skip
        options.update(overrides)
        return lift.map_variables(fn, **options)

    return _lift("Map_variables", target, module_arg_core(core), methods)


def add_metadata_axis(
    target: Target,
    variable_axes: Mapping[Filter, Any] = _EMPTY,
    metadata_params: Mapping[Any, Any] = _EMPTY,
) -> Target:
    """Adds an axis to the metadata boxes of ``target``'s variables, not to the values.

    Useful when the values already carry the axis (e.g. from an outer vmap
    written by hand) and only the partitioning metadata must follow. Each
    ``variable_axes`` entry is one :func:`map_variables` over its collection,
    so the class of ``nn.add_metadata_axis(Dense, {'params': 0})`` is
    ``Map_variablesDense``; with no entries the target is returned as is.
    An axis of ``None`` leaves the collection's metadata unchanged.
    """
    params = dict(metadata_params)
    for col, axis in variable_axes.items():
        if axis is None:
            target = map_variables(target, col, mutable=True)
            continue
        target = map_variables(
            target,
            col,
            trans_in_fn=functools.partial(_map_groups, core_meta.remove_axis, axis, params),
            trans_out_fn=functools.partial(_map_groups, core_meta.add_axis, axis, params),
            mutable=True,
        )
    return target


def _map_groups(fn: Callable[..., Any], axis: int, params: dict, collections: Any) -> Any:
    return {col: fn(tree, axis, params) for col, tree in collections.items()}


def fold_rngs(target: Target, variables: Filter = True, rngs: Filter = True) -> Target:
    """Runs ``target`` with each stream re-rooted at a fresh key of its scope.

    Inside, keys are derived as under ``nn.jit`` but nothing is compiled.
    """

    def core(fn: Callable[..., Any], **overrides: Any) -> Callable[..., Any]:
        def inner(scope_fn, repack_fn, variable_groups, rng_groups, *args, **kwargs):
            scope = scope_fn(variable_groups, rng_groups)
            y = fn(scope, *args, **kwargs)
            return y, repack_fn(scope)

        return lift.pack(
            inner, (variables,), (variables,), (rngs,), name="fold_rngs",
            enable_kwargs=True, fold_rngs=True,
        )  # fmt: skip

    return _lift("Fold_rngs", target, module_arg_core(core), None)


# -- jit -------------------------------------------------------------------------


def _hashable(value: Any) -> Any:
    from ._module import Module

    if isinstance(value, Module):
        return _module_key(value)
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(_hashable(v) for v in value))
    if isinstance(value, Mapping):
        return ("mapping", tuple((k, _hashable(v)) for k, v in value.items()))
    hash(value)
    return value


def _module_key(module: Any) -> Any:
    attrs = module.__dict__
    state = attrs.get("_state")
    originals = (state.originals if state is not None else None) or {}
    return (
        type(module),
        attrs.get("name"),
        tuple((f, _hashable(originals.get(f, attrs[f]))) for f in module._init_fields),
    )


class _ModulesArg:
    """The lifted modules as a static jit argument: equal when their attributes are."""

    __slots__ = ("key", "lifted")

    def __init__(self, lifted: Any) -> None:
        self.lifted = lifted
        try:
            self.key = tuple(_module_key(module) for module in lifted.modules)
        except TypeError:  # an unhashable attribute: never reuse a trace
            self.key = ("unhashable", id(lifted))

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _ModulesArg) and self.key == other.key


def jit(
    target: Target,
    variables: Filter = True,
    rngs: Filter = True,
    static_argnums: int | Iterable[int] = (),
    static_argnames: str | Iterable[str] = (),
    donate_argnums: int | Iterable[int] = (),
    device: Any = None,
    backend: str | None = None,
    methods: Any = None,
) -> Target:
    """Lifted ``jax.jit``: compiles the target once per module attributes and shapes.

    ``static_argnums``/``donate_argnums`` count the module as argument 0, as in
    Flax. Keys inside are re-rooted at ``make_rng`` of the jitted module's
    scope, so a jitted module draws different keys than the same module
    un-jitted (as in Flax).
    """
    static = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)
    donate = (donate_argnums,) if isinstance(donate_argnums, int) else tuple(donate_argnums)

    def make_core(core_fn: Callable[..., Any], method_name: str, **overrides: Any):
        # One jitted function per transformed method: the lifted modules
        # (hashed by their attributes) are a static argument, so later calls
        # reuse the trace.
        def with_modules(scopes: Any, modules_arg: _ModulesArg, *args: Any, **kwargs: Any):
            return core_fn(scopes, modules_arg.lifted, *args, **kwargs)

        jitted = lift.jit(
            with_modules,
            variables=variables,
            rngs=rngs,
            static_argnums=(0, *static),
            static_argnames=static_argnames,
            donate_argnums=donate,
            device=device,
            backend=backend,
        )

        def transformed(lifted: Any, *args: Any, **kwargs: Any) -> Any:
            return jitted(lifted.scopes, _ModulesArg(lifted), *args, **kwargs)

        return transformed

    return _lift("Jit", target, make_core, methods)


__all__ = [
    "add_metadata_axis",
    "checkpoint",
    "fold_rngs",
    "jit",
    "map_variables",
    "remat",
    "remat_scan",
    "scan",
    "vmap",
]
