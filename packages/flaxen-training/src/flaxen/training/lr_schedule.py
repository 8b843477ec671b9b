"""``flaxen.training.lr_schedule``: Flax's learning rate schedules (prefer Optax's)."""

from ._lr_schedule import (
    create_constant_learning_rate_schedule as create_constant_learning_rate_schedule,
)
from ._lr_schedule import (
    create_cosine_learning_rate_schedule as create_cosine_learning_rate_schedule,
)
from ._lr_schedule import (
    create_stepped_learning_rate_schedule as create_stepped_learning_rate_schedule,
)

__all__ = [
    "create_constant_learning_rate_schedule",
    "create_stepped_learning_rate_schedule",
    "create_cosine_learning_rate_schedule",
]
