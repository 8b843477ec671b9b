"""Dropout: masks, scaling, modes, keys, and the Dropout guide run with flaxen."""

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


X = jnp.asarray(np.random.default_rng(0).uniform(1.0, 2.0, (4, 6, 8)), jnp.float32)
RNGS = {"dropout": key(1)}


def run(layer, x=X, **kwargs):
    return jax.jit(functools.partial(layer.apply, **kwargs))({}, x)


def test_train_mode_zeroes_and_rescales():
    y = run(nn.Dropout(0.25), deterministic=False, rngs=RNGS)
    kept = np.asarray(y) != 0
    np.testing.assert_allclose(np.asarray(y)[kept], np.asarray(X)[kept] / 0.75, rtol=1e-6)
    # The mask is the Bernoulli draw of the key, with the keep probability.
    expected_mask = jax.jit(lambda k: jax.random.bernoulli(k, 0.75, X.shape))(_dropout_key())
    np.testing.assert_array_equal(kept, np.asarray(expected_mask))


def _dropout_key():
    # The key ``make_rng('dropout')`` returns as the first draw of the root scope.
    class Probe(nn.Module):
        @nn.compact
        def __call__(self):
            return self.make_rng("dropout")

    return jax.jit(lambda rngs: Probe().apply({}, rngs=rngs))(RNGS)


def test_explicit_rng_is_used_as_is():
    rng = key(7)
    y = run(nn.Dropout(0.5), deterministic=False, rng=rng)
    mask = jax.jit(lambda k: jax.random.bernoulli(k, 0.5, X.shape))(rng)
    np.testing.assert_array_equal(np.asarray(y) != 0, np.asarray(mask))


def test_rate_is_roughly_the_fraction_dropped():
    x = jnp.ones((100, 100))
    y = run(nn.Dropout(0.3), x, deterministic=False, rngs=RNGS)
    assert abs(float(jnp.mean(y == 0)) - 0.3) < 0.03
    # The expectation is preserved.
    assert abs(float(jnp.mean(y)) - 1.0) < 0.05


def test_deterministic_returns_the_input():
    np.testing.assert_array_equal(run(nn.Dropout(0.5), deterministic=True), X)
    np.testing.assert_array_equal(run(nn.Dropout(0.5, deterministic=True)), X)
    # No key is needed then.
    assert nn.Dropout(0.5).apply({}, X, True) is X


def test_deterministic_exactly_once():
    with pytest.raises(ValueError, match="deterministic"):
        nn.Dropout(0.5).apply({}, X)
    with pytest.raises(ValueError, match="deterministic"):
        nn.Dropout(0.5, deterministic=True).apply({}, X, deterministic=False)


def test_edge_rates():
    assert nn.Dropout(0.0).apply({}, X, deterministic=False) is X
    zeros = nn.Dropout(1.0).apply({}, X, deterministic=False)
    np.testing.assert_array_equal(zeros, np.zeros(X.shape))
    assert zeros.dtype == X.dtype
    bf16 = nn.Dropout(1.0).apply({}, X.astype(jnp.bfloat16), deterministic=False)
    assert bf16.dtype == jnp.bfloat16


def test_broadcast_dims_share_the_mask():
    y = np.asarray(run(nn.Dropout(0.5, broadcast_dims=(0, -1)), deterministic=False, rngs=RNGS))
    dropped = y == 0
    # One decision per index of axis 1.
    assert (dropped == dropped[:1, :, :1]).all()
    assert dropped.any() and not dropped.all()


def test_rng_collection():
    layer = nn.Dropout(0.5, rng_collection="noise")
    a = run(layer, deterministic=False, rngs={"noise": key(1)})
    b = run(nn.Dropout(0.5), deterministic=False, rngs={"dropout": key(1)})
    np.testing.assert_array_equal(a, b)
    from flaxen import errors

    with pytest.raises(errors.InvalidRngError):
        layer.apply({}, X, deterministic=False, rngs=RNGS)


