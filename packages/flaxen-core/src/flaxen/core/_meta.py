"""Boxed axis metadata for variables (the axis-metadata FLIP).

A box (:class:`AxisMetadata`) wraps a variable's value and carries metadata
about its axes. Boxes are pytree nodes whose leaves are the wrapped value, so
``jax.tree_util`` maps straight through them; lifted transforms that add an
axis (``vmap``, ``scan``) call :meth:`AxisMetadata.add_axis` on the way out and
:meth:`AxisMetadata.remove_axis` on the way in.
"""

from __future__ import annotations

import abc
import dataclasses
import functools
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import jax
from jax.sharding import PartitionSpec

from flaxen.errors import PartitioningUnspecifiedError

A = TypeVar("A")
B = TypeVar("B")
TAxisMetadata = TypeVar("TAxisMetadata", bound="AxisMetadata[Any]")

#: Key of ``metadata_params`` naming the axis a transform adds (``nn.scan``...).
PARTITION_NAME = "partition_name"

LogicalNames = tuple[str | None, ...]


class AxisMetadata(Generic[A], metaclass=abc.ABCMeta):
    """Base class of metadata boxes around variables.

    Subclasses are pytree nodes whose leaves are the boxed value, implement
    :meth:`unbox`, :meth:`replace_boxed`, :meth:`add_axis` and
    :meth:`remove_axis` (the latter two inverse to each other).
    """

    @abc.abstractmethod
    def unbox(self) -> A:
        """The boxed value (not recursively unboxed)."""

    @abc.abstractmethod
    def replace_boxed(self, val: B) -> AxisMetadata[B]:
        """A box of the same kind and metadata around ``val``."""

    @abc.abstractmethod
    def add_axis(self: TAxisMetadata, index: int, params: dict[Any, Any]) -> TAxisMetadata:
        """The same box with a new axis inserted at ``index``.

        Args:
          index: where the transform inserts the axis.
          params: the transform's ``metadata_params``.
        """

    @abc.abstractmethod
    def remove_axis(self: TAxisMetadata, index: int, params: dict[Any, Any]) -> TAxisMetadata:
        """The same box with the axis at ``index`` removed (inverse of add_axis)."""


def is_axis_metadata(val: Any) -> bool:
    """Whether ``val`` is a metadata box."""
    return isinstance(val, AxisMetadata)


def map_axis_meta(fn: Callable[[AxisMetadata[Any]], Any], tree: Any) -> Any:
    """Applies ``fn`` to every box in ``tree``; other leaves are kept."""

    def update(x: Any) -> Any:
        return fn(x) if isinstance(x, AxisMetadata) else x

    return jax.tree_util.tree_map(update, tree, is_leaf=is_axis_metadata)


def add_axis(tree: Any, index: int, params: dict[Any, Any]) -> Any:
    """Calls ``add_axis(index, params)`` on every box in ``tree``."""
    return map_axis_meta(lambda x: x.add_axis(index, params), tree)


def remove_axis(tree: Any, index: int, params: dict[Any, Any]) -> Any:
    """Calls ``remove_axis(index, params)`` on every box in ``tree``."""
    return map_axis_meta(lambda x: x.remove_axis(index, params), tree)


def unbox(tree: Any) -> Any:
    """``tree`` with every box replaced by its value.

    >>> import jax.numpy as jnp
    >>> from flaxen.core import meta
    >>> meta.unbox({'w': meta.Partitioned(jnp.zeros(2), ('x',)), 'b': 1})
    {'b': 1, 'w': Array([0., 0.], dtype=float32)}
    """
    if isinstance(tree, AxisMetadata):
        return tree.unbox()
    return map_axis_meta(lambda x: x.unbox(), tree)


def replace_boxed(tree: Any, updates: Any) -> Any:
    """``updates`` with each value re-boxed like the box at its place in ``tree``."""

    def inner(x: Any, update: Any) -> Any:
        return x.replace_boxed(update) if isinstance(x, AxisMetadata) else update

    return jax.tree_util.tree_map(inner, tree, updates, is_leaf=is_axis_metadata)


def global_mesh_defined() -> bool:
    """Whether a mesh is set for the current context (``jax.sharding.use_mesh``)."""
    return get_global_mesh() is not None


def get_global_mesh() -> Any:
    """The mesh set for the current context, or None."""
    mesh = jax.sharding.get_abstract_mesh()
    return None if mesh.empty else mesh


def _partitioned_flatten(box: Partitioned[Any]) -> Any:
    return ((jax.tree_util.GetAttrKey("value"), box.value),), (box.names, box.mesh)


def _partitioned_unflatten(aux: Any, children: Any) -> Partitioned[Any]:
    names, mesh = aux
    return Partitioned(children[0], names, mesh)


