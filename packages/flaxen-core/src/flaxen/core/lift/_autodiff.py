"""Lifted differentiation: ``jvp``, ``vjp``, ``value_and_grad``, ``custom_vjp``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax

from flaxen.core._filters import Filter
from flaxen.core._scope import Scope

from ._pack import pack


def jvp(
    fn: Callable[..., Any],
    scope: Scope,
    primals: Sequence[Any],
    tangents: Sequence[Any],
    variable_tangents: Mapping[str, Any],
    variables: Filter = True,
    rngs: Filter = True,
) -> tuple[Any, Any]:
    """Lifted ``jax.jvp``: differentiates ``fn(scope, *primals)`` forward.

    Args:
      fn: ``fn(scope, *primals)``.
      scope: the scope whose variables are differentiated.
      primals: the point to differentiate at.
      tangents: the input tangents (same structure as ``primals``).
      variable_tangents: ``{collection: tangent tree}``; collections not listed
        get zero tangents.
      variables: other collections available inside (no tangent).
      rngs: the streams available inside.

    Returns:
      ``(primals_out, tangents_out)``.
    """
    tangent_filter = tuple(variable_tangents.keys())

    def inner(scope_fn, repack_fn, variable_groups, rng_groups, *args):
        tangent_vars, other_vars = variable_groups
        (root_tangent_vars,) = tangent_vars

        def scope_fun(tangent_variables, *args):
            inner_scope = scope_fn(((tangent_variables,), other_vars), rng_groups)
            y = fn(inner_scope, *args)
            return y, repack_fn(inner_scope)

        variable_tangent_tree = {k: variable_tangents[k] for k in root_tangent_vars}
        (y, out_vars), (y_t, _) = jax.jvp(
            scope_fun,
            (root_tangent_vars, *args),
            (variable_tangent_tree, *tangents),
        )
        return (y, y_t), out_vars

    return pack(inner, (tangent_filter, variables), (variables,), (rngs,), name="jvp")(
        scope, *primals
    )


def vjp(
    fn: Callable[..., Any],
    scope: Scope,
    *primals: Any,
    has_aux: bool = False,
    reduce_axes: tuple[Any, ...] = (),
    vjp_variables: Filter = "params",
    variables: Filter = True,
    rngs: Filter = True,
) -> tuple[Any, ...]:
    """Lifted ``jax.vjp``: ``fn(scope, *primals)`` and its backward function.

    The backward function maps an output cotangent to
    ``(variable_cotangents, *primal_cotangents)``, where the variable
    cotangents cover the collections ``vjp_variables`` selects.

    Args:
      fn: ``fn(scope, *primals)`` (returning ``(out, aux)`` when ``has_aux``).
      scope: the scope whose variables are differentiated.
      *primals: the point to differentiate at.
      has_aux: whether ``fn`` also returns auxiliary data.
      reduce_axes: unsupported by current JAX; must be empty.
      vjp_variables: the collections that receive cotangents.
      variables: other collections available inside.
      rngs: the streams available inside.

    Returns:
      ``(out, vjp_fn)`` or, with ``has_aux``, ``(out, vjp_fn, aux)``.
    """
    if reduce_axes:
        raise ValueError(
            "reduce_axes is no longer supported by jax.vjp; reduce the cotangents"
            " explicitly (e.g. with jax.lax.psum) instead."
        )

    def inner(scope_fn, repack_fn, variable_groups, rng_groups, *args):
        vjp_vars, other_vars = variable_groups
        (root_vjp_vars,) = vjp_vars

        def wrapper(vjp_variables, *args):
            inner_scope = scope_fn(((vjp_variables,), other_vars), rng_groups)
            if has_aux:
                y, aux = fn(inner_scope, *args)
            else:
                y, aux = fn(inner_scope, *args), None
            return y, (aux, repack_fn(inner_scope))

        y, bwd, (aux, out_vars) = jax.vjp(wrapper, root_vjp_vars, *args, has_aux=True)
        if has_aux:
            return (y, bwd, aux), out_vars
        return (y, bwd), out_vars

    return pack(inner, (vjp_variables, variables), (variables,), (rngs,), name="vjp")(
        scope, *primals
    )


def value_and_grad(
    fn: Callable[..., Any],
    scope: Scope,
    *primals: Any,
    has_aux: bool = False,
    reduce_axes: tuple[Any, ...] = (),
    variables: Filter = True,
    rngs: Filter = True,
) -> tuple[Any, ...]:
    """Lifted ``jax.value_and_grad`` with respect to the inputs and ``params``.

    Returns:
      ``(value, (param_grads, *input_grads))`` — with ``has_aux``,
      ``((value, aux), grads)``.
    """
    out = vjp(
        fn, scope, *primals, has_aux=has_aux, reduce_axes=reduce_axes,
        variables=variables, rngs=rngs,
    )  # fmt: skip
    y, bwd = out[0], out[1]
    grads = bwd(jax.numpy.ones_like(y))
    if has_aux:
        return (y, out[2]), grads
    return y, grads


def custom_vjp(
    fn: Callable[..., Any],
    forward_fn: Callable[..., Any],
    backward_fn: Callable[..., Any],
    grad_vars: Filter = "params",
    nondiff_argnums: Sequence[int] = (),
) -> Callable[..., Any]:
    """Lifted ``jax.custom_vjp``: ``fn(scope, *args)`` with a custom backward pass.

    Args:
      fn: the function; runs when no gradient is taken.
      forward_fn: ``forward_fn(scope, *args) -> (out, residuals)``.
      backward_fn: ``backward_fn(*nondiff_args, residuals, out_cotangent)``
        returning ``(variable_cotangents, *input_cotangents)``.
      grad_vars: the collections that receive cotangents.
      nondiff_argnums: positions in ``args`` that are not differentiated.

    Returns:
      ``wrapped(scope, *args)``.
    """
    nondiff_argnums = tuple(nondiff_argnums)

    def inner(scope_fn, repack_fn, variable_groups, rng_groups, *args):
        grad_variables, other_variables = variable_groups
        (root_grad_vars,) = grad_variables

        def simple_scope_fn(grad_vars):
            return scope_fn(((grad_vars,), other_variables), rng_groups)

        def f(grad_vars, *args):
            inner_scope = simple_scope_fn(grad_vars)
            y = fn(inner_scope, *args)
            return y, repack_fn(inner_scope)

        def f_fwd(grad_vars, *args):
            inner_scope = simple_scope_fn(grad_vars)
            y, residuals = forward_fn(inner_scope, *args)
            return (y, repack_fn(inner_scope)), residuals

        def f_bwd(*args):
            nondiff_args, (residuals, (y_cotangent, _)) = args[:-2], args[-2:]
            var_cotangent, *input_cotangents = backward_fn(*nondiff_args, residuals, y_cotangent)
            return (var_cotangent, *input_cotangents)

        custom = jax.custom_vjp(f, nondiff_argnums=tuple(i + 1 for i in nondiff_argnums))
        custom.defvjp(f_fwd, f_bwd)
        return custom(root_grad_vars, *args)

    return pack(inner, (grad_vars, True), (True,), (True,), name="custom_vjp")
