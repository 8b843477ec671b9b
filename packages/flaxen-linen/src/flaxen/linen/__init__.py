"""The flaxen Module system (Linen API): ``from flaxen import linen as nn``."""

from importlib.metadata import version as _version

__version__ = _version("flaxen-linen")
