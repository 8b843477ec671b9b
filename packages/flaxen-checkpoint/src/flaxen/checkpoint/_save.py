"""``save_checkpoint`` and ``save_checkpoint_multiprocess``.

A save never changes what is already on disk until the new checkpoint is
complete: the backend writes under a hidden temporary name, every file and
the directory are fsynced, the manifest (sizes and checksums) is written, and
only then is the temporary renamed to ``<prefix><step>`` and the parent
directory fsynced. Old checkpoints are deleted after that, each renamed to a
hidden trash name before its (non-atomic) recursive delete.
"""

from __future__ import annotations

import math
import os
from typing import Any

import jax
import numpy as np

from flaxen.errors import InvalidCheckpointError, MPACheckpointingRequiredError
from flaxen.plugins import CheckpointBackend
from flaxen.serialization import to_state_dict

from . import _backends, _fsutil, _integrity, _multihost, _naming
from ._async import AsyncManager


def _choose_backend(
    backend: str | CheckpointBackend | None, orbax_checkpointer: Any
) -> CheckpointBackend:
    if orbax_checkpointer is not None:
        chosen = _backends.get_backend("orbax") if backend is None else _backends.resolve(backend)
        if not hasattr(chosen, "configured"):
            raise TypeError(
                f"orbax_checkpointer= is only meaningful with the orbax backend, not {chosen!r}."
            )
        return chosen.configured(checkpointer=orbax_checkpointer)
    if backend is None:
        return _backends.default_backend()
    return _backends.resolve(backend)


def _is_mpa(x: Any) -> bool:
    return isinstance(x, jax.Array) and not x.is_fully_addressable


def mpa_keys(state: Any) -> list[str]:
    """'/'-joined keys of the multi-process arrays in a state dict."""
    found = []

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{prefix}/{key}" if prefix else str(key))
        elif isinstance(node, list | tuple):
            for i, value in enumerate(node):
                walk(value, f"{prefix}/{i}" if prefix else str(i))
        elif _is_mpa(node):
            found.append(prefix)

    walk(state, "")
    return found


def _snapshot(state: Any) -> Any:
    """A copy of every array leaf, so the caller may mutate or donate its arrays.

    numpy arrays are copied in host memory, jax arrays on their device (they
    stay jax arrays, so a backend saving pytrees records the same types).
    """

    def copy(x: Any) -> Any:
        if isinstance(x, np.ndarray):
            return np.array(x, copy=True)
        if isinstance(x, jax.Array) and not _is_mpa(x):
            return jax.numpy.array(x, copy=True)
        return x

    return jax.tree_util.tree_map(copy, state)


def _step_float(step: Any) -> float:
    return float(np.asarray(step))


def check_overwrite(ckpt_dir: str, path: str, step: Any, prefix: str, overwrite: bool) -> None:
    """Raises InvalidCheckpointError when a checkpoint at ``step`` or later exists."""
    if overwrite:
        return
    names = _naming.checkpoint_names(ckpt_dir, prefix)
    if not names:
        return
    name = os.path.basename(path)
    if name in names or _naming.step_value(names[-1], prefix) >= _step_float(step):
        raise InvalidCheckpointError(path, step)


def remove_leftovers(ckpt_dir: str, prefix: str) -> None:
    """Deletes debris of interrupted saves and deletes, and orphaned manifests."""
    for name in _naming.listdir(ckpt_dir):
        if _naming.is_leftover(name, prefix):
            _fsutil.remove(os.path.join(ckpt_dir, name))
    names = _naming.checkpoint_names(ckpt_dir, prefix)
    for orphan in _naming.orphan_sidecars(ckpt_dir, names, prefix):
        _fsutil.remove(orphan)


