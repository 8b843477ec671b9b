"""Lifted ``jax.vmap``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax

from flaxen.core._filters import Filter

from ._axes import add_axes, prefix_pairs, remove_axes, rng_tree_map, split_in_out_axes
from ._pack import pack


def _axis_size(
    variable_in_axes: tuple[Any, ...],
    in_axes: Any,
    variable_groups: tuple[Any, ...],
    args: tuple[Any, ...],
    axis_size: int | None,
) -> int:
    if axis_size is not None:
        return axis_size
    for axis, subtree in prefix_pairs((variable_in_axes, in_axes), (variable_groups, args)):
        if axis is None:
            continue
        for leaf in jax.tree_util.tree_leaves(subtree):
            shape = getattr(leaf, "shape", None)
            if shape:
                return shape[axis]
    raise ValueError(
        "vmap could not infer the size of the mapped axis: no input is mapped."
        " Map at least one argument with in_axes or pass axis_size."
    )


def vmap(
    fn: Callable[..., Any],
    variable_axes: Mapping[Filter, Any],
    split_rngs: Mapping[Filter, bool],
    in_axes: Any = 0,
    out_axes: Any = 0,
    axis_size: int | None = None,
    axis_name: str | None = None,
    spmd_axis_name: str | tuple[str, ...] | None = None,
    metadata_params: dict[Any, Any] | None = None,
) -> Callable[..., Any]:
    """Lifted ``jax.vmap`` over a function of a scope.

    Args:
      fn: ``fn(scope, *args)``.
      variable_axes: collection filter -> the axis its variables are mapped
        along (``None``: broadcast), or :class:`In`/:class:`Out` for one direction.
      split_rngs: stream filter -> whether each mapped element gets its own key
        (the stream's root key is split; the path suffix is kept).
      in_axes: as for ``jax.vmap``, over ``args``.
      out_axes: as for ``jax.vmap``, over the output.
      axis_size: the mapped size when no input is mapped.
      axis_name: a name for collectives over the mapped axis.
      spmd_axis_name: mesh axis names for sharding constraints inside.
      metadata_params: passed to ``AxisMetadata.add_axis``/``remove_axis``.

    Returns:
      ``vmapped(scope, *args)``.

    >>> import jax, jax.numpy as jnp
    >>> from flaxen.core import init, lift
    >>> def dense(scope, x):
    ...   w = scope.param('w', jax.nn.initializers.normal(), (x.shape[-1], 2))
    ...   return x @ w
    >>> batched = lift.vmap(dense, variable_axes={'params': 0}, split_rngs={'params': True})
    >>> y, variables = init(batched)(jax.random.key(0), jnp.ones((4, 3)))
    >>> variables['params']['w'].shape
    (4, 3, 2)
    """
    metadata_params = dict(metadata_params or {})
    variable_in, variable_out = split_in_out_axes(variable_axes)
    variable_in_groups, variable_in_axes = tuple(variable_in), tuple(variable_in.values())
    variable_out_groups, variable_out_axes = tuple(variable_out), tuple(variable_out.values())
    rng_groups_filters, rng_splits = tuple(split_rngs), tuple(split_rngs.values())
    rng_axes = tuple(0 if split else None for split in rng_splits)

    def inner(scope_fn, repack_fn, variable_groups, rng_groups, *args):
        size = _axis_size(variable_in_axes, in_axes, variable_groups, args, axis_size)
        rng_groups = tuple(
            rng_tree_map(lambda key: jax.random.split(key, size), group) if split else group
            for group, split in zip(rng_groups, rng_splits)
        )
        variable_groups = remove_axes(variable_groups, variable_in_axes, metadata_params)

        def mapped(variable_groups, rng_groups, args):
            scope = scope_fn(variable_groups, rng_groups)
            y = fn(scope, *args)
            return y, repack_fn(scope)

        y, out_groups = jax.vmap(
            mapped,
            in_axes=(variable_in_axes, rng_axes, in_axes),
            out_axes=(out_axes, variable_out_axes),
            axis_name=axis_name,
            axis_size=size,
            spmd_axis_name=spmd_axis_name,
        )(variable_groups, rng_groups, args)
        return y, add_axes(out_groups, variable_out_axes, metadata_params)

    return pack(inner, variable_in_groups, variable_out_groups, rng_groups_filters, name="vmap")
