"""Dot-product attention as functions, and the helpers that build attention masks.

Shapes follow Flax: queries ``[batch..., q_length, num_heads, depth]``, keys
and values ``[batch..., kv_length, num_heads, depth]``, weights and masks
``[batch..., num_heads, q_length, kv_length]``. The contractions are written
as the ``dot_general`` calls ``jnp.einsum`` would emit for Flax's subscripts
(so the compiled program is the same) without einsum's per-call parsing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from ._dtypes import Dtype, promote_dtype

Array = jax.Array
PrecisionLike = Any

_QK_SUBSCRIPTS = "...qhd,...khd->...hqk"
_WV_SUBSCRIPTS = "...hqk,...khd->...qhd"
_LOW_PRECISION = (jnp.dtype(jnp.bfloat16), jnp.dtype(jnp.float16))


def _check(condition: bool, message: str) -> None:
    # Flax raises AssertionError here; raise it even under ``python -O``.
    if not condition:
        raise AssertionError(message)


def _qk_logits(query: Array, key: Array, precision: PrecisionLike) -> Array:
    """``einsum('...qhd,...khd->...hqk')``: batch axes and heads batched, depth contracted."""
    nd = query.ndim
    batch = (*range(nd - 3), nd - 2)
    return lax.dot_general(
        query,
        key,
        (((nd - 1,), (nd - 1,)), (batch, batch)),
        precision=precision,
        preferred_element_type=jnp.result_type(query, key),
    )


def _weighted_values(weights: Array, value: Array, precision: PrecisionLike) -> Array:
    """``einsum('...hqk,...khd->...qhd')``, as einsum emits it: values first, then a transpose."""
    nd = value.ndim
    nb = nd - 3
    out = lax.dot_general(
        value,
        weights,
        (((nd - 3,), (nd - 1,)), ((*range(nb), nd - 2), (*range(nb), nd - 3))),
        precision=precision,
        preferred_element_type=jnp.result_type(value, weights),
    )
    # ``out`` is [batch..., heads, depth, q_length].
    return lax.transpose(out, (*range(nb), nb + 2, nb, nb + 1))


def dot_product_attention_weights(
    query: Array,
    key: Array,
    bias: Array | None = None,
    mask: Array | None = None,
    broadcast_dropout: bool = True,
    dropout_rng: Array | None = None,
    dropout_rate: float = 0.0,
    deterministic: bool = False,
    dtype: Dtype | None = None,
    precision: PrecisionLike = None,
    module: Any = None,
    force_fp32_for_softmax: bool = False,
    einsum_dot_general: Callable[..., Array] | None = None,
    einsum: Callable[..., Array] | None = None,
) -> Array:
    """Computes dot-product attention weights given query and key.

    Used by :func:`dot_product_attention`; call it directly to inspect the
    weights.

    >>> import jax.numpy as jnp
    >>> from flaxen import linen as nn
    >>> q = k = jnp.ones((2, 3, 1, 4))  # [batch, length, heads, depth]
    >>> nn.dot_product_attention_weights(q, k).shape  # [batch, heads, q, kv]
    (2, 1, 3, 3)

    Args:
      query: queries, ``[batch..., q_length, num_heads, qk_depth_per_head]``.
      key: keys, ``[batch..., kv_length, num_heads, qk_depth_per_head]``.
      bias: added to the logits; broadcastable to
        ``[batch..., num_heads, q_length, kv_length]`` (causal or padding
        biases, proximity biases...).
      mask: where attention is allowed (False entries get the dtype's most
        negative value before the softmax); broadcastable like ``bias``.
      broadcast_dropout: share the dropout mask across the batch axes and heads.
      dropout_rng: the key for dropout.
      dropout_rate: the dropout probability.
      deterministic: disable dropout.
      dtype: the computation dtype (default: inferred from query and key).
      precision: the ``jax.lax.Precision`` of the contraction.
      module: a Module; when given, the weights are sown into its
        ``intermediates`` collection as ``attention_weights`` (before dropout).
      force_fp32_for_softmax: compute the softmax in float32 for bfloat16 and
        float16 inputs (the weights are then float32).
      einsum_dot_general: the ``dot_general`` ``jnp.einsum`` should use.
      einsum: replaces ``jnp.einsum`` for the contraction (exclusive with
        ``precision`` and ``einsum_dot_general``).

    Returns:
      The weights, ``[batch..., num_heads, q_length, kv_length]``.
    """
    query, key = promote_dtype(query, key, dtype=dtype)
    dtype = query.dtype
    _check(query.ndim == key.ndim, "q, k must have same rank.")
    _check(query.shape[:-3] == key.shape[:-3], "q, k batch dims must match.")
    _check(query.shape[-2] == key.shape[-2], "q, k num_heads must match.")
    _check(query.shape[-1] == key.shape[-1], "q, k depths must match.")
    if einsum is not None and (precision is not None or einsum_dot_general is not None):
        raise ValueError(
            "precision/einsum_dot_general and einsum are mutually exclusive. Please"
            " specify only one of them."
        )

    depth = query.shape[-1]
    query = query / jnp.sqrt(depth).astype(dtype)
    if einsum is not None:
        attn_weights = einsum(_QK_SUBSCRIPTS, query, key)
    elif einsum_dot_general is not None:
        attn_weights = jnp.einsum(
            _QK_SUBSCRIPTS, query, key, precision=precision, _dot_general=einsum_dot_general
        )
    else:
        attn_weights = _qk_logits(query, key, precision)

    if bias is not None:
        attn_weights = attn_weights + bias
    if mask is not None:
        attn_weights = jnp.where(mask, attn_weights, jnp.finfo(dtype).min)
    if force_fp32_for_softmax and dtype in _LOW_PRECISION:
        attn_weights = attn_weights.astype(jnp.float32)
    attn_weights = jax.nn.softmax(attn_weights)

    if module is not None:
        module.sow("intermediates", "attention_weights", attn_weights)

    if not deterministic and dropout_rate > 0.0:
        keep_prob = 1.0 - dropout_rate
        if broadcast_dropout:
            dropout_shape = (1,) * (key.ndim - 2) + attn_weights.shape[-2:]
        else:
            dropout_shape = attn_weights.shape
        keep = jax.random.bernoulli(dropout_rng, keep_prob, dropout_shape)
        multiplier = keep.astype(dtype) / jnp.asarray(keep_prob, dtype=dtype)
        attn_weights = attn_weights * multiplier
    return attn_weights


def dot_product_attention(
    query: Array,
    key: Array,
    value: Array,
    bias: Array | None = None,
    mask: Array | None = None,
    broadcast_dropout: bool = True,
    dropout_rng: Array | None = None,
    dropout_rate: float = 0.0,
    deterministic: bool = False,
    dtype: Dtype | None = None,
    precision: PrecisionLike = None,
    module: Any = None,
    force_fp32_for_softmax: bool = False,
    einsum_dot_general: Callable[..., Array] | None = None,
    qk_attn_weights_einsum: Callable[..., Array] | None = None,
    attn_weights_value_einsum: Callable[..., Array] | None = None,
) -> Array:
    """Computes dot-product attention (https://arxiv.org/abs/1706.03762).

    ``softmax(query . key / sqrt(depth) + bias) . value``; the inputs need
    no batch axes.

    >>> import jax.numpy as jnp
    >>> from flaxen import linen as nn
    >>> q = k = jnp.ones((3, 2, 4))  # [length, heads, depth]
    >>> v = jnp.arange(24.0).reshape(3, 2, 4)
    >>> out = nn.dot_product_attention(q, k, v)
    >>> out.shape
    (3, 2, 4)
    >>> [round(float(a), 4) for a in out[0, 0]]  # uniform weights: the mean over the keys
    [8.0, 9.0, 10.0, 11.0]

    Args:
      query: queries, ``[batch..., q_length, num_heads, qk_depth_per_head]``.
      key: keys, ``[batch..., kv_length, num_heads, qk_depth_per_head]``.
      value: values, ``[batch..., kv_length, num_heads, v_depth_per_head]``.
      bias: added to the logits; broadcastable to
        ``[batch..., num_heads, q_length, kv_length]``.
      mask: where attention is allowed; broadcastable like ``bias``.
      broadcast_dropout: share the dropout mask across the batch axes and heads.
      dropout_rng: the key for dropout.
      dropout_rate: the dropout probability.
      deterministic: disable dropout.
      dtype: the computation dtype (default: inferred from the inputs).
      precision: the ``jax.lax.Precision`` of the contractions.
      module: a Module to sow the attention weights into.
      force_fp32_for_softmax: compute the softmax in float32 for bfloat16 and
        float16 inputs.
      einsum_dot_general: the ``dot_general`` ``jnp.einsum`` should use.
      qk_attn_weights_einsum: replaces ``jnp.einsum`` for query-key.
      attn_weights_value_einsum: replaces ``jnp.einsum`` for weights-value
        (give both or neither).

    Returns:
      The attended values, ``[batch..., q_length, num_heads, v_depth_per_head]``.
    """
    query, key, value = promote_dtype(query, key, value, dtype=dtype)
    dtype = query.dtype
    _check(key.ndim == query.ndim == value.ndim, "q, k, v must have same rank.")
    _check(query.shape[:-3] == key.shape[:-3] == value.shape[:-3], "q, k, v batch dims must match.")
    _check(query.shape[-2] == key.shape[-2] == value.shape[-2], "q, k, v num_heads must match.")
    _check(key.shape[-3] == value.shape[-3], "k, v lengths must match.")
    if (qk_attn_weights_einsum is None) != (attn_weights_value_einsum is None):
        raise ValueError(
            "qk_attn_weights_einsum and attn_weights_value_einsum must be specified together."
        )

    attn_weights = dot_product_attention_weights(
        query,
        key,
        bias,
        mask,
        broadcast_dropout,
        dropout_rng,
        dropout_rate,
        deterministic,
        dtype,
        precision,
        module,
        force_fp32_for_softmax,
        einsum_dot_general=einsum_dot_general,
        einsum=qk_attn_weights_einsum,
    )
    if attn_weights_value_einsum is not None:
        return attn_weights_value_einsum(_WV_SUBSCRIPTS, attn_weights, value)
    if einsum_dot_general is not None:
        return jnp.einsum(
            _WV_SUBSCRIPTS, attn_weights, value, precision=precision,
            _dot_general=einsum_dot_general,
        )  # fmt: skip
    return _weighted_values(attn_weights, value, precision)


def make_attention_mask(
    query_input: Array,
    key_input: Array,
    pairwise_fn: Callable[..., Any] = jnp.multiply,
    extra_batch_dims: int = 0,
    dtype: Dtype = jnp.float32,
) -> Array:
    """Builds an attention mask from per-position query and key inputs.

    For 1-d inputs ``[batch..., len_q]`` and ``[batch..., len_kv]`` the
    attention weights are ``[batch..., heads, len_q, len_kv]``; the mask is
    ``pairwise_fn(query, key)`` shaped ``[batch..., 1, len_q, len_kv]``.

    >>> import jax.numpy as jnp
    >>> from flaxen import linen as nn
    >>> tokens = jnp.array([[5, 7, 0]])  # 0 is padding
    >>> mask = nn.make_attention_mask(tokens > 0, tokens > 0)
    >>> mask.shape
    (1, 1, 3, 3)
    >>> mask[0, 0]
    Array([[1., 1., 0.],
           [1., 1., 0.],
           [0., 0., 0.]], dtype=float32)

    Args:
      query_input: a batched, flat input of query length.
      key_input: a batched, flat input of key length.
      pairwise_fn: the broadcasting elementwise comparison.
      extra_batch_dims: leading singleton axes to add.
      dtype: the dtype of the mask.

    Returns:
      The mask, ``[1 * extra_batch_dims..., batch..., 1, len_q, len_kv]``.
    """
    mask = pairwise_fn(jnp.expand_dims(query_input, axis=-1), jnp.expand_dims(key_input, axis=-2))
    mask = jnp.expand_dims(mask, axis=-3)
    mask = jnp.expand_dims(mask, axis=tuple(range(extra_batch_dims)))
    return mask.astype(dtype)


def make_causal_mask(x: Array, extra_batch_dims: int = 0, dtype: Dtype = jnp.float32) -> Array:
    """Builds a causal mask for self-attention: position ``i`` attends to ``j <= i``.

    >>> import jax.numpy as jnp
    >>> from flaxen import linen as nn
    >>> nn.make_causal_mask(jnp.ones((1, 3)))[0, 0]
    Array([[1., 0., 0.],
           [1., 1., 0.],
           [1., 1., 1.]], dtype=float32)

    Args:
      x: an input ``[batch..., len]`` (only its shape is used).
      extra_batch_dims: leading singleton axes to add.
      dtype: the dtype of the mask.

    Returns:
      The mask, ``[1 * extra_batch_dims..., batch..., 1, len, len]``.
    """
    idxs = jnp.broadcast_to(jnp.arange(x.shape[-1], dtype=jnp.int32), x.shape)
    return make_attention_mask(idxs, idxs, jnp.greater_equal, extra_batch_dims, dtype)


def combine_masks(*masks: Array | None, dtype: Dtype = jnp.float32) -> Array | None:
    """Combines attention masks with a logical and; None masks are ignored.

    >>> import jax.numpy as jnp
    >>> from flaxen import linen as nn
    >>> causal = nn.make_causal_mask(jnp.ones((1, 3)))
    >>> padding = nn.make_attention_mask(jnp.array([[1, 1, 0]]), jnp.array([[1, 1, 0]]))
    >>> nn.combine_masks(causal, None, padding)[0, 0]
    Array([[1., 0., 0.],
           [1., 1., 0.],
           [0., 0., 0.]], dtype=float32)
    >>> nn.combine_masks(None, None) is None
    True

    Args:
      *masks: masks of the same rank, or None.
      dtype: the dtype of the result.

    Returns:
      The combined mask, or None when every mask is None.
    """
    present = [m for m in masks if m is not None]
    if not present:
        return None
    _check(
        all(m.ndim == present[0].ndim for m in present),
        f"masks must have same rank: {tuple(m.ndim for m in present)}",
    )
    mask = functools.reduce(jnp.logical_and, present)
    return mask.astype(dtype)
