"""``flaxen.training.train_state``: :class:`TrainState`, one pytree for a training run."""

from ._train_state import OVERWRITE_WITH_GRADIENT as OVERWRITE_WITH_GRADIENT
from ._train_state import TrainState as TrainState

__all__ = ["TrainState", "OVERWRITE_WITH_GRADIENT"]
