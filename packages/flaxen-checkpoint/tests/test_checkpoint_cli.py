"""``flaxen checkpoint inspect DIR``."""

import json
import os
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest

from flaxen.checkpoint import save_checkpoint
from flaxen.cli import main

from .conftest import requires_orbax

TREE = {
    "params": {"Dense_0": {"kernel": np.zeros((784, 128), np.float32), "bias": np.zeros(128)}},
    "emb": jnp.zeros((10, 4), jnp.bfloat16),
    "step": 7,
    "name": "mlp",
}


def run(capsys, *args):
    code = main(["checkpoint", *args])
    return code, capsys.readouterr().out


def test_inspect_lists_steps_and_shows_the_latest_tree(tmp_path, capsys, monkeypatch):
    for module in ("rich.console", "rich.table"):  # as if rich were absent: plain text
        monkeypatch.setitem(sys.modules, module, None)
    for step in (1, 2):
        save_checkpoint(tmp_path, TREE, step, keep=2, backend="msgpack")
    code, out = run(capsys, "inspect", str(tmp_path))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"checkpoints in {tmp_path}"
    assert lines[1].split() == ["step", "format", "size", "integrity", "path"]
    size = os.path.getsize(tmp_path / "checkpoint_1")
    assert lines[3].split()[:2] == ["1", "msgpack"]
    assert f"{size / 1024:.1f} KiB" in lines[3] and "checksums" in lines[3]
    assert lines[4].split()[0] == "2"
    tree_start = lines.index(f"tree of {tmp_path / 'checkpoint_2'}")
    rows = {line.split()[0]: line.split()[1:] for line in lines[tree_start + 3 : -1]}
    assert rows["params/Dense_0/kernel"] == ["(784,", "128)", "float32", "392.0", "KiB"]
    assert rows["params/Dense_0/bias"] == ["(128,)", "float64", "1.0", "KiB"]
    assert rows["emb"] == ["(10,", "4)", "bfloat16", "80", "B"]
    assert rows["step"] == ["-", "int", "-"]
    assert rows["name"] == ["-", "str", "-"]
    assert lines[-1] == "5 leaves, 3 arrays, 393.1 KiB of array data"


def test_inspect_json_and_step(tmp_path, capsys):
    for step in (1, 2):
        save_checkpoint(tmp_path, {"w": np.zeros(step)}, step, keep=2, backend="msgpack")
    code, out = run(capsys, "inspect", str(tmp_path), "--step", "1", "--json")
    report = json.loads(out)
    assert code == 0
    assert [c["step"] for c in report["checkpoints"]] == ["1", "2"]
    assert report["checkpoints"][0]["manifest"] is True
    assert report["shown"] == str(tmp_path / "checkpoint_1")
    assert report["tree"] == [{"name": "w", "shape": [1], "dtype": "float64", "bytes": 8}]


def test_inspect_a_single_checkpoint_and_flax_files(tmp_path, capsys):
    from flaxen import serialization

    (tmp_path / "checkpoint_5").write_bytes(serialization.to_bytes({"a": np.ones(3)}))
    code, out = run(capsys, "inspect", str(tmp_path / "checkpoint_5"), "--json")
    report = json.loads(out)
    assert code == 0
    assert report["checkpoints"][0]["manifest"] is False  # a Flax file: format checks only
    assert report["tree"][0]["name"] == "a"


def test_inspect_reports_damage(tmp_path, capsys):
    path = save_checkpoint(tmp_path, {"w": np.zeros(1000)}, 1, backend="msgpack")
    os.truncate(path, 100)
    code, out = run(capsys, "inspect", str(tmp_path), "--json")
    report = json.loads(out)
    assert code == 1
    assert report["error"].startswith(f'Checkpoint file "{path}" is corrupted: it has 100 bytes')


def test_inspect_missing_path_and_empty_dir(tmp_path, capsys):
    code, out = run(capsys, "inspect", str(tmp_path / "nope"))
    assert code == 2 and "does not exist" in out
    code, out = run(capsys, "inspect", str(tmp_path), "--json")
    assert code == 0 and json.loads(out)["checkpoints"] == []


def test_checkpoint_without_action_prints_usage(capsys):
    code, out = run(capsys)
    assert code == 2 and out.startswith("usage: flaxen checkpoint inspect")


@requires_orbax
def test_inspect_orbax_with_rich(tmp_path, capsys):
    pytest.importorskip("rich")
    save_checkpoint(tmp_path, TREE, 3, backend="orbax")
    code, out = run(capsys, "inspect", str(tmp_path))
    assert code == 0
    assert "orbax" in out and "params/Dense_0/kernel" in out and "(784, 128)" in out
    assert "┃" in out or "│" in out  # a rich table


def test_the_flaxen_executable(tmp_path):
    save_checkpoint(tmp_path, {"w": np.zeros(3)}, 1, backend="msgpack")
    exe = os.path.join(os.path.dirname(sys.executable), "flaxen")
    if not os.path.exists(exe):
        pytest.skip("the flaxen script is not installed next to this interpreter")
    result = subprocess.run(
        [exe, "checkpoint", "inspect", str(tmp_path), "--json"],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, JAX_PLATFORMS="cpu"),
    )
    assert json.loads(result.stdout)["tree"][0]["name"] == "w"
