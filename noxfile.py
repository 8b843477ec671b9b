"""Every development task of the flaxen monorepo, CI included, runs through nox.

    nox -t ci            what CI runs (the README's test command)
    nox -s demo          train the example model on the bundled digits data
    nox -s docs          build the docs and run every example in them
    nox -s tests         every package's tests in one environment
    nox -s "isolated(package='flaxen-core')"   one package, only its dependencies
    nox -l               everything else

Packages are discovered from ``packages/*/pyproject.toml``. Environments use
uv (fast, shares one cache across venvs); set ``NOX_REUSE=1`` to keep them
between runs.
"""

from __future__ import annotations

import functools
import os
import pathlib
import re
import shutil
import tomllib

import nox

ROOT = pathlib.Path(__file__).parent
PACKAGES_DIR = ROOT / "packages"
BUILD_DIR = ROOT / "build"
WHEELHOUSE = BUILD_DIR / "wheels"
FIXTURES_DIR = ROOT / "integration" / "plugins"
PYTHON = "3.11"

nox.options.default_venv_backend = "uv"
nox.options.reuse_venv = "yes" if os.environ.get("NOX_REUSE") else "no"
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["checks", "lint", "tests"]

# Test-only environment for every session that runs pytest.
TEST_ENV = {
    "FLAXEN_STRICT_PLUGINS": "1",
    "PYTHONHASHSEED": "0",
    "JAX_PLATFORMS": "cpu",
}


@functools.cache
def packages() -> dict[str, dict]:
    """Distribution name -> its parsed pyproject.toml, for every package."""
    found = {}
    for pyproject in sorted(PACKAGES_DIR.glob("*/pyproject.toml")):
        data = tomllib.loads(pyproject.read_text())
        data["_dir"] = pyproject.parent
        found[data["project"]["name"]] = data
    return found


def _requirement_name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower()


def sibling_closure(name: str) -> list[str]:
    """``name`` and every flaxen distribution it depends on, transitively."""
    seen: list[str] = []
    stack = [name]
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.append(current)
        for requirement in packages()[current]["project"].get("dependencies", []):
            dep = _requirement_name(requirement)
            if dep in packages():
                stack.append(dep)
    return seen


def library_packages() -> list[str]:
    """Every distribution that ships code (all but the meta-package)."""
    return [n for n, d in packages().items() if (d["_dir"] / "src").is_dir()]


def install_test_groups(session: nox.Session, names: list[str]) -> None:
    args = []
    for name in names:
        pyproject = packages()[name]["_dir"] / "pyproject.toml"
        if "test" in tomllib.loads(pyproject.read_text()).get("dependency-groups", {}):
            args += ["--group", f"{pyproject}:test"]
    if args:
        session.install(*args)


def test_paths(names: list[str]) -> list[str]:
    return [str(packages()[n]["_dir"] / "tests") for n in names]


