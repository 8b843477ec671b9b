"""The two FrozenDict operations the core needs on its hot paths."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .frozen_dict import FrozenDict


def raw_dict(tree: Mapping[str, Any]) -> Mapping[str, Any]:
    """The plain nested dict behind a FrozenDict (no copy); other mappings as is."""
    if type(tree) is FrozenDict:
        return tree._dict
    return tree


__all__ = ["FrozenDict", "raw_dict"]
