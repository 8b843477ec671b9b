"""Attention of flaxen.linen against flax.linen, run as a black-box oracle.

Functions: same outputs bit for bit (and the same jaxpr, so the same XLA
program) for the same inputs and keys; errors of the same class and
message. Modules: same variable trees, initial values, outputs, caches and
sown weights. Skipped when flax is not installed (``nox -s compat``).
"""

import dataclasses
import functools
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytestmark = pytest.mark.compat
flax = pytest.importorskip("flax")

import flax.linen as flax_nn  # noqa: E402

from flaxen import linen as flaxen_nn  # noqa: E402

KEY = jax.random.key(0)


def normal(shape, seed, dtype=jnp.float32):
    return jax.random.normal(jax.random.key(seed), shape).astype(dtype)


def assert_same(expected, actual):
    exp_leaves, _ = jax.tree_util.tree_flatten_with_path(expected)
    act_leaves, _ = jax.tree_util.tree_flatten_with_path(actual)
    assert [jax.tree_util.keystr(p) for p, _ in act_leaves] == [
        jax.tree_util.keystr(p) for p, _ in exp_leaves
    ]
    for (path, exp), (_, act) in zip(exp_leaves, act_leaves, strict=True):
        e, a = np.asarray(exp), np.asarray(act)
        assert (a.dtype, a.shape) == (e.dtype, e.shape), jax.tree_util.keystr(path)
        np.testing.assert_array_equal(a, e, err_msg=jax.tree_util.keystr(path))


def _program(fn, *args):
    # The jaxpr without variable names' numbering details that do not matter.
    text = str(jax.make_jaxpr(fn)(*args))
    return re.sub(r"0x[0-9a-f]+", "", text)


Q = normal((2, 3, 2, 4), 1)
K = normal((2, 5, 2, 4), 2)
V = normal((2, 5, 2, 6), 3)
BIAS = normal((2, 2, 3, 5), 4)
MASK = jax.random.bernoulli(jax.random.key(5), 0.7, (2, 1, 3, 5))
DROP = {"dropout_rng": jax.random.key(6), "dropout_rate": 0.3}
BF = functools.partial(jnp.asarray, dtype=jnp.bfloat16)

