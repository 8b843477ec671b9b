"""``BatchNorm``: normalization by batch statistics, with running averages for inference."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from flaxen.linen import Module, compact, merge_param

from ._dtypes import Dtype
from ._initializers import Initializer
from ._lax_ops import as_array
from ._norm_stats import (
    Axes,
    canonicalize_axes,
    compute_stats,
    normalize,
    running_average,
)

Array = jax.Array


def _zeros_f32(shape: tuple[int, ...]) -> Array:
    return jnp.zeros(shape, jnp.float32)


def _ones_f32(shape: tuple[int, ...]) -> Array:
    return jnp.ones(shape, jnp.float32)


class BatchNorm(Module):
    """Batch normalization (https://arxiv.org/abs/1502.03167).

    Normalizes over every axis but the feature ``axis`` using the statistics
    of the batch, and keeps exponential moving averages of those statistics
    in the ``batch_stats`` collection (``mean`` and ``var``, float32). With
    ``use_running_average=True`` the stored averages are used instead, as at
    inference time. Mark ``batch_stats`` mutable while training:

    >>> import jax, jax.numpy as jnp
    >>> from flaxen import linen as nn
    >>> bn = nn.BatchNorm(use_running_average=False, momentum=0.9)
    >>> x = jnp.arange(12.0).reshape(4, 3)
    >>> variables = bn.init(jax.random.key(0), x)
    >>> jax.tree_util.tree_map(jnp.shape, variables)
    {'batch_stats': {'mean': (3,), 'var': (3,)}, 'params': {'bias': (3,), 'scale': (3,)}}
    >>> y, updates = bn.apply(variables, x, mutable=['batch_stats'])
    >>> [round(float(m), 3) for m in updates['batch_stats']['mean']]
    [0.45, 0.55, 0.65]
    >>> [round(float(v), 3) for v in y[:, 0]]
    [-1.342, -0.447, 0.447, 1.342]

    During ``init`` the averages are not updated and ``axis_name`` is not
    used, so initialization may run outside the mapped axis.

    Attributes:
      use_running_average: use the stored statistics instead of the batch's;
        may be given here or when calling (exactly once).
      axis: the feature axis (or axes) of the input.
      momentum: decay rate of the moving averages.
      epsilon: added to the variance to avoid dividing by zero.
      dtype: the dtype of the result (default: inferred from input and params).
      param_dtype: the dtype of ``scale`` and ``bias``.
      use_bias: add a learned ``bias``.
      use_scale: multiply by a learned ``scale``.
      bias_init: initializer of ``bias``.
      scale_init: initializer of ``scale``.
      axis_name: a mapped axis (``pmap``, ``vmap``, ``shard_map``) over which
        batch statistics are averaged too.
      axis_index_groups: groups of indices of ``axis_name`` averaged separately,
        e.g. ``[[0, 1], [2, 3]]`` (see ``jax.lax.psum``).
      use_fast_variance: compute the variance in one pass, as
        ``E[x^2] - E[x]^2``.
      force_float32_reductions: compute the statistics in (at least) float32.
    """

    use_running_average: bool | None = None
    axis: Axes = -1
    momentum: float = 0.99
    epsilon: float = 1e-5
    dtype: Dtype | None = None
    param_dtype: Dtype = jnp.float32
    use_bias: bool = True
    use_scale: bool = True
    bias_init: Initializer = jax.nn.initializers.zeros
    scale_init: Initializer = jax.nn.initializers.ones
    axis_name: str | None = None
    axis_index_groups: Any = None
    use_fast_variance: bool = True
    force_float32_reductions: bool = True

    @compact
    def __call__(
        self,
        x: Array,
        use_running_average: bool | None = None,
        *,
        mask: Array | None = None,
    ) -> Array:
        """Normalizes ``x`` by batch statistics (or the running averages).

        Args:
          x: the input.
          use_running_average: use the stored statistics (if not given as an
            attribute).
          mask: where ``x`` counts in the statistics; broadcastable to ``x``.

        Returns:
          The normalized input, the same shape as ``x``.
        """
        use_running_average = merge_param(
            "use_running_average", self.use_running_average, use_running_average
        )
        x = as_array(x)
        feature_axes = canonicalize_axes(x.ndim, self.axis)
        reduction_axes = tuple(i for i in range(x.ndim) if i not in feature_axes)
        feature_shape = tuple(x.shape[ax] for ax in feature_axes)

        ra_mean = self.variable("batch_stats", "mean", _zeros_f32, feature_shape)
        ra_var = self.variable("batch_stats", "var", _ones_f32, feature_shape)

        if use_running_average:
            mean, var = ra_mean.value, ra_var.value
        else:
            initializing = self.is_initializing()
            mean, var = compute_stats(
                x,
                reduction_axes,
                axis_name=None if initializing else self.axis_name,
                axis_index_groups=self.axis_index_groups,
                use_fast_variance=self.use_fast_variance,
                mask=mask,
                force_float32_reductions=self.force_float32_reductions,
            )
            if not initializing:
                ra_mean.value = running_average(ra_mean.value, mean, self.momentum)
                ra_var.value = running_average(ra_var.value, var, self.momentum)

        return normalize(
            self,
            x,
            mean,
            var,
            reduction_axes,
            feature_axes,
            dtype=self.dtype,
            param_dtype=self.param_dtype,
            epsilon=self.epsilon,
            use_bias=self.use_bias,
            use_scale=self.use_scale,
            bias_init=self.bias_init,
            scale_init=self.scale_init,
        )
