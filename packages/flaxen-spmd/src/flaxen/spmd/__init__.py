"""SPMD partitioning with logical axis names, exported into ``flaxen.linen``.

Models name the dimensions of their parameters and activations with logical
names (``'batch'``, ``'embed'``, ``'hidden'``); rules map those names to the
axes of a device mesh, so a model can be sharded in different ways without
changing its code. ``flaxen.linen.spmd`` is this module.

>>> import jax
>>> from flaxen import linen as nn
>>> from flaxen.linen import spmd
>>> spmd is nn.spmd and nn.logical_axis_rules is spmd.logical_axis_rules
True
>>> init = spmd.with_logical_partitioning(jax.nn.initializers.ones, ('embed', 'hidden'))
>>> spec = nn.get_partition_spec({'w': init(jax.random.key(0), (2, 3))})
>>> spec
{'w': P('embed', 'hidden')}
>>> spmd.logical_to_mesh(spec, (('batch', 'data'), ('hidden', 'model')))
{'w': P(None, 'model')}
"""

from importlib import import_module as _import_module
from importlib.metadata import version as _version
from typing import TYPE_CHECKING, Any

from flaxen.core.meta import PARTITION_NAME as PARTITION_NAME
from flaxen.core.meta import Partitioned as Partitioned
from flaxen.core.meta import get_partition_spec as get_partition_spec
from flaxen.core.meta import get_sharding as get_sharding
from flaxen.core.meta import with_partitioning as with_partitioning

if TYPE_CHECKING:
    from ._constraint import RulesFallback as RulesFallback
    from ._constraint import logical_to_mesh_sharding as logical_to_mesh_sharding
    from ._constraint import with_logical_constraint as with_logical_constraint
    from ._partitioned import LogicallyPartitioned as LogicallyPartitioned
    from ._partitioned import with_logical_partitioning as with_logical_partitioning
    from ._rules import LogicalNames as LogicalNames
    from ._rules import LogicalPartitionSpec as LogicalPartitionSpec
    from ._rules import LogicalRules as LogicalRules
    from ._rules import get_logical_axis_rules as get_logical_axis_rules
    from ._rules import logical_axis_rules as logical_axis_rules
    from ._rules import logical_to_mesh as logical_to_mesh
    from ._rules import logical_to_mesh_axes as logical_to_mesh_axes
    from ._rules import set_logical_axis_rules as set_logical_axis_rules

__version__ = _version("flaxen-spmd")

# Imported on first use: the plugin module lives in this package, so loading
# flaxen's plugins imports this file, and that must stay cheap.
_LAZY = {
    **dict.fromkeys(
        ("RulesFallback", "logical_to_mesh_sharding", "with_logical_constraint"), "_constraint"
    ),
    **dict.fromkeys(("LogicallyPartitioned", "with_logical_partitioning"), "_partitioned"),
    **dict.fromkeys(
        (
            "LogicalNames", "LogicalPartitionSpec", "LogicalRules", "get_logical_axis_rules",
            "logical_axis_rules", "logical_to_mesh", "logical_to_mesh_axes",
            "set_logical_axis_rules",
        ),
        "_rules",
    ),
}  # fmt: skip


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
