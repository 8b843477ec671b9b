"""``restore_checkpoint``, ``latest_checkpoint`` and ``available_steps``."""

from __future__ import annotations

import logging
import os
import warnings
from typing import Any

import jax

from flaxen.errors import (
    CheckpointFallbackWarning,
    CheckpointNotFoundError,
    CorruptedCheckpointError,
    MPARestoreDataCorruptedError,
    MPARestoreTargetRequiredError,
    MsgpackRestoreError,
)
from flaxen.plugins import CheckpointBackend
from flaxen.serialization import from_state_dict, to_state_dict

from . import _backends, _integrity, _naming

logger = logging.getLogger("flaxen.checkpoint")


def latest_checkpoint(ckpt_dir: str | os.PathLike[str], prefix: str = "checkpoint_") -> str | None:
    """Retrieve the path of the latest checkpoint in a directory.

    Only ``<prefix><number>`` entries count: temporary files of interrupted
    saves and other stray names are ignored.

    Args:
      ckpt_dir: str: directory of checkpoints to restore from.
      prefix: str: name prefix of checkpoint files.

    Returns:
      The latest checkpoint path or None if no checkpoints were found.

    >>> import tempfile
    >>> from flaxen.checkpoint import latest_checkpoint
    >>> latest_checkpoint(tempfile.mkdtemp()) is None
    True
    """
    ckpt_dir = os.fspath(ckpt_dir)
    names = _naming.checkpoint_names(ckpt_dir, prefix)
    if not names:
        return None
    return os.path.join(ckpt_dir, names[-1])


def available_steps(
    ckpt_dir: str | os.PathLike[str], prefix: str = "checkpoint_", step_type: type = int
) -> list[int | float]:
    """Return step numbers of available checkpoints in a directory.

    Args:
      ckpt_dir: str: directory of checkpoints to restore from.
      prefix: str: name prefix of checkpoint files.
      step_type: type: type for steps, int (default) or float.

    Returns:
      Step numbers of the checkpoints, in increasing order.

    Raises:
      ValueError: a step does not convert to ``step_type`` (``int('1.5')``).

    >>> import tempfile, numpy as np
    >>> from flaxen.checkpoint import available_steps, save_checkpoint
    >>> ckpt_dir = tempfile.mkdtemp()
    >>> for step in (1, 2, 10):
    ...   _ = save_checkpoint(ckpt_dir, {'x': np.zeros(1)}, step, keep=5, backend='msgpack')
    >>> available_steps(ckpt_dir)
    [1, 2, 10]
    """
    ckpt_dir = os.fspath(ckpt_dir)
    steps = []
    for name in _naming.checkpoint_names(ckpt_dir, prefix):
        suffix = _naming.step_suffix(name, prefix)
        steps.append(step_type(suffix))
    return steps


def is_checkpoint_dir(path: str) -> bool:
    """Whether the directory ``path`` is one checkpoint (not a directory of them)."""
    if not os.path.isdir(path):
        return False
    if os.path.exists(os.path.join(path, _naming.MANIFEST_NAME)):
        return True
    return _backends.recognized(path) is not None


#: Written by Orbax as the last file of a complete checkpoint.
COMMIT_SUCCESS_FILE = "commit_success.txt"


def _leaf_at(state: Any, key: str) -> Any:
    node = state
    for part in key.split("/"):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list | tuple) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def check_multiprocess_arrays(
    path: str, step: Any, manifest: Any, state_target: Any, allow_partial: bool
) -> None:
    """A checkpoint with multi-process arrays needs its commit marker and a sharded target."""
    if manifest is None or not manifest.multiprocess_arrays:
        return
    if os.path.isdir(path) and not os.path.exists(os.path.join(path, COMMIT_SUCCESS_FILE)):
        raise MPARestoreDataCorruptedError(step, path)
    if allow_partial:
        return
    for key in manifest.multiprocess_arrays:
        if not isinstance(_leaf_at(state_target, key), jax.Array):
            raise MPARestoreTargetRequiredError(path, step, key)


