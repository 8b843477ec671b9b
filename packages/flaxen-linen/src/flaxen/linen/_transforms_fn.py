"""Lifted transforms called with a Module instance: autodiff and control flow.

``jvp``, ``vjp``, ``grad``, ``value_and_grad``, ``custom_vjp``,
``while_loop``, ``cond`` and ``switch`` take the function(s) to transform and
the module to lift (``mdl``). The functions receive a copy of the module
bound to the lifted scope; they may define submodules inline, as a compact
method would.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import jax

from flaxen.core import Scope, lift
from flaxen.core._filters import Filter

from ._calls import COMPACT, call_method
from ._lifting import _bound_scope, _check_outputs, inner_clone

C = TypeVar("C")
_EMPTY: Mapping[Any, Any] = {}


def _as_core(fn: Callable[..., Any], module: Any) -> Callable[..., Any]:
    """``fn(module, *args)`` as a function of the lifted scope."""
    name = getattr(fn, "__name__", "fn")

    def core_fn(scope: Scope, *args: Any) -> Any:
        clone = inner_clone(module, scope)
        return _check_outputs(call_method(clone, fn, name, COMPACT, args, {}), name)

    return core_fn


def jvp(
    fn: Callable[..., Any],
    mdl: Any,
    primals: Sequence[Any],
    tangents: Sequence[Any],
    variable_tangents: Mapping[str, Any],
    variables: Filter = True,
    rngs: Filter = True,
) -> tuple[Any, Any]:
    """Lifted ``jax.jvp`` of ``fn(mdl, *primals)``; returns ``(out, out_tangent)``.

    ``variable_tangents`` gives ``{collection: tangent tree}`` for the module's
    variables; collections not listed get zero tangents.
    """
    return lift.jvp(
        _as_core(fn, mdl), _bound_scope(mdl), primals, tangents, variable_tangents,
        variables=variables, rngs=rngs,
    )  # fmt: skip


def vjp(
    fn: Callable[..., Any],
    mdl: Any,
    *primals: Any,
    has_aux: bool = False,
    reduce_axes: tuple[Any, ...] = (),
    vjp_variables: Filter = "params",
    variables: Filter = True,
    rngs: Filter = True,
    multi_scope: bool = False,
) -> tuple[Any, ...]:
    """Lifted ``jax.vjp`` of ``fn(mdl, *primals)``.

    The backward function returns ``(variable_cotangents, *primal_cotangents)``
    where the variable cotangents are ``{collection: tree}`` for the
    collections ``vjp_variables`` selects.
    """
    del multi_scope
    return lift.vjp(
        _as_core(fn, mdl), _bound_scope(mdl), *primals, has_aux=has_aux,
        reduce_axes=reduce_axes, vjp_variables=vjp_variables, variables=variables, rngs=rngs,
    )  # fmt: skip


def value_and_grad(
    fn: Callable[..., Any],
    mdl: Any,
    *primals: Any,
    has_aux: bool = False,
    reduce_axes: tuple[Any, ...] = (),
    variables: Filter = True,
    rngs: Filter = True,
) -> tuple[Any, Any]:
    """``(fn(mdl, *primals), grads)``, the gradients with respect to the primals.

    ``fn`` must return a scalar (with ``has_aux``: ``(scalar, aux)``, and the
    value is ``(scalar, aux)``).
    """
    out = lift.vjp(
        _as_core(fn, mdl), _bound_scope(mdl), *primals, has_aux=has_aux,
        reduce_axes=reduce_axes, vjp_variables=False, variables=variables, rngs=rngs,
    )  # fmt: skip
    y, backward = out[0], out[1]
    _, *grads = backward(jax.numpy.ones_like(y))
    value = (y, out[2]) if has_aux else y
    return value, tuple(grads)


def grad(
    fn: Callable[..., Any],
    mdl: Any,
    *primals: Any,
    has_aux: bool = False,
    reduce_axes: tuple[Any, ...] = (),
    variables: Filter = True,
    rngs: Filter = True,
) -> Any:
    """The gradients of ``fn(mdl, *primals)`` with respect to the primals."""
    value, grads = value_and_grad(
        fn, mdl, *primals, has_aux=has_aux, reduce_axes=reduce_axes,
        variables=variables, rngs=rngs,
    )  # fmt: skip
    return (grads, value[1]) if has_aux else grads


def custom_vjp(
    fn: Callable[..., Any],
    forward_fn: Callable[..., Any],
    backward_fn: Callable[..., Any],
    grad_vars: Filter = "params",
    nondiff_argnums: Sequence[int] = (),
) -> Callable[..., Any]:
    """Lifted ``jax.custom_vjp``: ``fn(mdl, *args)`` with a custom backward pass.

    ``forward_fn(mdl, *args)`` returns ``(out, residuals)``;
    ``backward_fn(*nondiff_args, residuals, out_cotangent)`` returns
    ``(variable_cotangents, *input_cotangents)``.
    """

    def wrapper(mdl: Any, *args: Any) -> Any:
        def core(fn_: Callable[..., Any]) -> Callable[..., Any]:
            return _as_core(fn_, mdl)

        transformed = lift.custom_vjp(
            core(fn), core(forward_fn), backward_fn, grad_vars=grad_vars,
            nondiff_argnums=tuple(i - 1 for i in nondiff_argnums),
        )  # fmt: skip
        return transformed(_bound_scope(mdl), *args)

    return wrapper


def while_loop(
    cond_fn: Callable[[Any, C], Any],
    body_fn: Callable[[Any, C], C],
    mdl: Any,
    init: C,
    carry_variables: Filter = False,
    broadcast_variables: Filter = True,
    split_rngs: Mapping[Filter, bool] = _EMPTY,
) -> C:
    """Lifted ``jax.lax.while_loop`` over ``cond_fn(mdl, c)`` and ``body_fn(mdl, c)``.

    Carried collections may change inside the loop (not their structure);
    broadcast collections are read-only.
    """
    return lift.while_loop(
        _as_core(cond_fn, mdl), _as_core(body_fn, mdl), _bound_scope(mdl), init,
        carry_variables=carry_variables, broadcast_variables=broadcast_variables,
        split_rngs=split_rngs,
    )  # fmt: skip


def cond(
    pred: Any,
    true_fun: Callable[..., C],
    false_fun: Callable[..., C],
    mdl: Any,
    *operands: Any,
    variables: Filter = True,
    rngs: Filter = True,
) -> C:
    """Lifted ``jax.lax.cond``; branches are ``fn(mdl, *operands)``.

    Both branches are traced: they must create and update the same variables.
    """
    return lift.cond(
        pred, _as_core(true_fun, mdl), _as_core(false_fun, mdl), _bound_scope(mdl),
        *operands, variables=variables, rngs=rngs,
    )  # fmt: skip


def switch(
    index: Any,
    branches: Sequence[Callable[..., C]],
    mdl: Any,
    *operands: Any,
    variables: Filter = True,
    rngs: Filter = True,
) -> C:
    """Lifted ``jax.lax.switch``; branches are ``fn(mdl, *operands)``."""
    return lift.switch(
        index, [_as_core(branch, mdl) for branch in branches], _bound_scope(mdl),
        *operands, variables=variables, rngs=rngs,
    )  # fmt: skip
