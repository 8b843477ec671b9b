"""flaxen's configuration flags against flax's: same defaults, same parsing."""

import pytest

pytestmark = pytest.mark.compat

flax = pytest.importorskip("flax")
flax_configurations = pytest.importorskip("flax.configurations")

from flaxen import configurations  # noqa: E402

FLAGS = [
    "fix_rng_separator",
    "return_frozendict",
    "preserve_adopted_names",
    "profile",
    "filter_frames",
    "use_orbax_checkpointing",
    "max_repr_depth",
]


@pytest.mark.parametrize("name", FLAGS)
def test_same_defaults(name):
    # Both read at import; the test session sets neither FLAX_* nor FLAXEN_* variables.
    assert getattr(configurations.config, f"flaxen_{name}") == getattr(flax.config, f"flax_{name}")


@pytest.mark.parametrize(
    "raw",
    [
        *["y", "yes", "t", "true", "on", "1", "n", "no", "f", "false", "off", "0"],
        *["YES", "False", "On", "maybe", "", "2", "none"],
    ],
)
def test_static_bool_env_parses_like_flax(raw, monkeypatch):
    monkeypatch.setenv("FLAXEN_COMPAT_BOOL", raw)

    def outcome(fn):
        try:
            return fn("FLAXEN_COMPAT_BOOL", None)
        except ValueError:
            return ValueError

    assert outcome(configurations.static_bool_env) == outcome(flax_configurations.static_bool_env)


@pytest.mark.parametrize("raw", ["3", "-2", "0", "x", "1.5"])
def test_static_int_env_parses_like_flax(raw, monkeypatch):
    monkeypatch.setenv("FLAXEN_COMPAT_INT", raw)

    def outcome(fn):
        try:
            return fn("FLAXEN_COMPAT_INT", 7)
        except ValueError:
            return ValueError

    assert outcome(configurations.static_int_env) == outcome(flax_configurations.static_int_env)


def test_unknown_names_are_lookup_errors_in_both():
    with pytest.raises(LookupError):
        flax.config.update("flax_no_such_flag", True)
    with pytest.raises(LookupError):
        configurations.config.update("flax_no_such_flag", True)
