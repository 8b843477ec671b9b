"""Every error flaxen raises, one class per failure.

Each error subclasses :class:`FlaxenError` and, where one fits, the matching
built-in (``ValueError``, ``TypeError``, ``KeyError``, ...), so existing
``except`` clauses keep working. Messages say what happened, why, and how to
fix it, and end with a link to the error's entry in the docs.
"""

from ._base import FlaxenError as FlaxenError
from ._base import FlaxenWarning as FlaxenWarning
from ._plugins import MissingPackageError as MissingPackageError
from ._plugins import PluginConflictError as PluginConflictError
from ._plugins import PluginLoadError as PluginLoadError
from ._plugins import PluginWarning as PluginWarning
