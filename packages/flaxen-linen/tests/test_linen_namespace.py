"""The plugin-backed ``flaxen.linen`` namespace: lookups, errors, dir, importable modules,
and third-party exports and lifted transforms registered through the plugin hooks."""

import ast
import importlib
import importlib.metadata
import pathlib
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import pytest

from flaxen import linen as nn
from flaxen import plugins
from flaxen.errors import MissingPackageError
from flaxen.linen import _first_party
from flaxen.plugins import _registry
from flaxen.plugins._registry import _Source

KEY = jax.random.key(0)
LINEN_SOURCE = _Source("linen", "flaxen.linen._plugin", "flaxen-linen", "0.1.0")


@pytest.fixture
def use_registry(monkeypatch):
    """Installs a registry built from the given sources as the process-wide one.

    Names that ``flaxen.linen`` cached from the real registry are hidden for the
    test and restored afterwards.
    """

    def install(sources, hide=()):
        registry = plugins.Registry(sources, strict=True, disabled=())
        monkeypatch.setattr(_registry, "_registry", registry)
        for name in hide:
            monkeypatch.delitem(vars(nn), name, raising=False)
        return registry

    return install


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    """A directory on sys.path where tests write plugin modules."""
    monkeypatch.syspath_prepend(str(tmp_path))
    created = []

    def write(module, source):
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
        created.append(module)
        return _Source(module, module, f"dist-{module}", "2.0.0")

    yield write
    for module in created:
        sys.modules.pop(module, None)


def test_unknown_names_are_attribute_errors():
    with pytest.raises(AttributeError, match=r"module 'flaxen\.linen' has no attribute 'NoSuch'"):
        nn.NoSuch
    assert not hasattr(nn, "NoSuchLayer")
    with pytest.raises(AttributeError):
        nn.__wrapped__


def test_lifted_transforms_come_from_linen_s_own_plugin():
    from flaxen.linen import _transforms_class, _transforms_fn

    assert nn.vmap is _transforms_class.vmap
    assert nn.remat is _transforms_class.checkpoint
    assert nn.while_loop is _transforms_fn.while_loop
    for name in ("vmap", "scan", "jit", "remat", "checkpoint", "remat_scan", "map_variables",
                 "fold_rngs", "add_metadata_axis", "jvp", "vjp", "grad", "value_and_grad",
                 "custom_vjp", "while_loop", "cond", "switch"):  # fmt: skip
        assert name in dir(nn)
        assert name in plugins.get_registry().names("lifted_transforms")


def test_dir_lists_module_names_and_plugin_names():
    names = dir(nn)
    assert names == sorted(names)
    for name in ("Module", "compact", "apply", "Sequential", "share_scope", "vmap"):
        assert name in names
    registry = plugins.get_registry()
    assert set(registry.names("linen_exports")) <= set(names)
    # What the package's own source needs is not part of the namespace.
    assert not {"Any", "TYPE_CHECKING", "annotations"} & set(names)


def _type_checking_imports():
    """``{name: module}`` of the imports in ``if TYPE_CHECKING:`` blocks of linen's __init__."""
    source = (pathlib.Path(nn.__file__)).read_text()
    found = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom), ast.unparse(stmt)
                for alias in stmt.names:
                    assert alias.asname == alias.name, ast.unparse(stmt)  # re-exported
                    module = "." * stmt.level + (stmt.module or "")
                    found[alias.name] = module
    return found


_PLUGIN_PACKAGES = {
    "flaxen-layers": "flaxen.layers",
    "flaxen-spmd": "flaxen.spmd",
    "flaxen-tabulate": "flaxen.tabulate",
}


@pytest.mark.parametrize("distribution", sorted(_PLUGIN_PACKAGES))
def test_type_checking_imports_match_the_first_party_plugins(distribution):
    package = _PLUGIN_PACKAGES[distribution]
    imports = _type_checking_imports()
    declared = {
        name
        for name, module in imports.items()
        if module == package
        or module.startswith(package + ".")
        or (module == "flaxen" and f"flaxen.{name}" == package)
    }
    assert declared == {n for n, d in _first_party.PROVIDER.items() if d == distribution}
    if not _installed(distribution):
        pytest.skip(f"{distribution} is not installed")
    registry = plugins.Registry(strict=False, disabled=())
    registered = {
        name
        for name in registry.names("linen_exports")
        if registry.provider("linen_exports", name).distribution == distribution
    }
    assert declared == registered


