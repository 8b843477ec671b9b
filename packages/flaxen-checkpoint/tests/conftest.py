"""Fixtures of the flaxen-checkpoint tests."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest


def _orbax_available() -> bool:
    from flaxen.checkpoint._orbax_backend import orbax_available

    return orbax_available()


requires_orbax = pytest.mark.skipif(
    not _orbax_available(), reason="needs orbax-checkpoint (flaxen-checkpoint[orbax])"
)


@pytest.fixture
def msgpack_default():
    """Saves without ``backend=`` use msgpack (the orbax flag off)."""
    from flaxen import config

    with config.temp_flip_flag("flaxen_use_orbax_checkpointing", False):
        yield


@pytest.fixture
def run_python(tmp_path):
    """Runs Python code in a fresh interpreter; returns the CompletedProcess."""

    def run(code: str, env: dict[str, str] | None = None, timeout: float = 120, check=True):
        full_env = dict(os.environ)
        full_env.update({"JAX_PLATFORMS": "cpu", "PYTHONDONTWRITEBYTECODE": "1"})
        full_env.update(env or {})
        result = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            check=False,
            capture_output=True,
            text=True,
            env=full_env,
            timeout=timeout,
            cwd=tmp_path,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"exit {result.returncode}\n--- stdout\n{result.stdout}"
                f"\n--- stderr\n{result.stderr}"
            )
        return result

    return run