def run_pytest(
    session: nox.Session,
    *paths: str,
    extra: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> None:
    env = {**TEST_ENV, **(env or {})}
    session.run("python", "-m", "pytest", *paths, *extra, *session.posargs, env=env)


# -- fast checks ---------------------------------------------------------------


@nox.session(venv_backend="none", tags=["ci"])
def checks(session: nox.Session) -> None:
    """Versions, sibling ranges, changelogs, the namespace rule, test names."""
    session.run("python", "tools/check_repo.py", external=True)


@nox.session(python=PYTHON, tags=["ci"])
def lint(session: nox.Session) -> None:
    """ruff on everything, __init__.py files included."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


# -- tests ---------------------------------------------------------------------


@nox.session(python=PYTHON, tags=["ci"])
def tests(session: nox.Session) -> None:
    """Every package's tests in one environment with every package installed."""
    names = library_packages()
    session.install(*[arg for n in names for arg in ("-e", str(packages()[n]["_dir"]))])
    session.install(str(packages()["flaxen-checkpoint"]["_dir"]) + "[orbax]")
    install_test_groups(session, names)
    session.install("pytest-xdist>=3.5")
    run_pytest(session, *test_paths(names), extra=("-n", "2", "--dist", "loadfile"))


@nox.session(python=PYTHON, tags=["ci"])
@nox.parametrize("package", [n for n in sorted(packages()) if n != "flaxen"])
def isolated(session: nox.Session, package: str) -> None:
    """One package with only its declared dependencies, then its own tests.

    This is what keeps "install only what you need" true: a test that needs
    optax, rich or orbax fails here unless the package declares it.
    """
    closure = sibling_closure(package)
    session.install(*[str(packages()[n]["_dir"]) for n in closure])
    install_test_groups(session, [package])
    session.install("pytest-xdist>=3.5")  # the test runner only, not a dependency
    run_pytest(session, *test_paths([package]), extra=("-n", "2", "--dist", "loadfile"))


@nox.session(python=PYTHON)
def compat(session: nox.Session) -> None:
    """The compatibility tests against PyPI flax, run as a black-box oracle."""
    names = library_packages()
    session.install(*[arg for n in names for arg in ("-e", str(packages()[n]["_dir"]))])
    install_test_groups(session, names)
    session.install("flax")
    run_pytest(session, *test_paths(names), "integration/tests", extra=("-m", "compat"))


@nox.session(python=PYTHON)
def lowest(session: nox.Session) -> None:
    """Every package at the lowest versions its requirements allow."""
    names = library_packages()
    session.install(
        "--resolution",
        "lowest-direct",
        *[str(packages()[n]["_dir"]) for n in names],
        str(packages()["flaxen-checkpoint"]["_dir"]) + "[orbax]",
    )
    install_test_groups(session, names)
    session.run("uv", "pip", "list", "-p", session.virtualenv.location, external=True)
    run_pytest(session, *test_paths(names), env={"FLAXEN_SKIP_DOCTESTS": "1"})


# -- packaging -------------------------------------------------------------------


def build_wheels(session: nox.Session) -> list[pathlib.Path]:
    """Builds every distribution and every plugin fixture into build/wheels."""
    shutil.rmtree(WHEELHOUSE, ignore_errors=True)
    WHEELHOUSE.mkdir(parents=True)
    sources = [packages()[n]["_dir"] for n in packages()]
    sources += sorted(p.parent for p in FIXTURES_DIR.glob("*/pyproject.toml"))
    for source in sources:
        session.run(
            "uv",
            "build",
            "--wheel",
            "--quiet",
            "--out-dir",
            str(WHEELHOUSE),
            str(source),
            external=True,
        )
    return sorted(WHEELHOUSE.glob("*.whl"))


@nox.session(python=PYTHON, tags=["ci"])
def build(session: nox.Session) -> None:
    """Builds every wheel, installs them together, imports every flaxen module."""
    build_wheels(session)
    session.install("--find-links", str(WHEELHOUSE), "flaxen")
    session.run("python", "tools/import_all.py")
    session.run("flaxen", "plugins", env={"FLAXEN_STRICT_PLUGINS": "1"})


@nox.session(python=PYTHON, tags=["ci"])
def integration(session: nox.Session) -> None:
    """Cross-package tests against the built wheels, in fresh environments."""
    build_wheels(session)
    session.install("--find-links", str(WHEELHOUSE), "flaxen")
    session.install("pytest>=8", "uv")
    env = dict(TEST_ENV, FLAXEN_WHEELHOUSE=str(WHEELHOUSE), FLAXEN_STRICT_PLUGINS="0")
    session.run("python", "-m", "pytest", "integration/tests", *session.posargs, env=env)


# -- benchmarks ---------------------------------------------------------------------


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """flaxen vs Flax side by side; flax is installed in this environment only.

    Writes benchmarks/results/results.{json,md} (and checkpoint.{json,md}).
    Pass ``-- --quick`` for fewer repetitions.
    """
    names = library_packages()
    session.install(
        *[str(packages()[n]["_dir"]) for n in names],
        str(packages()["flaxen-checkpoint"]["_dir"]) + "[orbax]",
        "flax",
        "optax",
    )
    minimal = BUILD_DIR / "bench-minimal"
    shutil.rmtree(minimal, ignore_errors=True)
    python = str(pathlib.Path(session.virtualenv.location) / "bin" / "python")
    session.run("uv", "venv", "-q", "-p", python, str(minimal), external=True)
    session.run(
        "uv", "pip", "install", "-q", "-p", str(minimal / "bin" / "python"),
        *[str(packages()[n]["_dir"]) for n in ("flaxen-core", "flaxen-linen", "flaxen-layers")],
        external=True,
    )  # fmt: skip
    out = ROOT / "benchmarks" / "results"
    env = {"FLAXEN_BENCH_MINIMAL_PYTHON": str(minimal / "bin" / "python"), "JAX_PLATFORMS": "cpu"}
    session.run("python", "benchmarks/run.py", "--out", str(out), *session.posargs, env=env)
    if (ROOT / "benchmarks" / "checkpoint_bench.py").exists():
        session.run(
            "python", "benchmarks/checkpoint_bench.py", "--out", str(out), "--repeat", "5", env=env
        )


# -- documentation -------------------------------------------------------------------

DOCS_DIR = ROOT / "docs"
DOCS_BUILD = BUILD_DIR / "docs"
DOCS_ENV = dict(TEST_ENV, XLA_FLAGS="--xla_force_host_platform_device_count=8")


@nox.session(python=PYTHON, tags=["ci"])
def docs(session: nox.Session) -> None:
    """Builds the site (warnings are errors) and runs every example in it.

    Three steps: the HTML build; ``docs/tests`` on the result (every error
    class has its anchor, every public name its entry, every code block is
    run, every link from the README resolves); the doctest builder, which runs
    every ``testcode`` and ``doctest`` block. ``-- --no-examples`` skips the
    last step.
    """
    session.install(
        *[str(packages()[n]["_dir"]) for n in library_packages()],
        str(packages()["flaxen-checkpoint"]["_dir"]) + "[orbax]",
        str(DOCS_DIR / "examples" / "plugin"),
        "-r",
        str(DOCS_DIR / "requirements.txt"),
    )
    shutil.rmtree(DOCS_BUILD, ignore_errors=True)
    common = ["-W", "--keep-going", "-q", "-d", str(DOCS_BUILD / "doctrees"), str(DOCS_DIR)]
    session.run("sphinx-build", "-b", "html", *common, str(DOCS_BUILD / "html"), env=DOCS_ENV)
    env = dict(DOCS_ENV, FLAXEN_DOCS_HTML=str(DOCS_BUILD / "html"))
    session.run("python", "-m", "pytest", "docs/tests", "-q", "-p", "no:cacheprovider", env=env)
    if "--no-examples" in session.posargs:
        return
    session.run("sphinx-build", "-b", "doctest", *common, str(DOCS_BUILD / "doctest"), env=DOCS_ENV)


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """Trains the example CNN on the bundled digits data (the README's main job).

    Options go after ``--``: ``nox -s demo -- --epochs 5 --seed 1 --out runs/x``.
    """
    session.install(
        *[str(packages()[n]["_dir"]) for n in library_packages()],
        str(packages()["flaxen-checkpoint"]["_dir"]) + "[orbax]",
    )
    session.run("python", "docs/examples/digits/train.py", *session.posargs)
