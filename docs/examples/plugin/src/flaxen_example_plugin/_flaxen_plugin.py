"""The hook implementations flaxen finds through the entry point.

Every value is a lazy reference: nothing here imports JAX or this package's
modules until a user looks the name up.
"""

from flaxen.plugins import hookimpl, lazy


@hookimpl
def flaxen_linen_exports(register):
    register("Affine", lazy("flaxen_example_plugin._layer:Affine"))


@hookimpl
def flaxen_lifted_transforms(register):
    register("ensemble", lazy("flaxen_example_plugin._ensemble:ensemble"))


@hookimpl
def flaxen_checkpoint_backends(register):
    register("npz", lazy("flaxen_example_plugin._backend:backend"))
