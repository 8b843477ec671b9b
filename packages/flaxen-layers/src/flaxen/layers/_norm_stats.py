"""The arithmetic shared by the normalization layers: statistics and the affine step.

Every layer in :mod:`flaxen.layers.normalization` computes a mean and a
variance over some axes (optionally across devices, optionally under a mask)
and then normalizes with an optional learned scale and bias. The op sequence
is Flax's, so outputs are bit-identical for the same inputs and parameters:

* with ``force_float32_reductions`` the input is first promoted to at least
  float32, so low-precision inputs are reduced in float32;
* the "fast" variance is ``E[|x|^2] - |E[x]|^2`` clipped at zero (one pass,
  one cross-device collective for both moments); otherwise ``E[|x - E[x]|^2]``;
* the affine step is ``(x - mean) * (rsqrt(var + eps) * scale) + bias``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ._dtypes import canonicalize_dtype
from ._lax_ops import PLAIN_FLOATS, add, add_scalar, as_array, mul, reshape, scalar_mul, sub

Array = jax.Array
#: One axis or several (negative values count from the end).
Axes = int | Sequence[int]


def running_average(old: Array, new: Array, momentum: float) -> Array:
    """``momentum * old + (1 - momentum) * new`` (the running statistics' update)."""
    return add(scalar_mul(momentum, old), scalar_mul(1 - momentum, new))


def canonicalize_axes(rank: int, axes: int | Iterable[int]) -> tuple[int, ...]:
    """Non-negative, sorted, de-duplicated axes of an array of rank ``rank``."""
    if isinstance(axes, int):
        return (axes + rank if axes < 0 else axes,)
    return tuple(sorted({ax + rank if ax < 0 else ax for ax in axes}))


def abs_sq(x: Array) -> Array:
    """``|x|^2`` elementwise, real-valued for complex ``x``."""
    if jnp.iscomplexobj(x):
        return lax.add(lax.square(lax.real(x)), lax.square(lax.imag(x)))
    return lax.square(x)


def _mean(x: Array, axes: tuple[int, ...], mask: Array | None) -> Array:
    if mask is None and x.dtype in PLAIN_FLOATS:
        # What ``jnp.mean`` does for these dtypes (sum, then divide by the
        # count in the same dtype), without its argument handling.
        count = 1
        for ax in axes:
            count *= x.shape[ax]
        return lax.div(lax.reduce_sum(x, axes), np.array(count, x.dtype))
    return jnp.mean(x, axes, where=mask)


def compute_stats(
    x: Array,
    axes: tuple[int, ...],
    *,
    axis_name: str | None = None,
    axis_index_groups: Any = None,
    use_mean: bool = True,
    use_fast_variance: bool = True,
    mask: Array | None = None,
    force_float32_reductions: bool = True,
) -> tuple[Array, Array]:
    """Mean and variance of ``x`` over ``axes`` (reduced away, not kept).

    Args:
      x: the input.
      axes: canonical axes to reduce.
      axis_name: a mapped axis (``pmap``/``vmap``/``shard_map``) whose devices'
        statistics are averaged too.
      axis_index_groups: subsets of ``axis_name`` to average over separately.
      use_mean: False for RMS statistics: the mean is taken as zero and the
        "variance" is ``E[|x|^2]``.
      use_fast_variance: one-pass variance (see the module docstring).
      mask: where ``x`` counts; broadcastable to ``x``.
      force_float32_reductions: reduce in at least float32.

    Returns:
      ``(mean, var)``; ``var`` is real even for complex ``x``; ``mean`` is
      None when ``use_mean`` is False.
    """
    if force_float32_reductions:
        wide = jnp.promote_types(jnp.float32, x.dtype)
        if x.dtype != wide:
            x = lax.convert_element_type(x, wide)

    def distributed_mean(*values: Array) -> Any:
        means = [_mean(v, axes, mask) for v in values]
        if axis_name is not None:
            if len(means) > 1:
                # One collective for both moments.
                stacked = lax.pmean(
                    jnp.stack(means), axis_name, axis_index_groups=axis_index_groups
                )
                means = [stacked[i] for i in range(len(means))]
            else:
                means = [lax.pmean(means[0], axis_name, axis_index_groups=axis_index_groups)]
        return means

    if not use_mean:
        (var,) = distributed_mean(abs_sq(x))
        return None, var
    if use_fast_variance:
        mu, mu2 = distributed_mean(x, abs_sq(x))
        var = lax.max(np.array(0, mu2.dtype), sub(mu2, abs_sq(mu)))
    else:
        (mu,) = distributed_mean(x)
        (var,) = distributed_mean(abs_sq(sub(x, lax.expand_dims(mu, axes))))
    return mu, var


def normalize(
    module: Any,
    x: Array,
    mean: Array | None,
    var: Array,
    reduction_axes: tuple[int, ...],
    feature_axes: tuple[int, ...],
    *,
    dtype: Any,
    param_dtype: Any,
    epsilon: float,
    use_bias: bool,
    use_scale: bool,
    bias_init: Any,
    scale_init: Any,
    centered: bool = True,
) -> Array:
    """``(x - mean) * rsqrt(var + epsilon) * scale + bias``, declaring ``scale`` and ``bias``.

    ``mean`` and ``var`` have ``reduction_axes`` removed; ``scale`` and
    ``bias`` are parameters of ``module`` shaped like ``x`` on
    ``feature_axes``. ``centered=False`` skips subtracting ``mean`` (RMS
    normalization, whose mean is zero).
    """
    shape = x.shape
    feature_shape = [1] * x.ndim
    param_shape = []
    for ax in feature_axes:
        feature_shape[ax] = shape[ax]
        param_shape.append(shape[ax])
    feature_shape = tuple(feature_shape)
    param_shape = tuple(param_shape)
    var = lax.expand_dims(var, reduction_axes)
    y = sub(x, lax.expand_dims(mean, reduction_axes)) if centered else x
    factor = lax.rsqrt(add_scalar(var, epsilon))
    scale = bias = None
    if use_scale:
        scale = module.param("scale", scale_init, param_shape, param_dtype)
        scale = reshape(as_array(scale), feature_shape)
        factor = mul(factor, scale)
    y = mul(y, factor)
    if use_bias:
        bias = module.param("bias", bias_init, param_shape, param_dtype)
        bias = reshape(as_array(bias), feature_shape)
        y = add(y, bias)
    out_dtype = canonicalize_dtype(x, scale, bias, dtype=dtype)
    return y if y.dtype == out_dtype else jnp.asarray(y, out_dtype)
