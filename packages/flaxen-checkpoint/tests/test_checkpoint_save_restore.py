"""save_checkpoint / restore_checkpoint with the msgpack backend: the Flax API contract."""

import os
import pathlib
import pickle

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flaxen import serialization
from flaxen.checkpoint import (
    CheckpointNotFoundError,
    available_steps,
    latest_checkpoint,
    restore_checkpoint,
    save_checkpoint,
)
from flaxen.core.frozen_dict import FrozenDict, freeze
from flaxen.errors import AlreadyExistsError, InvalidCheckpointError, StateDictMismatchError

pytestmark = pytest.mark.usefixtures("msgpack_default")


def tree(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "params": {
            "dense": {
                "kernel": rng.standard_normal((3, 4)).astype(np.float32),
                "bias": np.zeros(4),
            },
            "emb": jnp.asarray(rng.standard_normal((5, 2)), dtype=jnp.bfloat16),
        },
        "step": seed,
        "name": "model",
        "history": [1.5, 2.5],
        "nothing": None,
    }


def assert_tree_equal(a, b):
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        if isinstance(x, np.ndarray | jax.Array):
            assert np.asarray(x).dtype == np.asarray(y).dtype
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
        else:
            assert x == y and type(x) is type(y)


def test_save_returns_the_checkpoint_path_and_writes_one_file(tmp_path):
    path = save_checkpoint(tmp_path, tree(), 3)
    assert path == os.path.join(str(tmp_path), "checkpoint_3")
    assert os.path.isfile(path)
    # Only the checkpoint and its hidden manifest are left behind.
    assert sorted(os.listdir(tmp_path)) == [".checkpoint_3.flaxen-manifest.json", "checkpoint_3"]


def test_file_content_is_to_bytes_of_the_target(tmp_path):
    target = tree()
    path = save_checkpoint(tmp_path, target, 0)
    assert pathlib.Path(path).read_bytes() == serialization.to_bytes(target)


def test_restore_with_target_rebuilds_the_target(tmp_path):
    target = tree(1)
    save_checkpoint(tmp_path, target, 1)
    restored = restore_checkpoint(tmp_path, tree(0))
    assert_tree_equal(restored, target)


def test_restore_without_target_returns_the_state_dict(tmp_path):
    target = tree(1)
    save_checkpoint(tmp_path, target, 1)
    restored = restore_checkpoint(tmp_path, None)
    assert_tree_equal(restored, serialization.to_state_dict(target))
    assert restored["history"] == {"0": 1.5, "1": 2.5}
    # Arrays come back as numpy arrays, read-only like Flax's.
    kernel = restored["params"]["dense"]["kernel"]
    assert type(kernel) is np.ndarray and not kernel.flags.writeable


def test_restore_by_step_by_path_and_latest(tmp_path):
    for step in (1, 2, 3):
        save_checkpoint(tmp_path, {"x": np.full(2, step)}, step, keep=3)
    assert restore_checkpoint(tmp_path, None)["x"].tolist() == [3, 3]
    assert restore_checkpoint(tmp_path, None, step=2)["x"].tolist() == [2, 2]
    by_path = restore_checkpoint(os.path.join(tmp_path, "checkpoint_1"), None)
    assert by_path["x"].tolist() == [1, 1]


def test_restore_missing_step_raises_not_found(tmp_path):
    save_checkpoint(tmp_path, {"x": 1}, 2)
    with pytest.raises(CheckpointNotFoundError) as info:
        restore_checkpoint(tmp_path, None, step=7)
    path = os.path.join(str(tmp_path), "checkpoint_7")
    assert isinstance(info.value, ValueError)
    assert str(info.value).startswith(f"Matching checkpoint not found: {path}.")
    assert "Steps present in the directory: 2." in str(info.value)
    assert info.value.available == ("2",)
    assert pickle.loads(pickle.dumps(info.value)).message == info.value.message


def test_restore_missing_directory_or_file_returns_target(tmp_path):
    sentinel = object()
    assert restore_checkpoint(tmp_path / "nope", sentinel) is sentinel
    assert restore_checkpoint(tmp_path, sentinel) is sentinel  # exists, empty
    save_checkpoint(tmp_path, {"x": 1}, 1)
    assert restore_checkpoint(tmp_path / "checkpoint_9", sentinel) is sentinel


