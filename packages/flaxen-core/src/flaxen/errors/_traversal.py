"""Errors of tree traversal utilities (traverse_util, cursors)."""

from __future__ import annotations

from typing import Any

from ._base import FlaxenError


def _path(cursor: Any) -> Any:
    return getattr(cursor, "_path", cursor)


class CursorFindError(FlaxenError, LookupError):
    """``Cursor.find`` found no match, or more than one.

    ``find`` expects exactly one object to satisfy ``cond_fn``; use
    ``find_all`` to get every match.

    Attributes:
      cursor: the first match, if any.
      cursor2: the second match, if any.
    """

    def __init__(self, cursor: Any = None, cursor2: Any = None) -> None:
        self.cursor = cursor
        self.cursor2 = cursor2
        if cursor2 is None:
            message = (
                "No object found given the conditions of the cond_fn. Relax the"
                " condition, or use find_all() to accept no match."
            )
        else:
            message = (
                "More than one object found given the conditions of the cond_fn. The"
                " first two objects found have the following paths:"
                f" {_path(cursor)} and {_path(cursor2)}. Make the condition stricter,"
                " or use find_all() to get every match."
            )
        super().__init__(message)


class TraverseTreeError(FlaxenError, ValueError):
    """A tree traversal got both ``update_fn`` and ``cond_fn``, or neither.

    Exactly one of the two must be given.

    Attributes:
      update_fn: the ``update_fn`` argument.
      cond_fn: the ``cond_fn`` argument.
    """

    def __init__(self, update_fn: Any, cond_fn: Any) -> None:
        self.update_fn = update_fn
        self.cond_fn = cond_fn
        if update_fn is None and cond_fn is None:
            message = "Both update_fn and cond_fn are None. Exactly one of them must be given."
        else:
            message = (
                "Both update_fn and cond_fn are not None. Exactly one of them must be"
                " given; pass the other as None."
            )
        super().__init__(message)