def test_keys_differ_per_layer_and_per_call():
    class Model(nn.Module):
        @nn.compact
        def __call__(self, x):
            drop = nn.Dropout(0.5, deterministic=False)
            return drop(x), drop(x), nn.Dropout(0.5, deterministic=False)(x)

    a, b, c = jax.jit(Model().apply)({}, X, rngs=RNGS)
    assert not np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_dtype_and_grad():
    y = run(nn.Dropout(0.5), X.astype(jnp.bfloat16), deterministic=False, rngs=RNGS)
    assert y.dtype == jnp.bfloat16
    grad = jax.jit(jax.grad(lambda x: nn.Dropout(0.5).apply({}, x, False, rngs=RNGS).sum()))(X)
    mask = np.asarray(run(nn.Dropout(0.5), deterministic=False, rngs=RNGS)) != 0
    np.testing.assert_allclose(np.asarray(grad), np.where(mask, 2.0, 0.0))


def test_vmap_over_a_batch():
    y = jax.jit(jax.vmap(lambda x: nn.Dropout(0.5).apply({}, x, False, rngs=RNGS)))(X)
    assert y.shape == X.shape


# -- the Dropout guide (003, "Dropout"), with flax -> flaxen --------------------------


class MyModel(nn.Module):
    num_neurons: int

    @nn.compact
    def __call__(self, x, training: bool):
        x = nn.Dense(self.num_neurons)(x)
        # Set the dropout layer with a `rate` of 50%.
        # When the `deterministic` flag is `True`, dropout is turned off.
        x = nn.Dropout(rate=0.5, deterministic=not training)(x)
        return x


def _needs_dense():
    try:
        return nn.Dense
    except Exception:  # the linear layers may not be installed yet
        pytest.skip("flaxen.layers.linear (nn.Dense) is not available")


def test_dropout_guide():
    _needs_dense()
    root_key = jax.random.PRNGKey(seed=0)
    _main_key, params_key, dropout_key = jax.random.split(key=root_key, num=3)
    my_model = MyModel(num_neurons=3)
    x = jnp.empty((3, 4, 4))
    variables = my_model.init(params_key, x, training=False)
    params = variables["params"]
    y = my_model.apply({"params": params}, x, training=True, rngs={"dropout": dropout_key})
    assert y.shape == (3, 4, 3)
    y_eval = my_model.apply({"params": params}, x, training=False)
    np.testing.assert_array_equal(y_eval, nn.Dense(3).apply({"params": params["Dense_0"]}, x))


def test_dropout_guide_training_loop():
    _needs_dense()
    optax = pytest.importorskip("optax")
    train_state = pytest.importorskip("flaxen.training.train_state")

    class TrainState(train_state.TrainState):
        key: jax.Array

    root_key = jax.random.PRNGKey(seed=0)
    _main_key, params_key, dropout_key = jax.random.split(key=root_key, num=3)
    my_model = MyModel(num_neurons=3)
    x = jnp.ones((3, 4))
    params = my_model.init(params_key, x, training=False)["params"]
    state = TrainState.create(
        apply_fn=my_model.apply, params=params, key=dropout_key, tx=optax.adam(1e-3)
    )

    @jax.jit
    def train_step(state, batch, dropout_key):
        dropout_train_key = jax.random.fold_in(key=dropout_key, data=state.step)

        def loss_fn(params):
            logits = state.apply_fn(
                {"params": params}, x=batch["image"], training=True,
                rngs={"dropout": dropout_train_key},
            )  # fmt: skip
            loss = optax.softmax_cross_entropy_with_integer_labels(
                logits=logits, labels=batch["label"]
            ).mean()
            return loss, logits

        grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
        (_loss, _logits), grads = grad_fn(state.params)
        return state.apply_gradients(grads=grads)

    batch = {"image": x, "label": jnp.array([0, 1, 2])}
    new_state = train_step(state, batch, state.key)
    assert int(new_state.step) == 1
    changed = jax.tree_util.tree_map(lambda a, b: bool(jnp.any(a != b)), params, new_state.params)
    assert any(jax.tree_util.tree_leaves(changed))


def test_doctests():
    from flaxen.layers import _dropout, stochastic

    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for module in (_dropout, stochastic):
        for test in doctest.DocTestFinder().find(module, module.__name__):
            runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
