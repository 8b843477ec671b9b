"""The summary table as HTML or SVG (rich's exporters)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from . import _table
from ._rows import Table

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _recorded(
    table: Table,
    compute_flops: bool,
    compute_vjp_flops: bool,
    console_kwargs: Mapping[str, Any] | None,
    table_kwargs: Mapping[str, Any],
    column_kwargs: Mapping[str, Any],
) -> Any:
    console = _table.make_console(console_kwargs, record=True)
    return _table.render_rich(
        table, compute_flops, compute_vjp_flops, None, table_kwargs, column_kwargs, console
    )


def export_html(
    table: Table,
    *,
    compute_flops: bool = False,
    compute_vjp_flops: bool = False,
    console_kwargs: Mapping[str, Any] | None = None,
    table_kwargs: Mapping[str, Any] = _EMPTY,
    column_kwargs: Mapping[str, Any] = _EMPTY,
    **html_kwargs: Any,
) -> str:
    """The table as an HTML page (``rich.console.Console.export_html``).

    >>> import jax, jax.numpy as jnp
    >>> from flaxen import linen as nn
    >>> from flaxen.tabulate import export_html, summarize
    >>> class Affine(nn.Module):
    ...   @nn.compact
    ...   def __call__(self, x):
    ...     return x @ self.param('w', jax.nn.initializers.ones, (x.shape[-1], 3))
    >>> html = export_html(summarize(Affine(), jax.random.key(0), jnp.ones((1, 2))))
    >>> html.startswith('<!DOCTYPE html>') and 'Affine Summary' in html
    True
    """
    console = _recorded(
        table, compute_flops, compute_vjp_flops, console_kwargs, table_kwargs, column_kwargs
    )
    return console.export_html(**html_kwargs)


def export_svg(
    table: Table,
    *,
    compute_flops: bool = False,
    compute_vjp_flops: bool = False,
    console_kwargs: Mapping[str, Any] | None = None,
    table_kwargs: Mapping[str, Any] = _EMPTY,
    column_kwargs: Mapping[str, Any] = _EMPTY,
    **svg_kwargs: Any,
) -> str:
    """The table as an SVG image (``rich.console.Console.export_svg``).

    >>> import jax, jax.numpy as jnp
    >>> from flaxen import linen as nn
    >>> from flaxen.tabulate import export_svg, summarize
    >>> class Affine(nn.Module):
    ...   @nn.compact
    ...   def __call__(self, x):
    ...     return x @ self.param('w', jax.nn.initializers.ones, (x.shape[-1], 3))
    >>> svg = export_svg(summarize(Affine(), jax.random.key(0), jnp.ones((1, 2))),
    ...                  title='Affine')
    >>> svg.lstrip().startswith('<svg') and 'Summary' in svg
    True
    """
    console = _recorded(
        table, compute_flops, compute_vjp_flops, console_kwargs, table_kwargs, column_kwargs
    )
    return console.export_svg(**svg_kwargs)
