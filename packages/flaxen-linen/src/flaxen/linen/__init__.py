"""The flaxen Module system (Linen API): ``from flaxen import linen as nn``.

``flaxen.linen`` defines the Module system and the lifted transforms; layers,
initializers, activations, partitioning helpers and ``tabulate`` come from
plugins (flaxen-layers, flaxen-spmd, flaxen-tabulate, or third parties) and
appear here on first use.
"""

import os as _os
from importlib.metadata import version as _version
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
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

__version__ = _version("flaxen-linen")

_namespace.install_finder()
_traceback_util.register_exclusion(_os.path.dirname(__file__))


def __getattr__(name: str) -> Any:
    return _namespace.module_getattr(globals(), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_namespace.exported_names()))
