"""How submodules get their names and scopes.

* In a ``@compact`` method, a submodule constructed without ``name`` is called
  ``f'{ClassName}_{i}'``, ``i`` counting per class name within the parent and
  restarting at every (outermost) call of the compact method.
* In ``setup``, ``self.x = Mod()`` names the module ``x``; containers are
  flattened: ``self.layers = [A(), B()]`` gives ``layers_0`` and ``layers_1``,
  ``self.d = {'a': [M()], 'b': M()}`` gives ``d_a_0`` and ``d_b``.
* Modules passed as dataclass fields that were constructed outside any parent
  are *adopted* when their new parent sets up: cloned, bound to it and named
  after the field (``layers_0``, ...); the same instance passed twice stays
  one module.
* Two users of one name in the same call are a :class:`NameInUseError`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax

from flaxen.configurations._flags import config as _config
from flaxen.core import FrozenDict
from flaxen.errors import NameInUseError

from ._state import SUBMODULE

_flags = _config._values


def _is_module(x: Any) -> bool:
    from ._module import Module

    return isinstance(x, Module)


def claim_name(parent: Any, name: str, kind: str) -> None:
    """Records that ``kind`` took ``name`` in ``parent``'s current call generation.

    A name taken in ``setup`` (generation 0) is permanent; a name taken in a
    compact call may be taken again by a later call.

    Raises:
      NameInUseError: the name is taken in this generation (or in ``setup``).
    """
    state = parent._state
    generation = state.generation
    previous = state.names.get(name)
    if previous is not None:
        prev_kind, prev_generation = previous
        same_call = prev_generation in (generation, 0)
        if (same_call and SUBMODULE in (kind, prev_kind)) or (same_call and prev_kind == kind):
            raise NameInUseError(kind, name, type(parent).__name__)
    state.names[name] = (kind, generation)


def autoname(parent: Any, child: Any) -> str:
    prefix = type(child).__name__
    cursor = parent._state.autoname_cursor
    index = cursor.get(prefix, 0)
    cursor[prefix] = index + 1
    return f"{prefix}_{index}"


def bind_child(parent: Any, child: Any, name: str) -> None:
    """Names ``child``, makes ``parent`` its parent and gives it a scope."""
    claim_name(parent, name, SUBMODULE)
    attrs = child.__dict__
    attrs["name"] = name
    attrs["parent"] = parent
    attrs["scope"] = parent.scope.push(name, reuse=True)
    parent._state.children[name] = child


def _path_name(prefix: str, path: tuple[Any, ...]) -> str:
    parts = [prefix]
    for entry in path:
        if isinstance(entry, jax.tree_util.SequenceKey):
            parts.append(str(entry.idx))
        elif isinstance(entry, jax.tree_util.DictKey):
            parts.append(str(entry.key))
        elif isinstance(entry, jax.tree_util.GetAttrKey):
            parts.append(entry.name)
        else:
            parts.append(str(entry))
    return "_".join(parts)


def freeze_containers(value: Any) -> Any:
    """Lists become tuples and dicts FrozenDicts, recursively (as Flax's setup does)."""
    if isinstance(value, list):
        return tuple(freeze_containers(v) for v in value)
    if isinstance(value, tuple) and type(value) is tuple:
        return tuple(freeze_containers(v) for v in value)
    if isinstance(value, dict):
        return FrozenDict({k: freeze_containers(v) for k, v in value.items()})
    return value


def register_setup_attribute(parent: Any, attr: str, value: Any) -> Any:
    """Names and binds the submodules in a value assigned in ``setup``.

    Modules constructed in this ``setup`` are bound in place; orphans
    (constructed outside any module) are adopted as clones; modules already
    bound elsewhere are shared as they are.
    """
    value = freeze_containers(value)
    leaves, treedef = jax.tree_util.tree_flatten_with_path(value, is_leaf=_is_module)
    if not any(_is_module(leaf) for _, leaf in leaves):
        return value
    new_leaves = [
        _attach(parent, leaf, _path_name(attr, path)) if _is_module(leaf) else leaf
        for path, leaf in leaves
    ]
    return treedef.unflatten(new_leaves)


def _attach(parent: Any, module: Any, name: str) -> Any:
    attrs = module.__dict__
    if attrs.get("scope") is not None:
        return module  # bound already (explicitly named, or shared): keep
    owner = attrs.get("parent")
    if owner is parent:
        bind_child(parent, module, attrs.get("name") or name)
        return module
    if owner is None:
        return adopt(parent, module, name)
    return module


def adopt(parent: Any, orphan: Any, name: str) -> Any:
    """A clone of ``orphan`` bound to ``parent`` as ``name`` (``orphan`` is untouched)."""
    if _flags["flaxen_preserve_adopted_names"] and orphan.__dict__.get("name") is not None:
        name = orphan.__dict__["name"]
    clone = orphan.clone(parent=None, name=None, _deep_clone=True)
    clone.__dict__["parent"] = parent
    bind_child(parent, clone, name)
    return clone


def adopt_fields(parent: Any) -> None:
    """Clones and binds the orphan modules held in ``parent``'s dataclass fields."""
    adopted: dict[int, Any] = {}
    for field in dataclasses.fields(parent):
        if field.name in ("parent", "name"):
            continue
        value = parent.__dict__.get(field.name)
        if value is None or isinstance(value, (str, int, float, bool)):
            continue
        leaves, treedef = jax.tree_util.tree_flatten_with_path(value, is_leaf=_is_module)
        if not any(_is_module(leaf) for _, leaf in leaves):
            continue
        changed = False
        new_leaves = []
        for path, leaf in leaves:
            if _is_module(leaf) and _needs_adoption(leaf):
                clone = adopted.get(id(leaf))
                if clone is None:
                    clone = adopt(parent, leaf, _path_name(field.name, path))
                    adopted[id(leaf)] = clone
                new_leaves.append(clone)
                changed = True
            else:
                new_leaves.append(leaf)
        if changed:
            state = parent._state
            if state.originals is None:
                state.originals = {}
            state.originals.setdefault(field.name, value)
            object.__setattr__(parent, field.name, treedef.unflatten(new_leaves))


def _needs_adoption(module: Any) -> bool:
    attrs = module.__dict__
    return attrs.get("scope") is None and attrs.get("parent") is None
