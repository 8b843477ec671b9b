"""A small block-style YAML writer for the summary table's cells.

Flax renders the inputs, outputs and variables of a row as YAML (sorted
mapping keys, block collections, PyYAML's default width of 80 and 2-space
indentation) and then deletes every single quote. To print the same cells
without depending on PyYAML, this module re-implements the part of PyYAML's
emitter that such documents use: block mappings and sequences of strings,
empty flow collections, and the plain, single-quoted and double-quoted scalar
styles with their line folding. The scalar analysis, style choice and
writers follow PyYAML 6 (MIT license) closely; the tests compare this writer
with PyYAML itself on random documents.
"""

from __future__ import annotations

import re
from typing import Any

_BEST_WIDTH = 80
_BEST_INDENT = 2

_BREAKS = "\n\x85\u2028\u2029"
_WHITESPACE = "\0 \t\r\n\x85\u2028\u2029"

# PyYAML's implicit resolvers: a plain scalar matching one of these would not
# read back as a string, so such strings must be quoted.
_IMPLICIT = re.compile(
    r"""^(?:
      yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF
    | [-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?
    | \.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
    | [-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
    | [-+]?\.(?:inf|Inf|INF)
    | \.(?:nan|NaN|NAN)
    | [-+]?0b[0-1_]+
    | [-+]?0[0-7_]+
    | [-+]?(?:0|[1-9][0-9_]*)
    | [-+]?0x[0-9a-fA-F_]+
    | [-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+
    | <<
    | ~|null|Null|NULL
    | =
    | [0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]
    | [0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?
      (?:[Tt]|[\ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?
      (?:[\ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?
    )$""",
    re.X,
)

_ESCAPES = {
    "\0": "0", "\x07": "a", "\x08": "b", "\x09": "t", "\x0a": "n", "\x0b": "v", "\x0c": "f",
    "\x0d": "r", "\x1b": "e", '"': '"', "\\": "\\", "\x85": "N", "\xa0": "_", "\u2028": "L",
    "\u2029": "P",
}  # fmt: skip


def _is_printable_unicode(ch: str) -> bool:
    return (
        ch == "\x85" or "\xa0" <= ch <= "\ud7ff" or "\ue000" <= ch <= "\ufffd"
        or "\U00010000" <= ch < "\U0010ffff"
    ) and ch != "\ufeff"  # fmt: skip


class _Analysis:
    __slots__ = (
        "allow_block_plain", "allow_flow_plain", "allow_single_quoted", "empty", "multiline",
    )  # fmt: skip

    def __init__(self, scalar: str) -> None:
        if not scalar:
            self.empty, self.multiline = True, False
            self.allow_flow_plain, self.allow_block_plain = False, True
            self.allow_single_quoted = True
            return
        block_indicators = flow_indicators = line_breaks = special = False
        leading_space = leading_break = trailing_space = trailing_break = False
        break_space = space_break = False
        if scalar.startswith(("---", "...")):
            block_indicators = flow_indicators = True
        preceded_by_ws = True
        followed_by_ws = len(scalar) == 1 or scalar[1] in _WHITESPACE
        previous_space = previous_break = False
        last = len(scalar) - 1
        for index, ch in enumerate(scalar):
            if index == 0:
                if ch in "#,[]{}&*!|>'\"%@`":
                    flow_indicators = block_indicators = True
                if ch in "?:":
                    flow_indicators = True
                    if followed_by_ws:
                        block_indicators = True
                if ch == "-" and followed_by_ws:
                    flow_indicators = block_indicators = True
            else:
                if ch in ",?[]{}":
                    flow_indicators = True
                if ch == ":":
                    flow_indicators = True
                    if followed_by_ws:
                        block_indicators = True
                if ch == "#" and preceded_by_ws:
                    flow_indicators = block_indicators = True
            if ch in _BREAKS:
                line_breaks = True
            if not (ch == "\n" or "\x20" <= ch <= "\x7e"):
                # allow_unicode is off: any other character needs escaping.
                special = True
            if ch == " ":
                leading_space = leading_space or index == 0
                trailing_space = trailing_space or index == last
                break_space = break_space or previous_break
                previous_space, previous_break = True, False
            elif ch in _BREAKS:
                leading_break = leading_break or index == 0
                trailing_break = trailing_break or index == last
                space_break = space_break or previous_space
                previous_space, previous_break = False, True
            else:
                previous_space = previous_break = False
            preceded_by_ws = ch in _WHITESPACE
            followed_by_ws = index + 2 >= len(scalar) or scalar[index + 2] in _WHITESPACE
        flow_plain = block_plain = single = True
        if leading_space or leading_break or trailing_space or trailing_break:
            flow_plain = block_plain = False
        if break_space:
            flow_plain = block_plain = single = False
        if space_break or special:
            flow_plain = block_plain = single = False
        if line_breaks:
            flow_plain = block_plain = False
        if flow_indicators:
            flow_plain = False
        if block_indicators:
            block_plain = False
        self.empty, self.multiline = False, line_breaks
        self.allow_flow_plain, self.allow_block_plain = flow_plain, block_plain
        self.allow_single_quoted = single


