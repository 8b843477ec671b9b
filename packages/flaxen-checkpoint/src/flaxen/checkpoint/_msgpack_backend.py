"""The ``msgpack`` backend: Flax's legacy single-file checkpoint format.

A checkpoint is one file holding ``to_bytes(target)``: the msgpack encoding
of the target's state dict, arrays over ``flaxen.serialization.MAX_CHUNK_SIZE``
bytes split in chunks. Flax reads and writes the same files.
"""

from __future__ import annotations

import os
from typing import Any

from flaxen import serialization

from ._integrity import read_file, write_file
from ._msgpack_stream import serialize_parts


class MsgpackBackend:
    """Saves a state dict as one msgpack file, written straight from the array buffers."""

    name = "msgpack"
    single_file = True

    def save(self, path: str | os.PathLike[str], state: Any) -> None:
        write_file(path, serialize_parts(state))

    def restore(self, path: str | os.PathLike[str], target: Any | None) -> Any:
        # Arrays come back as read-only views into the file's bytes (no copy).
        return serialization.msgpack_restore(read_file(path))

    def recognizes(self, path: str | os.PathLike[str]) -> bool:
        # The legacy format is the fallback for any single file: other
        # single-file backends are asked first (see _backends.detect).
        return os.path.isfile(path)

    def __repr__(self) -> str:
        return "MsgpackBackend()"


msgpack_backend = MsgpackBackend()
