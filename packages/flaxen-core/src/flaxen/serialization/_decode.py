"""Reading the msgpack checkpoint format (see ``_format``) from untrusted bytes.

A small msgpack decoder of its own, for two reasons: array data is not
copied (each restored array is a read-only ``np.frombuffer`` view into the
input bytes, possibly misaligned for its dtype, which numpy and jax accept),
and every way the input can be malformed is checked here and reported as
:class:`~flaxen.errors.MsgpackRestoreError`. Nothing in the input is ever
executed or used to pick a Python class: the only objects built are dicts,
lists, str, bytes, numbers, booleans, ``None``, numpy arrays and scalars of
plain numeric dtypes, ``msgpack.Timestamp`` and ``msgpack.ExtType``.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import msgpack
import numpy as np

from flaxen.errors import MsgpackRestoreError

from ._format import CHUNK_MARKER, ExtCode, dtype_from_name

# Deeper trees are refused instead of exhausting Python's recursion limit.
MAX_DEPTH = 256
_MAX_NDIM = 64
_MAX_DIM = 2**62

_U16 = struct.Struct(">H").unpack_from
_U32 = struct.Struct(">I").unpack_from
_U64 = struct.Struct(">Q").unpack_from
_I8 = struct.Struct(">b").unpack_from
_I16 = struct.Struct(">h").unpack_from
_I32 = struct.Struct(">i").unpack_from
_I64 = struct.Struct(">q").unpack_from
_F32 = struct.Struct(">f").unpack_from
_F64 = struct.Struct(">d").unpack_from
_U8 = struct.Struct(">B").unpack_from

# Type byte -> (width, reader) of the fixed-size numbers.
_NUMBERS = {
    0xCA: (4, _F32),
    0xCB: (8, _F64),
    0xCC: (1, _U8),
    0xCD: (2, _U16),
    0xCE: (4, _U32),
    0xCF: (8, _U64),
    0xD0: (1, _I8),
    0xD1: (2, _I16),
    0xD2: (4, _I32),
    0xD3: (8, _I64),
}

# The packed (msgpack str) names of the dtypes met so far; only names that
# dtype_from_name accepted get in, so the cache stays small.
_DTYPES_BY_RAW_NAME: dict[bytes, np.dtype[Any]] = {}

_CHUNKED_KEYS = frozenset({CHUNK_MARKER, "shape", "chunks"})


def _error(reason: str, pos: int) -> MsgpackRestoreError:
    return MsgpackRestoreError(f"{reason} (at byte {pos})")


class Decoder:
    """Decodes ``buf[:end]``; ``end`` is smaller when reading an ext payload."""

    __slots__ = ("buf", "end")

    def __init__(self, buf: bytes, end: int) -> None:
        self.buf = buf
        self.end = end

    def _need(self, pos: int, n: int) -> None:
        if pos + n > self.end:
            raise _error(f"truncated input: {n} more bytes expected", pos)

    def decode(self, pos: int, depth: int) -> tuple[Any, int]:
        """The object starting at ``pos`` and the position after it."""
        if pos >= self.end:
            raise _error("truncated input: an object was expected", pos)
        buf = self.buf
        b = buf[pos]
        pos += 1
        if b <= 0x7F:
            return b, pos
        if b >= 0xE0:
            return b - 0x100, pos
        if b <= 0x8F:
            return self._map(b & 0x0F, pos, depth)
        if b <= 0x9F:
            return self._array(b & 0x0F, pos, depth)
        if b <= 0xBF:
            return self._str(b & 0x1F, pos)
        if b == 0xC0:
            return None, pos
        if b == 0xC2:
            return False, pos
        if b == 0xC3:
            return True, pos
        if b == 0xC1:
            raise _error("the reserved type byte 0xc1", pos - 1)
        if b <= 0xC6:  # bin 8/16/32
            n, pos = self._length(b - 0xC4, pos)
            self._need(pos, n)
            return buf[pos : pos + n], pos + n
        if b <= 0xC9:  # ext 8/16/32
            n, pos = self._length(b - 0xC7, pos)
            return self._ext(n, pos, depth)
        if b <= 0xD3:
            return self._number(b, pos)
        if b <= 0xD8:  # fixext 1/2/4/8/16
            return self._ext(1 << (b - 0xD4), pos, depth)
        if b <= 0xDB:  # str 8/16/32
            n, pos = self._length(b - 0xD9, pos)
            return self._str(n, pos)
        if b <= 0xDD:  # array 16/32
            n, pos = self._length(b - 0xDC + 1, pos)
            return self._array(n, pos, depth)
        n, pos = self._length(b - 0xDE + 1, pos)  # map 16/32
        return self._map(n, pos, depth)

    def _length(self, size_code: int, pos: int) -> tuple[int, int]:
        # size_code 0, 1, 2: an 8, 16 or 32-bit big-endian length follows.
        width = 1 << size_code
        self._need(pos, width)
        if width == 1:
            return self.buf[pos], pos + 1
        if width == 2:
            return _U16(self.buf, pos)[0], pos + 2
        return _U32(self.buf, pos)[0], pos + 4

    def _number(self, b: int, pos: int) -> tuple[Any, int]:
        width, reader = _NUMBERS[b]
        self._need(pos, width)
        return reader(self.buf, pos)[0], pos + width

    def _str(self, n: int, pos: int) -> tuple[str, int]:
        self._need(pos, n)
        try:
            return self.buf[pos : pos + n].decode("utf-8"), pos + n
        except UnicodeDecodeError as error:
            raise _error(f"a string that is not valid UTF-8 ({error.reason})", pos) from None

    def _check_depth(self, depth: int, pos: int) -> None:
        if depth >= MAX_DEPTH:
            raise _error(f"containers nested more than {MAX_DEPTH} levels deep", pos)

    def _array(self, n: int, pos: int, depth: int) -> tuple[list[Any], int]:
        self._check_depth(depth, pos)
        if n > self.end - pos:  # every element takes at least one byte
            raise _error(f"truncated input: an array of {n} elements does not fit", pos)
        out = []
        decode = self.decode
        for _ in range(n):
            item, pos = decode(pos, depth + 1)
            out.append(item)
        return out, pos

    def _map(self, n: int, pos: int, depth: int) -> tuple[Any, int]:
        self._check_depth(depth, pos)
        if 2 * n > self.end - pos:
            raise _error(f"truncated input: a map of {n} entries does not fit", pos)
        start = pos
        out: dict[Any, Any] = {}
        decode = self.decode
        for _ in range(n):
            key_pos = pos
            key, pos = decode(pos, depth + 1)
            value, pos = decode(pos, depth + 1)
            try:
                out[key] = value
            except TypeError:
                raise _error(
                    f"a map key of type {type(key).__name__} (unhashable)", key_pos
                ) from None
        if CHUNK_MARKER in out:
            return _unchunk(out, start), pos
        return out, pos

    def _ext(self, n: int, pos: int, depth: int) -> tuple[Any, int]:
        self._need(pos, 1 + n)
        code = _I8(self.buf, pos)[0]
        start = pos + 1
        end = start + n
        if code in (ExtCode.NDARRAY, ExtCode.NPSCALAR):
            arr = _flax_layout_ndarray(self.buf, start, end)
            if arr is None:
                arr = Decoder(self.buf, end)._ndarray(code, start, depth)
            elif code == ExtCode.NPSCALAR and not arr.ndim:
                arr = arr[()]
            return arr, end
        if code == ExtCode.NATIVE_COMPLEX:
            return Decoder(self.buf, end)._complex(start, depth), end
        data = self.buf[start:end]
        if code == -1:
            try:
                return msgpack.Timestamp.from_bytes(data), end
            except (ValueError, TypeError) as error:
                raise _error(f"an invalid timestamp ({error})", pos) from None
        if code < 0:
            raise _error(f"the reserved extension type {code}", pos)
        return msgpack.ExtType(code, data), end

    def _payload_array(self, pos: int, count: int, what: str) -> int:
        """Reads the header of the array that makes up an ext payload."""
        self._need(pos, 1)
        b = self.buf[pos]
        if 0x90 <= b <= 0x9F:
            n, pos = b & 0x0F, pos + 1
        elif b in (0xDC, 0xDD):
            n, pos = self._length(b - 0xDC + 1, pos + 1)
        else:
            n = -1
        if n != count:
            raise _error(f"{what}: the payload is not an array of {count} elements", pos)
        return pos

    def _ndarray(self, code: int, pos: int, depth: int) -> Any:
        what = "an ndarray extension" if code == ExtCode.NDARRAY else "a numpy scalar extension"
        buf = self.buf
        pos = self._payload_array(pos, 3, what)
        shape_pos = pos
        # Fast path for what every writer emits: a fixarray of fixints and a
        # fixstr name (one of a few dtypes, cached by their raw bytes).
        ndim = buf[pos] - 0x90 if pos < self.end else -1
        dims = buf[pos + 1 : pos + 1 + ndim] if 0 <= ndim < 16 else b""
        if len(dims) == ndim and pos + 1 + ndim <= self.end and max(dims, default=0) < 0x80:
            shape: Any = tuple(dims)
            pos += 1 + ndim
        else:
            shape, pos = self.decode(pos, depth + 1)
            shape = _check_shape(shape, what, shape_pos)
        name_len = buf[pos] - 0xA0 if pos < self.end else -1
        raw_name = buf[pos : pos + 1 + name_len] if 0 <= name_len < 32 else b""
        dtype = _DTYPES_BY_RAW_NAME.get(raw_name) if pos + len(raw_name) <= self.end else None
        if dtype is not None:
            pos += len(raw_name)
        else:
            name_pos = pos
            name, pos = self.decode(pos, depth + 1)
            dtype = dtype_from_name(name, name_pos)
            _DTYPES_BY_RAW_NAME[msgpack.packb(name)] = dtype
        self._need(pos, 1)
        b = buf[pos]
        if not 0xC4 <= b <= 0xC6:
            raise _error(f"{what}: the array data is not a bin object", pos)
        nbytes, pos = self._length(b - 0xC4, pos + 1)
        if pos + nbytes != self.end:
            raise _error(f"{what}: the data does not end with the payload", pos)
        size = math.prod(shape)
        if size * dtype.itemsize != nbytes:
            raise _error(
                f"{what}: shape {shape} of {dtype.name} needs {size * dtype.itemsize} bytes,"
                f" the data has {nbytes}",
                pos,
            )
        if size == 0:
            arr = np.empty(shape, dtype)
            arr.flags.writeable = False
        else:
            # A view, not a copy; it may be misaligned for its dtype, which
            # numpy and jax handle (device_put copies anyway).
            arr = np.frombuffer(buf, dtype=dtype, count=size, offset=pos).reshape(shape)
        if code == ExtCode.NPSCALAR and not shape:
            return arr[()]
        return arr

    def _complex(self, pos: int, depth: int) -> complex:
        what = "a complex number extension"
        pos = self._payload_array(pos, 2, what)
        real, pos = self.decode(pos, depth + 1)
        imag, pos = self.decode(pos, depth + 1)
        if pos != self.end:
            raise _error(f"{what}: extra bytes in the payload", pos)
        if type(real) not in (int, float) or type(imag) not in (int, float):
            raise _error(f"{what}: the parts are not numbers", pos)
        return complex(real, imag)


def _flax_layout_ndarray(buf: bytes, pos: int, end: int) -> np.ndarray | None:
    """The array of an ext payload in the layout Flax writes, else None.

    The common case, decoded without the general machinery: a fixarray of
    three, a fixarray of dimensions (each a positive fixint or, from 128 on,
    the uint 8/16/32/64 msgpack writes for larger ones), the fixstr name of a
    supported dtype, a bin. Anything else (including any inconsistency)
    returns None and ``Decoder._ndarray`` reads, checks and reports it.
    """
    try:
        if buf[pos] != 0x93:
            return None
        ndim = buf[pos + 1] - 0x90
        if not 0 <= ndim < 16:
            return None
        pos += 2
        dims: Any = buf[pos : pos + ndim]
        if dims.isascii():  # every dimension below 128: one byte each
            pos += ndim
        else:
            dims, pos = _uint_dims(buf, pos, ndim)
            if dims is None:
                return None
        name_len = buf[pos] - 0xA0
        if not 0 <= name_len < 32:
            return None
        name_end = pos + 1 + name_len
        raw_name = buf[pos:name_end]
        if len(raw_name) != 1 + name_len:
            return None
        dtype = _DTYPES_BY_RAW_NAME.get(raw_name)
        if dtype is None:
            dtype = _cache_dtype(raw_name, pos)
            if dtype is None:
                return None
        pos = name_end
        b = buf[pos]
        if b == 0xC4:
            nbytes = buf[pos + 1]
            pos += 2
        elif b == 0xC5:
            nbytes = _U16(buf, pos + 1)[0]
            pos += 3
        elif b == 0xC6:
            nbytes = _U32(buf, pos + 1)[0]
            pos += 5
        else:
            return None
    except (IndexError, struct.error):
        return None
    # Every read above is before pos, so this also proves they stayed in the payload.
    if pos + nbytes != end or len(dims) != ndim:
        return None
    size = math.prod(dims)
    # A positive size that matches the data also bounds every dimension.
    if size * dtype.itemsize != nbytes or size == 0:
        return None
    return np.frombuffer(buf, dtype=dtype, count=size, offset=pos).reshape(tuple(dims))


# Type byte of a msgpack uint -> (width, reader).
_UINTS = {0xCC: (1, _U8), 0xCD: (2, _U16), 0xCE: (4, _U32), 0xCF: (8, _U64)}


def _uint_dims(buf: bytes, pos: int, ndim: int) -> tuple[list[int] | None, int]:
    """``ndim`` dimensions written as positive fixints or msgpack uints."""
    dims = []
    for _ in range(ndim):
        b = buf[pos]
        if b < 0x80:
            dims.append(b)
            pos += 1
            continue
        number = _UINTS.get(b)
        if number is None:
            return None, pos
        width, reader = number
        dims.append(reader(buf, pos + 1)[0])
        pos += 1 + width
    return dims, pos


def _cache_dtype(raw_name: bytes, pos: int) -> np.dtype[Any] | None:
    """The dtype of a packed fixstr name not met before, cached; None if unsupported."""
    try:
        dtype = dtype_from_name(raw_name[1:].decode("utf-8"), pos)
    except (UnicodeDecodeError, MsgpackRestoreError):
        return None
    _DTYPES_BY_RAW_NAME[raw_name] = dtype
    return dtype


def _check_shape(shape: Any, what: str, pos: int) -> tuple[int, ...]:
    if type(shape) is not list or len(shape) > _MAX_NDIM:
        raise _error(f"{what}: the shape is not a list of at most {_MAX_NDIM} integers", pos)
    for dim in shape:
        if type(dim) is not int or not 0 <= dim <= _MAX_DIM:
            raise _error(f"{what}: invalid dimension {dim!r} in shape {shape!r}", pos)
    return tuple(shape)


def _unchunk(chunked: dict[Any, Any], pos: int) -> np.ndarray:
    """Joins an array written in chunks (see ``_format``)."""
    what = "a chunked array"
    if set(chunked) != _CHUNKED_KEYS or chunked[CHUNK_MARKER] is not True:
        raise _error(f"{what}: expected exactly the keys {sorted(_CHUNKED_KEYS)}", pos)
    shape_map, chunk_map = chunked["shape"], chunked["chunks"]
    if type(shape_map) is not dict or type(chunk_map) is not dict:
        raise _error(f"{what}: 'shape' and 'chunks' must be maps", pos)
    try:
        shape = [shape_map[str(i)] for i in range(len(shape_map))]
        chunks = [chunk_map[str(i)] for i in range(len(chunk_map))]
    except KeyError as error:
        raise _error(f"{what}: the key {error} is missing", pos) from None
    shape_tuple = _check_shape(shape, what, pos)
    if not chunks:
        raise _error(f"{what}: no chunks", pos)
    dtype = getattr(chunks[0], "dtype", None)
    for chunk in chunks:
        if type(chunk) is not np.ndarray or chunk.ndim != 1 or chunk.dtype != dtype:
            raise _error(f"{what}: every chunk must be a 1-D array of one dtype", pos)
    size = sum(chunk.size for chunk in chunks)
    if size != math.prod(shape_tuple):
        raise _error(
            f"{what}: the chunks hold {size} elements, shape {shape_tuple} needs"
            f" {math.prod(shape_tuple)}",
            pos,
        )
    return np.concatenate(chunks).reshape(shape_tuple)


def restore(data: Any) -> Any:
    """Decodes one msgpack object that must span all of ``data``."""
    if type(data) is not bytes:
        # Arrays are views into the input, so it must not change later.
        try:
            data = bytes(memoryview(data))
        except TypeError:
            raise MsgpackRestoreError(
                f"expected bytes, got {type(data).__name__} (at byte 0)"
            ) from None
    try:
        obj, pos = Decoder(data, len(data)).decode(0, 0)
    except RecursionError:
        raise MsgpackRestoreError("the input is nested too deeply (at byte 0)") from None
    if pos != len(data):
        raise _error(f"{len(data) - pos} bytes of extra data after the object", pos)
    return obj