FUNCTION_CASES = {
    "plain": ((Q, K, V), {}),
    "bias_mask": ((Q, K, V), {"bias": BIAS, "mask": MASK}),
    "dropout": ((Q, K, V), DROP),
    "dropout_unbroadcast": ((Q, K, V), dict(DROP, broadcast_dropout=False)),
    "dropout_deterministic": ((Q, K, V), dict(DROP, deterministic=True)),
    "dtype": ((Q, K, V), {"dtype": jnp.bfloat16, "mask": MASK}),
    "bf16": ((BF(Q), BF(K), BF(V)), {"mask": MASK}),
    "fp32_softmax": ((BF(Q), BF(K), BF(V)), {"force_fp32_for_softmax": True}),
    "fp32_softmax_dropout": ((BF(Q), BF(K), BF(V)), dict(DROP, force_fp32_for_softmax=True)),
    "mixed_dtypes": ((Q, BF(K), V), {}),
    "precision": ((Q, K, V), {"precision": "highest"}),
    "no_batch": ((Q[0], K[0], V[0]), {"mask": MASK[0]}),
    "two_batch_axes": ((Q[None], K[None], V[None]), {"bias": BIAS[None]}),
    "unit_dims": (
        (normal((1, 1, 1, 1), 7), normal((1, 1, 1, 1), 8), normal((1, 1, 1, 1), 9)), {},
    ),
    "int_inputs": ((jnp.ones((2, 3, 2, 4), jnp.int32),) * 3, {}),
    "custom_dot_general": ((Q, K, V), {"einsum_dot_general": jax.lax.dot_general}),
    "custom_einsums": (
        (Q, K, V),
        {"qk_attn_weights_einsum": jnp.einsum, "attn_weights_value_einsum": jnp.einsum},
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(FUNCTION_CASES))
def test_dot_product_attention(name):
    args, kwargs = FUNCTION_CASES[name]
    expected = flax_nn.dot_product_attention(*args, **kwargs)
    actual = flaxen_nn.dot_product_attention(*args, **kwargs)
    assert_same(expected, actual)
    assert _program(functools.partial(flaxen_nn.dot_product_attention, **kwargs), *args) == (
        _program(functools.partial(flax_nn.dot_product_attention, **kwargs), *args)
    )


@pytest.mark.parametrize("name", sorted(FUNCTION_CASES))
def test_dot_product_attention_weights(name):
    (q, k, _), kwargs = FUNCTION_CASES[name]
    kwargs = {a: b for a, b in kwargs.items() if a not in ("attn_weights_value_einsum",)}
    if "qk_attn_weights_einsum" in kwargs:
        kwargs["einsum"] = kwargs.pop("qk_attn_weights_einsum")
    expected = flax_nn.dot_product_attention_weights(q, k, **kwargs)
    actual = flaxen_nn.dot_product_attention_weights(q, k, **kwargs)
    assert_same(expected, actual)


def _error(fn):
    try:
        fn()
    except Exception as e:  # the oracle's class is what we compare
        return type(e).__name__, str(e)
    raise AssertionError("no error")


ERROR_CASES = {
    "qk_rank": lambda nn: nn.dot_product_attention_weights(Q, K[0]),
    "qk_batch": lambda nn: nn.dot_product_attention_weights(Q, K[:1]),
    "qk_heads": lambda nn: nn.dot_product_attention_weights(Q, K[:, :, :1]),
    "qk_depth": lambda nn: nn.dot_product_attention_weights(Q, K[..., :3]),
    "qkv_rank": lambda nn: nn.dot_product_attention(Q, K, V[0]),
    "qkv_batch": lambda nn: nn.dot_product_attention(Q, K, V[:1]),
    "qkv_heads": lambda nn: nn.dot_product_attention(Q, K, V[:, :, :1]),
    "kv_length": lambda nn: nn.dot_product_attention(Q, K, V[:, :4]),
    "einsums_together": lambda nn: nn.dot_product_attention(
        Q, K, V, qk_attn_weights_einsum=jnp.einsum
    ),
    "einsum_exclusive": lambda nn: nn.dot_product_attention_weights(
        Q, K, precision="high", einsum=jnp.einsum
    ),
    "mask_ranks": lambda nn: nn.combine_masks(MASK, MASK[0]),
}


@pytest.mark.parametrize("name", sorted(ERROR_CASES))
def test_errors(name):
    assert _error(lambda: ERROR_CASES[name](flaxen_nn)) == _error(
        lambda: ERROR_CASES[name](flax_nn)
    )


TOKENS = jnp.array([[3, 1, 0, 0], [2, 2, 2, 0]])
MASK_CASES = {
    "attention_mask": lambda nn: nn.make_attention_mask(TOKENS > 0, TOKENS[:, :3] > 0),
    "attention_mask_options": lambda nn: nn.make_attention_mask(
        TOKENS, TOKENS, pairwise_fn=jnp.greater_equal, extra_batch_dims=2, dtype=jnp.bool_
    ),
    "causal": lambda nn: nn.make_causal_mask(TOKENS),
    "causal_options": lambda nn: nn.make_causal_mask(TOKENS[0], 1, jnp.int32),
    "combine": lambda nn: nn.combine_masks(
        nn.make_causal_mask(TOKENS), None, nn.make_attention_mask(TOKENS > 0, TOKENS > 0)
    ),
    "combine_one_bool": lambda nn: nn.combine_masks(MASK, dtype=jnp.bool_),
    "combine_mixed": lambda nn: nn.combine_masks(MASK, BIAS[:1, :1]),
    "combine_none": lambda nn: nn.combine_masks(None, None),
}


@pytest.mark.parametrize("name", sorted(MASK_CASES))
def test_masks(name):
    expected = MASK_CASES[name](flax_nn)
    actual = MASK_CASES[name](flaxen_nn)
    if expected is None:
        assert actual is None
    else:
        assert_same(expected, actual)


def test_sown_weights_are_taken_before_dropout():
    def run(nn):
        class Attend(nn.Module):
            @nn.compact
            def __call__(self, q, k, v):
                return nn.dot_product_attention(q, k, v, module=self, **DROP)

        return Attend().apply({}, Q, K, V, mutable=["intermediates"])

    assert_same(run(flax_nn), run(flaxen_nn))


def test_function_signatures():
    import inspect

    for name in (
        "dot_product_attention", "dot_product_attention_weights", "make_attention_mask",
        "make_causal_mask", "combine_masks",
    ):  # fmt: skip
        flax_sig = inspect.signature(getattr(flax_nn, name))
        flaxen_sig = inspect.signature(getattr(flaxen_nn, name))
        assert list(flaxen_sig.parameters) == list(flax_sig.parameters), name
        for p_flax, p_ours in zip(
            flax_sig.parameters.values(), flaxen_sig.parameters.values(), strict=True
        ):
            assert p_ours.kind == p_flax.kind, (name, p_flax.name)
            if p_flax.default is not inspect.Parameter.empty and not callable(p_flax.default):
                assert p_ours.default == p_flax.default, (name, p_flax.name)


def test_module_fields_match():
    for name in ("MultiHeadDotProductAttention", "MultiHeadAttention", "SelfAttention"):
        flax_fields = [
            (f.name, f.kw_only)
            for f in dataclasses.fields(getattr(flax_nn, name))
            if f.name not in ("parent", "name")
        ]
        flaxen_fields = [
            (f.name, f.kw_only)
            for f in dataclasses.fields(getattr(flaxen_nn, name))
            if f.name not in ("parent", "name")
        ]
        assert flaxen_fields == flax_fields, name


# -- Modules ------------------------------------------------------------------------------


def check_module(build, *args, init_rngs=None, rngs=None, mutable=False, **kwargs):
    """Same variables from ``init``; same outputs (and collections) from ``apply``."""
    init_rngs = init_rngs if init_rngs is not None else KEY
    flax_model, flaxen_model = build(flax_nn), build(flaxen_nn)
    expected_vars = flax_model.init(init_rngs, *args, **kwargs)
    actual_vars = flaxen_model.init(init_rngs, *args, **kwargs)
    assert_same(dict(expected_vars), dict(actual_vars))
    expected = flax_model.apply(expected_vars, *args, rngs=rngs, mutable=mutable, **kwargs)
    actual = flaxen_model.apply(expected_vars, *args, rngs=rngs, mutable=mutable, **kwargs)
    assert_same(expected, actual)
    return expected_vars


XQ = normal((2, 3, 8), 11)
XK = normal((2, 5, 6), 12)
XV = normal((2, 5, 4), 13)
ATTN_MASK = jax.random.bernoulli(jax.random.key(14), 0.8, (2, 1, 3, 5))


def _restricted_attention(nn):
    def attend(query, key, value, mask=None, dtype=None):
        return nn.dot_product_attention(query, key, value, mask=mask, dtype=dtype)

    return attend


class _Einsum:
    def __call__(self, subscripts, *operands):
        return jnp.einsum(subscripts, *operands)


class _DotGeneral:
    def __call__(self, *args, **kwargs):
        return jax.lax.dot_general(*args, **kwargs)


MHA = "MultiHeadDotProductAttention"
MODULE_CASES = {
    "self": (lambda nn: nn.MultiHeadDotProductAttention(num_heads=2), (XQ,), {}),
    "cross": (lambda nn: nn.MultiHeadDotProductAttention(num_heads=2), (XQ, XK, XV), {}),
    "cross_kv_default": (lambda nn: nn.MultiHeadDotProductAttention(num_heads=4), (XQ, XK), {}),
    "features": (
        lambda nn: nn.MultiHeadDotProductAttention(
            num_heads=3, qkv_features=6, out_features=5, use_bias=False
        ),
        (XQ, XK),
        {"mask": ATTN_MASK},
    ),
    "normalize_qk": (
        lambda nn: nn.MultiHeadDotProductAttention(num_heads=2, normalize_qk=True), (XQ,), {},
    ),
    "dtypes": (
        lambda nn: nn.MultiHeadDotProductAttention(
            num_heads=2, dtype=jnp.bfloat16, param_dtype=jnp.bfloat16, normalize_qk=True
        ),
        (XQ,),
        {},
    ),
    "fp32_softmax": (
        lambda nn: nn.MultiHeadDotProductAttention(
            num_heads=2, dtype=jnp.bfloat16, force_fp32_for_softmax=True
        ),
        (XQ,),
        {},
    ),
    "inits_precision": (
        lambda nn: nn.MultiHeadDotProductAttention(
            num_heads=2, kernel_init=nn.initializers.normal(0.3),
            out_kernel_init=nn.initializers.orthogonal(), bias_init=nn.initializers.normal(),
            out_bias_init=nn.initializers.ones, precision="highest",
        ),
        (XQ, XK),
        {},
    ),
    "custom_attention_fn": (
        lambda nn: nn.MultiHeadDotProductAttention(
            num_heads=2, attention_fn=_restricted_attention(nn)
        ),
        (XQ, XK),
        {"mask": ATTN_MASK},
    ),
    "einsum_and_dot_general_cls": (
        lambda nn: nn.MultiHeadDotProductAttention(
            num_heads=2, qk_attn_weights_einsum_cls=_Einsum,
            attn_weights_value_einsum_cls=_Einsum, qkv_dot_general_cls=_DotGeneral,
            out_dot_general=jax.lax.dot_general,
        ),
        (XQ,),
        {},
    ),
    "multi_head_attention_alias": (lambda nn: nn.MultiHeadAttention(num_heads=2), (XQ,), {}),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(MODULE_CASES))
def test_multi_head_attention(name):
    build, args, kwargs = MODULE_CASES[name]
    check_module(build, *args, **kwargs)


DROPOUT_RNGS = {"params": KEY, "dropout": jax.random.key(15)}


@pytest.mark.parametrize("broadcast", [True, False])
def test_attention_dropout(broadcast):
    def build(nn):
        return nn.MultiHeadDotProductAttention(
            num_heads=2, dropout_rate=0.4, broadcast_dropout=broadcast
        )

    check_module(build, XQ, XK, init_rngs=DROPOUT_RNGS, rngs=DROPOUT_RNGS, deterministic=False)
    check_module(build, XQ, deterministic=False, dropout_rng=jax.random.key(16))
    check_module(build, XQ, deterministic=True)


def test_sown_attention_weights():
    def build(nn):
        return nn.MultiHeadDotProductAttention(num_heads=2, dropout_rate=0.2, deterministic=False)

    check_module(
        build, XQ, init_rngs=DROPOUT_RNGS, rngs=DROPOUT_RNGS, mutable=["intermediates"],
        sow_weights=True,
    )  # fmt: skip


def test_deprecated_call_forms():
    def build(nn):
        return nn.MultiHeadDotProductAttention(num_heads=2)

    with pytest.warns(DeprecationWarning, match="inputs_kv arg will be deprecated"):
        check_module(build, XQ, inputs_kv=XK)
    square = normal((2, 5, 5), 17)
    with pytest.warns(DeprecationWarning, match="intended to pass it to the `mask` arg"):
        check_module(build, XQ, XK, square)

    def build_self(nn):
        return nn.SelfAttention(num_heads=2, dropout_rate=0.1)

    with pytest.warns(DeprecationWarning, match="SelfAttention will be deprecated soon"):
        check_module(
            build_self, XQ, ATTN_MASK[:, :, :, :3], False, init_rngs=DROPOUT_RNGS,
            rngs=DROPOUT_RNGS,
        )  # fmt: skip


def test_names_in_a_parent():
    def build(nn):
        class Model(nn.Module):
            @nn.compact
            def __call__(self, x):
                x = nn.MultiHeadDotProductAttention(num_heads=2)(x)
                x = nn.MultiHeadAttention(num_heads=2)(x)
                return nn.MultiHeadDotProductAttention(num_heads=1, name="last")(x)

        return Model()

    check_module(build, XQ)


def _decode(nn, steps=3, **kwargs):
    model = nn.MultiHeadDotProductAttention(num_heads=2, decode=True, **kwargs)
    x = normal((2, 4, 8), 18)
    variables = model.init(KEY, x)
    cache = variables["cache"]
    outputs = []
    for i in range(steps):
        y, updates = model.apply(
            {"params": variables["params"], "cache": cache}, x[:, i : i + 1], mutable=["cache"]
        )
        cache = updates["cache"]
        outputs.append(y)
    return variables, outputs, cache


@pytest.mark.parametrize("kwargs", [{}, {"dtype": jnp.bfloat16, "normalize_qk": True}])
def test_decode_cache(kwargs):
    assert_same(_decode(flax_nn, **kwargs), _decode(flaxen_nn, **kwargs))


MODULE_ERRORS = {
    "heads_divide": lambda nn: nn.MultiHeadDotProductAttention(num_heads=3).init(KEY, XQ),
    "kv_and_k": lambda nn: nn.MultiHeadDotProductAttention(num_heads=2).init(
        KEY, XQ, XK, inputs_kv=XK
    ),
    "v_without_k": lambda nn: nn.MultiHeadDotProductAttention(num_heads=2).init(
        KEY, XQ, None, XV
    ),
    "deterministic_missing": lambda nn: nn.MultiHeadDotProductAttention(
        num_heads=2, dropout_rate=0.5
    ).init(KEY, XQ),
    "cache_shape": lambda nn: nn.MultiHeadDotProductAttention(num_heads=2, decode=True).apply(
        nn.MultiHeadDotProductAttention(num_heads=2, decode=True).init(KEY, XQ), XQ,
        mutable=["cache"],
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(MODULE_ERRORS))
def test_module_errors(name):
    flaxen_error = _error(lambda: MODULE_ERRORS[name](flaxen_nn))
    flax_error = _error(lambda: MODULE_ERRORS[name](flax_nn))
    assert flaxen_error[0] == flax_error[0]
    if name != "deterministic_missing":  # merge_param's wording is flaxen.linen's
        assert flaxen_error[1] == flax_error[1]


@pytest.mark.parametrize(
    "name",
    [
        "MultiHeadDotProductAttention", "MultiHeadAttention", "SelfAttention", "Dropout",
        "BatchNorm", "LayerNorm", "RMSNorm", "GroupNorm", "InstanceNorm", "SpectralNorm",
        "WeightNorm",
    ],
)  # fmt: skip
def test_call_signatures_match(name):
    import inspect

    flax_sig = inspect.signature(getattr(flax_nn, name).__call__)
    flaxen_sig = inspect.signature(getattr(flaxen_nn, name).__call__)
    flax_params = [(p.name, p.kind, p.default) for p in flax_sig.parameters.values()]
    flaxen_params = [(p.name, p.kind, p.default) for p in flaxen_sig.parameters.values()]
    assert flaxen_params == flax_params
