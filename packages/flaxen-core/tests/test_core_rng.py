"""PRNG streams: the key derivation of spec/rng-and-naming.md, computed independently."""

import hashlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flaxen import config
from flaxen.core import apply, bind, init
from flaxen.core._rng import hash_items
from flaxen.core.lift import LazyRng
from flaxen.errors import InvalidRngError

KEY = jax.random.key(0)


def item_bytes(item):
    if isinstance(item, str):
        return item.encode("utf-8")
    return item.to_bytes((item.bit_length() + 7) // 8, "big")


def fold_value(items, separator=False):
    """H(items) of the spec: first 4 bytes (big-endian) of SHA-1 over the items."""
    digest = hashlib.sha1()
    for item in items:
        if separator:
            digest.update(b"\0")
        digest.update(item_bytes(item))
    return int.from_bytes(digest.digest()[:4], "big")


def expected_key(root, *items, separator=False):
    return jax.random.fold_in(root, fold_value(items, separator))


def data(key):
    key = jnp.asarray(key)
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    return np.asarray(key)


def assert_same_key(actual, expected):
    np.testing.assert_array_equal(data(actual), data(expected))


def normal_init(key, shape):
    return jax.random.normal(key, shape)


# -- hashing -------------------------------------------------------------------------


def test_int_items_are_minimal_big_endian():
    assert hash_items((0,)) == int.from_bytes(hashlib.sha1(b"").digest()[:4], "big")
    assert hash_items((300,)) == int.from_bytes(hashlib.sha1(b"\x01\x2c").digest()[:4], "big")
    assert hash_items((1,)) == int.from_bytes(hashlib.sha1(b"\x01").digest()[:4], "big")
    assert hash_items((256,)) == int.from_bytes(hashlib.sha1(b"\x01\x00").digest()[:4], "big")


def test_items_are_hashed_without_separator():
    ab = int.from_bytes(hashlib.sha1(b"ab").digest()[:4], "big")
    assert hash_items(("ab",)) == ab
    assert hash_items(("a", "b")) == ab
    assert hash_items(("Dense_0", 1)) == fold_value(("Dense_0", 1))
    assert hash_items(("é",)) == int.from_bytes(hashlib.sha1("é".encode()).digest()[:4], "big")


@pytest.mark.parametrize("item", [1.0, None, b"ab", (1,), jnp.int32(1)])
def test_other_item_types_are_a_value_error(item):
    with pytest.raises(ValueError, match="string"):
        hash_items(("a", item))


# -- derivation ------------------------------------------------------------------------


def test_root_draws_fold_in_the_counter():
    def model(scope):
        return [scope.make_rng("params") for _ in range(3)]

    keys, _ = init(model)(KEY)
    for count, key in enumerate(keys, start=1):
        assert_same_key(key, expected_key(KEY, count))


def test_nested_dense_kernel_and_bias_counters():
    def dense(scope, x):
        kernel = scope.param("kernel", normal_init, (x.shape[-1], 2))
        bias = scope.param("bias", normal_init, (2,))
        return x @ kernel + bias[None]

    def inner(scope, x):
        return scope.child(dense, "Dense_0")(x)

    def model(scope, x):
        return scope.child(inner, "Inner_0")(x)

    _, variables = init(model)(KEY, jnp.ones((1, 3)))
    params = variables["params"]["Inner_0"]["Dense_0"]
    np.testing.assert_array_equal(
        params["kernel"], normal_init(expected_key(KEY, "Inner_0", "Dense_0", 1), (3, 2))
    )
    np.testing.assert_array_equal(
        params["bias"], normal_init(expected_key(KEY, "Inner_0", "Dense_0", 2), (2,))
    )


def test_typed_and_raw_keys_give_the_same_result():
    def model(scope):
        w = scope.param("w", lambda key: key)
        return scope.push("child").make_rng("params"), scope.make_rng("dropout"), w

    typed = init(model)({"params": jax.random.key(7), "dropout": jax.random.key(8)})
    raw = init(model)({"params": jax.random.PRNGKey(7), "dropout": jax.random.PRNGKey(8)})
    (t_child, t_drop, t_w), t_vars = typed
    (r_child, r_drop, r_w), r_vars = raw
    assert jnp.issubdtype(t_child.dtype, jax.dtypes.prng_key)
    assert r_child.dtype == jnp.uint32
    assert_same_key(t_child, r_child)
    assert_same_key(t_drop, r_drop)
    assert_same_key(t_w, r_w)
    assert_same_key(t_vars["params"]["w"], r_vars["params"]["w"])
    assert_same_key(t_w, expected_key(jax.random.key(7), 1))


def test_single_key_means_params_stream():
    def model(scope):
        return scope.make_rng("params"), scope.make_rng("params")

    single, _ = init(model)(KEY)
    as_dict, _ = init(model)({"params": KEY})
    for a, b in zip(single, as_dict):
        assert_same_key(a, b)
    applied = apply(model)({}, rngs=KEY)
    for a, b in zip(single, applied):
        assert_same_key(a, b)


def test_counters_are_per_stream():
    a_key, b_key = jax.random.key(1), jax.random.key(2)

    def model(scope):
        return [scope.make_rng(s) for s in ("a", "a", "b", "a", "b")]

    keys, _ = init(model)({"params": KEY, "a": a_key, "b": b_key})
    expected = [(a_key, 1), (a_key, 2), (b_key, 1), (a_key, 3), (b_key, 2)]
    for key, (root, count) in zip(keys, expected):
        assert_same_key(key, expected_key(root, count))


def test_each_child_has_its_own_counters_and_suffix():
    def model(scope):
        a = scope.push("a")
        b = scope.push("b")
        return a.make_rng("params"), b.make_rng("params"), a.make_rng("params")

    (a1, b1, a2), _ = init(model)(KEY)
    assert_same_key(a1, expected_key(KEY, "a", 1))
    assert_same_key(b1, expected_key(KEY, "b", 1))
    assert_same_key(a2, expected_key(KEY, "a", 2))


def test_child_counters_continue_when_the_name_is_pushed_again():
    def model(scope):
        first = scope.push("c").make_rng("params")
        second = scope.push("c", reuse=True).make_rng("params")
        grandchild = scope.push("c", reuse=True).push("g").make_rng("params")
        # A rewound parent keeps its children's counters unless rewind_rngs.
        rewound = scope.rewound().push("c").make_rng("params")
        reset = scope.rewound(rewind_rngs=True).push("c").make_rng("params")
        return first, second, grandchild, rewound, reset

    (first, second, grandchild, rewound, reset), _ = init(model)(KEY)
    assert_same_key(first, expected_key(KEY, "c", 1))
    assert_same_key(second, expected_key(KEY, "c", 2))
    assert_same_key(grandchild, expected_key(KEY, "c", "g", 1))
    assert_same_key(rewound, expected_key(KEY, "c", 3))
    assert_same_key(reset, expected_key(KEY, "c", 1))


def test_rewound_scope_continues_or_resets_its_own_counters():
    def model(scope):
        child = scope.push("c")
        child.make_rng("params")
        continued = child.rewound().make_rng("params")
        reset = child.rewound(rewind_rngs=True).make_rng("params")
        return continued, reset

    (continued, reset), _ = init(model)(KEY)
    assert_same_key(continued, expected_key(KEY, "c", 2))
    assert_same_key(reset, expected_key(KEY, "c", 1))


def test_missing_stream_falls_back_to_params_and_shares_its_counter():
    def model(scope):
        child = scope.push("c")
        return (
            child.make_rng("params"),
            child.make_rng("dropout"),
            child.make_rng("params"),
            child.has_rng("dropout"),
            child.has_rng("params"),
        )

    (p1, d2, p3, has_dropout, has_params), _ = init(model)(KEY)
    assert_same_key(p1, expected_key(KEY, "c", 1))
    assert_same_key(d2, expected_key(KEY, "c", 2))
    assert_same_key(p3, expected_key(KEY, "c", 3))
    assert not has_dropout
    assert has_params


def test_no_stream_and_no_params_is_invalid_rng_error():
    def model(scope):
        return scope.push("layer").make_rng("dropout")

    with pytest.raises(InvalidRngError) as info:
        apply(model)({}, rngs={"other": KEY})
    assert isinstance(info.value, ValueError)
    assert str(info.value).startswith('layer needs PRNG for "dropout"')


def test_creating_a_param_draws_and_reading_one_does_not():
    def model(scope):
        scope.param("w", jax.nn.initializers.zeros, (2,))
        return scope.make_rng("params")

    key_at_init, variables = init(model)(KEY)
    assert_same_key(key_at_init, expected_key(KEY, 2))
    key_at_apply = apply(model)(variables, rngs=KEY)
    assert_same_key(key_at_apply, expected_key(KEY, 1))


def test_counter_300_hashes_two_bytes():
    scope = bind({}, rngs={"params": KEY})
    for _ in range(299):
        scope.make_rng("params")
    assert_same_key(scope.make_rng("params"), jax.random.fold_in(KEY, hash_items((300,))))
    digest = hashlib.sha1(b"\x01\x2c").digest()
    assert hash_items((300,)) == int.from_bytes(digest[:4], "big")


@pytest.fixture
def separator():
    previous = config.flaxen_fix_rng_separator
    config.update("flaxen_fix_rng_separator", True)
    try:
        yield
    finally:
        config.update("flaxen_fix_rng_separator", previous)


def test_separator_flag_puts_a_zero_byte_before_every_item(separator):
    def model(scope):
        return scope.push("ab").make_rng("params"), scope.push("a").push("b").make_rng("params")

    (ab, a_b), _ = init(model)(KEY)
    assert_same_key(ab, expected_key(KEY, "ab", 1, separator=True))
    assert_same_key(a_b, expected_key(KEY, "a", "b", 1, separator=True))
    assert not np.array_equal(data(ab), data(a_b))
    assert hash_items(("a", 0)) == int.from_bytes(hashlib.sha1(b"\0a\0").digest()[:4], "big")


def test_without_separator_names_can_collide():
    assert not config.flaxen_fix_rng_separator

    def model(scope):
        return scope.push("ab").make_rng("params"), scope.push("a").push("b").make_rng("params")

    (ab, a_b), _ = init(model)(KEY)
    assert_same_key(ab, a_b)
    assert_same_key(ab, expected_key(KEY, "ab", 1))


def test_lazy_rng_is_a_pytree_of_its_key_with_a_static_suffix():
    lazy = LazyRng(KEY, ("a", "b"))
    leaves, treedef = jax.tree_util.tree_flatten(lazy)
    assert leaves == [KEY]
    rebuilt = jax.tree_util.tree_unflatten(treedef, [jax.random.key(3)])
    assert rebuilt.suffix == ("a", "b")
    assert_same_key(lazy.as_jax_rng(), expected_key(KEY, "a", "b"))
    assert lazy.fold().suffix == ()
    assert_same_key(lazy.fold().rng, expected_key(KEY, "a", "b"))
    assert LazyRng(KEY, ()).as_jax_rng() is KEY
