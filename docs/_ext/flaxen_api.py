"""The ``flaxen-api`` directive: API reference entries from a module's public names.

``flaxen`` packages re-export their public API from private modules with the
``from ._impl import Name as Name`` form, and ``flaxen.linen`` is filled by
plugins, so Sphinx's ``automodule :members:`` cannot tell what is public. This
directive asks :func:`public_names` instead and writes one autodoc entry per
name:

.. code-block:: rst

   .. flaxen-api:: flaxen.struct

   .. flaxen-api:: flaxen.linen
      :names: Dense DenseGeneral

An object reachable under several public paths is documented once, at its
*home* (the first module of :data:`HOMES` that exports it); elsewhere it gets a
short entry pointing there, so every public path still has its own anchor.
Objects from other libraries (``nn.relu`` is ``jax.nn.relu``) get a short entry
naming the original.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import pathlib
import types
from typing import Any, ClassVar

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

from flaxen.errors import FlaxenError

#: Every module the API reference documents, in the order that decides an
#: object's home when several modules export it.
HOMES = (
    "flaxen.errors",
    "flaxen.core",
    "flaxen.core.lift",
    "flaxen.core.meta",
    "flaxen.core.frozen_dict",
    "flaxen.core.variables",
    "flaxen.core.scope",
    "flaxen.struct",
    "flaxen.serialization",
    "flaxen.traverse_util",
    "flaxen.config",
    "flaxen.configurations",
    "flaxen.jax_utils",
    "flaxen.traceback_util",
    "flaxen.plugins",
    "flaxen.spmd",
    "flaxen.linen",
    "flaxen.linen.initializers",
    "flaxen.linen.dtypes",
    "flaxen.training.train_state",
    "flaxen.training.lr_schedule",
    "flaxen.training.early_stopping",
    "flaxen.training.common_utils",
    "flaxen.training.dynamic_scale",
    "flaxen.training.prefetch_iterator",
    "flaxen.checkpoint",
    "flaxen.training.checkpoints",
    "flaxen.tabulate",
)

_NOT_API = frozenset({"TYPE_CHECKING", "annotations", "Any"})


def _module_file(module: types.ModuleType) -> pathlib.Path | None:
    path = getattr(module, "__file__", None)
    return pathlib.Path(path) if path else None


def _reexports(module: types.ModuleType) -> list[str]:
    """Names bound at top level by ``import x as x`` or an assignment."""
    path = _module_file(module)
    if path is None or path.suffix != ".py":
        return []
    tree = ast.parse(path.read_text())
    names: list[str] = []

    def visit(body: list[ast.stmt]) -> None:
        for stmt in body:
            if isinstance(stmt, ast.ImportFrom | ast.Import):
                for alias in stmt.names:
                    if alias.asname is not None and alias.asname == alias.name.split(".")[-1]:
                        names.append(alias.asname)
            elif isinstance(stmt, ast.Assign):
                names.extend(t.id for t in stmt.targets if isinstance(t, ast.Name))
            elif isinstance(stmt, ast.If | ast.Try):
                visit(stmt.body)
                visit(stmt.orelse)

    visit(tree.body)
    return names


@functools.cache
def public_names(modname: str) -> tuple[str, ...]:
    """The public API of ``modname``, sorted: what the reference must document.

    That is every name re-exported with the explicit ``X as X`` form or bound
    by a top-level assignment, every name listed in ``__all__``, and for ``flaxen.linen`` every name a plugin
    registered, less submodules (they get pages of their own) and private
    names.
    """
    module = importlib.import_module(modname)
    names = set(_reexports(module)) | set(getattr(module, "__all__", ()))
    if modname == "flaxen.linen":
        from flaxen.plugins import get_registry

        # First-party plugins only: a third-party plugin installed next to
        # flaxen (the docs' own example plugin) documents itself.
        registry = get_registry()
        for category in ("linen_exports", "lifted_transforms"):
            names |= {
                name
                for name in registry.names(category)
                if registry.provider(category, name).first_party
            }
    public = []
    for name in names:
        if name.startswith("_") or name in _NOT_API:
            continue
        try:
            value = getattr(module, name)
        except (AttributeError, ImportError, FlaxenError):  # unfinished plugin: tests report it
            public.append(name)
            continue
        if isinstance(value, types.ModuleType):
            continue
        public.append(name)
    return tuple(sorted(public))


@functools.cache
def homes() -> dict[int, str]:
    """``id(object)`` -> the public path it is documented at."""
    found: dict[int, str] = {}
    for modname in HOMES:
        module = importlib.import_module(modname)
        for name in public_names(modname):
            try:
                value = getattr(module, name)
            except (AttributeError, ImportError, FlaxenError):
                continue
            if _is_shared_constant(value):
                continue
            found.setdefault(id(value), f"{modname}.{name}")
    return found


def _is_shared_constant(value: Any) -> bool:
    # Small ints and interned strings are shared by identity with unrelated names.
    return isinstance(value, str | int | float | bool | tuple | frozenset) or value is None


def _origin(value: Any) -> str | None:
    """``module.qualname`` of an object defined outside flaxen, else None."""
    module = getattr(value, "__module__", None) or ""
    if module.startswith("flaxen"):
        return None
    name = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)
    if not module or not name:
        return None
    public = module.replace("._src", "").split(".")
    # jax._src.nn.functions.relu is documented by JAX as jax.nn.relu
    if public[0] == "jax" and len(public) > 2:
        public = public[:2]
    return ".".join(public) + "." + name


def _entries(modname: str, names: list[str]) -> list[str]:
    module = importlib.import_module(modname)
    lines: list[str] = []
    for name in names:
        path = f"{modname}.{name}"
        value = getattr(module, name)
        home = homes().get(id(value))
        origin = _origin(value)
        if inspect.isclass(value):
            kind = "class"
        elif callable(value):
            kind = "function"
        else:
            kind = "data"
        if home is not None and home != path and not _is_shared_constant(value):
            # Recorded as data, not as a class or function, so that a cross
            # reference to the short name still finds exactly one target.
            lines += [f".. py:data:: {name}", f"   :module: {modname}", "   :no-index-entry:", ""]
            lines += [f"   The same object as :py:{_role(kind)}:`{home}`.", ""]
        elif origin is not None and kind != "data":
            lines += [f".. py:{kind}:: {name}", f"   :module: {modname}", ""]
            lines += [f"   Re-exported from ``{origin}``; see the JAX/library docs.", ""]
        elif kind == "class":
            lines += [f".. autoclass:: {path}", "   :members:", "   :show-inheritance:", ""]
        elif kind == "function":
            lines += [f".. autofunction:: {path}", ""]
        else:
            lines += [f".. autodata:: {path}", "   :no-value:", ""]
    return lines


def _role(kind: str) -> str:
    return {"class": "class", "function": "func", "data": "data"}[kind]


class FlaxenApi(SphinxDirective):
    """``.. flaxen-api:: module`` with optional ``:names:`` and ``:exclude:``.

    Without ``:names:``, every public name of the module that no earlier
    ``flaxen-api`` directive of the same page documented: a page can give
    groups of names their own sections and end with one directive for the rest.
    """

    required_arguments = 1
    option_spec: ClassVar[dict[str, Any]] = {
        "names": directives.unchanged,
        "exclude": directives.unchanged,
    }

    def run(self) -> list[nodes.Node]:
        modname = self.arguments[0]
        done = self.env.temp_data.setdefault("flaxen_api_done", {}).setdefault(modname, set())
        if "names" in self.options:
            names = self.options["names"].replace(",", " ").split()
        else:
            names = [n for n in public_names(modname) if n not in done]
        excluded = set(self.options.get("exclude", "").replace(",", " ").split())
        names = [n for n in names if n not in excluded]
        done.update(names)
        content = StringList()
        for i, line in enumerate(_entries(modname, names)):
            content.append(line, f"<flaxen-api {modname}>", i)
        node = nodes.container()
        nested_parse_with_titles(self.state, content, node)
        return node.children


def setup(app: Any) -> dict[str, Any]:
    app.add_directive("flaxen-api", FlaxenApi)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
