"""Lifted transformations on functions of a :class:`~flaxen.core.Scope`.

Every transform is built on :func:`pack`: it lifts the variables and PRNG
streams of scopes into a JAX transform, rebuilds the scopes inside, and
writes changed variables back afterwards. See the "Lifting" design note.
"""

from flaxen.core._filters import CollectionFilter as CollectionFilter
from flaxen.core._filters import DenyList as DenyList
from flaxen.core._filters import PRNGSequenceFilter as PRNGSequenceFilter
from flaxen.core._filters import group_collections as group_collections
from flaxen.core._filters import in_filter as in_filter
from flaxen.core._filters import intersect_filters as intersect_filters
from flaxen.core._filters import is_filter_empty as is_filter_empty
from flaxen.core._filters import subtract_filters as subtract_filters
from flaxen.core._filters import union_filters as union_filters
from flaxen.core._rng import LazyRng as LazyRng

from ._autodiff import custom_vjp as custom_vjp
from ._autodiff import jvp as jvp
from ._autodiff import value_and_grad as value_and_grad
from ._autodiff import vjp as vjp
from ._axes import In as In
from ._axes import Out as Out
from ._axes import broadcast as broadcast
from ._control import cond as cond
from ._control import switch as switch
from ._control import while_loop as while_loop
from ._jit import checkpoint as checkpoint
from ._jit import jit as jit
from ._jit import remat as remat
from ._map_variables import map_variables as map_variables
from ._map_variables import named_call as named_call
from ._pack import ScopeFn as ScopeFn
from ._pack import pack as pack
from ._scan import remat_scan as remat_scan
from ._scan import scan as scan
from ._vmap import vmap as vmap
