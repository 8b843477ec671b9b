"""dtypes, initializers, activations and pooling of flaxen.linen against flax.linen.

Skipped when flax is not installed (``nox -s compat``).
"""

import dataclasses
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

pytestmark = pytest.mark.compat
pytest.importorskip("flax")

import flax.linen as flax_nn  # noqa: E402
import flax.linen.pooling as flax_pooling  # noqa: E402

from flaxen import linen as nn  # noqa: E402
from flaxen.linen import pooling  # noqa: E402


def _public(module):
    return {n for n in dir(module) if not n.startswith("_")}


def _outcome(fn, *args, **kwargs):
    try:
        result = fn(*args, **kwargs)
    except Exception as error:  # any error is the observation
        return ("error", type(error).__name__, str(error).split("\n-----")[0])
    if isinstance(result, list):
        return ("list", [None if r is None else (r.dtype, np.asarray(r).tolist()) for r in result])
    if isinstance(result, jax.Array):
        return ("array", result.dtype, result.shape, np.asarray(result).tobytes())
    return ("dtype", repr(result))


# -- dtypes ---------------------------------------------------------------------------

DTYPE_ARGS = [
    ((), {}),
    ((None,), {}),
    ((jnp.ones(2, jnp.int32),), {}),
    ((jnp.ones(2, jnp.int32),), {"inexact": False}),
    ((jnp.ones(2, jnp.int8), jnp.ones(2, jnp.bfloat16)), {}),
    ((jnp.ones(2, jnp.float16), jnp.ones(2, jnp.bfloat16)), {}),
    ((1.0,), {}),
    ((1,), {}),
    ((1, 2), {"inexact": False}),
    ((jnp.ones(2, jnp.bool_),), {}),
    ((jnp.ones(2, jnp.complex64),), {}),
    ((jnp.ones(2),), {"dtype": jnp.int32}),
    ((jnp.ones(2),), {"dtype": jnp.int32, "inexact": False}),
    ((jnp.ones(2),), {"dtype": "float16"}),
    ((jnp.ones(2),), {"dtype": "int8"}),
    ((jnp.ones(2),), {"dtype": "notadtype"}),
    ((jnp.ones(2, jnp.float16), 1.0), {}),
    ((jnp.asarray(1.0),), {}),
    ((np.ones(2),), {}),
    (([1.0, 2.0],), {}),
    ((jnp.ones(2), None), {"dtype": jnp.bfloat16}),
    ((jnp.ones(2, jnp.float8_e4m3fn), jnp.ones(2, jnp.bfloat16)), {}),
]


@pytest.mark.parametrize("function", ["canonicalize_dtype", "promote_dtype"])
@pytest.mark.parametrize(("args", "kwargs"), DTYPE_ARGS)
def test_dtypes_same_as_flax(function, args, kwargs):
    expected = _outcome(getattr(flax_nn.dtypes, function), *args, **kwargs)
    actual = _outcome(getattr(nn.dtypes, function), *args, **kwargs)
    assert actual == expected


def test_dtypes_under_x64_same_as_flax():
    with jax.enable_x64(True):
        for args in [(1.0,), (1,), (np.ones(2),), (jnp.ones(2, jnp.int64),)]:
            assert nn.dtypes.canonicalize_dtype(*args) == flax_nn.dtypes.canonicalize_dtype(*args)


def test_dtypes_signatures():
    for name in ("canonicalize_dtype", "promote_dtype"):
        expected = inspect.signature(getattr(flax_nn.dtypes, name)).parameters
        actual = inspect.signature(getattr(nn.dtypes, name)).parameters
        assert [(p.name, p.kind, p.default) for p in actual.values()] == [
            (p.name, p.kind, p.default) for p in expected.values()
        ]


# -- initializers -----------------------------------------------------------------------


def test_initializers_are_the_same_objects():
    names = _public(flax_nn.initializers) - {"Initializer"}
    assert names | {"Initializer"} == _public(nn.initializers)
    for name in names - {"ones_init", "zeros_init"}:
        assert getattr(nn.initializers, name) is getattr(flax_nn.initializers, name), name
    assert nn.initializers.zeros_init() is flax_nn.initializers.zeros_init()
    assert nn.initializers.ones_init() is flax_nn.initializers.ones_init()


