"""FrozenDict: an immutable nested dict that is a JAX pytree.

Storage contract (the rest of ``flaxen.core`` relies on it): a FrozenDict
keeps its entries in ``_dict``, a plain ``dict`` whose nested mapping values
are plain dicts too, never FrozenDicts. Nobody mutates ``_dict`` or its nested
dicts, so FrozenDicts may share them: ``fd['a']`` wraps the nested dict
without copying, and :meth:`FrozenDict._from_owned` wraps a dict the caller
built and gives up.
"""

from __future__ import annotations

from collections.abc import (
    Hashable,
    ItemsView,
    Iterator,
    KeysView,
    Mapping,
    ValuesView,
)
from types import MappingProxyType
from typing import Any, TypeVar

import jax

from flaxen.serialization._state_dict import (
    _check_dict_keys,
    from_state_dict,
    register_serialization_state,
    to_state_dict,
)

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_EMPTY: Mapping[Any, Any] = MappingProxyType({})


class FrozenKeysView(KeysView[K]):
    """The keys of a :class:`FrozenDict`."""

    __module__ = "flaxen.core.frozen_dict"

    def __repr__(self) -> str:
        return f"frozen_dict_keys({list(self)})"


class FrozenValuesView(ValuesView[V]):
    """The values of a :class:`FrozenDict` (nested dicts as FrozenDicts)."""

    __module__ = "flaxen.core.frozen_dict"

    def __repr__(self) -> str:
        return f"frozen_dict_values({list(self)})"


def _prepare_freeze(xs: Any) -> Any:
    """A copy of the dict structure of ``xs`` as plain dicts; leaves as they are."""
    if isinstance(xs, FrozenDict):
        # Already normalized and never mutated: share it.
        return xs._dict
    if not isinstance(xs, dict):
        return xs
    return {key: _prepare_freeze(value) for key, value in xs.items()}


