"""The README's main job: training on the digits data, interrupted and resumed."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = REPO / "docs" / "examples" / "digits" / "train.py"

pytestmark = pytest.mark.slow


def _run(out: pathlib.Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out), *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "120"},
    )


def _accuracy(out: pathlib.Path) -> float:
    return json.loads((out / "metrics.json").read_text())["test_accuracy"]


def test_interrupted_run_resumes_and_matches_an_uninterrupted_one(tmp_path):
    straight = tmp_path / "straight"
    result = _run(straight, "--epochs", "3")
    assert "held-out accuracy" in result.stdout
    assert "Dense_0" in result.stdout  # the tabulate summary

    interrupted = tmp_path / "interrupted"
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--out", str(interrupted), "--epochs", "3"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    first = interrupted / "checkpoints" / "checkpoint_1"
    deadline = time.monotonic() + 300
    while not first.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert first.exists(), "no checkpoint was written before the kill"
    assert not (interrupted / "metrics.json").exists()

    resumed = _run(interrupted, "--epochs", "3")
    assert "Resumed from the checkpoint of epoch" in resumed.stdout
    assert _accuracy(interrupted) == _accuracy(straight)


def test_default_run_reaches_97_percent(tmp_path):
    # Its wall time (the issue asks for under 2 minutes on 2 cores) is measured
    # by running `nox -s demo`, not asserted here.
    _run(tmp_path / "full")
    assert _accuracy(tmp_path / "full") >= 0.97
