"""Every code example in the docs runs as a test.

The doctest builder only runs ``testcode``/``doctest`` blocks, so a plain
fenced ``python`` block would be shown but never executed: this test forbids
them. A block that cannot run here (a PyTorch snippet, a shell command) uses
a language that says so (``sh``, ``toml``, ``text``), or an ``{code-block}``
directive preceded by a ``<!-- not run: reason -->`` comment.
"""

from __future__ import annotations

import pathlib
import re

import pytest

DOCS = pathlib.Path(__file__).resolve().parents[1]
PAGES = sorted(p for p in DOCS.rglob("*.md") if "tests" not in p.parts and "_build" not in p.parts)

FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|:{3,})(?P<info>[^\n`]*)$", re.M)
RUN = {"{testcode}", "{doctest}", "{testsetup}", "{testcleanup}", "{testoutput}"}
NOT_CODE = {
    "sh", "console", "toml", "text", "ini", "yaml", "json", "{eval-rst}", "{toctree}",
    "{note}", "{warning}", "{tip}", "{important}", "{seealso}", "{literalinclude}",
    "{include}", "{admonition}", "mermaid", "diff",
}  # fmt: skip
PYTHON = {"", "python", "py", "python3", "pycon", "ipython", "{code-block}", "{code}"}


def _blocks(text: str):
    """(line, directive or language, the line before) of every opening fence."""
    lines = text.splitlines()
    open_fence = None
    for number, line in enumerate(lines):
        match = FENCE.match(line)
        if not match:
            continue
        fence, info = match["fence"], match["info"].strip()
        if open_fence is not None:
            if info == "" and fence.startswith(open_fence[0]) and len(fence) >= len(open_fence):
                open_fence = None
            elif info.startswith("{"):
                continue  # a nested directive, checked on its own below
            continue
        open_fence = fence
        previous = next((ln for ln in reversed(lines[:number]) if ln.strip()), "")
        yield number + 1, info.split()[0] if info else "", previous


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_code_blocks_are_run(page):
    offenders = []
    for line, kind, previous in _blocks(page.read_text()):
        if kind in RUN or kind in NOT_CODE:
            continue
        if kind in PYTHON and previous.strip().startswith("<!-- not run:"):
            continue
        offenders.append(f"{page.name}:{line} ({kind or 'no language'})")
    assert not offenders, "code blocks that no test runs: " + ", ".join(offenders)


def test_guides_have_examples():
    guides = sorted((DOCS / "guides").glob("*.md"))
    assert guides
    for guide in guides:
        kinds = {kind for _, kind, _ in _blocks(guide.read_text())}
        assert kinds & {"{testcode}", "{doctest}"}, f"{guide.name} runs no example"
