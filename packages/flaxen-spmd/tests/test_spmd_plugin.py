"""flaxen-spmd's plugin: what it registers into flaxen.linen, lazily; its doctests."""

import subprocess
import sys
import textwrap

import jax

from flaxen import linen as nn
from flaxen import plugins, spmd
from flaxen.linen._first_party import PROVIDER, SPMD


def _spmd_plugin():
    registry = plugins.Registry(strict=True, disabled=())
    (info,) = [p for p in registry.plugins if p.distribution == "flaxen-spmd"]
    return info


def test_registers_exactly_the_names_flaxen_linen_expects():
    info = _spmd_plugin()
    assert info.status == "loaded" and info.name == "spmd"
    assert set(info.registered) == {"linen_exports"}
    assert set(info.registered["linen_exports"]) == SPMD
    assert {PROVIDER[name] for name in SPMD} == {"flaxen-spmd"}


def test_names_resolve_to_the_public_objects():
    for name in SPMD - {"spmd"}:
        assert getattr(nn, name) is getattr(spmd, name), name
    assert nn.spmd is spmd
    from flaxen.linen import spmd as from_linen

    assert from_linen is spmd
    # flax.linen.spmd also carries the physical partitioning helpers
    assert spmd.Partitioned is nn.Partitioned and spmd.with_partitioning is nn.with_partitioning
    assert spmd.get_partition_spec is nn.get_partition_spec
    assert spmd.get_sharding is nn.get_sharding and spmd.PARTITION_NAME == nn.PARTITION_NAME


def test_loading_plugins_imports_no_implementation_module():
    code = textwrap.dedent(
        """
        import sys
        from flaxen import linen as nn
        nn.vmap  # loads every plugin
        impl = ("flaxen.spmd._rules", "flaxen.spmd._constraint", "flaxen.spmd._partitioned")
        assert not any(m in sys.modules for m in impl), "imported eagerly"
        nn.logical_axis_rules
        assert "flaxen.spmd._rules" in sys.modules
        assert "flaxen.spmd._constraint" not in sys.modules
        nn.with_logical_constraint
        assert "flaxen.spmd._constraint" in sys.modules
        print("ok")
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "ok"


def test_version():
    from importlib.metadata import version

    assert spmd.__version__ == version("flaxen-spmd")


def test_doctests(run_doctests):
    assert jax.device_count() >= 1
    assert run_doctests("flaxen.spmd") > 10
