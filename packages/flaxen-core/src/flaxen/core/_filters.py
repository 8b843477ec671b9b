"""Collection filters: which variable collections or RNG streams a rule applies to.

A filter is ``True`` (everything), ``False`` (nothing), a name, a collection of
names, or :class:`DenyList` (everything except the names it holds). Filters
select mutable collections (``mutable=``) and group collections and streams
when a transform lifts them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Mapping
from typing import Any, TypeAlias

from flaxen.errors import InvalidFilterError


@dataclasses.dataclass(frozen=True)
class DenyList:
    """Matches every name except those ``deny`` matches.

    Attributes:
      deny: a filter; the names it matches are excluded.

    >>> from flaxen.core import DenyList
    >>> from flaxen.core.lift import in_filter
    >>> in_filter(DenyList('intermediates'), 'params')
    True
    >>> in_filter(DenyList(['params', 'cache']), 'cache')
    False
    """

    deny: Any


Filter: TypeAlias = bool | str | Collection[str] | DenyList
CollectionFilter = Filter
PRNGSequenceFilter = Filter


def in_filter(filter_like: Filter, name: str) -> bool:
    """Whether ``name`` is matched by ``filter_like``.

    Raises:
      InvalidFilterError: ``filter_like`` is not a filter.
    """
    if isinstance(filter_like, str):
        return name == filter_like
    if filter_like is True or filter_like is False:
        return filter_like
    if isinstance(filter_like, DenyList):
        return not in_filter(filter_like.deny, name)
    if isinstance(filter_like, Collection) and not isinstance(filter_like, Mapping):
        return name in filter_like
    raise InvalidFilterError(filter_like)


def check_filter(filter_like: Any) -> None:
    """Raises :class:`InvalidFilterError` unless ``filter_like`` is a filter."""
    if isinstance(filter_like, (str, bool)):
        return
    if isinstance(filter_like, DenyList):
        check_filter(filter_like.deny)
        return
    is_names = isinstance(filter_like, Collection) and not isinstance(filter_like, Mapping)
    if is_names and all(isinstance(x, str) for x in filter_like):
        return
    raise InvalidFilterError(filter_like)


def filter_to_set(filter_like: Filter) -> set[str]:
    """The names a finite filter matches (a name or a collection of names)."""
    if isinstance(filter_like, str):
        return {filter_like}
    if isinstance(filter_like, Collection) and not isinstance(filter_like, (Mapping, DenyList)):
        return set(filter_like)
    raise InvalidFilterError(filter_like)


def is_filter_empty(filter_like: Filter) -> bool:
    """Whether ``filter_like`` matches no name at all."""
    if filter_like is False:
        return True
    if filter_like is True or isinstance(filter_like, (str, DenyList)):
        return False
    if isinstance(filter_like, Collection):
        return len(filter_like) == 0
    raise InvalidFilterError(filter_like)


def union_filters(a: Filter, b: Filter) -> Filter:
    """A filter matching what ``a`` or ``b`` match."""
    if a is True or b is True:
        return True
    if a is False:
        return b
    if b is False:
        return a
    if isinstance(a, DenyList) and isinstance(b, DenyList):
        return DenyList(intersect_filters(a.deny, b.deny))
    if isinstance(b, DenyList):
        a, b = b, a
    if isinstance(a, DenyList):
        return DenyList(subtract_filters(a.deny, b))
    return filter_to_set(a) | filter_to_set(b)


def intersect_filters(a: Filter, b: Filter) -> Filter:
    """A filter matching what both ``a`` and ``b`` match."""
    if a is True:
        return b
    if b is True:
        return a
    if a is False or b is False:
        return False
    if isinstance(a, DenyList) and isinstance(b, DenyList):
        return DenyList(union_filters(a.deny, b.deny))
    if isinstance(b, DenyList):
        a, b = b, a
    if isinstance(a, DenyList):
        return subtract_filters(b, a.deny)
    return filter_to_set(a) & filter_to_set(b)


def subtract_filters(a: Filter, b: Filter) -> Filter:
    """A filter matching what ``a`` matches and ``b`` does not."""
    if b is True or a is False:
        return False
    if b is False:
        return a
    if isinstance(b, DenyList):
        return intersect_filters(a, b.deny)
    if a is True:
        return DenyList(b)
    if isinstance(a, DenyList):
        return DenyList(union_filters(a.deny, b))
    return filter_to_set(a) - filter_to_set(b)


def group_collections(
    xs: Mapping[str, Any], col_filters: Iterable[Filter]
) -> tuple[dict[str, Any], ...]:
    """Splits a mapping into one dict per filter; each key goes to the first match.

    Keys that no filter matches are left out.

    >>> group_collections({'a': 1, 'b': 2, 'c': 3}, (['a'], True))
    ({'a': 1}, {'b': 2, 'c': 3})
    """
    groups: list[dict[str, Any]] = []
    taken: set[str] = set()
    for col_filter in col_filters:
        group = {}
        for key, value in xs.items():
            if key not in taken and in_filter(col_filter, key):
                group[key] = value
                taken.add(key)
        groups.append(group)
    return tuple(groups)
