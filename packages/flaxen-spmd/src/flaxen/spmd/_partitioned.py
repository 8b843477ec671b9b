"""``LogicallyPartitioned``: variables annotated with logical axis names."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, TypeVar

import jax

from flaxen.core.meta import Partitioned

from ._constraint import with_logical_constraint
from ._rules import LogicalNames, LogicalRules

A = TypeVar("A")
B = TypeVar("B")


@dataclasses.dataclass(frozen=True, repr=True, eq=True)
class LogicallyPartitioned(Partitioned[A]):
    """A :class:`~flaxen.core.meta.Partitioned` box whose names are *logical* axes.

    ``names`` are mapped to mesh axes with ``rules`` (or the rules of
    :func:`logical_axis_rules` when None) when the value is unboxed under a
    mesh. :meth:`get_partition_spec` returns the logical spec; convert it with
    :func:`logical_to_mesh` or :func:`logical_to_mesh_sharding`. Lifted
    transforms that add an axis (``nn.scan``, ``nn.vmap``) name it with the
    ``partition_name`` of their ``metadata_params``.

    Attributes:
      value: the boxed value.
      names: one logical axis name (or None) per axis of ``value``.
      mesh: the mesh; None means the one set with ``jax.set_mesh``.
      rules: logical-to-mesh rules; None means the context's rules.

    >>> import jax.numpy as jnp
    >>> from flaxen import spmd
    >>> box = spmd.LogicallyPartitioned(jnp.ones((2, 3)), ('embed', 'hidden'))
    >>> box.get_partition_spec()
    P('embed', 'hidden')
    >>> box.add_axis(0, {'partition_name': 'layer'}).names
    ('layer', 'embed', 'hidden')
    """

    rules: LogicalRules | None = None

    def unbox(self, apply_constraint: bool = True) -> A:
        """The value, constrained to its mesh sharding when a mesh and rules are set."""
        if not apply_constraint or isinstance(self.value, jax.ShapeDtypeStruct):
            # A constraint on an abstract value would materialise an array.
            return self.value
        return with_logical_constraint(
            self.value, self.get_partition_spec(), rules=self.rules, mesh=self.mesh
        )

    def replace_boxed(self, val: B) -> LogicallyPartitioned[B]:
        return LogicallyPartitioned(val, self.names, self.mesh, self.rules)


def _flatten(box: LogicallyPartitioned[Any]) -> Any:
    return ((jax.tree_util.GetAttrKey("value"), box.value),), (box.names, box.mesh, box.rules)


def _unflatten(aux: Any, children: Any) -> LogicallyPartitioned[Any]:
    names, mesh, rules = aux
    return LogicallyPartitioned(children[0], names, mesh, rules)


jax.tree_util.register_pytree_with_keys(LogicallyPartitioned, _flatten, _unflatten)


def with_logical_partitioning(
    fn: Callable[..., Any],
    names: LogicalNames,
    mesh: jax.sharding.Mesh | None = None,
    rules: LogicalRules | None = None,
) -> Callable[..., LogicallyPartitioned[Any]]:
    """Wraps an initializer so its output is boxed as :class:`LogicallyPartitioned`.

    Args:
      fn: the function to wrap, typically an initializer.
      names: the logical axis names of its output.
      mesh: the mesh; None means the one set with ``jax.set_mesh``.
      rules: logical-to-mesh rules; None means the context's rules.

    Returns:
      ``fn`` with its result boxed.

    >>> import jax
    >>> from flaxen import linen as nn
    >>> init = nn.with_logical_partitioning(jax.nn.initializers.zeros, ('embed', 'mlp'))
    >>> box = init(jax.random.key(0), (2, 3))
    >>> type(box).__name__, box.names
    ('LogicallyPartitioned', ('embed', 'mlp'))
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> LogicallyPartitioned[Any]:
        return LogicallyPartitioned(fn(*args, **kwargs), names, mesh, rules)

    return wrapper
