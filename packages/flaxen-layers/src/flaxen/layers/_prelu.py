"""``PReLU``: a leaky ReLU whose negative slope is learned."""

from __future__ import annotations

import jax.numpy as jnp

from flaxen.linen import Module, compact

from . import initializers
from ._typing import Array, Dtype


class PReLU(Module):
    """Parametric Rectified Linear Unit (PReLU) activation function.

    ``x`` where ``x >= 0``, else ``negative_slope * x``, with a learned scalar
    ``negative_slope`` (a parameter, so the layer must be initialized before
    it is applied):

    >>> import jax, jax.numpy as jnp
    >>> from flaxen import linen as nn
    >>> layer = nn.PReLU(negative_slope_init=0.1)
    >>> x = jnp.array([-2.0, 0.0, 3.0])
    >>> variables = layer.init(jax.random.key(0), x)
    >>> variables['params']['negative_slope']
    Array(0.1, dtype=float32)
    >>> layer.apply(variables, x)
    Array([-0.2,  0. ,  3. ], dtype=float32)

    Attributes:
      param_dtype: the dtype passed to parameter initializers (default: float32).
      negative_slope_init: the value to initialize the negative slope (default 0.01).
    """

    param_dtype: Dtype = jnp.float32
    negative_slope_init: float = 0.01

    @compact
    def __call__(self, inputs: Array) -> Array:
        """Applies the activation to ``inputs``; the output has the inputs' dtype.

        Args:
          inputs: the nd-array to be transformed.

        Returns:
          The transformed input.
        """
        negative_slope = self.param(
            "negative_slope",
            initializers.constant(self.negative_slope_init),
            (),
            self.param_dtype,
        )
        return jnp.where(inputs >= 0, inputs, jnp.asarray(negative_slope, inputs.dtype) * inputs)
