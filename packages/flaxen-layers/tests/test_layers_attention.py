"""Attention: numerics against numpy, masks, dropout, Modules, the decode cache, errors."""

import doctest
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flaxen import linen as nn


def key(seed):
    # "rbg" keys: XLA compiles their random bits several times faster than
    # threefry's, and these tests do not depend on the key implementation.
    return jax.random.key(seed, impl="rbg")


KEY = key(0)


def normal(shape, seed=1, dtype=jnp.float32):
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape), dtype)


def np_attention(q, k, v, bias=None, mask=None):
    q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
    logits = np.einsum("...qhd,...khd->...hqk", q / np.sqrt(q.shape[-1]), k)
    if bias is not None:
        logits = logits + np.asarray(bias)
    if mask is not None:
        logits = np.where(np.asarray(mask), logits, np.finfo(np.float32).min)
    weights = np.exp(logits - logits.max(-1, keepdims=True))
    weights = weights / weights.sum(-1, keepdims=True)
    return weights, np.einsum("...hqk,...khd->...qhd", weights, v)


Q = normal((2, 3, 2, 4), 1)
K = normal((2, 5, 2, 4), 2)
V = normal((2, 5, 2, 6), 3)


def jitted(fn, *args, **kwargs):
    return jax.jit(functools.partial(fn, **kwargs))(*args)


# -- functions ----------------------------------------------------------------------------


def test_dot_product_attention_matches_numpy():
    bias = normal((2, 2, 3, 5), 4)
    mask = np.random.default_rng(5).random((2, 1, 3, 5)) < 0.7
    mask[..., 0] = True  # every query sees at least one key
    weights, out = np_attention(Q, K, V, bias, mask)
    np.testing.assert_allclose(
        jitted(nn.dot_product_attention_weights, Q, K, bias=bias, mask=mask),
        weights, rtol=1e-5, atol=1e-6,
    )  # fmt: skip
    np.testing.assert_allclose(
        jitted(nn.dot_product_attention, Q, K, V, bias=bias, mask=mask), out,
        rtol=1e-5, atol=1e-5,
    )  # fmt: skip


def test_attention_without_or_with_several_batch_axes():
    _, out = np_attention(Q[0], K[0], V[0])
    np.testing.assert_allclose(jitted(nn.dot_product_attention, Q[0], K[0], V[0]), out, atol=1e-5)
    _, out = np_attention(Q[None], K[None], V[None])
    got = jitted(nn.dot_product_attention, Q[None], K[None], V[None])
    assert got.shape == (1, 2, 3, 2, 6)
    np.testing.assert_allclose(got, out, atol=1e-5)


def test_fully_masked_rows_are_uniform():
    weights = jitted(nn.dot_product_attention_weights, Q, K, mask=jnp.zeros((1, 1, 1, 5), bool))
    np.testing.assert_allclose(weights, np.full((2, 2, 3, 5), 0.2), rtol=1e-6)


def test_dtypes():
    bf = functools.partial(jnp.asarray, dtype=jnp.bfloat16)
    assert jitted(nn.dot_product_attention, bf(Q), bf(K), bf(V)).dtype == jnp.bfloat16
    assert jitted(nn.dot_product_attention, Q, K, V, dtype=jnp.bfloat16).dtype == jnp.bfloat16
    assert jitted(nn.dot_product_attention, Q, bf(K), V).dtype == jnp.float32
    ints = jnp.ones((2, 3, 2, 4), jnp.int32)
    assert jitted(nn.dot_product_attention, ints, ints, ints).dtype == jnp.float32
    # float32 softmax for low-precision inputs: the weights (and output) are float32.
    w = jitted(nn.dot_product_attention_weights, bf(Q), bf(K), force_fp32_for_softmax=True)
    assert w.dtype == jnp.float32
    np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-6)


def test_attention_dropout():
    rng = key(7)
    plain = jitted(nn.dot_product_attention_weights, Q, K)
    dropped = jitted(nn.dot_product_attention_weights, Q, K, dropout_rng=rng, dropout_rate=0.5)
    keep = np.asarray(dropped) != 0
    np.testing.assert_allclose(np.asarray(dropped)[keep], np.asarray(plain)[keep] * 2, rtol=1e-5)
    # Broadcast over batch and heads by default: one mask per (query, key).
    assert (keep == keep[:1, :1]).all()
    assert not keep.all()
    expected_keep = jax.random.bernoulli(rng, 0.5, (1, 1, 3, 5))
    np.testing.assert_array_equal(keep[0, 0], np.asarray(expected_keep)[0, 0])
    unbroadcast = jitted(
        nn.dot_product_attention_weights, Q, K, dropout_rng=rng, dropout_rate=0.5,
        broadcast_dropout=False,
    )  # fmt: skip
    mask = np.asarray(unbroadcast) != 0
    assert not (mask == mask[:1, :1]).all()
    deterministic = jitted(
        nn.dot_product_attention_weights, Q, K, dropout_rng=rng, dropout_rate=0.5,
        deterministic=True,
    )  # fmt: skip
    np.testing.assert_array_equal(deterministic, plain)


