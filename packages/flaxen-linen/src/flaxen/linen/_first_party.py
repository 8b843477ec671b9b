"""Which first-party distribution provides which ``flaxen.linen`` name.

Only used to turn "no such attribute" into "install <distribution>" when a
name's package is missing. A test checks these tables against what the
installed plugins actually register, so they cannot drift.
"""

from __future__ import annotations

LAYERS = frozenset(
    """
    BatchNorm Bidirectional Conv ConvLSTMCell ConvLocal ConvTranspose Dense DenseGeneral
    Dropout Einsum Embed GRUCell GroupNorm InstanceNorm LSTMCell LayerNorm MGUCell
    MultiHeadAttention MultiHeadDotProductAttention OptimizedLSTMCell PReLU RMSNorm RNN
    RNNCellBase SelfAttention SimpleCell SpectralNorm WeightNorm
    activation attention avg_pool celu combine_masks dot_product_attention
    dot_product_attention_weights dtypes elu gelu glu hard_sigmoid hard_silu hard_swish
    hard_tanh initializers leaky_relu linear log_sigmoid log_softmax logsumexp
    make_attention_mask make_causal_mask max_pool min_pool normalization normalize one_hot
    ones ones_init pool pooling recurrent relu relu6 selu sigmoid silu soft_sign softmax
    softplus standardize stochastic swish tanh zeros zeros_init
    """.split()
)

SPMD = frozenset(
    """
    LogicallyPartitioned get_logical_axis_rules logical_axis_rules logical_to_mesh
    logical_to_mesh_axes logical_to_mesh_sharding set_logical_axis_rules spmd
    with_logical_constraint with_logical_partitioning
    """.split()
)

TABULATE = frozenset({"tabulate", "summary"})

PROVIDER = {
    **dict.fromkeys(LAYERS, "flaxen-layers"),
    **dict.fromkeys(SPMD, "flaxen-spmd"),
    **dict.fromkeys(TABULATE, "flaxen-tabulate"),
}
