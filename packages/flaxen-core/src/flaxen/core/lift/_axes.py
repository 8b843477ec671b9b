"""Axis specifications shared by the mapping transforms (``vmap``, ``scan``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

import jax

from flaxen.core import _meta as meta

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class In(Generic[T]):
    """An axis that applies only to variables going *into* a transform.

    ``variable_axes={'params': In(0)}`` maps ``params`` along axis 0 on the
    way in and does not return them.
    """

    axis: T


@dataclasses.dataclass(frozen=True)
class Out(Generic[T]):
    """An axis that applies only to variables coming *out of* a transform."""

    axis: T


class _Broadcast:
    """Marker for a scan input fed whole to every iteration."""

    _instance: _Broadcast | None = None

    def __new__(cls) -> _Broadcast:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "broadcast"


#: Use as an ``in_axes`` entry of ``scan`` to pass an input to every step unchanged.
broadcast = _Broadcast()


def split_in_out_axes(
    axes: Mapping[Any, Any],
) -> tuple[dict[Any, Any], dict[Any, Any]]:
    """Separates ``{filter: axis | In(axis) | Out(axis)}`` into in and out maps."""
    in_axes: dict[Any, Any] = {}
    out_axes: dict[Any, Any] = {}
    for key, axis in axes.items():
        if isinstance(axis, In):
            in_axes[key] = axis.axis
        elif isinstance(axis, Out):
            out_axes[key] = axis.axis
        else:
            in_axes[key] = axis
            out_axes[key] = axis
    return in_axes, out_axes


def prefix_pairs(prefix: Any, tree: Any) -> list[tuple[Any, Any]]:
    """``(axis, subtree)`` for every leaf of the axis spec ``prefix`` of ``tree``."""
    leaves, treedef = jax.tree_util.tree_flatten(prefix, is_leaf=lambda x: x is None)
    return list(zip(leaves, treedef.flatten_up_to(tree)))


def remove_axes(groups: tuple[Any, ...], axes: tuple[Any, ...], params: dict[Any, Any]) -> Any:
    """Calls ``remove_axis`` on boxes of each group mapped along an int axis."""
    return tuple(
        meta.remove_axis(group, axis, params) if isinstance(axis, int) else group
        for group, axis in zip(groups, axes)
    )


def add_axes(groups: tuple[Any, ...], axes: tuple[Any, ...], params: dict[Any, Any]) -> Any:
    """Calls ``add_axis`` on boxes of each group mapped along an int axis."""
    return tuple(
        meta.add_axis(group, axis, params) if isinstance(axis, int) else group
        for group, axis in zip(groups, axes)
    )


def rng_tree_map(fn: Any, rng_group: Any) -> Any:
    """Applies ``fn`` to the root key of every stream in ``rng_group``."""
    from flaxen.core._rng import LazyRng

    return jax.tree_util.tree_map(
        lambda r: r.replace_rng(fn(r.rng)), rng_group, is_leaf=lambda x: isinstance(x, LazyRng)
    )
