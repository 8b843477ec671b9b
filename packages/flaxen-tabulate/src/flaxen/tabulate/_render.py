"""A fast renderer of the summary table, producing exactly what rich prints.

Rich renders a table through general machinery (renderables, measurements,
segments, styles) that costs more than building the summary itself. The
summary table always has the same shape: rich's default ``HEAVY_HEAD`` box,
``show_lines``, a footer, a title and a caption, cells of ASCII text with
``[bold]``/``[dim]`` markup, left-justified columns that wrap words and end
overflowing words with an ellipsis. For such tables this module reproduces
rich 13-15's layout (column measurement and shrinking, word wrapping,
justification, segment boundaries, ANSI codes) directly. :func:`render_fast`
returns None for anything else (other characters or markup, emoji codes,
table options, consoles that substitute boxes), and the caller then uses
rich itself. The tests compare both on random tables.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from typing import Any

BOLD, DIM, ITALIC = 1, 2, 4
_CODES = ((BOLD, "1"), (DIM, "2"), (ITALIC, "3"))
_KNOWN_TAGS = {"bold": BOLD, "dim": DIM}
# rich's markup tag syntax (rich/markup.py): a tag candidate starts with "[" and
# one of [a-z#/@]; backslashes before "[" escape it.
_RE_TAG = re.compile(r"((\\*)\[([a-z#/@][^[]*?)])")
_RE_EMOJI = re.compile(r":(\S*?)(?:-(emoji|text))?:")
_RE_WORD = re.compile(r"\s*\S+\s*")
_RE_TRAILING_SPACE = re.compile(r"\s+$")
_SAFE_CHARS = re.compile(r"[\n\x20-\x7e]*")
_ELLIPSIS = "\u2026"

# HEAVY_HEAD: top, head row separator, body row separator, bottom.
_TOP = ("┏", "━", "┳", "┓")
_HEAD_ROW = ("┡", "━", "╇", "┩")
_ROW = ("├", "─", "┼", "┤")
_BOTTOM = ("└", "─", "┴", "┘")
_HEAD_VERTICAL = "┃"
_VERTICAL = "│"

_ansi_cache: dict[int, str] = {}


def _ansi(bits: int) -> str:
    code = _ansi_cache.get(bits)
    if code is None:
        code = _ansi_cache[bits] = ";".join(c for bit, c in _CODES if bits & bit)
    return code


class _Text:
    """Plain text and ``(start, end, style bits)`` spans (a tiny ``rich.text.Text``)."""

    __slots__ = ("plain", "spans")

    def __init__(self, plain: str, spans: list[tuple[int, int, int]]) -> None:
        self.plain = plain
        self.spans = spans

    def set_plain(self, plain: str) -> None:
        if len(plain) < len(self.plain):
            n = len(plain)
            self.spans = [(s, min(e, n), b) for s, e, b in self.spans if s < n]
        self.plain = plain

    def pad_left(self, count: int) -> None:
        if count:
            self.plain = " " * count + self.plain
            self.spans = [(s + count, e + count, b) for s, e, b in self.spans]

    def divide(self, offsets: Sequence[int]) -> list[_Text]:
        if not offsets:
            return [_Text(self.plain, list(self.spans))]
        bounds = [0, *offsets, len(self.plain)]
        out = []
        for start, end in itertools.pairwise(bounds):
            spans = [
                (max(s, start) - start, min(e, end) - start, b)
                for s, e, b in self.spans
                if s < end and e > start
            ]
            out.append(_Text(self.plain[start:end], spans))
        return out

    def truncate(self, width: int, overflow: str, pad: bool = False) -> None:
        length = len(self.plain)
        if length > width:
            if overflow == "ellipsis":
                self.set_plain(self.plain[: max(width - 1, 0)] + _ELLIPSIS)
            else:
                self.set_plain(self.plain[:width])
        if pad and length < width:
            self.plain += " " * (width - length)


def parse(markup: str) -> _Text | None:
    """``markup`` as text and spans, or None if it needs rich's full markup."""
    if _SAFE_CHARS.fullmatch(markup) is None:
        return None
    if ":" in markup and _has_emoji(markup):
        return None
    if "\\[" in markup:
        return None  # an escaped bracket
    if "[" not in markup:
        return _Text(markup, [])
    plain: list[str] = []
    spans: list[tuple[int, int, int]] = []
    stack: list[tuple[str, int]] = []
    position = length = 0
    for match in _RE_TAG.finditer(markup):
        escapes, tag = match.group(2), match.group(3)
        if escapes:
            return None
        name = tag[1:] if tag.startswith("/") else tag
        if name not in _KNOWN_TAGS:
            return None
        text = markup[position : match.start()]
        plain.append(text)
        length += len(text)
        position = match.end()
        if tag.startswith("/"):
            for i in range(len(stack) - 1, -1, -1):
                if stack[i][0] == name:
                    _, start = stack.pop(i)
                    spans.append((start, length, _KNOWN_TAGS[name]))
                    break
            else:
                return None  # rich raises MarkupError
        else:
            stack.append((name, length))
    text = markup[position:]
    plain.append(text)
    length += len(text)
    for name, start in stack:
        spans.append((start, length, _KNOWN_TAGS[name]))
    return _Text("".join(plain), spans)


