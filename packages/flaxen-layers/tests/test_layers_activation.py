"""flaxen.linen.activation: jax.nn's functions themselves, and PReLU."""

import doctest
import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flaxen import linen as nn

FUNCTIONS = """
    celu elu gelu glu hard_sigmoid hard_silu hard_swish hard_tanh leaky_relu log_sigmoid
    log_softmax logsumexp one_hot relu relu6 selu sigmoid silu soft_sign softmax softplus
    standardize swish
""".split()


def test_public_names():
    public = {n for n in dir(nn.activation) if not n.startswith("_")}
    assert public == {*FUNCTIONS, "normalize", "tanh", "PReLU"}


@pytest.mark.parametrize("name", FUNCTIONS)
def test_functions_are_jax_nn(name):
    # The same objects, so results are bit-identical with JAX (and Flax).
    assert getattr(nn.activation, name) is getattr(jax.nn, name)
    assert getattr(nn, name) is getattr(jax.nn, name)


def test_aliases():
    assert nn.normalize is jax.nn.standardize
    assert nn.tanh is jnp.tanh
    assert nn.activation.swish is jax.nn.silu


def test_prelu_variables_and_values():
    x = jnp.array([[-2.0, -0.5, 0.0, 3.0]])
    layer = nn.PReLU()
    variables = layer.init(jax.random.key(0), x)
    slope = variables["params"]["negative_slope"]
    assert slope.shape == () and slope.dtype == jnp.float32
    np.testing.assert_allclose(slope, 0.01)
    np.testing.assert_allclose(layer.apply(variables, x), [[-0.02, -0.005, 0.0, 3.0]], rtol=1e-6)
    learned = {"params": {"negative_slope": jnp.array(-1.0)}}
    np.testing.assert_allclose(layer.apply(learned, x), [[2.0, 0.5, 0.0, 3.0]])


def test_prelu_dtypes():
    variables = nn.PReLU(param_dtype=jnp.bfloat16, negative_slope_init=0.3).init(
        jax.random.key(0), jnp.ones(2)
    )
    assert variables["params"]["negative_slope"].dtype == jnp.bfloat16
    # The output keeps the inputs' dtype, whatever the parameter's.
    assert nn.PReLU().apply(variables, jnp.ones(2)).dtype == jnp.float32
    assert nn.PReLU().apply(variables, jnp.ones(2, jnp.bfloat16)).dtype == jnp.bfloat16
    assert nn.PReLU().apply(variables, jnp.array([-3, 2])).dtype == jnp.int32


def test_prelu_gradients():
    x = jnp.array([-2.0, 0.0, 3.0])
    variables = nn.PReLU().init(jax.random.key(0), x)
    gx = jax.grad(lambda x: nn.PReLU().apply(variables, x).sum())(x)
    np.testing.assert_allclose(gx, [0.01, 1.0, 1.0])  # x == 0 takes the identity branch
    gp = jax.grad(lambda v: nn.PReLU().apply(v, x).sum())(variables)
    np.testing.assert_allclose(gp["params"]["negative_slope"], -2.0)


def test_prelu_repr_and_fields():
    import dataclasses

    fields = [(f.name, f.default) for f in dataclasses.fields(nn.PReLU)]
    assert fields[:2] == [("param_dtype", jnp.float32), ("negative_slope_init", 0.01)]


@pytest.mark.parametrize("module", ["flaxen.layers.activation", "flaxen.layers._prelu"])
def test_doctests(module):
    results = doctest.testmod(
        importlib.import_module(module),
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
    )
    assert results.attempted > 0 and results.failed == 0
