"""Fixtures of the docs tests: the built HTML (``nox -s docs`` builds it first)."""

from __future__ import annotations

import os
import pathlib
import sys

import pytest

DOCS = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(DOCS / "_ext"))


@pytest.fixture(scope="session")
def html_dir() -> pathlib.Path:
    """Where ``sphinx-build -b html`` wrote the site."""
    path = pathlib.Path(os.environ.get("FLAXEN_DOCS_HTML", DOCS.parent / "build/docs/html"))
    if not (path / "index.html").is_file():
        pytest.fail(f"no built site at {path}: run `nox -s docs` (it builds before testing)")
    return path


@pytest.fixture(scope="session")
def html_ids(html_dir: pathlib.Path) -> dict[str, set[str]]:
    """Page (relative path) -> every ``id`` attribute on it."""
    import re

    pattern = re.compile(r'\sid="([^"]+)"')
    return {
        str(page.relative_to(html_dir)): set(pattern.findall(page.read_text()))
        for page in html_dir.rglob("*.html")
    }
