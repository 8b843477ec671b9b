"""Tables for the CLI: rich when it is installed, plain text otherwise."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO


def render_table(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    file: TextIO | None = None,
) -> None:
    """Prints a table; uses rich when available (flaxen-core does not need it).

    >>> render_table("t", ["a", "b"], [["1", "2"]], file=sys.stdout)  # doctest: +SKIP
    """
    file = sys.stdout if file is None else file
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        _plain_table(title, columns, rows, file)
        return
    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*row)
    Console(file=file, width=max(100, Console(file=file).width)).print(table)


def _plain_table(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[str]], file: TextIO
) -> None:
    cells = [list(columns)] + [[str(c) for c in row] for row in rows]
    widths = [
        max(len(line) for r in cells for line in r[i].splitlines() or [""])
        for i in range(len(columns))
    ]
    print(title, file=file)
    for n, row in enumerate(cells):
        height = max(len(c.splitlines()) or 1 for c in row)
        for k in range(height):
            parts = [
                (c.splitlines()[k] if k < len(c.splitlines()) else "").ljust(w)
                for c, w in zip(row, widths)
            ]
            print("  ".join(parts).rstrip(), file=file)
        if n == 0:
            print("  ".join("-" * w for w in widths), file=file)
