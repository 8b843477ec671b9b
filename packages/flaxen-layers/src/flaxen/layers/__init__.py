"""Stock layers, initializers and activations, exported into ``flaxen.linen``."""

from importlib.metadata import version as _version

__version__ = _version("flaxen-layers")
