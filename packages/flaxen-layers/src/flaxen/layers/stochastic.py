"""Stochastic layers: ``flaxen.linen.Dropout``.

>>> import jax, jax.numpy as jnp
>>> from flaxen import linen as nn
>>> nn.Dropout(0.1, deterministic=True).apply({}, jnp.ones(3))
Array([1., 1., 1.], dtype=float32)
"""

from ._dropout import Dropout as Dropout
from ._typing import PRNGKey as PRNGKey

__all__ = ["Dropout"]
