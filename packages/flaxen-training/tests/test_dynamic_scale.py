"""DynamicScale: scaled gradients, finiteness, the scale's growth and backoff."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flaxen.training import dynamic_scale
from flaxen.training.dynamic_scale import DynamicScale, DynamicScaleResult


def quadratic(p, x):
    return jnp.sum(p * x) ** 2 / 2


def test_fields_and_static_markers():
    assert dynamic_scale.DynamicScale is DynamicScale
    ds = DynamicScale()
    f = {field.name: field for field in dataclasses.fields(ds)}
    assert list(f) == [
        "growth_factor", "backoff_factor", "growth_interval", "fin_steps", "scale",
        "minimum_scale",
    ]  # fmt: skip
    static = [n for n, field in f.items() if not field.metadata.get("pytree_node", True)]
    assert static == ["growth_factor", "backoff_factor", "growth_interval", "minimum_scale"]
    assert (ds.growth_factor, ds.backoff_factor, ds.growth_interval) == (2.0, 0.5, 2000)
    assert (ds.fin_steps, ds.scale) == (0, 65536.0)
    assert ds.minimum_scale == np.finfo(np.float32).tiny
    assert jax.tree_util.tree_leaves(ds) == [0, 65536.0]


def test_result_is_a_named_tuple():
    assert DynamicScaleResult._fields == ("dynamic_scale", "finite", "aux", "grad")
    assert issubclass(DynamicScaleResult, tuple)


def test_value_and_grad_unscales_exactly_what_it_scaled():
    p, x = jnp.array([1.0, 2.0]), jnp.array([3.0, 4.0])
    for scale in (3.0, 0.3, 65536.0, 7.0):
        result = DynamicScale(scale=scale).value_and_grad(quadratic)(p, x)
        assert isinstance(result, DynamicScaleResult)
        sc = jnp.float32(scale)
        loss = quadratic(p, x)
        # The value is (loss * scale) / scale and the gradients those of the
        # scaled loss divided by the scale, all in float32.
        assert result.aux == (loss * sc) / sc
        scaled_grads = jax.grad(lambda p: quadratic(p, x) * sc)(p)
        np.testing.assert_array_equal(result.grad, scaled_grads / sc)
        np.testing.assert_allclose(result.grad, jax.grad(quadratic)(p, x), rtol=1e-6)
        assert bool(result.finite)


def test_growth_after_growth_interval_finite_steps():
    ds = DynamicScale(growth_interval=3, scale=4.0)
    history = []
    for _ in range(5):
        ds, finite, _, _ = ds.value_and_grad(quadratic)(jnp.ones(2), jnp.ones(2))
        assert bool(finite)
        history.append((int(ds.fin_steps), float(ds.scale)))
    # Grows on the step where fin_steps (before the update) equals the interval.
    assert history == [(1, 4.0), (2, 4.0), (3, 4.0), (0, 8.0), (1, 8.0)]
    assert ds.fin_steps.dtype == jnp.int32 and ds.scale.dtype == jnp.float32
    assert not ds.scale.weak_type


def test_growth_saturates_at_the_largest_float32():
    ds = DynamicScale(scale=3e38, growth_interval=0)
    ds = ds.value_and_grad(lambda p: p.sum())(jnp.ones(2)).dynamic_scale
    assert float(ds.scale) == float(np.finfo(np.float32).max)


def test_backoff_on_non_finite_gradients():
    def bad(p):
        return jnp.sum(p) * jnp.inf

    ds, finite, value, grad = DynamicScale(
        scale=4.0, fin_steps=2, growth_interval=3
    ).value_and_grad(bad)(jnp.ones(2))
    assert not bool(finite)
    assert (int(ds.fin_steps), float(ds.scale)) == (0, 2.0)
    assert np.isinf(value) and np.isinf(grad).all()
    nan = DynamicScale(scale=4.0).value_and_grad(lambda p: jnp.sum(p) * jnp.nan)(jnp.ones(2))
    assert not bool(nan.finite) and float(nan.dynamic_scale.scale) == 2.0


def test_backoff_respects_minimum_scale():
    def bad(p):
        return jnp.sum(p) * jnp.inf

    assert (
        float(DynamicScale(scale=4.0, minimum_scale=3.0).value_and_grad(bad)(jnp.ones(2))[0].scale)
        == 3.0
    )
    tiny = np.finfo(np.float32).tiny
    ds = DynamicScale(scale=float(tiny) * 1.5).value_and_grad(bad)(jnp.ones(2))[0]
    assert float(ds.scale) == float(tiny)
    ds = DynamicScale(scale=1e-45, minimum_scale=None).value_and_grad(bad)(jnp.ones(2))[0]
    assert float(ds.scale) == 0.0


def test_float16_loss_overflows_at_the_default_scale():
    def loss_fn(p):
        return jnp.asarray(p, jnp.float16) ** 2

    p = jnp.array(1.0, jnp.float32)
    ds = DynamicScale(growth_interval=10)
    compute = jax.jit(lambda ds, p: ds.value_and_grad(loss_fn)(p))
    ds, finite, loss, grad = compute(ds, p)
    # 65536 is not a float16: the scaled loss and its gradient overflow.
    assert not bool(finite) and loss.dtype == jnp.float16 and np.isnan(loss)
    assert grad.dtype == jnp.float32 and np.isinf(grad)
    assert float(ds.scale) == 32768.0
    ds, finite, loss, grad = compute(ds, p)
    assert not bool(finite) and float(ds.scale) == 16384.0
    ds, finite, loss, grad = compute(ds, p)
    assert bool(finite) and float(loss) == 1.0 and float(grad) == 2.0
    assert int(ds.fin_steps) == 1


def test_gradients_are_divided_in_float32():
    result = DynamicScale(scale=3.0).value_and_grad(lambda p: (p * 0.1).sum())(
        jnp.ones(2, jnp.bfloat16)
    )
    assert result.grad.dtype == jnp.float32
    assert result.aux.dtype == jnp.bfloat16


def test_has_aux_and_argnums():
    ds = DynamicScale()
    result = ds.value_and_grad(lambda p: (jnp.sum(p**2), {"p": p}), has_aux=True)(jnp.ones(2))
    value, aux = result.aux
    assert float(value) == 2.0 and set(aux) == {"p"}
    np.testing.assert_array_equal(result.grad, [2.0, 2.0])
    result = ds.value_and_grad(lambda a, b: jnp.sum(a * b), argnums=(0, 1))(
        jnp.ones(2), jnp.full(2, 3.0)
    )
    np.testing.assert_array_equal(result.grad[0], [3.0, 3.0])
    np.testing.assert_array_equal(result.grad[1], [1.0, 1.0])
    result = ds.value_and_grad(lambda a, b: jnp.sum(a * b), argnums=1)(
        jnp.ones(2), jnp.full(2, 3.0)
    )
    np.testing.assert_array_equal(result.grad, [1.0, 1.0])
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        ds.value_and_grad(lambda p, k=1.0: jnp.sum(p) * k)(jnp.ones(2), k=2.0)


def test_finite_covers_every_leaf():
    result = DynamicScale().value_and_grad(lambda p: p["a"].sum() + p["b"].sum() * jnp.nan)(
        {"a": jnp.ones(2), "b": jnp.ones(1)}
    )
    assert not bool(result.finite)


def test_axis_name_averages_gradients_before_the_finiteness_check():
    n = jax.local_device_count()
    p = jnp.arange(float(n))[:, None] * jnp.ones((1, 2))

    def step(p):
        return DynamicScale().value_and_grad(lambda q: jnp.sum(q**2), axis_name="i")(p)

    ds, finite, value, grad = jax.pmap(step, axis_name="i")(p)
    np.testing.assert_allclose(grad, jnp.full((n, 2), float(n - 1)))  # mean of 2p
    np.testing.assert_array_equal(value, jnp.arange(float(n)) ** 2 * 2)  # not averaged
    assert bool(finite.all())

    def bad_on_last(p):
        loss = lambda q: jnp.sum(q**2) * jnp.where(q[0] == n - 1, jnp.inf, 1.0)
        return DynamicScale().value_and_grad(loss, axis_name="i")(p)

    ds, finite, _, _ = jax.pmap(bad_on_last, axis_name="i")(p)
    assert not bool(finite.any())  # one replica's overflow reaches every replica
    np.testing.assert_array_equal(ds.scale, jnp.full(n, 32768.0))
