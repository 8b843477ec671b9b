"""The msgpack checkpoint format as a list of buffers, for writing without a join.

``flaxen.serialization.msgpack_serialize`` returns one ``bytes``: for a
400 MB tree that is a 400 MB allocation and copy before the first byte
reaches the disk. Here the same bytes come out as a list of parts: small
ones (structure, headers, small leaves) packed together, and every large
array as a view of its own buffer, so :func:`flaxen.checkpoint.write_file`
writes array memory straight to the file.

The output is byte-for-byte ``msgpack_serialize(tree, in_place=True)`` (what
``to_bytes`` and Flax write), which the tests check. Only large, plain,
native-endian arrays take the fast path; every other leaf is encoded by
``msgpack_serialize`` itself, so the format has a single owner.
"""

from __future__ import annotations

import struct
from typing import Any

import jax
import msgpack
import numpy as np

from flaxen import serialization

# Arrays at least this large are written from their own buffer.
DIRECT_MIN_BYTES = 1 << 16
# The msgpack format's limits (a bin/ext holds at most 4 GiB - 1 bytes) and the
# room for an array's header inside its ext payload (see flaxen.serialization).
_MSGPACK_MAX_LEN = 0xFFFF_FFFF
_MAX_HEADER = 1 + (1 + 9 * 64) + (1 + 4 + 64) + 5
_CHUNK_MARKER = "__msgpack_chunked_array__"
_NDARRAY = 1
_U32 = struct.Struct(">I")
_DIRECT_KINDS = frozenset("biufc")
_ML_DTYPE_NAMES = frozenset(
    {"bfloat16", "float8_e4m3fn", "float8_e5m2", "float8_e4m3b11fnuz", "float8_e4m3fnuz"}
    | {"float8_e5m2fnuz", "int4", "uint4"}
)


def _max_chunk_size() -> int:
    return int(getattr(serialization, "MAX_CHUNK_SIZE", 2**30))


def _direct_array(x: Any) -> np.ndarray | None:
    """``x`` as a numpy array when it can be written from its own buffer."""
    if isinstance(x, jax.Array):
        if x.nbytes < DIRECT_MIN_BYTES:
            return None
        arr = np.asarray(x)
    elif type(x) is np.ndarray:
        arr = x
    else:
        return None
    if arr.nbytes < DIRECT_MIN_BYTES or not arr.flags.c_contiguous:
        return None
    dtype = arr.dtype
    if not dtype.isnative and dtype.byteorder != "|":
        return None
    if dtype.kind not in _DIRECT_KINDS and dtype.name not in _ML_DTYPE_NAMES:
        return None
    if dtype.fields is not None or dtype.subdtype is not None:
        return None
    return arr


class _Writer:
    def __init__(self) -> None:
        self.parts: list[Any] = []
        self._small = bytearray()
        self._max_chunk = _max_chunk_size()
        self._pack = msgpack.Packer(autoreset=True)

    def small(self, data: bytes) -> None:
        self._small += data

    def big(self, view: Any) -> None:
        if self._small:
            self.parts.append(bytes(self._small))
            self._small = bytearray()
        self.parts.append(view)

    def finish(self) -> list[Any]:
        if self._small:
            self.parts.append(bytes(self._small))
            self._small = bytearray()
        return self.parts

    def encode(self, obj: Any, chunkable: bool) -> None:
        ty = type(obj)
        if ty is dict:
            self.small(self._pack.pack_map_header(len(obj)))
            for key, value in obj.items():
                self.small(self._key(key))
                self.encode(value, chunkable)
            return
        if ty is list:
            self.small(self._pack.pack_array_header(len(obj)))
            for item in obj:
                self.encode(item, False)
            return
        arr = _direct_array(obj)
        if arr is None:
            self.small(_encode_leaf(obj, chunkable))
            return
        too_big = arr.nbytes + _MAX_HEADER > _MSGPACK_MAX_LEN
        if too_big or (chunkable and arr.nbytes > self._max_chunk):
            self._chunked(arr)
        else:
            self._ext_array(arr)

    def _key(self, key: Any) -> bytes:
        if type(key) is str:
            return self._pack.pack(key)
        return serialization.msgpack_serialize(key, in_place=True)

    def _ext_array(self, arr: np.ndarray) -> None:
        nbytes = arr.nbytes
        head = b"".join(
            (
                b"\x93",
                self._pack.pack([int(d) for d in arr.shape]),
                self._pack.pack(arr.dtype.name),
                _bin_header(nbytes),
            )
        )
        size = len(head) + nbytes
        self.small(b"\xc9" + _U32.pack(size) + bytes((_NDARRAY,)) + head)
        if nbytes:
            self.big(memoryview(arr.reshape(-1).view(np.uint8)))

    def _chunked(self, arr: np.ndarray) -> None:
        limit = min(self._max_chunk, _MSGPACK_MAX_LEN - _MAX_HEADER)
        step = max(1, limit // arr.dtype.itemsize)
        flat = arr.reshape(-1)
        starts = range(0, flat.size, step)
        pack = self._pack.pack
        self.small(b"\x83" + pack(_CHUNK_MARKER) + b"\xc3" + pack("shape"))
        self.small(self._pack.pack_map_header(arr.ndim))
        for i, dim in enumerate(arr.shape):
            self.small(pack(str(i)) + pack(int(dim)))
        self.small(pack("chunks") + self._pack.pack_map_header(len(starts)))
        for i, start in enumerate(starts):
            self.small(pack(str(i)))
            chunk = flat[start : start + step]
            if chunk.nbytes >= DIRECT_MIN_BYTES:
                self._ext_array(chunk)
            else:
                self.small(_encode_leaf(chunk, False))


def _encode_leaf(obj: Any, chunkable: bool) -> bytes:
    if chunkable:
        return serialization.msgpack_serialize(obj, in_place=True)
    # Inside a list an array is never chunked: encode it as the only item of
    # a list and drop that list's one-byte header (0x91).
    return serialization.msgpack_serialize([obj], in_place=True)[1:]


def _bin_header(n: int) -> bytes:
    if n <= 0xFF:
        return bytes((0xC4, n))
    if n <= 0xFFFF:
        return b"\xc5" + struct.pack(">H", n)
    return b"\xc6" + _U32.pack(n)


def serialize_parts(state: Any) -> list[Any]:
    """``msgpack_serialize(state, in_place=True)`` as a list of buffers to write in order."""
    writer = _Writer()
    writer.encode(state, chunkable=True)
    return writer.finish()
