"""Attention: ``flaxen.linen.MultiHeadDotProductAttention``, ``dot_product_attention``, masks.

>>> import jax.numpy as jnp
>>> from flaxen import linen as nn
>>> nn.make_causal_mask(jnp.ones((1, 2))).shape
(1, 1, 2, 2)
"""

from ._attention_fns import combine_masks as combine_masks
from ._attention_fns import dot_product_attention as dot_product_attention
from ._attention_fns import dot_product_attention_weights as dot_product_attention_weights
from ._attention_fns import make_attention_mask as make_attention_mask
from ._attention_fns import make_causal_mask as make_causal_mask
from ._mha import MultiHeadAttention as MultiHeadAttention
from ._mha import MultiHeadDotProductAttention as MultiHeadDotProductAttention
from ._mha import SelfAttention as SelfAttention
from ._typing import Array as Array
from ._typing import DotGeneralT as DotGeneralT
from ._typing import Dtype as Dtype
from ._typing import Initializer as Initializer
from ._typing import PrecisionLike as PrecisionLike
from ._typing import PRNGKey as PRNGKey
from ._typing import Shape as Shape

__all__ = [
    "MultiHeadAttention",
    "MultiHeadDotProductAttention",
    "SelfAttention",
    "combine_masks",
    "dot_product_attention",
    "dot_product_attention_weights",
    "make_attention_mask",
    "make_causal_mask",
]
