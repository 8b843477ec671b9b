"""dtype inference and promotion for layers: ``flaxen.linen.dtypes``.

>>> import jax.numpy as jnp
>>> from flaxen import linen as nn
>>> nn.dtypes.canonicalize_dtype(jnp.ones(2, jnp.int32))
dtype('float32')
"""

from ._dtypes import Dtype as Dtype
from ._dtypes import canonicalize_dtype as canonicalize_dtype
from ._dtypes import promote_dtype as promote_dtype
