"""Sharding constraints and shardings from logical axis names."""

from __future__ import annotations

import enum
from typing import Any

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from flaxen.core.meta import get_global_mesh
from flaxen.errors import (
    ShardingRankMismatchError,
    UnknownMeshAxisError,
    UnmatchedLogicalAxisError,
)

from ._rules import (
    UNASSIGNED,
    UNCONSTRAINED,
    LogicalRules,
    assign_mesh_axes,
    get_logical_axis_rules,
    logical_to_mesh,
)


class RulesFallback(enum.Enum):
    """What :func:`with_logical_constraint` does with a name no rule assigns.

    Attributes:
      AXIS_IS_UNSHARDED: the dimension is unsharded (``None``) (the default).
      RAISE_ERROR: raise :class:`~flaxen.errors.UnmatchedLogicalAxisError`.
      NO_CONSTRAINT: leave the whole array unconstrained.
    """

    AXIS_IS_UNSHARDED = "axis_is_unsharded"
    RAISE_ERROR = "raise_error"
    NO_CONSTRAINT = "no_constraint"


def is_logical_spec(x: Any) -> bool:
    """Whether ``x`` is one array's logical spec rather than a tree of them."""
    if isinstance(x, PartitionSpec):
        return True
    return isinstance(x, tuple) and all(
        e is None or isinstance(e, str) or e is UNCONSTRAINED for e in x
    )


def _mesh_axes_of(entry: Any) -> tuple[Any, ...]:
    if entry is None or entry is UNCONSTRAINED:
        return ()
    return tuple(entry) if isinstance(entry, tuple | list) else (entry,)


def check_mesh_axes(spec: PartitionSpec, mesh: Any) -> None:
    """Raises UnknownMeshAxisError if ``spec`` names an axis ``mesh`` lacks."""
    names = mesh.axis_names
    for entry in spec:
        for axis in _mesh_axes_of(entry):
            if axis not in names:
                raise UnknownMeshAxisError(axis, spec, names)


def check_rank(spec: PartitionSpec, tree: Any, logical_names: Any = None) -> None:
    """Raises ShardingRankMismatchError if ``spec`` is longer than a leaf's rank."""
    n = len(spec)
    if not n:
        return
    for leaf in jax.tree_util.tree_leaves(tree):
        shape = getattr(leaf, "shape", None)
        if shape is None:
            shape = np.shape(leaf)
        if n > len(shape):
            raise ShardingRankMismatchError(spec, tuple(shape), logical_names)


def _unmatched_detail(names: tuple[Any, ...], axes: list[Any], rules: LogicalRules) -> str:
    parts = []
    for name, axis in zip(names, axes, strict=True):
        if axis is not UNASSIGNED:
            continue
        targets = [m for r in rules if isinstance(r, tuple | list) and r[0] == name for m in r[1:]]
        if targets:
            parts.append(
                f"{name!r} maps only to mesh axes {', '.join(map(repr, targets))}, already"
                " used by another dimension"
            )
        else:
            parts.append(f"no rule names {name!r}")
    return "; ".join(parts)


def _constrain(
    x: Any,
    logical_names: Any,
    rules: LogicalRules,
    mesh: Any,
    fallback: RulesFallback,
) -> Any:
    axes = assign_mesh_axes(logical_names, rules)
    if axes is None:
        return x
    if any(a is UNASSIGNED for a in axes):
        if fallback is RulesFallback.RAISE_ERROR:
            names = tuple(logical_names)
            unmatched = tuple(n for n, a in zip(names, axes, strict=True) if a is UNASSIGNED)
            raise UnmatchedLogicalAxisError(
                logical_names, unmatched, _unmatched_detail(names, axes, rules)
            )
        if fallback is RulesFallback.NO_CONSTRAINT:
            return x
        axes = [None if a is UNASSIGNED else a for a in axes]
    if mesh is None:
        return x
    spec = PartitionSpec(*axes)
    check_mesh_axes(spec, mesh)
    check_rank(spec, x, logical_names)
    return jax.lax.with_sharding_constraint(x, NamedSharding(mesh, spec))


