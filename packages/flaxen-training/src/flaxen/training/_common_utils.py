"""Small helpers for data-parallel (``jax.pmap``) training loops."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax


def shard(xs: Any) -> Any:
    """Helper for pmap to shard a pytree of arrays by local_device_count.

    Args:
        xs: a pytree of arrays whose leading dimension is a multiple of
            ``jax.local_device_count()``.

    Returns:
        A matching pytree with arrays' leading dimensions sharded by the
        local device count: every ``x`` becomes ``x.reshape((devices, -1) +
        x.shape[1:])``, of the same array type.

    Example:

        >>> import jax, numpy as np
        >>> from flaxen.training import common_utils
        >>> n = jax.local_device_count()
        >>> common_utils.shard({'x': np.zeros((4 * n, 3))})['x'].shape == (n, 4, 3)
        True
    """
    local_device_count = jax.local_device_count()
    return jax.tree_util.tree_map(lambda x: x.reshape((local_device_count, -1, *x.shape[1:])), xs)


def shard_prng_key(prng_key: jax.Array) -> jax.Array:
    """Helper to shard (aka split) a PRNGKey for use with pmap'd functions.

    PRNG keys can be used at train time to drive stochastic modules e.g.
    Dropout. We would like a different PRNG key for each local device so
    that we end up with different random numbers on each one, hence we split
    our PRNG key.

    Args:
        prng_key: JAX PRNGKey.

    Returns:
        A new array of PRNGKeys with leading dimension equal to local device
        count: ``jax.random.split(prng_key, jax.local_device_count())``.
    """
    return jax.random.split(prng_key, num=jax.local_device_count())


def stack_forest(forest: Sequence[Any]) -> Any:
    """Helper function to stack the leaves of a sequence of pytrees.

    Args:
        forest: a sequence of pytrees (e.g. tuple or list) of matching
            structure whose leaves are arrays with individually matching
            shapes.

    Returns:
        A single pytree of the same structure whose leaves are individually
        stacked arrays.

    Example:

        >>> import jax.numpy as jnp
        >>> from flaxen.training import common_utils
        >>> common_utils.stack_forest([{'loss': jnp.float32(1)}, {'loss': jnp.float32(2)}])
        {'loss': Array([1., 2.], dtype=float32)}
    """
    return jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *forest)


def get_metrics(device_metrics: Sequence[Any]) -> Any:
    """Helper utility for pmap, gathering replicated timeseries metric data.

    Args:
        device_metrics: replicated, device-resident pytree of metric data,
            whose leaves are presumed to be a sequence of arrays recorded over
            time (e.g. the list of metrics a pmapped step returned, one entry
            per step, each with a leading device axis).

    Returns:
        A pytree of unreplicated, stacked-over-time arrays useful for
        computing host-local statistics and logging.

    Example:

        >>> import jax, jax.numpy as jnp
        >>> from flaxen.training import common_utils
        >>> n = jax.local_device_count()
        >>> step = jax.pmap(lambda x: {'loss': x.sum()})
        >>> history = [step(jnp.full((n, 2), float(i))) for i in range(3)]
        >>> common_utils.get_metrics(history)
        {'loss': Array([0., 2., 4.], dtype=float32)}
    """
    # The first addressable shard holds one replica: reading it moves one
    # device's data to the host instead of slicing the global array.
    first_replica = jax.tree_util.tree_map(
        lambda x: jnp.squeeze(x.addressable_shards[0].data, axis=0), device_metrics
    )
    return stack_forest(jax.device_get(first_replica))


def onehot(
    labels: jax.Array,
    num_classes: int,
    on_value: Any = 1.0,
    off_value: Any = 0.0,
) -> jax.Array:
    """Create a dense one-hot version of an indexed array.

    NB: consider using the more standard ``jax.nn.one_hot`` instead.

    Args:
        labels: an n-dim JAX array whose last dimension contains integer
            indices.
        num_classes: the maximum possible index.
        on_value: the "on" value for the one-hot array, defaults to 1.0.
        off_value: the "off" value for the one-hot array, defaults to 0.0.

    Returns:
        A (n+1)-dim float32 array whose last dimension contains one-hot
        vectors of length ``num_classes``. Labels outside ``[0,
        num_classes)`` give all-``off_value`` vectors.

    Example:

        >>> import jax.numpy as jnp
        >>> from flaxen.training import common_utils
        >>> common_utils.onehot(jnp.array([0, 2]), 3)
        Array([[1., 0., 0.],
               [0., 0., 1.]], dtype=float32)
    """
    x = labels[..., None] == jnp.arange(num_classes).reshape((1,) * labels.ndim + (-1,))
    x = lax.select(x, jnp.full(x.shape, on_value), jnp.full(x.shape, off_value))
    return x.astype(jnp.float32)
