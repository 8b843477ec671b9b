"""Scopes: the variables and PRNG streams of one node of a model."""

from ._filters import CollectionFilter as CollectionFilter
from ._filters import DenyList as DenyList
from ._filters import Filter as Filter
from ._filters import PRNGSequenceFilter as PRNGSequenceFilter
from ._filters import group_collections as group_collections
from ._filters import in_filter as in_filter
from ._filters import intersect_filters as intersect_filters
from ._filters import is_filter_empty as is_filter_empty
from ._filters import subtract_filters as subtract_filters
from ._filters import union_filters as union_filters
from ._functional import apply as apply
from ._functional import bind as bind
from ._functional import init as init
from ._rng import LazyRng as LazyRng
from ._scope import Scope as Scope
from ._scope import Variable as Variable
