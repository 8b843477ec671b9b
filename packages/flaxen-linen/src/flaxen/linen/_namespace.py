"""The plugin-backed part of the ``flaxen.linen`` namespace.

Names that ``flaxen.linen`` does not define itself (layers, partitioning
helpers, ``tabulate``, lifted transforms) are looked up in the plugin
registry on first access and then cached as ordinary module attributes, so
``nn.Dense`` costs a dict lookup after the first time. Registered *modules*
(``initializers``, ``activation``, ...) are also importable as
``flaxen.linen.<name>`` through a meta-path finder.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.metadata
import sys
import types
from typing import Any

from flaxen.errors import MissingPackageError
from flaxen.plugins import get_registry

from ._first_party import PROVIDER

PACKAGE = "flaxen.linen"
_CATEGORIES = ("lifted_transforms", "linen_exports")


def find_export(name: str) -> Any:
    """The plugin value named ``name``; KeyError if no plugin registered it."""
    registry = get_registry()
    for category in _CATEGORIES:
        if (category, name) in registry:
            return registry.lookup(category, name)
    raise KeyError(name)


def lookup_export(name: str) -> Any:
    """Like :func:`find_export`, but a missing first-party package is an ImportError."""
    try:
        return find_export(name)
    except KeyError:
        distribution = PROVIDER.get(name)
        if distribution is not None:
            raise MissingPackageError(
                name, distribution, PACKAGE, installed=_is_installed(distribution)
            ) from None
        raise


def _is_installed(distribution: str) -> bool:
    try:
        importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def module_getattr(namespace: dict[str, Any], name: str) -> Any:
    """``__getattr__`` of ``flaxen.linen``: plugin exports, cached after the first use."""
    if name.startswith("__"):
        raise AttributeError(name)
    try:
        value = lookup_export(name)
    except KeyError:
        raise AttributeError(f"module {PACKAGE!r} has no attribute {name!r}") from None
    namespace[name] = value
    return value


def exported_names() -> list[str]:
    registry = get_registry()
    return sorted({n for category in _CATEGORIES for n in registry.names(category)})


class _ExistingModuleLoader(importlib.abc.Loader):
    """Loads an already imported module under a second name, leaving it as it was.

    The import system stamps the spec it found (``flaxen.linen.<name>``) on
    the module between ``create_module`` and ``exec_module``; the module's
    own spec is put back, so it still reloads, pickles and reports itself
    under its real name.
    """

    def __init__(self, module: types.ModuleType) -> None:
        self.module = module
        self.own_spec = getattr(module, "__spec__", None)

    def create_module(self, spec: Any) -> types.ModuleType:
        return self.module

    def exec_module(self, module: types.ModuleType) -> None:
        module.__spec__ = self.own_spec


class ExportedModuleFinder(importlib.abc.MetaPathFinder):
    """Makes ``import flaxen.linen.<name>`` find modules registered as exports."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        prefix = PACKAGE + "."
        if not fullname.startswith(prefix):
            return None
        name = fullname[len(prefix) :]
        if "." in name or name.startswith("_"):
            return None
        try:
            value = lookup_export(name)
        except KeyError:
            return None
        if not isinstance(value, types.ModuleType):
            return None
        return importlib.machinery.ModuleSpec(fullname, _ExistingModuleLoader(value))


def install_finder() -> None:
    if not any(isinstance(f, ExportedModuleFinder) for f in sys.meta_path):
        sys.meta_path.append(ExportedModuleFinder())
