"""flaxen.serialization decoder: the fast path for Flax's ndarray layout, any dimension size.

msgpack writes a dimension below 128 as one byte (a positive fixint) and a
larger one as a uint 8/16/32/64 (``0xcc``-``0xcf`` and 1, 2, 4 or 8 bytes).
Both must be read by the fast path; the general decoder (``Decoder._ndarray``)
is only for unusual encodings and for reporting malformed input.
"""

import re

import msgpack
import numpy as np
import pytest

from flaxen import serialization
from flaxen.errors import MsgpackRestoreError
from flaxen.serialization import _decode


@pytest.fixture
def no_fallback(monkeypatch):
    """Fails the test if an ndarray extension is read by the general decoder."""

    def fallback(self, code, pos, depth):
        raise AssertionError(f"the general ndarray decoder ran (ext {code} at byte {pos})")

    monkeypatch.setattr(_decode.Decoder, "_ndarray", fallback)


@pytest.fixture
def fallback_calls(monkeypatch):
    """Counts the ndarray extensions read by the general decoder."""
    calls = []
    general = _decode.Decoder._ndarray

    def spy(self, code, pos, depth):
        calls.append(pos)
        return general(self, code, pos, depth)

    monkeypatch.setattr(_decode.Decoder, "_ndarray", spy)
    return calls


def _ext(code, payload):
    return msgpack.packb(msgpack.ExtType(code, payload))


SHAPES = [
    (127,),
    (128,),
    (255,),
    (256,),
    (65535,),
    (65536,),
    (65537,),
    (2, 128),
    (128, 127),
    (1, 256, 3),
    (3, 255, 1, 2),
    (65536, 2),
]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", [np.int8, np.float32])
def test_arrays_of_any_dimension_take_the_fast_path(shape, dtype, no_fallback):
    x = (np.arange(np.prod(shape)) % 101).astype(dtype).reshape(shape)
    data = serialization.msgpack_serialize({"x": x, "y": [x[:1]]})
    restored = serialization.msgpack_restore(data)
    assert list(restored) == ["x", "y"]
    for got, want in ((restored["x"], x), (restored["y"][0], x[:1])):
        assert type(got) is np.ndarray
        assert got.dtype == want.dtype
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_to_bytes_from_bytes_round_trip_through_the_fast_path(shape, no_fallback):
    params = {"dense": {"kernel": np.linspace(-1, 1, np.prod(shape), dtype=np.float32)}}
    params["dense"]["kernel"] = params["dense"]["kernel"].reshape(shape)
    params["dense"]["bias"] = np.full(shape[-1], 3, np.int32)
    target = {"dense": {"kernel": np.zeros(shape, np.float32), "bias": np.zeros(shape[-1])}}
    restored = serialization.from_bytes(target, serialization.to_bytes(params))
    assert restored["dense"]["kernel"].shape == shape
    np.testing.assert_array_equal(restored["dense"]["kernel"], params["dense"]["kernel"])
    np.testing.assert_array_equal(restored["dense"]["bias"], params["dense"]["bias"])
    assert restored["dense"]["bias"].dtype == np.int32


@pytest.mark.parametrize(
    ("dim", "packed"),
    [
        (127, b"\x7f"),
        (128, b"\xcc\x80"),
        (255, b"\xcc\xff"),
        (256, b"\xcd\x01\x00"),
        (65535, b"\xcd\xff\xff"),
        (65536, b"\xce\x00\x01\x00\x00"),
    ],
)
def test_the_dimensions_are_written_as_msgpack_ints(dim, packed, no_fallback):
    # What the fast path must read: minimal msgpack ints, one to five bytes.
    data = serialization.msgpack_serialize(np.zeros(dim, np.uint8))
    assert data.startswith(b"\x93\x91" + packed + b"\xa5uint8", data.index(b"\x93"))
    np.testing.assert_array_equal(serialization.msgpack_restore(data), np.zeros(dim))


@pytest.mark.parametrize(
    "packed_dim",
    [b"\xcc\x02", b"\xcd\x00\x02", b"\xce\x00\x00\x00\x02", b"\xcf" + (2).to_bytes(8, "big")],
    ids=["uint8", "uint16", "uint32", "uint64"],
)
def test_non_minimal_unsigned_dimensions_take_the_fast_path(packed_dim, no_fallback):
    payload = b"\x93\x92\x01" + packed_dim + b"\xa4int8\xc4\x02\x05\x06"
    restored = serialization.msgpack_restore(_ext(1, payload))
    np.testing.assert_array_equal(restored, np.array([[5, 6]], np.int8))
    assert restored.dtype == np.int8


def test_signed_dimensions_are_read_by_the_general_decoder(fallback_calls):
    payload = b"\x93\x92\x01\xd0\x02\xa4int8\xc4\x02\x05\x06"
    restored = serialization.msgpack_restore(_ext(1, payload))
    np.testing.assert_array_equal(restored, np.array([[5, 6]], np.int8))
    assert len(fallback_calls) == 1


def test_a_dtype_not_met_before_takes_the_fast_path(monkeypatch, no_fallback):
    monkeypatch.setattr(_decode, "_DTYPES_BY_RAW_NAME", {})
    x = np.arange(300, dtype=np.uint16)
    data = serialization.msgpack_serialize(x)
    np.testing.assert_array_equal(serialization.msgpack_restore(data), x)
    cache = _decode._DTYPES_BY_RAW_NAME
    assert cache == {b"\xa6uint16": np.dtype(np.uint16)}


def test_numpy_scalars_take_the_fast_path(no_fallback):
    restored = serialization.msgpack_restore(serialization.msgpack_serialize([np.float32(2.5)]))
    assert type(restored[0]) is np.float32
    assert restored[0] == 2.5


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (
            b"\x93\x91\xcc\x80\xa4int8\xc4\x7f" + bytes(127),
            "shape (128,) of int8 needs 128 bytes, the data has 127",
        ),
        (
            b"\x93\x91\xcd\x01\x00\xa6object\xc4\x00",
            "unsupported dtype 'object'",
        ),
        (
            b"\x93\x91\xcc\x80\xa4int8\xc5\x00\x80" + bytes(127),
            "an ndarray extension: the data does not end with the payload",
        ),
        (
            b"\x93\x91\xcc",
            "truncated input",
        ),
    ],
    ids=["short-data", "object-dtype", "truncated-data", "truncated-dimension"],
)
def test_malformed_payloads_with_large_dimensions_are_reported(payload, message, fallback_calls):
    with pytest.raises(MsgpackRestoreError, match=re.escape(message)):
        serialization.msgpack_restore(_ext(1, payload))
    assert fallback_calls


def test_array_data_after_the_payload_is_not_taken_for_it(fallback_calls):
    # The ext ends right after the bin header; the 200 bytes that follow in
    # the input belong to the next object and must not become the array.
    header = b"\x93\x91\xcc\xc8\xa4int8\xc4\xc8"
    data = b"\x92" + _ext(1, header) + b"\xc4\xc8" + bytes(200)
    with pytest.raises(MsgpackRestoreError, match="the data does not end with the payload"):
        serialization.msgpack_restore(data)
    assert fallback_calls
