"""Saving from several JAX processes into one shared directory.

Every process takes part; process 0 decides (the overwrite check, whose
outcome is broadcast so that all processes raise or none does), prepares the
directory, commits and cleans up. Barriers separate the phases:

1. process 0 checks and prepares; barrier ``prepare``;
2. the backend writes under a temporary name every process agrees on: with
   a backend that writes multi-process arrays (Orbax) every process writes
   its shards, otherwise process 0 writes alone; barrier ``written``;
3. process 0 checksums, fsyncs and renames (see ``SaveJob.commit``), and
   deletes old checkpoints; barrier ``committed``.

With an ``async_manager`` step 3 runs on process 0's manager thread and the
last barrier is skipped (a barrier on a background thread could interleave
with the training step's collectives).
"""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np

from flaxen.errors import InvalidCheckpointError

from . import _fsutil, _naming, _save


def barrier(name: str) -> None:
    from jax.experimental import multihost_utils

    multihost_utils.sync_global_devices(f"flaxen_checkpoint:{name}")


def _agree(ok: bool) -> bool:
    """Process 0's ``ok``, on every process."""
    from jax.experimental import multihost_utils

    value = multihost_utils.broadcast_one_to_all(np.int32(1 if ok else 0))
    return bool(int(np.asarray(value)))


def save(
    ckpt_dir: str,
    path: str,
    step: Any,
    state: Any,
    backend: Any,
    prefix: str,
    keep: int,
    overwrite: bool,
    keep_every_n_steps: int | None,
    async_manager: Any,
    multiprocess_arrays: list[str],
) -> str:
    primary = jax.process_index() == 0
    ok = True
    if primary:
        try:
            _save.check_overwrite(ckpt_dir, path, step, prefix, overwrite)
        except InvalidCheckpointError:
            ok = False
    if not _agree(ok):
        raise InvalidCheckpointError(path, step)

    writes_everywhere = bool(getattr(backend, "supports_multiprocess_arrays", False))
    commits_itself = bool(getattr(backend, "commits_itself", False))
    job = _save.SaveJob(
        ckpt_dir, path, step, state, backend, prefix, keep, overwrite, keep_every_n_steps,
        tmp=path if commits_itself else _naming.shared_tmp_path(path),
        multiprocess_arrays=multiprocess_arrays,
    )  # fmt: skip
    if primary:
        os.makedirs(ckpt_dir, exist_ok=True)
        _save.remove_leftovers(ckpt_dir, prefix)
        if commits_itself:
            if overwrite and os.path.lexists(path):
                _fsutil.remove_checkpoint(path)
        elif not job.single_file:
            os.mkdir(job.tmp)
    barrier(f"prepare:{path}")

    if writes_everywhere or primary:
        job.write(record=primary and not commits_itself)
    barrier(f"written:{path}")

    if commits_itself:
        if primary:
            job.cleanup()
        barrier(f"committed:{path}")
        return path
    if primary and async_manager is not None:
        async_manager.save_async(job.commit)
        return path
    if primary:
        job.commit()
    barrier(f"committed:{path}")
    return path
