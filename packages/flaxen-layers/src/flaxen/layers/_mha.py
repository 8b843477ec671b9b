"""Multi-head attention Modules: ``MultiHeadDotProductAttention`` and its aliases."""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from flaxen.linen import Module, compact, merge_param

from ._attention_fns import combine_masks, dot_product_attention
from ._dense import DenseGeneral, default_kernel_init
from ._layer_norm import LayerNorm
from ._typing import Array, DotGeneralT, Dtype, Initializer, PrecisionLike, PRNGKey

_DISCUSSION = "See https://github.com/google/flax/discussions/3389"

# Arguments offered to ``attention_fn``; each is passed only when the
# function's signature names it (so simple custom functions keep working).
_OPTIONAL_ATTENTION_ARGS = frozenset(
    {
        "mask", "dropout_rng", "dropout_rate", "broadcast_dropout", "deterministic", "dtype",
        "precision", "force_fp32_for_softmax", "qk_attn_weights_einsum",
        "attn_weights_value_einsum",
    }
)  # fmt: skip


@functools.lru_cache(maxsize=256)
def _cached_accepted_args(fn: Callable[..., Any]) -> frozenset[str]:
    return _accepted_args_uncached(fn)


def _accepted_args_uncached(fn: Callable[..., Any]) -> frozenset[str]:
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # no introspectable signature: offer nothing optional
        return frozenset()
    return _OPTIONAL_ATTENTION_ARGS.intersection(parameters)


def _accepted_args(fn: Callable[..., Any]) -> frozenset[str]:
    if fn is dot_product_attention:
        return _OPTIONAL_ATTENTION_ARGS
    try:
        return _cached_accepted_args(fn)
    except TypeError:  # unhashable callable
        return _accepted_args_uncached(fn)


