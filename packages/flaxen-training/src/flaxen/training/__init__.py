"""Training utilities: TrainState, learning-rate schedules, early stopping.

The submodules mirror ``flax.training``; import the one you need::

    from flaxen.training import train_state      # TrainState
    from flaxen.training import lr_schedule      # create_*_learning_rate_schedule
    from flaxen.training import early_stopping   # EarlyStopping
    from flaxen.training import common_utils     # shard, onehot, get_metrics, ...
    from flaxen.training import dynamic_scale    # DynamicScale
    from flaxen.training import checkpoints      # from flaxen-checkpoint

Importing this package imports none of them (nor JAX or Optax); attribute
access (``flaxen.training.train_state``) imports a submodule on first use.
``checkpoints`` and ``orbax_utils`` forward to the flaxen-checkpoint
distribution, which must be installed separately.
"""

from __future__ import annotations

import importlib
from importlib.metadata import version as _version
from typing import TYPE_CHECKING, Any

__version__ = _version("flaxen-training")

_SUBMODULES = frozenset(
    {
        "checkpoints",
        "common_utils",
        "dynamic_scale",
        "early_stopping",
        "lr_schedule",
        "orbax_utils",
        "prefetch_iterator",
        "train_state",
    }
)

if TYPE_CHECKING:
    from . import checkpoints as checkpoints
    from . import common_utils as common_utils
    from . import dynamic_scale as dynamic_scale
    from . import early_stopping as early_stopping
    from . import lr_schedule as lr_schedule
    from . import orbax_utils as orbax_utils
    from . import prefetch_iterator as prefetch_iterator
    from . import train_state as train_state


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({"__version__", *_SUBMODULES})
