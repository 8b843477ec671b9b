"""``Dense`` and ``DenseGeneral``: learned linear maps over the last axis, or any axes."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from flaxen.linen import Module, compact

from . import _lax_ops, initializers
from ._dtypes import promote_dtype
from ._typing import (
    Array,
    DotGeneralT,
    Dtype,
    Initializer,
    PrecisionLike,
    PromoteDtypeFn,
)

#: The default ``kernel_init`` of the linear layers: LeCun normal (truncated).
default_kernel_init = initializers.lecun_normal()


def canonicalize_tuple(x: int | Sequence[int]) -> tuple[int, ...]:
    """``x`` as a tuple (an int becomes a 1-tuple)."""
    if isinstance(x, Sequence):
        return tuple(x)
    return (x,)


def normalize_axes(axes: tuple[int, ...], ndim: int) -> tuple[int, ...]:
    """Non-negative, sorted axes (duplicates are kept, for lax to reject)."""
    return tuple(sorted(ax if ax >= 0 else ndim + ax for ax in axes))


def choose_op(op_cls: Any, op: Any, default: Any) -> Any:
    """The operation a layer runs: an instance of ``op_cls``, else ``op``, else ``default``."""
    if op_cls is not None:
        return op_cls()
    if op is not None:
        return op
    return default


def reshape_boxed(value: Any, shape: tuple[int, ...]) -> Any:
    """``value`` reshaped to ``shape``; metadata boxes (``nn.Partitioned``) are kept."""
    if isinstance(value, jax.Array):
        return jnp.reshape(value, shape)
    return jax.tree_util.tree_map(lambda leaf: jnp.reshape(leaf, shape), value)


def _flat_kernel_init(
    kernel_init: Initializer, n_in: int, n_out: int, key: Array, shape: tuple[int, ...], dtype: Any
) -> Any:
    # The initializer sees a 2-D (fan_in, fan_out) kernel, so variance scaling
    # uses the product of the contracted (and batch) dims as fan_in.
    # ``shape[-0:]`` is the whole shape: with no features, fan_out is all of it.
    flat = (math.prod(shape[:n_in]), math.prod(shape[-n_out:]))
    return reshape_boxed(kernel_init(key, flat, dtype), shape)


def _flat_bias_init(bias_init: Initializer, key: Array, shape: tuple[int, ...], dtype: Any) -> Any:
    return reshape_boxed(bias_init(key, (math.prod(shape),), dtype), shape)


class Dense(Module):
    """A linear transformation applied over the last dimension of the input.

    ``y = x @ kernel + bias`` with ``kernel`` of shape ``(x.shape[-1], features)``.

    >>> import jax, jax.numpy as jnp
    >>> from flaxen import linen as nn
    >>> layer = nn.Dense(features=4)
    >>> params = layer.init(jax.random.key(0), jnp.ones((1, 3)))
    >>> jax.tree_util.tree_map(jnp.shape, params)
    {'params': {'bias': (4,), 'kernel': (3, 4)}}
    >>> layer.apply(params, jnp.ones((5, 3))).shape
    (5, 4)

    Attributes:
      features: the number of output features.
      use_bias: whether to add a bias to the output (default: True).
      dtype: the dtype of the computation (default: infer from input and params).
      param_dtype: the dtype passed to parameter initializers (default: float32).
      precision: numerical precision of the computation, see ``jax.lax.Precision``.
      kernel_init: initializer function for the weight matrix.
      bias_init: initializer function for the bias.
      promote_dtype: called as ``promote_dtype(inputs, kernel, bias, dtype=dtype)``
        (``bias`` may be None); returns the three, cast to the computation dtype.
      dot_general: replaces ``lax.dot_general`` (same signature).
      dot_general_cls: a class (or factory) whose instance replaces
        ``lax.dot_general``; instantiated on every call, takes precedence over
        ``dot_general``.
    """

    features: int
    use_bias: bool = True
    dtype: Dtype | None = None
    param_dtype: Dtype = jnp.float32
    precision: PrecisionLike = None
    kernel_init: Initializer = default_kernel_init
    bias_init: Initializer = initializers.zeros_init()
    promote_dtype: PromoteDtypeFn = promote_dtype
    # Deprecated in Flax in favour of dot_general_cls; kept for compatibility.
    dot_general: DotGeneralT | None = None
    dot_general_cls: Any = None

    @compact
    def __call__(self, inputs: Array) -> Array:
        """Applies a linear transformation to the inputs along the last dimension.

        Args:
          inputs: the nd-array to be transformed.

        Returns:
          The transformed input, with last dimension ``features``.
        """
        features = self.features
        kernel = self.param(
            "kernel", self.kernel_init, (jnp.shape(inputs)[-1], features), self.param_dtype
        )
        bias = (
            self.param("bias", self.bias_init, (features,), self.param_dtype)
            if self.use_bias
            else None
        )
        inputs, kernel, bias = self.promote_dtype(inputs, kernel, bias, dtype=self.dtype)
        dot_general = choose_op(self.dot_general_cls, self.dot_general, lax.dot_general)
        y = dot_general(
            inputs, kernel, (((inputs.ndim - 1,), (0,)), ((), ())), precision=self.precision
        )
        if bias is not None:
            y = _lax_ops.add_bias(y, bias, (1,) * (y.ndim - 1) + (features,))
        return y


class DenseGeneral(Module):
    """A linear transformation with flexible axes.

    Contracts the input ``axis`` (one or several) with a kernel of shape
    ``batch_shape + contracted_shape + features``; ``batch_dims`` (leading
    axes of the input) get a kernel slice each. The initializers see a 2-D
    kernel ``(prod(batch + contracted), prod(features))`` and a 1-D bias,
    reshaped afterwards, so fan-in counts every contracted axis.

    >>> import jax, jax.numpy as jnp
    >>> from flaxen import linen as nn
    >>> layer = nn.DenseGeneral(features=(4, 5), axis=(-2, -1))
    >>> params = layer.init(jax.random.key(0), jnp.ones((1, 3, 6, 7)))
    >>> jax.tree_util.tree_map(jnp.shape, params)
    {'params': {'bias': (4, 5), 'kernel': (6, 7, 4, 5)}}
    >>> layer.apply(params, jnp.ones((1, 3, 6, 7))).shape
    (1, 3, 4, 5)

    Attributes:
      features: int or tuple with number of output features.
      axis: int or tuple with axes to apply the transformation on. For
        instance, ``(-2, -1)`` applies the transformation to the last two axes.
      batch_dims: tuple with batch axes (leading, consecutive, from 0).
      use_bias: whether to add a bias to the output (default: True).
      dtype: the dtype of the computation (default: infer from input and params).
      param_dtype: the dtype passed to parameter initializers (default: float32).
      kernel_init: initializer function for the weight matrix.
      bias_init: initializer function for the bias.
      precision: numerical precision of the computation, see ``jax.lax.Precision``.
      promote_dtype: called as ``promote_dtype(inputs, kernel, bias, dtype=dtype)``.
      dot_general: replaces ``lax.dot_general`` (same signature).
      dot_general_cls: a factory whose instance replaces ``lax.dot_general``.
    """

    features: int | Sequence[int]
    axis: int | Sequence[int] = -1
    batch_dims: Sequence[int] = ()
    use_bias: bool = True
    dtype: Dtype | None = None
    param_dtype: Dtype = jnp.float32
    kernel_init: Initializer = default_kernel_init
    bias_init: Initializer = initializers.zeros_init()
    precision: PrecisionLike = None
    promote_dtype: PromoteDtypeFn = promote_dtype
    # Deprecated in Flax in favour of dot_general_cls; kept for compatibility.
    dot_general: DotGeneralT | None = None
    dot_general_cls: Any = None

    @compact
    def __call__(self, inputs: Array) -> Array:
        """Applies a linear transformation to the inputs along multiple dimensions.

        Args:
          inputs: the nd-array to be transformed.

        Returns:
          The transformed input: batch axes, the axes not contracted, then ``features``.
        """
        features = canonicalize_tuple(self.features)
        axis = canonicalize_tuple(self.axis)
        batch_dims = canonicalize_tuple(self.batch_dims)
        if batch_dims and set(batch_dims) != set(range(max(batch_dims) + 1)):
            raise ValueError(
                f"batch_dims {batch_dims} must be consecutive leading dimensions starting from 0."
            )
        shape = jnp.shape(inputs)
        ndim = len(shape)
        n_batch, n_axis, n_features = len(batch_dims), len(axis), len(features)
        axis = normalize_axes(axis, ndim)
        batch_dims = normalize_axes(batch_dims, ndim)
        batch_shape = tuple(shape[ax] for ax in batch_dims)
        kernel_shape = batch_shape + tuple(shape[ax] for ax in axis) + features
        kernel_init = functools.partial(
            _flat_kernel_init, self.kernel_init, n_batch + n_axis, n_features
        )
        kernel = self.param("kernel", kernel_init, kernel_shape, self.param_dtype)
        if self.use_bias:
            bias_init = functools.partial(_flat_bias_init, self.bias_init)
            bias = self.param("bias", bias_init, batch_shape + features, self.param_dtype)
        else:
            bias = None
        inputs, kernel, bias = self.promote_dtype(inputs, kernel, bias, dtype=self.dtype)
        dot_general = choose_op(self.dot_general_cls, self.dot_general, lax.dot_general)
        dimension_numbers = (
            (axis, tuple(range(n_batch, n_batch + n_axis))),
            (batch_dims, tuple(range(n_batch))),
        )
        out = dot_general(inputs, kernel, dimension_numbers, precision=self.precision)
        if bias is not None:
            n_free = ndim - n_batch - n_axis
            out = _lax_ops.add_bias(out, bias, batch_shape + (1,) * n_free + features)
        return out
