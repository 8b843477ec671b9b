"""A layer contributed by a plugin: an elementwise affine map."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from flaxen import linen as nn


class Affine(nn.Module):
    """``y = x * scale + bias`` with one learned scale and bias per feature.

    Attributes:
      use_bias: whether to add the learned bias.
    """

    use_bias: bool = True

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        scale = self.param("scale", nn.initializers.ones, (x.shape[-1],), jnp.float32)
        y = x * scale
        if self.use_bias:
            y = y + self.param("bias", nn.initializers.zeros, (x.shape[-1],), jnp.float32)
        return y
