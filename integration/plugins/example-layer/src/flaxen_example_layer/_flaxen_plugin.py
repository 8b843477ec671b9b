"""What this package registers with flaxen (loaded through the entry point)."""

from flaxen.plugins import hookimpl, lazy


@hookimpl
def flaxen_linen_exports(register):
    # Lazy: importing the layer (and jax) waits until nn.ScaledDense is used.
    register("ScaledDense", lazy("flaxen_example_layer._scaled_dense:ScaledDense"))
