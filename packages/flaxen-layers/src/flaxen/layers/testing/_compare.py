"""Comparing variable and output trees across libraries (dicts, boxes, arrays)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import numpy as np


def _normalize(tree: Any) -> Any:
    """Plain nested dicts/lists of numpy arrays; metadata boxes become tagged dicts.

    Works on trees from either library (``FrozenDict``, ``Partitioned`` of
    flax or flaxen): boxes compare by class name, ``names`` and value.
    """
    if isinstance(tree, Mapping):
        return {str(k): _normalize(v) for k, v in tree.items()}
    if isinstance(tree, (tuple, list)):
        return [_normalize(v) for v in tree]
    if hasattr(tree, "unbox") and hasattr(tree, "value"):
        names = getattr(tree, "names", None)
        return {
            "<box>": type(tree).__name__,
            "<names>": tuple(names) if names is not None else None,
            "<value>": _normalize(tree.value),
        }
    if tree is None or isinstance(tree, (bool, int, float, str)):
        return tree
    return np.asarray(tree)


def _compare(expected: Any, actual: Any, path: str, rtol: float, atol: float) -> list[str]:
    if isinstance(expected, dict) or isinstance(actual, dict):
        if not (isinstance(expected, dict) and isinstance(actual, dict)):
            return [f"{path or '<root>'}: {_kind(expected)} vs {_kind(actual)}"]
        if sorted(expected) != sorted(actual):
            return [f"{path or '<root>'}: keys {sorted(expected)} vs {sorted(actual)}"]
        problems = []
        for key in sorted(expected):
            problems += _compare(expected[key], actual[key], f"{path}[{key!r}]", rtol, atol)
        return problems
    if isinstance(expected, list) or isinstance(actual, list):
        if not (isinstance(expected, list) and isinstance(actual, list)):
            return [f"{path}: {_kind(expected)} vs {_kind(actual)}"]
        if len(expected) != len(actual):
            return [f"{path}: length {len(expected)} vs {len(actual)}"]
        problems = []
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            problems += _compare(e, a, f"{path}[{i}]", rtol, atol)
        return problems
    if not isinstance(expected, np.ndarray) or not isinstance(actual, np.ndarray):
        return [] if expected == actual else [f"{path}: {expected!r} vs {actual!r}"]
    if expected.dtype != actual.dtype or expected.shape != actual.shape:
        return [
            f"{path}: {expected.dtype}{list(expected.shape)} vs {actual.dtype}{list(actual.shape)}"
        ]
    if rtol == 0 and atol == 0:
        if np.array_equal(expected, actual, equal_nan=expected.dtype.kind in "fc"):
            return []
        diff = _max_diff(expected, actual)
        return [f"{path}: values differ (not bitwise equal; max abs diff {diff})"]
    try:
        np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True)
    except AssertionError:
        return [f"{path}: values differ beyond rtol={rtol}, atol={atol}"]
    return []


def _kind(x: Any) -> str:
    return type(x).__name__


def _max_diff(expected: np.ndarray, actual: np.ndarray) -> float:
    if expected.dtype.kind not in "fciub" or expected.size == 0:
        return float("nan")
    e, a = expected.astype(np.float64), actual.astype(np.float64)
    return float(np.nanmax(np.abs(e - a))) if e.size else 0.0


def assert_trees_equal(expected: Any, actual: Any, *, rtol: float = 0.0, atol: float = 0.0) -> None:
    """Asserts two variable/output trees agree: structure, dtypes, shapes, values.

    Mappings (``dict``, ``FrozenDict``) compare by keys; metadata boxes
    (``nn.Partitioned``) by class name, axis names and value; arrays bit for
    bit when both tolerances are 0, else with ``numpy.testing.assert_allclose``.
    Works across libraries (flax and flaxen trees).

    >>> import jax.numpy as jnp
    >>> from flaxen.layers.testing import assert_trees_equal
    >>> assert_trees_equal({'a': jnp.ones(2)}, {'a': jnp.ones(2)})
    >>> assert_trees_equal({'a': jnp.ones(2)}, {'a': jnp.ones(3)})
    Traceback (most recent call last):
    ...
    AssertionError: trees differ:
      ['a']: float32[2] vs float32[3]

    Raises:
      AssertionError: listing every difference, by path.
    """
    expected, actual = jax.device_get((expected, actual))
    problems = _compare(_normalize(expected), _normalize(actual), "", rtol, atol)
    if problems:
        raise AssertionError("trees differ:\n  " + "\n  ".join(problems))
