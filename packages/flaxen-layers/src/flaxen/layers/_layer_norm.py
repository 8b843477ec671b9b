"""``LayerNorm`` and ``RMSNorm``: per-example normalization over the feature axes."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from flaxen.linen import Module, compact

from ._dtypes import Dtype
from ._initializers import Initializer
from ._norm_stats import Axes, canonicalize_axes, compute_stats, normalize

Array = jax.Array


class LayerNorm(Module):
    """Layer normalization (https://arxiv.org/abs/1607.06450).

    Normalizes each example independently over ``reduction_axes`` (by
    default the last axis) to zero mean and unit variance, then applies a
    learned ``scale`` and ``bias`` shaped like ``feature_axes``.

    >>> import jax, jax.numpy as jnp
    >>> from flaxen import linen as nn
    >>> x = jnp.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]])
    >>> layer = nn.LayerNorm()
    >>> variables = layer.init(jax.random.key(0), x)
    >>> jax.tree_util.tree_map(jnp.shape, variables)
    {'params': {'bias': (3,), 'scale': (3,)}}
    >>> [round(float(v), 3) for v in layer.apply(variables, x)[1]]
    [-1.225, 0.0, 1.225]

    Attributes:
      epsilon: added to the variance to avoid dividing by zero.
      dtype: the dtype of the result (default: inferred from input and params).
      param_dtype: the dtype of ``scale`` and ``bias``.
      use_bias: add a learned ``bias``.
      use_scale: multiply by a learned ``scale``.
      bias_init: initializer of ``bias``.
      scale_init: initializer of ``scale``.
      reduction_axes: the axes the statistics are computed over.
      feature_axes: the axes ``scale`` and ``bias`` span.
      axis_name: a mapped axis over which statistics are averaged too (only
        needed when the normalized array is itself split across devices).
      axis_index_groups: groups of indices of ``axis_name`` averaged separately.
      use_fast_variance: compute the variance in one pass.
      force_float32_reductions: compute the statistics in (at least) float32.
    """

    epsilon: float = 1e-6
    dtype: Dtype | None = None
    param_dtype: Dtype = jnp.float32
    use_bias: bool = True
    use_scale: bool = True
    bias_init: Initializer = jax.nn.initializers.zeros
    scale_init: Initializer = jax.nn.initializers.ones
    reduction_axes: Axes = -1
    feature_axes: Axes = -1
    axis_name: str | None = None
    axis_index_groups: Any = None
    use_fast_variance: bool = True
    force_float32_reductions: bool = True

    @compact
    def __call__(self, x: Array, *, mask: Array | None = None) -> Array:
        """Normalizes ``x``.

        Args:
          x: the input.
          mask: where ``x`` counts in the statistics; broadcastable to ``x``.

        Returns:
          The normalized input, the same shape as ``x``.
        """
        x = jnp.asarray(x)
        reduction_axes = canonicalize_axes(x.ndim, self.reduction_axes)
        mean, var = compute_stats(
            x,
            reduction_axes,
            axis_name=self.axis_name,
            axis_index_groups=self.axis_index_groups,
            use_fast_variance=self.use_fast_variance,
            mask=mask,
            force_float32_reductions=self.force_float32_reductions,
        )
        return normalize(
            self,
            x,
            mean,
            var,
            reduction_axes,
            canonicalize_axes(x.ndim, self.feature_axes),
            dtype=self.dtype,
            param_dtype=self.param_dtype,
            epsilon=self.epsilon,
            use_bias=self.use_bias,
            use_scale=self.use_scale,
            bias_init=self.bias_init,
            scale_init=self.scale_init,
        )


class RMSNorm(Module):
    """Root-mean-square layer normalization (https://arxiv.org/abs/1910.07467).

    Like :class:`LayerNorm` without re-centering: divides by
    ``sqrt(mean(x^2) + epsilon)`` over ``reduction_axes`` and multiplies by a
    learned ``scale``; there is no bias.

    >>> import jax, jax.numpy as jnp
    >>> from flaxen import linen as nn
    >>> x = jnp.array([[3.0, 4.0]])
    >>> layer = nn.RMSNorm()
    >>> variables = layer.init(jax.random.key(0), x)
    >>> jax.tree_util.tree_map(jnp.shape, variables)
    {'params': {'scale': (2,)}}
    >>> [round(float(v), 3) for v in layer.apply(variables, x)[0]]
    [0.849, 1.131]

    Attributes:
      epsilon: added to the mean square to avoid dividing by zero.
      dtype: the dtype of the result (default: inferred from input and params).
      param_dtype: the dtype of ``scale``.
      use_scale: multiply by a learned ``scale``.
      scale_init: initializer of ``scale``.
      reduction_axes: the axes the statistics are computed over.
      feature_axes: the axes ``scale`` spans.
      axis_name: a mapped axis over which statistics are averaged too.
      axis_index_groups: groups of indices of ``axis_name`` averaged separately.
      use_fast_variance: kept for symmetry with the other layers (RMS
        statistics take one pass either way).
      force_float32_reductions: compute the statistics in (at least) float32.
    """

    epsilon: float = 1e-6
    dtype: Dtype | None = None
    param_dtype: Dtype = jnp.float32
    use_scale: bool = True
    scale_init: Initializer = jax.nn.initializers.ones
    reduction_axes: Axes = -1
    feature_axes: Axes = -1
    axis_name: str | None = None
    axis_index_groups: Any = None
    use_fast_variance: bool = True
    force_float32_reductions: bool = True

    @compact
    def __call__(self, x: Array, *, mask: Array | None = None) -> Array:
        """Normalizes ``x`` by its root mean square.

        Args:
          x: the input.
          mask: where ``x`` counts in the statistics; broadcastable to ``x``.

        Returns:
          The normalized input, the same shape as ``x``.
        """
        x = jnp.asarray(x)
        reduction_axes = canonicalize_axes(x.ndim, self.reduction_axes)
        mean, var = compute_stats(
            x,
            reduction_axes,
            axis_name=self.axis_name,
            axis_index_groups=self.axis_index_groups,
            use_mean=False,
            use_fast_variance=self.use_fast_variance,
            mask=mask,
            force_float32_reductions=self.force_float32_reductions,
        )
        return normalize(
            self,
            x,
            mean,
            var,
            reduction_axes,
            canonicalize_axes(x.ndim, self.feature_axes),
            dtype=self.dtype,
            param_dtype=self.param_dtype,
            epsilon=self.epsilon,
            use_bias=False,
            use_scale=self.use_scale,
            bias_init=None,
            scale_init=self.scale_init,
            centered=False,
        )
