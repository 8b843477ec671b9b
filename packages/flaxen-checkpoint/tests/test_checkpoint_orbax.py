"""The orbax backend, the flaxen_use_orbax_checkpointing switch, orbax_utils, laziness."""

import json
import os
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

from flaxen import config
from flaxen.checkpoint import (
    available_steps,
    orbax_utils,
    restore_checkpoint,
    save_checkpoint,
)

from .conftest import requires_orbax

TREE = {"w": np.arange(12.0).reshape(3, 4), "j": jnp.ones(3), "n": 3, "s": "text", "l": [1, 2.5]}


def assert_same(a, b):
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@requires_orbax
def test_flag_on_saves_with_orbax(tmp_path):
    with config.temp_flip_flag("use_orbax_checkpointing", True):
        path = save_checkpoint(tmp_path, TREE, 1)
    assert os.path.isdir(path)
    assert os.path.exists(os.path.join(path, "_METADATA"))
    manifest = json.loads(pathlib.Path(path, ".flaxen-manifest.json").read_text())
    assert manifest["backend"] == "orbax"
    assert "_METADATA" in manifest["files"]
    assert_same(restore_checkpoint(tmp_path, TREE), TREE)


def test_flag_off_saves_with_msgpack(tmp_path):
    with config.temp_flip_flag("use_orbax_checkpointing", False):
        path = save_checkpoint(tmp_path, TREE, 1)
    assert os.path.isfile(path)


@requires_orbax
def test_raw_restore_gives_the_state_dict(tmp_path):
    save_checkpoint(tmp_path, TREE, 1, backend="orbax")
    raw = restore_checkpoint(tmp_path, None)
    assert sorted(raw) == ["j", "l", "n", "s", "w"]
    assert raw["l"] == {"0": 1, "1": 2.5} and raw["s"] == "text" and raw["n"] == 3
    np.testing.assert_array_equal(raw["w"], TREE["w"])
    assert isinstance(raw["j"], jax.Array)  # saved as a jax array, restored as one


@requires_orbax
def test_formats_are_detected_per_step(tmp_path):
    save_checkpoint(tmp_path, {"x": np.arange(3)}, 1, backend="msgpack", keep=5)
    save_checkpoint(tmp_path, {"x": np.arange(3) + 1}, 2, backend="orbax", keep=5)
    # Flax's own msgpack file, no manifest.
    from flaxen import serialization

    (tmp_path / "checkpoint_3").write_bytes(serialization.to_bytes({"x": np.arange(3) + 2}))
    assert available_steps(tmp_path) == [1, 2, 3]
    for step in (1, 2, 3):
        restored = restore_checkpoint(tmp_path, {"x": np.zeros(3, int)}, step=step)
        np.testing.assert_array_equal(restored["x"], np.arange(3) + step - 1)


@requires_orbax
def test_user_checkpointer_commits_itself(tmp_path):
    import orbax.checkpoint as ocp

    ckptr = ocp.Checkpointer(ocp.PyTreeCheckpointHandler())
    path = save_checkpoint(tmp_path, TREE, 1, orbax_checkpointer=ckptr)
    assert sorted(os.listdir(tmp_path)) == ["checkpoint_1"]
    assert not os.path.exists(os.path.join(path, ".flaxen-manifest.json"))
    assert_same(restore_checkpoint(tmp_path, TREE, orbax_checkpointer=ckptr), TREE)
    save_checkpoint(tmp_path, TREE, 2, orbax_checkpointer=ckptr, keep=1)
    assert available_steps(tmp_path) == [2]


@requires_orbax
def test_async_orbax_checkpointer_never_deletes_before_the_new_one_is_committed(tmp_path):
    import orbax.checkpoint as ocp

    ckptr = ocp.AsyncCheckpointer(ocp.PyTreeCheckpointHandler())
    try:
        for step in range(3):
            save_checkpoint(tmp_path, {"x": np.full(3, step)}, step, orbax_checkpointer=ckptr)
            # While a save may be in flight, the newest committed one stays.
            if step:
                assert os.path.isdir(tmp_path / f"checkpoint_{step - 1}")
        ckptr.wait_until_finished()
        assert available_steps(tmp_path) == [1, 2]
        restored = restore_checkpoint(tmp_path, None, orbax_checkpointer=ckptr)
        np.testing.assert_array_equal(restored["x"], np.full(3, 2))
    finally:
        ckptr.close()


@requires_orbax
def test_orbax_transforms_fill_missing_fields_from_the_target(tmp_path):
    save_checkpoint(tmp_path, {"a": np.ones(2)}, 1, backend="orbax")
    target = {"a": np.zeros(2), "extra": np.arange(3)}
    restored = restore_checkpoint(tmp_path, target, orbax_transforms={})
    np.testing.assert_array_equal(restored["a"], np.ones(2))
    np.testing.assert_array_equal(restored["extra"], np.arange(3))


@requires_orbax
def test_partial_target_reads_part_of_an_orbax_checkpoint(tmp_path):
    save_checkpoint(tmp_path, {"a": np.ones(2), "b": np.zeros(3)}, 1, backend="orbax")
    restored = restore_checkpoint(tmp_path, {"a": np.zeros(2)}, orbax_transforms={})
    assert list(restored) == ["a"]


