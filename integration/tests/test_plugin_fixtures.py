"""Third-party plugins installed next to the real packages, in fresh environments."""

import json


def test_good_plugin_exports_into_linen_namespace_lookup(make_env):
    env = make_env("flaxen-core", "flaxen-fixture-good")
    result = env.run(
        """
        from flaxen.plugins import get_registry
        registry = get_registry()
        print(registry.lookup("linen_exports", "good_double")(21))
        print(registry.provider("linen_exports", "good_double").distribution)
        """,
        env={"FLAXEN_STRICT_PLUGINS": "1"},
    )
    assert result.stdout.split() == ["42", "flaxen-fixture-good"]


def test_broken_plugin_is_reported_by_name_and_the_rest_work(make_env):
    env = make_env("flaxen-core", "flaxen-fixture-good", "flaxen-fixture-broken")
    result = env.run(
        """
        import warnings
        from flaxen.plugins import get_registry
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value = get_registry().lookup("linen_exports", "good_double")(1)
            get_registry().lookup("cli_commands", "plugins")
        print(value)
        print(len(caught))
        print(caught[0].message)
        """
    )
    lines = result.stdout.splitlines()
    assert lines[0] == "2"
    assert lines[1] == "1", "the broken plugin must be reported exactly once"
    assert 'flaxen plugin "fixture_broken" from flaxen-fixture-broken 0.1.0' in lines[2]
    assert "flaxen_fixture_this_module_does_not_exist" in lines[2]


def test_strict_mode_turns_a_broken_plugin_into_an_error(make_env):
    env = make_env("flaxen-core", "flaxen-fixture-good", "flaxen-fixture-broken")
    result = env.run(
        """
        from flaxen.plugins import get_registry
        get_registry().names("linen_exports")
        """,
        env={"FLAXEN_STRICT_PLUGINS": "1"},
        check=False,
    )
    assert result.returncode != 0
    assert "PluginLoadError" in result.stderr
    assert "fixture_broken" in result.stderr


def test_disabled_plugin_is_skipped(make_env):
    env = make_env("flaxen-core", "flaxen-fixture-good", "flaxen-fixture-broken")
    result = env.run(
        """
        from flaxen.plugins import get_registry
        print(sorted(p.status for p in get_registry().plugins if p.name.startswith("fixture")))
        """,
        env={"FLAXEN_STRICT_PLUGINS": "1", "FLAXEN_DISABLE_PLUGINS": "fixture_broken"},
    )
    assert result.stdout.strip() == "['disabled', 'loaded']"


def test_duplicate_name_keeps_the_first_and_names_both(make_env):
    env = make_env("flaxen-core", "flaxen-fixture-good", "flaxen-fixture-shadow")
    result = env.run(
        """
        import warnings
        from flaxen.plugins import get_registry
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            print(get_registry().lookup("linen_exports", "good_double").__module__)
        print(caught[0].message)
        """
    )
    module, message = result.stdout.splitlines()
    assert module == "flaxen_fixture_good._functions"
    assert "flaxen-fixture-good and by flaxen-fixture-shadow" in message


def test_flaxen_plugins_command_lists_every_plugin(make_env):
    env = make_env("flaxen-core", "flaxen-fixture-good", "flaxen-fixture-broken")
    table = env.command("flaxen", "plugins")
    assert table.returncode == 1  # a plugin failed
    for expected in ("fixture_good", "fixture_broken", "FAILED", "good_double", "core"):
        assert expected in table.stdout, table.stdout
    listing = json.loads(env.command("flaxen", "plugins", "--json").stdout)
    by_name = {p["name"]: p for p in listing}
    assert by_name["fixture_good"]["registered"]["linen_exports"] == ["good_double"]
    assert by_name["fixture_broken"]["status"] == "failed"
    hello = env.command("flaxen", "fixture_hello", "flaxen")
    assert hello.stdout.strip() == "hello, flaxen"


def test_core_alone_needs_no_optional_dependencies(make_env):
    env = make_env("flaxen-core")
    installed = env.installed()
    for absent in ("optax", "orbax-checkpoint", "tensorstore", "rich", "flax"):
        assert absent not in installed
    env.run(
        """
        import jax.numpy as jnp
        from flaxen import serialization, struct, traverse_util, errors
        from flaxen.core import frozen_dict
        fd = frozen_dict.freeze({"a": {"b": jnp.ones(2)}})
        assert traverse_util.flatten_dict(frozen_dict.unfreeze(fd)) == {("a", "b"): fd["a"]["b"]}
        restored = serialization.from_bytes(fd, serialization.to_bytes(fd))
        assert (restored["a"]["b"] == 1).all()
        assert issubclass(errors.ScopeParamShapeError, errors.FlaxenError)
        """
    )
