"""flaxen's functional core: Scope, variables, lifting, FrozenDict, metadata.

Functions written against :class:`Scope` declare parameters and variables,
draw PRNG keys and create child scopes; :func:`init` and :func:`apply` run
them; :mod:`flaxen.core.lift` transforms them. ``flaxen.linen`` is a front
end over this core.
"""

from importlib.metadata import version as _version

from flaxen import traceback_util as _traceback_util  # noqa: F401  (registers core's files for hiding)

from . import lift as lift
from . import meta as meta
from ._filters import DenyList as DenyList
from ._frozen_dict_support import FrozenDict as FrozenDict
from ._functional import apply as apply
from ._functional import bind as bind
from ._functional import init as init
from ._functional import lazy_init as lazy_init
from ._meta import AxisMetadata as AxisMetadata
from ._meta import Partitioned as Partitioned
from ._meta import unbox as unbox
from ._scope import Scope as Scope
from ._scope import Variable as Variable
from .frozen_dict import copy as copy
from .frozen_dict import freeze as freeze
from .frozen_dict import pop as pop
from .frozen_dict import pretty_repr as pretty_repr
from .frozen_dict import unfreeze as unfreeze
from .lift import broadcast as broadcast

__version__ = _version("flaxen-core")
