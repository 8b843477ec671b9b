"""``GroupNorm`` and ``InstanceNorm``: per-example statistics over groups of channels."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from flaxen.linen import Module, compact

from ._dtypes import Dtype
from ._initializers import Initializer
from ._norm_stats import Axes, canonicalize_axes, compute_stats, normalize

Array = jax.Array


class GroupNorm(Module):
    """Group normalization (https://arxiv.org/abs/1803.08494).

    Splits the channels (last axis) into equally sized groups and normalizes
    each example over the spatial axes and the channels of each group. Give
    either ``num_groups`` or ``group_size`` (pass ``num_groups=None`` to use
    ``group_size``, since ``num_groups`` defaults to 32).

    >>> import jax, jax.numpy as jnp
    >>> from flaxen import linen as nn
    >>> x = jnp.arange(8.0).reshape(1, 2, 4)
    >>> layer = nn.GroupNorm(num_groups=2)
    >>> variables = layer.init(jax.random.key(0), x)
    >>> jax.tree_util.tree_map(jnp.shape, variables)
    {'params': {'bias': (4,), 'scale': (4,)}}
    >>> [round(float(v), 3) for v in layer.apply(variables, x)[0, 0]]
    [-1.213, -0.728, -1.213, -0.728]

    Attributes:
      num_groups: the number of channel groups (32, as in the paper, by default).
      group_size: the number of channels per group.
      epsilon: added to the variance to avoid dividing by zero.
      dtype: the dtype of the result (default: inferred from input and params).
      param_dtype: the dtype of ``scale`` and ``bias``.
      use_bias: add a learned ``bias``.
      use_scale: multiply by a learned ``scale``.
      bias_init: initializer of ``bias``.
      scale_init: initializer of ``scale``.
      reduction_axes: the axes the statistics are computed over; must include
        the last (channel) axis. Default: every axis but the first.
      axis_name: a mapped axis over which statistics are averaged too.
      axis_index_groups: groups of indices of ``axis_name`` averaged separately.
      use_fast_variance: compute the variance in one pass.
      force_float32_reductions: compute the statistics in (at least) float32.
    """

    num_groups: int | None = 32
    group_size: int | None = None
    epsilon: float = 1e-6
    dtype: Dtype | None = None
    param_dtype: Dtype = jnp.float32
    use_bias: bool = True
    use_scale: bool = True
    bias_init: Initializer = jax.nn.initializers.zeros
    scale_init: Initializer = jax.nn.initializers.ones
    reduction_axes: Axes | None = None
    axis_name: str | None = None
    axis_index_groups: Any = None
    use_fast_variance: bool = True
    force_float32_reductions: bool = True

    @compact
    def __call__(self, x: Array, *, mask: Array | None = None) -> Array:
        """Normalizes ``x`` by the statistics of each group of channels.

        Args:
          x: the input, ``(batch, ..., channels)``.
          mask: where ``x`` counts in the statistics; the same shape as ``x``.

        Returns:
          The normalized input, the same shape as ``x``.

        Raises:
          ValueError: neither or both of ``num_groups`` and ``group_size`` are
            given, they do not divide the channels, or ``reduction_axes``
            leaves out the channel axis.
        """
        x = jnp.asarray(x)
        ndim = x.ndim
        if self.reduction_axes is None:
            reduction_axes = (*range(1, ndim - 1), ndim - 1)
        else:
            reduction_axes = canonicalize_axes(ndim, self.reduction_axes)
        if ndim - 1 not in reduction_axes:
            raise ValueError(
                "The reduction axes must include the final dimension as this is"
                " assumed to be the feature axis."
            )
        if (self.num_groups is None) == (self.group_size is None):
            raise ValueError(
                "Either `num_groups` or `group_size` should be specified. If"
                " `group_size` is to be specified, pass `num_groups=None` as"
                " argument to override the default `num_groups` value of 32."
            )
        channels = x.shape[-1]
        num_groups = self.num_groups
        if self.group_size is not None:
            if channels % self.group_size != 0:
                raise ValueError(
                    f"Number of channels ({channels}) is not multiple of the"
                    f" group size ({self.group_size})."
                )
            num_groups = channels // self.group_size
        if num_groups <= 0 or channels % num_groups != 0:
            raise ValueError(
                f"Number of groups ({num_groups}) does not divide the number"
                f" of channels ({channels})."
            )
        group_size = channels // num_groups

        # Statistics over (reduction axes but the channels) x (channels of a
        # group): split the channel axis into (num_groups, group_size).
        grouped_shape = (*x.shape[:-1], num_groups, group_size)
        spatial_axes = reduction_axes[:-1]
        mean, var = compute_stats(
            x.reshape(grouped_shape),
            (*spatial_axes, ndim),
            axis_name=self.axis_name,
            axis_index_groups=self.axis_index_groups,
            use_fast_variance=self.use_fast_variance,
            mask=None if mask is None else jnp.reshape(mask, grouped_shape),
            force_float32_reductions=self.force_float32_reductions,
        )
        # Back to one statistic per channel (the groups axis is the last).
        mean = jnp.repeat(mean, group_size, axis=-1)
        var = jnp.repeat(var, group_size, axis=-1)
        return normalize(
            self,
            x,
            mean,
            var,
            spatial_axes,
            (ndim - 1,),
            dtype=self.dtype,
            param_dtype=self.param_dtype,
            epsilon=self.epsilon,
            use_bias=self.use_bias,
            use_scale=self.use_scale,
            bias_init=self.bias_init,
            scale_init=self.scale_init,
        )


class InstanceNorm(Module):
    """Instance normalization (https://arxiv.org/abs/1607.08022).

    Normalizes each example and each feature independently over the
    remaining axes (all but the first, batch, axis and ``feature_axes``), as
    :class:`GroupNorm` with one channel per group.

    >>> import jax, jax.numpy as jnp
    >>> from flaxen import linen as nn
    >>> x = jnp.array([[[1.0, 10.0], [3.0, 30.0]]])
    >>> layer = nn.InstanceNorm()
    >>> variables = layer.init(jax.random.key(0), x)
    >>> [round(float(v), 3) for v in layer.apply(variables, x)[0, :, 0]]
    [-1.0, 1.0]

    Attributes:
      epsilon: added to the variance to avoid dividing by zero.
      dtype: the dtype of the result (default: inferred from input and params).
      param_dtype: the dtype of ``scale`` and ``bias``.
      use_bias: add a learned ``bias``.
      use_scale: multiply by a learned ``scale``.
      bias_init: initializer of ``bias``.
      scale_init: initializer of ``scale``.
      feature_axes: the axes that are not reduced (besides the batch axis) and
        that ``scale`` and ``bias`` span; must not include axis 0.
      axis_name: a mapped axis over which statistics are averaged too.
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
    feature_axes: Axes = -1
    axis_name: str | None = None
    axis_index_groups: Any = None
    use_fast_variance: bool = True
    force_float32_reductions: bool = True

    @compact
    def __call__(self, x: Array, *, mask: Array | None = None) -> Array:
        """Normalizes ``x`` per example and feature.

        Args:
          x: the input, ``(batch, ...)``.
          mask: where ``x`` counts in the statistics; broadcastable to ``x``.

        Returns:
          The normalized input, the same shape as ``x``.

        Raises:
          ValueError: ``feature_axes`` includes the batch axis.
        """
        x = jnp.asarray(x)
        feature_axes = canonicalize_axes(x.ndim, self.feature_axes)
        if 0 in feature_axes:
            raise ValueError(
                "The channel axes cannot include the leading dimension as this is"
                " assumed to be the batch axis."
            )
        reduction_axes = tuple(i for i in range(1, x.ndim) if i not in feature_axes)
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
            feature_axes,
            dtype=self.dtype,
            param_dtype=self.param_dtype,
            epsilon=self.epsilon,
            use_bias=self.use_bias,
            use_scale=self.use_scale,
            bias_init=self.bias_init,
            scale_init=self.scale_init,
        )