class MultiHeadDotProductAttention(Module):
    """Multi-head dot-product attention (https://arxiv.org/abs/1706.03762).

    Projects the inputs to ``num_heads`` heads of queries, keys and values
    (``DenseGeneral`` layers ``query``, ``key`` and ``value``), applies
    ``attention_fn`` and projects the heads back (``out``). Called with only
    ``inputs_q`` it is self-attention; ``inputs_k`` defaults to ``inputs_q``
    and ``inputs_v`` to ``inputs_k``.

    >>> import jax, jax.numpy as jnp
    >>> from flaxen import linen as nn
    >>> layer = nn.MultiHeadDotProductAttention(num_heads=2, qkv_features=8)
    >>> q, kv = jnp.ones((4, 3, 5)), jnp.ones((4, 6, 7))
    >>> variables = layer.init(jax.random.key(0), q, kv)
    >>> jax.tree_util.tree_map(jnp.shape, variables['params'])['query']
    {'bias': (2, 4), 'kernel': (5, 2, 4)}
    >>> layer.apply(variables, q, kv).shape
    (4, 3, 5)

    With ``decode=True`` the module keeps an autoregressive cache (the
    ``cache`` collection: ``cached_key``, ``cached_value``, ``cache_index``):
    ``init`` with the full-length input sizes the cache, then each ``apply``
    with one position (and ``mutable=['cache']``) attends to every position
    seen so far.

    Attributes:
      num_heads: the number of heads; must divide ``qkv_features``.
      dtype: the computation dtype (default: inferred from inputs and params).
      param_dtype: the dtype of the parameters.
      qkv_features: the size of queries, keys and values over all heads
        (default: the last axis of ``inputs_q``).
      out_features: the size of the output (default: the last axis of ``inputs_q``).
      broadcast_dropout: share the attention dropout mask across batch axes.
      dropout_rate: the dropout rate of the attention weights.
      deterministic: disable dropout; may be given here or when calling.
      precision: the ``jax.lax.Precision`` of the projections and attention.
      kernel_init: initializer of the projection kernels.
      out_kernel_init: initializer of the ``out`` kernel (default: ``kernel_init``).
      bias_init: initializer of the projection biases.
      out_bias_init: initializer of the ``out`` bias (default: ``bias_init``).
      use_bias: add biases in the projections.
      attention_fn: ``dot_product_attention`` or a function like it; the
        optional arguments it names (``mask``, ``dropout_rng``, ``dtype``...)
        are passed to it.
      decode: keep and use an autoregressive cache.
      normalize_qk: apply ``LayerNorm`` (``query_ln``, ``key_ln``, no bias)
        to queries and keys (https://arxiv.org/abs/2302.05442).
      force_fp32_for_softmax: compute the softmax in float32 for low-precision
        inputs.
      qkv_dot_general: replaces ``lax.dot_general`` in ``query``/``key``/``value``.
      out_dot_general: replaces ``lax.dot_general`` in ``out``.
      qkv_dot_general_cls: a factory of the above, instantiated per call.
      out_dot_general_cls: a factory of the above, instantiated per call.
      qk_attn_weights_einsum_cls: a factory of the query-key einsum.
      attn_weights_value_einsum_cls: a factory of the weights-value einsum.
    """

    num_heads: int
    dtype: Dtype | None = None
    param_dtype: Dtype = jnp.float32
    qkv_features: int | None = None
    out_features: int | None = None
    broadcast_dropout: bool = True
    dropout_rate: float = 0.0
    deterministic: bool | None = None
    precision: PrecisionLike = None
    kernel_init: Initializer = default_kernel_init
    out_kernel_init: Initializer | None = None
    bias_init: Initializer = jax.nn.initializers.zeros
    out_bias_init: Initializer | None = None
    use_bias: bool = True
    attention_fn: Callable[..., Array] = dot_product_attention
    decode: bool = False
    normalize_qk: bool = False
    force_fp32_for_softmax: bool = False
    qkv_dot_general: DotGeneralT | None = None
    out_dot_general: DotGeneralT | None = None
    qkv_dot_general_cls: Any = None
    out_dot_general_cls: Any = None
    qk_attn_weights_einsum_cls: Callable[..., Callable[..., Array]] | None = None
    attn_weights_value_einsum_cls: Callable[..., Callable[..., Array]] | None = None

    @compact
    def __call__(
        self,
        inputs_q: Array,
        inputs_k: Array | None = None,
        inputs_v: Array | None = None,
        *,
        inputs_kv: Array | None = None,
        mask: Array | None = None,
        deterministic: bool | None = None,
        dropout_rng: PRNGKey | None = None,
        sow_weights: bool = False,
    ) -> Array:
        """Applies multi-head dot-product attention.

        Args:
          inputs_q: queries, ``[batch..., q_length, q_features]``.
          inputs_k: keys, ``[batch..., kv_length, k_features]`` (default: ``inputs_q``).
          inputs_v: values, ``[batch..., kv_length, v_features]`` (default: ``inputs_k``).
          inputs_kv: deprecated: keys and values at once (exclusive with the above).
          mask: where attention is allowed, ``[batch..., num_heads, q_length,
            kv_length]`` (broadcastable).
          deterministic: disable dropout (if not given as an attribute).
          dropout_rng: the key for dropout (default: from the ``dropout`` stream).
          sow_weights: sow the attention weights into ``intermediates``.

        Returns:
          The output, ``[batch..., q_length, out_features]``.
        """
        if inputs_kv is not None:
            if inputs_k is not None or inputs_v is not None:
                raise ValueError(
                    "If either `inputs_k` or `inputs_v` is not None, `inputs_kv` must be None."
                    " If `inputs_kv` is not None, both `inputs_k` and `inputs_v` must be"
                    " None. We recommend using `inputs_k` and `inputs_v` args, since"
                    f" `inputs_kv` will be deprecated soon. {_DISCUSSION} for more"
                    " information."
                )
            inputs_k = inputs_v = inputs_kv
            warnings.warn(
                "The inputs_kv arg will be deprecated soon. Use inputs_k and inputs_v"
                f" instead. {_DISCUSSION} for more information.",
                DeprecationWarning,
                stacklevel=2,
            )
        else:
            if inputs_k is None:
                if inputs_v is not None:
                    raise ValueError(
                        "`inputs_k` cannot be None if `inputs_v` is not None. To have both"
                        " `inputs_k` and `inputs_v` be the same value, pass in the value to"
                        " `inputs_k` and leave `inputs_v` as None."
                    )
                inputs_k = inputs_q
            if inputs_v is None:
                inputs_v = inputs_k
            elif inputs_v.shape[-1] == inputs_v.shape[-2]:
                warnings.warn(
                    f"You are passing an array of shape {inputs_v.shape} to the `inputs_v`"
                    " arg, when you may have intended to pass it to the `mask` arg. As of"
                    " Flax version 0.7.4, the function signature of"
                    " MultiHeadDotProductAttention's `__call__` method has changed to"
                    " `__call__(inputs_q, inputs_k=None, inputs_v=None, *, inputs_kv=None,"
                    " mask=None, deterministic=None)`. Use the kwarg `mask` instead."
                    f" {_DISCUSSION} and read the docstring for more information.",
                    DeprecationWarning,
                    stacklevel=2,
                )

        features = self.out_features or inputs_q.shape[-1]
        qkv_features = self.qkv_features or inputs_q.shape[-1]
        if qkv_features % self.num_heads != 0:
            raise AssertionError(
                f"Memory dimension ({qkv_features}) must be divisible by number of"
                f" heads ({self.num_heads})."
            )
        head_dim = qkv_features // self.num_heads

        dense = functools.partial(
            DenseGeneral,
            axis=-1,
            dtype=self.dtype,
            param_dtype=self.param_dtype,
            features=(self.num_heads, head_dim),
            kernel_init=self.kernel_init,
            bias_init=self.bias_init,
            use_bias=self.use_bias,
            precision=self.precision,
            dot_general=self.qkv_dot_general,
            dot_general_cls=self.qkv_dot_general_cls,
        )
        # [batch..., length, heads, head_dim]
        query = dense(name="query")(inputs_q)
        key = dense(name="key")(inputs_k)
        value = dense(name="value")(inputs_v)

        if self.normalize_qk:
            layer_norm = functools.partial(
                LayerNorm, use_bias=False, dtype=self.dtype, param_dtype=self.param_dtype
            )
            query = layer_norm(name="query_ln")(query)
            key = layer_norm(name="key_ln")(key)

        if self.decode:
            key, value, mask = self._decode_step(query, key, value, mask)

        if self.dropout_rate > 0.0:
            m_deterministic = merge_param("deterministic", self.deterministic, deterministic)
            if not m_deterministic and dropout_rng is None:
                dropout_rng = self.make_rng("dropout")
        else:
            m_deterministic = True

        x = self._attend(query, key, value, mask, dropout_rng, m_deterministic, sow_weights)
        return DenseGeneral(
            features=features,
            axis=(-2, -1),
            kernel_init=self.out_kernel_init or self.kernel_init,
            bias_init=self.out_bias_init or self.bias_init,
            use_bias=self.use_bias,
            dtype=self.dtype,
            param_dtype=self.param_dtype,
            precision=self.precision,
            dot_general=self.out_dot_general,
            dot_general_cls=self.out_dot_general_cls,
            name="out",
        )(x)

    def _decode_step(
        self, query: Array, key: Array, value: Array, mask: Array | None
    ) -> tuple[Array, Array, Array | None]:
        """Writes this step's key/value into the cache and masks the future positions."""
        is_initialized = self.has_variable("cache", "cached_key")
        cached_key = self.variable("cache", "cached_key", jnp.zeros, key.shape, key.dtype)
        cached_value = self.variable("cache", "cached_value", jnp.zeros, value.shape, value.dtype)
        cache_index = self.variable("cache", "cache_index", lambda: jnp.array(0, dtype=jnp.int32))
        if not is_initialized:
            # ``init`` only sizes the cache.
            return key, value, mask
        *batch_dims, max_length, num_heads, depth_per_head = cached_key.value.shape
        expected_shape = (*batch_dims, 1, num_heads, depth_per_head)
        if expected_shape != query.shape:
            raise ValueError(
                "Autoregressive cache shape error, expected query shape"
                f" {expected_shape} instead got {query.shape}."
            )
        cur_index = cache_index.value
        zero = jnp.array(0, dtype=lax.dtype(cur_index.dtype))
        indices = (zero,) * len(batch_dims) + (cur_index, zero, zero)
        key = lax.dynamic_update_slice(cached_key.value, key, indices)
        value = lax.dynamic_update_slice(cached_value.value, value, indices)
        cached_key.value = key
        cached_value.value = value
        cache_index.value = cache_index.value + 1
        # The query at ``cur_index`` may attend to positions 0..cur_index.
        visible = jnp.broadcast_to(
            jnp.arange(max_length) <= cur_index, (*batch_dims, 1, 1, max_length)
        )
        return key, value, combine_masks(mask, visible)

    def _attend(
        self,
        query: Array,
        key: Array,
        value: Array,
        mask: Array | None,
        dropout_rng: PRNGKey | None,
        deterministic: bool,
        sow_weights: bool,
    ) -> Array:
        attention_fn = self.attention_fn
        qk_einsum_cls = self.qk_attn_weights_einsum_cls
        wv_einsum_cls = self.attn_weights_value_einsum_cls
        offered = {
            "mask": mask,
            "dropout_rng": dropout_rng,
            "dropout_rate": self.dropout_rate,
            "broadcast_dropout": self.broadcast_dropout,
            "deterministic": deterministic,
            "dtype": self.dtype,
            "precision": self.precision,
            "force_fp32_for_softmax": self.force_fp32_for_softmax,
            "qk_attn_weights_einsum": qk_einsum_cls() if qk_einsum_cls else None,
            "attn_weights_value_einsum": wv_einsum_cls() if wv_einsum_cls else None,
        }
        accepted = _accepted_args(attention_fn)
        kwargs = {name: val for name, val in offered.items() if name in accepted}
        if sow_weights:
            kwargs["module"] = self
        return attention_fn(query, key, value, **kwargs)


