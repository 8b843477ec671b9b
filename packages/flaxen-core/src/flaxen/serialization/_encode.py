"""Writing a tree in the msgpack checkpoint format (see ``_format``).

The structure (maps, lists, scalars) is small and packed piece by piece; the
array data is never packed: each array contributes its buffer itself to the
list of parts, and the single ``b''.join`` at the end is the only copy of
its bytes.
"""

from __future__ import annotations

import struct
from typing import Any

import jax
import msgpack
import numpy as np

from flaxen.errors import MsgpackSerializeError

from ._format import CHUNK_MARKER, MAX_HEADER, MSGPACK_MAX_LEN, ExtCode, writable_array

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_DOUBLE = struct.Struct(">d")

# Types msgpack packs natively, matched exactly (Flax packs with
# strict_types=True: subclasses such as IntEnum or np.float64 are not these).
_SCALARS = frozenset({str, int, float, bool, type(None), msgpack.ExtType, msgpack.Timestamp})
_BINARY = frozenset({bytes, bytearray, memoryview})


def _map_header(n: int) -> bytes:
    if n < 16:
        return bytes((0x80 | n,))
    if n <= 0xFFFF:
        return b"\xde" + _U16.pack(n)
    return b"\xdf" + _U32.pack(n)


def _array_header(n: int) -> bytes:
    if n < 16:
        return bytes((0x90 | n,))
    if n <= 0xFFFF:
        return b"\xdc" + _U16.pack(n)
    return b"\xdd" + _U32.pack(n)


def _bin_header(n: int) -> bytes:
    if n <= 0xFF:
        return bytes((0xC4, n))
    if n <= 0xFFFF:
        return b"\xc5" + _U16.pack(n)
    return b"\xc6" + _U32.pack(n)


_FIXEXT = {1: 0xD4, 2: 0xD5, 4: 0xD6, 8: 0xD7, 16: 0xD8}


def _ext_header(code: int, n: int) -> bytes:
    fixed = _FIXEXT.get(n)
    if fixed is not None:
        return bytes((fixed, code))
    if n <= 0xFF:
        return bytes((0xC7, n, code))
    if n <= 0xFFFF:
        return b"\xc8" + _U16.pack(n) + bytes((code,))
    return b"\xc9" + _U32.pack(n) + bytes((code,))


_HEAP_TYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE


def _type_name(ty: type) -> str:
    # What msgpack (and so Flax) prints: C's tp_name, "module.Name" for
    # extension types such as collections.OrderedDict, the bare name otherwise.
    if ty.__flags__ & _HEAP_TYPE or ty.__module__ == "builtins":
        return ty.__name__
    return f"{ty.__module__}.{ty.__qualname__}"


def _sorted_keys(xs: dict[Any, Any]) -> list[Any]:
    try:
        return sorted(xs)
    except TypeError:
        return list(xs)


