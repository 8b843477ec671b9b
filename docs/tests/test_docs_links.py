"""Links into the docs from the repository's README point at pages that exist."""

from __future__ import annotations

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_readme_links_resolve():
    readme = (ROOT / "README.md").read_text()
    local = [target for target in LINK.findall(readme) if "://" not in target]
    assert any(target.startswith("docs/") for target in local), "README links to no docs page"
    missing = [target for target in local if not (ROOT / target).exists()]
    assert not missing, f"README.md links to missing files: {missing}"


def test_every_page_is_in_the_site(html_dir):
    docs = ROOT / "docs"
    pages = [p.relative_to(docs) for p in docs.rglob("*.md")]
    # Files inside an example's own directory are sources, not pages.
    pages = [
        p.with_suffix(".html")
        for p in pages
        if p.parts[0] not in ("tests", "_build")
        and not (p.parts[0] == "examples" and len(p.parts) > 2)
    ]
    missing = [str(p) for p in pages if not (html_dir / p).is_file()]
    assert not missing, f"pages not built: {missing}"
