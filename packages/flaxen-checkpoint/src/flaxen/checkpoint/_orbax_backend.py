"""The ``orbax`` backend: checkpoints in Orbax's PyTree layout.

orbax-checkpoint is imported the first time this backend saves or restores,
never when flaxen-checkpoint is imported or the backend is merely looked up
or asked whether it recognises a directory. Flax (with
``flax_use_orbax_checkpointing``) and ``orbax.checkpoint.PyTreeCheckpointer``
read these checkpoints, and this backend reads theirs.
"""

from __future__ import annotations

import os
import threading
import warnings
from typing import Any

#: Files by which an Orbax PyTree checkpoint directory is recognised.
ORBAX_MARKERS = ("_METADATA", "_CHECKPOINT_METADATA", "manifest.ocdbt", "checkpoint")
_INSTALL_HINT = (
    "The orbax checkpoint backend needs orbax-checkpoint: pip install 'flaxen-checkpoint[orbax]'"
)


def import_orbax() -> Any:
    """``orbax.checkpoint``, or an ImportError that says what to install."""
    try:
        import orbax.checkpoint as ocp
    except ImportError as error:
        raise ImportError(f"{_INSTALL_HINT} ({error}).") from error
    return ocp


def orbax_available() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("orbax.checkpoint") is not None
    except (ImportError, ValueError):
        return False


def _host_local(x: Any) -> bool:
    import jax

    return isinstance(x, jax.Array) and x.is_fully_addressable


def _multi_process() -> bool:
    import jax

    return jax.process_count() > 1


def _leaf_restore_args(ocp: Any, x: Any) -> Any:
    import jax
    import numpy as np

    if isinstance(x, jax.Array) and not (_multi_process() and x.is_fully_addressable):
        return ocp.ArrayRestoreArgs(restore_type=jax.Array, sharding=x.sharding, dtype=x.dtype)
    if isinstance(x, np.ndarray | np.generic):
        return ocp.RestoreArgs(restore_type=np.ndarray, dtype=np.asarray(x).dtype)
    return ocp.RestoreArgs(restore_type=type(x) if isinstance(x, int | float | str) else None)


class OrbaxBackend:
    """Saves a state dict with ``orbax.checkpoint``'s PyTree handler.

    Args:
      checkpointer: an ``orbax.checkpoint.Checkpointer`` (or
        ``AsyncCheckpointer``) to save and restore with; by default a
        synchronous one over a ``PyTreeCheckpointHandler``. A checkpointer
        passed in commits its checkpoints itself (Orbax's own temporary
        directory and rename), so flaxen writes no manifest for them.
      transforms: Orbax transformations for restoring into a target of a
        different structure (``orbax_transforms`` of ``restore_checkpoint``).
      use_compression: compress array data. Off by default: checkpoints of
        trained float weights barely compress, and compression costs most of
        Orbax's save time. Either way Flax and Orbax read the result.
    """

    name = "orbax"
    single_file = False
    #: Every process writes the shards it holds of multi-process arrays.
    supports_multiprocess_arrays = True
    #: Saves the target pytree itself, as Flax does (lists stay sequences in
    #: Orbax's metadata, so Orbax restores into the original structure).
    saves_pytree = True

    def __init__(
        self,
        checkpointer: Any = None,
        transforms: Any = None,
        use_compression: bool = False,
    ) -> None:
        self.checkpointer = checkpointer
        self.transforms = transforms
        self.use_compression = use_compression
        self._own: Any = None
        self._lock = threading.Lock()

    @property
    def commits_itself(self) -> bool:
        """Whether the checkpointer writes to the final path itself (a user-supplied one)."""
        return self.checkpointer is not None

    def configured(self, checkpointer: Any = None, transforms: Any = None) -> OrbaxBackend:
        """This backend with a user's checkpointer and/or restore transforms."""
        if checkpointer is None and transforms is None:
            return self
        return OrbaxBackend(
            checkpointer if checkpointer is not None else self.checkpointer,
            transforms if transforms is not None else self.transforms,
            self.use_compression,
        )

    def _checkpointer(self) -> Any:
        if self.checkpointer is not None:
            return self.checkpointer
        with self._lock:
            if self._own is None:
                ocp = import_orbax()
                handler = ocp.PyTreeCheckpointHandler(use_compression=self.use_compression)
                self._own = ocp.Checkpointer(handler)
            return self._own

    def save(self, path: str | os.PathLike[str], state: Any) -> None:
        ocp = import_orbax()
        import jax
        import numpy as np

        if _multi_process():
            # Orbax refuses arrays local to one process in a multi-process
            # save (a step counter, an optimizer's count): every process holds
            # the same value, so they are written as numpy arrays.
            state = jax.tree_util.tree_map(lambda x: np.asarray(x) if _host_local(x) else x, state)
        save_args = jax.tree_util.tree_map(lambda _: ocp.SaveArgs(), state)
        self._checkpointer().save(
            os.path.abspath(path), args=ocp.args.PyTreeSave(state, save_args=save_args), force=True
        )

    def wait(self) -> None:
        """Waits for an asynchronous checkpointer's save in flight, if any."""
        wait = getattr(self.checkpointer, "wait_until_finished", None)
        if wait is not None:
            wait()

    def restore(self, path: str | os.PathLike[str], target: Any | None) -> Any:
        ocp = import_orbax()
        import jax

        self.wait()
        path = os.path.abspath(path)
        if target is None:
            args = ocp.args.PyTreeRestore()
        else:
            # With transforms (``{}`` by default) Orbax takes every array's
            # shape from the checkpoint and its sharding and type from the
            # target, restores only what the target asks for, and fills what
            # the checkpoint lacks from the target: a target needs the right
            # shardings, not the right sizes, as with Flax.
            args = ocp.args.PyTreeRestore(
                item=target,
                restore_args=jax.tree_util.tree_map(lambda x: _leaf_restore_args(ocp, x), target),
                transforms={} if self.transforms is None else self.transforms,
            )
        with warnings.catch_warnings():
            # Without a target Orbax takes each array's sharding from the
            # checkpoint and says so on every restore.
            warnings.filterwarnings(
                "ignore", message="Sharding info not provided", category=UserWarning
            )
            restored = self._checkpointer().restore(path, args=args)
        if target is not None and _multi_process():
            # Process-local arrays were restored as numpy (see save): put them
            # back where the target has them.
            restored = jax.tree_util.tree_map(
                lambda t, r: jax.device_put(r, t.sharding) if _host_local(t) else r,
                target,
                restored,
            )
        return restored

    def recognizes(self, path: str | os.PathLike[str]) -> bool:
        if not os.path.isdir(path):
            return False
        return any(os.path.exists(os.path.join(path, m)) for m in ORBAX_MARKERS)

    def __repr__(self) -> str:
        return f"OrbaxBackend(checkpointer={self.checkpointer!r})"


orbax_backend = OrbaxBackend()
