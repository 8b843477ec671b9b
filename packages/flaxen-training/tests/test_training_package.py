"""The flaxen.training package: module list, lazy imports, doctests."""

import doctest
import importlib
import pkgutil
import subprocess
import sys

import pytest

import flaxen.training

# Flax 0.12's flax.training modules; checkpoints and orbax_utils forward to flaxen-checkpoint.
MODULES = {
    "checkpoints",
    "common_utils",
    "dynamic_scale",
    "early_stopping",
    "lr_schedule",
    "orbax_utils",
    "prefetch_iterator",
    "train_state",
}
OWN_MODULES = sorted(MODULES - {"checkpoints", "orbax_utils"})


def test_public_modules_are_flax_training_modules():
    found = {m.name for m in pkgutil.iter_modules(flaxen.training.__path__)}
    assert {name for name in found if not name.startswith("_")} == MODULES
    assert set(dir(flaxen.training)) == MODULES | {"__version__"}
    assert flaxen.training.__version__.count(".") == 2


def test_importing_the_package_is_cheap():
    code = (
        "import sys, flaxen.training;"
        "heavy = [m for m in ('jax', 'optax', 'flaxen.checkpoint', 'flaxen.training.train_state')"
        " if m in sys.modules];"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_submodules_load_on_attribute_access():
    code = (
        "import sys, flaxen.training as t;"
        "assert 'flaxen.training.early_stopping' not in sys.modules;"
        "print(t.early_stopping.EarlyStopping.__name__, 'flaxen.checkpoint' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["EarlyStopping", "False"]
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        flaxen.training.nope


@pytest.mark.parametrize("name", OWN_MODULES)
def test_doctests(name):
    module = importlib.import_module(f"flaxen.training.{name}")
    implementation = importlib.import_module(f"flaxen.training._{name}")
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = [t for m in (module, implementation) for t in finder.find(m, m.__name__) if t.examples]
    for test in tests:
        runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.failed == 0
    if name != "prefetch_iterator":  # its example needs tf.data
        assert results.attempted > 0
