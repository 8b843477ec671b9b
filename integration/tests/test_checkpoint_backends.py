"""Checkpoint backends as plugins, in fresh environments built from the wheels.

A third-party backend (``integration/plugins/npz-backend``, distribution
``flaxen-example-npz``) is selected by name and found again on restore; what
each distribution pulls in (no orbax without the ``[orbax]`` extra, no
flaxen-checkpoint with flaxen-training alone) is checked with real installs.
"""

import json

SAVE_NPZ = """
import json, os, sys
import numpy as np
from flaxen.checkpoint import backend_names, restore_checkpoint, save_checkpoint
from flaxen.plugins import get_registry
d = sys.argv[1] if len(sys.argv) > 1 else {ckpt_dir!r}
tree = {{"w": np.arange(6.0).reshape(2, 3), "n": 3, "s": "x", "l": [1, np.ones(2, np.int8)]}}
path = save_checkpoint(d, tree, 1, backend="npz")
print(sorted(backend_names()))
print(get_registry().provider("checkpoint_backends", "npz").distribution)
print(sorted(os.listdir(path)))
r = restore_checkpoint(d, None)
print(r["w"].tolist(), r["n"], r["s"], r["l"]["1"].tolist(), r["l"]["1"].dtype)
print(sorted(m for m in sys.modules if m.split(".")[0] == "orbax"))
"""


def test_third_party_backend_selected_by_name(make_env, tmp_path):
    env = make_env("flaxen-checkpoint", "flaxen-example-npz")
    ckpt_dir = str(tmp_path / "ckpt")
    result = env.run(SAVE_NPZ.format(ckpt_dir=ckpt_dir), env={"FLAXEN_STRICT_PLUGINS": "1"})
    lines = result.stdout.splitlines()
    assert lines[0] == "['msgpack', 'npz', 'orbax']"
    assert lines[1] == "flaxen-example-npz"
    assert lines[2] == "['.flaxen-manifest.json', 'arrays.npz', 'tree.json']"
    assert lines[3] == "[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]] 3 x [1, 1] int8"
    assert lines[4] == "[]"  # orbax is never imported

    inspect = env.command("flaxen", "checkpoint", "inspect", ckpt_dir, "--json")
    assert inspect.returncode == 0, inspect.stderr
    report = json.loads(inspect.stdout)
    assert report["checkpoints"][0]["format"] == "npz"
    assert {r["name"]: r["shape"] for r in report["tree"]}["w"] == [2, 3]

    plugins = env.command("flaxen", "plugins", "--json")
    registered = {p["name"]: p["registered"] for p in json.loads(plugins.stdout)}
    assert registered["example_npz"] == {"checkpoint_backends": ["npz"]}
    assert registered["checkpoint"] == {
        "checkpoint_backends": ["msgpack", "orbax"],
        "cli_commands": ["checkpoint"],
    }


def test_third_party_checkpoints_are_checksummed(make_env, tmp_path):
    env = make_env("flaxen-checkpoint", "flaxen-example-npz")
    ckpt_dir = str(tmp_path / "ckpt")
    env.run(SAVE_NPZ.format(ckpt_dir=ckpt_dir))
    result = env.run(
        f"""
        import os
        from flaxen.checkpoint import CorruptedCheckpointError, restore_checkpoint
        path = os.path.join({ckpt_dir!r}, "checkpoint_1", "arrays.npz")
        with open(path, "r+b") as f:
            f.seek(os.path.getsize(path) // 2)
            byte = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([byte[0] ^ 1]))
        try:
            restore_checkpoint({ckpt_dir!r}, None)
        except CorruptedCheckpointError as e:
            print(e.path == path)
        """
    )
    assert result.stdout.split() == ["True"]


def test_without_the_plugin_its_checkpoints_name_it(make_env, tmp_path):
    ckpt_dir = str(tmp_path / "ckpt")
    make_env("flaxen-checkpoint", "flaxen-example-npz").run(SAVE_NPZ.format(ckpt_dir=ckpt_dir))
    env = make_env("flaxen-checkpoint")
    result = env.run(
        f"""
        from flaxen.checkpoint import UnknownCheckpointFormatError, restore_checkpoint
        try:
            restore_checkpoint({ckpt_dir!r}, None)
        except UnknownCheckpointFormatError as e:
            print(e.backend)
            print(e.message)
        """
    )
    backend, message = result.stdout.splitlines()
    assert backend == "npz"
    assert 'written by the "npz" backend, which is not installed' in message


def test_flaxen_checkpoint_alone_has_no_orbax(make_env, tmp_path):
    env = make_env("flaxen-checkpoint")
    installed = env.installed()
    assert "flaxen-checkpoint" in installed and "msgpack" in installed
    assert "orbax-checkpoint" not in installed and "tensorstore" not in installed
    result = env.run(
        f"""
        import os
        import numpy as np
        from flaxen.checkpoint import restore_checkpoint, save_checkpoint
        d = {str(tmp_path / "ckpt")!r}
        print(os.path.isfile(save_checkpoint(d, {{"w": np.ones(3)}}, 1)))  # msgpack by default
        print(restore_checkpoint(d, None)["w"].tolist())
        try:
            save_checkpoint(d, {{"w": 1}}, 2, backend="orbax")
        except ImportError as e:
            print(str(e).split(" (")[0])
        """
    )
    assert result.stdout.splitlines() == [
        "True",
        "[1.0, 1.0, 1.0]",
        "The orbax checkpoint backend needs orbax-checkpoint:"
        " pip install 'flaxen-checkpoint[orbax]'",
    ]


def test_orbax_extra(make_env, tmp_path):
    env = make_env("flaxen-checkpoint[orbax]")
    assert "orbax-checkpoint" in env.installed()
    result = env.run(
        f"""
        import os
        import numpy as np
        from flaxen.checkpoint import restore_checkpoint, save_checkpoint
        d = {str(tmp_path / "ckpt")!r}
        path = save_checkpoint(d, {{"w": np.arange(4)}}, 1)  # orbax by default when installed
        print(os.path.isdir(path), os.path.exists(os.path.join(path, "_METADATA")))
        print(restore_checkpoint(d, {{"w": np.zeros(4, int)}})["w"].tolist())
        """
    )
    assert result.stdout.splitlines() == ["True True", "[0, 1, 2, 3]"]


def test_training_checkpoints_need_flaxen_checkpoint(make_env):
    env = make_env("flaxen-training")
    assert "flaxen-checkpoint" not in env.installed()
    result = env.run(
        """
        import flaxen.training
        for name in ("checkpoints", "orbax_utils"):
            try:
                __import__("flaxen.training." + name)
            except ImportError as e:
                print(e)
        """
    )
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "flaxen.training.checkpoints is provided by the flaxen-checkpoint distribution,"
        " which is not installed: pip install flaxen-checkpoint"
    )
    assert lines[1].startswith("flaxen.training.orbax_utils is provided by the flaxen-checkpoint")


def test_training_checkpoints_with_flaxen_checkpoint(make_env, tmp_path):
    env = make_env("flaxen-training", "flaxen-checkpoint")
    result = env.run(
        f"""
        import numpy as np
        from flaxen.training import checkpoints
        d = {str(tmp_path / "ckpt")!r}
        checkpoints.save_checkpoint(d, {{"w": np.ones(2)}}, 3)
        print(checkpoints.latest_checkpoint(d).endswith("checkpoint_3"))
        print(checkpoints.restore_checkpoint(d, None)["w"].tolist())
        """
    )
    assert result.stdout.splitlines() == ["True", "[1.0, 1.0]"]
