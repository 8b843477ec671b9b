"""Frozen dataclasses that are JAX pytrees and serializable state."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, TypeVar, dataclass_transform, overload

import jax

from flaxen.errors import StateDictMismatchError
from flaxen.serialization._state_dict import (
    current_path,
    from_state_dict,
    register_serialization_state,
    to_state_dict,
)

_T = TypeVar("_T")

# Marks a class this module has processed. Flax's name, so code that checks
# for it (``'_flax_dataclass' in cls.__dict__``) recognizes flaxen structs.
_MARKER = "_flax_dataclass"


def field(
    pytree_node: bool = True, *, metadata: dict[str, Any] | None = None, **kwargs: Any
) -> Any:
    """A :func:`dataclasses.field` that says whether it is a pytree node.

    Args:
        pytree_node: ``False`` makes the field a *meta* field: it is part of
            the pytree structure (static under ``jax.jit``, never traced,
            never differentiated) instead of a child, and it is left out of
            the state dict.
        metadata: more field metadata; ``pytree_node`` is added to it.
        **kwargs: the other arguments of :func:`dataclasses.field`
            (``default``, ``default_factory``, ``kw_only``, ...).

    Returns:
        The field specification.

    Example:

        >>> from flaxen import struct
        >>> struct.field(pytree_node=False, default=0).metadata['pytree_node']
        False
    """
    return dataclasses.field(metadata={**(metadata or {}), "pytree_node": pytree_node}, **kwargs)


def _replace(self: Any, **updates: Any) -> Any:
    """Returns a new object replacing the specified fields with new values."""
    return dataclasses.replace(self, **updates)


@overload
def dataclass(clz: _T, **kwargs: Any) -> _T: ...


@overload
def dataclass(clz: None = None, **kwargs: Any) -> Callable[[_T], _T]: ...


@dataclass_transform(field_specifiers=(field,), frozen_default=True)
def dataclass(clz: _T | None = None, **kwargs: Any) -> _T | Callable[[_T], _T]:
    """Create a class which can be passed to functional transformations.

    The class becomes a frozen :mod:`dataclasses` dataclass registered as a
    JAX pytree: fields are children (with :class:`jax.tree_util.GetAttrKey`
    key paths) unless declared with ``field(pytree_node=False)``, which makes
    them static metadata. Instances are immutable; :meth:`replace` returns an
    updated copy. The class is also registered with
    :mod:`flaxen.serialization`: its state dict maps the names of its pytree
    fields to their state.

    Use it as ``@dataclass`` or with :func:`dataclasses.dataclass` options,
    ``@dataclass(kw_only=True)``; ``frozen`` defaults to ``True``. A class
    that already went through this decorator is returned unchanged (its
    subclasses are not: decorate them too, or derive from
    :class:`PyTreeNode`).

    Derived values belong in a ``classmethod`` "smart constructor": the
    generated ``__init__`` is what ``jax.tree_util`` calls to rebuild
    instances, so its arguments must match the fields one to one.

    Args:
        clz: the class that will be transformed by the decorator.
        **kwargs: options for :func:`dataclasses.dataclass`.

    Returns:
        The new class.

    Example:

        >>> import jax
        >>> import jax.numpy as jnp
        >>> from flaxen import struct
        >>> @struct.dataclass
        ... class Model:
        ...     params: jax.Array
        ...     apply_fn: object = struct.field(pytree_node=False, default=None)
        >>> model = Model(jnp.ones(2), apply_fn=jnp.sum)
        >>> jax.tree_util.tree_leaves(model)
        [Array([1., 1.], dtype=float32)]
        >>> model.replace(params=jnp.zeros(2)).params
        Array([0., 0.], dtype=float32)
        >>> jax.grad(lambda m: m.apply_fn(m.params ** 2))(model).params
        Array([2., 2.], dtype=float32)
    """
    if clz is None:
        return functools.partial(dataclass, **kwargs)  # type: ignore[return-value]
    if _MARKER in clz.__dict__:  # type: ignore[attr-defined]
        return clz
    kwargs.setdefault("frozen", True)
    data_clz: Any = dataclasses.dataclass(**kwargs)(clz)  # type: ignore[call-overload]
    data_fields: list[str] = []
    meta_fields: list[str] = []
    for field_info in dataclasses.fields(data_clz):
        if field_info.metadata.get("pytree_node", True):
            data_fields.append(field_info.name)
        else:
            meta_fields.append(field_info.name)

    data_clz.replace = _replace
    jax.tree_util.register_dataclass(data_clz, data_fields, meta_fields)
    _register_state_dict(data_clz, tuple(data_fields))
    setattr(data_clz, _MARKER, True)
    return data_clz


def _register_state_dict(data_clz: type, data_fields: tuple[str, ...]) -> None:
    def to_state(x: Any) -> dict[str, Any]:
        return {name: to_state_dict(getattr(x, name)) for name in data_fields}

    def from_state(x: Any, state: Any) -> Any:
        if not hasattr(state, "keys"):
            raise StateDictMismatchError(
                f"Expected a state dict (a mapping with string keys) to restore an instance"
                f" of {data_clz.__name__}, got {type(state).__name__} at path {current_path()}"
            )
        state = dict(state)
        updates = {}
        for name in data_fields:
            if name not in state:
                raise StateDictMismatchError(
                    f"Missing field {name} in state dict while restoring an instance of"
                    f" {data_clz.__name__}, at path {current_path()}"
                )
            updates[name] = from_state_dict(getattr(x, name), state.pop(name), name=name)
        if state:
            names = ",".join(map(str, state.keys()))
            raise StateDictMismatchError(
                f'Unknown field(s) "{names}" in state dict while restoring an instance of'
                f" {data_clz.__name__} at path {current_path()}"
            )
        return x.replace(**updates)

    # Every struct class registers exactly once (the marker guards re-entry),
    # but a class redefined under the same name (notebooks) replaces its
    # predecessor: both are distinct types, so no override is needed.
    register_serialization_state(data_clz, to_state, from_state)


TNode = TypeVar("TNode", bound="PyTreeNode")


@dataclass_transform(field_specifiers=(field,), frozen_default=True)
class PyTreeNode:
    """Base class for dataclasses that should act like a JAX pytree node.

    Every subclass goes through :func:`dataclass`; :func:`dataclasses.dataclass`
    options are class keywords, e.g. ``class Config(PyTreeNode, kw_only=True)``.
    See :func:`dataclass` for the pytree and serialization behavior. Unlike
    the decorator, the base class keeps type checkers informed.

    Example:

        >>> import jax
        >>> from flaxen import struct
        >>> class Counter(struct.PyTreeNode):
        ...     count: int
        ...     step: int = struct.field(pytree_node=False, default=1)
        ...     def increment(self):
        ...         return self.replace(count=self.count + self.step)
        >>> Counter(0).increment()
        Counter(count=1, step=1)
        >>> jax.tree_util.tree_leaves(Counter(5, step=2))
        [5]
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        dataclass(cls, **kwargs)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Every subclass gets its own dataclass __init__; only the base lands here.
        raise NotImplementedError

    def replace(self: TNode, **overrides: Any) -> TNode:
        """Returns a new object replacing the specified fields with new values."""
        raise NotImplementedError
