"""A lifted transform contributed by a plugin, built on ``nn.vmap``."""

from __future__ import annotations

from typing import Any

from flaxen import linen as nn


def ensemble(target: Any, size: int) -> Any:
    """``size`` independent copies of a Module, run on the same input.

    Every copy has its own parameters (stacked on a new leading axis) and its
    own PRNG keys; the outputs are stacked the same way.

    Args:
      target: the Module class to ensemble.
      size: how many members.

    Returns:
      The transformed Module class.
    """
    return nn.vmap(
        target,
        variable_axes={"params": 0},
        split_rngs={"params": True, "dropout": True},
        in_axes=None,
        axis_size=size,
    )
