"""Errors of saving and restoring checkpoints."""

from __future__ import annotations

import errno
import os
from typing import Any

from ._base import FlaxenError


class AlreadyExistsError(FlaxenError, FileExistsError):
    """A file would be overwritten by a copy.

    Pass ``overwrite=True`` to replace existing files.

    Attributes:
      path: the existing file (also available as ``filename``).
    """

    def __init__(self, path: Any) -> None:
        self.path = path
        super().__init__(
            f'Trying overwrite an existing file: "{path}". Pass overwrite=True to replace it.'
        )
        self.errno = errno.EEXIST
        self.strerror = os.strerror(errno.EEXIST)
        self.filename = path


class InvalidCheckpointError(FlaxenError, ValueError):
    """A checkpoint is saved where one at the same or a later step exists.

    Saving would leave an outdated checkpoint behind the newer one. Save at a
    later step, or pass ``overwrite=True`` to replace the existing checkpoints
    in the directory.

    Attributes:
      path: the checkpoint path.
      step: the step being saved.
    """

    def __init__(self, path: Any, step: Any) -> None:
        self.path = path
        self.step = step
        super().__init__(
            f'Trying to save an outdated checkpoint at step: "{step}" and path:'
            f' "{path}": the directory already has a checkpoint at this or a later'
            " step. Save at a later step, or pass overwrite=True."
        )


class MPACheckpointingRequiredError(FlaxenError, ValueError):
    """A multiprocess array is saved without an async checkpoint manager.

    Arrays that span several processes (e.g. the output of a sharded ``jit``)
    are written by every process together; pass an asynchronous checkpoint
    manager to the save call:

    .. code-block:: python

      manager = GlobalAsyncCheckpointManager()
      save_checkpoint_multiprocess(..., gda_manager=manager)

    Attributes:
      path: the checkpoint path.
      step: the step being saved.
    """

    def __init__(self, path: Any, step: Any) -> None:
        self.path = path
        self.step = step
        super().__init__(
            f'Checkpoint failed at step: "{step}" and path: "{path}": the target'
            " contains a multiprocess array, which must be saved and restored with a"
            " GlobalAsyncCheckpointManager. Pass one as gda_manager=..."
        )


class MPARestoreDataCorruptedError(FlaxenError, ValueError):
    """A saved multiprocess array has no ``commit_success.txt`` marker.

    The marker is written last; without it the save was probably interrupted
    and the data may be corrupt. Restore an earlier step.

    Attributes:
      step: the step being restored.
      path: the array's directory.
    """

    def __init__(self, step: Any, path: Any) -> None:
        self.step = step
        self.path = path
        super().__init__(
            f'Restore checkpoint failed at step: "{step}" on multiprocess array at'
            f' "{path}": No "commit_success.txt" found in this directory. Was its save'
            " halted before completion? Restore an earlier step."
        )


class MPARestoreTargetRequiredError(FlaxenError, ValueError):
    """A multiprocess array is restored without a target array to restore into.

    Multiprocess arrays need a sharding (mesh and partition spec) to be
    rebuilt, which comes from the target. Pass a target with pre-created
    arrays at the same tree positions, or ``allow_partial_mpa_restoration=True``
    if a full target is impossible.

    Attributes:
      path: the checkpoint path.
      step: the step being restored.
      key: the position of the array in the tree, if known.
    """

    def __init__(self, path: Any, step: Any, key: Any = None) -> None:
        self.path = path
        self.step = step
        self.key = key
        where = f" The array is at {key}." if key is not None else ""
        super().__init__(
            f'Restore checkpoint failed at step: "{step}" and path: "{path}":'
            " Checkpoints containing a multiprocess array need to be restored with a"
            " target with pre-created arrays. Pass such a target, or use"
            f" allow_partial_mpa_restoration=True if you cannot provide a full one.{where}"
        )
