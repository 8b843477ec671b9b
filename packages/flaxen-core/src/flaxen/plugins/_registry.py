"""Discovery, loading and bookkeeping of flaxen plugins.

Plugins are found through the ``flaxen`` entry-point group and loaded on the
first lookup, never at import time. Loading a plugin means importing its
module, registering it with a pluggy ``PluginManager`` and calling each of its
hook implementations with a ``register`` callback. A plugin's registrations
are staged and committed only if all of them succeed and none collides with a
name that is already taken, so a broken plugin leaves no half-registered
state behind.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import os
import threading
import warnings
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import pluggy

from flaxen.errors import PluginConflictError, PluginLoadError, PluginWarning

from ._hookspecs import ENTRY_POINT_GROUP, PROJECT_NAME, FlaxenHookSpecs

#: Registry categories, each filled by the hook of the same name.
CATEGORIES = (
    "linen_exports",
    "lifted_transforms",
    "checkpoint_backends",
    "cli_commands",
)
Category = Literal["linen_exports", "lifted_transforms", "checkpoint_backends", "cli_commands"]

STRICT_ENV = "FLAXEN_STRICT_PLUGINS"
DISABLE_ENV = "FLAXEN_DISABLE_PLUGINS"

_FIRST_PARTY = frozenset(
    {
        "flaxen-core",
        "flaxen-linen",
        "flaxen-layers",
        "flaxen-training",
        "flaxen-checkpoint",
        "flaxen-spmd",
        "flaxen-tabulate",
    }
)


@dataclasses.dataclass(frozen=True)
class LazyRef:
    """A ``"package.module:attribute"`` reference imported on first lookup."""

    target: str

    def resolve(self) -> Any:
        module_name, _, attribute = self.target.partition(":")
        obj: Any = importlib.import_module(module_name)
        for part in filter(None, attribute.split(".")):
            obj = getattr(obj, part)
        return obj


def lazy(target: str) -> LazyRef:
    """Defers an import until the registered name is first looked up.

    Args:
      target: ``"package.module:attribute"``, or ``"package.module"`` for a
        whole module.

    Returns:
      A reference to pass as the value of ``register(name, value)``.

    >>> from flaxen.plugins import lazy
    >>> lazy("math:pi").resolve()
    3.141592653589793
    """
    if not isinstance(target, str) or not target.partition(":")[0]:
        raise ValueError(f'lazy() expects "package.module:attribute", got {target!r}.')
    return LazyRef(target)


@dataclasses.dataclass(frozen=True)
class PluginInfo:
    """What the registry knows about one plugin (an entry point).

    Attributes:
      name: the entry-point name, also used by ``FLAXEN_DISABLE_PLUGINS``.
      distribution: the distribution that declares the entry point.
      version: that distribution's version.
      module: the plugin module the entry point names.
      status: ``'loaded'``, ``'failed'`` or ``'disabled'``.
      registered: for a loaded plugin, category -> names it registered.
      error: for a failed plugin, what went wrong and how to fix it.
    """

    name: str
    distribution: str
    version: str
    module: str
    status: Literal["loaded", "failed", "disabled"]
    registered: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    error: str | None = None

    @property
    def first_party(self) -> bool:
        return self.distribution in _FIRST_PARTY


@dataclasses.dataclass(frozen=True)
class _Source:
    """An entry point, reduced to what loading needs (also built by tests)."""

    name: str
    module: str
    distribution: str
    version: str

    def load(self) -> Any:
        return importlib.import_module(self.module)


def _entry_point_sources() -> list[_Source]:
    seen: set[tuple[str, str]] = set()
    sources = []
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist
        dist_name = dist.metadata["Name"] if dist is not None else "<unknown>"
        version = dist.version if dist is not None else "?"
        key = (dist_name, ep.name)
        if key in seen:  # the same distribution visible twice on sys.path
            continue
        seen.add(key)
        sources.append(_Source(ep.name, ep.value, dist_name, version))
    # First-party plugins load first so that they keep their names when a
    # third party collides with them; the rest in a stable order.
    sources.sort(key=lambda s: (s.distribution not in _FIRST_PARTY, s.distribution, s.name))
    return sources


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _env_list(name: str) -> frozenset[str]:
    raw = os.environ.get(name, "")
    return frozenset(item.strip() for item in raw.split(",") if item.strip())


class Registry:
    """Everything plugins registered, loaded on first use.

    Use :func:`flaxen.plugins.get_registry` for the process-wide instance.

    Args:
      sources: plugins to load; by default the ``flaxen`` entry points.
      strict: raise on the first broken plugin instead of skipping it;
        by default from ``FLAXEN_STRICT_PLUGINS``.
      disabled: entry-point or distribution names to skip; by default from
        ``FLAXEN_DISABLE_PLUGINS`` (comma separated).
    """

    def __init__(
        self,
        sources: Iterable[_Source] | None = None,
        *,
        strict: bool | None = None,
        disabled: Iterable[str] | None = None,
    ) -> None:
        self._sources = None if sources is None else list(sources)
        self._strict = strict
        self._disabled = None if disabled is None else frozenset(disabled)
        self._lock = threading.RLock()
        self._loaded = False
        self._plugins: list[PluginInfo] = []
        self._values: dict[str, dict[str, Any]] = {c: {} for c in CATEGORIES}
        self._owner: dict[str, dict[str, PluginInfo]] = {c: {} for c in CATEGORIES}
        self.manager = pluggy.PluginManager(PROJECT_NAME)
        self.manager.add_hookspecs(FlaxenHookSpecs)

    # -- loading -----------------------------------------------------------

    @property
    def strict(self) -> bool:
        return _env_flag(STRICT_ENV) if self._strict is None else self._strict

    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            sources = _entry_point_sources() if self._sources is None else self._sources
            disabled = _env_list(DISABLE_ENV) if self._disabled is None else self._disabled
            try:
                for source in sources:
                    if source.name in disabled or source.distribution in disabled:
                        self._plugins.append(self._info(source, "disabled"))
                        continue
                    self._load_one(source)
            finally:
                self._loaded = True

    def _info(self, source: _Source, status: Any, **kw: Any) -> PluginInfo:
        return PluginInfo(
            source.name, source.distribution, source.version, source.module, status, **kw
        )

    def _load_one(self, source: _Source) -> None:
        staged: dict[str, dict[str, Any]] = {c: {} for c in CATEGORIES}
        module = None
        try:
            module = source.load()
            self.manager.register(module, name=source.name)
            for category in CATEGORIES:
                hook = getattr(self.manager.hook, f"flaxen_{category}")
                for impl in hook.get_hookimpls():
                    if impl.plugin_name == source.name:
                        impl.function(register=_stager(staged[category], category, source))
            for category, entries in staged.items():
                for name in entries:
                    owner = self._owner[category].get(name)
                    if owner is not None:
                        raise PluginConflictError(
                            category, name, owner.distribution, source.distribution
                        )
        except Exception as error:  # noqa: BLE001 - a plugin may raise anything
            if module is not None and self.manager.is_registered(module):
                self.manager.unregister(module)
            self._fail(source, error)
            return
        registered = {c: tuple(e) for c, e in staged.items() if e}
        info = self._info(source, "loaded", registered=registered)
        self._plugins.append(info)
        for category, entries in staged.items():
            self._values[category].update(entries)
            for name in entries:
                self._owner[category][name] = info

    def _fail(self, source: _Source, error: Exception) -> None:
        if isinstance(error, PluginConflictError):
            text = error.message
            raised: Exception = error
        else:
            text = f"{type(error).__name__}: {error}"
            raised = PluginLoadError(source.name, source.distribution, source.version, text)
        self._plugins.append(self._info(source, "failed", error=text))
        if self.strict:
            raise raised from error
        warnings.warn(str(raised), PluginWarning, stacklevel=4)

    # -- lookups -----------------------------------------------------------

    def lookup(self, category: Category, name: str) -> Any:
        """The value registered as ``name`` in ``category``.

        Raises:
          KeyError: nothing is registered under that name.
          PluginLoadError: the name is registered lazily and its import failed.
        """
        self._ensure_loaded()
        values = self._values[category]
        value = values[name]
        if isinstance(value, LazyRef):
            with self._lock:
                value = values[name]
                if isinstance(value, LazyRef):
                    value = self._resolve(category, name, value)
                    values[name] = value
        return value

    def _resolve(self, category: str, name: str, ref: LazyRef) -> Any:
        try:
            return ref.resolve()
        except Exception as error:
            owner = self._owner[category][name]
            raise PluginLoadError(
                owner.name,
                owner.distribution,
                owner.version,
                f"{name} = lazy({ref.target!r}) could not be imported:"
                f" {type(error).__name__}: {error}",
            ) from error

    def names(self, category: Category) -> tuple[str, ...]:
        """Every name registered in ``category``, sorted."""
        self._ensure_loaded()
        return tuple(sorted(self._values[category]))

    def __contains__(self, key: tuple[Category, str]) -> bool:
        self._ensure_loaded()
        category, name = key
        return name in self._values[category]

    def provider(self, category: Category, name: str) -> PluginInfo:
        """The plugin that registered ``name`` in ``category``."""
        self._ensure_loaded()
        return self._owner[category][name]

    @property
    def plugins(self) -> tuple[PluginInfo, ...]:
        """Every plugin seen, loaded or not, in load order."""
        self._ensure_loaded()
        return tuple(self._plugins)

    @property
    def failures(self) -> tuple[PluginInfo, ...]:
        """The plugins that failed to load."""
        return tuple(p for p in self.plugins if p.status == "failed")


def _stager(target: dict[str, Any], category: str, source: _Source) -> Any:
    def register(name: str, value: Any, /) -> None:
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"{category} names must be identifiers, got {name!r}.")
        if name in target:
            raise PluginConflictError(category, name, source.distribution, source.distribution)
        target[name] = value

    return register


_registry: Registry | None = None
_registry_lock = threading.Lock()


def get_registry() -> Registry:
    """The process-wide plugin registry (plugins load on its first lookup)."""
    global _registry
    registry = _registry
    if registry is None:
        with _registry_lock:
            if _registry is None:
                _registry = Registry()
            registry = _registry
    return registry


def reset_registry() -> None:
    """Forgets every loaded plugin; the next lookup discovers them anew.

    Meant for tests and for code that installs plugins at runtime.
    """
    global _registry
    with _registry_lock:
        _registry = None