def apply_keep(
    ckpt_dir: str,
    prefix: str,
    keep: int,
    keep_every_n_steps: int | None,
    protect: frozenset[str] = frozenset(),
    pending: str | None = None,
) -> None:
    """Deletes checkpoints beyond the newest ``keep``, as Flax does.

    Of the older ones, those ``keep_every_n_steps`` or more steps after the
    last one kept are kept too (walking from the oldest; like Flax, a step of
    0 is never kept this way). ``pending`` names a checkpoint still being
    written by an asynchronous Orbax checkpointer: it counts as present, and
    the newest committed checkpoint is not deleted until it is.
    """
    names = _naming.checkpoint_names(ckpt_dir, prefix)
    if pending is not None and pending not in names:
        if names:
            protect = protect | {names[-1]}
        names = _naming.natural_sort([*names, pending])
    if len(names) <= keep:
        return
    last_kept = -math.inf
    for name in names[:-keep]:
        if keep_every_n_steps:
            value = _naming.step_value(name, prefix)
            if value and value - last_kept >= keep_every_n_steps:
                last_kept = value
                continue
        if name in protect or name == pending:
            continue
        _fsutil.remove_checkpoint(os.path.join(ckpt_dir, name))


def remove_later(ckpt_dir: str, prefix: str, step: Any) -> None:
    """With ``overwrite=True``: deletes the checkpoints after ``step``."""
    value = _step_float(step)
    for name in _naming.checkpoint_names(ckpt_dir, prefix):
        if _naming.step_value(name, prefix) > value:
            _fsutil.remove_checkpoint(os.path.join(ckpt_dir, name))


class SaveJob:
    """One save: write under a temporary name, then commit and clean up."""

    def __init__(
        self,
        ckpt_dir: str,
        path: str,
        step: Any,
        state: Any,
        backend: CheckpointBackend,
        prefix: str,
        keep: int,
        overwrite: bool,
        keep_every_n_steps: int | None,
        tmp: str | None = None,
        multiprocess_arrays: list[str] | None = None,
    ) -> None:
        self.ckpt_dir = ckpt_dir
        self.path = path
        self.step = step
        self.state = state
        self.backend = backend
        self.prefix = prefix
        self.keep = keep
        self.overwrite = overwrite
        self.keep_every_n_steps = keep_every_n_steps
        self.tmp = tmp or _naming.tmp_path(path)
        self.single_file = bool(getattr(backend, "single_file", False))
        self.session = _integrity.SaveSession(self.tmp, _backends.describe(backend))
        self.session.manifest.multiprocess_arrays = list(multiprocess_arrays or ())

    def prepare(self) -> None:
        os.makedirs(self.ckpt_dir, exist_ok=True)
        remove_leftovers(self.ckpt_dir, self.prefix)
        if not self.single_file:
            os.mkdir(self.tmp)

    def write(self, record: bool = True) -> None:
        """Runs the backend; ``record``: collect checksums (the process that commits)."""
        _fsutil.pause_point("before_write")
        if record:
            with _integrity.saving(self.session):
                self.backend.save(self.tmp, self.state)
        else:
            self.backend.save(self.tmp, self.state)

    def commit(self) -> None:
        """Checksums, fsyncs and renames the written checkpoint into place, then cleans up."""
        tmp, path = self.tmp, self.path
        try:
            if not os.path.lexists(tmp):
                raise RuntimeError(
                    f"checkpoint backend {_backends.describe(self.backend)!r} wrote nothing"
                    f" at {tmp}."
                )
            manifest = self.session.complete()
            _fsutil.fsync_tree(tmp)
            _fsutil.pause_point("after_write")
            if not self.single_file:
                _fsutil.write_small_file(
                    os.path.join(tmp, _naming.MANIFEST_NAME), manifest.to_json()
                )
                _fsutil.fsync_path(tmp)
            _fsutil.pause_point("before_rename")
            if self.single_file and self.overwrite:
                # The manifest of the version being replaced must not outlive it.
                _fsutil.remove(_naming.sidecar_path(path))
            _fsutil.commit_rename(tmp, path, self.overwrite)
        except BaseException:
            _fsutil.remove(tmp)
            raise
        _fsutil.pause_point("after_rename")
        if self.single_file:
            sidecar = _naming.sidecar_path(path)
            sidecar_tmp = _naming.tmp_path(sidecar)
            _fsutil.write_small_file(sidecar_tmp, manifest.to_json())
            os.replace(sidecar_tmp, sidecar)
            _fsutil.fsync_path(self.ckpt_dir)
        _fsutil.pause_point("before_cleanup")
        self.cleanup()

    def cleanup(self, pending: str | None = None) -> None:
        if self.overwrite:
            remove_later(self.ckpt_dir, self.prefix, self.step)
        apply_keep(
            self.ckpt_dir,
            self.prefix,
            self.keep,
            self.keep_every_n_steps,
            protect=frozenset({os.path.basename(self.path)}),
            pending=pending,
        )

    def run(self) -> None:
        """The whole save on this thread (used directly or by an AsyncManager)."""
        try:
            self.prepare()
            self.write()
        except BaseException:
            _fsutil.remove(self.tmp)
            raise
        self.commit()


