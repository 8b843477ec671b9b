"""Stock layers, initializers and activations, exported into ``flaxen.linen``.

Import them from ``flaxen.linen`` (``nn.Dense``, ``nn.initializers``) as with
Flax; this package registers them there through the plugin system. The
public submodules (``linear``, ``normalization``, ``pooling``, ``activation``,
``initializers``, ``attention``, ``recurrent``, ``stochastic``, ``dtypes``)
can also be imported directly.
"""

from importlib.metadata import version as _version

__version__ = _version("flaxen-layers")
