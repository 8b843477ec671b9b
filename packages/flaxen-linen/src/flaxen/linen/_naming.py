"""How submodules get their names and scopes.

* In a ``@compact`` method, a submodule constructed without ``name`` is called
  ``f'{ClassName}_{i}'``, ``i`` counting per class name within the parent and
  restarting at every (outermost) call of the compact method.
* In ``setup``, ``self.x = Mod()`` names the module ``x``; containers are
  flattened: ``self.layers = [A(), B()]`` gives ``layers_0`` and ``layers_1``,
  ``self.d = {'a': [M()], 'b': M()}`` gives ``d_a_0`` and ``d_b``.
* Unbound modules held in a module's dataclass fields are *adopted* as soon as
  that module is bound: named after the field (``layers_0``, ...) and bound
  to a child scope. A module built in a ``setup`` (whose parent is the module
  being set up) is bound in place; an *orphan* (``parent=None``, or built
  outside any module) is cloned, and its clone is what the whole tree shares:
  the same orphan handed to several modules is adopted once, by the first.
* A submodule's name excludes every variable of that name; variables (a
  parameter is a ``'params'`` variable) clash only within one collection.
  Two users of one name in the same call are a :class:`NameInUseError`.
"""

from __future__ import annotations

import functools
import types
from typing import Any

import jax
import numpy as np

from flaxen.configurations._flags import config as _config
from flaxen.core import FrozenDict
from flaxen.errors import NameInUseError

from ._state import SUBMODULE

_flags = _config._values


def _is_module(x: Any) -> bool:
    from ._module import Module

    return isinstance(x, Module)


def claim_name(parent: Any, name: str, kind: str, col: str | None = None) -> None:
    """Records that ``kind`` (in collection ``col``) took ``name`` in this call generation.

    A name taken in ``setup`` (generation 0) is permanent; a name taken in a
    compact call may be taken again by a later call. Submodules pass no
    ``col``; variables pass their collection.

    Raises:
      NameInUseError: the name is taken in this generation (or in ``setup``)
        by a submodule, or by a variable of the same collection.
    """
    state = parent._state
    generation = state.generation
    holders = state.names.get(name)
    if holders is None:
        state.names[name] = {col: generation}
        return
    for holder, taken_in in holders.items():
        if taken_in in (generation, 0) and (col is None or holder is None or holder == col):
            raise NameInUseError(kind, name, type(parent).__name__)
    holders[col] = generation


def autoname(parent: Any, child: Any) -> str:
    prefix = type(child).__name__
    cursor = parent._state.autoname_cursor
    index = cursor.get(prefix, 0)
    cursor[prefix] = index + 1
    return f"{prefix}_{index}"


def bind_child(parent: Any, child: Any, name: str, adopt: bool = True) -> None:
    """Names ``child``, makes ``parent`` its parent and gives it a scope.

    Then (unless ``adopt`` is False: the caller does it) the unbound modules
    in ``child``'s fields are adopted.
    """
    claim_name(parent, name, SUBMODULE)
    attrs = child.__dict__
    attrs["name"] = name
    attrs["parent"] = parent
    attrs["scope"] = parent.scope.push(name, reuse=True)
    parent._state.children[name] = child
    if adopt:
        adopt_fields(child)


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
    bound elsewhere are shared as they are. Every module of the value is
    named before any of them adopts the modules in its own fields.
    """
    value = freeze_containers(value)
    leaves, treedef = jax.tree_util.tree_flatten_with_path(value, is_leaf=_is_module)
    if not any(_is_module(leaf) for _, leaf in leaves):
        return value
    bound: list[Any] = []
    new_leaves = [
        _attach(parent, leaf, _path_name(attr, path), bound) if _is_module(leaf) else leaf
        for path, leaf in leaves
    ]
    for module in bound:
        adopt_fields(module)
    return treedef.unflatten(new_leaves)


def _attach(parent: Any, module: Any, name: str, bound: list[Any]) -> Any:
    if module.__dict__.get("scope") is not None:
        return module  # bound already (explicitly named, or shared): keep
    return _adopt(parent, module, name, bound)


def _adopt(parent: Any, module: Any, name: str, bound: list[Any]) -> Any:
    """``module`` (unbound) bound to ``parent`` as ``name``: in place, or as a clone of an orphan.

    Appends what it bound to ``bound``: the caller adopts their fields.
    """
    attrs = module.__dict__
    if attrs.get("parent") is not None:
        bind_child(parent, module, attrs.get("name") or name, adopt=False)
        bound.append(module)
        return module
    cache = _adoptions(parent)
    entry = cache.get(id(module))
    if entry is not None:
        return entry[1]
    if _flags["flaxen_preserve_adopted_names"] and attrs.get("name") is not None:
        name = attrs["name"]
    clone = module.clone(parent=None, name=None)
    cache[id(module)] = (module, clone)  # (holding the orphan keeps its id unique)
    clone.__dict__["parent"] = parent
    bind_child(parent, clone, name, adopt=False)
    bound.append(clone)
    return clone


def _adoptions(module: Any) -> dict[int, tuple[Any, Any]]:
    """The orphan -> clone table of the tree ``module`` belongs to (kept by its root)."""
    from ._module import Module

    parent = module.__dict__.get("parent")
    while isinstance(parent, Module):
        module, parent = parent, parent.__dict__.get("parent")
    state = module._state
    if state.adopted is None:
        state.adopted = {}
    return state.adopted


# Field values that cannot hold a Module: skipped without flattening.
_ATOMIC = frozenset(
    {type(None), bool, int, float, complex, str, bytes, type, types.FunctionType,
     types.BuiltinFunctionType, functools.partial, np.dtype}
)  # fmt: skip


def module_leaves(value: Any) -> list[Any]:
    """The Modules in ``value`` (a field value or an argument): itself, or its pytree leaves."""
    if type(value) in _ATOMIC:
        return []
    if _is_module(value):
        return [value]
    leaves = jax.tree_util.tree_leaves(value, is_leaf=_is_module)
    return [leaf for leaf in leaves if _is_module(leaf)]


def adopt_fields(module: Any) -> None:
    """Binds the unbound modules held in ``module``'s dataclass fields (``module`` is bound).

    Field by field: the modules of one field are all named before each adopts
    the modules in its own fields, and that happens before the next field.
    """
    from ._module import Module

    attrs = module.__dict__
    for field in type(module)._field_names:
        value = attrs.get(field)
        if type(value) in _ATOMIC:
            continue
        bound: list[Any] = []
        if isinstance(value, Module):
            if value.__dict__.get("scope") is not None:
                continue
            _replace_field(module, field, value, _adopt(module, value, field, bound))
        else:
            leaves, treedef = jax.tree_util.tree_flatten_with_path(value, is_leaf=_is_module)
            if not any(_is_module(x) and x.__dict__.get("scope") is None for _, x in leaves):
                continue
            new_leaves = [
                _adopt(module, leaf, _path_name(field, path), bound)
                if _is_module(leaf) and leaf.__dict__.get("scope") is None
                else leaf
                for path, leaf in leaves
            ]
            _replace_field(module, field, value, treedef.unflatten(new_leaves))
        for child in bound:
            adopt_fields(child)


def _replace_field(module: Any, field: str, old: Any, new: Any) -> None:
    if new is old:
        return
    state = module._state
    if state.originals is None:
        state.originals = {}
    state.originals.setdefault(field, old)
    object.__setattr__(module, field, new)
