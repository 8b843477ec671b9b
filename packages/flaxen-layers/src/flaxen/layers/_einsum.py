"""``Einsum``: a learned kernel contracted with the input by an einsum equation."""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp

from flaxen.linen import Module, compact

from . import _lax_ops, initializers
from ._dense import default_kernel_init
from ._dtypes import promote_dtype
from ._typing import Array, Dtype, Initializer, PrecisionLike, PromoteDtypeFn


def _parse(einsum_str: str) -> tuple[str, str]:
    """The kernel's and the output's subscripts of a checked two-operand equation."""
    if "->" not in einsum_str:
        raise ValueError('`einsum_str` equation must be explicit and include "->".')
    if einsum_str.count(",") != 1:
        raise ValueError(
            "`einsum_str` equation must have exactly two operands and "
            "therefore, exactly one comma character, instead of "
            f"{einsum_str.count(',')}"
        )
    operands, out = einsum_str.split("->")
    return operands.split(",")[1], out


def _bias_shapes(
    kernel_spec: str, out_spec: str, kernel_shape: Sequence[int], out_ndim: int
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The bias shape and its broadcast shape against an output of rank ``out_ndim``.

    The bias covers the output axes that come from the kernel, in output
    order: its named axes and the axes its ellipsis stands for (the trailing
    ones of the output's ellipsis). Other output axes get size 1 when
    broadcasting.
    """
    if "..." in kernel_spec:
        before, after = kernel_spec.split("...")
        n_ellipsis = len(kernel_shape) - len(before) - len(after)
        ellipsis_dims = tuple(kernel_shape[len(before) : len(before) + n_ellipsis])
        sizes = dict(zip(before, kernel_shape, strict=False))
        sizes.update(zip(after, kernel_shape[len(kernel_shape) - len(after) :], strict=False))
    else:
        ellipsis_dims = ()
        sizes = dict(zip(kernel_spec, kernel_shape, strict=False))
    n_out_ellipsis = max(out_ndim - len(out_spec.replace("...", "")), len(ellipsis_dims))
    bias: list[int] = []
    broadcast: list[int] = []
    for index, part in enumerate(out_spec.split("...")):
        if index:
            bias.extend(ellipsis_dims)
            broadcast.extend([1] * (n_out_ellipsis - len(ellipsis_dims)))
            broadcast.extend(ellipsis_dims)
        for c in part:
            broadcast.append(sizes.get(c, 1))
            if c in sizes:
                bias.append(sizes[c])
    return tuple(bias), tuple(broadcast)


class Einsum(Module):
    """An einsum transformation with learnable kernel and bias.

    The equation has two operands, the input and the kernel of shape
    ``shape``; the bias covers the output axes that come from the kernel.

    >>> import jax, jax.numpy as jnp
    >>> from flaxen import linen as nn
    >>> layer = nn.Einsum((5, 6, 7), 'abc,cde->abde')
    >>> variables = layer.init(jax.random.key(0), jnp.ones((3, 4, 5)))
    >>> jax.tree_util.tree_map(jnp.shape, variables)
    {'params': {'bias': (6, 7), 'kernel': (5, 6, 7)}}
    >>> layer.apply(variables, jnp.ones((3, 4, 5))).shape
    (3, 4, 6, 7)

    Attributes:
      shape: the shape of the kernel.
      einsum_str: the einsum equation, with exactly two operands: the input
        and the kernel. Give it here or when calling, not both.
      use_bias: whether to add a bias to the output (default: True).
      dtype: the dtype of the computation (default: infer from input and params).
      param_dtype: the dtype passed to parameter initializers (default: float32).
      precision: numerical precision of the computation, see ``jax.lax.Precision``.
      kernel_init: initializer function for the weight matrix.
      bias_init: initializer function for the bias.
      promote_dtype: called as ``promote_dtype(inputs, kernel, bias, dtype=dtype)``.
      preferred_element_type: the accumulation dtype of the einsum.
    """

    shape: Sequence[int]
    einsum_str: str | None = None
    use_bias: bool = True
    dtype: Dtype | None = None
    param_dtype: Dtype = jnp.float32
    precision: PrecisionLike = None
    kernel_init: Initializer = default_kernel_init
    bias_init: Initializer = initializers.zeros_init()
    promote_dtype: PromoteDtypeFn = promote_dtype
    preferred_element_type: Dtype | None = None

    @compact
    def __call__(self, inputs: Array, einsum_str: str | None = None) -> Array:
        """Contracts the inputs with the kernel.

        Args:
          inputs: the nd-array to be transformed.
          einsum_str: the einsum equation, if not given as an attribute.

        Returns:
          The transformed input.

        Raises:
          ValueError: the equation is given twice or not at all, is not
            explicit (no ``->``), or does not have exactly two operands.
        """
        if self.einsum_str is not None and einsum_str is not None:
            raise ValueError(
                'Parameter "einsum_str" was passed to the constructor and at call time.'
                " Should be passed just once."
            )
        einsum_str = einsum_str if einsum_str is not None else self.einsum_str
        if einsum_str is None:
            raise ValueError(
                'Parameter "einsum_str" must be passed to the constructor or at call time.'
            )
        einsum_str = einsum_str.replace(" ", "")
        kernel_spec, out_spec = _parse(einsum_str)

        shape = tuple(self.shape)
        kernel = self.param("kernel", self.kernel_init, shape, self.param_dtype)
        if self.use_bias:
            bias_shape, _ = _bias_shapes(kernel_spec, out_spec, shape, 0)
            bias = self.param("bias", self.bias_init, bias_shape, self.param_dtype)
        else:
            bias = None
        inputs, kernel, bias = self.promote_dtype(inputs, kernel, bias, dtype=self.dtype)
        y = jnp.einsum(
            einsum_str,
            inputs,
            kernel,
            precision=self.precision,
            preferred_element_type=self.preferred_element_type,
        )
        if bias is not None:
            _, broadcast_shape = _bias_shapes(kernel_spec, out_spec, shape, y.ndim)
            y = _lax_ops.add_bias(y, bias, tuple(broadcast_shape))
        return y