@dataclasses.dataclass(frozen=True, eq=False)
class Partitioned(AxisMetadata[A]):
    """A box recording, per axis, the mesh axis name it is sharded along.

    Attributes:
      value: the boxed value.
      names: one mesh-axis name (or None: replicated) per axis of ``value``.
      mesh: the mesh the names refer to; None means the context's mesh.

    >>> import jax.numpy as jnp
    >>> from flaxen.core.meta import Partitioned
    >>> box = Partitioned(jnp.ones((2, 3)), (None, 'model'))
    >>> box.get_partition_spec()
    PartitionSpec(None, 'model')
    >>> box.add_axis(0, {'partition_name': 'layers'}).names
    ('layers', None, 'model')
    """

    value: A
    names: LogicalNames
    mesh: Any = None

    def replace(self, **updates: Any) -> Partitioned[A]:
        return dataclasses.replace(self, **updates)

    def unbox(self, apply_constraint: bool = True) -> A:
        if not apply_constraint or isinstance(self.value, jax.ShapeDtypeStruct):
            # A constraint on an abstract value (shape checks read boxes of
            # jax.eval_shape results) would materialise a full-size array.
            return self.value
        mesh = self.mesh if self.mesh is not None else get_global_mesh()
        if mesh is None:
            return self.value
        sharding = jax.sharding.NamedSharding(mesh, self.get_partition_spec())
        return jax.tree_util.tree_map(
            lambda x: jax.lax.with_sharding_constraint(x, sharding), self.value
        )

    def replace_boxed(self, val: B) -> Partitioned[B]:
        return Partitioned(val, self.names, self.mesh)

    def _get_partition_name(self, params: dict[Any, Any]) -> str:
        if PARTITION_NAME not in params:
            raise PartitioningUnspecifiedError(self)
        return params[PARTITION_NAME]

    def add_axis(self, index: int, params: dict[Any, Any]) -> Partitioned[A]:
        axis_name = self._get_partition_name(params)
        names = list(self.names)
        while len(names) < index:
            names.append(None)
        names.insert(index, axis_name)
        return self.replace(names=tuple(names))

    def remove_axis(self, index: int, params: dict[Any, Any]) -> Partitioned[A]:
        axis_name = self._get_partition_name(params)
        names = list(self.names)
        removed = names.pop(index)
        if removed != axis_name:
            raise ValueError(
                f"Expected axis {index} to be named {axis_name!r} (from metadata_params),"
                f" found {removed!r} in {self.names}."
            )
        return self.replace(names=tuple(names))

    def get_partition_spec(self) -> PartitionSpec:
        """The ``PartitionSpec`` of the boxed value."""
        return PartitionSpec(*self.names)

    def get_sharding(self, mesh: jax.sharding.Mesh) -> jax.sharding.Sharding:
        """A ``NamedSharding`` on ``mesh`` (or on the box's own mesh if set)."""
        return jax.sharding.NamedSharding(
            self.mesh if self.mesh is not None else mesh, self.get_partition_spec()
        )

    def __repr__(self) -> str:
        return f"Partitioned(value={self.value!r}, names={self.names!r}, mesh={self.mesh!r})"


jax.tree_util.register_pytree_with_keys(Partitioned, _partitioned_flatten, _partitioned_unflatten)


def with_partitioning(
    fn: Callable[..., Any],
    names: LogicalNames,
    mesh: jax.sharding.Mesh | None = None,
) -> Callable[..., Partitioned[Any]]:
    """Wraps an initializer so its output is boxed as :class:`Partitioned`.

    >>> import jax
    >>> from flaxen.core.meta import with_partitioning
    >>> init = with_partitioning(jax.nn.initializers.zeros, (None, 'model'))
    >>> init(jax.random.key(0), (2, 3)).names
    (None, 'model')
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Partitioned[Any]:
        return Partitioned(fn(*args, **kwargs), names, mesh)

    return wrapper


def _spec_of(x: Any) -> Any:
    if isinstance(x, Partitioned):
        return x.get_partition_spec()
    if hasattr(x, "get_partition_spec"):
        return x.get_partition_spec()
    return PartitionSpec()


def get_partition_spec(tree: Any) -> Any:
    """The ``PartitionSpec`` of every leaf; unboxed leaves are replicated (``P()``)."""
    return jax.tree_util.tree_map(_spec_of, tree, is_leaf=is_axis_metadata)


def get_sharding(tree: Any, mesh: jax.sharding.Mesh) -> Any:
    """A ``NamedSharding`` on ``mesh`` for every leaf of ``tree``."""
    return jax.tree_util.tree_map(
        lambda spec: jax.sharding.NamedSharding(mesh, spec),
        get_partition_spec(tree),
        is_leaf=lambda x: isinstance(x, PartitionSpec),
    )
