"""flaxen-tabulate's plugin: ``nn.tabulate`` and ``nn.summary``, registered lazily; doctests."""

import subprocess
import sys
import textwrap
from importlib.metadata import version

from flaxen import linen as nn
from flaxen import plugins, tabulate
from flaxen.linen._first_party import PROVIDER, TABULATE


def test_registers_exactly_the_names_flaxen_linen_expects():
    registry = plugins.Registry(strict=True, disabled=())
    (info,) = [p for p in registry.plugins if p.distribution == "flaxen-tabulate"]
    assert info.status == "loaded" and info.name == "tabulate"
    assert set(info.registered) == {"linen_exports"}
    assert set(info.registered["linen_exports"]) == TABULATE
    assert {PROVIDER[name] for name in TABULATE} == {"flaxen-tabulate"}


def test_public_names():
    assert nn.tabulate is tabulate.tabulate
    assert nn.summary.tabulate is tabulate.tabulate
    import flaxen.linen.summary as summary_module

    assert summary_module is nn.summary
    assert tabulate.__version__ == version("flaxen-tabulate")
    assert set(dir(tabulate)) >= {"Row", "Table", "summarize", "render", "export_html"}


def test_plugin_loading_imports_neither_rich_nor_the_summary_code():
    code = textwrap.dedent(
        """
        import sys
        from flaxen import linen as nn
        nn.vmap  # loads every plugin
        assert "rich" not in sys.modules, "rich imported"
        assert "flaxen.tabulate._tabulate" not in sys.modules
        nn.tabulate
        assert "flaxen.tabulate._tabulate" in sys.modules
        assert "rich" not in sys.modules, "rich imported before rendering"
        print("ok")
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "ok"


def test_doctests(run_doctests):
    assert run_doctests("flaxen.tabulate") >= 10
