"""Conformance cases of the pooling functions."""

from __future__ import annotations

from jax import lax

from ._case import function_case, normal

_X1 = normal(2, 6, 3)
_X2 = normal(2, 5, 4, 2)

CASES = (
    function_case("max_pool/valid", "max_pool", _X2, fn_window_shape=(2, 2)),
    function_case(
        "max_pool/same_strided", "max_pool", _X2, fn_window_shape=(3, 2), fn_strides=(2, 1),
        fn_padding="SAME",
    ),
    function_case("avg_pool/valid", "avg_pool", _X1, fn_window_shape=(2,)),
    function_case(
        "avg_pool/explicit_pads", "avg_pool", _X2, fn_window_shape=(2, 2),
        fn_padding=((1, 0), (0, 1)),
    ),
    function_case(
        "avg_pool/exclude_pad", "avg_pool", _X1, fn_window_shape=(3,), fn_padding="SAME",
        fn_count_include_pad=False,
    ),
    # min_pool is not exported by flax.linen itself, only by flax.linen.pooling.
    function_case(
        "min_pool/same", "pooling.min_pool", _X1, fn_window_shape=(2,), fn_padding="SAME",
    ),
    function_case(
        "pool/sum", "pool", _X1, fn_init=0.0, fn_reduce_fn=lax.add,
        fn_window_shape=(2,), fn_strides=(1,), fn_padding="VALID",
    ),
)  # fmt: skip
