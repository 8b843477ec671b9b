"""An example third-party layer package for flaxen.

Installing it makes ``flaxen.linen.ScaledDense`` available: the package
registers the layer through the ``flaxen_linen_exports`` hook (see
``_flaxen_plugin.py`` and the ``flaxen`` entry point in ``pyproject.toml``),
the same way flaxen-layers registers ``nn.Dense``. ``flaxen_example_layer.cases``
describes it for flaxen-layers' conformance test kit (``flaxen.layers.testing``).

This ``__init__`` imports nothing from ``flaxen.linen``: flaxen imports it
while loading the plugins, and a ``flaxen.linen`` lookup at that moment
would need the plugins it is loading. The layer itself is imported lazily.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "ScaledDense":
        from ._scaled_dense import ScaledDense

        return ScaledDense
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
