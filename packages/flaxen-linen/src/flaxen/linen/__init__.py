"""The flaxen Module system (Linen API): ``from flaxen import linen as nn``.

``flaxen.linen`` defines the Module system and the lifted transforms; layers,
initializers, activations, partitioning helpers and ``tabulate`` come from
plugins (flaxen-layers, flaxen-spmd, flaxen-tabulate, or third parties) and
appear here on first use.
"""

import os as _os
import typing as _typing
from importlib.metadata import version as _version

from flaxen import traceback_util as _traceback_util
from flaxen.core import DenyList as DenyList
from flaxen.core import FrozenDict as FrozenDict
from flaxen.core import Scope as Scope
from flaxen.core import Variable as Variable
from flaxen.core import meta as meta
from flaxen.core.lift import broadcast as broadcast
from flaxen.core.meta import PARTITION_NAME as PARTITION_NAME
from flaxen.core.meta import AxisMetadata as AxisMetadata
from flaxen.core.meta import Partitioned as Partitioned
from flaxen.core.meta import get_partition_spec as get_partition_spec
from flaxen.core.meta import get_sharding as get_sharding
from flaxen.core.meta import unbox as unbox
from flaxen.core.meta import with_partitioning as with_partitioning

from . import _namespace
from ._apply import apply as apply
from ._apply import init as init
from ._apply import init_with_output as init_with_output
from ._combinators import Sequential as Sequential
from ._decorators import compact as compact
from ._decorators import nowrap as nowrap
from ._intercept import InterceptorContext as InterceptorContext
from ._intercept import intercept_methods as intercept_methods
from ._merge import merge_param as merge_param
from ._module import Module as Module
from ._module import share_scope as share_scope
from ._named_call import disable_named_call as disable_named_call
from ._named_call import enable_named_call as enable_named_call
from ._named_call import named_call as named_call
from ._named_call import override_named_call as override_named_call

if _typing.TYPE_CHECKING:
    from ._transforms_class import add_metadata_axis as add_metadata_axis
    from ._transforms_class import checkpoint as checkpoint
    from ._transforms_class import fold_rngs as fold_rngs
    from ._transforms_class import jit as jit
    from ._transforms_class import map_variables as map_variables
    from ._transforms_class import remat as remat
    from ._transforms_class import remat_scan as remat_scan
    from ._transforms_class import scan as scan
    from ._transforms_class import vmap as vmap
    from ._transforms_fn import cond as cond
    from ._transforms_fn import custom_vjp as custom_vjp
    from ._transforms_fn import grad as grad
    from ._transforms_fn import jvp as jvp
    from ._transforms_fn import switch as switch
    from ._transforms_fn import value_and_grad as value_and_grad
    from ._transforms_fn import vjp as vjp
    from ._transforms_fn import while_loop as while_loop