# -- activations ------------------------------------------------------------------------


def test_activations_are_the_same_objects():
    from flaxen.layers import _plugin

    for name in _plugin.EXPORTS["activation"]:
        if name != "PReLU":
            assert getattr(nn, name) is getattr(flax_nn, name), name


def test_prelu_fields_variables_and_outputs():
    assert [(f.name, f.default) for f in dataclasses.fields(nn.PReLU)][:2] == [
        (f.name, f.default) for f in dataclasses.fields(flax_nn.PReLU)
    ][:2]
    x = jnp.array([[-2.0, 0.0, 3.0]])
    for kwargs in [{}, {"param_dtype": jnp.bfloat16, "negative_slope_init": 0.3}]:
        expected = flax_nn.PReLU(**kwargs).init(jax.random.key(0), x)
        actual = nn.PReLU(**kwargs).init(jax.random.key(0), x)
        np.testing.assert_array_equal(
            actual["params"]["negative_slope"], expected["params"]["negative_slope"]
        )
        assert (
            actual["params"]["negative_slope"].dtype == expected["params"]["negative_slope"].dtype
        )
        for inputs in (x, x.astype(jnp.bfloat16), jnp.array([-3, 2])):
            y = nn.PReLU().apply(actual, inputs)
            y_flax = flax_nn.PReLU().apply(expected, inputs)
            assert y.dtype == y_flax.dtype
            np.testing.assert_array_equal(y, y_flax)


# -- pooling ---------------------------------------------------------------------------

X = jax.random.normal(jax.random.key(0), (2, 5, 6, 3))

POOL_CALLS = [
    ((2, 2), {}),
    ((2, 2), {"strides": (2, 1)}),
    ((3, 3), {"padding": "SAME"}),
    ((3, 3), {"padding": ((1, 0), (2, 1))}),
    ((3, 3), {"padding": [[1, 0], [2, 1]]}),
    ((3,), {"padding": "SAME"}),
    (2, {}),
    ([2, 2], {}),
    ((2, 2), {"strides": (1,)}),
    ((2, 2, 2, 2), {}),
    ((2, 2), {"padding": "CIRCULAR"}),
    ((2, 2), {"padding": 1}),
    ((2, 2), {"padding": ((1, 1),)}),
    ((2, 2), {"padding": ((1, 1, 1), (1, 1, 1))}),
]


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.int32])
@pytest.mark.parametrize(("window", "kwargs"), POOL_CALLS)
@pytest.mark.parametrize("name", ["max_pool", "avg_pool", "min_pool"])
def test_pooling_same_as_flax(name, window, kwargs, dtype):
    x = X.astype(dtype)
    assert _outcome(getattr(pooling, name), x, window, **kwargs) == _outcome(
        getattr(flax_pooling, name), x, window, **kwargs
    )
    if name == "avg_pool":
        exclude = dict(kwargs, count_include_pad=False)
        assert _outcome(pooling.avg_pool, x, window, **exclude) == _outcome(
            flax_pooling.avg_pool, x, window, **exclude
        )


def test_pooling_unbatched_and_pool_same_as_flax():
    for fn in ("max_pool", "avg_pool"):
        assert _outcome(getattr(pooling, fn), X[0], (2, 2), padding="SAME") == _outcome(
            getattr(flax_pooling, fn), X[0], (2, 2), padding="SAME"
        )
    assert _outcome(nn.pool, X, 1.0, lax.mul, (2, 2), None, "VALID") == _outcome(
        flax_nn.pool, X, 1.0, lax.mul, (2, 2), None, "VALID"
    )


def test_pooling_signatures():
    for name in ("pool", "max_pool", "avg_pool", "min_pool"):
        expected = inspect.signature(getattr(flax_pooling, name)).parameters
        actual = inspect.signature(getattr(pooling, name)).parameters
        assert [(p.name, p.default) for p in actual.values()] == [
            (p.name, p.default) for p in expected.values()
        ]
