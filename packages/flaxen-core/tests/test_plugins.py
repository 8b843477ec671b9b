"""The plugin registry: loading, laziness, failures, conflicts, strict mode."""

import subprocess
import sys
import textwrap
import warnings

import pytest

from flaxen import plugins
from flaxen.errors import PluginConflictError, PluginLoadError, PluginWarning
from flaxen.plugins._registry import _Source


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    """A directory on sys.path where tests write plugin modules."""
    monkeypatch.syspath_prepend(str(tmp_path))
    created = []

    def write(module: str, source: str) -> _Source:
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
        created.append(module)
        return _Source(module, module, f"dist-{module}", "1.2.3")

    yield write
    for module in created:
        sys.modules.pop(module, None)


GOOD = """
from flaxen.plugins import hookimpl, lazy
LOADED = []

@hookimpl
def flaxen_linen_exports(register):
    register("Shiny", lazy("collections:OrderedDict"))
    register("twice", lambda x: 2 * x)

@hookimpl
def flaxen_lifted_transforms(register):
    register("my_vmap", "a transform")
"""


def test_lookup_returns_registered_values_and_resolves_lazy_refs(plugin_dir):
    import collections

    registry = plugins.Registry([plugin_dir("p_good", GOOD)], strict=True, disabled=())
    assert registry.lookup("linen_exports", "Shiny") is collections.OrderedDict
    assert registry.lookup("linen_exports", "twice")(3) == 6
    assert registry.lookup("lifted_transforms", "my_vmap") == "a transform"
    assert registry.names("linen_exports") == ("Shiny", "twice")
    (info,) = registry.plugins
    assert info.status == "loaded"
    assert info.distribution == "dist-p_good" and info.version == "1.2.3"
    assert info.registered == {
        "linen_exports": ("Shiny", "twice"),
        "lifted_transforms": ("my_vmap",),
    }
    assert registry.provider("linen_exports", "twice") == info


def test_plugins_load_on_first_lookup_not_before(plugin_dir):
    source = plugin_dir("p_lazy", GOOD)
    registry = plugins.Registry([source], strict=True, disabled=())
    assert "p_lazy" not in sys.modules
    with pytest.raises(KeyError):
        registry.lookup("linen_exports", "missing")
    assert "p_lazy" in sys.modules


def test_broken_plugin_is_reported_once_and_skipped(plugin_dir):
    good = plugin_dir("p_ok", GOOD)
    broken = plugin_dir("p_broken", "import this_module_does_not_exist_anywhere\n")
    registry = plugins.Registry([broken, good], strict=False, disabled=())
    with pytest.warns(PluginWarning) as record:
        assert registry.lookup("linen_exports", "twice")(1) == 2
    assert len(record) == 1
    message = str(record[0].message)
    assert '"p_broken" from dist-p_broken 1.2.3 failed' in message
    assert "this_module_does_not_exist_anywhere" in message
    assert "FLAXEN_DISABLE_PLUGINS=p_broken" in message
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second lookup reports nothing again
        registry.lookup("linen_exports", "Shiny")
    (failure,) = registry.failures
    assert failure.name == "p_broken" and failure.status == "failed"
    assert "ModuleNotFoundError" in failure.error


def test_hook_that_raises_registers_nothing(plugin_dir):
    half = plugin_dir(
        "p_half",
        """
        from flaxen.plugins import hookimpl
        @hookimpl
        def flaxen_linen_exports(register):
            register("first", 1)
            raise RuntimeError("boom")
        """,
    )
    registry = plugins.Registry([half], strict=False, disabled=())
    with pytest.warns(PluginWarning, match="RuntimeError: boom"):
        assert registry.names("linen_exports") == ()


def test_strict_mode_raises_with_the_plugin_named(plugin_dir):
    broken = plugin_dir("p_strict", "raise ValueError('nope')\n")
    registry = plugins.Registry([broken], strict=True, disabled=())
    with pytest.raises(PluginLoadError, match=r'"p_strict" from dist-p_strict 1\.2\.3') as info:
        registry.names("linen_exports")
    assert isinstance(info.value, ImportError)


