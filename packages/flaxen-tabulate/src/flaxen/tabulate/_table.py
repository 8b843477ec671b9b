"""The summary as a rich table: Flax's columns, cells, totals and caption."""

from __future__ import annotations

import io
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from . import _represent
from ._rows import Row, Table

_EMPTY: Mapping[str, Any] = MappingProxyType({})

#: What ``console_kwargs`` start from (Flax's defaults).
CONSOLE_DEFAULTS = {"force_terminal": True, "force_jupyter": False}


def module_markup(row: Row) -> str:
    name = type(row.module_copy).__name__
    return name if row.method == "__call__" else f"{name} [dim]({row.method})[/dim]"


def variables_markup(row: Row, col: str) -> str:
    """A collection cell: the row's own variables, then the count it adds to the total."""
    own = row.module_variables.get(col)
    size = _represent.size_markup(*_represent.size_and_bytes(row.counted_variables.get(col, {})))
    if own:
        return f"{_represent.markup(own)}\n\n[bold]{size}[/bold]"
    if size:
        return f"[bold]{size}[/bold]"
    return ""


def cells(table: Table, compute_flops: bool, compute_vjp_flops: bool) -> list[list[str]]:
    """The markup of every cell, row by row."""
    out = []
    for row in table:
        line = [
            "/".join(row.path),
            module_markup(row),
            _represent.value_markup(row.inputs),
            _represent.value_markup(row.outputs),
        ]
        if compute_flops:
            line.append(str(row.flops))
        if compute_vjp_flops:
            line.append(str(row.vjp_flops))
        line.extend(variables_markup(row, col) for col in table.collections)
        out.append(line)
    return out


def headers(table: Table, compute_flops: bool, compute_vjp_flops: bool) -> list[str]:
    names = ["path", "module", "inputs", "outputs"]
    if compute_flops:
        names.append("flops")
    if compute_vjp_flops:
        names.append("vjp_flops")
    return names + list(table.collections)


def footers(table: Table, n_fixed: int) -> list[str]:
    """``'Total'`` under the last fixed column, then each collection's total."""
    totals = table.totals()
    return ["" for _ in range(n_fixed)] + [
        _represent.size_markup(*totals[col]) for col in table.collections
    ]


def caption(table: Table) -> str:
    count = nbytes = 0
    for n, b in table.totals().values():
        count += n
        nbytes += b
    return f"\nTotal Parameters: {_represent.size_markup(count, nbytes)}"


def title(table: Table) -> str:
    return f"{type(table.module).__name__} Summary"


#: ``console_kwargs`` the fast renderer understands; others go through rich.
_FAST_CONSOLE_KEYS = frozenset(
    {"width", "force_terminal", "force_jupyter", "color_system", "height", "no_color"}
)


def make_console(console_kwargs: Mapping[str, Any] | None, **extra: Any) -> Any:
    import rich.console

    options = dict(CONSOLE_DEFAULTS)
    options.update(console_kwargs or {})
    options.update(extra)
    return rich.console.Console(file=io.StringIO(), **options)


def render_text(
    table: Table,
    compute_flops: bool,
    compute_vjp_flops: bool,
    console_kwargs: Mapping[str, Any] | None = None,
    table_kwargs: Mapping[str, Any] = _EMPTY,
    column_kwargs: Mapping[str, Any] = _EMPTY,
) -> str:
    """What rich prints for ``table`` (through :mod:`._render` when it can)."""
    console = make_console(console_kwargs)
    if (
        not table_kwargs
        and not column_kwargs
        and _FAST_CONSOLE_KEYS.issuperset(console_kwargs or ())
    ):
        from ._render import render_fast

        names = headers(table, compute_flops, compute_vjp_flops)
        n_fixed = len(names) - len(table.collections)
        text = render_fast(
            names, cells(table, compute_flops, compute_vjp_flops), footers(table, n_fixed),
            n_fixed - 1, title(table), caption(table), console,
        )  # fmt: skip
        if text is not None:
            return text
    render_rich(table, compute_flops, compute_vjp_flops, None, table_kwargs, column_kwargs, console)
    return console.file.getvalue()


def render_rich(
    table: Table,
    compute_flops: bool,
    compute_vjp_flops: bool,
    console_kwargs: Mapping[str, Any] | None = None,
    table_kwargs: Mapping[str, Any] = _EMPTY,
    column_kwargs: Mapping[str, Any] = _EMPTY,
    console: Any = None,
) -> Any:
    """Prints ``table`` with rich; returns the console (its file holds the text)."""
    import rich.table
    import rich.text

    names = headers(table, compute_flops, compute_vjp_flops)
    n_fixed = len(names) - len(table.collections)
    rich_table = rich.table.Table(
        show_header=True,
        show_lines=True,
        show_footer=True,
        title=title(table),
        caption=caption(table),
        caption_style="bold",
        **table_kwargs,
    )
    foot = footers(table, n_fixed)
    for i, name in enumerate(names):
        footer: Any = foot[i]
        if i == n_fixed - 1:
            footer = rich.text.Text("Total", justify="right")
        rich_table.add_column(name, footer=footer, **column_kwargs)
    for line in cells(table, compute_flops, compute_vjp_flops):
        rich_table.add_row(*line)
    if console is None:
        console = make_console(console_kwargs)
    console.print(rich_table)
    return console
