"""Imports every public module of every installed flaxen distribution.

Used by ``nox -s build`` after installing the built wheels together: a module
that fails to import, or a package missing from the namespace, fails here.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

EXPECTED = (
    "flaxen.core",
    "flaxen.errors",
    "flaxen.plugins",
    "flaxen.struct",
    "flaxen.serialization",
    "flaxen.traverse_util",
    "flaxen.configurations",
    "flaxen.config",
    "flaxen.jax_utils",
    "flaxen.traceback_util",
    "flaxen.linen",
    "flaxen.layers",
    "flaxen.training",
    "flaxen.checkpoint",
    "flaxen.spmd",
    "flaxen.tabulate",
)


def main() -> int:
    import flaxen

    failures = []
    imported = []
    for name in EXPECTED:
        try:
            importlib.import_module(name)
        except Exception as error:  # noqa: BLE001
            failures.append(f"{name}: {type(error).__name__}: {error}")
    for info in pkgutil.walk_packages(flaxen.__path__, "flaxen."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        try:
            importlib.import_module(info.name)
            imported.append(info.name)
        except Exception as error:  # noqa: BLE001
            failures.append(f"{info.name}: {type(error).__name__}: {error}")
    if hasattr(flaxen, "__file__") and flaxen.__file__:
        failures.append(f"flaxen is not a namespace package: {flaxen.__file__}")
    for failure in failures:
        print(f"import_all: {failure}")
    print(f"import_all: {len(imported)} public modules imported")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
