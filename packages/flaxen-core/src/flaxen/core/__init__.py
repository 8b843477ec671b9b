"""flaxen's functional core: Scope, variables, lifting, FrozenDict, metadata."""

from importlib.metadata import version as _version

__version__ = _version("flaxen-core")
