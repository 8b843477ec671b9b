"""Conformance cases of the activation functions and PReLU."""

from __future__ import annotations

from ._case import LayerCase, function_case, integers, normal

_X = normal(2, 6, scale=2.0)

_ELEMENTWISE = (
    "celu", "elu", "gelu", "hard_sigmoid", "hard_silu", "hard_swish", "hard_tanh", "leaky_relu",
    "log_sigmoid", "log_softmax", "relu", "relu6", "selu", "sigmoid", "silu", "soft_sign",
    "softmax", "softplus", "swish", "tanh", "standardize", "normalize",
)  # fmt: skip

CASES = (
    LayerCase("PReLU/default", lambda nn: nn.PReLU(), _X),
    LayerCase("PReLU/slope", lambda nn: nn.PReLU(negative_slope_init=0.3), normal(2, 3, 4)),
    *(function_case(f"{name}/default", name, _X) for name in _ELEMENTWISE),
    function_case("gelu/exact", "gelu", _X, fn_approximate=False),
    function_case("leaky_relu/slope", "leaky_relu", _X, fn_negative_slope=0.2),
    function_case("glu/default", "glu", _X),
    function_case("logsumexp/axis", "logsumexp", _X, fn_axis=-1),
    function_case("softmax/axis1", "softmax", normal(2, 3, 4), fn_axis=1),
    function_case("one_hot/default", "one_hot", integers(2, 3, high=4), fn_num_classes=4),
)
