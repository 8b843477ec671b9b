"""``lax.scan`` over any dimensions of the scanned arrays, not only the first."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax


def _scan_nested(
    body_fn: Callable[[Any, Any], tuple[Any, Any]], init: Any, xs: Any, unroll: tuple[Any, ...]
) -> tuple[Any, Any]:
    # One lax.scan per scanned dimension, outermost first; the inner scans'
    # outputs are stacked again by the outer ones.
    if len(unroll) == 1:
        return lax.scan(body_fn, init, xs, unroll=unroll[0])

    def outer(carry: Any, x: Any) -> tuple[Any, Any]:
        return _scan_nested(body_fn, carry, x, unroll[1:])

    return lax.scan(outer, init, xs, unroll=unroll[0])


def scan_in_dim(
    body_fn: Callable[[Any, Any], tuple[Any, Any]],
    init: Any,
    xs: Any,
    axis: int | Sequence[int] = (0,),
    unroll: int | bool | Sequence[int] = (1,),
    keepdims: bool = False,
) -> tuple[Any, Any]:
    """Utility for doing a scan along arbitrary dimensions.

    Works like :func:`jax.lax.scan`, but scans over dimension(s) ``axis`` of
    every leaf of ``xs`` instead of the first one. With several axes the scans
    are nested: the first axis is the outermost loop. The outputs of
    ``body_fn`` are stacked along the same dimensions.

    ``unroll`` gives the unroll factor of each loop, outermost first; a
    shorter tuple (or a single number) is padded with ones on the left, so
    ``scan_in_dim(..., axis=(1, 2, 3), unroll=5)`` is
    ``scan_in_dim(..., axis=(1, 2, 3), unroll=(1, 1, 5))``: the innermost loop
    is unrolled first.

    Args:
        body_fn: the body of the loop, ``(carry, x) -> (carry, y)``.
        init: initial value for the carry.
        xs: a pytree of arrays to scan over.
        axis: the dimension, or dimensions, to scan over.
        keepdims: keep the scanned dimensions, with size 1, in the ``x``
            given to ``body_fn``; its outputs ``y`` must then have them too.
        unroll: a positive integer, or a tuple of them, saying how many
            iterations of each loop are unrolled into one.

    Returns:
        A tuple of the final carry and the values returned by the body,
        stacked along the scanned dimensions.

    Example:

        >>> import jax.numpy as jnp
        >>> from flaxen import jax_utils
        >>> xs = jnp.arange(6.0).reshape(2, 3)
        >>> total, cumsum = jax_utils.scan_in_dim(
        ...     lambda c, x: (c + x, c + x), jnp.zeros(2), xs, axis=1)
        >>> total
        Array([ 3., 12.], dtype=float32)
        >>> cumsum
        Array([[ 0.,  1.,  3.],
               [ 3.,  7., 12.]], dtype=float32)
    """
    axis = (axis,) if isinstance(axis, int) else tuple(axis)
    if not axis:
        raise ValueError("scan_in_dim needs at least one axis to scan over, got axis=().")
    unroll = tuple(unroll) if isinstance(unroll, Sequence) else (unroll,)
    # Padded on the left, truncated on the right: unroll[i] is the i-th loop's.
    unroll = ((1,) * (len(axis) - len(unroll)) + unroll)[: len(axis)]
    leading = tuple(range(len(axis)))

    def body_wrapper(carry: Any, x: Any) -> tuple[Any, Any]:
        if keepdims:
            x = jax.tree_util.tree_map(lambda v: jnp.expand_dims(v, axis), x)
        carry, y = body_fn(carry, x)
        if keepdims:
            y = jax.tree_util.tree_map(lambda v: jnp.squeeze(v, axis), y)
        return carry, y

    xs = jax.tree_util.tree_map(lambda x: jnp.moveaxis(x, axis, leading), xs)
    carry, ys = _scan_nested(body_wrapper, init, xs, unroll)
    return carry, jax.tree_util.tree_map(lambda y: jnp.moveaxis(y, leading, axis), ys)
