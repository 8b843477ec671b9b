"""The flaxen-tabulate plugin: ``nn.tabulate`` and ``nn.summary``.

Registered through the same ``flaxen_linen_exports`` hook a third-party
package uses. Both names are lazy references: loading the plugin imports
neither rich nor the summary code.
"""

from __future__ import annotations

from flaxen.plugins import hookimpl, lazy


@hookimpl
def flaxen_linen_exports(register):
    register("tabulate", lazy("flaxen.tabulate._tabulate:tabulate"))
    # ``flaxen.linen.summary`` is the public module, like ``flax.linen.summary``.
    register("summary", lazy("flaxen.tabulate.summary"))
