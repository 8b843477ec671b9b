"""``merge_param``: an attribute that may be given at construction or at call time."""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


def merge_param(name: str, a: T | None, b: T | None) -> T:
    """The one of ``a`` (attribute) and ``b`` (call argument) that is not None.

    Raises:
      ValueError: both or neither are given (pass the value once: as a Module
        attribute or as a call argument).

    >>> from flaxen import linen as nn
    >>> nn.merge_param('deterministic', None, True)
    True
    """
    a_set = a is not None
    b_set = b is not None
    if a_set and b_set:
        raise ValueError(
            f'Parameter "{name}" was passed to the constructor and at call time.'
            " Should be passed just once."
        )
    if not (a_set or b_set):
        raise ValueError(f'Parameter "{name}" must be passed to the constructor or at call time.')
    return a if a_set else b  # type: ignore[return-value]
