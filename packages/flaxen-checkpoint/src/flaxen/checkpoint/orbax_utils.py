"""Helpers for Orbax checkpointers: save and restore arguments from a target.

``flaxen.training.orbax_utils`` forwards here (as ``flax.training.orbax_utils``
does in Flax). orbax-checkpoint is imported when a function is called, and an
ImportError then says to install ``flaxen-checkpoint[orbax]``.
"""

from ._orbax_utils import is_multi_device_array as is_multi_device_array
from ._orbax_utils import restore_args_from_target as restore_args_from_target
from ._orbax_utils import save_args_from_target as save_args_from_target

__all__ = ["is_multi_device_array", "restore_args_from_target", "save_args_from_target"]