def test_pathlib_and_str_dirs_are_equivalent(tmp_path):
    p1 = save_checkpoint(pathlib.Path(tmp_path), {"x": 1}, 1)
    assert isinstance(p1, str)
    assert restore_checkpoint(str(tmp_path), None) == {"x": 1}


def test_prefix_separates_checkpoint_series(tmp_path):
    save_checkpoint(tmp_path, {"x": 1}, 5, prefix="a_")
    save_checkpoint(tmp_path, {"x": 2}, 1, prefix="b_")
    assert sorted(os.listdir(tmp_path))[-2:] == ["a_5", "b_1"]
    assert restore_checkpoint(tmp_path, None, prefix="a_") == {"x": 1}
    assert restore_checkpoint(tmp_path, None, prefix="b_") == {"x": 2}
    assert restore_checkpoint(tmp_path, "none", prefix="c_") == "none"
    assert available_steps(tmp_path, prefix="a_") == [5]
    assert latest_checkpoint(tmp_path, prefix="b_") == os.path.join(str(tmp_path), "b_1")


def test_float_and_array_steps_format_like_str(tmp_path):
    assert save_checkpoint(tmp_path, {"x": 1}, 1.5, keep=5).endswith("checkpoint_1.5")
    assert save_checkpoint(tmp_path, {"x": 1}, jnp.array(2), keep=5).endswith("checkpoint_2")
    assert save_checkpoint(tmp_path, {"x": 1}, np.int32(3), keep=5).endswith("checkpoint_3")
    assert save_checkpoint(tmp_path, {"x": 1}, 4.0, keep=5).endswith("checkpoint_4.0")
    assert available_steps(tmp_path, step_type=float) == [1.5, 2.0, 3.0, 4.0]
    with pytest.raises(ValueError, match="invalid literal for int"):
        available_steps(tmp_path)


def test_keep_deletes_the_oldest(tmp_path):
    for step in range(5):
        save_checkpoint(tmp_path, {"x": step}, step, keep=2)
    assert available_steps(tmp_path) == [3, 4]
    assert not any(
        n.startswith(".") and "manifest" in n and "_0" in n for n in os.listdir(tmp_path)
    )


def test_keep_zero_deletes_nothing_like_flax_slicing(tmp_path):
    for step in range(3):
        save_checkpoint(tmp_path, {"x": step}, step, keep=0)
    assert available_steps(tmp_path) == [0, 1, 2]


def test_keep_every_n_steps_keeps_spaced_checkpoints(tmp_path):
    # Walking from the oldest of the checkpoints beyond `keep`, one is kept
    # when it is n or more steps after the last one kept; step 0 never is.
    history = []
    for step in range(10):
        save_checkpoint(tmp_path, {"x": step}, step, keep=1, keep_every_n_steps=3)
        history.append(available_steps(tmp_path))
    assert history[-1] == [1, 4, 7, 9]
    assert history[1] == [1]
    assert history[4] == [1, 4]


def test_saving_an_older_or_equal_step_raises(tmp_path):
    save_checkpoint(tmp_path, {"x": 1}, 5)
    for step in (5, 3):
        with pytest.raises(InvalidCheckpointError) as info:
            save_checkpoint(tmp_path, {"x": 1}, step)
        path = os.path.join(str(tmp_path), f"checkpoint_{step}")
        assert info.value.path == path and info.value.step == step
        assert str(info.value).startswith(
            f'Trying to save an outdated checkpoint at step: "{step}" and path: "{path}"'
        )
        assert "pass overwrite=True" in str(info.value)
    assert available_steps(tmp_path) == [5]


def test_overwrite_replaces_the_step_and_drops_later_ones(tmp_path):
    for step in (1, 3, 4, 5):
        save_checkpoint(tmp_path, {"x": step}, step, keep=5)
    save_checkpoint(tmp_path, {"x": 100}, 3, overwrite=True, keep=5)
    assert available_steps(tmp_path) == [1, 3]
    assert restore_checkpoint(tmp_path, None) == {"x": 100}
    # The replaced file's manifest was replaced too: the restore verified.
    names = os.listdir(tmp_path)
    assert sorted(n for n in names if n.startswith(".")) == [
        ".checkpoint_1.flaxen-manifest.json",
        ".checkpoint_3.flaxen-manifest.json",
    ]


