"""flaxen.traceback_util offers Flax's traceback_util functions under the same names."""

import inspect

import pytest

pytestmark = pytest.mark.compat

flax_traceback_util = pytest.importorskip("flax.traceback_util")

from flaxen import traceback_util  # noqa: E402


@pytest.mark.parametrize(
    "name", ["hide_flax_in_tracebacks", "show_flax_in_tracebacks", "register_exclusion"]
)
def test_same_names_and_signatures(name):
    ours = inspect.signature(getattr(traceback_util, name))
    theirs = inspect.signature(getattr(flax_traceback_util, name))
    assert list(ours.parameters) == list(theirs.parameters)


def test_hiding_and_showing_leave_each_other_alone():
    # Both libraries share JAX's exclusion list; neither may drop the other's paths.
    from jax._src import traceback_util as jax_tb

    flax_traceback_util.hide_flax_in_tracebacks()
    traceback_util.hide_flaxen_in_tracebacks()
    before = list(jax_tb._exclude_paths)
    traceback_util.show_flaxen_in_tracebacks()
    flaxen_paths = set(traceback_util.registered_paths())
    assert [p for p in before if p not in flaxen_paths] == list(jax_tb._exclude_paths)
    traceback_util.hide_flaxen_in_tracebacks()
    assert set(jax_tb._exclude_paths) == set(before)
