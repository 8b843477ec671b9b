"""Normalization layers: ``flaxen.linen.BatchNorm``, ``LayerNorm``, ``RMSNorm``, ...

>>> import jax, jax.numpy as jnp
>>> from flaxen import linen as nn
>>> model = nn.LayerNorm()
>>> variables = model.init(jax.random.key(0), jnp.ones((2, 3)))
>>> sorted(variables['params'])
['bias', 'scale']
"""

from ._batch_norm import BatchNorm as BatchNorm
from ._group_norm import GroupNorm as GroupNorm
from ._group_norm import InstanceNorm as InstanceNorm
from ._layer_norm import LayerNorm as LayerNorm
from ._layer_norm import RMSNorm as RMSNorm
from ._norm_stats import Axes as Axes
from ._typing import Array as Array
from ._typing import Dtype as Dtype
from ._typing import Initializer as Initializer
from ._typing import PRNGKey as PRNGKey
from ._typing import Shape as Shape
from ._weight_norms import SpectralNorm as SpectralNorm
from ._weight_norms import WeightNorm as WeightNorm

__all__ = [
    "BatchNorm",
    "GroupNorm",
    "InstanceNorm",
    "LayerNorm",
    "RMSNorm",
    "SpectralNorm",
    "WeightNorm",
]
