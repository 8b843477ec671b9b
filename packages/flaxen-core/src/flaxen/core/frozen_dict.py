"""Frozen Dictionary: an immutable, hashable nested dict that is a JAX pytree."""

from ._frozen_dict import (
    FrozenDict,
    FrozenKeysView,
    FrozenValuesView,
    copy,
    freeze,
    pop,
    pretty_repr,
    unfreeze,
)

__all__ = [
    "FrozenDict",
    "FrozenKeysView",
    "FrozenValuesView",
    "copy",
    "freeze",
    "pop",
    "pretty_repr",
    "unfreeze",
]
