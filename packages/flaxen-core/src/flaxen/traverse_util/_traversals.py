"""Traversals: composable selections inside immutable data structures.

A traversal selects some of the values inside an object. ``iterate`` yields
them; ``update`` returns a copy of the object with a function applied to
them; ``set`` replaces them by given values. The input is never mutated:
containers on the way to an updated value are copied (shallowly), the rest is
shared.
"""

from __future__ import annotations

import abc
import copy
import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import jax


def _is_namedtuple(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def _rebuild_tuple(like: tuple, values: list) -> tuple:
    if _is_namedtuple(like):
        return type(like)(*values)
    return type(like)(values)


def _replace_item(inputs: Any, key: Any, value: Any) -> Any:
    """A shallow copy of ``inputs`` with ``inputs[key]`` replaced by ``value``."""
    if isinstance(inputs, tuple):
        values = list(inputs)
        values[key] = value
        return _rebuild_tuple(inputs, values)
    if isinstance(inputs, (dict, list)):
        new = copy.copy(inputs)
        new[key] = value
        return new
    if isinstance(inputs, Mapping):
        # Immutable mappings (FrozenDict) are rebuilt rather than assigned to.
        return type(inputs)({**inputs, key: value})
    new = copy.copy(inputs)
    new[key] = value
    return new


class Traversal(abc.ABC):
    """Base class of every traversal.

    Traversals combine by method chaining; attribute access and indexing on a
    traversal add an attribute or item step:

    >>> from flaxen.traverse_util import t_identity
    >>> data = [{'foo': 1, 'bar': 2}, {'foo': 3, 'bar': 4}]
    >>> list(t_identity.each()['foo'].iterate(data))
    [1, 3]
    >>> t_identity.each()['foo'].update(lambda x: -x, data)
    [{'foo': -1, 'bar': 2}, {'foo': -3, 'bar': 4}]
    >>> t_identity.each()['bar'].set([20, 40], data)
    [{'foo': 1, 'bar': 20}, {'foo': 3, 'bar': 40}]
    """

    @abc.abstractmethod
    def update(self, fn: Callable[[Any], Any], inputs: Any) -> Any:
        """Updates the selected values.

        Args:
          fn: maps each selected value to its new value.
          inputs: the object to traverse; it is not modified.

        Returns:
          A new object with the updated values.
        """

    @abc.abstractmethod
    def iterate(self, inputs: Any) -> Iterator[Any]:
        """Iterates over the selected values.

        Args:
          inputs: the object to traverse.

        Returns:
          An iterator over the selected values.
        """

    def set(self, values: Iterable[Any], inputs: Any) -> Any:
        """Replaces the selected values, in iteration order, by ``values``.

        Args:
          values: the new values, exactly one per selected value.
          inputs: the object to traverse; it is not modified.

        Returns:
          A new object with the values replaced.

        Raises:
          ValueError: there are more or fewer values than selected items.
        """
        supply = iter(values)

        def next_value(_: Any) -> Any:
            try:
                return next(supply)
            except StopIteration:
                raise ValueError(
                    "Not enough values provided: the traversal selects more items than"
                    " there are values."
                ) from None

        result = self.update(next_value, inputs)
        if next(supply, _EXHAUSTED) is not _EXHAUSTED:
            raise ValueError(
                "Too many values provided: the traversal selects fewer items than there are values."
            )
        return result

    def compose(self, other: Traversal) -> Traversal:
        """The traversal selecting ``other``'s selection inside this one's."""
        return TraverseCompose(self, other)

    def merge(self, *traversals: Traversal) -> Traversal:
        """Applies each of ``traversals`` to this selection and merges the results."""
        return self.compose(TraverseMerge(*traversals))

    def each(self) -> Traversal:
        """Selects every item of the selected containers."""
        return self.compose(TraverseEach())

    def filter(self, fn: Callable[[Any], bool]) -> Traversal:
        """Keeps the selected values for which ``fn`` is true."""
        return self.compose(TraverseFilter(fn))

    def tree(self) -> Traversal:
        """Selects every leaf of the selected pytrees."""
        return self.compose(TraverseTree())

    def __getattr__(self, attr: str) -> Traversal:
        # Private and special names are never traversal steps: protocols such
        # as copy, pickle or __array__ probe for them with getattr.
        if attr.startswith("_"):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {attr!r}")
        return self.compose(TraverseAttr(attr))

    def __getitem__(self, key: Any) -> Traversal:
        return self.compose(TraverseItem(key))


_EXHAUSTED = object()


class TraverseId(Traversal):
    """The identity traversal: selects its input.

    >>> list(TraverseId().iterate(5)), TraverseId().update(lambda x: x + 1, 5)
    ([5], 6)
    """

    def update(self, fn: Callable[[Any], Any], inputs: Any) -> Any:
        return fn(inputs)

    def iterate(self, inputs: Any) -> Iterator[Any]:
        yield inputs

    def __repr__(self) -> str:
        return "TraverseId()"


t_identity = TraverseId()
"""The identity traversal, the usual start of a chain: ``t_identity['a'].each()``."""


class TraverseMerge(Traversal):
    """Merges the selections of several traversals.

    ``iterate`` yields the selection of each traversal in turn; ``update``
    applies them one after the other, so a value selected twice is updated
    twice.

    >>> merged = TraverseMerge(TraverseItem('a'), TraverseItem('b'))
    >>> list(merged.iterate({'a': 1, 'b': 2, 'c': 3}))
    [1, 2]
    """

    def __init__(self, *traversals: Traversal):
        self._traversals = traversals

    def update(self, fn: Callable[[Any], Any], inputs: Any) -> Any:
        for traversal in self._traversals:
            inputs = traversal.update(fn, inputs)
        return inputs

    def iterate(self, inputs: Any) -> Iterator[Any]:
        for traversal in self._traversals:
            yield from traversal.iterate(inputs)

    def __repr__(self) -> str:
        return f"TraverseMerge({', '.join(map(repr, self._traversals))})"


class TraverseCompose(Traversal):
    """Selects ``y``'s selection inside each value selected by ``x``."""

    def __init__(self, x: Traversal, y: Traversal):
        self._x = x
        self._y = y

    def update(self, fn: Callable[[Any], Any], inputs: Any) -> Any:
        y = self._y
        return self._x.update(lambda value: y.update(fn, value), inputs)

    def iterate(self, inputs: Any) -> Iterator[Any]:
        for value in self._x.iterate(inputs):
            yield from self._y.iterate(value)

    def __repr__(self) -> str:
        return f"TraverseCompose({self._x!r}, {self._y!r})"


class TraverseFilter(Traversal):
    """Keeps its input if ``fn(input)`` is true, selects nothing otherwise.

    >>> t_identity.each().filter(lambda x: x % 2 == 0).update(lambda x: -x, [1, 2, 3, 4])
    [1, -2, 3, -4]
    """

    def __init__(self, fn: Callable[[Any], bool]):
        self._fn = fn

    def update(self, fn: Callable[[Any], Any], inputs: Any) -> Any:
        return fn(inputs) if self._fn(inputs) else inputs

    def iterate(self, inputs: Any) -> Iterator[Any]:
        if self._fn(inputs):
            yield inputs

    def __repr__(self) -> str:
        return f"TraverseFilter({self._fn!r})"


class TraverseAttr(Traversal):
    """Selects an attribute of its input.

    Updating returns a copy: ``_replace`` for named tuples,
    :func:`dataclasses.replace` for dataclasses (frozen ones included), and a
    shallow copy with the attribute set for other objects.

    >>> import dataclasses
    >>> @dataclasses.dataclass(frozen=True)
    ... class Foo:
    ...   bar: int
    >>> TraverseAttr('bar').update(lambda x: x + x, Foo(bar=2))
    Foo(bar=4)
    """

    def __init__(self, attr: str):
        self._attr = attr

    def update(self, fn: Callable[[Any], Any], inputs: Any) -> Any:
        value = fn(getattr(inputs, self._attr))
        if _is_namedtuple(inputs):
            return inputs._replace(**{self._attr: value})
        if dataclasses.is_dataclass(inputs) and not isinstance(inputs, type):
            return dataclasses.replace(inputs, **{self._attr: value})
        new = copy.copy(inputs)
        setattr(new, self._attr, value)
        return new

    def iterate(self, inputs: Any) -> Iterator[Any]:
        yield getattr(inputs, self._attr)

    def __repr__(self) -> str:
        return f"TraverseAttr({self._attr!r})"


class TraverseItem(Traversal):
    """Selects ``input[key]``; a slice key selects each item of the slice.

    Updating returns a shallow copy of the container of the same type (named
    tuples and ``FrozenDict`` included).

    >>> TraverseItem('a').update(lambda x: x + 1, {'a': 1, 'b': 2})
    {'a': 2, 'b': 2}
    >>> TraverseItem(slice(0, 2)).update(lambda x: x * 10, (1, 2, 3))
    (10, 20, 3)
    """

    def __init__(self, key: Any):
        self._key = key

    def update(self, fn: Callable[[Any], Any], inputs: Any) -> Any:
        key = self._key
        if isinstance(key, slice):
            return _replace_item(inputs, key, [fn(value) for value in inputs[key]])
        return _replace_item(inputs, key, fn(inputs[key]))

    def iterate(self, inputs: Any) -> Iterator[Any]:
        if isinstance(self._key, slice):
            yield from inputs[self._key]
        else:
            yield inputs[self._key]

    def __repr__(self) -> str:
        return f"TraverseItem({self._key!r})"


class TraverseEach(Traversal):
    """Selects each item of a container: the values of a mapping, the entries
    of a list or tuple.

    >>> TraverseEach().update(lambda x: x + 1, {'b': 1, 'a': 2})
    {'b': 2, 'a': 3}
    """

    def update(self, fn: Callable[[Any], Any], inputs: Any) -> Any:
        if type(inputs) is dict:
            return {key: fn(value) for key, value in inputs.items()}
        if type(inputs) is list:
            return [fn(value) for value in inputs]
        if isinstance(inputs, tuple):
            return _rebuild_tuple(inputs, [fn(value) for value in inputs])
        if isinstance(inputs, dict):
            new = copy.copy(inputs)  # keeps the subclass and its settings
            for key, value in inputs.items():
                new[key] = fn(value)
            return new
        if isinstance(inputs, list):
            new = copy.copy(inputs)
            new[:] = [fn(value) for value in inputs]
            return new
        if isinstance(inputs, Mapping):
            return type(inputs)({key: fn(value) for key, value in inputs.items()})
        raise ValueError(
            "Only the entries of a list, tuple or mapping can be traversed by each();"
            f" got {type(inputs)}."
        )

    def iterate(self, inputs: Any) -> Iterator[Any]:
        if isinstance(inputs, Mapping):
            yield from inputs.values()
        else:
            yield from inputs

    def __repr__(self) -> str:
        return "TraverseEach()"


class TraverseTree(Traversal):
    """Selects every leaf of a pytree, in JAX's leaf order.

    >>> list(TraverseTree().iterate({'b': [1, 2], 'a': 3}))
    [3, 1, 2]
    """

    def update(self, fn: Callable[[Any], Any], inputs: Any) -> Any:
        return jax.tree_util.tree_map(fn, inputs)

    def iterate(self, inputs: Any) -> Iterator[Any]:
        yield from jax.tree_util.tree_leaves(inputs)

    def __repr__(self) -> str:
        return "TraverseTree()"
