"""Helpers shared by the convolution layers: padding, dimension numbers, batch axes."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp
from jax import lax

from . import _lax_ops
from ._typing import Array, LaxPadding, PaddingLike


def canonicalize_padding(padding: PaddingLike, rank: int) -> LaxPadding:
    """Canonicalizes conv padding to a ``jax.lax`` supported format.

    A string is returned as is (``'SAME'``, ``'VALID'``, and the layer-level
    ``'CIRCULAR'`` and ``'CAUSAL'``); an int pads every dimension by that much
    on both sides; a sequence of ``rank`` entries gives each dimension an int
    (both sides) or a ``(low, high)`` pair.

    >>> from flaxen.linen import linear
    >>> linear.canonicalize_padding(1, 2)
    [(1, 1), (1, 1)]
    >>> linear.canonicalize_padding((1, (0, 2)), 2)
    [(1, 1), (0, 2)]

    Raises:
      ValueError: ``padding`` has none of these forms.
    """
    if isinstance(padding, str):
        return padding
    if isinstance(padding, int):
        return [(padding, padding)] * rank
    if isinstance(padding, Sequence) and len(padding) == rank:
        pads = []
        for entry in padding:
            if isinstance(entry, int):
                pads.append((entry, entry))
            elif isinstance(entry, Sequence) and not isinstance(entry, str) and len(entry) == 2:
                pads.append(tuple(entry))
            else:
                break
        else:
            return pads
    raise ValueError(
        f"Invalid padding format: {padding}, should be str, int,"
        f" or a sequence of len {rank} where each element is an"
        " int or pair of ints."
    )


@functools.cache
def conv_dimension_numbers(ndim: int) -> lax.ConvDimensionNumbers:
    """Channels-last dimension numbers (``N...C``, ``...IO``, ``N...C``) for rank ``ndim``."""
    spatial = tuple(range(1, ndim - 1))
    lhs = (0, ndim - 1, *spatial)
    rhs = (ndim - 1, ndim - 2, *range(ndim - 2))
    return lax.ConvDimensionNumbers(lhs, rhs, lhs)


def as_tuple(value: int | Sequence[int] | None, rank: int) -> tuple[int, ...]:
    """A per-dimension tuple: ``None`` means 1, an int is repeated ``rank`` times."""
    if value is None:
        value = 1
    if isinstance(value, int):
        return (value,) * rank
    return tuple(value)


def kernel_size_tuple(kernel_size: int | Sequence[int]) -> tuple[int, ...]:
    if isinstance(kernel_size, int):
        return (kernel_size,)
    return tuple(kernel_size)


def flatten_batch(inputs: Array, n_spatial: int) -> tuple[Array, tuple[int, ...] | None]:
    """Reshapes ``inputs`` to exactly one batch axis.

    Returns the reshaped inputs and the original batch shape, or None when
    the inputs already had exactly one batch axis (then nothing is reshaped).
    A single example (no batch axis) becomes a batch of one.
    """
    n_batch = inputs.ndim - (n_spatial + 1)
    if n_batch == 1:
        return inputs, None
    batch_shape = inputs.shape[:n_batch]
    flat_shape = (math.prod(batch_shape), *inputs.shape[n_batch:])
    return jnp.reshape(inputs, flat_shape), batch_shape


def unflatten_batch(y: Array, batch_shape: tuple[int, ...] | None) -> Array:
    if batch_shape is None:
        return y
    return jnp.reshape(y, batch_shape + y.shape[1:])


def check_mask(mask: Any, kernel_shape: tuple[int, ...]) -> None:
    if mask is not None and mask.shape != kernel_shape:
        raise ValueError(
            "Mask needs to have the same shape as weights. "
            f"Shapes are: {mask.shape}, {kernel_shape}"
        )


def add_bias(y: Array, bias: Array | None) -> Array:
    if bias is None:
        return y
    return _lax_ops.add_bias(y, bias, (1,) * (y.ndim - bias.ndim) + bias.shape)
