"""``Conv`` (shared weights) and ``ConvLocal`` (a kernel per output position)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from flaxen.linen import Module, compact

from . import initializers
from ._conv_util import (
    add_bias,
    as_tuple,
    canonicalize_padding,
    check_mask,
    conv_dimension_numbers,
    flatten_batch,
    kernel_size_tuple,
    unflatten_batch,
)
from ._dense import choose_op, default_kernel_init
from ._dtypes import promote_dtype
from ._typing import (
    Array,
    ConvGeneralDilatedT,
    Dtype,
    Initializer,
    PaddingLike,
    PrecisionLike,
    PromoteDtypeFn,
)


def _pad_for_layer_padding(
    inputs: Array, padding: Any, kernel_size: tuple[int, ...], kernel_dilation: tuple[int, ...]
) -> tuple[Array, Any]:
    """Applies ``'CIRCULAR'``/``'CAUSAL'`` padding to ``inputs``; lax then sees ``'VALID'``."""
    if padding == "CIRCULAR":
        # Wrap around so that the output has the input's size (stride 1),
        # the extra element of an even window on the high side as with 'SAME'.
        dilated = [(k - 1) * d + 1 for k, d in zip(kernel_size, kernel_dilation, strict=True)]
        pads = [(0, 0), *(((k - 1) // 2, k // 2) for k in dilated), (0, 0)]
        return jnp.pad(inputs, pads, mode="wrap"), "VALID"
    if padding == "CAUSAL":
        if len(kernel_size) != 1:
            raise ValueError("Causal padding is only implemented for 1D convolutions.")
        left = kernel_dilation[0] * (kernel_size[0] - 1)
        return jnp.pad(inputs, [(0, 0), (left, 0), (0, 0)]), "VALID"
    return inputs, padding


class _Conv(Module):
    """The fields and the computation shared by :class:`Conv` and :class:`ConvLocal`."""

    features: int
    kernel_size: int | Sequence[int]
    strides: int | Sequence[int] | None = 1
    padding: PaddingLike = "SAME"
    input_dilation: int | Sequence[int] | None = 1
    kernel_dilation: int | Sequence[int] | None = 1
    feature_group_count: int = 1
    use_bias: bool = True
    mask: Array | None = None
    dtype: Dtype | None = None
    param_dtype: Dtype = jnp.float32
    precision: PrecisionLike = None
    kernel_init: Initializer = default_kernel_init
    bias_init: Initializer = initializers.zeros_init()
    promote_dtype: PromoteDtypeFn = promote_dtype
    # Deprecated in Flax in favour of conv_general_dilated_cls; kept for compatibility.
    conv_general_dilated: ConvGeneralDilatedT | None = None
    conv_general_dilated_cls: Any = None

    @property
    def shared_weights(self) -> bool:
        """Whether every output position uses the same kernel (Conv) or its own (ConvLocal)."""
        raise NotImplementedError

    @compact
    def __call__(self, inputs: Array) -> Array:
        """Applies a (potentially unshared) convolution to the inputs.

        Args:
          inputs: input data with dimensions ``(*batch_dims, spatial_dims...,
            features)`` (channels last: NWC, NHWC, NDHWC, unlike
            ``lax.conv_general_dilated``). Several batch dimensions are
            flattened into one for the convolution and restored afterwards
            (``jax.vmap`` over the layer can be faster); a single example
            without batch dimension is convolved as a batch of one.

        Returns:
          The convolved data.
        """
        kernel_size = kernel_size_tuple(self.kernel_size)
        rank = len(kernel_size)
        inputs, batch_shape = flatten_batch(inputs, rank)
        strides = as_tuple(self.strides, rank)
        input_dilation = as_tuple(self.input_dilation, rank)
        kernel_dilation = as_tuple(self.kernel_dilation, rank)
        padding = canonicalize_padding(self.padding, rank)
        inputs, padding = _pad_for_layer_padding(inputs, padding, kernel_size, kernel_dilation)
        dimension_numbers = conv_dimension_numbers(inputs.ndim)
        in_features = jnp.shape(inputs)[-1]
        features = self.features
        feature_group_count = self.feature_group_count

        if self.shared_weights:
            if in_features % feature_group_count != 0:
                raise AssertionError(
                    f"The number of input features ({in_features}) must be a multiple of"
                    f" feature_group_count ({feature_group_count})."
                )
            kernel_shape = (*kernel_size, in_features // feature_group_count, features)
            conv = choose_op(
                self.conv_general_dilated_cls, self.conv_general_dilated, lax.conv_general_dilated
            )
        else:
            if feature_group_count != 1:
                raise NotImplementedError(
                    "`lax.conv_general_dilated_local` does not support "
                    f"`feature_group_count != 1`, got `{feature_group_count}`."
                )
            # One kernel per output position: find the output's spatial shape
            # from the equivalent shared-weight convolution, without running it.
            shape_conv = choose_op(
                self.conv_general_dilated_cls, self.conv_general_dilated, lax.conv_general_dilated
            )
            out_shape = jax.eval_shape(
                lambda lhs, rhs: shape_conv(
                    lhs=lhs,
                    rhs=rhs,
                    window_strides=strides,
                    padding=padding,
                    dimension_numbers=dimension_numbers,
                    lhs_dilation=input_dilation,
                    rhs_dilation=kernel_dilation,
                ),
                inputs,
                jax.ShapeDtypeStruct((*kernel_size, in_features, features), inputs.dtype),
            ).shape
            kernel_shape = (*out_shape[1:-1], math.prod(kernel_size) * in_features, features)

        mask = self.mask
        check_mask(mask, kernel_shape)
        kernel = self.param("kernel", self.kernel_init, kernel_shape, self.param_dtype)
        if mask is not None:
            kernel *= mask

        if self.use_bias:
            bias_shape = (features,) if self.shared_weights else (*out_shape[1:-1], features)
            bias = self.param("bias", self.bias_init, bias_shape, self.param_dtype)
        else:
            bias = None

        inputs, kernel, bias = self.promote_dtype(inputs, kernel, bias, dtype=self.dtype)
        if self.shared_weights:
            y = conv(
                inputs,
                kernel,
                strides,
                padding,
                lhs_dilation=input_dilation,
                rhs_dilation=kernel_dilation,
                dimension_numbers=dimension_numbers,
                feature_group_count=feature_group_count,
                precision=self.precision,
            )
        else:
            y = lax.conv_general_dilated_local(
                lhs=inputs,
                rhs=kernel,
                window_strides=strides,
                padding=padding,
                filter_shape=kernel_size,
                lhs_dilation=input_dilation,
                rhs_dilation=kernel_dilation,
                dimension_numbers=dimension_numbers,
                precision=self.precision,
            )
        return unflatten_batch(add_bias(y, bias), batch_shape)


class Conv(_Conv):
    """Convolution Module wrapping ``lax.conv_general_dilated``.

    The kernel has shape ``kernel_size + (in_features // feature_group_count,
    features)``; inputs are channels-last.

    >>> import jax, jax.numpy as jnp
    >>> from flaxen import linen as nn
    >>> layer = nn.Conv(features=4, kernel_size=(3,), padding='VALID')
    >>> x = jnp.ones((1, 8, 3))  # (batch, length, features)
    >>> variables = layer.init(jax.random.key(0), x)
    >>> jax.tree_util.tree_map(jnp.shape, variables)
    {'params': {'bias': (4,), 'kernel': (3, 3, 4)}}
    >>> layer.apply(variables, x).shape
    (1, 6, 4)
    >>> # A causal convolution: each output sees only the present and the past.
    >>> nn.Conv(4, (3,), padding='CAUSAL').apply(variables, x).shape
    (1, 8, 4)

    Attributes:
      features: number of convolution filters.
      kernel_size: shape of the convolutional kernel (an int means a 1-D kernel).
      strides: an integer or a sequence of ``n`` integers, the inter-window strides (default: 1).
      padding: ``'SAME'``, ``'VALID'``, ``'CIRCULAR'`` (periodic boundary
        conditions), ``'CAUSAL'`` (1-D only: pad on the left by
        ``(kernel_size - 1) * kernel_dilation``), an int (the same padding on
        both sides of every dimension), or ``n`` ints or ``(low, high)`` pairs.
      input_dilation: an integer or a sequence of ``n`` integers, the dilation
        factor of the inputs (default: 1); a transposed convolution in effect.
      kernel_dilation: an integer or a sequence of ``n`` integers, the dilation
        factor of the kernel (default: 1); atrous convolution.
      feature_group_count: if given, divides the input features into groups.
      use_bias: whether to add a bias to the output (default: True).
      mask: optional mask for the weights during masked convolution; same shape as the kernel.
      dtype: the dtype of the computation (default: infer from input and params).
      param_dtype: the dtype passed to parameter initializers (default: float32).
      precision: numerical precision of the computation, see ``jax.lax.Precision``.
      kernel_init: initializer for the convolutional kernel.
      bias_init: initializer for the bias.
      promote_dtype: called as ``promote_dtype(inputs, kernel, bias, dtype=dtype)``.
      conv_general_dilated: replaces ``lax.conv_general_dilated`` (same signature).
      conv_general_dilated_cls: a factory whose instance replaces ``lax.conv_general_dilated``.
    """

    @property
    def shared_weights(self) -> bool:
        return True


class ConvLocal(_Conv):
    """Local convolution: like :class:`Conv`, but without weight sharing.

    Each output position has its own kernel, so the kernel has shape
    ``output_spatial_shape + (prod(kernel_size) * in_features, features)``
    and the bias ``output_spatial_shape + (features,)``.

    >>> import jax, jax.numpy as jnp
    >>> from flaxen import linen as nn
    >>> layer = nn.ConvLocal(features=4, kernel_size=(3,), padding='VALID')
    >>> variables = layer.init(jax.random.key(0), jnp.ones((1, 8, 3)))
    >>> jax.tree_util.tree_map(jnp.shape, variables)
    {'params': {'bias': (6, 4), 'kernel': (6, 9, 4)}}

    Attributes:
      Those of :class:`Conv`; ``feature_group_count`` must be 1.
    """

    @property
    def shared_weights(self) -> bool:
        return False