class FrozenDict(Mapping[K, V]):
    """An immutable variant of the Python dict.

    Nested dicts are frozen too: indexing returns a FrozenDict for a dict
    value. FrozenDicts are hashable (when their leaves are), compare equal to
    dicts with the same contents, and are JAX pytrees whose leaves come in
    sorted key order.

    Args:
        *args: what ``dict(*args, **kwargs)`` accepts.
        __unsafe_skip_copy__: skip copying the nested dicts. Only safe when
            the caller never mutates them afterwards.
        **kwargs: more entries.

    Example:

        >>> from flaxen.core.frozen_dict import FrozenDict
        >>> variables = FrozenDict({'params': {'kernel': 1.0}, 'stats': {'mean': 0.0}})
        >>> variables['params']
        FrozenDict({
            kernel: 1.0,
        })
        >>> rest, params = variables.pop('params')
        >>> list(rest)
        ['stats']
        >>> variables == {'params': {'kernel': 1.0}, 'stats': {'mean': 0.0}}
        True
    """

    # Pickles and reprs name the public module.
    __module__ = "flaxen.core.frozen_dict"
    __slots__ = ("_dict", "_hash")

    _dict: dict[K, V]
    _hash: int | None

    def __init__(self, *args: Any, __unsafe_skip_copy__: bool = False, **kwargs: Any) -> None:
        if __unsafe_skip_copy__:
            self._dict = dict(*args, **kwargs)
        else:
            self._dict = _prepare_freeze(dict(*args, **kwargs))
        self._hash = None

    @classmethod
    def _from_owned(cls, xs: dict[Any, Any]) -> FrozenDict[Any, Any]:
        """Internal: wraps ``xs`` without copying or checking it.

        The caller hands ``xs`` over: it must be a plain dict whose nested
        mapping values are plain dicts (no FrozenDicts), and neither it nor
        any nested dict may be mutated afterwards. Used on flaxen's hot paths
        (variable collections, pytree unflattening) where the dicts were just
        built.
        """
        self = object.__new__(cls)
        self._dict = xs
        self._hash = None
        return self

    def __getitem__(self, key: K) -> V:
        value = self._dict[key]
        if isinstance(value, dict):
            return FrozenDict._from_owned(value)  # type: ignore[return-value]
        return value

    def __setitem__(self, key: K, value: V) -> None:
        raise ValueError("FrozenDict is immutable.")

    def __contains__(self, key: object) -> bool:
        return key in self._dict

    def __iter__(self) -> Iterator[K]:
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._dict)

    def __repr__(self) -> str:
        return self.pretty_repr()

    def __reduce__(self) -> tuple[Any, ...]:
        return FrozenDict, (self.unfreeze(),)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenDict):
            return self._dict == other._dict
        if isinstance(other, dict):
            return self._dict == other
        if isinstance(other, Mapping):
            return self._dict == dict(other)
        return NotImplemented

    def __hash__(self) -> int:
        if self._hash is None:
            # Order-independent, like equality.
            h = 0
            for key, value in self.items():
                h ^= hash((key, value))
            self._hash = h
        return self._hash

    def keys(self) -> FrozenKeysView[K]:
        return FrozenKeysView(self)

    def values(self) -> FrozenValuesView[V]:
        return FrozenValuesView(self)

    def items(self) -> ItemsView[K, V]:
        return ItemsView(self)

    def copy(self, add_or_replace: Mapping[K, V] = _EMPTY) -> FrozenDict[K, V]:
        """Create a new FrozenDict with additional or replaced entries.

        Args:
            add_or_replace: the entries to add or replace.

        Returns:
            A new FrozenDict; this one is unchanged.

        Example:

            >>> from flaxen.core.frozen_dict import FrozenDict
            >>> FrozenDict(a=1).copy({'b': 2})
            FrozenDict({
                a: 1,
                b: 2,
            })
        """
        new = dict(self._dict)
        for key, value in add_or_replace.items():
            new[key] = _prepare_freeze(value)
        return type(self)._from_owned(new)

    def pop(self, key: K) -> tuple[FrozenDict[K, V], V]:
        """Create a new FrozenDict where one entry is removed.

        Args:
            key: the key to remove from the dict.

        Returns:
            A pair with the new FrozenDict and the removed value.

        Raises:
            KeyError: ``key`` is not in the dict.

        Example:

            >>> from flaxen.core.frozen_dict import FrozenDict
            >>> variables = FrozenDict({'params': {'w': 1}, 'stats': {'n': 2}})
            >>> state, params = variables.pop('params')
            >>> params
            FrozenDict({
                w: 1,
            })
            >>> list(state)
            ['stats']
        """
        value = self[key]
        new = dict(self._dict)
        del new[key]
        return type(self)._from_owned(new), value

    def pretty_repr(self, num_spaces: int = 4) -> str:
        """Returns an indented representation of the nested dictionary.

        Args:
            num_spaces: the number of spaces per indentation level.

        Returns:
            ``FrozenDict({...})`` with one entry per line.
        """
        return f"FrozenDict({_pretty_dict(self._dict, num_spaces)})"

    def unfreeze(self) -> dict[K, V]:
        """Unfreeze this FrozenDict.

        Returns:
            An unfrozen version of this FrozenDict instance: fresh nested
            dicts (keys sorted, as JAX orders them), the same leaves.
        """
        return unfreeze(self)

    def tree_flatten_with_keys(
        self,
    ) -> tuple[tuple[tuple[jax.tree_util.DictKey, Any], ...], tuple[K, ...]]:
        """Flattens this dict one level, with :class:`jax.tree_util.DictKey` keys.

        Returns:
            ``((DictKey(key), value), ...)`` in sorted key order (nested dicts
            as plain dicts), and the sorted keys as auxiliary data.
        """
        keys = tuple(sorted(self._dict))
        raw = self._dict
        return tuple((jax.tree_util.DictKey(key), raw[key]) for key in keys), keys

    @classmethod
    def tree_unflatten(cls, keys: tuple[K, ...], values: Any) -> FrozenDict[K, V]:
        """Builds a FrozenDict from the output of :meth:`tree_flatten_with_keys`."""
        new = {}
        for key, value in zip(keys, values):
            # Transformed children may come back as FrozenDicts (e.g. tree_map
            # with is_leaf); keep the storage contract.
            new[key] = value._dict if isinstance(value, FrozenDict) else value
        return cls._from_owned(new)


