"""The msgpack checkpoint format shared with Flax: extension codes and dtypes.

Wire format (observed from Flax's output and kept byte-identical):

* The tree is plain msgpack: maps, arrays (lists), str, bin, int, float,
  bool, nil. Maps are written in insertion order (``msgpack_serialize`` with
  ``in_place=False`` sorts the keys first, as Flax's defensive copy does).
* ``ndarray`` (ext 1) and numpy scalars (ext 3): the ext payload is a msgpack
  array ``[shape, dtype_name, data]`` where ``shape`` is an array of ints
  (empty for a scalar), ``dtype_name`` is ``numpy.dtype.name`` (``float32``,
  ``bfloat16``, ...) and ``data`` is a bin holding the elements in C order,
  little-endian.
* Python ``complex`` (ext 2): the payload is the msgpack array
  ``[real, imag]`` of two doubles.
* Chunked arrays: an array of more than ``MAX_CHUNK_SIZE`` bytes that is the
  whole tree or a dict value (directly or through nested dicts) is written
  as the map ``{'__msgpack_chunked_array__': True, 'shape': {'0': d0, ...},
  'chunks': {'0': c0, '1': c1, ...}}`` where the chunks are 1-D ext-1 arrays
  of ``max(1, MAX_CHUNK_SIZE // itemsize)`` elements of the flattened array.
  Arrays elsewhere (inside lists) are written whole, like Flax does, unless
  they do not fit in one msgpack ext (4 GiB): Flax cannot write those at
  all, flaxen chunks them the same way.
"""

from __future__ import annotations

import enum
import re
from typing import Any

import ml_dtypes
import msgpack
import numpy as np

from flaxen.errors import MsgpackRestoreError, MsgpackSerializeError


class ExtCode(enum.IntEnum):
    """msgpack extension type codes of the Flax checkpoint format."""

    NDARRAY = 1
    NATIVE_COMPLEX = 2
    NPSCALAR = 3


CHUNK_MARKER = "__msgpack_chunked_array__"

# The largest payload of one msgpack bin/ext (32-bit length).
MSGPACK_MAX_LEN = 0xFFFF_FFFF
# Room for the ext payload's own header (array, shape, dtype name, bin header).
MAX_HEADER = 1 + (1 + 9 * 64) + (1 + 4 + 64) + 5

# numpy has no string names for these (they come from ml_dtypes).
_ML_DTYPES = {
    np.dtype(t).name: np.dtype(t)
    for t in (
        getattr(ml_dtypes, name, None)
        for name in (
            "bfloat16",
            "float8_e3m4",
            "float8_e4m3",
            "float8_e4m3b11fnuz",
            "float8_e4m3fn",
            "float8_e4m3fnuz",
            "float8_e5m2",
            "float8_e5m2fnuz",
            "float8_e8m0fnu",
            "float6_e2m3fn",
            "float6_e3m2fn",
            "float4_e2m1fn",
            "int1",
            "int2",
            "int4",
            "uint1",
            "uint2",
            "uint4",
        )
    )
    if t is not None
}
_NUMPY_KINDS = frozenset("biufcmM")
# The names numpy gives the dtypes above (``dtype.name``); anything else is
# refused before numpy parses it (its parser knows many more spellings).
_DTYPE_NAME = re.compile(
    r"bool|u?int(8|16|32|64)|float(16|32|64|80|96|128)|complex(64|128|160|192|256)"
    r"|(datetime|timedelta)64(\[[0-9]{0,6}(Y|M|W|D|h|m|s|ms|us|ns|ps|fs|as)\])?"
)
_DTYPE_CACHE: dict[str, np.dtype[Any]] = dict(_ML_DTYPES)


def _is_supported(dtype: np.dtype[Any]) -> bool:
    if dtype.name in _ML_DTYPES and _ML_DTYPES[dtype.name] == dtype:
        return True
    return (
        dtype.kind in _NUMPY_KINDS
        and dtype.fields is None
        and dtype.subdtype is None
        and not dtype.hasobject
        and dtype.itemsize > 0
    )


def dtype_from_name(name: Any, pos: int) -> np.dtype[Any]:
    """The dtype a checkpoint names, refusing anything but plain numeric ones.

    Restoring must never build object arrays (their elements would be
    arbitrary Python objects) nor structured or string dtypes, so the name
    has to be the ``dtype.name`` of a boolean, integer, floating, complex,
    datetime or ml_dtypes type; it means native byte order. ``pos`` is where
    the name is in the input, for the error message.
    """
    dtype = _DTYPE_CACHE.get(name) if isinstance(name, str) else None
    if dtype is not None:
        return dtype
    if not isinstance(name, str):
        raise MsgpackRestoreError(f"the dtype name {name!r} is not a string (at byte {pos})")
    try:
        if not _DTYPE_NAME.fullmatch(name):
            raise TypeError(name)
        dtype = np.dtype(name)
        if not _is_supported(dtype) or dtype.name != name:
            raise TypeError(name)
    except TypeError:
        raise MsgpackRestoreError(
            f"unsupported dtype {name!r}: a checkpoint holds only boolean, integer,"
            f" floating, complex, datetime and ml_dtypes arrays (at byte {pos})"
        ) from None
    _DTYPE_CACHE[name] = dtype
    return dtype


# dtype -> its name packed as a msgpack str, for the dtypes writable_array accepted.
_PACKED_NAMES: dict[np.dtype[Any], bytes] = {}


def _packed_name(dtype: np.dtype[Any]) -> bytes:
    if not _is_supported(dtype):
        raise MsgpackSerializeError(
            f"can not serialize an array of dtype {dtype}: object, structured, string"
            " and void dtypes are not supported by the msgpack checkpoint format (it"
            " could not be restored). Convert the array to a numeric dtype, or keep"
            " such data outside the checkpoint."
        )
    packed = msgpack.packb(dtype.name)
    _PACKED_NAMES[dtype] = packed
    return packed


def writable_array(x: Any) -> tuple[np.ndarray, bytes]:
    """``x`` as a C-contiguous, native-endian numpy array, and its packed dtype name."""
    if type(x) is np.ndarray:
        arr = x
    else:
        try:
            arr = np.asarray(x)
        except Exception as error:
            raise MsgpackSerializeError(
                f"can not serialize {type(x).__name__!r} object: converting it to a numpy"
                f" array failed ({type(error).__name__}: {error})"
            ) from error
    packed = _PACKED_NAMES.get(arr.dtype)
    if packed is None:
        if arr.dtype.byteorder == ">":
            arr = arr.astype(arr.dtype.newbyteorder("="))
        packed = _PACKED_NAMES.get(arr.dtype) or _packed_name(arr.dtype)
    if not arr.flags.c_contiguous:
        arr = np.ascontiguousarray(arr)
    return arr, packed
