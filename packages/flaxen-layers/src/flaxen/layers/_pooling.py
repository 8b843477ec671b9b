"""Pooling over windows with ``lax.reduce_window``: ``pool`` and max/avg/min pooling."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np
from jax import lax

from ._typing import Array

Padding = str | Sequence[tuple[int, int]]


def pool(
    inputs: Array,
    init: Any,
    reduce_fn: Callable[[Any, Any], Any],
    window_shape: Sequence[int],
    strides: Sequence[int] | None,
    padding: Padding,
) -> Array:
    """Reduces every window of ``inputs`` with ``reduce_fn`` (the ReduceWindow XLA op).

    The layout is ``(batch..., window dims..., features)``: any number of
    leading batch axes (none for a single example) and a trailing feature
    axis, neither of them pooled.

    .. note::
      Pooling is not generally differentiable: a differentiable ``reduce_fn``
      does not make ``pool`` differentiable (``max_pool`` and ``avg_pool`` are,
      through lax's own rules for max and sum).

    >>> import jax.numpy as jnp
    >>> from jax import lax
    >>> from flaxen import linen as nn
    >>> x = jnp.arange(8.0).reshape(1, 4, 2, 1)
    >>> nn.pool(x, 0.0, lax.add, (2, 2), (2, 2), 'VALID')[..., 0]
    Array([[[ 6.],
            [22.]]], dtype=float32)

    Args:
      inputs: input data with dimensions ``(batch, window dims..., features)``.
      init: the initial value of the reduction.
      reduce_fn: a reduction ``(T, T) -> T``.
      window_shape: a shape tuple defining the window to reduce over.
      strides: the ``n`` inter-window strides (default: ``(1, ..., 1)``).
      padding: ``'SAME'``, ``'VALID'``, or ``n`` ``(low, high)`` integer pairs
        giving the padding before and after each window dimension.

    Returns:
      The output of the reduction for each window slice.
    """
    n_window = len(window_shape)
    strides = strides or (1,) * n_window
    if n_window != len(strides):
        raise AssertionError(f"len({window_shape}) must equal len({strides})")
    n_batch = inputs.ndim - (n_window + 1)
    dims = (1,) * n_batch + window_shape + (1,)
    all_strides = (1,) * n_batch + tuple(strides) + (1,)
    single = n_batch == 0
    if single:  # one example: pool it as a batch of one
        inputs = inputs[None]
        dims = (1, *dims)
        all_strides = (1, *all_strides)
        n_batch = 1
    if inputs.ndim != len(dims):
        raise AssertionError(f"len({inputs.shape}) != len({dims})")
    if not isinstance(padding, str):
        padding = tuple(map(tuple, padding))
        if len(padding) != n_window:
            raise AssertionError(
                f"padding {padding} must specify pads for same number of dims as"
                f" window_shape {window_shape}"
            )
        if not all(len(pair) == 2 for pair in padding):
            raise AssertionError(f"each entry in padding {padding} must be length 2")
        padding = ((0, 0),) * n_batch + padding + ((0, 0),)
    y = lax.reduce_window(inputs, init, reduce_fn, dims, all_strides, padding)
    if single:
        y = jnp.squeeze(y, axis=0)
    return y


def avg_pool(
    inputs: Array,
    window_shape: Sequence[int],
    strides: Sequence[int] | None = None,
    padding: Padding = "VALID",
    count_include_pad: bool = True,
) -> Array:
    """Pools the input by taking the average over a window.

    >>> import jax.numpy as jnp
    >>> from flaxen import linen as nn
    >>> x = jnp.arange(4.0).reshape(1, 4, 1)
    >>> nn.avg_pool(x, (2,), padding='SAME')[0, :, 0]
    Array([0.5, 1.5, 2.5, 1.5], dtype=float32)
    >>> nn.avg_pool(x, (2,), padding='SAME', count_include_pad=False)[0, :, 0]
    Array([0.5, 1.5, 2.5, 3. ], dtype=float32)

    Args:
      inputs: input data with dimensions ``(batch, window dims..., features)``.
      window_shape: a shape tuple defining the window to reduce over.
      strides: the ``n`` inter-window strides (default: ``(1, ..., 1)``).
      padding: ``'SAME'``, ``'VALID'`` (default), or ``n`` ``(low, high)`` pairs.
      count_include_pad: whether padded positions count in the divisor
        (default: True); with False each window is divided by the number of
        real inputs it covers.

    Returns:
      The average for each window slice.
    """
    y = pool(inputs, 0.0, lax.add, window_shape, strides, padding)
    if count_include_pad:
        return y / np.prod(window_shape)
    # The count of real inputs per window: pool ones shaped like one example
    # (batch axes of size 1, one feature) and let division broadcast.
    div_shape = (*inputs.shape[:-1], 1)
    if len(div_shape) - 2 == len(window_shape):
        div_shape = (1, *div_shape[1:])
    return y / pool(jnp.ones(div_shape), 0.0, lax.add, window_shape, strides, padding)


def max_pool(
    inputs: Array,
    window_shape: Sequence[int],
    strides: Sequence[int] | None = None,
    padding: Padding = "VALID",
) -> Array:
    """Pools the input by taking the maximum of a window slice.

    >>> import jax.numpy as jnp
    >>> from flaxen import linen as nn
    >>> x = jnp.array([[[1.0], [3.0], [2.0], [0.0]]])
    >>> nn.max_pool(x, (2,), strides=(2,))[0, :, 0]
    Array([3., 2.], dtype=float32)

    Args:
      inputs: input data with dimensions ``(batch, window dims..., features)``.
      window_shape: a shape tuple defining the window to reduce over.
      strides: the ``n`` inter-window strides (default: ``(1, ..., 1)``).
      padding: ``'SAME'``, ``'VALID'`` (default), or ``n`` ``(low, high)`` pairs.

    Returns:
      The maximum for each window slice.
    """
    return pool(inputs, -jnp.inf, lax.max, window_shape, strides, padding)


def min_pool(
    inputs: Array,
    window_shape: Sequence[int],
    strides: Sequence[int] | None = None,
    padding: Padding = "VALID",
) -> Array:
    """Pools the input by taking the minimum of a window slice.

    >>> import jax.numpy as jnp
    >>> from flaxen.linen import pooling
    >>> x = jnp.array([[[1.0], [3.0], [2.0], [0.0]]])
    >>> pooling.min_pool(x, (2,), strides=(2,))[0, :, 0]
    Array([1., 0.], dtype=float32)

    Args:
      inputs: input data with dimensions ``(batch, window dims..., features)``.
      window_shape: a shape tuple defining the window to reduce over.
      strides: the ``n`` inter-window strides (default: ``(1, ..., 1)``).
      padding: ``'SAME'``, ``'VALID'`` (default), or ``n`` ``(low, high)`` pairs.

    Returns:
      The minimum for each window slice.
    """
    return pool(inputs, jnp.inf, lax.min, window_shape, strides, padding)
