"""flaxen.serialization against flax.serialization: same bytes, cross-restore, messages."""

import collections
import math
import re

import jax.numpy as jnp
import ml_dtypes
import msgpack
import numpy as np
import pytest

pytestmark = pytest.mark.compat

flax_serialization = pytest.importorskip("flax.serialization")
flax_frozen_dict = pytest.importorskip("flax.core.frozen_dict")

from flaxen import serialization  # noqa: E402
from flaxen.core.frozen_dict import FrozenDict  # noqa: E402

NT = collections.namedtuple("NT", ["p", "q"])


def _trees():
    yield {"b": 1, "a": {"d": 1, "c": 2}, "l": [{"z": 1, "y": 2}]}
    yield {"a": None, "b": [1, [2, 3]], "c": "str", "d": b"by", "e": 1.5, "f": True}
    yield [0, 127, 128, 2**32, 2**64 - 1, -1, -33, -129, -(2**31) - 1, -(2**63)]
    yield {"s": ["", "x" * 31, "x" * 32, "x" * 256, "x" * 65536, "é" * 20]}
    yield {"b": [b"", b"y" * 256, b"y" * 70000], "ba": bytearray(b"ab"), "mv": memoryview(b"c")}
    yield {str(i): list(range(i % 20)) for i in range(300)}
    yield {1: 2, 3: "x"}
    for dtype in (
        np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
        np.uint64, np.float16, np.float32, np.float64, np.complex64, np.complex128,
        ml_dtypes.bfloat16, ml_dtypes.float8_e4m3fn, ml_dtypes.float8_e5m2, ml_dtypes.int4,
    ):  # fmt: skip
        arr = np.arange(6).astype(dtype).reshape(2, 3)
        yield {"a": arr, "s": arr[1, 2], "z": np.array(arr[0, 1]), "e": arr[:0]}
    yield {"t": np.arange(6).reshape(2, 3).T, "e": np.zeros((2, 0, 4), np.float32)}
    yield {"c": 1 + 2j, "n": complex(float("nan"), -0.0), "f": [float("nan"), float("-inf")]}
    yield {"d": np.datetime64("2020-01-01"), "t": np.array([1, 2], "m8[s]")}
    yield np.arange(5)
    yield jnp.ones((2, 2), jnp.bfloat16)
    yield [np.arange(3), {"a": jnp.zeros(1)}]
    yield {"e": msgpack.ExtType(7, b"z"), "t": msgpack.Timestamp(1, 2)}
    yield {"big": np.arange(100_000, dtype=np.float32), "x": {"y": {"z": [{"w": np.int64(5)}]}}}
    yield {"b": {}, "a": []}


def _targets(frozen_dict_cls, struct_module):
    @struct_module.dataclass
    class State:
        x: object
        m: object = struct_module.field(pytree_node=False, default="m")
        y: object = 3

    yield frozen_dict_cls(b=1, a={"d": np.arange(3), "c": 2})
    yield State(np.ones(2), "meta", {"k": (1, 2)})
    yield NT(1, [2, 3])
    yield (1, 2, (3,))
    yield {"b": [1, (2, {"z": 1, "a": 2})], "a": NT(np.float32(1), None)}
    yield None
    yield jnp.arange(3.0)


def _flax_targets():
    import flax.struct

    return list(_targets(flax_frozen_dict.FrozenDict, flax.struct))


def _flaxen_targets():
    from flaxen import struct

    return list(_targets(FrozenDict, struct))


def _describe(tree):
    """A comparable description: container types, keys, dtypes, shapes, bytes, flags."""
    if isinstance(tree, dict) and not isinstance(tree, msgpack.ExtType):
        return ("dict", [(k, _describe(v)) for k, v in tree.items()])
    if isinstance(tree, list):
        return ("list", [_describe(v) for v in tree])
    if isinstance(tree, np.ndarray):
        return ("nd", str(tree.dtype), tree.shape, tree.tobytes(), tree.flags.writeable)
    if isinstance(tree, float) and math.isnan(tree):
        return ("float", "nan")
    if isinstance(tree, complex):
        return ("complex", repr(tree))
    if isinstance(tree, np.generic):
        return (type(tree).__name__, tree.tobytes())
    return (type(tree).__name__, tree)


@pytest.fixture(params=[None, 16], ids=["default-chunks", "16-byte-chunks"])
def chunk_size(request, monkeypatch):
    if request.param is not None:
        monkeypatch.setattr(flax_serialization, "MAX_CHUNK_SIZE", request.param)
        monkeypatch.setattr(serialization, "MAX_CHUNK_SIZE", request.param)
    return request.param


