"""Settings every flaxen test runs under (strict JAX, 8 CPU devices)."""

import os

# Multi-device tests need several CPU devices; this must precede importing jax.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax

# Implicit rank promotion hides shape bugs in layers; tests forbid it.
jax.config.update("jax_numpy_rank_promotion", "raise")


import doctest  # noqa: E402
import importlib  # noqa: E402
import pkgutil  # noqa: E402

import pytest  # noqa: E402

_DOCTEST_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _walk(package_name: str):
    package = importlib.import_module(package_name)
    yield package
    for info in pkgutil.walk_packages(package.__path__, package_name + "."):
        yield importlib.import_module(info.name)


@pytest.fixture
def run_doctests():
    """Runs the ``>>>`` examples of every module under a package.

    Modules are imported by name, so the installed copy is tested (in the
    isolation sessions, the built package rather than the source tree).
    """

    def run(package_name: str, skip: tuple[str, ...] = ()) -> int:
        if os.environ.get("FLAXEN_SKIP_DOCTESTS"):
            # Examples print jax objects, whose reprs change between jax
            # releases: they are written against the newest one.
            pytest.skip("doctests skipped (FLAXEN_SKIP_DOCTESTS is set)")
        finder = doctest.DocTestFinder(exclude_empty=True)
        runner = doctest.DocTestRunner(optionflags=_DOCTEST_FLAGS)
        attempted = 0
        seen = set()
        for module in _walk(package_name):
            if module.__name__ in skip:
                continue
            for test in finder.find(module, module.__name__):
                if test.name in seen or not test.examples:
                    continue
                seen.add(test.name)
                runner.run(test)
        results = runner.summarize(verbose=False)
        attempted = results.attempted
        assert results.failed == 0, f"{results.failed} doctest example(s) failed"
        return attempted

    return run
