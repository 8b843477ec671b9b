"""Module summaries (``nn.tabulate``), exported into ``flaxen.linen``."""

from importlib.metadata import version as _version

__version__ = _version("flaxen-tabulate")
