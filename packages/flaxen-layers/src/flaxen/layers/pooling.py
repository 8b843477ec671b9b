"""Pooling functions: ``flaxen.linen.pooling``.

>>> import jax.numpy as jnp
>>> from flaxen import linen as nn
>>> nn.max_pool(jnp.ones((1, 4, 4, 3)), (2, 2), strides=(2, 2)).shape
(1, 2, 2, 3)
"""

from ._pooling import avg_pool as avg_pool
from ._pooling import max_pool as max_pool
from ._pooling import min_pool as min_pool
from ._pooling import pool as pool
