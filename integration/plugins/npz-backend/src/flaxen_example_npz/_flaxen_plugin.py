"""Registers the ``npz`` checkpoint backend with flaxen."""

from flaxen.plugins import hookimpl, lazy


@hookimpl
def flaxen_checkpoint_backends(register):
    register("npz", lazy("flaxen_example_npz._backend:npz_backend"))