def _flatten(xs: FrozenDict[Any, Any]) -> tuple[list[Any], tuple[Any, ...]]:
    keys = tuple(sorted(xs._dict))
    raw = xs._dict
    return [raw[key] for key in keys], keys


jax.tree_util.register_pytree_with_keys(
    FrozenDict,
    lambda xs: xs.tree_flatten_with_keys(),
    FrozenDict.tree_unflatten,
    _flatten,
)


def _sorted_keys(xs: dict[Any, Any]) -> list[Any]:
    try:
        return sorted(xs)
    except TypeError:
        # JAX cannot order such keys either; keep insertion order.
        return list(xs)


def _copy_structure(xs: dict[Any, Any]) -> dict[Any, Any]:
    """Fresh plain dicts for the whole dict structure (sorted keys); same leaves."""
    new = {}
    for key in _sorted_keys(xs):
        value = xs[key]
        if isinstance(value, FrozenDict):
            value = value._dict
        if isinstance(value, dict):
            value = _copy_structure(value)
        new[key] = value
    return new


def freeze(xs: Mapping[Any, Any]) -> FrozenDict[Any, Any]:
    """Freeze a nested dict.

    Makes a nested dict immutable by transforming it into a FrozenDict. The
    dict structure is copied, the leaves are not.

    Args:
        xs: dictionary to freeze (a regular Python dict or a FrozenDict).

    Returns:
        The frozen dictionary.

    Example:

        >>> from flaxen.core.frozen_dict import freeze
        >>> freeze({'a': {'b': 1}})['a']
        FrozenDict({
            b: 1,
        })
    """
    return FrozenDict(xs)


def unfreeze(x: FrozenDict[Any, Any] | dict[str, Any]) -> dict[Any, Any]:
    """Unfreeze a FrozenDict.

    Makes a mutable copy of a FrozenDict by transforming it into (nested)
    dicts. The dicts are always new, so mutating the result never changes
    the FrozenDict; the leaves are shared. Nested dicts of a FrozenDict come
    back with sorted keys (the order JAX flattens them in); a plain dict keeps
    its order and has the FrozenDicts inside it unfrozen. Anything else is
    returned as is.

    Args:
        x: frozen dictionary to unfreeze.

    Returns:
        The unfrozen dictionary (a regular Python dict).

    Example:

        >>> from flaxen.core.frozen_dict import FrozenDict, unfreeze
        >>> unfreeze(FrozenDict({'b': {'y': 1}, 'a': 2}))
        {'a': 2, 'b': {'y': 1}}
    """
    if isinstance(x, FrozenDict):
        return _copy_structure(x._dict)
    if isinstance(x, dict):
        return {key: unfreeze(value) for key, value in x.items()}
    return x


def copy(
    x: FrozenDict[Any, Any] | dict[str, Any],
    add_or_replace: FrozenDict[str, Any] | dict[str, Any] = _EMPTY,  # type: ignore[assignment]
) -> FrozenDict[Any, Any] | dict[str, Any]:
    """Create a new dict with additional and/or replaced entries.

    Acts on either a FrozenDict or a regular dict and mimics the behavior of
    :meth:`FrozenDict.copy`; a dict gets a fresh copy of its dict structure.

    Args:
        x: the dictionary to be copied and updated.
        add_or_replace: dictionary of key-value pairs to add or replace in
            the dict x.

    Returns:
        A new dict (of the type of ``x``) with the additional and/or replaced
        entries.

    Raises:
        TypeError: ``x`` is neither a FrozenDict nor a dict.

    Example:

        >>> from flaxen.core.frozen_dict import copy
        >>> copy({'a': 1}, {'b': 2})
        {'a': 1, 'b': 2}
    """
    if isinstance(x, FrozenDict):
        return x.copy(add_or_replace)
    if isinstance(x, dict):
        new = _copy_dict(x)
        new.update(add_or_replace)
        return new
    raise TypeError(f"Expected FrozenDict or dict, got {type(x)}")


