"""Utilities for nested dicts and immutable data structures.

:func:`flatten_dict` and :func:`unflatten_dict` convert between nested dicts
and dicts keyed by paths; :func:`path_aware_map` maps over leaves with their
paths:

>>> from flaxen import traverse_util
>>> params = {'Dense_0': {'kernel': 1, 'bias': 0}}
>>> traverse_util.flatten_dict(params, sep='/')
{'Dense_0/kernel': 1, 'Dense_0/bias': 0}
>>> label = lambda path, x: 'decay' if path[-1] == 'kernel' else 'none'
>>> traverse_util.path_aware_map(label, params)
{'Dense_0': {'kernel': 'decay', 'bias': 'none'}}

Traversals select values inside a structure and return updated copies:

>>> traverse_util.t_identity['foo'].each().update(lambda x: x * 2, {'foo': [1, 2], 'bar': 3})
{'foo': [2, 4], 'bar': 3}
"""

from ._dicts import empty_node as empty_node
from ._dicts import flatten_dict as flatten_dict
from ._dicts import path_aware_map as path_aware_map
from ._dicts import unflatten_dict as unflatten_dict
from ._model_params import ModelParamTraversal as ModelParamTraversal
from ._traversals import Traversal as Traversal
from ._traversals import TraverseAttr as TraverseAttr
from ._traversals import TraverseCompose as TraverseCompose
from ._traversals import TraverseEach as TraverseEach
from ._traversals import TraverseFilter as TraverseFilter
from ._traversals import TraverseId as TraverseId
from ._traversals import TraverseItem as TraverseItem
from ._traversals import TraverseMerge as TraverseMerge
from ._traversals import TraverseTree as TraverseTree
from ._traversals import t_identity as t_identity
