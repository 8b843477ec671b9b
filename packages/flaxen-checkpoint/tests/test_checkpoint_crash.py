"""SIGKILL in the middle of a save: the previous checkpoint survives, the directory stays usable.

Each test runs a save in a subprocess that pauses at a named point
(``FLAXEN_CHECKPOINT_TEST_PAUSE``), kills it there with SIGKILL, then
restores and saves again in this process.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from flaxen.checkpoint import AsyncManager, available_steps, restore_checkpoint, save_checkpoint

from .conftest import requires_orbax

SAVE_SCRIPT = """
import os, sys, signal
import numpy as np
from flaxen.checkpoint import AsyncManager, save_checkpoint
ckpt_dir, backend, step, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
tree = {"w": np.full(300_000, step, np.float32), "step": step, "name": "s" * step}
if mode == "sync":
    save_checkpoint(ckpt_dir, tree, step, backend=backend, keep=1)
    print("saved", flush=True)
else:
    manager = AsyncManager()
    save_checkpoint(ckpt_dir, tree, step, backend=backend, keep=1, async_manager=manager)
    print("returned", flush=True)
    if mode == "async-wait":
        manager.wait_previous_save()
        print("waited", flush=True)
    # The training loop crashes: nothing is flushed, nothing is joined.
    os.kill(os.getpid(), signal.SIGKILL)