def test_weights_are_sown_before_dropout():
    class Attend(nn.Module):
        @nn.compact
        def __call__(self, q, k, v):
            return nn.dot_product_attention(
                q, k, v, module=self, dropout_rng=key(1), dropout_rate=0.5
            )

    _, state = jax.jit(functools.partial(Attend().apply, mutable=["intermediates"]))({}, Q, K, V)
    (sown,) = state["intermediates"]["attention_weights"]
    np.testing.assert_allclose(sown, jitted(nn.dot_product_attention_weights, Q, K), atol=1e-6)


def test_custom_einsums_are_used():
    calls = []

    def einsum(subscripts, *operands):
        calls.append(subscripts)
        return jnp.einsum(subscripts, *operands)

    out = nn.dot_product_attention(
        Q, K, V, qk_attn_weights_einsum=einsum, attn_weights_value_einsum=einsum
    )
    assert calls == ["...qhd,...khd->...hqk", "...hqk,...khd->...qhd"]
    np.testing.assert_allclose(out, np_attention(Q, K, V)[1], atol=1e-5)

    dot_calls = []

    def dot_general(*args, **kwargs):
        dot_calls.append(args[2])
        return jax.lax.dot_general(*args, **kwargs)

    nn.dot_product_attention(Q, K, V, einsum_dot_general=dot_general)
    assert len(dot_calls) == 2


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: nn.dot_product_attention_weights(Q, K[0]), AssertionError,
         "q, k must have same rank."),
        (lambda: nn.dot_product_attention_weights(Q, K[:1]), AssertionError,
         "q, k batch dims must match."),
        (lambda: nn.dot_product_attention_weights(Q, K[:, :, :1]), AssertionError,
         "q, k num_heads must match."),
        (lambda: nn.dot_product_attention_weights(Q, K[..., :3]), AssertionError,
         "q, k depths must match."),
        (lambda: nn.dot_product_attention(Q, K, V[:, :4]), AssertionError,
         "k, v lengths must match."),
        (lambda: nn.dot_product_attention(Q, K, V, qk_attn_weights_einsum=jnp.einsum),
         ValueError, "must be specified together"),
        (lambda: nn.dot_product_attention_weights(Q, K, precision="high", einsum=jnp.einsum),
         ValueError, "mutually exclusive"),
    ],
)  # fmt: skip
def test_function_errors(call, error, message):
    with pytest.raises(error) as info:
        call()
    assert message in str(info.value)


# -- masks --------------------------------------------------------------------------------


def test_make_attention_mask():
    q = jnp.array([[1, 1, 0]])
    k = jnp.array([[1, 0, 1, 1]])
    mask = nn.make_attention_mask(q, k)
    assert mask.shape == (1, 1, 3, 4) and mask.dtype == jnp.float32
    np.testing.assert_array_equal(mask[0, 0], np.outer([1, 1, 0], [1, 0, 1, 1]))
    mask = nn.make_attention_mask(q, k, jnp.greater, extra_batch_dims=2, dtype=jnp.bool_)
    assert mask.shape == (1, 1, 1, 1, 3, 4) and mask.dtype == jnp.bool_
    np.testing.assert_array_equal(
        mask[0, 0, 0, 0], np.greater.outer(np.array([1, 1, 0]), np.array([1, 0, 1, 1]))
    )


def test_make_causal_mask():
    mask = nn.make_causal_mask(jnp.ones((2, 4)))
    assert mask.shape == (2, 1, 4, 4)
    np.testing.assert_array_equal(mask[1, 0], np.tril(np.ones((4, 4))))
    assert nn.make_causal_mask(jnp.ones(3), 1, jnp.int32).shape == (1, 1, 3, 3)


def test_combine_masks():
    a = jnp.array([[[[1, 1, 0]]]], jnp.float32)
    b = jnp.array([[[[True, False, True]]]])
    np.testing.assert_array_equal(nn.combine_masks(a, None, b), [[[[1.0, 0.0, 0.0]]]])
    assert nn.combine_masks(b, dtype=jnp.bool_).dtype == jnp.bool_
    assert nn.combine_masks() is None and nn.combine_masks(None) is None
    with pytest.raises(AssertionError, match=r"masks must have same rank: \(4, 3\)"):
        nn.combine_masks(a, a[0])


