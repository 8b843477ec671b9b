"""Flattening nested dicts to path-keyed dicts and back."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Any

import jax

Path = tuple[Hashable, ...]
_MISSING = object()


class _EmptyNode:
    """The marker :func:`flatten_dict` puts where an empty dict was.

    There is a single instance, :data:`empty_node`; it is a pytree with no
    leaves, so JAX transforms carry it through untouched.
    """

    __slots__ = ()
    _instance: _EmptyNode | None = None

    def __new__(cls) -> _EmptyNode:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "_EmptyNode()"

    def __reduce__(self) -> Any:
        return (_EmptyNode, ())

    def replace(self, **updates: Any) -> _EmptyNode:
        """Returns the node itself: it has no fields to replace."""
        if updates:
            raise TypeError(f"_EmptyNode has no fields; got {sorted(updates)}.")
        return self


empty_node = _EmptyNode()
"""Stands for an empty dict in the output of ``flatten_dict(..., keep_empty_nodes=True)``."""

jax.tree_util.register_pytree_node(_EmptyNode, lambda node: ((), None), lambda _, __: empty_node)


def flatten_dict(
    xs: Mapping[Any, Any],
    keep_empty_nodes: bool = False,
    is_leaf: Callable[[Path, Any], bool] | None = None,
    sep: str | None = None,
) -> dict[Any, Any]:
    """Flattens a nested dict into a dict keyed by paths.

    Every mapping (``dict``, ``FrozenDict``, any :class:`~collections.abc.Mapping`)
    is a node; everything else is a leaf. Leaves keep the order in which a
    depth-first walk meets them. Empty dicts below the root are dropped,
    unless ``keep_empty_nodes`` is set, so :func:`unflatten_dict` can only
    restore them in that case.

    >>> xs = {'foo': 1, 'bar': {'a': 2, 'b': {}}}
    >>> flatten_dict(xs)
    {('foo',): 1, ('bar', 'a'): 2}
    >>> flatten_dict(xs, keep_empty_nodes=True)
    {('foo',): 1, ('bar', 'a'): 2, ('bar', 'b'): _EmptyNode()}
    >>> flatten_dict(xs, sep='/')
    {'foo': 1, 'bar/a': 2}
    >>> flatten_dict(xs, is_leaf=lambda path, node: path == ('bar',))
    {('foo',): 1, ('bar',): {'a': 2, 'b': {}}}

    Args:
      xs: the nested dict (a ``FrozenDict`` works too).
      keep_empty_nodes: replace empty dicts by :data:`empty_node` instead of
        dropping them.
      is_leaf: called as ``is_leaf(path, node)`` on every mapping, the root
        first (with path ``()``), before it is descended into; returning True
        keeps the whole mapping as one leaf.
      sep: if given, keys are the path parts (which must then be strings)
        joined by ``sep`` instead of tuples.

    Returns:
      A new plain dict from paths to leaves.

    Raises:
      TypeError: ``xs`` is not a mapping.
    """
    if not isinstance(xs, Mapping):
        raise TypeError(
            f"flatten_dict expected a (frozen)dict; got {type(xs)}. Only nested"
            " mappings can be flattened."
        )
    flat: dict[Any, Any] = {}

    def visit(node: Mapping[Any, Any], prefix: Path) -> None:
        if is_leaf is not None and is_leaf(prefix, node):
            flat[prefix if sep is None else sep.join(prefix)] = node
            return
        if not node and prefix:
            if keep_empty_nodes:
                flat[prefix if sep is None else sep.join(prefix)] = empty_node
            return
        for key, value in node.items():
            path = (*prefix, key)
            # The exact-type check first: plain dicts are by far the most common.
            if type(value) is dict or isinstance(value, Mapping):
                visit(value, path)
            else:
                flat[path if sep is None else sep.join(path)] = value

    visit(xs, ())
    return flat


def unflatten_dict(xs: Mapping[Any, Any], sep: str | None = None) -> dict[Any, Any]:
    """Rebuilds the nested dict from a dict keyed by paths.

    The inverse of :func:`flatten_dict`: :data:`empty_node` values become
    empty dicts. Nested dicts are created in the order their first path
    appears. A path that ends where another one passes through replaces the
    subtree built so far.

    >>> unflatten_dict({('foo',): 1, ('bar', 'a'): 2})
    {'foo': 1, 'bar': {'a': 2}}
    >>> unflatten_dict({'foo': 1, 'bar/a': 2, 'baz': empty_node}, sep='/')
    {'foo': 1, 'bar': {'a': 2}, 'baz': {}}

    Args:
      xs: a dict from paths (tuples, or ``sep``-joined strings) to leaves.
      sep: the separator used with :func:`flatten_dict`, if any.

    Returns:
      A new nested plain dict. Leaf values are not copied; dicts given as
      leaf values are never modified.

    Raises:
      TypeError: ``xs`` is not a mapping, a path passes through a leaf, or a
        key is not a string although ``sep`` is given.
      ValueError: a path is empty.
    """
    if not isinstance(xs, Mapping):
        raise TypeError(f"unflatten_dict expected a dict; got {type(xs)}.")
    result: dict[Any, Any] = {}
    # Dicts given as leaf values are extended through copies, never in place.
    leaf_dicts: set[int] = set()
    for key, value in xs.items():
        if sep is None:
            path = key
        elif isinstance(key, str):
            path = key.split(sep)
        else:
            raise TypeError(
                f"unflatten_dict(sep={sep!r}) needs string keys; got {key!r}. Pass"
                " sep=None for tuple keys."
            )
        if not path:
            raise ValueError(
                f"Cannot unflatten the empty path {key!r}: every key needs at least one part."
            )
        node = result
        for part in path[:-1]:
            child = node.get(part, _MISSING)
            if child is _MISSING:
                child = node[part] = {}
            elif type(child) is not dict or (leaf_dicts and id(child) in leaf_dicts):
                child = node[part] = _extendable(child, path, part)
            node = child
        if value is empty_node:
            node[path[-1]] = {}
        else:
            node[path[-1]] = value
            if isinstance(value, dict):
                leaf_dicts.add(id(value))
    return result


def _extendable(leaf: Any, path: Any, part: Any) -> dict[Any, Any]:
    if isinstance(leaf, dict):
        return dict(leaf)
    where = tuple(path)[: list(path).index(part) + 1]
    raise TypeError(
        f"Cannot unflatten path {tuple(path)!r}: {where!r} holds the leaf {leaf!r},"
        " which is not a dict."
    )


def path_aware_map(f: Callable[[Path, Any], Any], nested_dict: Mapping[Any, Any]) -> dict[Any, Any]:
    """Maps ``f(path, leaf)`` over a nested dict.

    ``path`` is the tuple of keys leading to the leaf. Empty dicts are kept
    (``f`` is not called on them). The result is a plain nested dict.

    >>> params = {'a': {'x': 10, 'y': 3}, 'b': {'x': 20}}
    >>> path_aware_map(lambda path, x: x + 5 if 'x' in path else -x, params)
    {'a': {'x': 15, 'y': -3}, 'b': {'x': 25}}

    Args:
      f: called with ``(path, value)`` for every leaf; returns the new leaf.
      nested_dict: the nested dict (or ``FrozenDict``).

    Returns:
      A new nested dict with the mapped leaves.
    """
    flat = flatten_dict(nested_dict, keep_empty_nodes=True)
    return unflatten_dict(
        {path: value if value is empty_node else f(path, value) for path, value in flat.items()}
    )
