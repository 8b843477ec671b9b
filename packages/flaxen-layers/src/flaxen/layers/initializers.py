"""Parameter initializers: ``flaxen.linen.initializers``.

These are ``jax.nn.initializers`` themselves (the same function objects, so
initial values are bit-identical with Flax and JAX), plus the factories
:func:`zeros_init` and :func:`ones_init`. An initializer is called as
``init(key, shape, dtype)``; most of them are built by a factory first:

>>> import jax, jax.numpy as jnp
>>> from flaxen import linen as nn
>>> init = nn.initializers.lecun_normal()
>>> init(jax.random.key(0), (3, 2), jnp.float32).shape
(3, 2)
>>> nn.initializers.zeros(jax.random.key(0), (2,), jnp.float32)
Array([0., 0.], dtype=float32)
"""

from jax.nn.initializers import constant as constant
from jax.nn.initializers import delta_orthogonal as delta_orthogonal
from jax.nn.initializers import glorot_normal as glorot_normal
from jax.nn.initializers import glorot_uniform as glorot_uniform
from jax.nn.initializers import he_normal as he_normal
from jax.nn.initializers import he_uniform as he_uniform
from jax.nn.initializers import kaiming_normal as kaiming_normal
from jax.nn.initializers import kaiming_uniform as kaiming_uniform
from jax.nn.initializers import lecun_normal as lecun_normal
from jax.nn.initializers import lecun_uniform as lecun_uniform
from jax.nn.initializers import normal as normal
from jax.nn.initializers import ones as ones
from jax.nn.initializers import orthogonal as orthogonal
from jax.nn.initializers import truncated_normal as truncated_normal
from jax.nn.initializers import uniform as uniform
from jax.nn.initializers import variance_scaling as variance_scaling
from jax.nn.initializers import xavier_normal as xavier_normal
from jax.nn.initializers import xavier_uniform as xavier_uniform
from jax.nn.initializers import zeros as zeros

from ._initializers import Initializer as Initializer
from ._initializers import ones_init as ones_init
from ._initializers import zeros_init as zeros_init
