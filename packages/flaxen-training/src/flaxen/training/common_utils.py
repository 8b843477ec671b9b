"""``flaxen.training.common_utils``: helpers for data-parallel training loops."""

from ._common_utils import get_metrics as get_metrics
from ._common_utils import onehot as onehot
from ._common_utils import shard as shard
from ._common_utils import shard_prng_key as shard_prng_key
from ._common_utils import stack_forest as stack_forest

__all__ = ["shard", "shard_prng_key", "stack_forest", "get_metrics", "onehot"]
