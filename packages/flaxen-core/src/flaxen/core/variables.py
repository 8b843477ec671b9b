"""Variables and variable dicts.

A *variable dict* maps collection names (``'params'``, ``'batch_stats'``,
``'cache'``, ...) to nested dicts that mirror the scope (module) tree; the
leaves are the variables' values. :class:`Variable` gives mutable access to
one variable through ``.value``.
"""

from collections.abc import Mapping
from typing import Any

from ._scope import Variable as Variable

VariableDict = Mapping[str, Any]
CollectionFilter = Any