class _Writer:
    """The state of PyYAML's emitter, for the events of one block document."""

    def __init__(self) -> None:
        self.out: list[str] = []
        self.column = 0
        self.whitespace = True
        self.indention = True
        self.indent: int | None = None
        self.indents: list[int | None] = []
        self.flow_level = 0
        self.simple_key = False
        self.mapping_context = False
        self.open_ended = False
        self.root = False

    # -- low-level writes ---------------------------------------------------

    def write(self, data: str) -> None:
        self.column += len(data)
        self.out.append(data)

    def indicator(
        self, text: str, need_whitespace: bool, whitespace: bool = False, indention: bool = False
    ) -> None:
        data = text if self.whitespace or not need_whitespace else " " + text
        self.whitespace = whitespace
        self.indention = self.indention and indention
        self.open_ended = False
        self.write(data)

    def line_break(self, data: str = "\n") -> None:
        self.whitespace = self.indention = True
        self.column = 0
        self.out.append(data)

    def write_indent(self) -> None:
        indent = self.indent or 0
        if (
            not self.indention
            or self.column > indent
            or (self.column == indent and not self.whitespace)
        ):
            self.line_break()
        if self.column < indent:
            self.whitespace = True
            self.write(" " * (indent - self.column))

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        self.indents.append(self.indent)
        if self.indent is None:
            self.indent = _BEST_INDENT if flow else 0
        elif not indentless:
            self.indent += _BEST_INDENT

    # -- nodes --------------------------------------------------------------

    def node(self, value: Any, root: bool = False, mapping: bool = False, key: bool = False):
        self.root, self.mapping_context, self.simple_key = root, mapping, key
        if isinstance(value, str):
            self.increase_indent(flow=True)
            self.scalar(value)
            self.indent = self.indents.pop()
        elif isinstance(value, list):
            if value:
                self.block_sequence(value)
            else:
                self.empty_flow("[", "]")
        elif value:
            self.block_mapping(value)
        else:
            self.empty_flow("{", "}")

    def empty_flow(self, start: str, end: str) -> None:
        self.indicator(start, True, whitespace=True)
        self.increase_indent(flow=True)
        self.indent = self.indents.pop()
        self.indicator(end, False)

    def block_sequence(self, items: list[Any]) -> None:
        self.increase_indent(indentless=self.mapping_context and not self.indention)
        for item in items:
            self.write_indent()
            self.indicator("-", True, indention=True)
            self.node(item)
        self.indent = self.indents.pop()

    def block_mapping(self, items: dict[str, Any]) -> None:
        self.increase_indent()
        for key in sorted(items):
            value = items[key]
            self.write_indent()
            analysis = _Analysis(key)
            if len(key) < 128 and not analysis.empty and not analysis.multiline:
                self.node(key, mapping=True, key=True)
                self.indicator(":", False)
            else:
                self.indicator("?", True, indention=True)
                self.node(key, mapping=True)
                self.write_indent()
                self.indicator(":", True, indention=True)
            self.node(value, mapping=True)
        self.indent = self.indents.pop()

    # -- scalars --------------------------------------------------------------

    def scalar(self, text: str) -> None:
        analysis = _Analysis(text)
        implicit = not analysis.empty and _IMPLICIT.match(text) is None
        split = not self.simple_key
        if (
            implicit
            and not (self.simple_key and (analysis.empty or analysis.multiline))
            and analysis.allow_block_plain
        ):
            self.plain(text, split)
        elif analysis.allow_single_quoted and not (self.simple_key and analysis.multiline):
            self.single_quoted(text, split)
        else:
            self.double_quoted(text, split)

    def plain(self, text: str, split: bool) -> None:
        if self.root:
            self.open_ended = True
        if not text:
            return
        if not self.whitespace:
            self.write(" ")
        self.whitespace = self.indention = False
        self._folded(text, split, quote=False)

    def single_quoted(self, text: str, split: bool) -> None:
        self.indicator("'", True)
        self._folded(text, split, quote=True)
        self.indicator("'", False)

    def _folded(self, text: str, split: bool, quote: bool) -> None:
        spaces = breaks = False
        start = end = 0
        n = len(text)
        while end <= n:
            ch = text[end] if end < n else None
            if spaces:
                if ch != " ":
                    if (
                        start + 1 == end
                        and self.column > _BEST_WIDTH
                        and split
                        and (not quote or (start != 0 and end != n))
                    ):
                        self.write_indent()
                        if not quote:
                            self.whitespace = self.indention = False
                    else:
                        self.write(text[start:end])
                    start = end
            elif breaks:
                if ch is None or ch not in _BREAKS:
                    if text[start] == "\n":
                        self.line_break()
                    for br in text[start:end]:
                        self.line_break("\n" if br == "\n" else br)
                    self.write_indent()
                    if not quote:
                        self.whitespace = self.indention = False
                    start = end
            elif (ch is None or ch in " " + _BREAKS or (quote and ch == "'")) and start < end:
                self.write(text[start:end])
                start = end
            if quote and ch == "'":
                self.write("''")
                start = end + 1
            if ch is not None:
                spaces = ch == " "
                breaks = ch in _BREAKS
            end += 1

    def double_quoted(self, text: str, split: bool) -> None:
        self.indicator('"', True)
        start = end = 0
        n = len(text)
        while end <= n:
            ch = text[end] if end < n else None
            if ch is None or ch in '"\\\x85\u2028\u2029\ufeff' or not "\x20" <= ch <= "\x7e":
                if start < end:
                    self.write(text[start:end])
                    start = end
                if ch is not None:
                    if ch in _ESCAPES:
                        data = "\\" + _ESCAPES[ch]
                    elif ch <= "\xff":
                        data = f"\\x{ord(ch):02X}"
                    elif ch <= "\uffff":
                        data = f"\\u{ord(ch):04X}"
                    else:
                        data = f"\\U{ord(ch):08X}"
                    self.write(data)
                    start = end + 1
            if (
                0 < end < n - 1
                and (ch == " " or start >= end)
                and self.column + (end - start) > _BEST_WIDTH
                and split
            ):
                data = text[start:end] + "\\"
                start = max(start, end)
                self.write(data)
                self.write_indent()
                self.whitespace = self.indention = False
                if text[start] == " ":
                    self.write("\\")
            end += 1
        self.indicator('"', False)


def dump(document: Any) -> str:
    """``document`` as PyYAML's ``safe_dump(..., default_flow_style=False)`` writes it.

    ``document`` is built from ``dict`` (string keys), ``list`` and ``str``.

    >>> print(dump({'b': ['x', 'y'], 'a': {'c': 'it is'}}), end='')
    a:
      c: it is
    b:
    - x
    - y
    """
    writer = _Writer()
    writer.node(document, root=True)
    writer.write_indent()
    if writer.open_ended:
        writer.indicator("...", True)
        writer.write_indent()
    return "".join(writer.out)