def test_type_checking_imports_are_not_made_at_run_time():
    imports = _type_checking_imports()
    assert {"Dense", "tabulate", "with_logical_constraint", "vmap"} <= set(imports)
    # The modules those names live in (layers, the tabulate code, linen's own
    # transforms) are imported on first use of a name, not by ``import``.
    modules = set()
    for name, module in imports.items():
        if module.startswith("."):
            modules.add(f"flaxen.linen{module}")
        elif module in ("flaxen", "flaxen.layers"):  # ``from flaxen.layers import linear``
            modules.add(f"{module}.{name}")
        else:
            modules.add(module)
    code = (
        "import sys; from flaxen import linen; "
        f"print(sorted(set({sorted(modules)!r}) & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_missing_first_party_distribution_is_an_import_error(use_registry):
    use_registry([LINEN_SOURCE], hide=("Dense", "initializers", "with_logical_constraint"))
    with pytest.raises(MissingPackageError) as info:
        nn.Dense
    assert isinstance(info.value, ImportError)
    # (The rest of the message depends on whether the distribution is installed at all.)
    assert str(info.value).startswith(
        "flaxen.linen.Dense is provided by the flaxen-layers distribution"
    )
    with pytest.raises(MissingPackageError, match="flaxen-spmd"):
        nn.with_logical_constraint
    with pytest.raises(ImportError, match="flaxen-layers"):
        from flaxen.linen import initializers  # noqa: F401
    # Names of the Module system itself are unaffected.
    assert nn.vmap is not None and "Dense" not in dir(nn)


def test_missing_tabulate_distribution_reaches_module_tabulate(use_registry):
    use_registry([LINEN_SOURCE], hide=("tabulate",))

    class Foo(nn.Module):
        @nn.compact
        def __call__(self, x):
            return x

    with pytest.raises(MissingPackageError, match="flaxen-tabulate"):
        Foo().tabulate(KEY, jnp.ones(2))


THIRD_PARTY = """
import jax
from flaxen.plugins import hookimpl, lazy

@hookimpl
def flaxen_lifted_transforms(register):
    register("my_twice", lazy("tp_transforms_impl:my_twice"))

@hookimpl
def flaxen_linen_exports(register):
    register("Shout", lazy("tp_transforms_impl:Shout"))
    register("tp_tools", lazy("tp_transforms_impl"))
"""

THIRD_PARTY_IMPL = """
from flaxen import linen as nn
from flaxen.core import lift
from flaxen.linen._lifting import lift as lift_target, module_arg_core

def _twice(fn):
    def run(scope, *args):
        return fn(scope, *fn(scope, *args))
    return run

def my_twice(target):
    '''Applies the target twice (a lifted transform built like nn.remat).'''
    return lift_target("Twice", target, module_arg_core(lambda fn: _twice(fn)))

class Shout(nn.Module):
    times: int = 2

    def __call__(self, x):
        return x * self.times

def helper():
    return "helped"
"""


def test_third_party_lifted_transform_and_exports(use_registry, plugin_dir):
    plugin_dir("tp_transforms_impl", THIRD_PARTY_IMPL)
    source = plugin_dir("tp_transforms", THIRD_PARTY)
    registry = use_registry([LINEN_SOURCE, source])
    try:
        assert "my_twice" in registry.names("lifted_transforms")
        assert "tp_transforms_impl" not in sys.modules  # registered lazily
        assert {"my_twice", "Shout", "tp_tools"} <= set(dir(nn))

        class Add(nn.Module):
            @nn.compact
            def __call__(self, x):
                return (x + self.param("b", jax.nn.initializers.ones, ()),)

        Twice = nn.my_twice(Add)
        assert Twice.__name__ == "TwiceAdd" and issubclass(Twice, Add)
        (y,), variables = Twice().init_with_output(KEY, 1.0)
        assert y == 3.0 and variables == {"params": {"b": 1.0}}
        assert nn.Shout(3).apply({}, 2.0) == 6
        assert registry.provider("linen_exports", "Shout").distribution == "dist-tp_transforms"
        from flaxen.linen import tp_tools

        assert tp_tools.helper() == "helped"
        assert importlib.import_module("flaxen.linen.tp_tools") is sys.modules["tp_transforms_impl"]
        # Imported under a second name, the module keeps its own spec.
        assert tp_tools.__spec__.name == tp_tools.__name__ == "tp_transforms_impl"
        assert importlib.reload(tp_tools) is tp_tools
    finally:
        for name in ("my_twice", "Shout", "tp_tools"):
            vars(nn).pop(name, None)
        sys.modules.pop("flaxen.linen.tp_tools", None)
        sys.modules.pop("tp_transforms_impl", None)


def _installed(distribution):
    try:
        importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.parametrize("distribution", ["flaxen-layers", "flaxen-spmd", "flaxen-tabulate"])
def test_first_party_name_tables_match_the_installed_plugins(distribution):
    if not _installed(distribution):
        pytest.skip(f"{distribution} is not installed")
    registry = plugins.Registry(strict=False, disabled=())
    registered = {
        name
        for name in registry.names("linen_exports")
        if registry.provider("linen_exports", name).distribution == distribution
    }
    expected = {name for name, dist in _first_party.PROVIDER.items() if dist == distribution}
    assert registered == expected


def test_initializers_module_is_importable_from_flaxen_linen():
    try:
        nn.initializers
    except ImportError as error:
        pytest.skip(f"flaxen-layers does not provide initializers yet: {error}")
    from flaxen.linen.initializers import lecun_normal

    assert lecun_normal is nn.initializers.lecun_normal
    assert importlib.import_module("flaxen.linen.initializers") is nn.initializers
    value = lecun_normal()(KEY, (4, 3))
    assert value.shape == (4, 3)
