"""Crash-safe checkpointing with pluggable storage backends.

The Flax checkpoint API (``flax.training.checkpoints``), also reachable as
``flaxen.training.checkpoints``: :func:`save_checkpoint`,
:func:`save_checkpoint_multiprocess`, :func:`restore_checkpoint`,
:func:`latest_checkpoint`, :func:`available_steps`, :func:`convert_pre_linen`
and :class:`AsyncManager`. Formats are backends registered by plugins
(``msgpack``, Flax's single-file format, and ``orbax`` ship here); every save
is atomic and every restore checks the data against checksums written with it.
See this package's README for the design.
"""

from importlib.metadata import version as _version

from flaxen.errors import CheckpointFallbackWarning as CheckpointFallbackWarning
from flaxen.errors import CheckpointNotFoundError as CheckpointNotFoundError
from flaxen.errors import CorruptedCheckpointError as CorruptedCheckpointError
from flaxen.errors import UnknownCheckpointBackendError as UnknownCheckpointBackendError
from flaxen.errors import UnknownCheckpointFormatError as UnknownCheckpointFormatError

from ._async import AsyncManager as AsyncManager
from ._backends import backend_names as backend_names
from ._backends import get_backend as get_backend
from ._convert import convert_pre_linen as convert_pre_linen
from ._integrity import read_file as read_file
from ._integrity import write_file as write_file
from ._msgpack_backend import MsgpackBackend as MsgpackBackend
from ._naming import natural_sort as natural_sort
from ._orbax_backend import OrbaxBackend as OrbaxBackend
from ._restore import available_steps as available_steps
from ._restore import latest_checkpoint as latest_checkpoint
from ._restore import restore_checkpoint as restore_checkpoint
from ._save import save_checkpoint as save_checkpoint
from ._save import save_checkpoint_multiprocess as save_checkpoint_multiprocess

__version__ = _version("flaxen-checkpoint")
