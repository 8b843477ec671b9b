"""Logical axis rules and the mapping of logical axis names to mesh axes.

A model names the dimensions of its arrays with *logical* names (``'batch'``,
``'embed'``, ``'hidden'``); a list of rules maps those to the axes of a device
mesh (``'data'``, ``'model'``), so the same model can be sharded in different
ways by changing the rules alone. Rules are pairs ``(logical_name,
mesh_axes)``, in order of precedence: a dimension takes the first rule that
names it whose mesh axes no other dimension of the array uses yet. A
dimension that no rule assigns is left unsharded (``None``).

The active rules are thread-local, like the other flaxen contexts.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import jax
from jax.sharding import PartitionSpec

from flaxen.errors import DuplicateLogicalAxisError, InvalidLogicalAxisRulesError

#: ``(logical_name, mesh_axes)`` pairs; mesh_axes is a name, a tuple of names or None.
LogicalRules = Sequence[tuple[str, str | tuple[str, ...] | None]]
LogicalNames = tuple[str | None, ...]
#: A logical partition spec: a ``PartitionSpec`` or tuple of logical names.
LogicalPartitionSpec = Any

UNCONSTRAINED = PartitionSpec.UNCONSTRAINED


class _Unassigned:
    """Marks a dimension no rule has assigned yet (internal)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UnassignedAxis"


UNASSIGNED: Any = _Unassigned()


class _RulesState(threading.local):
    rules: LogicalRules | None = ()


_state = _RulesState()


def set_logical_axis_rules(rules: LogicalRules | None) -> None:
    """Sets the logical-to-mesh axis rules of the current thread.

    Args:
      rules: ``(logical_name, mesh_axes)`` pairs; they stay in force until
        changed (prefer the :func:`logical_axis_rules` context manager).

    >>> from flaxen import spmd
    >>> spmd.set_logical_axis_rules((('batch', 'data'),))
    >>> spmd.get_logical_axis_rules()
    (('batch', 'data'),)
    >>> spmd.set_logical_axis_rules(())
    """
    _state.rules = rules


def get_logical_axis_rules() -> LogicalRules | None:
    """The logical-to-mesh axis rules in force in this thread (``()`` by default)."""
    return _state.rules


@contextlib.contextmanager
def logical_axis_rules(rules: LogicalRules | None) -> Iterator[None]:
    """Sets the logical-to-mesh axis rules for the duration of a ``with`` block.

    The previous rules come back when the block exits; blocks nest, and an
    inner block replaces (does not extend) the outer rules.

    >>> from flaxen import spmd
    >>> with spmd.logical_axis_rules((('batch', 'data'), ('hidden', 'model'))):
    ...   spmd.logical_to_mesh_axes(('batch', 'embed', 'hidden'))
    P('data', None, 'model')
    >>> spmd.get_logical_axis_rules()
    ()
    """
    previous = _state.rules
    _state.rules = rules
    try:
        yield
    finally:
        _state.rules = previous


def _mark_used(used: set[Any], entry: Any) -> None:
    if isinstance(entry, tuple | list):
        used.update(entry)
    else:
        used.add(entry)


def assign_mesh_axes(array_dim_names: Any, rules: LogicalRules | None) -> list[Any] | None:
    """The mesh axes of each dimension, :data:`UNASSIGNED` where no rule matched.

    Entries that are not strings (``None``, ``PartitionSpec.UNCONSTRAINED``,
    or mesh axes given directly, e.g. a tuple) are kept as they are, and the
    mesh axes they name count as used.
    """
    if array_dim_names is None:
        return None
    names = tuple(array_dim_names)
    index: dict[str, int] = {}
    duplicates: list[str] = []
    for i, name in enumerate(names):
        if isinstance(name, str):
            if name in index:
                if name not in duplicates:
                    duplicates.append(name)
            else:
                index[name] = i
    if duplicates:
        raise DuplicateLogicalAxisError(tuple(duplicates), names)
    result: list[Any] = [UNASSIGNED if isinstance(n, str) else n for n in names]
    if not index:
        return result
    if rules is None:
        return result
    if isinstance(rules, Mapping | str):
        raise InvalidLogicalAxisRulesError(rules)
    used: set[Any] = set()
    for entry in result:
        if entry is not UNASSIGNED and entry is not None and entry is not UNCONSTRAINED:
            _mark_used(used, entry)
    remaining = len(index)
    for rule in rules:
        if not isinstance(rule, tuple | list) or len(rule) != 2:
            raise InvalidLogicalAxisRulesError(rules, rule)
        logical, mesh_axes = rule
        i = index.get(logical) if isinstance(logical, str) else None
        if i is None or result[i] is not UNASSIGNED:
            continue
        if mesh_axes is None:
            result[i] = None
        else:
            axes = mesh_axes if isinstance(mesh_axes, tuple | list) else (mesh_axes,)
            if not used.isdisjoint(axes):
                continue
            used.update(axes)
            result[i] = mesh_axes
        remaining -= 1
        if not remaining:
            break
    return result


def logical_to_mesh_axes(
    array_dim_names: Sequence[str | None] | None,
    rules: LogicalRules | None = None,
) -> PartitionSpec | None:
    """The mesh ``PartitionSpec`` of an array whose dimensions have logical names.

    Rules are in order of precedence: ``(logical_name, mesh_axes)`` means the
    dimension named ``logical_name`` (if present and not yet assigned) is
    sharded along ``mesh_axes`` (if no other dimension uses them yet).
    Dimensions that no rule assigns, and ``None`` names, are unsharded.

    Args:
      array_dim_names: one logical name (or None) per dimension, or None.
      rules: the rules to use; by default those of :func:`logical_axis_rules`.

    Returns:
      The ``PartitionSpec``, or None when ``array_dim_names`` is None.

    Raises:
      DuplicateLogicalAxisError: a logical name labels two dimensions.
      InvalidLogicalAxisRulesError: ``rules`` is not a sequence of pairs.

    >>> from flaxen import spmd
    >>> rules = (('batch', 'X'), ('features', 'X'), ('heads', 'Y'), ('batch', 'Z'))
    >>> spmd.logical_to_mesh_axes(('batch', 'length', 'heads', 'features'), rules)
    P('X', None, 'Y', None)
    """
    if rules is None:
        rules = _state.rules
    axes = assign_mesh_axes(array_dim_names, rules)
    if axes is None:
        return None
    return PartitionSpec(*(None if a is UNASSIGNED else a for a in axes))


def _is_spec_leaf(x: Any) -> bool:
    return isinstance(x, PartitionSpec)


def logical_to_mesh(tree: Any, rules: LogicalRules | None = None) -> Any:
    """Applies :func:`logical_to_mesh_axes` to every logical ``PartitionSpec`` in ``tree``.

    Typically ``tree`` comes from ``nn.get_partition_spec`` of abstract
    variables (or of a whole train state); leaves other than
    ``PartitionSpec`` are read as sequences of logical names.

    >>> from jax.sharding import PartitionSpec as P
    >>> from flaxen import spmd
    >>> spmd.logical_to_mesh({'w': P('embed', 'hidden'), 'step': P()}, [('hidden', 'model')])
    {'step': P(), 'w': P(None, 'model')}
    """
    if rules is None:
        rules = _state.rules
    return jax.tree_util.tree_map(
        lambda x: logical_to_mesh_axes(x, rules), tree, is_leaf=_is_spec_leaf
    )
