"""flaxen's plugin system.

Packages (first-party and third-party alike) contribute to flaxen through
entry points in the ``flaxen`` group. Each entry point names a module that
implements some of the hooks in :class:`FlaxenHookSpecs`:

.. code-block:: toml

   [project.entry-points.flaxen]
   my_layers = "my_layers._flaxen_plugin"

.. code-block:: python

   # my_layers/_flaxen_plugin.py
   from flaxen.plugins import hookimpl, lazy

   @hookimpl
   def flaxen_linen_exports(register):
       register("FancyDense", lazy("my_layers._dense:FancyDense"))

After ``pip install my-layers``, ``nn.FancyDense`` is available. Plugins load
on the first lookup; a broken plugin is reported once (a
:class:`~flaxen.errors.PluginWarning`) and skipped, or raises with
``FLAXEN_STRICT_PLUGINS=1``. ``FLAXEN_DISABLE_PLUGINS=a,b`` skips plugins by
entry-point or distribution name. ``flaxen plugins`` lists them all.
"""

from ._hookspecs import ENTRY_POINT_GROUP as ENTRY_POINT_GROUP
from ._hookspecs import FlaxenHookSpecs as FlaxenHookSpecs
from ._hookspecs import Register as Register
from ._hookspecs import hookimpl as hookimpl
from ._hookspecs import hookspec as hookspec
from ._protocols import CheckpointBackend as CheckpointBackend
from ._protocols import CliCommand as CliCommand
from ._registry import CATEGORIES as CATEGORIES
from ._registry import DISABLE_ENV as DISABLE_ENV
from ._registry import STRICT_ENV as STRICT_ENV
from ._registry import Category as Category
from ._registry import LazyRef as LazyRef
from ._registry import PluginInfo as PluginInfo
from ._registry import Registry as Registry
from ._registry import get_registry as get_registry
from ._registry import lazy as lazy
from ._registry import reset_registry as reset_registry
