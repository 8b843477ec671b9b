"""Lifted variable mapping (``map_variables``) and ``named_call``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax

from flaxen.core._filters import Filter, is_filter_empty, subtract_filters

from ._pack import pack


def _identity(x: Any) -> Any:
    return x


def map_variables(
    fn: Callable[..., Any],
    mapped_collections: Filter,
    map_in_fn: Callable[..., Any] = _identity,
    map_out_fn: Callable[..., Any] = _identity,
    init: bool = False,
    mutable: bool = False,
    rngs: Filter = True,
    variables: Filter = True,
) -> Callable[..., Any]:
    """Transforms the variables ``fn`` sees, on the way in and (optionally) out.

    Args:
      fn: ``fn(scope, *args)``.
      mapped_collections: the collections ``map_in_fn``/``map_out_fn`` receive.
      map_in_fn: ``{collection: tree} -> {collection: tree}`` before ``fn`` runs.
      map_out_fn: the same after ``fn`` ran; only used when ``init`` or ``mutable``.
      init: run ``fn`` once unmapped first so that missing variables are created.
      mutable: whether the mapped collections may be changed inside.
      rngs: the streams available inside.
      variables: other collections available inside.

    Returns:
      ``mapped(scope, *args)``.

    >>> import jax, jax.numpy as jnp
    >>> from flaxen.core import init, lift
    >>> def scale(scope):
    ...   return scope.param('w', jax.nn.initializers.ones, (2,))
    >>> doubled = lift.map_variables(
    ...     scale, 'params', lambda v: jax.tree_util.tree_map(lambda x: 2 * x, v), init=True)
    >>> y, variables = init(doubled)(jax.random.key(0))
    >>> y
    Array([2., 2.], dtype=float32)
    """
    is_target_out = mutable or init
    in_vars = (mapped_collections, variables)
    out_vars = (
        in_vars if is_target_out else (False, subtract_filters(variables, mapped_collections))
    )

    def wrapper(scope_fn, repack_fn, variable_groups, rng_groups, *args, **kwargs):
        target, other = variable_groups
        if init:
            scopes = scope_fn((target, other), rng_groups)
            roots = jax.tree_util.tree_leaves(scopes, is_leaf=lambda x: hasattr(x, "_store"))
            if any(not is_filter_empty(root._store.mutable) for root in roots):
                fn(scopes, *args, **kwargs)
                target, _ = repack_fn(scopes)
                target = tuple(map_out_fn(collections) for collections in target)
        target = tuple(map_in_fn(collections) for collections in target)
        scopes = scope_fn((target, other), rng_groups)
        y = fn(scopes, *args, **kwargs)
        out_target, out_other = repack_fn(scopes)
        if is_target_out:
            out_target = tuple(map_out_fn(collections) for collections in out_target)
        return y, (out_target, out_other)

    return pack(wrapper, in_vars, out_vars, (rngs,), enable_kwargs=True, name="map_variables")


def named_call(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
    """Wraps ``fn(scope, *args)`` in ``jax.named_scope(name)`` for profiles."""

    @functools.wraps(fn)
    def wrapper(scope: Any, *args: Any, **kwargs: Any) -> Any:
        with jax.named_scope(name):
            return fn(scope, *args, **kwargs)

    return wrapper
