"""init, apply, bind and lazy_init: results, validation, and JAX composability."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flaxen import config
from flaxen.core import FrozenDict, apply, bind, freeze, init, lazy_init
from flaxen.errors import (
    ApplyScopeInvalidVariablesStructureError,
    ApplyScopeInvalidVariablesTypeError,
    InvalidRngError,
    LazyInitError,
)

KEY = jax.random.key(0)
X = jnp.arange(6.0).reshape((2, 3))
INVALID_INIT_RNGS = (
    "First argument passed to an init function should be a ``jax.PRNGKey`` or a"
    " dictionary mapping strings to ``jax.PRNGKey``."
)


@functools.partial(jax.jit, static_argnums=1)
def key_init(key, shape):
    """Cheap to compile (unlike jax.random.normal) yet a different value per key."""
    seed = (jax.random.key_data(key)[..., 0] % 10007).astype(jnp.float32)
    size = int(np.prod(shape))
    return jnp.sin(jnp.arange(size, dtype=jnp.float32).reshape(shape) * 0.5 + seed)


def dense(scope, x, features=4):
    kernel = scope.param("kernel", key_init, (x.shape[-1], features))
    bias = scope.param("bias", key_init, (features,))
    return x @ kernel + bias[None]


def counted(scope, x):
    y = scope.child(dense, "Dense_0")(x)
    count = scope.variable("stats", "count", lambda: jnp.zeros((), jnp.int32))
    count.value += 1
    return y


def plain_dense(params, x):
    return x @ params["kernel"] + params["bias"][None]


def test_init_returns_output_and_every_collection():
    y, variables = init(counted)(KEY, X)
    assert set(variables) == {"params", "stats"}
    assert set(variables["params"]["Dense_0"]) == {"kernel", "bias"}
    assert variables["stats"]["count"] == 1
    np.testing.assert_allclose(y, plain_dense(variables["params"]["Dense_0"], X), rtol=1e-6)
    assert type(variables) is dict
    assert type(variables["params"]) is dict


def test_init_and_apply_pass_keyword_arguments():
    y, _ = init(dense)(KEY, X, features=2)
    assert y.shape == (2, 2)
    _, variables = init(dense)(KEY, X, features=2)
    assert apply(dense)(variables, X, features=2).shape == (2, 2)


def test_init_with_restricted_mutable():
    def model(scope):
        scope.variable("stats", "n", lambda: 1)
        scope.variable("cache", "c", lambda: 2)

    _, variables = init(model, mutable=["stats", "cache"])(KEY)
    assert variables == {"stats": {"n": 1}, "cache": {"c": 2}}
    _, variables = init(lambda scope: None)(KEY)
    assert variables == {}


def test_init_sets_the_initializing_flag():
    flags, _ = init(lambda scope: dict(scope.flags), flags={"a": 1})(KEY)
    assert flags == {"a": 1, "initializing": True}
    assert apply(lambda scope: dict(scope.flags), flags={"a": 1})({}) == {"a": 1}
    assert bind({}, flags={"b": 2}).flags == {"b": 2}


def test_apply_results_by_mutable():
    _, variables = init(counted)(KEY, X)
    y = apply(counted, mutable=["stats"])(variables, X)
    assert isinstance(y, tuple)
    out, updated = y
    assert updated == {"stats": {"count": 2}}
    np.testing.assert_allclose(out, plain_dense(variables["params"]["Dense_0"], X), rtol=1e-6)
    out, updated = apply(counted, mutable=True)(variables, X)
    assert set(updated) == {"params", "stats"}
    assert updated["stats"]["count"] == 2
    np.testing.assert_array_equal(
        updated["params"]["Dense_0"]["kernel"], variables["params"]["Dense_0"]["kernel"]
    )
    out, updated = apply(lambda scope, x: x, mutable=[])(variables, X)
    assert updated == {}
    # Without mutable only the output comes back.
    only = apply(dense)({"params": variables["params"]["Dense_0"]}, X)
    assert isinstance(only, jax.Array)


def test_apply_never_mutates_the_callers_variables():
    _, variables = init(counted)(KEY, X)
    params_dict = variables["params"]
    stats_dict = variables["stats"]
    count = variables["stats"]["count"]

    def model(scope, x):
        counted(scope, x)
        scope.variable("stats", "extra", lambda: 5)
        scope.push("Dense_0", reuse=True).put_variable("params", "bias", jnp.zeros(4))
        return None

    _, updated = apply(model, mutable=True)(variables, X)
    assert updated["stats"] == {"count": 2, "extra": 5}
    np.testing.assert_array_equal(updated["params"]["Dense_0"]["bias"], jnp.zeros(4))
    assert variables["params"] is params_dict
    assert variables["stats"] is stats_dict
    assert set(variables["stats"]) == {"count"}
    assert variables["stats"]["count"] is count
    assert not np.array_equal(variables["params"]["Dense_0"]["bias"], jnp.zeros(4))
    # The returned collections are not the caller's dicts either.
    assert updated["stats"] is not stats_dict
    assert updated["params"]["Dense_0"] is not params_dict["Dense_0"]


def test_apply_accepts_frozen_dict_variables():
    _, variables = init(counted)(KEY, X)
    frozen = freeze(variables)
    out, updated = apply(counted, mutable="stats")(frozen, X)
    np.testing.assert_allclose(out, plain_dense(variables["params"]["Dense_0"], X), rtol=1e-6)
    assert updated == {"stats": {"count": 2}}
    assert frozen["stats"]["count"] == 1
    mixed = {"params": FrozenDict(variables["params"]), "stats": variables["stats"]}
    assert apply(counted, mutable="stats")(mixed, X)[1] == {"stats": {"count": 2}}


@pytest.fixture
def frozen_results():
    previous = config.flaxen_return_frozendict
    config.update("flaxen_return_frozendict", True)
    try:
        yield
    finally:
        config.update("flaxen_return_frozendict", previous)


def test_return_frozendict_flag(frozen_results):
    _, variables = init(counted)(KEY, X)
    assert isinstance(variables, FrozenDict)
    assert isinstance(variables["params"], FrozenDict)
    _, updated = apply(counted, mutable="stats")(variables, X)
    assert isinstance(updated, FrozenDict)
    assert updated["stats"]["count"] == 2


def test_results_are_plain_dicts_by_default():
    assert not config.flaxen_return_frozendict
    _, variables = init(counted)(KEY, X)
    _, updated = apply(counted, mutable="stats")(variables, X)
    assert type(variables) is dict and type(updated) is dict


@pytest.mark.parametrize(
    "variables", [[1], "params", {"params": 3}, {1: {}}, {"params": [jnp.ones(2)]}]
)
def test_invalid_variables_type(variables):
    with pytest.raises(ApplyScopeInvalidVariablesTypeError) as info:
        apply(lambda scope: None)(variables)
    assert isinstance(info.value, TypeError)
    assert str(info.value).startswith("The first argument of apply() must be a dict of")


def test_invalid_variables_structure():
    variables = {"params": {"params": {"w": jnp.ones(2)}}}
    with pytest.raises(ApplyScopeInvalidVariablesStructureError) as info:
        apply(lambda scope: None)(variables)
    assert isinstance(info.value, ValueError)
    assert info.value.variables is variables
    assert "extra params layer" in str(info.value)
    with pytest.raises(ApplyScopeInvalidVariablesStructureError):
        apply(lambda scope: None)(freeze(variables))


@pytest.mark.parametrize(
    "rngs", [None, 3, jnp.zeros(3), {"params": 3}, {"params": jnp.zeros(3, jnp.uint32)}]
)
def test_invalid_init_rngs(rngs):
    with pytest.raises(ValueError) as info:
        init(lambda scope: None)(rngs)
    assert str(info.value) == INVALID_INIT_RNGS


@pytest.mark.parametrize("rngs", [3, {"dropout": 3}, {1: KEY}])
def test_invalid_apply_rngs(rngs):
    with pytest.raises(ValueError, match="PRNGKey"):
        apply(lambda scope: None)({}, rngs=rngs)


def test_invalid_apply_rngs_message_names_apply():
    with pytest.raises(ValueError) as info:
        apply(lambda scope: None)({}, rngs=3)
    assert str(info.value) == (
        "The ``rngs`` argument passed to an apply function should be a ``jax.PRNGKey``"
        " or a dictionary mapping strings to ``jax.PRNGKey``."
    )


@pytest.mark.parametrize("rngs", [3, {"params": 3}, KEY])
def test_invalid_bind_rngs(rngs):
    # bind takes a dict only: even a single key is rejected.
    with pytest.raises(InvalidRngError) as info:
        bind({}, rngs=rngs)
    assert str(info.value).startswith(
        "rngs should be a dictionary mapping strings to `jax.PRNGKey`."
    )


def test_init_without_params_stream():
    with pytest.raises(InvalidRngError) as info:
        init(dense)({"dropout": KEY}, X)
    assert str(info.value).startswith('None needs PRNG for "params"')
    # Streams other than params may be missing while nothing draws from them.
    _, variables = init(lambda scope: scope.variable("s", "n", lambda: 1))({"other": KEY})
    assert variables == {"s": {"n": 1}}


def test_bind():
    scope = bind({"params": {"w": 1.0}}, rngs={"params": KEY}, mutable="stats")
    assert scope.get_variable("params", "w") == 1.0
    scope.variable("stats", "n", lambda: 3)
    assert scope.variables() == {"params": {"w": 1.0}, "stats": {"n": 3}}
    assert bind({"params": {"w": 1.0}}).is_mutable_collection("params") is False


# -- composability ------------------------------------------------------------------------


def test_init_and_apply_under_jit():
    y, variables = init(counted)(KEY, X)
    jit_y, jit_variables = jax.jit(init(counted))(KEY, X)
    np.testing.assert_allclose(jit_y, y, rtol=1e-5)
    leaves, jit_leaves = (
        jax.tree_util.tree_leaves(variables),
        jax.tree_util.tree_leaves(jit_variables),
    )
    # XLA may fuse the initializers differently when compiled whole: compare closely.
    for a, b in zip(leaves, jit_leaves):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-8)
    out, updated = jax.jit(apply(counted, mutable="stats"))(variables, X)
    np.testing.assert_allclose(out, y, rtol=1e-5)
    assert updated["stats"]["count"] == 2


def test_grad_of_apply_matches_plain_jax():
    _, variables = init(dense)(KEY, X)
    params = variables["params"]

    def loss(params):
        return jnp.sum(apply(dense)({"params": params}, X) ** 2)

    grads = jax.grad(loss)(params)
    expected = jax.grad(lambda p: jnp.sum(plain_dense(p, X) ** 2))(params)
    y = plain_dense(params, X)
    np.testing.assert_allclose(grads["kernel"], X.T @ (2 * y), rtol=1e-5)
    np.testing.assert_allclose(grads["bias"], jnp.sum(2 * y, axis=0), rtol=1e-5)
    for key in ("kernel", "bias"):
        np.testing.assert_allclose(grads[key], expected[key], rtol=1e-6)


def test_vmap_of_init_and_apply():
    keys = jax.random.split(KEY, 3)
    xs = jnp.stack([X, 2 * X, 3 * X])
    ys, variables = jax.vmap(init(dense))(keys, xs)
    assert variables["params"]["kernel"].shape == (3, 3, 4)
    for i in range(3):
        _, single = init(dense)(keys[i], xs[i])
        np.testing.assert_allclose(
            variables["params"]["kernel"][i], single["params"]["kernel"], rtol=1e-6
        )
        np.testing.assert_allclose(ys[i], plain_dense(single["params"], xs[i]), rtol=1e-5)
    out = jax.vmap(apply(dense))(variables, xs)
    np.testing.assert_allclose(out, ys, rtol=1e-6)


# -- lazy_init ---------------------------------------------------------------------------


def test_lazy_init_gives_the_same_variables_as_init():
    spec = jax.ShapeDtypeStruct(X.shape, X.dtype)
    lazy = lazy_init(counted)(KEY, spec)
    _, eager = init(counted)(KEY, X)
    assert jax.tree_util.tree_structure(lazy) == jax.tree_util.tree_structure(eager)
    for a, b in zip(jax.tree_util.tree_leaves(lazy), jax.tree_util.tree_leaves(eager)):
        np.testing.assert_array_equal(a, b)


def test_lazy_init_runs_no_forward_pass():
    calls = []

    def check(x):
        calls.append(np.asarray(x))
        if not np.all(np.asarray(x)):
            raise ValueError("the forward pass does not accept zeros")

    def model(scope, x):
        y = dense(scope, x)
        jax.debug.callback(check, y)
        return jnp.linalg.inv(y[:, :2])

    spec = jax.ShapeDtypeStruct(X.shape, X.dtype)
    variables = lazy_init(model)(KEY, spec)
    assert calls == []
    assert variables["params"]["kernel"].shape == (3, 4)
    assert variables["params"]["bias"].shape == (4,)
    _, eager = init(model)(KEY, X + 1)
    assert len(calls) == 1
    np.testing.assert_array_equal(variables["params"]["kernel"], eager["params"]["kernel"])


def test_lazy_init_mixes_abstract_and_concrete_inputs():
    def model(scope, x, scale):
        return scope.param("w", lambda key: scale * jnp.ones(x.shape[-1]))[None] * x

    spec = jax.ShapeDtypeStruct((5, 2), jnp.float32)
    variables = lazy_init(model)(KEY, spec, jnp.float32(3.0))
    np.testing.assert_array_equal(variables["params"]["w"], jnp.full((2,), 3.0))


def test_lazy_init_error_when_a_variable_depends_on_an_abstract_value():
    def model(scope, x):
        return scope.param("w", lambda key: x.sum(0))[None] * x

    spec = jax.ShapeDtypeStruct((8, 4), jnp.float32)
    with pytest.raises(LazyInitError) as info:
        lazy_init(model)(KEY, spec)
    assert isinstance(info.value, ValueError)
    assert str(info.value).startswith(
        "Lazy init encountered a value that it cannot compute from the shapes of the inputs"
    )


def test_lazy_init_respects_mutable():
    def model(scope, x):
        scope.variable("stats", "n", lambda: jnp.zeros(()))
        scope.variable("cache", "c", lambda: jnp.ones(()))

    spec = jax.ShapeDtypeStruct((2,), jnp.float32)
    variables = lazy_init(model, mutable=["stats", "cache"])(KEY, spec)
    assert set(variables) == {"stats", "cache"}


def test_lazy_init_keeps_constant_values():
    def model(scope, x):
        scope.variable("s", "n", lambda: 1)
        scope.variable("s", "f", lambda: 2.5)
        scope.variable("s", "a", lambda: jnp.float32(3))

    spec = jax.ShapeDtypeStruct((2,), jnp.float32)
    variables = lazy_init(model)(KEY, spec)["s"]
    assert type(variables["n"]) is int and variables["n"] == 1
    assert type(variables["f"]) is float and variables["f"] == 2.5
    # A concrete float32 value, not an abstract one (which array type holds it
    # depends on the jax version: jax.Array, np.ndarray or a numpy-backed literal).
    assert not isinstance(variables["a"], (jax.ShapeDtypeStruct, jax.core.Tracer))
    assert variables["a"].dtype == jnp.float32 and float(variables["a"]) == 3.0