def test_already_exists_when_the_path_appears_during_the_save(tmp_path):
    class Racing:
        """A backend during whose save another writer creates the checkpoint."""

        name = "racing"
        single_file = True

        def save(self, path, state):
            pathlib.Path(path).write_bytes(serialization.msgpack_serialize(state))
            (tmp_path / "checkpoint_1").write_bytes(b"other writer")

        def restore(self, path, target):
            raise NotImplementedError

        def recognizes(self, path):
            return False

    with pytest.raises(AlreadyExistsError) as info:
        save_checkpoint(tmp_path, {"x": 1}, 1, backend=Racing())
    path = os.path.join(str(tmp_path), "checkpoint_1")
    assert isinstance(info.value, FileExistsError)
    assert info.value.filename == path
    assert f'Trying overwrite an existing file: "{path}"' in str(info.value)
    assert (tmp_path / "checkpoint_1").read_bytes() == b"other writer"
    assert os.listdir(tmp_path) == ["checkpoint_1"]  # the temporary is gone


def test_frozen_dict_and_tuples_round_trip(tmp_path):
    target = {"v": freeze({"a": np.arange(3)}), "t": (np.ones(2), 3)}
    save_checkpoint(tmp_path, target, 0)
    restored = restore_checkpoint(tmp_path, {"v": freeze({"a": np.zeros(3)}), "t": (None, None)})
    assert isinstance(restored["v"], FrozenDict)
    np.testing.assert_array_equal(restored["v"]["a"], np.arange(3))
    assert isinstance(restored["t"], tuple) and restored["t"][1] == 3


def test_partial_target_restores_the_subset(tmp_path):
    save_checkpoint(tmp_path, {"a": np.ones(2), "b": np.zeros(3)}, 0)
    restored = restore_checkpoint(tmp_path, {"a": np.zeros(2)})
    assert list(restored) == ["a"]
    np.testing.assert_array_equal(restored["a"], np.ones(2))


def test_target_with_a_key_the_checkpoint_lacks_raises(tmp_path):
    save_checkpoint(tmp_path, {"a": 1}, 0)
    with pytest.raises(StateDictMismatchError):
        restore_checkpoint(tmp_path, {"a": 0, "b": 0})


def test_single_array_checkpoint(tmp_path):
    save_checkpoint(tmp_path, jnp.arange(10), step=0)
    restored = restore_checkpoint(tmp_path, target=None)
    np.testing.assert_array_equal(restored, np.arange(10))


def test_big_arrays_are_chunked_and_restored(tmp_path, monkeypatch):
    monkeypatch.setattr(serialization, "MAX_CHUNK_SIZE", 1 << 16)
    big = np.arange(100_000, dtype=np.float32)
    path = save_checkpoint(tmp_path, {"w": big, "l": [big]}, 0)
    assert pathlib.Path(path).read_bytes() == serialization.to_bytes({"w": big, "l": [big]})
    restored = restore_checkpoint(tmp_path, None)
    np.testing.assert_array_equal(restored["w"], big)
    np.testing.assert_array_equal(restored["l"]["0"], big)


def test_unknown_backend_name(tmp_path):
    from flaxen.checkpoint import UnknownCheckpointBackendError

    with pytest.raises(UnknownCheckpointBackendError) as info:
        save_checkpoint(tmp_path, {"x": 1}, 0, backend="nope")
    assert isinstance(info.value, LookupError)
    assert "No checkpoint backend named 'nope' is installed (installed: " in str(info.value)
    assert "msgpack" in info.value.available
    assert os.listdir(tmp_path) == []


def test_backend_must_implement_the_protocol(tmp_path):
    with pytest.raises(TypeError, match=r"flaxen\.plugins\.CheckpointBackend"):
        save_checkpoint(tmp_path, {"x": 1}, 0, backend=object())


def test_restore_with_a_backend_that_recognizes_nothing(tmp_path):
    from flaxen.checkpoint import UnknownCheckpointFormatError

    (tmp_path / "checkpoint_1").mkdir()
    (tmp_path / "checkpoint_1" / "weights.bin").write_bytes(b"x")
    with pytest.raises(UnknownCheckpointFormatError) as info:
        restore_checkpoint(tmp_path, None)
    assert "no installed checkpoint backend recognises its files" in str(info.value)
    assert info.value.path == os.path.join(str(tmp_path), "checkpoint_1")