if _typing.TYPE_CHECKING:
    # What the first-party plugins export here, for type checkers and IDEs
    # only: at run time these names are looked up in the plugin registry
    # (linen never imports its plugins). A test keeps the list equal to what
    # the plugins register.
    from flaxen import spmd as spmd
    from flaxen.layers import activation as activation
    from flaxen.layers import attention as attention
    from flaxen.layers import dtypes as dtypes
    from flaxen.layers import initializers as initializers
    from flaxen.layers import linear as linear
    from flaxen.layers import normalization as normalization
    from flaxen.layers import pooling as pooling
    from flaxen.layers import recurrent as recurrent
    from flaxen.layers import stochastic as stochastic
    from flaxen.layers.activation import PReLU as PReLU
    from flaxen.layers.activation import celu as celu
    from flaxen.layers.activation import elu as elu
    from flaxen.layers.activation import gelu as gelu
    from flaxen.layers.activation import glu as glu
    from flaxen.layers.activation import hard_sigmoid as hard_sigmoid
    from flaxen.layers.activation import hard_silu as hard_silu
    from flaxen.layers.activation import hard_swish as hard_swish
    from flaxen.layers.activation import hard_tanh as hard_tanh
    from flaxen.layers.activation import leaky_relu as leaky_relu
    from flaxen.layers.activation import log_sigmoid as log_sigmoid
    from flaxen.layers.activation import log_softmax as log_softmax
    from flaxen.layers.activation import logsumexp as logsumexp
    from flaxen.layers.activation import normalize as normalize
    from flaxen.layers.activation import one_hot as one_hot
    from flaxen.layers.activation import relu as relu
    from flaxen.layers.activation import relu6 as relu6
    from flaxen.layers.activation import selu as selu
    from flaxen.layers.activation import sigmoid as sigmoid
    from flaxen.layers.activation import silu as silu
    from flaxen.layers.activation import soft_sign as soft_sign
    from flaxen.layers.activation import softmax as softmax
    from flaxen.layers.activation import softplus as softplus
    from flaxen.layers.activation import standardize as standardize
    from flaxen.layers.activation import swish as swish
    from flaxen.layers.activation import tanh as tanh
    from flaxen.layers.attention import MultiHeadAttention as MultiHeadAttention
    from flaxen.layers.attention import MultiHeadDotProductAttention as MultiHeadDotProductAttention
    from flaxen.layers.attention import SelfAttention as SelfAttention
    from flaxen.layers.attention import combine_masks as combine_masks
    from flaxen.layers.attention import dot_product_attention as dot_product_attention
    from flaxen.layers.attention import (
        dot_product_attention_weights as dot_product_attention_weights,
    )
    from flaxen.layers.attention import make_attention_mask as make_attention_mask
    from flaxen.layers.attention import make_causal_mask as make_causal_mask
    from flaxen.layers.initializers import ones as ones
    from flaxen.layers.initializers import ones_init as ones_init
    from flaxen.layers.initializers import zeros as zeros
    from flaxen.layers.initializers import zeros_init as zeros_init
    from flaxen.layers.linear import Conv as Conv
    from flaxen.layers.linear import ConvLocal as ConvLocal
    from flaxen.layers.linear import ConvTranspose as ConvTranspose
    from flaxen.layers.linear import Dense as Dense
    from flaxen.layers.linear import DenseGeneral as DenseGeneral
    from flaxen.layers.linear import Einsum as Einsum
    from flaxen.layers.linear import Embed as Embed
    from flaxen.layers.normalization import BatchNorm as BatchNorm
    from flaxen.layers.normalization import GroupNorm as GroupNorm
    from flaxen.layers.normalization import InstanceNorm as InstanceNorm
    from flaxen.layers.normalization import LayerNorm as LayerNorm
    from flaxen.layers.normalization import RMSNorm as RMSNorm
    from flaxen.layers.normalization import SpectralNorm as SpectralNorm
    from flaxen.layers.normalization import WeightNorm as WeightNorm
    from flaxen.layers.pooling import avg_pool as avg_pool
    from flaxen.layers.pooling import max_pool as max_pool
    from flaxen.layers.pooling import min_pool as min_pool
    from flaxen.layers.pooling import pool as pool
    from flaxen.layers.recurrent import RNN as RNN
    from flaxen.layers.recurrent import Bidirectional as Bidirectional
    from flaxen.layers.recurrent import ConvLSTMCell as ConvLSTMCell
    from flaxen.layers.recurrent import GRUCell as GRUCell
    from flaxen.layers.recurrent import LSTMCell as LSTMCell
    from flaxen.layers.recurrent import MGUCell as MGUCell
    from flaxen.layers.recurrent import OptimizedLSTMCell as OptimizedLSTMCell
    from flaxen.layers.recurrent import RNNCellBase as RNNCellBase
    from flaxen.layers.recurrent import SimpleCell as SimpleCell
    from flaxen.layers.stochastic import Dropout as Dropout
    from flaxen.spmd import LogicallyPartitioned as LogicallyPartitioned
    from flaxen.spmd import get_logical_axis_rules as get_logical_axis_rules
    from flaxen.spmd import logical_axis_rules as logical_axis_rules
    from flaxen.spmd import logical_to_mesh as logical_to_mesh
    from flaxen.spmd import logical_to_mesh_axes as logical_to_mesh_axes
    from flaxen.spmd import logical_to_mesh_sharding as logical_to_mesh_sharding
    from flaxen.spmd import set_logical_axis_rules as set_logical_axis_rules
    from flaxen.spmd import with_logical_constraint as with_logical_constraint
    from flaxen.spmd import with_logical_partitioning as with_logical_partitioning
    from flaxen.tabulate import summary as summary
    from flaxen.tabulate import tabulate as tabulate

__version__ = _version("flaxen-linen")

_namespace.install_finder()
_traceback_util.register_exclusion(_os.path.dirname(__file__))


def __getattr__(name: str) -> _typing.Any:
    return _namespace.module_getattr(globals(), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_namespace.exported_names()))