def test_same_public_names():
    public = {name for name in dir(flax_serialization) if not name.startswith("_")}
    # Flax's module also exposes what it imported (np, jax, msgpack, enum, ...).
    imported = {"Any", "contextmanager", "enum", "jax", "msgpack", "np", "threading"}
    assert public - imported <= set(dir(serialization))
    assert serialization.MAX_CHUNK_SIZE == flax_serialization.MAX_CHUNK_SIZE


@pytest.mark.parametrize("in_place", [False, True])
def test_msgpack_serialize_same_bytes(chunk_size, in_place):
    for tree in _trees():
        ours = serialization.msgpack_serialize(tree, in_place=in_place)
        theirs = flax_serialization.msgpack_serialize(tree, in_place=False)
        if in_place:
            theirs = flax_serialization.msgpack_serialize(_copy(tree), in_place=True)
        assert ours == theirs, tree


def _copy(tree):
    # Flax's in_place=True modifies the tree (it converts and chunks arrays).
    if isinstance(tree, dict):
        return {k: _copy(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_copy(v) for v in tree]
    return tree


def test_to_bytes_same_bytes(chunk_size):
    for ours, theirs in zip(_flaxen_targets(), _flax_targets()):
        assert serialization.to_bytes(ours) == flax_serialization.to_bytes(theirs)


def test_cross_restore(chunk_size):
    for tree in _trees():
        flax_bytes = flax_serialization.msgpack_serialize(tree)
        ours = serialization.msgpack_restore(flax_bytes)
        theirs = flax_serialization.msgpack_restore(flax_bytes)
        assert _describe(ours) == _describe(theirs)
        flaxen_bytes = serialization.msgpack_serialize(tree)
        assert _describe(flax_serialization.msgpack_restore(flaxen_bytes)) == _describe(ours)


def test_cross_restore_from_bytes(chunk_size):
    for ours, theirs in zip(_flaxen_targets(), _flax_targets()):
        from_flax = serialization.from_bytes(ours, flax_serialization.to_bytes(theirs))
        from_flaxen = flax_serialization.from_bytes(theirs, serialization.to_bytes(ours))
        assert repr(from_flax).replace("flaxen", "flax") == repr(from_flaxen)


def _sorted_sets(message):
    # Flax prints Python sets, whose order depends on string hashing; flaxen
    # sorts them. Compare the sets, not their order.
    return re.sub(
        r"\{([^{}]*)\}", lambda m: "{" + ", ".join(sorted(m.group(1).split(", "))) + "}", message
    )


def _flax_error(fn):
    with pytest.raises(ValueError) as info:
        fn(flax_serialization)
    return _sorted_sets(str(info.value))


def _our_error(fn):
    with pytest.raises(ValueError) as info:
        fn(serialization)
    assert _sorted_sets(info.value.detail) == info.value.detail
    return info.value.detail


@pytest.mark.parametrize(
    "fn",
    [
        lambda s: s.from_state_dict({"a": 1, "b": {"c": 2}}, {"a": 3, "b": {}}),
        lambda s: s.from_state_dict({"a": 1, "b": 2}, {"b": 1}, name="root"),
        lambda s: s.from_state_dict([1, [2, 3]], {"0": 5, "1": {"0": 6}}),
        lambda s: s.from_state_dict((1, (2, 3)), {"0": 5, "1": {"0": 6, "1": 7, "2": 8}}),
        lambda s: s.from_state_dict({"n": NT(1, 2)}, {"n": {"p": 1}}),
        lambda s: s.from_state_dict({"n": NT(1, 2)}, {"n": {"p": 1, "q": 2, "r": 3, "s": 4}}),
        lambda s: s.from_state_dict({"x": 1, "y": 2, "z": 3}, {}),
        lambda s: s.from_state_dict({1: 2}, {1: 3}),
    ],
)
def test_same_state_dict_messages(fn):
    assert _our_error(fn) == _flax_error(fn)


def test_same_frozen_dict_state_dict_messages():
    theirs = _flax_error(
        lambda s: s.from_state_dict(flax_frozen_dict.FrozenDict(a={"b": 1}), {"a": {}})
    )
    ours = _our_error(lambda s: s.from_state_dict(FrozenDict(a={"b": 1}), {"a": {}}))
    assert ours == theirs


def test_same_serialize_error_types():
    import datetime
    import enum

    class Color(enum.IntEnum):
        RED = 1

    values = [(1, 2), object(), {1, 2}, collections.OrderedDict(a=1), Color.RED, np.float64]
    for value in [*values, datetime.date(2020, 1, 1), FrozenDict(a=1)]:
        if isinstance(value, FrozenDict):
            value_for_flax = flax_frozen_dict.FrozenDict(a=1)
        else:
            value_for_flax = value
        with pytest.raises(TypeError) as theirs:
            flax_serialization.msgpack_serialize({"k": value_for_flax})
        with pytest.raises(TypeError) as ours:
            serialization.msgpack_serialize({"k": value})
        assert str(ours.value).startswith(str(theirs.value))