def restore_path(
    path: str,
    target: Any,
    backend: CheckpointBackend | None = None,
    parallel: bool = True,
    configure: Any = None,
    step: Any = None,
    allow_partial_mpa_restoration: bool = False,
) -> Any:
    """Restores the checkpoint at ``path`` (a file or a directory), verified."""
    manifest = _integrity.read_manifest(path)
    chosen = backend if backend is not None else _backends.detect(path, manifest)
    if configure is not None:
        chosen = configure(chosen)
    state_target = None if target is None else to_state_dict(target)
    check_multiprocess_arrays(
        path,
        os.path.basename(path) if step is None else step,
        manifest,
        state_target,
        allow_partial_mpa_restoration,
    )
    if getattr(chosen, "saves_pytree", False):
        state_target = target
    session = _integrity.RestoreSession(path, manifest, parallel)
    session.check_sizes()
    with _integrity.restoring(session):
        try:
            state = chosen.restore(path, state_target)
        except CorruptedCheckpointError:
            raise
        except Exception as error:
            # Damaged data makes a backend fail in its own way: when the
            # checksums disagree, that is the error to report.
            session.verify_rest()
            if manifest is None and isinstance(error, MsgpackRestoreError):
                raise CorruptedCheckpointError(path, error.reason) from error
            raise
    session.verify_rest()
    # A backend that saves pytrees (Orbax) gives back lists and tuples, or the
    # target's own classes: as state dicts they read like every other format.
    state = to_state_dict(state)
    if target is None:
        return state
    return from_state_dict(target, state)