def _has_emoji(markup: str) -> bool:
    from rich._emoji_codes import EMOJI

    return any(m.group(1).lower() in EMOJI for m in _RE_EMOJI.finditer(markup))


def _measure(plain: str) -> tuple[int, int]:
    """rich's ``Text.__rich_measure__``: (longest word, longest line)."""
    lines = plain.splitlines()
    longest = max(map(len, lines)) if lines else 0
    words = plain.split()
    return (max(map(len, words)) if words else longest), longest


def _divide_line(text: str, width: int, fold: bool) -> list[int]:
    breaks: list[int] = []
    offset = 0
    for match in _RE_WORD.finditer(text):
        start = match.start()
        word = match.group(0)
        word_length = len(word.rstrip())
        if width - offset >= word_length:
            offset += len(word)
        elif word_length > width:
            if fold:
                chunks = [word[i : i + width] for i in range(0, len(word), width)] or [word]
                for i, chunk in enumerate(chunks):
                    if start:
                        breaks.append(start)
                    if i == len(chunks) - 1:
                        offset = len(chunk)
                    else:
                        start += len(chunk)
            else:
                if start:
                    breaks.append(start)
                offset = len(word)
        elif offset and start:
            breaks.append(start)
            offset = len(word)
    return breaks


def _wrap(text: _Text, width: int, justify: str, overflow: str) -> list[_Text]:
    """rich's ``Text.wrap`` for ASCII text without tabs."""
    plain = text.plain
    if "\n" in plain:
        cuts = []
        for i, ch in enumerate(plain):
            if ch == "\n":
                cuts += [i, i + 1]
        pieces = text.divide(cuts)
        lines = pieces[0::2]
    else:
        lines = [text]
    out: list[_Text] = []
    for line in lines:
        parts = line.divide(_divide_line(line.plain, width, overflow == "fold"))
        for part in parts:
            if len(part.plain) > width:
                found = _RE_TRAILING_SPACE.search(part.plain)
                if found is not None:
                    crop = min(len(found.group(0)), len(part.plain) - width)
                    part.set_plain(part.plain[: len(part.plain) - crop])
            if justify == "left":
                part.truncate(width, overflow, pad=True)
            else:
                part.set_plain(part.plain.rstrip())
                part.truncate(width, overflow)
                excess = width - len(part.plain)
                if justify == "center":
                    part.pad_left(excess // 2)
                    part.plain += " " * (width - len(part.plain))
                else:
                    part.pad_left(excess)
            part.truncate(width, overflow)
        out.extend(parts)
    return out


def _segments(line: _Text, base: int) -> list[tuple[str, int]]:
    """The (text, style) runs rich yields for one line: split at every span edge."""
    plain = line.plain
    if not line.spans:
        return [(plain, base)] if plain else []
    edges = {0, len(plain)}
    for s, e, _ in line.spans:
        edges.add(s)
        edges.add(e)
    bounds = sorted(x for x in edges if 0 <= x <= len(plain))
    out = []
    for start, end in itertools.pairwise(bounds):
        bits = base
        for s, e, b in line.spans:
            if s <= start and e >= end:
                bits |= b
        out.append((plain[start:end], bits))
    return out


def _cell(text: _Text, width: int, justify: str, base: int) -> list[list[tuple[str, int]]]:
    inner = width - 2
    return [
        [(" ", base), *_segments(line, base), (" ", base)]
        for line in _wrap(_Text(text.plain, list(text.spans)), inner, justify, "ellipsis")
    ]


def _ratio_reduce(total: int, ratios: list[int], maximums: list[int], values: list[int]):
    ratios = [r if m else 0 for r, m in zip(ratios, maximums, strict=True)]
    total_ratio = sum(ratios)
    if not total_ratio:
        return values[:]
    remaining = total
    out = []
    for ratio, maximum, value in zip(ratios, maximums, values, strict=True):
        if ratio and total_ratio > 0:
            distributed = min(maximum, round(ratio * remaining / total_ratio))
            out.append(value - distributed)
            remaining -= distributed
            total_ratio -= ratio
        else:
            out.append(value)
    return out


def _collapse(widths: list[int], max_width: int) -> list[int]:
    total = sum(widths)
    excess = total - max_width
    while total and excess > 0:
        largest = max(widths)
        second = max((w if w != largest else 0) for w in widths)
        difference = largest - second
        ratios = [1 if w == largest else 0 for w in widths]
        if not any(ratios) or not difference:
            break
        widths = _ratio_reduce(excess, ratios, [min(excess, difference)] * len(widths), widths)
        total = sum(widths)
        excess = total - max_width
    return widths


def _normalize(lo: int, hi: int) -> tuple[int, int]:
    lo = min(max(0, lo), hi)
    return max(0, lo), max(0, lo, hi)


def _measure_padded(plain: str, max_width: int) -> tuple[int, int]:
    """rich's ``Measurement.get`` of a cell (text in a 1-column padding each side)."""
    if max_width < 1:
        return 0, 0
    if max_width - 2 < 1:
        lo = hi = max_width
    else:
        lo, hi = _normalize(*_measure(plain))
        lo, hi = min(lo, max_width), min(hi, max_width)
        if hi < 1:
            lo = hi = 0
        else:
            lo, hi = _normalize(lo, hi)
        lo, hi = min(lo + 2, max_width), min(hi + 2, max_width)
    lo, hi = _normalize(lo, hi)
    lo, hi = min(lo, max_width), min(hi, max_width)
    if hi < 1:
        return 0, 0
    return _normalize(lo, hi)


def _measure_column(cells: list[_Text], max_width: int) -> tuple[int, int]:
    """rich's ``Table._measure_column`` (no fixed or minimum widths)."""
    if max_width < 1:
        return 0, 0
    measured = [_measure_padded(cell.plain, max_width) for cell in cells]
    lo = max(m[0] for m in measured) if measured else 1
    hi = max(m[1] for m in measured) if measured else max_width
    return min(lo, max_width), min(hi, max_width)


def _widths(columns: list[list[_Text]], max_width: int) -> list[int]:
    widths = [_measure_column(cells, max_width)[1] or 1 for cells in columns]
    if sum(widths) > max_width:
        widths = _collapse(widths, max_width)
        if sum(widths) > max_width:
            excess = sum(widths) - max_width
            widths = _ratio_reduce(excess, [1] * len(widths), widths, widths)
        widths = [
            _measure_column(cells, w)[1] or 0 for w, cells in zip(widths, columns, strict=True)
        ]
    return widths


def _emit(segments: list[tuple[str, int]], color: bool, out: list[str]) -> None:
    for text, bits in segments:
        if not text:
            continue
        if bits and color:
            out.append(f"\x1b[{_ansi(bits)}m{text}\x1b[0m")
        else:
            out.append(text)


def _annotation(markup: str, width: int, base: int, color: bool, out: list[str]) -> bool:
    text = parse(markup)
    if text is None:
        return False
    for line in _wrap(text, width, "center", "fold"):
        _emit(_segments(line, base), color, out)
        out.append("\n")
    return True


def render_fast(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    footers: Sequence[str],
    total_column: int,
    title: str,
    caption: str,
    console: Any,
) -> str | None:
    """What ``console.print`` writes for the summary table, or None to use rich.

    Args:
      headers, rows, footers: the cells' markup (``footers[total_column]`` is
        ignored: that column's footer is a right-justified ``Total``).
      title, caption: markup of the title (italic) and caption (bold).
      console: the ``rich.console.Console`` the table would be printed on.
    """
    if console.is_jupyter or console.legacy_windows or console.options.ascii_only:
        return None
    parsed_rows = []
    for row in [headers, *rows, footers]:
        parsed = [parse(cell) for cell in row]
        if any(cell is None for cell in parsed):
            return None
        parsed_rows.append(parsed)
    parsed_rows[-1][total_column] = _Text("Total", [])
    n = len(headers)
    width = console.width
    extra = n + 1
    columns = [[r[i] for r in parsed_rows] for i in range(n)]
    widths = _widths(columns, width - extra)
    if any(w < 3 for w in widths):
        return None
    table_width = sum(widths) + extra
    if table_width > width:
        return None
    color = console.color_system is not None
    out: list[str] = []
    if title and not _annotation(title, table_width, ITALIC, color, out):
        return None
    out.append(_TOP[0] + _TOP[2].join(_TOP[1] * w for w in widths) + _TOP[3] + "\n")
    last = len(parsed_rows) - 1
    for index, row in enumerate(parsed_rows):
        header, footer = index == 0, index == last
        base = BOLD if header or footer else 0
        if footer:
            out.append(_ROW[0] + _ROW[2].join(_ROW[1] * w for w in widths) + _ROW[3] + "\n")
        cells = [
            _cell(cell, w, "right" if footer and i == total_column else "left", base)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        height = max(len(c) for c in cells)
        vertical = _HEAD_VERTICAL if header else _VERTICAL
        for line_no in range(height):
            out.append(vertical)
            for i, (cell, w) in enumerate(zip(cells, widths, strict=True)):
                if line_no < len(cell):
                    _emit(cell[line_no], color, out)
                else:
                    _emit([(" " * w, base)], color, out)
                out.append(vertical if i < n - 1 else vertical + "\n")
        if header:
            out.append(
                _HEAD_ROW[0] + _HEAD_ROW[2].join(_HEAD_ROW[1] * w for w in widths)
                + _HEAD_ROW[3] + "\n"
            )  # fmt: skip
        elif not footer and index < last - 1:
            out.append(_ROW[0] + _ROW[2].join(_ROW[1] * w for w in widths) + _ROW[3] + "\n")
    out.append(_BOTTOM[0] + _BOTTOM[2].join(_BOTTOM[1] * w for w in widths) + _BOTTOM[3] + "\n")
    if caption and not _annotation(caption, table_width, BOLD, color, out):
        return None
    return "".join(out)
