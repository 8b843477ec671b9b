"""Conformance cases of attention: the Modules and the functions."""

from __future__ import annotations

import functools
import warnings

import jax
import jax.numpy as jnp

from ._case import LayerCase, args, function_case, normal

_Q = normal(2, 3, 8)
_QK = args(normal(2, 3, 8), normal(2, 5, 6))
_HEADS = args(normal(2, 3, 2, 4), normal(2, 5, 2, 4), normal(2, 5, 2, 3))


def _mask(key: jax.Array) -> dict[str, jax.Array]:
    return {"mask": jax.random.bernoulli(key, 0.8, (2, 1, 3, 5)).at[..., 0].set(True)}


@functools.cache
def _quiet_self_attention(nn):
    """Calls ``nn.SelfAttention`` without its (expected) deprecation warning."""

    class QuietSelfAttention(nn.Module):
        num_heads: int

        @nn.compact
        def __call__(self, x):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                return nn.SelfAttention(num_heads=self.num_heads)(x)

    return QuietSelfAttention


CASES = (
    LayerCase(
        "MultiHeadDotProductAttention/self",
        lambda nn: nn.MultiHeadDotProductAttention(num_heads=2),
        _Q,
    ),
    LayerCase(
        "MultiHeadDotProductAttention/cross_masked",
        lambda nn: nn.MultiHeadDotProductAttention(num_heads=2, qkv_features=6, out_features=5),
        _QK,
        kwarg_inputs=_mask,
    ),
    LayerCase(
        "MultiHeadDotProductAttention/normalize_qk_no_bias",
        lambda nn: nn.MultiHeadDotProductAttention(
            num_heads=4, normalize_qk=True, use_bias=False, precision="highest"
        ),
        _Q,
    ),
    LayerCase(
        "MultiHeadDotProductAttention/dropout",
        lambda nn: nn.MultiHeadDotProductAttention(num_heads=2, dropout_rate=0.3),
        _Q,
        call_kwargs={"deterministic": False},
        init_rngs=("params", "dropout"),
        apply_rngs=("dropout",),
        vmap=False,
        float64=False,  # float64 Bernoulli draws give other masks under x64 (as in Flax)
    ),
    LayerCase(
        "MultiHeadDotProductAttention/sow_weights",
        lambda nn: nn.MultiHeadDotProductAttention(num_heads=2),
        _Q,
        call_kwargs={"sow_weights": True},
        mutable=("intermediates",),
    ),
    LayerCase(
        "MultiHeadAttention/self", lambda nn: nn.MultiHeadAttention(num_heads=2), _Q,
    ),
    LayerCase(
        "SelfAttention/default",
        lambda nn: _quiet_self_attention(nn)(num_heads=2),
        _Q,
        covers=("SelfAttention",),
    ),
    function_case("dot_product_attention/default", "dot_product_attention", _HEADS),
    function_case(
        "dot_product_attention_weights/default", "dot_product_attention_weights",
        args(normal(2, 3, 2, 4), normal(2, 5, 2, 4)),
    ),
    function_case(
        "make_attention_mask/default", "make_attention_mask",
        args(normal(2, 3), normal(2, 4)), fn_pairwise_fn=jnp.greater, grad=False,
    ),
    function_case("make_causal_mask/default", "make_causal_mask", normal(2, 4), grad=False),
    function_case(
        "combine_masks/default", "combine_masks",
        args(normal(2, 1, 3, 4), normal(2, 1, 3, 4)), grad=False,
    ),
)  # fmt: skip