# -- Modules ------------------------------------------------------------------------------

X = normal((2, 3, 8), 10)


def init(model, *args, rngs=KEY, **kwargs):
    return jax.jit(functools.partial(model.init, **kwargs))(rngs, *args)


def apply(model, variables, *args, **kwargs):
    return jax.jit(functools.partial(model.apply, **kwargs))(variables, *args)


def shapes(tree):
    return jax.tree_util.tree_map(jnp.shape, tree)


def test_multi_head_attention_variables():
    variables = init(nn.MultiHeadDotProductAttention(num_heads=2), X)
    assert shapes(variables) == {
        "params": {
            "query": {"kernel": (8, 2, 4), "bias": (2, 4)},
            "key": {"kernel": (8, 2, 4), "bias": (2, 4)},
            "value": {"kernel": (8, 2, 4), "bias": (2, 4)},
            "out": {"kernel": (2, 4, 8), "bias": (8,)},
        }
    }
    variables = init(
        nn.MultiHeadDotProductAttention(
            num_heads=3, qkv_features=6, out_features=5, use_bias=False, normalize_qk=True
        ),
        X, normal((2, 4, 7)),
    )  # fmt: skip
    assert shapes(variables) == {
        "params": {
            "query": {"kernel": (8, 3, 2)},
            "key": {"kernel": (7, 3, 2)},
            "value": {"kernel": (7, 3, 2)},
            "query_ln": {"scale": (2,)},
            "key_ln": {"scale": (2,)},
            "out": {"kernel": (3, 2, 5)},
        }
    }


def test_multi_head_attention_matches_manual_computation():
    model = nn.MultiHeadDotProductAttention(num_heads=2)
    xk = normal((2, 5, 6), 11)
    variables = init(model, X, xk)
    p = variables["params"]

    def proj(x, name):
        return np.einsum("bld,dhk->blhk", x, p[name]["kernel"]) + np.asarray(p[name]["bias"])

    mask = np.ones((2, 1, 3, 5), bool)
    mask[1, :, :, 3:] = False
    _, attended = np_attention(proj(X, "query"), proj(xk, "key"), proj(xk, "value"), mask=mask)
    expected = np.einsum("blhk,hkd->bld", attended, p["out"]["kernel"]) + np.asarray(
        p["out"]["bias"]
    )
    got = apply(model, variables, X, xk, mask=mask)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_aliases():
    a = init(nn.MultiHeadDotProductAttention(num_heads=2), X)
    b = init(nn.MultiHeadAttention(num_heads=2), X)
    jax.tree_util.tree_map(np.testing.assert_array_equal, a, b)
    assert issubclass(nn.MultiHeadAttention, nn.MultiHeadDotProductAttention)

    class Model(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.MultiHeadAttention(num_heads=2)(x)

    assert list(init(Model(), X)["params"]) == ["MultiHeadAttention_0"]
    with pytest.warns(DeprecationWarning, match="SelfAttention will be deprecated"):
        c = init(nn.SelfAttention(num_heads=2), X)
    jax.tree_util.tree_map(np.testing.assert_array_equal, a, c)


def test_call_forms():
    model = nn.MultiHeadDotProductAttention(num_heads=2)
    variables = init(model, X)
    self_attention = apply(model, variables, X)
    np.testing.assert_array_equal(apply(model, variables, X, X), self_attention)
    np.testing.assert_array_equal(apply(model, variables, X, X, X), self_attention)
    with pytest.warns(DeprecationWarning, match="inputs_kv"):
        np.testing.assert_array_equal(apply(model, variables, X, inputs_kv=X), self_attention)
    with pytest.raises(ValueError, match="`inputs_kv` must be None"):
        model.apply(variables, X, X, inputs_kv=X)
    with pytest.raises(ValueError, match="`inputs_k` cannot be None if `inputs_v` is not None"):
        model.apply(variables, X, None, X)
    with pytest.raises(AssertionError, match=r"Memory dimension \(8\) must be divisible"):
        nn.MultiHeadDotProductAttention(num_heads=3).init(KEY, X)


def test_module_dropout_and_deterministic():
    model = nn.MultiHeadDotProductAttention(num_heads=2, dropout_rate=0.5)
    variables = init(model, X, deterministic=True)
    with pytest.raises(ValueError, match="deterministic"):
        model.apply(variables, X)
    train = jax.jit(lambda r: model.apply(variables, X, deterministic=False, rngs={"dropout": r}))
    a, b = train(key(3)), train(key(4))
    c = apply(model, variables, X, deterministic=True)
    assert not np.allclose(a, b) and not np.allclose(a, c)

    # An explicit dropout_rng replaces the key the module would draw itself.
    class Probe(nn.Module):
        @nn.compact
        def __call__(self):
            return self.make_rng("dropout")

    drawn = Probe().apply({}, rngs={"dropout": key(3)})
    with_rng = jax.jit(lambda r: model.apply(variables, X, deterministic=False, dropout_rng=r))
    np.testing.assert_array_equal(with_rng(drawn), a)
    # dropout_rate=0 needs no deterministic flag.
    apply(nn.MultiHeadDotProductAttention(num_heads=2), variables, X)


def test_sow_weights():
    model = nn.MultiHeadDotProductAttention(num_heads=2)
    variables = init(model, X)
    _, state = apply(model, variables, X, sow_weights=True, mutable=["intermediates"])
    (weights,) = state["intermediates"]["attention_weights"]
    assert weights.shape == (2, 2, 3, 3)
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-5)
    _, state = apply(model, variables, X, mutable=["intermediates"])
    assert state == {} or "intermediates" not in state or not state["intermediates"]


