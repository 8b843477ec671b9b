"""Crash-safe checkpointing with pluggable storage backends."""

from importlib.metadata import version as _version

__version__ = _version("flaxen-checkpoint")