class MultiHeadAttention(MultiHeadDotProductAttention):
    """Multi-head dot-product attention: an alias of :class:`MultiHeadDotProductAttention`.

    The implementation is the same; only the default name of the layer
    differs (``MultiHeadAttention_0`` instead of
    ``MultiHeadDotProductAttention_0``).

    >>> import jax, jax.numpy as jnp
    >>> from flaxen import linen as nn
    >>> layer = nn.MultiHeadAttention(num_heads=2)
    >>> x = jnp.ones((1, 3, 4))
    >>> layer.apply(layer.init(jax.random.key(0), x), x).shape
    (1, 3, 4)
    """


class SelfAttention(MultiHeadDotProductAttention):
    """Self-attention: :class:`MultiHeadDotProductAttention` with ``inputs_q`` only.

    Deprecated in Flax (it warns); call ``MultiHeadDotProductAttention`` with
    one input instead.
    """

    @compact
    def __call__(  # type: ignore[override]
        self,
        inputs_q: Array,
        mask: Array | None = None,
        deterministic: bool | None = None,
        dropout_rng: PRNGKey | None = None,
        sow_weights: bool = False,
    ) -> Array:
        """Applies multi-head self-attention to ``inputs_q``.

        Args:
          inputs_q: the inputs, ``[batch..., length, features]``.
          mask: where attention is allowed, ``[batch..., num_heads, length, length]``.
          deterministic: disable dropout (if not given as an attribute).
          dropout_rng: the key for dropout.
          sow_weights: sow the attention weights into ``intermediates``.

        Returns:
          The output, ``[batch..., length, out_features]``.
        """
        warnings.warn(
            "SelfAttention will be deprecated soon. Use"
            " `MultiHeadDotProductAttention.__call__(inputs_q)` instead."
            f" {_DISCUSSION} for more information.",
            DeprecationWarning,
            stacklevel=2,
        )
        return super().__call__(
            inputs_q,
            mask=mask,
            deterministic=deterministic,
            dropout_rng=dropout_rng,
            sow_weights=sow_weights,
        )
