"""Errors and warnings of flaxen-checkpoint beyond Flax's catalog.

Flax's checkpoint errors (``InvalidCheckpointError``, ``AlreadyExistsError``,
the ``MPA*`` errors) live in :mod:`flaxen.errors`. The failures below have no
Flax counterpart (Flax raises a bare ``ValueError`` or returns a wrong tree),
so they are defined here, on the same base class, and re-exported from
:mod:`flaxen.checkpoint`.
"""

from __future__ import annotations

from typing import Any

from flaxen.errors import FlaxenError, FlaxenWarning


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
    """The latest checkpoint was damaged; an earlier, intact one was restored."""