class Encoder:
    """Accumulates the encoded pieces of one tree in ``parts``."""

    def __init__(self, sort_keys: bool, max_chunk_size: int) -> None:
        self.parts: list[Any] = []
        self.sort_keys = sort_keys
        self.max_chunk_size = max(1, int(max_chunk_size))
        self._pack = msgpack.Packer(autoreset=True).pack

    def encode(self, obj: Any, chunkable: bool) -> None:
        """Appends ``obj``; ``chunkable``: every ancestor is a dict (or none)."""
        parts = self.parts
        ty = type(obj)
        if ty is dict:
            keys = _sorted_keys(obj) if self.sort_keys else list(obj)
            parts.append(_map_header(len(keys)))
            for key in keys:
                self.encode(key, False)
                self.encode(obj[key], chunkable)
        elif ty is list:
            parts.append(_array_header(len(obj)))
            for item in obj:
                self.encode(item, False)
        elif ty in _SCALARS:
            parts.append(self._pack_scalar(obj))
        elif ty in _BINARY:
            # Header plus the buffer itself: the final join is the only copy.
            self._encode_bin(memoryview(obj))
        elif ty is complex:
            payload = b"\x92\xcb" + _DOUBLE.pack(obj.real) + b"\xcb" + _DOUBLE.pack(obj.imag)
            parts.append(_ext_header(ExtCode.NATIVE_COMPLEX, len(payload)))
            parts.append(payload)
        elif isinstance(obj, np.ndarray | jax.Array):
            self._encode_array(*writable_array(obj), ExtCode.NDARRAY, chunkable)
        elif isinstance(obj, np.generic):
            self._encode_array(*writable_array(obj), ExtCode.NPSCALAR, False)
        else:
            raise MsgpackSerializeError(
                f"can not serialize {_type_name(ty)!r} object: msgpack_serialize() writes"
                " dicts, lists, str, bytes, int, float, bool, None, complex numbers,"
                " numpy/jax arrays and numpy scalars. Use to_bytes() for tuples,"
                " FrozenDicts and struct dataclasses (it turns them into state dicts"
                " first), or convert the object to one of these types."
            )

    def _pack_scalar(self, obj: Any) -> bytes:
        try:
            return self._pack(obj)
        except (OverflowError, ValueError, TypeError) as error:
            raise MsgpackSerializeError(
                f"can not serialize {obj!r:.80}: {type(error).__name__}: {error}. Integers"
                " must fit in 64 bits and strings must be valid Unicode."
            ) from error

    def _encode_bin(self, data: memoryview) -> None:
        try:
            data = data.cast("B")
        except TypeError as error:
            raise MsgpackSerializeError(
                f"can not serialize a non-contiguous memoryview ({error}); pass bytes(view)."
            ) from error
        if data.nbytes > MSGPACK_MAX_LEN:
            raise MsgpackSerializeError("can not serialize bytes longer than 4 GiB - 1")
        self.parts.append(_bin_header(data.nbytes))
        self.parts.append(data)

    def _encode_array(
        self, arr: np.ndarray, packed_name: bytes, code: int, chunkable: bool
    ) -> None:
        nbytes = arr.nbytes
        too_big = nbytes + MAX_HEADER > MSGPACK_MAX_LEN
        if code == ExtCode.NDARRAY and (too_big or (chunkable and nbytes > self.max_chunk_size)):
            self._encode_chunked(arr, packed_name)
            return
        self._encode_ext_array(arr, packed_name, code)

    def _encode_ext_array(self, arr: np.ndarray, packed_name: bytes, code: int) -> None:
        nbytes = arr.nbytes
        shape = arr.shape
        if len(shape) < 16 and max(shape, default=0) < 0x80:
            packed_shape = bytes((0x90 | len(shape), *shape))
        else:
            packed_shape = self._pack(list(shape))
        head = b"".join((b"\x93", packed_shape, packed_name, _bin_header(nbytes)))
        parts = self.parts
        parts.append(_ext_header(code, len(head) + nbytes))
        parts.append(head)
        if nbytes:
            parts.append(arr.reshape(-1).view(np.uint8))

    def _encode_chunked(self, arr: np.ndarray, packed_name: bytes) -> None:
        limit = min(self.max_chunk_size, MSGPACK_MAX_LEN - MAX_HEADER)
        step = max(1, limit // arr.dtype.itemsize)
        flat = arr.reshape(-1)
        starts = range(0, flat.size, step)
        parts = self.parts
        parts.append(b"\x83")
        parts.append(self._pack(CHUNK_MARKER))
        parts.append(b"\xc3")
        parts.append(self._pack("shape"))
        parts.append(_map_header(arr.ndim))
        for i, dim in enumerate(arr.shape):
            parts.append(self._pack(str(i)))
            parts.append(self._pack(dim))
        parts.append(self._pack("chunks"))
        parts.append(_map_header(len(starts)))
        for i, start in enumerate(starts):
            parts.append(self._pack(str(i)))
            self._encode_ext_array(flat[start : start + step], packed_name, ExtCode.NDARRAY)
