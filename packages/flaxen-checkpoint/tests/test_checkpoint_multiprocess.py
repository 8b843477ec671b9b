"""Two JAX processes (jax.distributed on 127.0.0.1, CPU devices, gloo collectives).

They save a train state whose arrays are sharded across both processes with
``save_checkpoint_multiprocess`` and restore it into the same shardings; every
byte of every restored array is compared with what was saved.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest

from .conftest import requires_orbax

pytestmark = [pytest.mark.multiprocess, requires_orbax]

WORKER = r"""
import json, os, sys
process_id, port, root = int(sys.argv[1]), sys.argv[2], sys.argv[3]
import jax
jax.config.update("jax_cpu_collectives_implementation", "gloo")
jax.distributed.initialize(f"127.0.0.1:{port}", num_processes=2, process_id=process_id)

import numpy as np
import optax
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from flaxen.checkpoint import (
    available_steps, restore_checkpoint, save_checkpoint, save_checkpoint_multiprocess,
)
from flaxen.errors import (
    InvalidCheckpointError, MPACheckpointingRequiredError, MPARestoreDataCorruptedError,
    MPARestoreTargetRequiredError,
)
from flaxen.training import train_state

mesh = Mesh(np.array(jax.devices()).reshape(2, 2), ("data", "model"))
SHARDINGS = {
    "kernel": NamedSharding(mesh, P("data", "model")),
    "bias": NamedSharding(mesh, P("model")),
}
SHAPES = {"kernel": (8, 6), "bias": (6,)}


def expected(name, scale):
    n = int(np.prod(SHAPES[name]))
    return (np.arange(n, dtype=np.float32).reshape(SHAPES[name]) + 0.25) * scale


def global_array(name, scale):
    value = expected(name, scale)
    return jax.make_array_from_callback(SHAPES[name], SHARDINGS[name], lambda idx: value[idx])


def make_state(scale):
    params = {"Dense_0": {n: global_array(n, scale) for n in SHAPES}}
    state = train_state.TrainState.create(apply_fn=None, params=params, tx=optax.adam(1e-3))
    mu = {"Dense_0": {n: global_array(n, scale * 2) for n in SHAPES}}
    adam = state.opt_state[0]._replace(mu=mu, count=jax.numpy.asarray(7, jax.numpy.int32))
    return state.replace(step=3, opt_state=(adam, *state.opt_state[1:]))


def full(x):
    return np.asarray(multihost_utils.process_allgather(x, tiled=True))


def check_bytes(restored, scale):
    checked = 0
    for n in SHAPES:
        got = restored.params["Dense_0"][n]
        assert got.sharding == SHARDINGS[n], (n, got.sharding)
        assert full(got).tobytes() == expected(n, scale).tobytes(), n
        mu = restored.opt_state[0].mu["Dense_0"][n]
        assert full(mu).tobytes() == expected(n, scale * 2).tobytes(), n
        checked += 2 * expected(n, scale).nbytes
    assert int(restored.step) == 3 and int(restored.opt_state[0].count) == 7
    return checked


report = {}
ckpt_dir = os.path.join(root, "ckpt")
state = make_state(1.0)
path = save_checkpoint_multiprocess(ckpt_dir, state, step=1)  # orbax: flaxen's default
report["path"] = path
target = make_state(0.0)
report["bytes_checked"] = check_bytes(restore_checkpoint(ckpt_dir, target), 1.0)

# A second save keeps one checkpoint; an outdated one is refused on every process.
save_checkpoint_multiprocess(ckpt_dir, make_state(2.0), step=2, keep=1)
report["steps"] = available_steps(ckpt_dir)
report["bytes_checked"] += check_bytes(restore_checkpoint(ckpt_dir, target), 2.0)
try:
    save_checkpoint_multiprocess(ckpt_dir, state, step=2)
except InvalidCheckpointError as e:
    report["outdated"] = type(e).__name__

# The legacy single-file format cannot hold arrays that span processes.
try:
    save_checkpoint_multiprocess(os.path.join(root, "legacy"), state, step=1, backend="msgpack")
except MPACheckpointingRequiredError as e:
    report["msgpack"] = type(e).__name__
# Without process-spanning arrays it works: process 0 writes the file.
small = {"x": np.arange(5), "note": "replicated"}
save_checkpoint_multiprocess(os.path.join(root, "small"), small, step=1, backend="msgpack")
report["small"] = restore_checkpoint(os.path.join(root, "small"), None)["note"]

# Arrays that spanned processes need a target to take their shardings from...
try:
    restore_checkpoint(ckpt_dir, None)
except MPARestoreTargetRequiredError as e:
    report["no_target"] = [type(e).__name__, e.key]
partial = restore_checkpoint(ckpt_dir, None, allow_partial_mpa_restoration=True)
report["partial_keys"] = sorted(partial)

# ...and their save's commit marker.
multihost_utils.sync_global_devices("before_damage")
if process_id == 0:
    os.remove(os.path.join(ckpt_dir, "checkpoint_2", "commit_success.txt"))
multihost_utils.sync_global_devices("after_damage")
try:
    restore_checkpoint(ckpt_dir, target)
except MPARestoreDataCorruptedError as e:
    report["corrupted"] = type(e).__name__

print("REPORT " + json.dumps(report), flush=True)
multihost_utils.sync_global_devices("done")
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_save_and_restore_a_sharded_train_state(tmp_path):
    pytest.importorskip("optax")
    pytest.importorskip("flaxen.training.train_state")
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(WORKER))
    env = dict(
        os.environ,
        JAX_PLATFORMS="cpu",
        XLA_FLAGS="--xla_force_host_platform_device_count=2",
        PYTHONDONTWRITEBYTECODE="1",
    )
    port = str(free_port())
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(i), port, str(tmp_path)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=120))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    reports = []
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, err[-4000:]
        (line,) = [line for line in out.splitlines() if line.startswith("REPORT ")]
        reports.append(json.loads(line[len("REPORT ") :]))
    for report in reports:
        assert report["path"] == str(tmp_path / "ckpt" / "checkpoint_1")
        # kernel and bias, params and adam's mu, two saves: every byte compared.
        assert report["bytes_checked"] == 2 * 2 * (8 * 6 + 6) * 4
        assert report["steps"] == [2]
        assert report["outdated"] == "InvalidCheckpointError"
        assert report["msgpack"] == "MPACheckpointingRequiredError"
        assert report["small"] == "replicated"
        assert report["no_target"][0] == "MPARestoreTargetRequiredError"
        assert report["no_target"][1].startswith("opt_state/") or report["no_target"][1].startswith(
            "params/"
        )
        assert report["partial_keys"] == ["opt_state", "params", "step"]
        assert report["corrupted"] == "MPARestoreDataCorruptedError"
    assert sorted(os.listdir(tmp_path / "ckpt")) == ["checkpoint_2"]
    assert sorted(os.listdir(tmp_path / "small")) == [
        ".checkpoint_1.flaxen-manifest.json",
        "checkpoint_1",
    ]