def _save(
    ckpt_dir: str | os.PathLike[str],
    target: Any,
    step: Any,
    prefix: str,
    keep: int,
    overwrite: bool,
    keep_every_n_steps: int | None,
    async_manager: AsyncManager | None,
    orbax_checkpointer: Any,
    backend: str | CheckpointBackend | None,
    multiprocess: bool,
) -> str:
    ckpt_dir = os.fspath(ckpt_dir)
    path = _naming.checkpoint_path(ckpt_dir, step, prefix)
    chosen = _choose_backend(backend, orbax_checkpointer)
    if async_manager is not None:
        async_manager.wait_previous_save()
    state = to_state_dict(target)
    mpas = mpa_keys(state)
    has_mpa = bool(mpas)
    handles_mpa = bool(getattr(chosen, "supports_multiprocess_arrays", False))
    if has_mpa and not handles_mpa:
        raise MPACheckpointingRequiredError(path, step)
    if getattr(chosen, "saves_pytree", False):
        state = target
    if jax.process_count() > 1 and (multiprocess or handles_mpa):
        return _multihost.save(
            ckpt_dir, path, step, state, chosen, prefix, keep, overwrite,
            keep_every_n_steps, async_manager, mpas,
        )  # fmt: skip
    if getattr(chosen, "commits_itself", False):
        return _save_committing_itself(
            ckpt_dir, path, step, state, chosen, prefix, keep, overwrite, keep_every_n_steps
        )
    check_overwrite(ckpt_dir, path, step, prefix, overwrite)
    if async_manager is not None:
        state = _snapshot(state)
    job = SaveJob(ckpt_dir, path, step, state, chosen, prefix, keep, overwrite, keep_every_n_steps)
    if async_manager is not None:
        async_manager.save_async(job.run)
    else:
        job.run()
    return path


def _save_committing_itself(
    ckpt_dir: str,
    path: str,
    step: Any,
    state: Any,
    backend: Any,
    prefix: str,
    keep: int,
    overwrite: bool,
    keep_every_n_steps: int | None,
) -> str:
    """A user-supplied Orbax checkpointer writes ``path`` itself (its own tmp + rename)."""
    check_overwrite(ckpt_dir, path, step, prefix, overwrite)
    os.makedirs(ckpt_dir, exist_ok=True)
    remove_leftovers(ckpt_dir, prefix)
    if overwrite and os.path.lexists(path):
        backend.wait()
        _fsutil.remove_checkpoint(path)
    backend.save(path, state)
    job = SaveJob(ckpt_dir, path, step, state, backend, prefix, keep, overwrite, keep_every_n_steps)
    asynchronous = hasattr(backend.checkpointer, "wait_until_finished")
    job.cleanup(pending=os.path.basename(path) if asynchronous else None)
    return path


