"""The flaxen-layers plugin: every stock layer, exported into ``flaxen.linen``.

Registered through the same ``flaxen_linen_exports`` hook a third-party layer
package uses. Every name is a lazy reference, so looking up ``nn.Dense``
imports ``flaxen.layers.linear`` and nothing else.
"""

from __future__ import annotations

from flaxen.plugins import hookimpl, lazy

#: Public submodule -> the names it exports into ``flaxen.linen``.
EXPORTS: dict[str, tuple[str, ...]] = {
    "linear": ("Conv", "ConvLocal", "ConvTranspose", "Dense", "DenseGeneral", "Einsum", "Embed"),
    "normalization": (
        "BatchNorm", "GroupNorm", "InstanceNorm", "LayerNorm", "RMSNorm", "SpectralNorm",
        "WeightNorm",
    ),
    "pooling": ("avg_pool", "max_pool", "min_pool", "pool"),
    "activation": (
        "PReLU", "celu", "elu", "gelu", "glu", "hard_sigmoid", "hard_silu", "hard_swish",
        "hard_tanh", "leaky_relu", "log_sigmoid", "log_softmax", "logsumexp", "normalize",
        "one_hot", "relu", "relu6", "selu", "sigmoid", "silu", "soft_sign", "softmax",
        "softplus", "standardize", "swish", "tanh",
    ),
    "initializers": ("ones", "ones_init", "zeros", "zeros_init"),
    "attention": (
        "MultiHeadAttention", "MultiHeadDotProductAttention", "SelfAttention", "combine_masks",
        "dot_product_attention", "dot_product_attention_weights", "make_attention_mask",
        "make_causal_mask",
    ),
    "recurrent": (
        "Bidirectional", "ConvLSTMCell", "GRUCell", "LSTMCell", "MGUCell", "OptimizedLSTMCell",
        "RNN", "RNNCellBase", "SimpleCell",
    ),
    "stochastic": ("Dropout",),
}  # fmt: skip

#: Submodules that are themselves importable as ``flaxen.linen.<name>``.
MODULES = (*EXPORTS, "dtypes")


@hookimpl
def flaxen_linen_exports(register):
    for module in MODULES:
        register(module, lazy(f"flaxen.layers.{module}"))
    for module, names in EXPORTS.items():
        for name in names:
            register(name, lazy(f"flaxen.layers.{module}:{name}"))
