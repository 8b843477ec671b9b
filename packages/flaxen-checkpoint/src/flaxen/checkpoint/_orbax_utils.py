"""``save_args_from_target`` and ``restore_args_from_target`` for Orbax."""

from __future__ import annotations

from typing import Any

import jax

from ._orbax_backend import import_orbax


def is_multi_device_array(value: Any) -> bool:
    """Whether ``value`` is a ``jax.Array`` spread over more than one device.

    >>> import jax.numpy as jnp
    >>> is_multi_device_array(jnp.ones(2))
    False
    """
    if isinstance(value, jax.Array):
        return len(value.sharding.device_set) > 1
    return False


def save_args_from_target(target: Any) -> Any:
    """An ``orbax.checkpoint.SaveArgs()`` at every leaf of ``target``.

    Pass the result as ``save_args`` to an Orbax checkpointer's save.

    Args:
      target: the pytree to be saved.

    Returns:
      A pytree of ``SaveArgs`` of the structure of ``target``.
    """
    ocp = import_orbax()
    return jax.tree_util.tree_map(lambda _: ocp.SaveArgs(), target)


def restore_args_from_target(target: Any, mesh: jax.sharding.Mesh | None = None) -> Any:
    """Orbax restore arguments that restore each leaf like the one in ``target``.

    Arrays in ``target`` are restored with their sharding (so a multi-process
    array comes back sharded the same way), numpy arrays as numpy arrays,
    scalars and strings as their types.

    Args:
      target: the pytree to restore into; its arrays need not have the
        checkpoint's shapes, only the shardings you want.
      mesh: if given, every ``NamedSharding`` of ``target`` is rebuilt on this
        mesh with the same partition spec.

    Returns:
      A pytree of ``orbax.checkpoint.RestoreArgs`` / ``ArrayRestoreArgs`` for
      ``restore_args=``.
    """
    ocp = import_orbax()

    def sharding_of(x: Any) -> Any:
        if not isinstance(x, jax.Array):
            return None
        sharding = x.sharding
        if mesh is not None and isinstance(sharding, jax.sharding.NamedSharding):
            return jax.sharding.NamedSharding(mesh, sharding.spec)
        return sharding

    sharding_tree = jax.tree_util.tree_map(sharding_of, target)
    return ocp.checkpoint_utils.construct_restore_args(target, sharding_tree)
