"""Sphinx configuration of the flaxen docs (``nox -s docs`` builds and tests them)."""

from __future__ import annotations

import os
import pathlib
import sys

DOCS = pathlib.Path(__file__).parent
sys.path.insert(0, str(DOCS / "_ext"))

# SPMD pages need several devices; set before anything imports JAX.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

project = "flaxen"
author = "the flaxen authors"
copyright = "2026, the flaxen authors"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "flaxen_api",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "tests", "examples/**/README.md", "**/.pytest_cache"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# -- API reference -------------------------------------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_inherit_docstrings = True
autodoc_default_options = {"exclude-members": "__init__, __new__"}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
# Attributes sections as fields: autodoc documents dataclass fields itself.
napoleon_use_ivar = True

# -- examples as tests -----------------------------------------------------------
# Every guide's code is a ``testcode``/``doctest`` block, run by the doctest
# builder; one page is one namespace, so a guide builds up state block by
# block. Docstring ``>>>`` examples run in each package's own tests.
doctest_test_doctest_blocks = ""
doctest_global_setup = f"""
import os
import pathlib
REPO = pathlib.Path({str(DOCS.parent)!r})
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
import logging
import numpy as np
# Orbax logs a notice about its own API on import; it is not about these docs.
logging.getLogger("absl").setLevel(logging.ERROR)
import jax
import jax.numpy as jnp
"""
doctest_default_flags = __import__("doctest").ELLIPSIS | __import__("doctest").NORMALIZE_WHITESPACE

# -- HTML ------------------------------------------------------------------------
html_theme = "furo"
html_title = "flaxen"
html_static_path: list[str] = []
pygments_style = "sphinx"
