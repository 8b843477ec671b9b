"""Shapes and dtypes instead of values: what the summary keeps of arrays."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

_ARRAY_TYPES = (jax.Array, np.ndarray, np.generic, jax.ShapeDtypeStruct)


def is_array(x: Any) -> bool:
    """Arrays, tracers, numpy values and ``jax.ShapeDtypeStruct`` s."""
    return isinstance(x, _ARRAY_TYPES)


def _abstract_leaf(x: Any) -> Any:
    if isinstance(x, jax.ShapeDtypeStruct):
        return x
    if isinstance(x, _ARRAY_TYPES):  # tracers are jax.Arrays too
        return jax.ShapeDtypeStruct(np.shape(x), x.dtype)
    return x


def abstract(tree: Any) -> Any:
    """``tree`` with every array (or tracer) replaced by its ``jax.ShapeDtypeStruct``."""
    return jax.tree_util.tree_map(_abstract_leaf, tree)
