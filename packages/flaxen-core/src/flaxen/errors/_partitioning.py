"""Errors of partitioning metadata (sharding annotations on variables)."""

from __future__ import annotations

from typing import Any

from ._base import FlaxenError


class PartitioningUnspecifiedError(FlaxenError, ValueError):
    """A transform adds an axis to a Partitioned variable without naming it.

    Transforms such as ``nn.scan`` and ``nn.vmap`` add an axis to the
    variables they stack. For a ``Partitioned`` variable the new axis needs a
    name (or ``None``) in ``metadata_params``:

    .. code-block:: python

      nn.scan(Layer, variable_axes={'params': 0}, length=4,
              metadata_params={nn.PARTITION_NAME: 'layers'})

    Attributes:
      target: the variable being transformed.
    """

    def __init__(self, target: Any) -> None:
        self.target = target
        super().__init__(
            'Trying to transform a Partitioned variable but "partition_name" is not'
            f" specified in metadata_params: {target}. Pass"
            " metadata_params={nn.PARTITION_NAME: <axis name or None>} to the"
            " transform that adds the axis."
        )
