"""The guide's model trained by two JAX processes (jax.distributed, CPU, gloo).

Each process has 4 CPU devices; together they form the guide's 2x4 mesh. The
mesh is laid out twice: data-parallel across processes (each process holds
half of the batch) and model-parallel across processes (each process holds
half of every sharded parameter). Both runs must give the parameters and
outputs of the same model trained on a single device in one process.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

pytestmark = pytest.mark.multiprocess

pytest.importorskip("optax")
pytest.importorskip("flaxen.training.train_state")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import _spmd_guide as guide  # noqa: E402

WORKER = r"""
import json, os, sys
process_id, port, out_dir, tests_dir = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
import jax
jax.config.update("jax_cpu_collectives_implementation", "gloo")
jax.distributed.initialize(f"127.0.0.1:{port}", num_processes=2, process_id=process_id)

import numpy as np
from jax.experimental import multihost_utils

sys.path.insert(0, tests_dir)
import _spmd_guide as guide

devices = sorted(jax.devices(), key=lambda d: (d.process_index, d.id))
assert len(devices) == 8 and len(jax.local_devices()) == 4
layouts = {
    # 'data' spans the processes: each holds half of the batch
    "data_parallel": np.array(devices).reshape(2, 4),
    # 'model' spans the processes: each holds half of every sharded parameter
    "model_parallel": np.array(devices).reshape(4, 2).T,
}


def put(value, sharding):
    value = np.asarray(value)
    return jax.make_array_from_callback(value.shape, sharding, lambda index: value[index])


k = jax.random.PRNGKey(0)
x = np.asarray(jax.random.normal(jax.random.PRNGKey(1), (guide.BATCH, guide.DEPTH)))
report = {}
for name, grid in layouts.items():
    mesh = jax.sharding.Mesh(grid, ("data", "model"))
    model = guide.LogicalMLP(guide.LAYERS, guide.DEPTH, True)
    _, state, y, _ = guide.train(model, mesh, k, x, rules=guide.RULES, put=put)
    w1 = state.params["ScanLogicalDotReluDot_0"]["W1"].value
    # what this process holds of W1 (model-parallel: half of it) and of y
    report[name] = {
        "w1_local": [list(s.data.shape) for s in w1.addressable_shards],
        "y_local": [list(s.data.shape) for s in y.addressable_shards],
        "w1_processes": sorted({d.process_index for d in w1.sharding.device_set}),
        "w1_columns": sorted({s.index[2].start or 0 for s in w1.addressable_shards}),
        "y_rows": sorted({s.index[0].start or 0 for s in y.addressable_shards}),
    }
    leaves = jax.tree_util.tree_leaves((state.params, y))
    full = [np.asarray(multihost_utils.process_allgather(a, tiled=True)) for a in leaves]
    if process_id == 0:
        np.savez(os.path.join(out_dir, name + ".npz"), *full)
print("REPORT " + json.dumps(report), flush=True)
multihost_utils.sync_global_devices("done")
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_workers(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(WORKER))
    env = dict(
        os.environ,
        JAX_PLATFORMS="cpu",
        XLA_FLAGS="--xla_force_host_platform_device_count=4",
        PYTHONDONTWRITEBYTECODE="1",
    )
    port = str(free_port())
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(i), port, str(tmp_path), HERE],
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
            outputs.append(proc.communicate(timeout=240))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    reports = []
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-4000:]
        (line,) = [line for line in out.splitlines() if line.startswith("REPORT ")]
        reports.append(json.loads(line[len("REPORT ") :]))
    return reports


def test_two_processes_train_like_one_device(tmp_path):
    reports = run_workers(tmp_path)

    single = jax.sharding.Mesh(np.array(jax.devices()[:1]).reshape(1, 1), ("data", "model"))
    k = jax.random.PRNGKey(0)
    x = jax.random.normal(jax.random.PRNGKey(1), (guide.BATCH, guide.DEPTH))
    model = guide.LogicalMLP(guide.LAYERS, guide.DEPTH, True)
    _, state, y, _ = guide.train(model, single, k, x, rules=guide.RULES)
    expected = [np.asarray(a) for a in jax.tree_util.tree_leaves((state.params, y))]

    layers, depth, batch = guide.LAYERS, guide.DEPTH, guide.BATCH
    for report in reports:
        dp, mp = report["data_parallel"], report["model_parallel"]
        # W1 is sharded 4-way along 'model', y 2-way along 'data'
        assert dp["w1_local"] == [[layers, depth, depth // 4]] * 4
        assert dp["y_local"] == [[batch // 2, depth]] * 4
        assert mp["w1_local"] == [[layers, depth, depth // 4]] * 4
        assert dp["w1_processes"] == mp["w1_processes"] == [0, 1]
        quarter = depth // 4
        # data-parallel: a process holds all of W1 and half of the batch
        assert dp["w1_columns"] == [0, quarter, 2 * quarter, 3 * quarter]
        assert len(dp["y_rows"]) == 1
        # model-parallel: a process holds half of W1 and all of the batch
        assert len(mp["w1_columns"]) == 2
        assert mp["y_rows"] == [0, batch // 2]
    assert reports[0]["data_parallel"]["y_rows"] != reports[1]["data_parallel"]["y_rows"]
    assert reports[0]["model_parallel"]["w1_columns"] != reports[1]["model_parallel"]["w1_columns"]

    for layout in ("data_parallel", "model_parallel"):
        with np.load(tmp_path / f"{layout}.npz") as data:
            got = [data[f"arr_{i}"] for i in range(len(data.files))]
        assert len(got) == len(expected) == 3
        for a, b in zip(got, expected, strict=True):
            assert a.shape == b.shape
            np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6, err_msg=layout)
