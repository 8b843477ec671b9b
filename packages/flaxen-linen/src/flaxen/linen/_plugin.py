"""flaxen-linen's plugin: the lifted transforms, registered like a third party's would be."""

from __future__ import annotations

from flaxen.plugins import hookimpl, lazy

_CLASS_TRANSFORMS = (
    "add_metadata_axis", "checkpoint", "fold_rngs", "jit", "map_variables", "remat",
    "remat_scan", "scan", "vmap",
)  # fmt: skip
_FUNCTION_TRANSFORMS = (
    "cond", "custom_vjp", "grad", "jvp", "switch", "value_and_grad", "vjp", "while_loop",
)  # fmt: skip


@hookimpl
def flaxen_lifted_transforms(register):
    for name in _CLASS_TRANSFORMS:
        register(name, lazy(f"flaxen.linen._transforms_class:{name}"))
    for name in _FUNCTION_TRANSFORMS:
        register(name, lazy(f"flaxen.linen._transforms_fn:{name}"))
