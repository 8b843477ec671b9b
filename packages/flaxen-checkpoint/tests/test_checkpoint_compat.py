"""flaxen's checkpoints next to Flax's, run as a black-box oracle.

Files written by either load in the other (msgpack single files, Orbax
directories); naming, ``keep``/``keep_every_n_steps``/``overwrite``
bookkeeping, sorting and ``convert_pre_linen`` behave the same.
"""

import os
import warnings

import jax.numpy as jnp
import numpy as np
import pytest

from flaxen import config as flaxen_config
from flaxen import serialization as flaxen_serialization
from flaxen.checkpoint import (
    available_steps,
    convert_pre_linen,
    latest_checkpoint,
    natural_sort,
    restore_checkpoint,
    save_checkpoint,
)
from flaxen.errors import InvalidCheckpointError

pytestmark = pytest.mark.compat
flax = pytest.importorskip("flax")
flax_checkpoints = pytest.importorskip("flax.training.checkpoints")
flax_errors = pytest.importorskip("flax.errors")


@pytest.fixture
def use_orbax():
    """Sets both libraries' orbax flag; restores Flax's afterwards."""
    previous = flax.config.flax_use_orbax_checkpointing

    def set_flag(value):
        flax.config.update("flax_use_orbax_checkpointing", value)
        flaxen_config.update("flaxen_use_orbax_checkpointing", value)

    yield set_flag
    set_flag(previous)


@pytest.fixture(autouse=True)
def quiet_orbax():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sharding info not provided")
        # Flax's legacy save announces its deprecation on every call.
        warnings.filterwarnings("ignore", message="Flax Checkpointing will soon be deprecated")
        yield


TREE = {
    "params": {"kernel": np.arange(12, dtype=np.float32).reshape(3, 4), "bias": np.ones(4)},
    "emb": jnp.arange(6, dtype=jnp.bfloat16),
    "step": 7,
    "name": "model",
    "history": [1.5, 2],
    "nothing": None,
}


def assert_same(a, b):
    import jax

    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        if hasattr(x, "dtype"):
            assert np.asarray(x).dtype == np.asarray(y).dtype
            assert type(np.asarray(x)) is type(np.asarray(y))
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.parametrize("orbax", [False, True])
def test_flaxen_checkpoints_load_in_flax(tmp_path, use_orbax, orbax):
    use_orbax(orbax)
    save_checkpoint(tmp_path, TREE, 3, keep=2)
    assert_same(flax_checkpoints.restore_checkpoint(str(tmp_path), TREE), TREE)
    assert_same(
        flax_checkpoints.restore_checkpoint(str(tmp_path), None), restore_checkpoint(tmp_path, None)
    )
    assert flax_checkpoints.latest_checkpoint(str(tmp_path)) == latest_checkpoint(tmp_path)


@pytest.mark.parametrize("orbax", [False, True])
def test_flax_checkpoints_load_in_flaxen(tmp_path, use_orbax, orbax):
    use_orbax(orbax)
    flax_checkpoints.save_checkpoint(str(tmp_path), TREE, 3, keep=2)
    assert_same(restore_checkpoint(tmp_path, TREE), TREE)
    assert_same(
        restore_checkpoint(tmp_path, None), flax_checkpoints.restore_checkpoint(str(tmp_path), None)
    )


def test_msgpack_files_are_byte_identical(tmp_path, use_orbax):
    use_orbax(False)
    ours = save_checkpoint(tmp_path / "flaxen", TREE, 1)
    theirs = flax_checkpoints.save_checkpoint(str(tmp_path / "flax"), TREE, 1)
    with open(ours, "rb") as a, open(theirs, "rb") as b:
        assert a.read() == b.read()


def test_chunked_arrays_cross_load(tmp_path, use_orbax, monkeypatch):
    use_orbax(False)
    big = {"w": np.arange(300_000, dtype=np.float32)}
    monkeypatch.setattr(flaxen_serialization, "MAX_CHUNK_SIZE", 1 << 16)
    monkeypatch.setattr(flax.serialization, "MAX_CHUNK_SIZE", 1 << 16)
    ours = save_checkpoint(tmp_path / "flaxen", big, 1)
    theirs = flax_checkpoints.save_checkpoint(str(tmp_path / "flax"), big, 1)
    with open(ours, "rb") as a, open(theirs, "rb") as b:
        assert a.read() == b.read()
    restored = flax_checkpoints.restore_checkpoint(str(tmp_path / "flaxen"), None)
    np.testing.assert_array_equal(restored["w"], big["w"])


@pytest.mark.parametrize(
    ("keep", "n", "steps"),
    [
        (1, None, range(5)),
        (2, 2, range(8)),
        (1, 3, range(10)),
        (1, 2, [0, 1, 5, 6, 7, 8, 20]),
        (3, 5, range(0, 30, 2)),
        (1, 3, range(5, 14)),
        (1, 1, range(5)),
        (1, 3, [-5, -4, -3, -2, -1, 0, 1, 2, 3]),
        (1, 2, [0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4]),
        (0, None, range(3)),
    ],
)
def test_keep_bookkeeping_matches(tmp_path, use_orbax, keep, n, steps):
    use_orbax(False)
    for step in steps:
        save_checkpoint(tmp_path / "flaxen", {"a": 1}, step, keep=keep, keep_every_n_steps=n)
        flax_checkpoints.save_checkpoint(
            str(tmp_path / "flax"), {"a": 1}, step, keep=keep, keep_every_n_steps=n
        )
        assert available_steps(tmp_path / "flaxen", step_type=float) == (
            flax_checkpoints.available_steps(str(tmp_path / "flax"), step_type=float)
        )