def test_strict_mode_reads_the_environment(plugin_dir, monkeypatch):
    broken = plugin_dir("p_env_strict", "raise ValueError('nope')\n")
    monkeypatch.setenv("FLAXEN_STRICT_PLUGINS", "1")
    with pytest.raises(PluginLoadError):
        plugins.Registry([broken], disabled=()).names("linen_exports")
    monkeypatch.setenv("FLAXEN_STRICT_PLUGINS", "0")
    with pytest.warns(PluginWarning):
        plugins.Registry([broken], disabled=()).names("linen_exports")


def test_duplicate_name_names_both_distributions(plugin_dir):
    first = plugin_dir("p_first", GOOD)
    second = plugin_dir(
        "p_second",
        """
        from flaxen.plugins import hookimpl
        @hookimpl
        def flaxen_linen_exports(register):
            register("only_second", 1)
            register("twice", 2)
        """,
    )
    registry = plugins.Registry([first, second], strict=False, disabled=())
    with pytest.warns(PluginWarning, match="dist-p_first and by dist-p_second"):
        assert registry.lookup("linen_exports", "twice")(5) == 10
    # The conflicting plugin is skipped as a whole: no half-registered state.
    assert "only_second" not in registry.names("linen_exports")
    strict = plugins.Registry([first, second], strict=True, disabled=())
    with pytest.raises(PluginConflictError, match='"twice" is registered twice in linen_exports'):
        strict.names("linen_exports")


def test_same_plugin_registering_a_name_twice_is_a_conflict(plugin_dir):
    twice = plugin_dir(
        "p_twice",
        """
        from flaxen.plugins import hookimpl
        @hookimpl
        def flaxen_checkpoint_backends(register):
            register("npz", 1)
            register("npz", 2)
        """,
    )
    with pytest.raises(PluginConflictError):
        plugins.Registry([twice], strict=True, disabled=()).names("checkpoint_backends")


def test_disabled_plugins_are_not_imported(plugin_dir, monkeypatch):
    source = plugin_dir("p_disabled", "raise RuntimeError('must not be imported')\n")
    monkeypatch.setenv("FLAXEN_DISABLE_PLUGINS", "other, p_disabled")
    registry = plugins.Registry([source], strict=True)
    assert registry.names("linen_exports") == ()
    assert [p.status for p in registry.plugins] == ["disabled"]
    by_distribution = plugins.Registry([source], strict=True, disabled=["dist-p_disabled"])
    assert [p.status for p in by_distribution.plugins] == ["disabled"]


def test_lazy_reference_that_fails_names_the_plugin(plugin_dir):
    source = plugin_dir(
        "p_badref",
        """
        from flaxen.plugins import hookimpl, lazy
        @hookimpl
        def flaxen_linen_exports(register):
            register("Ghost", lazy("collections:NoSuchThing"))
        """,
    )
    registry = plugins.Registry([source], strict=True, disabled=())
    with pytest.raises(PluginLoadError, match="Ghost = lazy\\('collections:NoSuchThing'\\)"):
        registry.lookup("linen_exports", "Ghost")


def test_registered_names_must_be_identifiers(plugin_dir):
    source = plugin_dir(
        "p_badname",
        """
        from flaxen.plugins import hookimpl
        @hookimpl
        def flaxen_linen_exports(register):
            register("not a name", 1)
        """,
    )
    with pytest.raises(PluginLoadError, match=r"must be identifiers"):
        plugins.Registry([source], strict=True, disabled=()).names("linen_exports")


def test_lazy_rejects_malformed_targets():
    with pytest.raises(ValueError, match=r"package\.module:attribute"):
        plugins.lazy(":attr")


def test_first_party_plugins_are_discovered_through_entry_points():
    registry = plugins.Registry(strict=True, disabled=())
    distributions = {p.distribution for p in registry.plugins}
    assert "flaxen-core" in distributions
    assert "plugins" in registry.names("cli_commands")


def test_flaxen_plugins_command_lists_plugins():
    result = subprocess.run(
        [sys.executable, "-m", "flaxen.cli", "plugins", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert '"distribution": "flaxen-core"' in result.stdout
    assert '"plugins"' in result.stdout
