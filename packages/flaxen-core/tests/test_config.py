"""flaxen.config / flaxen.configurations: defaults, environment, updates, aliases."""

import os
import subprocess
import sys

import pytest

from flaxen import config, configurations
from flaxen.configurations import FlagHolder, static_bool_env, static_int_env

# spec/rng-and-naming.md, "Config flags".
DEFAULTS = {
    "flaxen_fix_rng_separator": False,
    "flaxen_return_frozendict": False,
    "flaxen_preserve_adopted_names": False,
    "flaxen_profile": True,
    "flaxen_filter_frames": True,
    "flaxen_use_orbax_checkpointing": True,
    "flaxen_max_repr_depth": None,
}


def _run(script, **env):
    """Runs ``script`` in a fresh interpreter with extra environment variables."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FLAXEN_")}
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={**clean, "JAX_PLATFORMS": "cpu", **env},
        capture_output=True,
        text=True,
        check=False,
    )
    return result


@pytest.fixture
def restore_flags():
    saved = dict(configurations.config._values)
    yield
    configurations.config._values.update(saved)


def test_defaults_in_a_fresh_process():
    result = _run(
        "from flaxen import config\n"
        f"for name in {sorted(DEFAULTS)!r}:\n"
        "    print(name, repr(getattr(config, name)))\n"
    )
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    assert lines == {name: repr(value) for name, value in DEFAULTS.items()}


def test_every_flag_is_documented_and_known():
    described = config.describe()
    assert set(described) == set(DEFAULTS)
    for name, (_, help_text) in described.items():
        assert help_text, name
        assert isinstance(getattr(configurations, name), FlagHolder)
    assert set(DEFAULTS) <= set(dir(config))


@pytest.mark.parametrize(
    "env, flag, expected",
    [
        ({"FLAXEN_RETURN_FROZENDICT": "1"}, "flaxen_return_frozendict", True),
        ({"FLAXEN_RETURN_FROZENDICT": "yes"}, "flaxen_return_frozendict", True),
        ({"FLAXEN_PROFILE": "false"}, "flaxen_profile", False),
        ({"FLAXEN_FIX_RNG_SEPARATOR": "On"}, "flaxen_fix_rng_separator", True),
        ({"FLAXEN_FILTER_FRAMES": "0"}, "flaxen_filter_frames", False),
        ({"FLAXEN_USE_ORBAX_CHECKPOINTING": "n"}, "flaxen_use_orbax_checkpointing", False),
        ({"FLAXEN_PRESERVE_ADOPTED_NAMES": "t"}, "flaxen_preserve_adopted_names", True),
        ({"FLAXEN_MAX_REPR_DEPTH": "3"}, "flaxen_max_repr_depth", 3),
    ],
)
def test_environment_overrides(env, flag, expected):
    result = _run(f"from flaxen import config\nprint(repr(config.{flag}))", **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == repr(expected)


def test_flax_environment_variables_are_not_read():
    result = _run(
        "from flaxen import config\nprint(config.flaxen_return_frozendict)",
        FLAX_RETURN_FROZENDICT="1",
    )
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("env", [{"FLAXEN_PROFILE": "maybe"}, {"FLAXEN_MAX_REPR_DEPTH": "deep"}])
def test_invalid_environment_values_fail_at_import(env):
    result = _run("import flaxen.config", **env)
    assert result.returncode != 0
    (name,) = env
    assert "ValueError" in result.stderr and name in result.stderr


def test_update_by_name_holder_and_flax_alias(restore_flags):
    config.update("flaxen_return_frozendict", True)
    assert config.flaxen_return_frozendict is True
    assert configurations.flaxen_return_frozendict.value is True
    config.update(configurations.flaxen_return_frozendict, False)
    assert config.flaxen_return_frozendict is False
    config.update("flax_return_frozendict", True)  # Flax's spelling
    assert config.flaxen_return_frozendict is True
    assert config.flax_return_frozendict is True
    config.update("return_frozendict", False)  # no prefix
    assert config.flaxen_return_frozendict is False
    config.update("flaxen_max_repr_depth", 2)
    assert config.flaxen_max_repr_depth == 2
    assert configurations.config.flaxen_max_repr_depth == 2


def test_module_and_store_share_state(restore_flags):
    assert config.update == configurations.config.update
    configurations.config.update("flaxen_profile", False)
    assert config.flaxen_profile is False
    from flaxen.config import flaxen_profile

    assert flaxen_profile is False


def test_unknown_names(restore_flags):
    with pytest.raises(LookupError, match="Unrecognized config option: flaxen_nope"):
        config.update("flaxen_nope", True)
    with pytest.raises(LookupError, match="Unrecognized config option: flaxen_nope"):
        config.update("flax_nope", True)
    with pytest.raises(LookupError), config.temp_flip_flag("nope", True):
        pass
    with pytest.raises(AttributeError, match="flaxen_nope"):
        config.flaxen_nope
    with pytest.raises(AttributeError):
        configurations.config._private


def test_bool_flags_reject_non_bools(restore_flags):
    with pytest.raises(TypeError, match="flaxen_profile takes a bool"):
        config.update("flaxen_profile", "yes")
    assert config.flaxen_profile is True


def test_temp_flip_flag_restores(restore_flags):
    with config.temp_flip_flag("return_frozendict", True):
        assert config.flaxen_return_frozendict is True
    assert config.flaxen_return_frozendict is False
    with config.temp_flip_flag("flax_profile", False):
        assert config.flaxen_profile is False
    assert config.flaxen_profile is True


def test_temp_flip_flag_restores_on_exception(restore_flags):
    with pytest.raises(KeyError), config.temp_flip_flag("flaxen_return_frozendict", True):
        assert config.flaxen_return_frozendict is True
        raise KeyError("boom")
    assert config.flaxen_return_frozendict is False


def test_temp_flip_flag_restores_the_previous_value_not_the_default(restore_flags):
    config.update("flaxen_profile", False)
    with config.temp_flip_flag("profile", True):
        assert config.flaxen_profile is True
    assert config.flaxen_profile is False


def test_flag_holder():
    holder = configurations.flaxen_filter_frames
    assert holder.name == "flaxen_filter_frames"
    assert holder.value is config.flaxen_filter_frames
    assert repr(holder) == f"FlagHolder(flaxen_filter_frames={holder.value!r})"
    with pytest.raises(TypeError, match="not a boolean"):
        bool(holder)


def test_flags_cannot_be_defined_twice_or_without_prefix():
    with pytest.raises(ValueError, match="defined twice"):
        configurations.bool_flag("flaxen_profile", default=True, help="again")
    with pytest.raises(ValueError, match="start with 'flaxen_'"):
        configurations.bool_flag("profile2", default=True, help="no prefix")


@pytest.mark.parametrize(
    "raw, expected",
    [(v, True) for v in ["y", "yes", "t", "true", "on", "1", "YES", "True", "On"]]
    + [(v, False) for v in ["n", "no", "f", "false", "off", "0", "NO", "False", "OFF"]],
)
def test_static_bool_env_accepted_values(monkeypatch, raw, expected):
    monkeypatch.setenv("FLAXEN_TEST_BOOL", raw)
    assert static_bool_env("FLAXEN_TEST_BOOL", not expected) is expected


@pytest.mark.parametrize("raw", ["maybe", "", "2", "yess", "-1", "none"])
def test_static_bool_env_rejected_values(monkeypatch, raw):
    monkeypatch.setenv("FLAXEN_TEST_BOOL", raw)
    with pytest.raises(ValueError, match="FLAXEN_TEST_BOOL"):
        static_bool_env("FLAXEN_TEST_BOOL", True)


def test_static_env_defaults_when_unset(monkeypatch):
    monkeypatch.delenv("FLAXEN_TEST_UNSET", raising=False)
    assert static_bool_env("FLAXEN_TEST_UNSET", True) is True
    assert static_bool_env("FLAXEN_TEST_UNSET", False) is False
    assert static_int_env("FLAXEN_TEST_UNSET", 7) == 7
    assert static_int_env("FLAXEN_TEST_UNSET", None) is None


@pytest.mark.parametrize("raw, expected", [("3", 3), ("-2", -2), ("0", 0)])
def test_static_int_env_values(monkeypatch, raw, expected):
    monkeypatch.setenv("FLAXEN_TEST_INT", raw)
    assert static_int_env("FLAXEN_TEST_INT", 7) == expected


@pytest.mark.parametrize("raw", ["x", "1.5", "three"])
def test_static_int_env_rejected_values(monkeypatch, raw):
    monkeypatch.setenv("FLAXEN_TEST_INT", raw)
    with pytest.raises(ValueError, match="FLAXEN_TEST_INT"):
        static_int_env("FLAXEN_TEST_INT", 7)


def test_doctests(run_doctests):
    assert run_doctests("flaxen.configurations") > 0
    assert run_doctests("flaxen.config") > 0