@pytest.mark.parametrize("orbax", [False, True])
def test_overwrite_and_outdated_steps_match(tmp_path, use_orbax, orbax):
    use_orbax(orbax)
    ours, theirs = tmp_path / "flaxen", str(tmp_path / "flax")
    for step in (1, 3, 4, 5):
        save_checkpoint(ours, {"a": step}, step, keep=5)
        flax_checkpoints.save_checkpoint(theirs, {"a": step}, step, keep=5)
    for step in (5, 3):
        with pytest.raises(InvalidCheckpointError) as mine:
            save_checkpoint(ours, {"a": 0}, step)
        assert mine.value.step == step
        # With Orbax, Flax lets Orbax's own ValueError through for an existing
        # step; flaxen raises InvalidCheckpointError (a ValueError) either way.
        expected = ValueError if orbax else flax_errors.InvalidCheckpointError
        with pytest.raises(expected) as other:
            flax_checkpoints.save_checkpoint(theirs, {"a": 0}, step)
        if not orbax:
            prefix = f'Trying to save an outdated checkpoint at step: "{step}"'
            assert str(other.value).startswith(prefix) and str(mine.value).startswith(prefix)
    save_checkpoint(ours, {"a": 100}, 3, overwrite=True, keep=5)
    assert available_steps(ours) == [1, 3]
    if orbax:
        return  # Flax's Orbax path cannot overwrite with later steps present
    flax_checkpoints.save_checkpoint(theirs, {"a": 100}, 3, overwrite=True, keep=5)
    assert flax_checkpoints.available_steps(theirs) == [1, 3]
    assert (
        restore_checkpoint(ours, None)["a"]
        == flax_checkpoints.restore_checkpoint(theirs, None)["a"]
    )


def test_not_found_and_missing_paths_match(tmp_path, use_orbax):
    use_orbax(False)
    save_checkpoint(tmp_path, {"a": 1}, 2)
    with pytest.raises(ValueError) as mine:
        restore_checkpoint(tmp_path, None, step=7)
    with pytest.raises(ValueError) as other:
        flax_checkpoints.restore_checkpoint(str(tmp_path), None, step=7)
    assert str(mine.value).startswith(str(other.value))
    for where in (tmp_path / "nope", tmp_path / "checkpoint_9"):
        assert restore_checkpoint(where, "T") == flax_checkpoints.restore_checkpoint(
            str(where), "T"
        )
    empty = tmp_path / "empty"
    empty.mkdir()
    assert restore_checkpoint(empty, "T") == flax_checkpoints.restore_checkpoint(str(empty), "T")
    assert latest_checkpoint(empty) == flax_checkpoints.latest_checkpoint(str(empty)) is None


def test_restore_by_file_path_matches(tmp_path, use_orbax):
    use_orbax(False)
    flax_checkpoints.save_checkpoint(str(tmp_path), TREE, 1)
    path = os.path.join(str(tmp_path), "checkpoint_1")
    assert_same(restore_checkpoint(path, None), flax_checkpoints.restore_checkpoint(path, None))


@pytest.mark.parametrize("orbax", [False, True])
def test_flax_ignores_flaxen_bookkeeping_files(tmp_path, use_orbax, orbax):
    use_orbax(orbax)
    for step in (1, 2):
        save_checkpoint(tmp_path, {"a": step}, step, keep=2, prefix="test_")
    (tmp_path / ".test_3.flaxen-tmp-1-abc").mkdir()  # an interrupted flaxen save
    assert flax_checkpoints.available_steps(str(tmp_path), prefix="test_") == [1, 2]
    assert flax_checkpoints.restore_checkpoint(str(tmp_path), None, prefix="test_") == {"a": 2}
    flax_checkpoints.save_checkpoint(str(tmp_path), {"a": 3}, 3, keep=2, prefix="test_")
    assert restore_checkpoint(tmp_path, None, prefix="test_") == {"a": 3}
    assert available_steps(tmp_path, prefix="test_") == [2, 3]


@pytest.mark.parametrize("signed", [True, False])
def test_natural_sort_matches(signed):
    names = ["ckpt_1", "ckpt_0.01", "ckpt_-1.0", "ckpt_1e5", "ckpt_0.1", "ckpt_2", "x", "ckpt_10"]
    names += ["a_1_b_2", "a_1_b_10", "a_10_b_1", "ckpt_+3", "ckpt_.5", "ckpt_1.0"]
    assert natural_sort(names, signed=signed) == flax_checkpoints.natural_sort(names, signed=signed)


def test_convert_pre_linen_matches():
    from flax.core import freeze as flax_freeze

    params = {
        "Conv_0": {"kernel": 1},
        "Dense_1": {"kernel": 2, "Dense_0": {"b": 1}, "Conv_3": {"x": 2}, "Dense_5": 5},
        "Conv_2": {"k": 3},
        "MyMod_7": {"w": 1},
        "foo": {"Dense_9": 1, "Dense_10": 2, "Dense_2": 3},
        "bar_": 3,
        "Dense_x": 1,
        "_3": 4,
        "a": [1, {"Dense_3": 1}],
    }
    assert convert_pre_linen(params) == flax_checkpoints.convert_pre_linen(params)
    theirs = flax_checkpoints.convert_pre_linen(flax_freeze(params))
    ours = convert_pre_linen(params)
    assert list(ours) == list(theirs)
