"""The fast renderer prints exactly what rich prints, or declines."""

import io
import random

import pytest
import rich.console
import rich.table
import rich.text

from flaxen.tabulate._render import parse, render_fast

_WORDS = [
    "a", "bb", "float32", "[dim]float32[/dim][16,9]", "kernel:", "-", "",
    "[bold]40 [dim](160 B)[/dim][/bold]", "x" * 30, "P(None,", "model)", "[dim]P[/dim]",
    "Dense_0/Dense_1", "[dim]int32[/dim][]",
]  # fmt: skip


def _cell(r):
    lines = []
    for _ in range(r.choice([1, 1, 1, 2, 3, 4])):
        words = " ".join(r.choice(_WORDS) for _ in range(r.choice([0, 1, 1, 2, 3, 5])))
        lines.append(words + r.choice(["", "", " ", "  "]))
    return "\n".join(lines)


def _rich(headers, rows, footers, total_column, title, caption, console_kwargs):
    table = rich.table.Table(
        show_header=True, show_lines=True, show_footer=True, title=title, caption=caption,
        caption_style="bold",
    )  # fmt: skip
    for i, header in enumerate(headers):
        footer = rich.text.Text("Total", justify="right") if i == total_column else footers[i]
        table.add_column(header, footer=footer)
    for row in rows:
        table.add_row(*row)
    console = rich.console.Console(file=io.StringIO(), **console_kwargs)
    console.print(table)
    return console.file.getvalue()


def _case(seed):
    r = random.Random(seed)
    n = r.choice([1, 2, 4, 5, 7])
    headers = [r.choice(["path", "module", "inputs", "params", "batch_stats"]) for _ in range(n)]
    rows = [[_cell(r) for _ in range(n)] for _ in range(r.choice([0, 1, 2, 4]))]
    footers = [_cell(r) if r.random() < 0.3 else "" for _ in range(n)]
    title = r.choice(["Foo Summary", "A" * 50 + " Summary", "x y z " * 10, ""])
    caption = r.choice(["\nTotal Parameters: 50 [dim](200 B)[/dim]", "\nTotal Parameters: ", ""])
    console_kwargs = {
        "width": r.choice([20, 30, 45, 60, 80, 100, 160, 250]),
        "force_terminal": r.random() < 0.5,
        "force_jupyter": False,
    }
    return headers, rows, footers, r.randrange(n), title, caption, console_kwargs


@pytest.mark.parametrize("block", range(6))
def test_same_text_as_rich_on_random_tables(block):
    checked = 0
    for seed in range(block * 100, (block + 1) * 100):
        headers, rows, footers, total, title, caption, console_kwargs = _case(seed)
        console = rich.console.Console(file=io.StringIO(), **console_kwargs)
        fast = render_fast(headers, rows, footers, total, title, caption, console)
        if fast is None:
            continue
        checked += 1
        expected = _rich(headers, rows, footers, total, title, caption, console_kwargs)
        assert fast == expected, seed
    assert checked > 80  # declining is the exception (tables narrower than their edges)


@pytest.mark.parametrize(
    "markup",
    [
        "[red]x[/red]",  # other styles
        "[link=https://x]y[/link]",
        "\\[dim] escaped",
        "a :smile: b",  # an emoji code rich would replace
        "caf\u00e9",  # not ASCII
        "tab\there",
        "[/dim] unbalanced",
    ],
)
def test_declines_markup_it_does_not_know(markup):
    assert parse(markup) is None
    console = rich.console.Console(file=io.StringIO(), width=80)
    assert render_fast(["h"], [[markup]], [""], 0, "T", "", console) is None


def test_parses_known_markup():
    text = parse("a [bold]b [dim]c[/dim][/bold] d [dim]e")
    assert text.plain == "a b c d e"
    assert sorted(text.spans) == [(2, 5, 1), (4, 5, 2), (8, 9, 2)]
    assert parse("colons: are: fine") is not None  # no emoji name between them
    assert parse("[1,2] and []") is not None  # not tags


def test_declines_consoles_that_substitute_boxes():
    class AsciiConsole:
        is_jupyter = False
        legacy_windows = False
        width = 80
        color_system = None

        class options:
            ascii_only = True

    assert render_fast(["h"], [["x"]], [""], 0, "T", "", AsciiConsole()) is None
