"""Repository consistency checks (run by ``nox -s checks`` and CI).

Checks, for every distribution under ``packages/``:

* its version is static and a valid ``X.Y.Z``;
* every requirement on a sibling flaxen distribution is the range
  ``>=X.Y.Z,<X.(Y+1)`` (0.x) or ``>=X.Y.Z,<(X+1)`` (1.x+) whose lower bound
  is not above the sibling's version;
* CHANGELOG.md exists and mentions the current version;
* README.md exists, and every ``src/flaxen/<sub>/`` ships ``py.typed``;
* no distribution ships ``flaxen/__init__.py`` (PEP 420 namespace);
* test file names are unique across the repository.

Exit status 1 lists every problem found.
"""

from __future__ import annotations

import pathlib
import re
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
RANGE = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)(\[[^\]]*\])?>=(?P<low>[\d.]+),<(?P<high>[\d.]+)$")


def _load() -> dict[str, tuple[pathlib.Path, dict]]:
    found = {}
    for pyproject in sorted((ROOT / "packages").glob("*/pyproject.toml")):
        data = tomllib.loads(pyproject.read_text())
        found[data["project"]["name"]] = (pyproject.parent, data)
    return found


def _expected_upper(version: str) -> str:
    major, minor, _ = (int(x) for x in VERSION.match(version).groups())
    return f"{major}.{minor + 1}" if major == 0 else f"{major + 1}"


def check() -> list[str]:
    problems = []
    dists = _load()
    if not dists:
        return ["no packages found under packages/"]
    for name, (directory, data) in dists.items():
        project = data["project"]
        where = directory.relative_to(ROOT)
        if "version" in project.get("dynamic", []) or "version" not in project:
            problems.append(f"{where}: the version must be static in pyproject.toml")
            continue
        version = project["version"]
        if not VERSION.match(version):
            problems.append(f"{where}: version {version!r} is not X.Y.Z")
            continue
        if directory.name != name:
            problems.append(f"{where}: directory name differs from distribution {name!r}")
        requirements = list(project.get("dependencies", []))
        for extra in project.get("optional-dependencies", {}).values():
            requirements += extra
        for requirement in requirements:
            match = RANGE.match(requirement.replace(" ", ""))
            dep = re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0]
            if dep not in dists:
                continue
            if not match:
                problems.append(
                    f"{where}: sibling requirement {requirement!r} is not '>=X.Y.Z,<X.Y'"
                )
                continue
            sibling_version = dists[dep][1]["project"]["version"]
            low, high = match["low"], match["high"]
            if tuple(map(int, low.split("."))) > tuple(map(int, sibling_version.split("."))):
                problems.append(f"{where}: requires {dep}>={low} but {dep} is {sibling_version}")
            if high != _expected_upper(low):
                problems.append(
                    f"{where}: {requirement!r} should have upper bound <{_expected_upper(low)}"
                )
            if _expected_upper(low) != _expected_upper(sibling_version):
                problems.append(
                    f"{where}: {requirement!r} excludes {dep} {sibling_version}; bump the range"
                )
        changelog = directory / "CHANGELOG.md"
        if not changelog.is_file():
            problems.append(f"{where}: CHANGELOG.md is missing")
        elif f"## {version}" not in changelog.read_text():
            problems.append(f"{where}: CHANGELOG.md has no '## {version}' section")
        if not (directory / "README.md").is_file():
            problems.append(f"{where}: README.md is missing")
        src = directory / "src" / "flaxen"
        if (src / "__init__.py").exists():
            problems.append(f"{where}: src/flaxen/__init__.py breaks the PEP 420 namespace")
        if src.is_dir():
            for sub in sorted(p for p in src.iterdir() if p.is_dir() and p.name != "__pycache__"):
                if not (sub / "py.typed").is_file():
                    problems.append(f"{where}: {sub.relative_to(directory)} has no py.typed")
                if not (sub / "__init__.py").is_file():
                    problems.append(f"{where}: {sub.relative_to(directory)} has no __init__.py")
            strays = [p.name for p in src.iterdir() if p.is_file()]
            if strays:
                problems.append(f"{where}: loose files in the flaxen namespace: {strays}")
    seen: dict[str, pathlib.Path] = {}
    for test in sorted(ROOT.glob("**/test_*.py")):
        if any(part in (".nox", "build", ".venv", "node_modules") for part in test.parts):
            continue
        if test.name in seen:
            problems.append(
                f"test file name {test.name} is used twice: {seen[test.name]} and {test}"
            )
        seen[test.name] = test
    return problems


def main() -> int:
    problems = check()
    for problem in problems:
        print(f"check_repo: {problem}")
    if not problems:
        print(f"check_repo: {len(_load())} distributions consistent")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