def _is_spec_or_none(x: Any) -> bool:
    return x is None or is_logical_spec(x)


def with_logical_constraint(
    x: Any,
    logical_axis_resources: Any,
    rules: LogicalRules | None = None,
    mesh: jax.sharding.Mesh | None = None,
    fallback: RulesFallback = RulesFallback.AXIS_IS_UNSHARDED,
) -> Any:
    """``jax.lax.with_sharding_constraint`` in terms of logical axis names.

    The logical names are mapped to mesh axes with the rules (see
    :func:`logical_to_mesh_axes`). Nothing is constrained when there are no
    rules or no mesh (neither ``mesh`` nor one set with ``jax.set_mesh``),
    so models annotated this way also run unsharded.

    Args:
      x: an array, or a pytree of arrays.
      logical_axis_resources: the logical names (a tuple or ``PartitionSpec``)
        of every leaf of ``x``, or a tree of them, a prefix of ``x``'s tree.
      rules: the rules to use; by default those of :func:`logical_axis_rules`.
      mesh: the mesh; by default the one set with ``jax.set_mesh``.
      fallback: what to do with a name that no rule assigns (a
        :class:`RulesFallback` or its value).

    Returns:
      ``x``, constrained.

    Raises:
      UnmatchedLogicalAxisError: a name got no mesh axis under ``RAISE_ERROR``.
      DuplicateLogicalAxisError: a logical name labels two dimensions.
      ShardingRankMismatchError: more names than the array has dimensions.
      UnknownMeshAxisError: the rules map to an axis the mesh lacks.

    >>> import jax, jax.numpy as jnp, numpy as np
    >>> from flaxen import spmd
    >>> mesh = jax.sharding.Mesh(np.array(jax.devices()[:1]).reshape(1, 1), ('data', 'model'))
    >>> def f(x):
    ...   return spmd.with_logical_constraint(x, ('batch', 'embed'), mesh=mesh)
    >>> with spmd.logical_axis_rules((('batch', 'data'),)):
    ...   jaxpr = jax.make_jaxpr(f)(jnp.ones((2, 3)))
    >>> jaxpr.eqns[0].params['sharding'].spec
    P('data', None)
    """
    if not isinstance(fallback, RulesFallback):
        fallback = RulesFallback(fallback)
    if rules is None:
        rules = get_logical_axis_rules()
    if not rules:
        return x
    if mesh is None:
        mesh = get_global_mesh()
    if logical_axis_resources is None or is_logical_spec(logical_axis_resources):
        return _constrain(x, logical_axis_resources, rules, mesh, fallback)
    return jax.tree_util.tree_map(
        lambda names, leaf: _constrain(leaf, names, rules, mesh, fallback),
        logical_axis_resources,
        x,
        is_leaf=_is_spec_or_none,
    )


def _named_sharding(mesh: Any, spec: PartitionSpec) -> NamedSharding:
    check_mesh_axes(spec, mesh)
    return NamedSharding(mesh, spec)


def logical_to_mesh_sharding(
    tree: Any,
    mesh: jax.sharding.Mesh,
    rules: LogicalRules | None = None,
) -> Any:
    """Shardings on ``mesh`` for a tree of logical ``PartitionSpec`` s.

    The usual way to get ``out_shardings`` for ``jax.jit`` of a model's init.

    >>> import jax, numpy as np
    >>> from jax.sharding import PartitionSpec as P
    >>> from flaxen import spmd
    >>> mesh = jax.sharding.Mesh(np.array(jax.devices()[:1]).reshape(1, 1), ('data', 'model'))
    >>> shardings = spmd.logical_to_mesh_sharding({'w': P('embed', 'hidden')}, mesh,
    ...                                           [('hidden', 'model')])
    >>> shardings['w'].spec
    P(None, 'model')

    Raises:
      UnknownMeshAxisError: the rules map to an axis ``mesh`` lacks.
    """
    specs = logical_to_mesh(tree, rules)
    return jax.tree_util.tree_map(
        lambda spec: _named_sharding(mesh, spec),
        specs,
        is_leaf=lambda x: isinstance(x, PartitionSpec),
    )