def test_attention_fn_gets_the_arguments_it_names():
    seen = {}

    def attend(query, key, value, mask=None, dtype=None):
        seen.update(mask=mask, dtype=dtype)
        return nn.dot_product_attention(query, key, value, mask=mask, dtype=dtype)

    mask = jnp.ones((2, 1, 3, 3), bool)
    model = nn.MultiHeadDotProductAttention(
        num_heads=2, attention_fn=attend, dtype=jnp.float32, dropout_rate=0.1
    )
    model.init(KEY, X, mask=mask, deterministic=True)
    assert seen["mask"] is mask and seen["dtype"] == jnp.float32

    def minimal(query, key, value):
        return nn.dot_product_attention(query, key, value)

    nn.MultiHeadDotProductAttention(num_heads=2, attention_fn=minimal).init(KEY, X, mask=mask)
    with pytest.raises(TypeError, match="module"):
        nn.MultiHeadDotProductAttention(num_heads=2, attention_fn=minimal).init(
            KEY, X, sow_weights=True
        )


def test_decode_matches_causal_attention():
    model = nn.MultiHeadDotProductAttention(num_heads=2)
    decoder = nn.MultiHeadDotProductAttention(num_heads=2, decode=True)
    x = normal((2, 4, 8), 12)
    variables = init(decoder, x)
    assert shapes(variables["cache"]) == {
        "cached_key": (2, 4, 2, 4), "cached_value": (2, 4, 2, 4), "cache_index": (),
    }  # fmt: skip
    assert int(variables["cache"]["cache_index"]) == 0
    full = apply(model, {"params": variables["params"]}, x, mask=nn.make_causal_mask(x[..., 0]))
    step = jax.jit(functools.partial(decoder.apply, mutable=["cache"]))
    cache = variables["cache"]
    for i in range(4):
        y, updates = step({"params": variables["params"], "cache": cache}, x[:, i : i + 1])
        cache = updates["cache"]
        np.testing.assert_allclose(y[:, 0], full[:, i], rtol=1e-5, atol=1e-5)
    assert int(cache["cache_index"]) == 4
    np.testing.assert_allclose(
        cache["cached_key"],
        np.einsum("bld,dhk->blhk", x, variables["params"]["key"]["kernel"])
        + np.asarray(variables["params"]["key"]["bias"]),
        rtol=1e-5, atol=1e-5,
    )  # fmt: skip


def test_decode_errors():
    decoder = nn.MultiHeadDotProductAttention(num_heads=2, decode=True)
    variables = decoder.init(KEY, X)
    with pytest.raises(ValueError, match=r"expected query shape \(2, 1, 2, 4\) instead got"):
        decoder.apply(variables, X, mutable=["cache"])
    from flaxen import errors

    with pytest.raises(errors.ModifyScopeVariableError):
        decoder.apply(variables, X[:, :1])


def test_grad_through_attention():
    model = nn.MultiHeadDotProductAttention(num_heads=2)
    variables = init(model, X)
    grads = jax.jit(jax.grad(lambda v: model.apply(v, X).sum()))(variables)
    assert shapes(grads) == shapes(variables)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree_util.tree_leaves(grads))


def test_doctests():
    from flaxen.layers import _attention_fns, _mha, attention

    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for module in (_attention_fns, _mha, attention):
        for test in doctest.DocTestFinder().find(module, module.__name__):
            runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
