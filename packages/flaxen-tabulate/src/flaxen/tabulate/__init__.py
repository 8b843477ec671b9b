"""Module summaries (``nn.tabulate``), exported into ``flaxen.linen``.

``nn.tabulate(module, rngs, ...)(*args)`` and ``Module.tabulate(rngs, *args,
...)`` print Flax's summary table; :func:`summarize` returns the same rows as
data (:class:`Row`, :class:`Table`, with a JSON form), and :func:`render`,
:func:`export_html` and :func:`export_svg` turn them into text, HTML or SVG.
``flaxen.linen.summary`` is :mod:`flaxen.tabulate.summary`.
"""

from importlib import import_module as _import_module
from importlib.metadata import version as _version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._export import export_html as export_html
    from ._export import export_svg as export_svg
    from ._rows import Row as Row
    from ._rows import Table as Table
    from ._tabulate import render as render
    from ._tabulate import summarize as summarize
    from ._tabulate import tabulate as tabulate

__version__ = _version("flaxen-tabulate")

# Imported on first use: the plugin module lives in this package, so loading
# flaxen's plugins imports this file, and that must not import rich.
_LAZY = {
    "export_html": "_export",
    "export_svg": "_export",
    "Row": "_rows",
    "Table": "_rows",
    "render": "_tabulate",
    "summarize": "_tabulate",
    "tabulate": "_tabulate",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
