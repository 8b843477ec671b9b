"""The flaxen-spmd plugin: logical partitioning, exported into ``flaxen.linen``.

Registered through the same ``flaxen_linen_exports`` hook a third-party
package uses. Every name is a lazy reference, so loading the plugin imports
nothing; ``nn.logical_axis_rules`` imports ``flaxen.spmd._rules`` only.
"""

from __future__ import annotations

from flaxen.plugins import hookimpl, lazy

#: Private module -> the names it exports into ``flaxen.linen``.
EXPORTS: dict[str, tuple[str, ...]] = {
    "_rules": (
        "get_logical_axis_rules", "logical_axis_rules", "logical_to_mesh",
        "logical_to_mesh_axes", "set_logical_axis_rules",
    ),
    "_constraint": ("logical_to_mesh_sharding", "with_logical_constraint"),
    "_partitioned": ("LogicallyPartitioned", "with_logical_partitioning"),
}  # fmt: skip


@hookimpl
def flaxen_linen_exports(register):
    # ``flaxen.linen.spmd`` is this package, like ``flax.linen.spmd``.
    register("spmd", lazy("flaxen.spmd"))
    for module, names in EXPORTS.items():
        for name in names:
            register(name, lazy(f"flaxen.spmd.{module}:{name}"))
