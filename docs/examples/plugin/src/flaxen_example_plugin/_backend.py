"""A checkpoint backend contributed by a plugin: one flat ``.npz`` file.

flaxen-checkpoint does the directory layout, the atomic rename, the fsyncs,
the checksums and the step bookkeeping; the backend only turns a state dict
into bytes and back.
"""

from __future__ import annotations

import io
import os
import zipfile
from typing import Any

import numpy as np

from flaxen.checkpoint import read_file, write_file
from flaxen.traverse_util import flatten_dict, unflatten_dict


class FlatNpzBackend:
    """Saves a state dict as one ``.npz`` file keyed by ``/``-joined paths."""

    name = "npz"
    single_file = True

    def save(self, path: str | os.PathLike[str], state: Any) -> None:
        flat = flatten_dict(state, sep="/")
        buffer = io.BytesIO()
        np.savez(buffer, **{key: np.asarray(value) for key, value in flat.items()})
        write_file(path, buffer.getbuffer())

    def restore(self, path: str | os.PathLike[str], target: Any | None) -> Any:
        with np.load(io.BytesIO(read_file(path))) as arrays:
            flat = {key: arrays[key] for key in arrays.files}
        return unflatten_dict(flat, sep="/")

    def recognizes(self, path: str | os.PathLike[str]) -> bool:
        # Only asked about checkpoints without a flaxen manifest; cheap check.
        return zipfile.is_zipfile(path)


backend = FlatNpzBackend()
