"""Errors of the multi-device helpers of ``flaxen.jax_utils`` (flaxen additions).

Flax reports these failures with an ``assert`` or lets a JAX or Python error
through; the classes below derive from the same built-ins, so ``except``
clauses written for Flax keep working.
"""

from __future__ import annotations

from typing import Any

from ._base import FlaxenError


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class InconsistentBatchSizesError(FlaxenError, ValueError, AssertionError):
    """The arrays given to a ``pad_shard_unpad`` function differ in batch size.

    ``pad_shard_unpad`` pads the leading (batch) dimension of every array in
    the arguments that are not static, so they must all have the same size
    there, and there must be at least one. Pass arrays without a batch
    dimension (parameters, RNG keys, settings) through ``static_argnums`` or
    ``static_argnames``.

    Flax asserts this; the error is an ``AssertionError`` as well as a
    ``ValueError``, and its message starts as Flax's does.

    Attributes:
      batch_sizes: the sorted distinct leading dimensions found (empty when
        every argument was static).
    """

    def __init__(self, batch_sizes: Any) -> None:
        self.batch_sizes = tuple(sorted(batch_sizes))
        if not self.batch_sizes:
            super().__init__(
                "Inconsistent batch-sizes: set(). pad_shard_unpad found no array to pad:"
                " every argument is static. Pass the batch as an argument that is not in"
                " static_argnums or static_argnames."
            )
            return
        sizes = ", ".join(str(size) for size in self.batch_sizes)
        super().__init__(
            f"Inconsistent batch-sizes: {{{sizes}}}. pad_shard_unpad pads the leading"
            " dimension of every array in the arguments that are not static, so all of"
            " them need the same batch size; pass the other arguments through"
            " static_argnums or static_argnames."
        )


class ScalarBatchLeafError(FlaxenError, TypeError):
    """A batch given to ``prefetch_to_device`` has a leaf without a leading dimension.

    ``prefetch_to_device`` splits every leaf of every batch along its first
    dimension over the devices, so each leaf must be an array of at least one
    dimension (usually ``(num_devices, per_device_batch, ...)``). Reshape
    the leaf, or keep values that are the same for every device out of the
    batches.

    Attributes:
      path: where the leaf is in the batch, e.g. ``batch['label']``.
      value: the leaf.
    """

    def __init__(self, path: str, value: Any) -> None:
        self.path = path
        self.value = value
        super().__init__(
            "prefetch_to_device shards every array along its first dimension, but"
            f" {path} is a scalar: {_short_repr(value)}. Give each leaf a leading"
            " dimension (one entry per device), or keep it out of the batches."
        )


class IndivisibleBatchError(FlaxenError, ValueError):
    """A batch leaf's first dimension is not a multiple of the number of devices.

    ``prefetch_to_device`` gives every device an equal slice of the first
    dimension of every leaf. Make it a multiple of the device count (usually
    equal to it: reshape a batch to ``(num_devices, per_device_batch, ...)``),
    drop or pad the last, smaller batch, or pass the devices to use as
    ``devices=``.

    Attributes:
      path: where the leaf is in the batch, e.g. ``batch['image']``.
      shape: the shape of the leaf.
      num_devices: the number of devices the batch is split over.
    """

    def __init__(self, path: str, shape: Any, num_devices: int) -> None:
        self.path = path
        self.shape = tuple(shape)
        self.num_devices = num_devices
        super().__init__(
            f"prefetch_to_device splits the first dimension of every array over"
            f" {num_devices} devices, but {path} has shape {self.shape}:"
            f" {self.shape[0] if self.shape else 0} is not a multiple of {num_devices}."
            " Reshape the batch to (num_devices, per_device_batch, ...), drop or pad"
            " the last batch, or pass the devices to shard over as devices=."
        )