def save_checkpoint(
    ckpt_dir: str | os.PathLike[str],
    target: Any,
    step: int | float,
    prefix: str = "checkpoint_",
    keep: int = 1,
    overwrite: bool = False,
    keep_every_n_steps: int | None = None,
    async_manager: AsyncManager | None = None,
    orbax_checkpointer: Any = None,
    *,
    backend: str | CheckpointBackend | None = None,
) -> str:
    """Save a checkpoint of the model. Suitable for single-host.

    In this method, every JAX process saves the checkpoint on its own. Do
    not use it if you have multiple processes and you intend for them to save
    data to a common directory; use :func:`save_checkpoint_multiprocess`.

    Pre-emption safe: the checkpoint is written under a temporary name,
    fsynced with a manifest of its checksums, and renamed into place; only
    then are older checkpoints removed. With ``async_manager`` the writing
    and the commit happen on the manager's thread and are complete once
    ``async_manager.wait_previous_save()`` returns.

    Args:
      ckpt_dir: str or pathlib-like path to store checkpoint files in.
      target: serializable flaxen object, usually a train state or variables.
      step: int or float: training step number or other metric number.
      prefix: str: checkpoint file name prefix.
      keep: number of past checkpoint files to keep.
      overwrite: overwrite existing checkpoint files if a checkpoint at the
        current or a later step already exits (default: False).
      keep_every_n_steps: if defined, keep every checkpoints every n steps (in
        addition to keeping the last 'keep' checkpoints).
      async_manager: if defined, the save will run without blocking the main
        thread. Only works for single host. An ongoing save still blocks
        subsequent saves, to make sure overwrite/keep logic works correctly.
      orbax_checkpointer: if defined, the save is done by this Orbax
        checkpointer (which then commits the checkpoint itself).
      backend: flaxen only: the checkpoint backend, by name (``'msgpack'``,
        ``'orbax'`` or one a plugin installed) or as an object. By default
        ``'orbax'`` when the ``flaxen_use_orbax_checkpointing`` flag is on
        and orbax-checkpoint is installed, else ``'msgpack'``.

    Returns:
      Filename of saved checkpoint.

    Raises:
      InvalidCheckpointError: a checkpoint at ``step`` or a later one exists
        and ``overwrite`` is False.
      MPACheckpointingRequiredError: ``target`` holds an array spanning
        several processes and the backend cannot write those.

    Example:

      >>> import tempfile, numpy as np
      >>> from flaxen.checkpoint import save_checkpoint, restore_checkpoint
      >>> ckpt_dir = tempfile.mkdtemp()
      >>> path = save_checkpoint(ckpt_dir, {'w': np.arange(3)}, step=7, backend='msgpack')
      >>> path.endswith('checkpoint_7')
      True
      >>> restore_checkpoint(ckpt_dir, target={'w': np.zeros(3, int)})
      {'w': array([0, 1, 2])}
    """
    return _save(
        ckpt_dir, target, step, prefix, keep, overwrite, keep_every_n_steps,
        async_manager, orbax_checkpointer, backend, multiprocess=False,
    )  # fmt: skip


def save_checkpoint_multiprocess(
    ckpt_dir: str | os.PathLike[str],
    target: Any,
    step: int | float,
    prefix: str = "checkpoint_",
    keep: int = 1,
    overwrite: bool = False,
    keep_every_n_steps: int | None = None,
    async_manager: AsyncManager | None = None,
    gda_manager: Any = None,
    orbax_checkpointer: Any = None,
    *,
    backend: str | CheckpointBackend | None = None,
) -> str:
    """Save a checkpoint of the model in multi-process environment.

    Every process calls it with the same arguments. Arrays sharded across
    processes are written by the processes holding their shards (the
    ``orbax`` backend); everything else, the commit (manifest, rename) and
    the removal of old checkpoints are done by process 0, between barriers,
    so when the call returns on any process the checkpoint is in place.

    Args:
      ckpt_dir: str or pathlib-like path to store checkpoint files in.
      target: serializable flaxen object, usually a train state.
      step: int or float: training step number or other metric number.
      prefix: str: checkpoint file name prefix.
      keep: number of past checkpoint files to keep.
      overwrite: overwrite existing checkpoint files if a checkpoint at the
        current or a later step already exits (default: False).
      keep_every_n_steps: if defined, keep every checkpoints every n steps (in
        addition to keeping the last 'keep' checkpoints).
      async_manager: if defined, process 0's commit runs in the background.
      gda_manager: accepted for compatibility with Flax's signature; flaxen
        writes multi-process arrays with the ``orbax`` backend and does not
        use it.
      orbax_checkpointer: if defined, the save is done by this Orbax
        checkpointer.
      backend: flaxen only: the checkpoint backend (see :func:`save_checkpoint`).

    Returns:
      Filename of saved checkpoint.

    Raises:
      InvalidCheckpointError: a checkpoint at ``step`` or a later one exists
        and ``overwrite`` is False (raised on every process).
      MPACheckpointingRequiredError: ``target`` holds an array spanning
        several processes and the backend cannot write those (use the
        ``orbax`` backend).
    """
    del gda_manager
    return _save(
        ckpt_dir, target, step, prefix, keep, overwrite, keep_every_n_steps,
        async_manager, orbax_checkpointer, backend, multiprocess=True,
    )  # fmt: skip