def restore_checkpoint(
    ckpt_dir: str | os.PathLike[str],
    target: Any | None,
    step: int | float | None = None,
    prefix: str = "checkpoint_",
    parallel: bool = True,
    gda_manager: Any = None,
    allow_partial_mpa_restoration: bool = False,
    orbax_checkpointer: Any = None,
    orbax_transforms: dict[str, Any] | None = None,
    *,
    backend: str | CheckpointBackend | None = None,
) -> Any:
    """Restore last/best checkpoint from checkpoints in path.

    Sorts the checkpoint files naturally, returning the highest-valued
    file, e.g.:

    * ``ckpt_1, ckpt_2, ckpt_3 --> ckpt_3``
    * ``ckpt_0.01, ckpt_0.1, ckpt_0.001 --> ckpt_0.1``
    * ``ckpt_-1.0, ckpt_1.0, ckpt_1e5 --> ckpt_1e5``

    The format is detected from the files (flaxen's manifest names the
    backend; Flax's msgpack files and Orbax directories are recognised
    without one), so checkpoints written by Flax, by older flaxen versions or
    with another backend keep loading. Every file is checked against the
    checksums recorded when it was written; a damaged file raises
    :class:`~flaxen.checkpoint.CorruptedCheckpointError` naming it. When the
    latest checkpoint is restored (``step=None``) and it is damaged, the
    newest intact one is restored instead, with a
    :class:`~flaxen.checkpoint.CheckpointFallbackWarning`.

    Args:
      ckpt_dir: str: checkpoint file or directory of checkpoints to restore from.
      target: matching object to rebuild via deserialized state-dict. If None,
        the deserialized state-dict is returned as-is.
      step: int or float: step number to load or None to load latest. If
        specified, ckpt_dir must be a directory.
      prefix: str: name prefix of checkpoint files.
      parallel: bool: whether to check (and read) checkpoint blocks in
        parallel, for speed.
      gda_manager: accepted for compatibility with Flax's signature; unused.
      allow_partial_mpa_restoration: If true, the given target doesn't have to
        contain all valid multiprocess arrays. As a result, the restored Pytree
        may have some MPAs not restored correctly (as whole numpy arrays, or
        with the shardings recorded in the checkpoint). Use this if you cannot
        provide a fully valid target and don't need all the MPAs in the
        checkpoint to be restored.
      orbax_checkpointer: the Orbax checkpointer that handles the underlying
        restore, if the given checkpoint is saved with Orbax.
      orbax_transforms: the Orbax transformations passed to the restore of an
        Orbax checkpoint (e.g. ``{}`` to fill fields the checkpoint lacks
        from ``target``).
      backend: flaxen only: read with this backend instead of detecting it.

    Returns:
      Restored target updated from checkpoint file, or if no step specified and
      no checkpoint files present, returns the passed-in target unchanged.
      If a file path is specified and is not found, the passed-in target will be
      returned. This is to match the behavior of the case where a directory path
      is specified but the directory has not yet been created.

    Raises:
      CheckpointNotFoundError: ``step`` is given and there is no such checkpoint
        (a ``ValueError``).
      CorruptedCheckpointError: the checkpoint is damaged (for ``step=None``:
        every checkpoint in the directory is).
      MPARestoreTargetRequiredError: the checkpoint holds arrays that spanned
        several processes and ``target`` has no array (whose sharding to
        restore them with) at their place.
      MPARestoreDataCorruptedError: such a checkpoint lacks the commit marker
        written last by its save.

    Example:

      >>> import tempfile, numpy as np
      >>> from flaxen.checkpoint import save_checkpoint, restore_checkpoint
      >>> ckpt_dir = tempfile.mkdtemp()
      >>> _ = save_checkpoint(ckpt_dir, {'w': np.ones(2), 'n': 3}, step=1, backend='msgpack')
      >>> restore_checkpoint(ckpt_dir, None)
      {'w': array([1., 1.]), 'n': 3}
      >>> restore_checkpoint(ckpt_dir, None, step=1)['n']
      3
    """
    del gda_manager
    ckpt_dir = os.fspath(ckpt_dir)
    wait = getattr(orbax_checkpointer, "wait_until_finished", None)
    if wait is not None:
        wait()  # a save of this asynchronous checkpointer may still be in flight
    chosen = None if backend is None else _backends.resolve(backend)
    configure = None
    if orbax_checkpointer is not None or orbax_transforms is not None:

        def configure(b: Any) -> Any:
            if hasattr(b, "configured"):
                return b.configured(checkpointer=orbax_checkpointer, transforms=orbax_transforms)
            return b

    def restore(path: str) -> Any:
        logger.info("Restoring checkpoint from %s", path)
        name = os.path.basename(path)
        suffix = _naming.step_suffix(name, prefix)
        return restore_path(
            path, target, chosen, parallel, configure,
            step=name if suffix is None else suffix,
            allow_partial_mpa_restoration=allow_partial_mpa_restoration,
        )  # fmt: skip

    if step is not None:
        path = _naming.checkpoint_path(ckpt_dir, step, prefix)
        if not os.path.lexists(path):
            found = [
                _naming.step_suffix(n, prefix) for n in _naming.checkpoint_names(ckpt_dir, prefix)
            ]
            raise CheckpointNotFoundError(path, found)
        return restore(path)
    if os.path.isdir(ckpt_dir) and is_checkpoint_dir(ckpt_dir):
        return restore(ckpt_dir)
    if os.path.isdir(ckpt_dir):
        names = _naming.checkpoint_names(ckpt_dir, prefix)
        if not names:
            logger.info("Found no checkpoint files in %s with prefix %s", ckpt_dir, prefix)
            return target
        return _restore_newest_intact(ckpt_dir, names, restore)
    if os.path.isfile(ckpt_dir):
        return restore(ckpt_dir)
    logger.info("Checkpoint %s does not exist; returning the target unchanged", ckpt_dir)
    return target


def _restore_newest_intact(ckpt_dir: str, names: list[str], restore: Any) -> Any:
    damaged: list[CorruptedCheckpointError] = []
    for name in reversed(names):
        try:
            result = restore(os.path.join(ckpt_dir, name))
        except CorruptedCheckpointError as error:
            damaged.append(error)
            continue
        if damaged:
            detail = "; ".join(str(e.message) for e in damaged)
            warnings.warn(
                f"Restored {os.path.join(ckpt_dir, name)} instead of the latest"
                f" checkpoint, which is damaged: {detail}",
                CheckpointFallbackWarning,
                stacklevel=3,
            )
        return result
    raise damaged[0]