def _copy_dict(xs: dict[Any, Any]) -> dict[Any, Any]:
    # Like JAX's tree_map identity: nested dicts rebuilt with sorted keys,
    # FrozenDicts (immutable) and leaves kept.
    new = {}
    for key in _sorted_keys(xs):
        value = xs[key]
        new[key] = _copy_dict(value) if isinstance(value, dict) else value
    return new


def pop(x: FrozenDict[Any, Any] | dict[str, Any], key: str) -> tuple[Any, Any]:
    """Create a new dict where one entry is removed.

    Acts on either a FrozenDict or a regular dict and mimics the behavior of
    :meth:`FrozenDict.pop`; ``x`` itself is left unchanged.

    Args:
        x: the dictionary to remove the entry from.
        key: the key to remove from the dict.

    Returns:
        A pair with the new dict and the removed value.

    Raises:
        TypeError: ``x`` is neither a FrozenDict nor a dict.
        KeyError: ``key`` is not in ``x``.

    Example:

        >>> from flaxen.core.frozen_dict import pop
        >>> pop({'params': {'w': 1}, 'stats': 2}, 'params')
        ({'stats': 2}, {'w': 1})
    """
    if isinstance(x, FrozenDict):
        return x.pop(key)
    if isinstance(x, dict):
        new = _copy_dict(x)
        value = new.pop(key)
        return new, value
    raise TypeError(f"Expected FrozenDict or dict, got {type(x)}")


def _indent(text: str, num_spaces: int) -> str:
    # ``text`` ends with a newline; indent every line before it.
    pad = " " * num_spaces
    lines = text.split("\n")
    return "\n".join(pad + line for line in lines[:-1]) + "\n"


def _pretty_dict(x: Any, num_spaces: int) -> str:
    if not isinstance(x, dict):
        return repr(x)
    rep = "".join(f"{key}: {_pretty_dict(value, num_spaces)},\n" for key, value in x.items())
    if not rep:
        return "{}"
    return "{\n" + _indent(rep, num_spaces) + "}"


def pretty_repr(x: Any, num_spaces: int = 4) -> str:
    """Returns an indented representation of the nested dictionary.

    Acts on either a FrozenDict or a regular dict and mimics the behavior of
    :meth:`FrozenDict.pretty_repr`. If ``x`` is anything else, returns
    ``repr(x)``.

    Args:
        x: the dictionary to be represented.
        num_spaces: the number of space characters in each indentation level.

    Returns:
        An indented string representation of the nested dictionary.

    Example:

        >>> from flaxen.core.frozen_dict import pretty_repr
        >>> print(pretty_repr({'a': {'b': 1}, 'c': []}))
        {
            a: {
                b: 1,
            },
            c: [],
        }
    """
    if isinstance(x, FrozenDict):
        return x.pretty_repr(num_spaces)
    return _pretty_dict(x, num_spaces)


def _frozen_dict_state_dict(xs: FrozenDict[Any, Any]) -> dict[str, Any]:
    return {str(key): to_state_dict(value) for key, value in xs.items()}


def _restore_frozen_dict(xs: FrozenDict[Any, Any], states: Any) -> FrozenDict[Any, Any]:
    _check_dict_keys(xs, states)
    return FrozenDict(
        {key: from_state_dict(value, states[str(key)], name=str(key)) for key, value in xs.items()}
    )


register_serialization_state(FrozenDict, _frozen_dict_state_dict, _restore_frozen_dict)
