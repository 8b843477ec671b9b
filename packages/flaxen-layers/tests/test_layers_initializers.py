"""flaxen.linen.initializers: jax.nn.initializers re-exported, plus zeros_init/ones_init."""

import doctest
import importlib
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flaxen import linen as nn

init = nn.initializers

# The documented list (Flax's "flax.linen.initializers" API reference).
DOCUMENTED = """
    constant delta_orthogonal glorot_normal glorot_uniform he_normal he_uniform kaiming_normal
    kaiming_uniform lecun_normal lecun_uniform normal ones ones_init orthogonal truncated_normal
    uniform variance_scaling xavier_normal xavier_uniform zeros zeros_init
""".split()

JAX_NAMES = [n for n in DOCUMENTED if n not in ("ones_init", "zeros_init")]


def test_public_names():
    public = {n for n in dir(init) if not n.startswith("_")}
    assert public == {*DOCUMENTED, "Initializer"}


@pytest.mark.parametrize("name", JAX_NAMES)
def test_is_the_jax_initializer(name):
    # Same object, hence the same values for the same key, bit for bit.
    assert getattr(init, name) is getattr(jax.nn.initializers, name)


def test_factories_return_the_jax_constants():
    assert init.zeros_init() is jax.nn.initializers.zeros
    assert init.ones_init() is jax.nn.initializers.ones
    assert nn.zeros is init.zeros and nn.ones is init.ones
    assert nn.zeros_init is init.zeros_init and nn.ones_init is init.ones_init


def test_initializer_type_accepts_callables():
    assert jax.nn.initializers.Initializer in init.Initializer.__args__


def test_flaxen_linen_initializers_module():
    import flaxen.linen.initializers as via_linen

    assert via_linen is init
    assert importlib.import_module("flaxen.layers.initializers") is init


KEY = jax.random.key(0)


def test_constant_ones_zeros_values():
    np.testing.assert_array_equal(init.constant(3.5)(KEY, (2, 3)), np.full((2, 3), 3.5))
    assert init.zeros_init()(KEY, (4,), jnp.bfloat16).dtype == jnp.bfloat16
    np.testing.assert_array_equal(init.ones_init()(KEY, (2, 2)), np.ones((2, 2)))


@pytest.mark.parametrize(
    ("factory", "std"),
    [
        (init.lecun_normal, lambda fi, fo: math.sqrt(1 / fi)),
        (init.glorot_normal, lambda fi, fo: math.sqrt(2 / (fi + fo))),
        (init.he_uniform, lambda fi, fo: math.sqrt(2 / fi)),
        (init.xavier_uniform, lambda fi, fo: math.sqrt(2 / (fi + fo))),
    ],
)
def test_variance_scaling_family_standard_deviation(factory, std):
    # he/kaiming and glorot/xavier are the same functions (see test_is_the_jax_initializer).
    fan_in, fan_out = 200, 300
    values = np.asarray(factory()(KEY, (fan_in, fan_out)))
    assert values.dtype == np.float32
    np.testing.assert_allclose(values.std(), std(fan_in, fan_out), rtol=0.03)
    assert abs(values.mean()) < 0.01


def test_variance_scaling_uses_receptive_field_for_conv_kernels():
    # (kh, kw, in, out): fan_in = kh * kw * in.
    values = np.asarray(init.variance_scaling(1.0, "fan_in", "normal")(KEY, (3, 3, 40, 64)))
    np.testing.assert_allclose(values.std(), math.sqrt(1 / (3 * 3 * 40)), rtol=0.03)


def test_truncated_normal_and_uniform_ranges():
    values = np.asarray(init.truncated_normal(0.5)(KEY, (1000,)))
    assert values.min() >= -1.0 and values.max() <= 1.0
    values = np.asarray(init.uniform(0.3)(KEY, (1000,)))
    assert values.min() >= 0.0 and values.max() < 0.3


def test_orthogonal_and_delta_orthogonal():
    q = np.asarray(init.orthogonal()(KEY, (5, 5)), np.float64)
    np.testing.assert_allclose(q @ q.T, np.eye(5), atol=1e-5)
    kernel = np.asarray(init.delta_orthogonal()(KEY, (3, 3, 4, 4)))
    centre = kernel[1, 1]
    np.testing.assert_allclose(centre @ centre.T, np.eye(4), atol=1e-5)
    off_centre = kernel.copy()
    off_centre[1, 1] = 0
    assert not off_centre.any()


def test_normal_dtype_follows_the_argument():
    assert init.normal(1.0)(KEY, (3,), jnp.bfloat16).dtype == jnp.bfloat16
    with jax.enable_x64(True):
        assert init.normal(1.0)(KEY, (3,), jnp.float64).dtype == jnp.float64


def test_doctests():
    for name in ("flaxen.layers.initializers", "flaxen.layers._initializers"):
        results = doctest.testmod(
            importlib.import_module(name),
            optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
        )
        assert results.attempted > 0 and results.failed == 0, name
