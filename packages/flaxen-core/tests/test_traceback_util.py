"""flaxen.traceback_util: registering internals, hiding/showing them, JAX integration."""

import importlib.util
import os
import subprocess
import sys
import textwrap
import traceback

import jax
import jax.numpy as jnp
import pytest

from flaxen import config, traceback_util
from flaxen.traceback_util import _exclusions, _jax_hooks

INTERNALS = """
def fail(x):
    raise ValueError("raised inside internals")


def fail_with_cause(x):
    try:
        {}["missing"]
    except KeyError as error:
        raise ValueError("wrapped") from error


def where():
    from jax.extend import source_info_util
    return source_info_util.summarize(source_info_util.current())
"""


@pytest.fixture
def internals(tmp_path):
    """A throwaway module standing for some flaxen internals; unregistered afterwards."""
    path = tmp_path / "fake_internals.py"
    path.write_text(textwrap.dedent(INTERNALS))
    spec = importlib.util.spec_from_file_location("fake_internals", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    _exclusions._show(str(path))
    _exclusions._exclusions.pop(str(path), None)


@pytest.fixture
def remove_frames():
    previous = jax.config.jax_traceback_filtering
    jax.config.update("jax_traceback_filtering", "remove_frames")
    yield
    jax.config.update("jax_traceback_filtering", previous)


def _filenames(error):
    return [frame.filename for frame in traceback.extract_tb(error.__traceback__)]


def _raise_under_jit(module):
    with pytest.raises(ValueError, match="raised inside internals") as info:
        jax.jit(module.fail)(jnp.ones(()))
    return _filenames(info.value)


def _jax_exclusions():
    jax_tb = _jax_hooks.private_traceback_util()
    assert jax_tb is not None, "jax._src.traceback_util changed: update _jax_hooks"
    return jax_tb._exclude_paths


def test_flaxen_core_internals_are_registered_and_hidden_by_default():
    flaxen_dir = os.path.dirname(os.path.dirname(traceback_util.__file__))
    registered = traceback_util.registered_paths()
    assert os.path.join(flaxen_dir, "core", "_scope.py") in registered
    assert os.path.join(flaxen_dir, "core", "lift") in registered
    assert os.path.dirname(traceback_util.__file__) in registered
    assert config.flaxen_filter_frames is True
    assert set(registered) <= set(traceback_util.hidden_paths())
    assert set(registered) <= set(_jax_exclusions())


def test_registered_frames_vanish_from_jax_filtered_tracebacks(internals, remove_frames):
    assert internals.__file__ in _raise_under_jit(internals)
    traceback_util.register_exclusion(internals.__file__)
    assert internals.__file__ in traceback_util.hidden_paths()
    filtered = _raise_under_jit(internals)
    assert internals.__file__ not in filtered
    assert __file__ in filtered  # the user's frame is still there


def test_show_and_hide_toggle_the_filtering(internals, remove_frames):
    traceback_util.register_exclusion(internals.__file__)
    traceback_util.show_flaxen_in_tracebacks()
    try:
        assert traceback_util.hidden_paths() == ()
        assert internals.__file__ not in _jax_exclusions()
        assert internals.__file__ in _raise_under_jit(internals)
    finally:
        traceback_util.hide_flaxen_in_tracebacks()
    assert internals.__file__ not in _raise_under_jit(internals)


def test_hiding_twice_registers_each_path_once(internals):
    traceback_util.register_exclusion(internals.__file__)
    traceback_util.register_exclusion(internals.__file__)
    traceback_util.hide_flaxen_in_tracebacks()
    traceback_util.hide_flaxen_in_tracebacks()
    assert _jax_exclusions().count(internals.__file__) == 1
    assert traceback_util.registered_paths().count(internals.__file__) == 1


def test_directories_hide_every_file_below_them(internals, remove_frames):
    directory = os.path.dirname(internals.__file__)
    traceback_util.register_exclusion(directory)
    try:
        with pytest.raises(ValueError) as info:
            traceback_util.api_boundary(internals.fail)(1)
        assert internals.__file__ not in _filenames(info.value)
    finally:
        _exclusions._show(directory)
        _exclusions._exclusions.pop(directory)


def test_flag_off_records_without_hiding(internals, remove_frames):
    with config.temp_flip_flag("filter_frames", False):
        traceback_util.register_exclusion(internals.__file__)
    assert internals.__file__ in traceback_util.registered_paths()
    assert internals.__file__ not in traceback_util.hidden_paths()
    assert internals.__file__ in _raise_under_jit(internals)
    traceback_util.hide_flaxen_in_tracebacks()
    assert internals.__file__ not in _raise_under_jit(internals)


def test_environment_variable_turns_hiding_off():
    script = (
        "from flaxen import traceback_util\n"
        "from jax._src import traceback_util as jax_tb\n"
        "assert traceback_util.registered_paths()\n"
        "assert traceback_util.hidden_paths() == ()\n"
        "assert not set(traceback_util.registered_paths()) & set(jax_tb._exclude_paths)\n"
        "traceback_util.hide_flax_in_tracebacks()\n"
        "assert set(traceback_util.registered_paths()) <= set(jax_tb._exclude_paths)\n"
        "print('ok')\n"
    )
    env = {**os.environ, "FLAXEN_FILTER_FRAMES": "0", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_source_info_skips_hidden_files(internals):
    assert "fake_internals.py" in internals.where()
    traceback_util.register_exclusion(internals.__file__)
    assert os.path.basename(__file__) in internals.where()
    # JAX cannot forget a source-info exclusion; showing frames leaves it (as in Flax).
    traceback_util.show_flaxen_in_tracebacks()
    try:
        assert os.path.basename(__file__) in internals.where()
    finally:
        traceback_util.hide_flaxen_in_tracebacks()


def test_api_boundary_filters_without_jit(internals, remove_frames):
    traceback_util.register_exclusion(internals.__file__)

    @traceback_util.api_boundary
    def entry(x):
        return internals.fail(x)

    assert entry.__name__ == "entry"
    with pytest.raises(ValueError) as info:
        entry(1)
    assert internals.__file__ not in _filenames(info.value)


@pytest.fixture
def without_jax_internals(monkeypatch):
    monkeypatch.setattr(_jax_hooks, "private_traceback_util", lambda: None)


def test_fallback_boundary_filters_hidden_frames(internals, without_jax_internals):
    traceback_util.register_exclusion(internals.__file__)

    @traceback_util.api_boundary
    def entry(x):
        return internals.fail(x)

    with pytest.raises(ValueError, match="raised inside internals") as info:
        entry(1)
    filenames = _filenames(info.value)
    assert internals.__file__ not in filenames
    # Python re-adds the frame that re-raises: only the boundary itself remains.
    assert filenames.count(_exclusions.__file__) == 1
    assert filenames[-1] == __file__

    traceback_util.show_flaxen_in_tracebacks()
    try:
        with pytest.raises(ValueError) as info:
            entry(1)
        assert internals.__file__ in _filenames(info.value)
    finally:
        traceback_util.hide_flaxen_in_tracebacks()


def test_fallback_boundary_respects_jax_filtering_off(internals, without_jax_internals):
    traceback_util.register_exclusion(internals.__file__)
    entry = traceback_util.api_boundary(internals.fail)
    previous = jax.config.jax_traceback_filtering
    jax.config.update("jax_traceback_filtering", "off")
    try:
        with pytest.raises(ValueError) as info:
            entry(1)
    finally:
        jax.config.update("jax_traceback_filtering", previous)
    assert internals.__file__ in _filenames(info.value)


def test_fallback_boundary_keeps_the_exception_and_its_cause(internals, without_jax_internals):
    traceback_util.register_exclusion(internals.__file__)
    entry = traceback_util.api_boundary(internals.fail_with_cause)
    with pytest.raises(ValueError, match="wrapped") as info:
        entry(1)
    assert isinstance(info.value.__cause__, KeyError)


def test_fallback_hide_and_show_work_without_jax_internals(internals, without_jax_internals):
    traceback_util.register_exclusion(internals.__file__)
    assert internals.__file__ in traceback_util.hidden_paths()
    traceback_util.show_flaxen_in_tracebacks()
    assert traceback_util.hidden_paths() == ()
    traceback_util.hide_flaxen_in_tracebacks()
    assert internals.__file__ in traceback_util.hidden_paths()


def test_flax_spelled_aliases():
    assert traceback_util.hide_flax_in_tracebacks is traceback_util.hide_flaxen_in_tracebacks
    assert traceback_util.show_flax_in_tracebacks is traceback_util.show_flaxen_in_tracebacks


def test_jax_hook_finds_jax_internals():
    # Fails loudly when a JAX upgrade moves them, so the fallback is not used silently.
    assert _jax_hooks.private_traceback_util() is not None


def test_doctests(run_doctests):
    assert run_doctests("flaxen.traceback_util") > 0
