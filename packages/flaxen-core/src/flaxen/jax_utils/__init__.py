"""Utilities we could consider upstreaming to JAX.

Multi-device helpers for ``jax.pmap`` code (:func:`replicate`,
:func:`unreplicate`, :func:`pmean`, :func:`prefetch_to_device`,
:func:`pad_shard_unpad`), :func:`partial_eval_by_shape` (evaluate what a
function's outputs can be from its inputs' shapes alone) and
:func:`scan_in_dim` (``lax.scan`` over any dimensions).
"""

from ._devices import pmean as pmean
from ._devices import prefetch_to_device as prefetch_to_device
from ._devices import replicate as replicate
from ._devices import unreplicate as unreplicate
from ._pad_shard_unpad import pad_shard_unpad as pad_shard_unpad
from ._partial_eval import partial_eval_by_shape as partial_eval_by_shape
from ._scan import scan_in_dim as scan_in_dim
