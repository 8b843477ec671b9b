"""Saving in the background: ``AsyncManager``."""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable
from typing import Any


class AsyncManager:
    """Runs checkpoint saves on a background thread, one at a time.

    Pass the same manager to every ``save_checkpoint(..., async_manager=...)``
    of a training loop. ``save_checkpoint`` takes a snapshot of the target
    (so training may go on changing or donating its arrays), checks for
    errors such as :class:`~flaxen.errors.InvalidCheckpointError` right away,
    and returns; the writing, the atomic commit and the removal of old
    checkpoints happen on the manager's thread. A save waits for the previous
    one to finish, so ``keep`` and ``overwrite`` stay consistent.

    Once :meth:`wait_previous_save` has returned, the checkpoint is on stable
    storage: a crash of the process afterwards cannot lose it. A crash
    before that leaves the previous checkpoints intact (the new one is
    written under a temporary name and renamed only when complete). A save
    that failed in the background raises its error from the next
    :meth:`wait_previous_save` (or the next save).

    Args:
      max_workers: threads of the underlying executor. One is enough: saves
        never run concurrently.

    Example:

      >>> import tempfile, numpy as np
      >>> from flaxen.checkpoint import AsyncManager, save_checkpoint, restore_checkpoint
      >>> ckpt_dir = tempfile.mkdtemp()
      >>> manager = AsyncManager()
      >>> save_checkpoint(ckpt_dir, {'w': np.ones(3)}, step=1, async_manager=manager,
      ...                 backend='msgpack')  # doctest: +ELLIPSIS
      '.../checkpoint_1'
      >>> manager.wait_previous_save()  # durable from here on
      >>> restore_checkpoint(ckpt_dir, None)
      {'w': array([1., 1., 1.])}
    """

    def __init__(self, max_workers: int = 1) -> None:
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="flaxen-checkpoint-async"
        )
        self._future: concurrent.futures.Future[Any] | None = None
        self._lock = threading.Lock()

    def wait_previous_save(self) -> None:
        """Blocks until the save in flight (if any) is committed; raises its error."""
        with self._lock:
            future, self._future = self._future, None
        if future is not None:
            future.result()

    def save_async(self, task: Callable[[], Any]) -> None:
        """Runs ``task`` in the background after the previous save finished."""
        self.wait_previous_save()
        with self._lock:
            self._future = self._executor.submit(task)
