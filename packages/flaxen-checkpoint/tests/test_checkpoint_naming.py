"""Checkpoint names: natural sort, what counts as a checkpoint, the msgpack stream."""

import os

import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flaxen import serialization
from flaxen.checkpoint import available_steps, latest_checkpoint, natural_sort, save_checkpoint
from flaxen.checkpoint._msgpack_stream import serialize_parts
from flaxen.errors import MsgpackSerializeError


def test_natural_sort_orders_numbers_as_numbers():
    assert natural_sort(["ckpt_1", "ckpt_3", "ckpt_2"])[-1] == "ckpt_3"
    assert natural_sort(["ckpt_0.01", "ckpt_0.1", "ckpt_0.001"])[-1] == "ckpt_0.1"
    assert natural_sort(["ckpt_-1.0", "ckpt_1.0", "ckpt_1e5"]) == [
        "ckpt_-1.0",
        "ckpt_1.0",
        "ckpt_1e5",
    ]
    assert natural_sort(["c_10", "c_9", "c_100", "x", "c_2"]) == [
        "c_2",
        "c_9",
        "c_10",
        "c_100",
        "x",
    ]


def test_natural_sort_unsigned_ignores_the_sign():
    # Without the sign -1.0 and 1.0 are equal; the sort is stable.
    assert natural_sort(["ckpt_1.0", "ckpt_-1.0"], signed=False) == ["ckpt_1.0", "ckpt_-1.0"]
    assert natural_sort(["ckpt_1.0", "ckpt_-1.0"], signed=True) == ["ckpt_-1.0", "ckpt_1.0"]


@pytest.mark.parametrize(
    "junk",
    [
        "checkpoint_tmp",
        "checkpoint_9.tmp",
        "checkpoint_foo",
        "checkpoint_10x",
        "checkpoint_14.json",
        ".checkpoint_12.flaxen-manifest.json",
        ".checkpoint_13.flaxen-tmp-1-abc",
        "checkpoint_11.orbax-checkpoint-tmp-123",
        "checkpoint_15_gda",
        "checkpointx_20",
    ],
)
def test_stray_names_are_not_checkpoints(tmp_path, junk, msgpack_default):
    save_checkpoint(tmp_path, {"x": 1}, 2)
    (tmp_path / junk).mkdir()
    assert latest_checkpoint(tmp_path) == os.path.join(str(tmp_path), "checkpoint_2")
    assert available_steps(tmp_path) == [2]
    save_checkpoint(tmp_path, {"x": 1}, 3)  # the next save works
    assert available_steps(tmp_path) == [3]


def test_interrupted_save_debris_and_flax_tmp_are_removed_by_the_next_save(
    tmp_path, msgpack_default
):
    save_checkpoint(tmp_path, {"x": 1}, 1)
    debris = [
        "checkpoint_tmp",
        ".checkpoint_2.flaxen-tmp-123-abc",
        ".checkpoint_1.flaxen-trash-abc",
        ".checkpoint_7.flaxen-manifest.json",  # orphaned manifest
    ]
    for name in debris:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "other_file").write_bytes(b"kept")
    save_checkpoint(tmp_path, {"x": 2}, 2, keep=5)
    assert sorted(os.listdir(tmp_path)) == [
        ".checkpoint_1.flaxen-manifest.json",
        ".checkpoint_2.flaxen-manifest.json",
        "checkpoint_1",
        "checkpoint_2",
        "other_file",
    ]


def test_negative_and_exponent_steps(tmp_path, msgpack_default):
    for step in (-3, 2):
        save_checkpoint(tmp_path, {"x": step}, step, keep=5)
    (tmp_path / "checkpoint_1e3").write_bytes(serialization.to_bytes({"x": 1000}))
    assert available_steps(tmp_path, step_type=float) == [-3.0, 2.0, 1000.0]
    assert latest_checkpoint(tmp_path).endswith("checkpoint_1e3")


# -- the streaming msgpack writer produces msgpack_serialize's bytes -------------------


def stream_bytes(tree):
    return b"".join(bytes(memoryview(p).cast("B")) for p in serialize_parts(tree))


BIG = np.arange(70_000, dtype=np.float32).reshape(7, 10_000)
TREES = {
    "scalars": {"a": 1, "b": -2.5, "c": "s", "d": None, "e": True, "f": b"raw", "g": 2**40},
    "nested": {"x": {"y": {"z": np.arange(3)}}, "l": [1, [2, {"k": np.ones(2)}]]},
    "big": {"w": BIG, "b": np.zeros(20_000, np.float64)},
    "big_in_list": {"l": [BIG, {"w": BIG}]},
    "dtypes": {
        "bf16": np.ones(40_000, ml_dtypes.bfloat16),
        "i8": np.arange(70_000, dtype=np.int8),
        "bool": np.ones(70_000, bool),
        "c64": np.ones(10_000, np.complex64),
        "u16": np.arange(40_000, dtype=np.uint16),
    },
    "jax": {"j": jnp.arange(40_000, dtype=jnp.float32), "s": jnp.float32(1.5)},
    "np_scalars": {"a": np.float32(2.0), "b": np.int64(3), "c": 1 + 2j},
    "noncontiguous": {"t": BIG.T, "big_endian": np.arange(20_000, dtype=">f4")},
    "top_level_array": BIG,
    "int_keys": {1: np.arange(2), "a": 1},
    "empty": {"e": {}, "l": [], "z": np.zeros((0, 5))},
}


@pytest.mark.parametrize("name", sorted(TREES))
def test_stream_matches_msgpack_serialize(name):
    tree = TREES[name]
    assert stream_bytes(tree) == serialization.msgpack_serialize(tree, in_place=True)


@pytest.mark.parametrize("name", ["big", "big_in_list", "dtypes", "top_level_array"])
def test_stream_matches_with_small_chunks(name, monkeypatch):
    monkeypatch.setattr(serialization, "MAX_CHUNK_SIZE", 50_000)
    tree = TREES[name]
    assert stream_bytes(tree) == serialization.msgpack_serialize(tree, in_place=True)


def test_stream_writes_big_arrays_from_their_own_buffer():
    parts = serialize_parts({"w": BIG})
    views = [p for p in parts if isinstance(p, memoryview)]
    assert len(views) == 1 and views[0].obj is not None
    assert np.shares_memory(np.asarray(views[0]), BIG)


def test_stream_errors_like_msgpack_serialize():
    with pytest.raises(MsgpackSerializeError) as ours:
        serialize_parts({"t": (1, 2)})
    with pytest.raises(MsgpackSerializeError) as theirs:
        serialization.msgpack_serialize({"t": (1, 2)})
    assert str(ours.value) == str(theirs.value)


leaves = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=5),
    st.none(),
    st.booleans(),
    st.builds(lambda n: np.arange(n, dtype=np.float32), st.integers(0, 20_000)),
)
trees = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None)
@given(trees)
def test_stream_matches_msgpack_serialize_on_random_trees(tree):
    assert stream_bytes(tree) == serialization.msgpack_serialize(tree, in_place=True)
