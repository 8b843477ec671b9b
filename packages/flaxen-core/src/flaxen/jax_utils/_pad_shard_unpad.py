"""Calling a ``jax.pmap``-ed function on batches of any size."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np

from flaxen.errors import InconsistentBatchSizesError


def pad_shard_unpad(
    wrapped: Callable[..., Any],
    static_argnums: Sequence[int] = (0,),
    static_argnames: Sequence[str] = (),
    static_return: bool = False,
) -> Callable[..., Any]:
    """Wraps a function with code that pads, shards, then un-shards, un-pads.

    The returned function pads the leading (batch) dimension of every array
    in its non-static arguments with zeros up to a multiple of
    ``jax.local_device_count()``, reshapes each to ``(devices, per_device,
    ...)``, calls ``wrapped``, and reshapes every array it returns back to
    ``(devices * per_device, ...)`` keeping only the first ``batch`` rows. All
    arrays of the non-static arguments must share the same batch size. This
    lets a pmapped evaluation step see every example of a dataset whose size
    is not a multiple of the number of devices, e.g.::

        @pad_shard_unpad
        @jax.pmap
        def forward(params, x): ...

    The padding is done in host memory (NumPy) before the call (arguments
    that need no padding are only reshaped), and the values returned by
    ``wrapped`` are transferred back to host memory.

    The returned function takes one more keyword-only argument,
    ``min_device_batch``: when given, inputs are padded to at least this many
    examples per device, which avoids a recompilation for a smaller last
    batch (and reduces memory fragmentation).

    Args:
        wrapped: the function to be wrapped, typically pmapped; its signature
            is ``params, *args, **kwargs``.
        static_argnums: indices of positional arguments of ``wrapped`` that are
            passed through as they are, neither padded nor sharded. The
            default ``(0,)`` suits the common case of ``params`` first.
        static_argnames: names of keyword arguments passed through as they are.
        static_return: whether to return the result of ``wrapped`` unchanged
            instead of un-sharding and un-padding it, e.g. metrics that an
            evaluation step already reduced over devices.

    Returns:
        A function that pads and shards its arguments, calls ``wrapped``, and
        un-shards and un-pads the returned pytree. It raises
        :class:`~flaxen.errors.InconsistentBatchSizesError` when the arrays of
        its non-static arguments differ in batch size, or there are none.

    Example:

        >>> import jax, jax.numpy as jnp, numpy as np
        >>> from flaxen import jax_utils
        >>> @jax_utils.pad_shard_unpad
        ... @jax.pmap
        ... def predict(w, x):
        ...     return x * w
        >>> w = jax_utils.replicate(jnp.float32(2.0))
        >>> predict(w, np.arange(5, dtype=np.float32))  # 5 examples, any device count
        array([0., 2., 4., 6., 8.], dtype=float32)
    """
    static_argnums = tuple(static_argnums)
    static_argnames = tuple(static_argnames)

    def pad_shard_unpad_wrapper(*args: Any, min_device_batch: int | None = None, **kw: Any) -> Any:
        devices = jax.local_device_count()
        dynamic = [a for i, a in enumerate(args) if i not in static_argnums]
        dynamic += [v for k, v in kw.items() if k not in static_argnames]
        batch_sizes = {x.shape[0] for x in jax.tree_util.tree_leaves(dynamic)}
        if len(batch_sizes) != 1:
            raise InconsistentBatchSizesError(batch_sizes)
        (batch,) = batch_sizes
        per_device = -(-batch // devices)
        if min_device_batch:
            per_device = max(per_device, min_device_batch)

        def pad(x: Any) -> Any:
            if devices * per_device == batch:
                # Nothing to pad: arrays keep their type (and JAX arrays their device).
                return x.reshape(devices, per_device, *x.shape[1:])
            x = np.asarray(x)
            padded = np.zeros((devices * per_device, *x.shape[1:]), x.dtype)
            padded[:batch] = x
            return padded.reshape(devices, per_device, *x.shape[1:])

        args = tuple(
            a if i in static_argnums else jax.tree_util.tree_map(pad, a) for i, a in enumerate(args)
        )
        kw = {
            k: v if k in static_argnames else jax.tree_util.tree_map(pad, v) for k, v in kw.items()
        }
        out = wrapped(*args, **kw)
        if static_return:
            return out

        def unpad(x: Any) -> Any:
            return x.reshape(-1, *x.shape[2:])[:batch]

        return jax.tree_util.tree_map(unpad, jax.device_get(out))

    return pad_shard_unpad_wrapper
