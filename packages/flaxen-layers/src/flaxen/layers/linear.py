"""Linear layers: ``Dense``, ``DenseGeneral``, ``Conv``, ``ConvTranspose``, ``ConvLocal``,
``Embed`` and ``Einsum``, exported into ``flaxen.linen``.

>>> import jax, jax.numpy as jnp
>>> from flaxen import linen as nn
>>> nn.Dense(3).init(jax.random.key(0), jnp.ones((1, 2)))['params']['kernel'].shape
(2, 3)
"""

from ._conv import Conv as Conv
from ._conv import ConvLocal as ConvLocal
from ._conv_transpose import ConvTranspose as ConvTranspose
from ._conv_util import canonicalize_padding as canonicalize_padding
from ._dense import Dense as Dense
from ._dense import DenseGeneral as DenseGeneral
from ._dense import default_kernel_init as default_kernel_init
from ._dtypes import promote_dtype as promote_dtype
from ._einsum import Einsum as Einsum
from ._embed import Embed as Embed
from ._embed import default_embed_init as default_embed_init
from ._typing import Array as Array
from ._typing import ConvGeneralDilatedT as ConvGeneralDilatedT
from ._typing import DotGeneralT as DotGeneralT
from ._typing import Dtype as Dtype
from ._typing import Initializer as Initializer
from ._typing import LaxPadding as LaxPadding
from ._typing import PaddingLike as PaddingLike
from ._typing import PrecisionLike as PrecisionLike
from ._typing import PRNGKey as PRNGKey
from ._typing import PromoteDtypeFn as PromoteDtypeFn
from ._typing import Shape as Shape
