"""Finding checkpoint backends: by name, by default, and by a checkpoint's files."""

from __future__ import annotations

import os
from typing import Any

from flaxen.errors import UnknownCheckpointBackendError, UnknownCheckpointFormatError
from flaxen.plugins import CheckpointBackend, get_registry

from ._integrity import Manifest

_CATEGORY = "checkpoint_backends"
#: The catch-all for single files; every other single-file backend is asked first.
_FALLBACK = "msgpack"


def backend_names() -> tuple[str, ...]:
    """The names of every installed checkpoint backend.

    >>> from flaxen.checkpoint import backend_names
    >>> {'msgpack', 'orbax'} <= set(backend_names())
    True
    """
    return get_registry().names(_CATEGORY)


def get_backend(name: str) -> CheckpointBackend:
    """The installed checkpoint backend called ``name``.

    Raises:
      UnknownCheckpointBackendError: no plugin registered that name.

    >>> from flaxen.checkpoint import get_backend
    >>> get_backend('msgpack').single_file
    True
    """
    registry = get_registry()
    if (_CATEGORY, name) not in registry:
        raise UnknownCheckpointBackendError(name, backend_names())
    return registry.lookup(_CATEGORY, name)


def resolve(backend: str | CheckpointBackend) -> CheckpointBackend:
    """A backend given by name or as an object."""
    if isinstance(backend, str):
        return get_backend(backend)
    if not isinstance(backend, CheckpointBackend):
        raise TypeError(
            f"backend= takes a backend name or an object implementing"
            f" flaxen.plugins.CheckpointBackend, got {backend!r}."
        )
    return backend


def default_backend() -> CheckpointBackend:
    """The backend of saves that name none.

    ``orbax`` when the ``flaxen_use_orbax_checkpointing`` flag is on and
    orbax-checkpoint is installed, else ``msgpack``.
    """
    from flaxen import config

    from ._orbax_backend import orbax_available

    if config.flaxen_use_orbax_checkpointing and orbax_available():
        return get_backend("orbax")
    return get_backend(_FALLBACK)


def _candidates(single_file: bool) -> list[CheckpointBackend]:
    found = []
    fallback = None
    for name in backend_names():
        try:
            backend = get_registry().lookup(_CATEGORY, name)
        except Exception:  # noqa: BLE001 - a broken plugin must not hide the others
            continue
        if bool(getattr(backend, "single_file", False)) != single_file:
            continue
        if name == _FALLBACK:
            fallback = backend
        else:
            found.append(backend)
    if fallback is not None:
        found.append(fallback)
    return found


def detect(path: str, manifest: Manifest | None) -> CheckpointBackend:
    """The backend that wrote the checkpoint at ``path``.

    The manifest names it; a checkpoint without one (written by Flax or
    Orbax) is offered to every installed backend of its kind (file or
    directory), ``msgpack`` last, as the legacy format of any single file.

    Raises:
      UnknownCheckpointFormatError: the named backend is not installed, or none
        recognises the files.
    """
    if manifest is not None:
        if (_CATEGORY, manifest.backend) not in get_registry():
            raise UnknownCheckpointFormatError(path, manifest.backend, backend_names())
        return get_registry().lookup(_CATEGORY, manifest.backend)
    for backend in _candidates(os.path.isfile(path)):
        if backend.recognizes(path):
            return backend
    raise UnknownCheckpointFormatError(path, None, backend_names())


def recognized(path: str) -> CheckpointBackend | None:
    """The backend of ``path`` if it is a checkpoint directory itself, else None."""
    if not os.path.isdir(path):
        return None
    from ._integrity import read_manifest

    try:
        manifest = read_manifest(path)
        return detect(path, manifest)
    except UnknownCheckpointFormatError:
        return None


def describe(backend: Any) -> str:
    return getattr(backend, "name", type(backend).__name__)
