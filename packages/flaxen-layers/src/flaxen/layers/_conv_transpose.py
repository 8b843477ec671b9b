"""``ConvTranspose``: the transpose of a convolution (``lax.conv_transpose``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp
from jax import lax

from flaxen.linen import Module, compact

from . import initializers
from ._conv_util import (
    add_bias,
    as_tuple,
    canonicalize_padding,
    check_mask,
    flatten_batch,
    kernel_size_tuple,
    unflatten_batch,
)
from ._dense import default_kernel_init
from ._dtypes import promote_dtype
from ._typing import Array, Dtype, Initializer, PaddingLike, PrecisionLike, PromoteDtypeFn


def _wrap_circular(
    y: Array, input_spatial: tuple[int, ...], strides: tuple[int, ...], transpose_kernel: bool
) -> Array:
    """Folds a 'VALID' transposed convolution onto a torus of size ``input * strides``.

    Each spatial axis is zero-padded to a whole number of periods, placed so
    that the input's origin lands on a period boundary, then cut into periods
    that are summed.
    """
    periods = [size * stride for size, stride in zip(input_spatial, strides, strict=True)]
    excess = [(-(size - period)) % (2 * period) for size, period in zip(y.shape[1:-1], periods)]
    if transpose_kernel:
        # The odd element goes on the high side, mirroring Conv's 'CIRCULAR'
        # padding, so that Conv's kernel gives the exact transpose.
        pads = [(e // 2, (e + 1) // 2) for e in excess]
    else:
        pads = [((e + 1) // 2, e // 2) for e in excess]
    y = jnp.pad(y, [(0, 0), *pads, (0, 0)])
    for axis, period in enumerate(periods, start=1):
        y = y.reshape((*y.shape[:axis], -1, period, *y.shape[axis + 1 :]))
        y = y.sum(axis=axis)
    return y


class ConvTranspose(Module):
    """Convolution Module wrapping ``lax.conv_transpose``.

    Upsamples by ``strides``: with ``'SAME'`` padding the spatial output size
    is ``input_size * strides``. The kernel has shape ``kernel_size +
    (in_features, features)`` (``kernel_size + (features, in_features)`` with
    ``transpose_kernel``).

    >>> import jax, jax.numpy as jnp
    >>> from flaxen import linen as nn
    >>> layer = nn.ConvTranspose(features=4, kernel_size=(3,), strides=(2,))
    >>> x = jnp.ones((1, 8, 3))
    >>> variables = layer.init(jax.random.key(0), x)
    >>> jax.tree_util.tree_map(jnp.shape, variables)
    {'params': {'bias': (4,), 'kernel': (3, 3, 4)}}
    >>> layer.apply(variables, x).shape
    (1, 16, 4)

    Attributes:
      features: number of convolution filters.
      kernel_size: shape of the convolutional kernel (an int means a 1-D kernel).
      strides: an integer or a sequence of ``n`` integers, the inter-window
        strides (default: 1).
      padding: ``'SAME'``, ``'VALID'``, ``'CIRCULAR'`` (periodic boundary
        conditions), an int, or ``n`` ints or ``(low, high)`` pairs.
      kernel_dilation: an integer or a sequence of ``n`` integers, the dilation
        factor of the kernel (default: 1).
      use_bias: whether to add a bias to the output (default: True).
      mask: optional mask for the weights; same shape as the kernel.
      dtype: the dtype of the computation (default: infer from input and params).
      param_dtype: the dtype passed to parameter initializers (default: float32).
      precision: numerical precision of the computation, see ``jax.lax.Precision``.
      kernel_init: initializer for the convolutional kernel.
      bias_init: initializer for the bias.
      transpose_kernel: if True, flips the spatial axes and swaps the
        input/output channel axes of the kernel: the gradient of a
        :class:`Conv` with the same kernel.
      promote_dtype: called as ``promote_dtype(inputs, kernel, bias, dtype=dtype)``.
      preferred_element_type: the accumulation dtype of the convolution.
    """

    features: int
    kernel_size: int | Sequence[int]
    strides: Sequence[int] | None = None
    padding: PaddingLike = "SAME"
    kernel_dilation: Sequence[int] | None = None
    use_bias: bool = True
    mask: Array | None = None
    dtype: Dtype | None = None
    param_dtype: Dtype = jnp.float32
    precision: PrecisionLike = None
    kernel_init: Initializer = default_kernel_init
    bias_init: Initializer = initializers.zeros_init()
    transpose_kernel: bool = False
    promote_dtype: PromoteDtypeFn = promote_dtype
    preferred_element_type: Dtype | None = None

    @compact
    def __call__(self, inputs: Array) -> Array:
        """Applies a transposed convolution to the inputs (as ``jax.lax.conv_transpose``).

        Args:
          inputs: input data with dimensions ``(*batch_dims, spatial_dims...,
            features)`` (channels last). Several batch dimensions are
            flattened into one and restored afterwards; a single example is
            convolved as a batch of one.

        Returns:
          The convolved data.
        """
        kernel_size = kernel_size_tuple(self.kernel_size)
        rank = len(kernel_size)
        if inputs.ndim < rank + 1:
            raise AssertionError(
                f"ConvTranspose with a {rank}-D kernel needs inputs with at least {rank + 1}"
                f" dimensions (spatial..., features), got shape {inputs.shape}."
            )
        inputs, batch_shape = flatten_batch(inputs, rank)
        strides = as_tuple(self.strides, rank)
        kernel_dilation = (
            None if self.kernel_dilation is None else as_tuple(self.kernel_dilation, rank)
        )
        in_features = jnp.shape(inputs)[-1]
        if self.transpose_kernel:
            kernel_shape = (*kernel_size, self.features, in_features)
        else:
            kernel_shape = (*kernel_size, in_features, self.features)
        mask = self.mask
        check_mask(mask, kernel_shape)
        kernel = self.param("kernel", self.kernel_init, kernel_shape, self.param_dtype)
        if mask is not None:
            kernel *= mask

        padding: Any = canonicalize_padding(self.padding, rank)
        circular = padding == "CIRCULAR"
        if circular:
            padding = "VALID"

        bias = (
            self.param("bias", self.bias_init, (self.features,), self.param_dtype)
            if self.use_bias
            else None
        )
        inputs, kernel, bias = self.promote_dtype(inputs, kernel, bias, dtype=self.dtype)
        y = lax.conv_transpose(
            inputs,
            kernel,
            strides,
            padding,
            rhs_dilation=kernel_dilation,
            transpose_kernel=self.transpose_kernel,
            precision=self.precision,
            preferred_element_type=self.preferred_element_type,
        )
        if circular:
            y = _wrap_circular(y, inputs.shape[1:-1], strides, self.transpose_kernel)
        return unflatten_batch(add_bias(y, bias), batch_shape)