"""


def tree(step):
    return {"w": np.full(300_000, step, np.float32), "step": step, "name": "s" * step}


def state_dict(step):
    return {"w": np.full(300_000, step, np.float32), "step": step, "name": "s" * step}


def assert_is_step(restored, step):
    want = state_dict(step)
    assert sorted(restored) == sorted(want)
    np.testing.assert_array_equal(np.asarray(restored["w"]), want["w"])
    assert restored["step"] == step and restored["name"] == want["name"]


def start(tmp_path, ckpt_dir, backend, step, mode, pause=None):
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    marker = tmp_path / "marker"
    if pause:
        env["FLAXEN_CHECKPOINT_TEST_PAUSE"] = pause
        env["FLAXEN_CHECKPOINT_TEST_MARKER"] = str(marker)
    script = tmp_path / "save.py"
    script.write_text(textwrap.dedent(SAVE_SCRIPT))
    proc = subprocess.Popen(
        [sys.executable, str(script), str(ckpt_dir), backend, str(step), mode],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, marker


def kill_at(proc, marker, point, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if marker.exists() and point in marker.read_text().split():
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=30)
            return
        if proc.poll() is not None:
            raise AssertionError(f"the save ended before {point}: {proc.communicate()}")
        time.sleep(0.01)
    proc.kill()
    raise AssertionError(f"the save never reached {point}: {proc.communicate(timeout=30)}")


def check_usable_after_crash(ckpt_dir, backend, committed_step):
    restored = restore_checkpoint(ckpt_dir, None)
    assert_is_step(restored, committed_step)
    save_checkpoint(ckpt_dir, tree(3), 3, backend=backend, keep=1)
    assert available_steps(ckpt_dir) == [3]
    assert_is_step(restore_checkpoint(ckpt_dir, None), 3)
    leftovers = [n for n in os.listdir(ckpt_dir) if "flaxen-tmp" in n or "flaxen-trash" in n]
    assert leftovers == []


MSGPACK_POINTS = [
    ("before_write", 1),
    ("mid_write", 1),
    ("after_write", 1),
    ("before_rename", 1),
    ("after_rename", 2),
    ("before_cleanup", 2),
]
# Orbax's before_write is the same code path as msgpack's.
ORBAX_POINTS = [("after_write", 1), ("before_rename", 1), ("before_cleanup", 2)]
CASES = [("msgpack", point, committed) for point, committed in MSGPACK_POINTS]
CASES += [("orbax", point, committed) for point, committed in ORBAX_POINTS]


def _orbax_ok():
    from flaxen.checkpoint._orbax_backend import orbax_available

    return orbax_available()


@pytest.fixture(scope="module")
def crashed(tmp_path_factory):
    """Every (backend, pause point) save, started at once and killed at its point.

    Starting the subprocesses together keeps the wall time near one
    interpreter start-up instead of one per case.
    """
    runs = {}
    cases = [(b, p, "sync") for b, p, _ in CASES if b == "msgpack" or _orbax_ok()]
    # The training loop dies after wait_previous_save() returned / right after
    # save_checkpoint returned while the background save is held mid-write.
    cases += [("msgpack", None, "async-wait"), ("msgpack", "mid_write", "async-kill")]
    for backend, point, mode in cases:
        root = tmp_path_factory.mktemp(f"{backend}-{point}-{mode}")
        ckpt_dir = root / "ckpt"
        save_checkpoint(ckpt_dir, tree(1), 1, backend=backend)
        runs[backend, point, mode] = (ckpt_dir, *start(root, ckpt_dir, backend, 2, mode, point))
    results = {}
    for (backend, point, mode), (ckpt_dir, proc, marker) in runs.items():
        try:
            if mode == "sync":
                kill_at(proc, marker, point)
                results[backend, point, mode] = ckpt_dir, None
            else:
                out, err = proc.communicate(timeout=120)
                results[backend, point, mode] = ckpt_dir, (proc.returncode, out, err)
        except AssertionError as error:
            results[backend, point, mode] = ckpt_dir, error
    return results


@pytest.mark.parametrize(("backend", "point", "committed"), CASES)
def test_kill_during_save(crashed, backend, point, committed):
    if backend == "orbax" and not _orbax_ok():
        pytest.skip("needs orbax-checkpoint")
    ckpt_dir, error = crashed[backend, point, "sync"]
    if error is not None:
        raise error
    if point == "mid_write":
        (tmp_name,) = [n for n in os.listdir(ckpt_dir) if "flaxen-tmp" in n]
        assert 0 < os.path.getsize(ckpt_dir / tmp_name) < os.path.getsize(ckpt_dir / "checkpoint_1")
    check_usable_after_crash(ckpt_dir, backend, committed)


@requires_orbax
def test_kill_while_orbax_writes_its_files(tmp_path):
    ckpt_dir = tmp_path / "ckpt"
    save_checkpoint(ckpt_dir, tree(1), 1, backend="orbax")
    proc, _ = start(tmp_path, ckpt_dir, "orbax", 2, "sync")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        tmps = [n for n in os.listdir(ckpt_dir) if "flaxen-tmp" in n]
        if tmps and any(files for _, _, files in os.walk(ckpt_dir / tmps[0])):
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.001)
    proc.communicate(timeout=90)
    # Killed while Orbax wrote (or, on a fast machine, just after it finished):
    # either way the latest checkpoint is one complete step.
    restored = restore_checkpoint(ckpt_dir, None)
    assert_is_step(restored, int(restored["step"]))
    save_checkpoint(ckpt_dir, tree(3), 3, backend="orbax", keep=1)
    assert_is_step(restore_checkpoint(ckpt_dir, None), 3)


def test_async_save_is_durable_once_wait_returned(crashed):
    ckpt_dir, (returncode, out, err) = crashed["msgpack", None, "async-wait"]
    assert returncode == -signal.SIGKILL, err
    assert out.split() == ["returned", "waited"]
    check_usable_after_crash(ckpt_dir, "msgpack", 2)


def test_crash_before_the_async_save_finished_keeps_the_previous(crashed):
    ckpt_dir, (returncode, out, err) = crashed["msgpack", "mid_write", "async-kill"]
    assert returncode == -signal.SIGKILL, err
    assert out.split() == ["returned"]
    check_usable_after_crash(ckpt_dir, "msgpack", 1)


# -- AsyncManager in process ---------------------------------------------------------


def test_async_save_snapshots_the_target(tmp_path):
    manager = AsyncManager()
    weights = np.zeros(1000)
    path = save_checkpoint(tmp_path, {"w": weights}, 1, async_manager=manager, backend="msgpack")
    weights += 5  # training goes on in place
    manager.wait_previous_save()
    assert path == str(tmp_path / "checkpoint_1")
    np.testing.assert_array_equal(restore_checkpoint(tmp_path, None)["w"], np.zeros(1000))


def test_async_saves_run_one_after_the_other_with_keep(tmp_path):
    manager = AsyncManager()
    for step in range(5):
        save_checkpoint(
            tmp_path, {"x": step}, step, keep=2, async_manager=manager, backend="msgpack"
        )
    manager.wait_previous_save()
    assert available_steps(tmp_path) == [3, 4]


def test_async_overwrite_errors_are_raised_by_the_call(tmp_path):
    from flaxen.errors import InvalidCheckpointError

    manager = AsyncManager()
    save_checkpoint(tmp_path, {"x": 1}, 5, async_manager=manager, backend="msgpack")
    with pytest.raises(InvalidCheckpointError):
        save_checkpoint(tmp_path, {"x": 1}, 4, async_manager=manager, backend="msgpack")


def test_background_errors_surface_on_wait(tmp_path):
    class Failing:
        name = "failing"
        single_file = True

        def save(self, path, state):
            raise OSError("disk on fire")

        def restore(self, path, target):
            raise NotImplementedError

        def recognizes(self, path):
            return False

    manager = AsyncManager()
    save_checkpoint(tmp_path, {"x": 1}, 1, async_manager=manager, backend=Failing())
    with pytest.raises(OSError, match="disk on fire"):
        manager.wait_previous_save()
    manager.wait_previous_save()  # reported once
    assert os.listdir(tmp_path) == []