@requires_orbax
def test_restore_into_target_shardings(tmp_path):
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    mesh = Mesh(np.array(jax.devices()[:4]).reshape(2, 2), ("x", "y"))
    sharding = NamedSharding(mesh, PartitionSpec("x", "y"))
    value = jax.device_put(np.arange(32.0).reshape(8, 4), sharding)
    save_checkpoint(tmp_path, {"m": value}, 0, backend="orbax")
    target = {"m": jax.device_put(np.zeros((8, 4)), sharding)}
    restored = restore_checkpoint(tmp_path, target)
    assert restored["m"].sharding == sharding
    np.testing.assert_array_equal(np.asarray(restored["m"]), np.arange(32.0).reshape(8, 4))


@requires_orbax
def test_save_args_from_target():
    import orbax.checkpoint as ocp

    args = orbax_utils.save_args_from_target({"a": np.ones(2), "b": [1, "s"], "c": None})
    assert args["a"] == ocp.SaveArgs() and args["b"] == [ocp.SaveArgs(), ocp.SaveArgs()]
    assert args["c"] is None


@requires_orbax
def test_restore_args_from_target():
    import orbax.checkpoint as ocp
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    target = {"n": np.ones(2, np.int32), "j": jnp.ones(3), "i": 1, "s": "x"}
    args = orbax_utils.restore_args_from_target(target)
    assert args["n"] == ocp.RestoreArgs(restore_type=np.ndarray, dtype=np.dtype("int32"))
    assert isinstance(args["j"], ocp.ArrayRestoreArgs)
    assert args["j"].sharding == target["j"].sharding
    assert args["i"].restore_type is int and args["s"].restore_type is str
    mesh = Mesh(np.array(jax.devices()[:2]), ("x",))
    other = Mesh(np.array(jax.devices()[2:4]), ("x",))
    sharded = {"m": jax.device_put(np.zeros(4), NamedSharding(mesh, PartitionSpec("x")))}
    moved = orbax_utils.restore_args_from_target(sharded, mesh=other)
    assert moved["m"].sharding == NamedSharding(other, PartitionSpec("x"))


def test_is_multi_device_array():
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    mesh = Mesh(np.array(jax.devices()[:2]), ("x",))
    assert not orbax_utils.is_multi_device_array(jnp.ones(2))
    assert not orbax_utils.is_multi_device_array(np.ones(2))
    sharded = jax.device_put(np.zeros(4), NamedSharding(mesh, PartitionSpec("x")))
    assert orbax_utils.is_multi_device_array(sharded)


def test_orbax_is_imported_only_when_used(run_python):
    result = run_python(
        """
        import sys, tempfile
        import numpy as np
        from flaxen import config
        from flaxen.checkpoint import backend_names, get_backend
        from flaxen.checkpoint import restore_checkpoint, save_checkpoint
        try:  # flaxen-training is not installed in the isolation session
            from flaxen.training import checkpoints, orbax_utils
        except ImportError:
            pass
        d = tempfile.mkdtemp()
        config.update("flaxen_use_orbax_checkpointing", False)
        save_checkpoint(d, {"x": np.ones(2)}, 1)
        restore_checkpoint(d, None)
        print(sorted(backend_names()), get_backend("orbax").recognizes(d))
        print(sorted(m for m in sys.modules if m.split(".")[0] == "orbax"))
        """
    )
    names, modules = result.stdout.strip().splitlines()
    assert "'msgpack', 'orbax'" in names and names.endswith("False")
    assert modules == "[]"


def test_without_orbax_the_default_is_msgpack_and_orbax_says_what_to_install(run_python):
    result = run_python(
        """
        import sys
        sys.modules["orbax"] = None  # as if orbax-checkpoint were not installed
        import tempfile, os
        import numpy as np
        from flaxen.checkpoint import save_checkpoint, orbax_utils
        d = tempfile.mkdtemp()
        print(os.path.isfile(save_checkpoint(d, {"x": np.ones(2)}, 1)))
        for call in (
            lambda: save_checkpoint(d, {"x": 1}, 2, backend="orbax"),
            lambda: orbax_utils.save_args_from_target({"x": 1}),
        ):
            try:
                call()
            except ImportError as e:
                print(str(e).split(" (")[0])
        """
    )
    lines = result.stdout.strip().splitlines()
    hint = (
        "The orbax checkpoint backend needs orbax-checkpoint:"
        " pip install 'flaxen-checkpoint[orbax]'"
    )
    assert lines == ["True", hint, hint]


@requires_orbax
def test_async_orbax_save_survives_donated_arrays(tmp_path):
    from flaxen.checkpoint import AsyncManager

    manager = AsyncManager()
    weights = jnp.arange(1000.0)
    save_checkpoint(tmp_path, {"w": weights}, 1, backend="orbax", async_manager=manager)
    weights.delete()  # as if a jitted step had donated the buffer
    manager.wait_previous_save()
    raw = restore_checkpoint(tmp_path, None)
    assert isinstance(raw["w"], jax.Array)  # saved as a jax array, as given
    np.testing.assert_array_equal(np.asarray(raw["w"]), np.arange(1000.0))
