"""Errors and warnings of saving and restoring checkpoints.

The first five are Flax's; the rest are flaxen additions for failures Flax
reports with a bare ``ValueError`` (or does not detect), raised by
flaxen-checkpoint and re-exported from :mod:`flaxen.checkpoint`.
"""

from __future__ import annotations

import errno
import os
from typing import Any

from ._base import FlaxenError, FlaxenWarning


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
    """A multiprocess array is saved to a format that cannot hold it.

    Arrays that span several processes (e.g. the output of a sharded ``jit``
    on a multi-host mesh) are written by every process together, each its own
    shards. The single-file msgpack format is written by process 0 alone, so
    it cannot hold them: save with the orbax backend instead:

    .. code-block:: python

      save_checkpoint_multiprocess(ckpt_dir, state, step, backend="orbax")

    Attributes:
      path: the checkpoint path.
      step: the step being saved.
    """

    def __init__(self, path: Any, step: Any) -> None:
        self.path = path
        self.step = step
        super().__init__(
            f'Checkpoint failed at step: "{step}" and path: "{path}": the target'
            " contains a multiprocess array (one spanning several processes), which"
            " the chosen checkpoint backend cannot save. Save it with the orbax"
            ' backend: pass backend="orbax" (or an orbax_checkpointer) to the save call.'
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


# -- flaxen additions ---------------------------------------------------------------------


class CheckpointNotFoundError(FlaxenError, ValueError):
    """``restore_checkpoint(..., step=N)`` names a step that is not in the directory.

    Flax raises ``ValueError('Matching checkpoint not found: ...')``; this
    error keeps that message (and ``ValueError`` as a base) and adds the steps
    that are present.

    Attributes:
      path: the checkpoint path that was looked for.
      available: the steps found in the directory.
    """

    def __init__(self, path: Any, available: Any = ()) -> None:
        self.path = path
        self.available = tuple(available)
        steps = ", ".join(str(s) for s in self.available) or "none"
        super().__init__(
            f"Matching checkpoint not found: {path}. Steps present in the directory:"
            f" {steps}. Pass one of them as step=, or step=None for the latest."
        )


class CorruptedCheckpointError(FlaxenError, ValueError):
    """A checkpoint's content does not match what was written.

    flaxen records the size and a checksum of every file of a checkpoint in a
    manifest, and checks them on restore. A mismatch means the file was
    truncated, damaged on disk, or replaced by another program after it was
    written. A checkpoint without a manifest (written by Flax) is checked
    only by its format's own structure.

    ``restore_checkpoint`` with ``step=None`` does not raise this for the
    latest step: it warns (:class:`CheckpointFallbackWarning`) and restores
    the newest intact step instead. Restore an earlier step explicitly, or
    delete the damaged one.

    Attributes:
      path: the damaged file.
      reason: what did not match.
    """

    def __init__(self, path: Any, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(
            f'Checkpoint file "{path}" is corrupted: {reason}. It was truncated or'
            " damaged after it was written (or rewritten by another program). Restore"
            " an earlier step (restore_checkpoint(..., step=N)), or delete this"
            " checkpoint."
        )


class UnknownCheckpointFormatError(FlaxenError, ValueError):
    """No installed checkpoint backend recognises a checkpoint.

    A checkpoint names the backend that wrote it in its manifest; without a
    manifest every installed backend is asked whether it recognises the
    files. Install the distribution that provides the backend (for example
    ``pip install flaxen-checkpoint[orbax]`` for Orbax checkpoints).

    Attributes:
      path: the checkpoint path.
      backend: the backend named by the manifest, if any.
      available: the backends that are installed.
    """

    def __init__(self, path: Any, backend: str | None, available: Any) -> None:
        self.path = path
        self.backend = backend
        self.available = tuple(available)
        names = ", ".join(self.available) or "none"
        if backend is None:
            what = "no installed checkpoint backend recognises its files"
        else:
            what = f'it was written by the "{backend}" backend, which is not installed'
        super().__init__(
            f'Cannot restore checkpoint "{path}": {what} (installed backends: {names}).'
            " Install the distribution that provides the backend, e.g."
            " `pip install flaxen-checkpoint[orbax]` for Orbax checkpoints."
        )


class UnknownCheckpointBackendError(FlaxenError, LookupError):
    """``backend=`` names a checkpoint backend that no installed plugin registered.

    Backends are plugins (the ``flaxen_checkpoint_backends`` hook);
    ``flaxen plugins`` lists what is installed.

    Attributes:
      name: the requested backend.
      available: the installed backends.
    """

    def __init__(self, name: Any, available: Any) -> None:
        self.name = name
        self.available = tuple(available)
        names = ", ".join(self.available) or "none"
        super().__init__(
            f"No checkpoint backend named {name!r} is installed (installed: {names})."
            " Install the distribution that provides it, or pick an installed one;"
            " `flaxen plugins` lists every plugin."
        )


class CheckpointFallbackWarning(FlaxenWarning):
    """The latest checkpoint was damaged; an earlier, intact one was restored.

    Issued by ``restore_checkpoint`` with ``step=None`` when the newest step
    fails its integrity check (see :class:`CorruptedCheckpointError`). The
    message names the checkpoint restored and what is wrong with the latest;
    delete the damaged checkpoint, or turn the warning into an error with
    ``warnings.simplefilter("error", CheckpointFallbackWarning)`` to stop
    instead.
    """
