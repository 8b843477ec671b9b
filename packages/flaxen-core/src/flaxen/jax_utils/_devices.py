"""Moving pytrees of arrays onto the local devices, for ``jax.pmap`` code."""

from __future__ import annotations

import collections
import itertools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

import jax
import numpy as np
from jax import lax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from flaxen.errors import IndivisibleBatchError, ScalarBatchLeafError

_T = TypeVar("_T")

# Flax's default name for the one mesh axis the replicated arrays are sharded
# over; it shows in their sharding, so keep it for identical reprs.
DEFAULT_AXIS_NAME = "_device_put_sharded"


def _leading_axis_sharding(devices: Sequence[Any] | None, axis_name: str) -> NamedSharding:
    # Default device order is the one jax.pmap maps over.
    devices = jax.local_devices() if devices is None else list(devices)
    return NamedSharding(Mesh(np.asarray(devices), (axis_name,)), PartitionSpec(axis_name))


def replicate(
    tree: Any, devices: Sequence[Any] | None = None, axis_name: str = DEFAULT_AXIS_NAME
) -> Any:
    """Replicates arrays to multiple devices.

    Every leaf ``x`` becomes an array of shape ``(len(devices), *x.shape)``
    holding one copy of ``x`` per device, sharded along its leading axis: the
    layout ``jax.pmap`` expects for an argument mapped over its first axis.
    Python and NumPy scalars become arrays of JAX's default dtypes.

    Args:
        tree: a pytree containing the arrays that should be replicated.
        devices: the devices the data is replicated to (default: the local
            devices, in the order ``jax.pmap`` uses).
        axis_name: the name of the mesh axis the result is sharded over.

    Returns:
        A new pytree containing the replicated arrays.

    Example:

        >>> import jax, jax.numpy as jnp
        >>> from flaxen import jax_utils
        >>> n = jax.local_device_count()
        >>> replicated = jax_utils.replicate({'w': jnp.arange(3.0)})
        >>> replicated['w'].shape == (n, 3)
        True
        >>> jax_utils.unreplicate(replicated)['w']
        Array([0., 1., 2.], dtype=float32)
    """
    sharding = _leading_axis_sharding(devices, axis_name)
    targets = list(sharding.mesh.devices.flat)

    def put(x: Any) -> jax.Array:
        # One transfer per device of a (1, ...) view: no full (n, ...) copy is
        # ever built on a single device.
        one = x[None] if isinstance(x, jax.Array) else np.asarray(x)[None]
        shards = [jax.device_put(one, device) for device in targets]
        return jax.make_array_from_single_device_arrays(
            (len(targets), *one.shape[1:]), sharding, shards
        )

    return jax.tree_util.tree_map(put, tree)


def unreplicate(tree: Any) -> Any:
    """Returns a single instance of a replicated array.

    Takes the first entry along the leading (device) axis of every leaf: the
    inverse of :func:`replicate`, and the usual way to fetch one copy of a
    state that ``jax.pmap`` keeps in sync across devices. For an array
    sharded over devices, the entry comes from its first addressable shard,
    stays on that shard's device, and no other device is touched.

    Args:
        tree: a pytree of arrays with a leading device axis.

    Returns:
        The pytree with ``x[0]`` for every leaf ``x``.
    """
    return jax.tree_util.tree_map(_first_replica, tree)


def _first_replica(x: Any) -> Any:
    # A device-sharded array holds one replica per shard: slicing the first
    # addressable shard reads one device's data, where indexing the global
    # array would run a computation over all of them.
    if isinstance(x, jax.Array) and x.ndim:
        data = x.addressable_shards[0].data
        if data.shape[1:] == x.shape[1:] and data.shape[0]:
            return data[0]
    return x[0]


def pmean(xs: Any, axis_name: Any) -> Any:
    """Averages every leaf of ``xs`` over the named mapped axis.

    The pytree form of :func:`jax.lax.pmean`, for use inside ``jax.pmap``
    (or ``shard_map``) with ``axis_name`` naming the mapped axis.

    Args:
        xs: a pytree of arrays.
        axis_name: the name (or tuple of names) of the mapped axis.

    Returns:
        The pytree of averages, the same on every device.

    Example:

        >>> import jax, jax.numpy as jnp
        >>> from flaxen import jax_utils
        >>> n = jax.local_device_count()
        >>> out = jax.pmap(lambda x: jax_utils.pmean({'x': x}, 'i'), axis_name='i')(
        ...     jnp.arange(n, dtype=jnp.float32))
        >>> bool((out['x'] == (n - 1) / 2).all())
        True
    """
    return jax.tree_util.tree_map(lambda x: lax.pmean(x, axis_name), xs)


def prefetch_to_device(
    iterator: Iterable[Any],
    size: int | None,
    devices: Sequence[Any] | None = None,
    axis_name: str = DEFAULT_AXIS_NAME,
) -> Iterator[Any]:
    """Shard and prefetch batches on device.

    Returns a generator that keeps a buffer of ``size`` batches already
    transferred to the devices, so the transfer of the next batches overlaps
    with the computation on the current one. Every leaf of a batch is split
    along its first dimension over ``devices`` (the dimension must be a
    multiple of the number of devices; it usually equals it, one slice per
    device, the layout ``jax.pmap`` expects).

    Nothing is read from ``iterator`` until the first batch is requested.
    Prefetching mostly helps on GPUs; on TPUs and CPUs the allocators do not
    block on memory that is still in use, so it should not be necessary.

    Args:
        iterator: an iterable yielding pytrees of arrays whose first dimension
            is sharded across devices.
        size: the number of batches to keep in the on-device buffer. On GPUs 2
            is generally best: a training step overlaps with the transfer of
            the next batch. ``None`` transfers every batch at once.
        devices: the devices to shard the batches over (default: the local
            devices, in the order ``jax.pmap`` uses).
        axis_name: the name of the mesh axis the batches are sharded over.

    Yields:
        The original batches, every array now sharded over ``devices``.

    Raises:
        ScalarBatchLeafError: a leaf of a batch has no first dimension.
        IndivisibleBatchError: a leaf's first dimension is not a multiple of
            the number of devices.

    Example:

        >>> import jax, numpy as np
        >>> from flaxen import jax_utils
        >>> n = jax.local_device_count()
        >>> batches = ({'x': np.full((n, 2), i)} for i in range(3))
        >>> [int(batch['x'][0, 0]) for batch in jax_utils.prefetch_to_device(batches, 2)]
        [0, 1, 2]
    """
    sharding = _leading_axis_sharding(devices, axis_name)
    source = iter(iterator)
    queue: collections.deque[Any] = collections.deque()

    num_devices = sharding.mesh.devices.size

    def put(path: Any, x: Any) -> jax.Array:
        shape = np.shape(x)
        if not shape:
            raise ScalarBatchLeafError(f"batch{jax.tree_util.keystr(path)}", x)
        if shape[0] % num_devices:
            raise IndivisibleBatchError(f"batch{jax.tree_util.keystr(path)}", shape, num_devices)
        return jax.device_put(x, sharding)

    def enqueue(n: int | None) -> None:
        for batch in itertools.islice(source, n):
            queue.append(jax.tree_util.tree_map_with_path(put, batch))

    enqueue(size)
    while queue:
        yield queue.popleft()
        enqueue(1)
