"""Fixtures for cross-package tests: fresh environments built from wheels.

``nox -s integration`` builds every distribution and every plugin fixture
into a wheelhouse and points ``FLAXEN_WHEELHOUSE`` at it. Tests create fresh
virtual environments with exactly the distributions they name, so "install
only what you need" is tested with real installs, not with mocks.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import textwrap

import pytest


def _uv() -> list[str]:
    found = shutil.which("uv")
    if found:
        return [found]
    return [sys.executable, "-m", "uv"]


@pytest.fixture(scope="session")
def wheelhouse() -> pathlib.Path:
    path = os.environ.get("FLAXEN_WHEELHOUSE")
    if not path:
        pytest.skip("needs the wheels built by `nox -s integration` (FLAXEN_WHEELHOUSE)")
    return pathlib.Path(path)


class FreshEnv:
    """A virtual environment with a chosen set of distributions installed."""

    def __init__(self, root: pathlib.Path) -> None:
        self.root = root
        self.python = root / "bin" / "python"

    def run(
        self, code: str, *, env: dict[str, str] | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Runs Python ``code`` in the environment; returns the finished process."""
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("FLAXEN_")}
        full_env.update({"JAX_PLATFORMS": "cpu", "PYTHONDONTWRITEBYTECODE": "1"})
        full_env.update(env or {})
        result = subprocess.run(
            [str(self.python), "-c", textwrap.dedent(code)],
            capture_output=True,
            text=True,
            env=full_env,
            check=False,
            timeout=600,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"exit {result.returncode}\n--- stdout\n{result.stdout}"
                f"\n--- stderr\n{result.stderr}"
            )
        return result

    def command(self, *args: str, env: dict[str, str] | None = None):
        """Runs an executable of the environment's bin/ directory."""
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("FLAXEN_")}
        full_env.update(env or {})
        return subprocess.run(
            [str(self.root / "bin" / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            env=full_env,
            check=False,
            timeout=600,
        )

    def installed(self) -> set[str]:
        listing = self.run(
            "import importlib.metadata as m; print('\\n'.join(d.metadata['Name'].lower()"
            " for d in m.distributions()))"
        )
        return set(listing.stdout.split())


@pytest.fixture(scope="session")
def make_env(tmp_path_factory, wheelhouse):
    """``make_env('flaxen-core', 'flaxen-fixture-good')`` -> a :class:`FreshEnv`.

    Environments with the same requirements are shared within a session.
    """
    cache: dict[tuple[str, ...], FreshEnv] = {}

    def make(*requirements: str) -> FreshEnv:
        key = tuple(sorted(requirements))
        if key not in cache:
            root = tmp_path_factory.mktemp("env") / "venv"
            subprocess.run([*_uv(), "venv", "-q", "-p", sys.executable, str(root)], check=True)
            subprocess.run(
                [
                    *_uv(), "pip", "install", "-q", "-p", str(root / "bin" / "python"),
                    "--find-links", str(wheelhouse), *requirements,
                ],
                check=True,
            )  # fmt: skip
            cache[key] = FreshEnv(root)
        return cache[key]

    return make
