"""The Module API: init/apply/bind and every method and property of a Module.

Models are built from small layers defined here (not the flaxen-layers
plugin), and results are checked against numpy/jax computations of the same
maths.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flaxen import linen as nn
from flaxen.errors import ModifyScopeVariableError

KEY = jax.random.key(0)


class Dense(nn.Module):
    features: int
    use_bias: bool = True

    @nn.compact
    def __call__(self, x):
        kernel = self.param(
            "kernel", jax.nn.initializers.lecun_normal(), (x.shape[-1], self.features)
        )
        y = x @ kernel
        if self.use_bias:
            bias = self.param("bias", jax.nn.initializers.normal(), (self.features,))
            y = y + bias.reshape((1,) * (y.ndim - 1) + (-1,))
        return y


def dense(params, x):
    """The maths of ``Dense`` in plain jnp."""
    y = x @ params["kernel"]
    if "bias" in params:
        y = y + params["bias"].reshape((1,) * (y.ndim - 1) + (-1,))
    return y


def shapes(tree):
    return jax.tree_util.tree_map(jnp.shape, tree)


def assert_trees_equal(a, b):
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def assert_trees_close(a, b):
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-6, atol=1e-7)


class AutoEncoder(nn.Module):
    def setup(self):
        self.encoder = Dense(3)
        self.decoder = Dense(5)

    def __call__(self, x):
        return self.decode(self.encode(x))

    def encode(self, x):
        return self.encoder(x)

    def decode(self, z):
        return self.decoder(z)


X5 = jnp.arange(10.0).reshape(2, 5) / 10


@pytest.fixture(scope="module")
def ae_variables():
    return AutoEncoder().init(KEY, X5)


# -- init / init_with_output / apply ---------------------------------------------------


def test_init_returns_plain_dict_of_collections(ae_variables):
    assert type(ae_variables) is dict
    assert shapes(ae_variables) == {
        "params": {
            "decoder": {"bias": (5,), "kernel": (3, 5)},
            "encoder": {"bias": (3,), "kernel": (5, 3)},
        }
    }


def test_apply_computes_the_forward_pass(ae_variables):
    p = ae_variables["params"]
    expected = dense(p["decoder"], dense(p["encoder"], X5))
    np.testing.assert_allclose(AutoEncoder().apply(ae_variables, X5), expected, rtol=1e-6)


def test_init_with_output_is_init_plus_the_output(ae_variables):
    out, variables = AutoEncoder().init_with_output(KEY, X5)
    assert_trees_equal(variables, ae_variables)
    np.testing.assert_array_equal(out, AutoEncoder().apply(ae_variables, X5))


def test_init_is_apply_with_empty_variables_a_params_stream_and_everything_mutable(
    ae_variables,
):
    # The equivalence stated in the Module lifecycle design note.
    _, variables = AutoEncoder().apply({}, X5, rngs={"params": KEY}, mutable=True)
    assert_trees_equal(variables, ae_variables)


def encode_outside(module, x):
    return module.encode(x)


@pytest.mark.parametrize(
    "method",
    [AutoEncoder.encode, "encode", None, encode_outside],
    ids=["function", "name", "bound-method", "external-function"],
)
def test_apply_and_init_with_a_method(ae_variables, method):
    module = AutoEncoder()
    if method is None:
        method = module.encode
    p = ae_variables["params"]
    out = module.apply(ae_variables, X5, method=method)
    np.testing.assert_allclose(out, dense(p["encoder"], X5), rtol=1e-6)
    # init through the method creates only what the method touches.
    variables = module.init(KEY, X5, method=method)
    assert list(variables["params"]) == ["encoder"]
    assert_trees_equal(variables["params"]["encoder"], p["encoder"])


def test_method_of_another_instance_runs_on_the_applied_module(ae_variables):
    other = AutoEncoder()
    a = AutoEncoder().apply(ae_variables, X5, method=other.encode)
    b = AutoEncoder().apply(ae_variables, X5, method="encode")
    np.testing.assert_array_equal(a, b)


def test_kwargs_are_forwarded_to_the_method():
    class Scale(nn.Module):
        def __call__(self, x, *, factor=1.0):
            return x * factor

    assert Scale().apply({}, 2.0, factor=3.0) == 6.0
    out, _ = Scale().init_with_output(KEY, 2.0, factor=4.0)
    assert out == 8.0


class Counter(nn.Module):
    """A stateful module: params, a counter in 'state', a sown value."""

    @nn.compact
    def __call__(self, x):
        count = self.variable("state", "count", lambda: jnp.zeros((), jnp.int32))
        if self.is_mutable_collection("state"):
            count.value += 1
        self.sow("intermediates", "x", x)
        return Dense(2)(x) * count.value


def test_apply_mutable_forms():
    x = jnp.ones((1, 3))
    variables = Counter().init(KEY, x)
    assert set(variables) == {"params", "state"}  # intermediates are not kept by init
    assert variables["state"]["count"] == 1

    out = Counter().apply(variables, x)
    assert isinstance(out, jax.Array)  # mutable=False: the output only

    out, changed = Counter().apply(variables, x, mutable="state")
    assert set(changed) == {"state"} and changed["state"]["count"] == 2

    _, changed = Counter().apply(variables, x, mutable=["state", "intermediates"])
    assert set(changed) == {"state", "intermediates"}
    np.testing.assert_array_equal(changed["intermediates"]["x"][0], x)

    _, changed = Counter().apply(variables, x, mutable=True)
    assert set(changed) == {"params", "state", "intermediates"}
    assert_trees_equal(changed["params"], variables["params"])

    _, changed = Counter().apply(variables, x, mutable=nn.DenyList("params"))
    assert set(changed) == {"state", "intermediates"}


def test_apply_with_immutable_state_raises():
    class Increment(nn.Module):
        @nn.compact
        def __call__(self):
            count = self.variable("state", "count", lambda: 0)
            count.value += 1

    variables = Increment().init(KEY)
    with pytest.raises(ModifyScopeVariableError, match='Cannot update variable "count"'):
        Increment().apply(variables)


class Noisy(nn.Module):
    @nn.compact
    def __call__(self, x, add_noise=False):
        x = Dense(4)(x)
        if add_noise:
            x = x + jax.random.normal(self.make_rng("noise"), x.shape)
        return x


def test_rngs_single_key_and_params_fallback():
    # The Module.apply docstring example.
    x = jnp.ones((1, 7))
    rngs = {"params": jax.random.key(0), "noise": jax.random.key(1)}
    variables = Noisy().init(rngs, x)
    out0 = Noisy().apply(variables, x, add_noise=True, rngs=rngs)
    rngs["noise"] = jax.random.key(0)
    out1 = Noisy().apply(variables, x, add_noise=True, rngs=rngs)
    assert not np.allclose(out0, out1)
    del rngs["noise"]
    out2 = Noisy().apply(variables, x, add_noise=True, rngs=rngs)  # falls back to 'params'
    np.testing.assert_array_equal(out1, out2)
    out3 = Noisy().apply(variables, x, add_noise=True, rngs=jax.random.key(0))
    np.testing.assert_array_equal(out2, out3)
    # The noise is what it adds on top of the deterministic output.
    clean = Noisy().apply(variables, x)
    assert not np.allclose(out3, clean)


def test_init_rngs_single_key_and_fallback():
    # The Module.init docstring example, with a variable drawn from another stream.
    class Foo(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = Dense(4)(x)
            other = self.variable(
                "other_collection",
                "other_variable",
                lambda x: jax.random.normal(self.make_rng("other_rng"), x.shape),
                x,
            )
            return Dense(1)(x + other.value)

    x = jnp.ones((1, 7))
    rngs = {"params": jax.random.key(0), "other_rng": jax.random.key(1)}
    v0 = Foo().init(rngs, x)
    rngs["other_rng"] = jax.random.key(0)
    v1 = Foo().init(rngs, x)
    assert_trees_equal(v0["params"], v1["params"])
    other = ("other_collection", "other_variable")
    assert not np.allclose(v0[other[0]][other[1]], v1[other[0]][other[1]])
    del rngs["other_rng"]
    v2 = Foo().init(rngs, x)
    assert_trees_equal(v1, v2)
    assert_trees_equal(v2, Foo().init(jax.random.key(0), x))


def test_make_rng_falls_back_to_params():
    # The Module.make_rng docstring example.
    class ParamsModule(nn.Module):
        def __call__(self):
            return self.make_rng("params")

    class OtherModule(nn.Module):
        def __call__(self):
            return self.make_rng("other")

    params_out, _ = ParamsModule().init_with_output({"params": KEY})
    other_out, _ = OtherModule().init_with_output({"params": KEY})
    assert params_out == other_out
    assert jnp.issubdtype(params_out.dtype, jax.dtypes.prng_key)


def test_make_rng_returns_a_new_key_each_call_and_the_default_stream_is_params():
    class Two(nn.Module):
        def __call__(self):
            return self.make_rng(), self.make_rng("params")

    (a, b), _ = Two().init_with_output(KEY)
    assert not np.array_equal(jax.random.key_data(a), jax.random.key_data(b))
    (c, _), _ = Two().init_with_output(KEY)
    np.testing.assert_array_equal(jax.random.key_data(a), jax.random.key_data(c))


def test_capture_intermediates_true_records_call_outputs(ae_variables):
    out, state = AutoEncoder().apply(ae_variables, X5, capture_intermediates=True)
    inter = state["intermediates"]
    assert set(state) == {"intermediates"}
    assert set(inter) == {"encoder", "decoder", "__call__"}
    p = ae_variables["params"]
    z = dense(p["encoder"], X5)
    np.testing.assert_allclose(inter["encoder"]["__call__"][0], z, rtol=1e-6)
    np.testing.assert_array_equal(inter["decoder"]["__call__"][0], out)
    np.testing.assert_array_equal(inter["__call__"][0], out)
    # encode/decode are not __call__: not recorded by default.
    assert "encode" not in inter and "decode" not in inter


def test_capture_intermediates_filter(ae_variables):
    _, state = AutoEncoder().apply(
        ae_variables,
        X5,
        capture_intermediates=lambda mdl, method: method == "encode",
        mutable=["intermediates"],
    )
    assert list(state["intermediates"]) == ["encode"]
    _, state = AutoEncoder().apply(
        ae_variables, X5, capture_intermediates=lambda mdl, method: isinstance(mdl, Dense)
    )
    assert set(state["intermediates"]) == {"encoder", "decoder"}


def test_capture_intermediates_filter_sees_setup_and_private_methods():
    class Inner(nn.Module):
        def __call__(self, x):
            return x * 2

        def _plus_one(self, x):
            return x + 1

    class Outer(nn.Module):
        def setup(self):
            self.inner = Inner()

        def __call__(self, x):
            return self.inner(x) + self.inner._plus_one(x) + self._same(x)

        def _same(self, x):
            return x

    _, state = Outer().apply({}, 1.0, capture_intermediates=lambda mdl, method: True)
    assert state["intermediates"] == {
        "__call__": (5.0,),
        "_same": (1.0,),
        "setup": (None,),  # what setup returned
        "inner": {"__call__": (2.0,), "_plus_one": (2.0,)},
    }
    # True still means __call__ only.
    _, state = Outer().apply({}, 1.0, capture_intermediates=True)
    assert state["intermediates"] == {"__call__": (5.0,), "inner": {"__call__": (2.0,)}}


def test_capture_intermediates_in_init_and_with_method(ae_variables):
    variables = AutoEncoder().init(KEY, X5, capture_intermediates=True)
    assert set(variables) == {"params", "intermediates"}
    _, state = AutoEncoder().apply(ae_variables, X5, method="encode", capture_intermediates=True)
    assert list(state["intermediates"]) == ["encoder"]


# -- free functions --------------------------------------------------------------------


def encode_decode(module, x):
    return module.decode(module.encode(x))


def test_free_functions_compose_with_jit(ae_variables):
    module = AutoEncoder()
    # Compiled initializers may differ from eager ones in the last bit.
    variables = jax.jit(nn.init(encode_decode, module))(KEY, X5)
    assert_trees_close(variables, ae_variables)
    out, variables2 = jax.jit(nn.init_with_output(encode_decode, module))(KEY, X5)
    assert_trees_close(variables2, ae_variables)
    applied = jax.jit(nn.apply(encode_decode, module))(variables, X5)
    np.testing.assert_allclose(applied, out, rtol=1e-6)
    np.testing.assert_allclose(applied, module.apply(variables, X5), rtol=1e-6)


def test_free_apply_mutable_and_capture(ae_variables):
    out, state = nn.apply(encode_decode, AutoEncoder(), capture_intermediates=True)(
        ae_variables, X5
    )
    np.testing.assert_array_equal(out, state["intermediates"]["decoder"]["__call__"][0])
    assert set(state["intermediates"]) == {"encoder", "decoder"}
    _, state = nn.apply(lambda m, x: m(x), Counter(), mutable="state")(
        Counter().init(KEY, jnp.ones((1, 3))), jnp.ones((1, 3))
    )
    assert state["state"]["count"] == 2


def test_free_apply_reaches_setup_attributes(ae_variables):
    # The CallSetupUnboundModuleError docs: extract a submodule through nn.apply.
    encoder = nn.apply(lambda m: m.encoder.clone(), AutoEncoder())(ae_variables)
    assert isinstance(encoder, Dense) and encoder.scope is None and encoder.features == 3
    np.testing.assert_allclose(
        encoder.apply({"params": ae_variables["params"]["encoder"]}, X5),
        dense(ae_variables["params"]["encoder"], X5),
        rtol=1e-6,
    )


def test_jitted_init_only_needs_shapes():
    x = jnp.ones((1, 7))
    init_jit = jax.jit(Dense(1).init)
    assert_trees_close(init_jit(KEY, x), Dense(1).init(KEY, x))


# -- lazy_init ---------------------------------------------------------------------------


def test_lazy_init_equals_init_and_takes_shapes():
    spec = jax.ShapeDtypeStruct((1, 5), jnp.float32)
    lazy = AutoEncoder().lazy_init(KEY, spec)
    assert_trees_equal(lazy, AutoEncoder().init(KEY, jnp.ones((1, 5))))
    # init itself cannot run on shapes.
    with pytest.raises(Exception):
        AutoEncoder().init(KEY, spec)


def test_lazy_init_does_not_run_the_forward_computation():
    calls = []

    def observe(x):
        calls.append(1)
        return x

    class Model(nn.Module):
        @nn.compact
        def __call__(self, x):
            y = Dense(3)(x)
            return jax.pure_callback(observe, jax.ShapeDtypeStruct(y.shape, y.dtype), y)

    x = jnp.ones((2, 4))
    variables = Model().lazy_init(KEY, x)
    assert calls == []
    assert_trees_equal(variables, Model().init(KEY, x))
    assert calls == [1]


def test_lazy_init_concrete_arguments_steer_initialization():
    class Model(nn.Module):
        @nn.compact
        def __call__(self, x, extra):
            y = Dense(2)(x)
            if extra:
                y = Dense(2, name="extra")(y)
            return y

    spec = jax.ShapeDtypeStruct((1, 3), jnp.float32)
    assert list(Model().lazy_init(KEY, spec, False)["params"]) == ["Dense_0"]
    assert sorted(Model().lazy_init(KEY, spec, extra=True)["params"]) == ["Dense_0", "extra"]


def test_lazy_init_method_and_mutable():
    spec = jax.ShapeDtypeStruct((1, 5), jnp.float32)
    assert list(AutoEncoder().lazy_init(KEY, spec, method="encode")["params"]) == ["encoder"]
    variables = Counter().lazy_init(KEY, jax.ShapeDtypeStruct((1, 3), jnp.float32))
    assert set(variables) == {"params", "state"}
    assert variables["state"]["count"] == 1


# -- bind / unbind / clone / copy ----------------------------------------------------------


def test_bind_gives_an_interactive_module(ae_variables):
    model = AutoEncoder().bind(ae_variables)
    z = model.encoder(X5)
    p = ae_variables["params"]
    np.testing.assert_allclose(z, dense(p["encoder"], X5), rtol=1e-6)
    np.testing.assert_allclose(model.decoder(z), model(X5), rtol=1e-6)
    assert model.variables == ae_variables
    assert model.encoder.variables == {"params": p["encoder"]}
    assert not model.is_mutable_collection("params")


def test_bind_with_rngs_and_mutable():
    model = Counter().bind({}, rngs={"params": KEY}, mutable=True)
    model(jnp.ones((1, 3)))
    assert model.variables["state"]["count"] == 1
    model(jnp.ones((1, 3)))
    assert model.variables["state"]["count"] == 2
    assert_trees_equal(model.variables["params"], Counter().init(KEY, jnp.ones((1, 3)))["params"])
    assert model.has_rng("params") and not model.has_rng("dropout")


def test_unbind_extracts_a_submodule_and_its_variables(ae_variables):
    encoder, encoder_vars = AutoEncoder().bind(ae_variables).encoder.unbind()
    assert type(encoder) is Dense and encoder.features == 3
    assert encoder.scope is None and encoder.parent is None and encoder.name is None
    assert_trees_equal(encoder_vars, {"params": ae_variables["params"]["encoder"]})
    np.testing.assert_allclose(
        encoder.apply(encoder_vars, X5), dense(ae_variables["params"]["encoder"], X5), rtol=1e-6
    )


def test_unbind_the_root(ae_variables):
    module, variables = AutoEncoder().bind(ae_variables).unbind()
    assert module == AutoEncoder() and module.scope is None
    assert_trees_equal(variables, ae_variables)


def test_clone_is_unbound_with_updates():
    d = Dense(3, use_bias=False, name="d")
    c = d.clone(features=4)
    assert (c.features, c.use_bias, c.name, c.parent, c.scope) == (4, False, "d", None, None)
    assert d.features == 3  # the original is untouched
    assert d.clone(name="other").name == "other"


def test_clone_of_a_bound_module_is_unbound(ae_variables):
    bound = AutoEncoder().bind(ae_variables)
    clone = bound.encoder.clone()
    assert (clone.name, clone.parent, clone.scope) == ("encoder", None, None)
    assert clone == Dense(3, name="encoder")


def test_copy_in_compact_gets_a_new_auto_name_and_the_running_parent():
    class Model(nn.Module):
        @nn.compact
        def __call__(self, x):
            d = Dense(2, name="orig")
            c = d.copy(features=3)
            n = d.copy(name="named")
            assert c.parent is self and c.name == "Dense_0" and c.features == 3
            return d(x), c(x), n(x)

    variables = Model().init(KEY, jnp.ones((1, 2)))
    assert shapes(variables["params"]) == {
        "Dense_0": {"bias": (3,), "kernel": (2, 3)},
        "named": {"bias": (2,), "kernel": (2, 2)},
        "orig": {"bias": (2,), "kernel": (2, 2)},
    }


def test_copy_at_top_level_is_an_unnamed_unbound_copy():
    copy = Dense(2, name="x").copy(features=5)
    assert (copy.name, copy.features, copy.scope) == (None, 5, None)


def test_init_and_apply_leave_the_module_unbound(ae_variables):
    module = AutoEncoder()
    module.init(KEY, X5)
    module.apply(ae_variables, X5)
    assert module.scope is None
    with pytest.raises(AttributeError):
        module.encoder


# -- flags and streams -------------------------------------------------------------------


class Flags(nn.Module):
    @nn.compact
    def __call__(self):
        return (
            self.is_initializing(),
            self.is_mutable_collection("params"),
            self.is_mutable_collection("intermediates"),
            self.is_mutable_collection("batch_stats"),
            self.has_rng("params"),
            self.has_rng("dropout"),
        )


def test_is_initializing_is_mutable_and_has_rng():
    out, _ = Flags().init_with_output({"params": KEY, "dropout": KEY})
    assert out == (True, True, False, True, True, True)
    assert Flags().apply({}, rngs={"dropout": KEY}) == (False, False, False, False, False, True)
    out, _ = Flags().apply({}, mutable=True)
    assert out == (False, True, True, True, False, False)
    out, _ = Flags().apply({}, mutable="batch_stats")
    assert out == (False, False, False, True, False, False)
    assert nn.init_with_output(lambda m: m(), Flags())(KEY)[0][0] is True
    assert nn.apply(lambda m: m(), Flags())({})[0] is False
    bound = Flags().bind({}, rngs={"dropout": KEY}, mutable=["params"])
    assert bound() == (False, True, False, False, False, True)


UNBOUND_CALLS = {
    "variables": lambda m: m.variables,
    "path": lambda m: m.path,
    "is_initializing": lambda m: m.is_initializing(),
    "is_mutable_collection": lambda m: m.is_mutable_collection("params"),
    "has_rng": lambda m: m.has_rng("params"),
    "make_rng": lambda m: m.make_rng("params"),
    "get_variable": lambda m: m.get_variable("params", "w"),
    "put_variable": lambda m: m.put_variable("params", "w", 1),
    "has_variable": lambda m: m.has_variable("params", "w"),
    "sow": lambda m: m.sow("intermediates", "w", 1),
    "perturb": lambda m: m.perturb("w", 1.0),
    "param": lambda m: m.param("w", jax.nn.initializers.ones, ()),
    "variable": lambda m: m.variable("c", "w"),
}


@pytest.mark.parametrize("name", sorted(UNBOUND_CALLS))
def test_state_methods_need_a_bound_module(name):
    with pytest.raises(ValueError, match="on unbound modules"):
        UNBOUND_CALLS[name](Dense(2))


@pytest.mark.parametrize("what", ["param", "variable"])
def test_declarations_outside_setup_and_compact_are_refused(what):
    class Plain(nn.Module):
        def __call__(self):
            if what == "param":
                return self.param("w", jax.nn.initializers.ones, ())
            return self.variable("c", "w", lambda: 1.0).value

    word = "Parameters" if what == "param" else "Variables"
    with pytest.raises(ValueError, match=f"{word} must be initialized in `setup\\(\\)` or in a"):
        Plain().init(KEY)


def test_path(ae_variables):
    bound = AutoEncoder().bind(ae_variables)
    assert bound.path == ()
    assert bound.encoder.path == ("encoder",)

    class Deep(nn.Module):
        @nn.compact
        def __call__(self):
            inner = AutoEncoder()
            return inner.encode(jnp.ones((1, 5))), inner.encoder.path, self.path

    (_, inner_path, path), _ = Deep().init_with_output(KEY)
    assert inner_path == ("AutoEncoder_0", "encoder") and path == ()


def test_setup_triggered_by_attribute_access_in_compact_binds_to_its_module():
    class Deep(nn.Module):
        @nn.compact
        def __call__(self):
            inner = AutoEncoder()
            inner.encoder
            return inner.encoder.path, self.path

    assert Deep().apply({}) == (("AutoEncoder_0", "encoder"), ())


def test_setup_triggered_by_attribute_access_in_setup_parent():
    class Parent(nn.Module):
        def setup(self):
            self.inner = AutoEncoder()

        def __call__(self, x):
            return self.inner.encoder(x)

    variables = Parent().init(KEY, X5)
    assert shapes(variables["params"]) == {"inner": {"encoder": {"bias": (3,), "kernel": (5, 3)}}}


# -- param / variable -------------------------------------------------------------------


def test_param_gets_its_key_from_the_params_stream_and_extra_init_args():
    class P(nn.Module):
        @nn.compact
        def __call__(self):
            a = self.param("a", jax.random.normal, (2,))
            b = self.param("b", lambda key, n, scale=1.0: scale * jnp.arange(n), 3, scale=2.0)
            return a, b

    (a, b), variables = P().init_with_output(KEY)
    np.testing.assert_array_equal(b, [0.0, 2.0, 4.0])
    np.testing.assert_array_equal(variables["params"]["a"], a)
    # Reading an existing parameter returns the stored value, not a new draw.
    (a2, _) = P().apply({"params": {"a": jnp.full(2, 7.0), "b": b}})
    np.testing.assert_array_equal(a2, [7.0, 7.0])


def test_variable_value_reads_and_writes():
    class V(nn.Module):
        @nn.compact
        def __call__(self, x):
            v = self.variable("stats", "sum", jnp.zeros, x.shape)
            before = v.value
            v.value = v.value + x
            return before, v.value

    (before, after), variables = V().init_with_output(KEY, jnp.ones(2))
    np.testing.assert_array_equal(before, [0.0, 0.0])
    np.testing.assert_array_equal(after, [1.0, 1.0])
    (before, after), state = V().apply(variables, jnp.ones(2) * 2, mutable="stats")
    np.testing.assert_array_equal(after, [3.0, 3.0])
    np.testing.assert_array_equal(state["stats"]["sum"], [3.0, 3.0])


def test_variable_without_init_fn_reads_an_existing_variable():
    class V(nn.Module):
        @nn.compact
        def __call__(self):
            return self.variable("stats", "x").value

    assert V().apply({"stats": {"x": 4.0}}) == 4.0


class Boxed(nn.Module):
    @nn.compact
    def __call__(self):
        init = nn.with_partitioning(jax.nn.initializers.ones, ("a", None))
        w = self.param("w", init, (2, 3))
        wb = self.param("wb", init, (2, 3), unbox=False)
        var_init = nn.with_partitioning(jnp.zeros, ("b",))
        v = self.variable("cache", "v", var_init, (4,))
        vb = self.variable("cache", "vb", var_init, (4,), unbox=False)
        return w, wb, v.value, vb.value


def test_param_and_variable_unbox_metadata():
    (w, wb, v, vb), variables = Boxed().init_with_output(KEY)
    assert isinstance(w, jax.Array) and isinstance(v, jax.Array)
    assert isinstance(wb, nn.Partitioned) and wb.names == ("a", None)
    assert isinstance(vb, nn.Partitioned) and vb.names == ("b",)
    # The stored variables keep their boxes either way.
    for col, name in [("params", "w"), ("params", "wb"), ("cache", "v"), ("cache", "vb")]:
        assert isinstance(variables[col][name], nn.Partitioned)
    assert nn.get_partition_spec(variables)["params"]["w"] == jax.sharding.PartitionSpec("a", None)
    unboxed = nn.unbox(variables)
    np.testing.assert_array_equal(unboxed["params"]["w"], np.ones((2, 3)))
    # apply with boxed variables hands unboxed values to the module.
    w2, wb2, _, _ = Boxed().apply(variables)
    assert isinstance(w2, jax.Array) and isinstance(wb2, nn.Partitioned)


# -- get/put/has_variable, sow, perturb ----------------------------------------------------


def test_get_put_has_variable():
    class V(nn.Module):
        @nn.compact
        def __call__(self, x):
            had = self.has_variable("s", "c")
            default = self.get_variable("s", "c", "default")
            self.put_variable("s", "c", x)
            return had, default, self.has_variable("s", "c"), self.get_variable("s", "c")

    out, variables = V().init_with_output(KEY, 1.0)
    assert out == (False, "default", True, 1.0)
    assert variables == {"s": {"c": 1.0}}
    out, state = V().apply({"s": {"c": 5.0}}, 2.0, mutable="s")
    assert out == (True, 5.0, True, 2.0) and state == {"s": {"c": 2.0}}
    with pytest.raises(ModifyScopeVariableError, match='collection "s" is immutable'):
        V().apply({"s": {"c": 5.0}}, 2.0)
    assert V().bind({"s": {"c": 1.0}}).get_variable("s", "missing") is None


def test_sow_appends_to_a_tuple_by_default():
    class Foo(nn.Module):
        @nn.compact
        def __call__(self, x):
            h = Dense(4)(x)
            self.sow("intermediates", "h", h)
            return Dense(2)(h)

    x = jnp.ones((16, 9))
    variables = Foo().init(KEY, x)
    assert set(variables) == {"params"}  # intermediates are immutable during init
    _, state = Foo().apply(variables, x, mutable=["intermediates"])
    (h,) = state["intermediates"]["h"]
    np.testing.assert_allclose(h, dense(variables["params"]["Dense_0"], x), rtol=1e-6)


def test_sow_reduce_and_init_fns_and_return_value():
    class Foo2(nn.Module):
        @nn.compact
        def __call__(self, x):
            init_fn = lambda: 0
            reduce_fn = lambda a, b: a + b
            first = self.sow("intermediates", "h", x, init_fn=init_fn, reduce_fn=reduce_fn)
            second = self.sow("intermediates", "h", x * 2, init_fn=init_fn, reduce_fn=reduce_fn)
            third = self.sow("other", "o", x)
            return first, second, third

    x = jnp.ones((1, 1))
    out, state = Foo2().apply({}, x, mutable=["intermediates"])
    assert out == (True, True, False)
    assert list(state) == ["intermediates"]
    np.testing.assert_array_equal(state["intermediates"]["h"], [[3.0]])
    assert Foo2().apply({}, x) == (False, False, False)
    out, variables = Foo2().init_with_output(KEY, x)
    assert out == (False, False, True)  # init: all but intermediates are mutable
    np.testing.assert_array_equal(variables["other"]["o"][0], x)


def test_sow_accumulates_across_calls_of_a_shared_module():
    class Inner(nn.Module):
        @nn.compact
        def __call__(self, x):
            self.sow("intermediates", "features", x)
            return x + 1

    class Outer(nn.Module):
        @nn.compact
        def __call__(self, x):
            mod = Inner(name="inner")
            return mod(x) + mod(x * 2)

    _, state = Outer().apply({}, jnp.ones(2), mutable="intermediates")
    feats = state["intermediates"]["inner"]["features"]
    assert len(feats) == 2
    np.testing.assert_array_equal(feats[1], [2.0, 2.0])


class Perturbed(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = Dense(3)(x)
        x = self.perturb("dense3", x)
        return Dense(2)(x)


def test_perturb_gives_gradients_of_intermediate_values():
    # The Module.perturb docstring example, checked against the chain rule.
    x = jnp.ones((2, 9))
    y = jnp.ones((2, 2))
    model = Perturbed()
    variables = model.init(KEY, x)
    assert shapes(variables["perturbations"]) == {"dense3": (2, 3)}
    np.testing.assert_array_equal(variables["perturbations"]["dense3"], np.zeros((2, 3)))

    def loss(variables, inputs, targets):
        preds = model.apply(variables, inputs)
        return jnp.square(preds - targets).mean()

    grads = jax.grad(loss)(variables, x, y)
    p = variables["params"]
    h = dense(p["Dense_0"], x)
    preds = dense(p["Dense_1"], h)
    expected = 2 * (preds - y) / preds.size @ p["Dense_1"]["kernel"].T
    np.testing.assert_allclose(grads["perturbations"]["dense3"], expected, rtol=1e-5)
    # Without perturbations the apply is a no-op version with the same output.
    np.testing.assert_array_equal(model.apply({"params": p}, x), model.apply(variables, x))
    no_pert = jax.grad(loss)({"params": p}, x, y)
    assert "perturbations" not in no_pert


def test_perturb_custom_collection():
    class M(nn.Module):
        @nn.compact
        def __call__(self, x):
            return 3 * self.perturb("p", x, collection="mine")

    variables = M().init(KEY, jnp.ones(2))
    assert shapes(variables) == {"mine": {"p": (2,)}}
    grads = jax.grad(lambda v: M().apply(v, jnp.ones(2)).sum())(variables)
    np.testing.assert_array_equal(grads["mine"]["p"], [3.0, 3.0])


# -- module_paths ------------------------------------------------------------------------


def test_module_paths():
    class Foo(nn.Module):
        @nn.compact
        def __call__(self, x):
            h = Dense(4)(x)
            return Dense(2)(h)

    x = jnp.ones((16, 9))
    modules = Foo().module_paths(KEY, x)
    assert {p: type(m).__name__ for p, m in modules.items()} == {
        "": "Foo",
        "Dense_0": "Dense",
        "Dense_1": "Dense",
    }
    assert all(m.scope is None for m in modules.values())
    # Unbound copies, as constructed: not even the name is kept.
    assert all(m.parent is None and m.name is None for m in modules.values())
    assert modules["Dense_1"].features == 2


def test_module_paths_of_a_module_called_twice():
    class Twice(nn.Module):
        @nn.compact
        def __call__(self, x):
            d = Dense(2)
            return d(d(x))

    assert list(Twice().module_paths(KEY, jnp.ones((1, 2)))) == ["", "Dense_0"]
    assert list(Twice().module_paths(KEY, jnp.ones((1, 2)), show_repeated=True)) == [
        "",
        "Dense_0",
    ]


def test_module_paths_leave_out_modules_whose_setup_only_ran():
    class Inner(nn.Module):
        def setup(self):
            self.enc = Dense(4)

        def __call__(self, x):
            return self.enc(x)

    class Outer(nn.Module):
        def setup(self):
            self.inner = Inner()

        def __call__(self, x):
            return self.inner.enc(x)  # runs inner's setup, never inner itself

    assert list(Outer().module_paths(KEY, jnp.ones((1, 2)))) == ["", "inner/enc"]


# -- intercept_methods -------------------------------------------------------------------


class Identity(nn.Module):
    def __call__(self, x):
        return x


def recorder(log, label):
    def interceptor(next_fun, args, kwargs, context):
        log.append(label)
        return next_fun(*args, **kwargs)

    return interceptor


def test_interceptors_run_outermost_first():
    log = []
    with nn.intercept_methods(recorder(log, 1)), nn.intercept_methods(recorder(log, 2)):
        Identity()(jnp.ones(1))
    assert log == [1, 2]


def test_orig_method_skips_the_remaining_interceptors():
    log = []

    def skip(next_fun, args, kwargs, context):
        log.append("skip")
        return context.orig_method(*args, **kwargs)

    with (
        nn.intercept_methods(skip),
        nn.intercept_methods(recorder(log, 1)),
        nn.intercept_methods(recorder(log, 2)),
    ):
        out = Identity()(jnp.ones(1))
    assert log == ["skip"]
    np.testing.assert_array_equal(out, [1.0])


def test_interceptors_change_arguments_and_outputs_and_see_the_context():
    seen = []

    def tenfold(next_fun, args, kwargs, context):
        seen.append((type(context.module).__name__, context.method_name, args, kwargs))
        return next_fun(*(a * 10 for a in args), **kwargs) + 1

    class Scale(nn.Module):
        @nn.compact
        def __call__(self, x, *, offset=0.0):
            return x * self.param("w", jax.nn.initializers.ones, ()) + offset

    with nn.intercept_methods(tenfold):
        out = Scale().apply({"params": {"w": 2.0}}, 1.0, offset=0.5)
    assert out == 1.0 * 10 * 2 + 0.5 + 1
    assert seen == [("Scale", "__call__", (1.0,), {"offset": 0.5})]


def test_interceptors_see_submodule_calls_in_order(ae_variables):
    log = []

    def record(next_fun, args, kwargs, context):
        log.append((type(context.module).__name__, context.method_name))
        return next_fun(*args, **kwargs)

    with nn.intercept_methods(record):
        AutoEncoder().apply(ae_variables, X5)
    calls = [c for c in log if c[1] != "setup"]
    assert calls == [
        ("AutoEncoder", "__call__"),
        ("AutoEncoder", "encode"),
        ("Dense", "__call__"),
        ("AutoEncoder", "decode"),
        ("Dense", "__call__"),
    ]


def test_exceptions_propagate_through_interceptors():
    def raising(next_fun, args, kwargs, context):
        raise KeyError("from interceptor")

    with pytest.raises(KeyError, match="from interceptor"), nn.intercept_methods(raising):
        Identity()(1.0)

    class Fails(nn.Module):
        def __call__(self, x):
            raise ZeroDivisionError("from method")

    seen = []

    def observe(next_fun, args, kwargs, context):
        try:
            return next_fun(*args, **kwargs)
        except ZeroDivisionError as error:
            seen.append(str(error))
            raise

    with pytest.raises(ZeroDivisionError), nn.intercept_methods(observe):
        Fails().apply({}, 1.0)
    assert seen == ["from method"]
    # The interceptor is gone after the block, even after an exception.
    log = []
    Identity()(1.0)
    with nn.intercept_methods(recorder(log, "x")):
        pass
    assert log == []


def test_what_is_not_intercepted():
    log = []

    class Foo(nn.Module):
        features: int = 2

        def __call__(self, x):
            return x

        @nn.nowrap
        def helper(self):
            return 5

    foo = Foo()
    with nn.intercept_methods(recorder(log, "x")):
        foo(1.0)
        foo.helper()
        foo.features
        repr(foo)
        hash(foo)
        foo == Foo()
        Foo()
    assert log == ["x"]


def test_setup_and_private_methods_are_intercepted():
    class S(nn.Module):
        def setup(self):
            self.q = 1

        def helper(self):
            return 2

        def _private(self):
            return 3

        def __call__(self, x):
            return x + self.helper() + self._private()

    log = []

    def record(next_fun, args, kwargs, context):
        log.append(context.method_name)
        return next_fun(*args, **kwargs)

    with nn.intercept_methods(record):
        S().apply({}, 1.0)
    assert log == ["setup", "__call__", "helper", "_private"]


def test_intercepted_method_names_and_setups():
    class Base(nn.Module):
        def setup(self):
            self.a = Dense(2)

    class Child(Base):
        def setup(self):
            super().setup()  # a wrapped method too: intercepted again
            self.b = Dense(2)

        def __mangled(self, x):
            return x

        alias = __mangled

        def __call__(self, x):
            return self.__mangled(x) + self.alias(x)

    log = []

    def record(next_fun, args, kwargs, context):
        log.append((type(context.module).__name__, context.method_name))
        return next_fun(*args, **kwargs)

    with nn.intercept_methods(record):
        Child().init(KEY, jnp.ones((1, 2)))
    # Interceptors see a method's own name; a class without setup has none to see.
    assert log == [
        ("Child", "setup"),
        ("Child", "setup"),
        ("Child", "__call__"),
        ("Child", "__mangled"),
        ("Child", "__mangled"),
    ]
    log.clear()
    with nn.intercept_methods(record):
        # Setup run by an attribute access is intercepted as well.
        Child().bind({"params": {}}).a
    assert log == [("Child", "setup"), ("Child", "setup")]


def test_methods_called_before_super_post_init_run_plainly():
    class Checked(nn.Module):
        n: int = 1

        def __post_init__(self):
            self._check()
            super().__post_init__()

        def _check(self):
            if self.n < 0:
                raise ValueError("negative")

        def __call__(self, x):
            return x * self.n

    assert Checked(2).apply({}, 3.0) == 6.0
    with pytest.raises(ValueError, match=r"^negative$"):
        Checked(-1)


# -- share_scope, Sequential, merge_param --------------------------------------------------


class SharedWrapper(nn.Module):
    def setup(self):
        self.inner = Dense(3)
        nn.share_scope(self, self.inner)

    def __call__(self, x):
        return self.inner(x) + 1


def test_share_scope_puts_the_inner_variables_at_the_wrapper_level():
    x = jnp.ones((1, 2))
    variables = SharedWrapper().init(KEY, x)
    assert shapes(variables) == {"params": {"bias": (3,), "kernel": (2, 3)}}
    # Same keys as the bare layer at the root: same initial values.
    assert_trees_equal(variables, Dense(3).init(KEY, x))
    np.testing.assert_allclose(
        SharedWrapper().apply(variables, x), dense(variables["params"], x) + 1, rtol=1e-6
    )

    class Outer(nn.Module):
        @nn.compact
        def __call__(self, x):
            return SharedWrapper()(x)

    assert shapes(Outer().init(KEY, x)) == {
        "params": {"SharedWrapper_0": {"bias": (3,), "kernel": (2, 3)}}
    }


def test_share_scope_in_a_compact_method():
    class Wrapper(nn.Module):
        @nn.compact
        def __call__(self, x):
            inner = Dense(3, use_bias=False)
            nn.share_scope(self, inner)
            return inner(x) + self.param("b", jax.nn.initializers.zeros, (1, 3))

    assert shapes(Wrapper().init(KEY, jnp.ones((1, 2)))) == {
        "params": {"b": (1, 3), "kernel": (2, 3)}
    }


class Pair(nn.Module):
    def __call__(self, x):
        return x, x * 2


class Add(nn.Module):
    def __call__(self, a, b):
        return a + b


class AsDict(nn.Module):
    def __call__(self, x):
        return {"a": x, "b": 3.0}


class Sub(nn.Module):
    def __call__(self, a, b):
        return a - b


def test_sequential_chains_layers_and_functions():
    model = nn.Sequential([Dense(4), jax.nn.relu, Dense(2)])
    x = jnp.linspace(-1, 1, 6).reshape(2, 3)
    variables = model.init(KEY, x)
    assert sorted(variables["params"]) == ["layers_0", "layers_2"]
    p = variables["params"]
    expected = dense(p["layers_2"], jax.nn.relu(dense(p["layers_0"], x)))
    np.testing.assert_allclose(model.apply(variables, x), expected, rtol=1e-6)


def test_sequential_passes_tuples_as_args_and_dicts_as_kwargs():
    assert nn.Sequential([Pair(), Add()]).apply({}, 1.0) == 3.0
    assert nn.Sequential([AsDict(), Sub()]).apply({}, 1.0) == -2.0
    assert nn.Sequential([lambda x, y: x + y]).apply({}, 1.0, y=2.0) == 3.0


def test_sequential_inside_a_compact_module():
    # Layers built inside a compact method belong to that method's module.
    class Foo(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Sequential([Dense(4), jax.nn.relu, Dense(2)])(x)

    variables = Foo().init(KEY, jnp.ones((1, 3)))
    assert shapes(variables["params"]) == {
        "Dense_0": {"bias": (4,), "kernel": (3, 4)},
        "Dense_1": {"bias": (2,), "kernel": (4, 2)},
    }


def test_sequential_built_in_setup():
    # The modules built for the Sequential in setup are adopted by it.
    class Bar(nn.Module):
        def setup(self):
            self.seq = nn.Sequential([Dense(4), jax.nn.relu, Dense(2)])

        def __call__(self, x):
            return self.seq(x)

    variables = Bar().init(KEY, jnp.ones((1, 3)))
    assert shapes(variables["params"]) == {
        "seq": {
            "layers_0": {"bias": (4,), "kernel": (3, 4)},
            "layers_2": {"bias": (2,), "kernel": (4, 2)},
        }
    }


def test_empty_sequential_is_an_error():
    with pytest.raises(ValueError, match=r"^Empty Sequential module None\."):
        nn.Sequential([]).apply({}, 1.0)
    with pytest.raises(ValueError, match=r"^Empty Sequential module seq\."):
        nn.Sequential([], name="seq").apply({}, 1.0)


def test_merge_param():
    assert nn.merge_param("deterministic", None, True) is True
    assert nn.merge_param("deterministic", False, None) is False
    with pytest.raises(ValueError) as info:
        nn.merge_param("rate", 0.1, 0.2)
    assert str(info.value) == (
        'Parameter "rate" was passed to the constructor and at call time.'
        " Should be passed just once."
    )


def test_merge_param_neither_message():
    with pytest.raises(ValueError) as info:
        nn.merge_param("rate", None, None)
    assert str(info.value) == 'Parameter "rate" must be passed to the constructor or at call time.'


def test_merge_param_in_a_module():
    class MyDropout(nn.Module):
        deterministic: bool | None = None

        @nn.compact
        def __call__(self, x, deterministic=None):
            deterministic = nn.merge_param("deterministic", self.deterministic, deterministic)
            return x if deterministic else x * 0

    assert MyDropout(True).apply({}, 1.0) == 1.0
    assert MyDropout().apply({}, 1.0, deterministic=False) == 0.0
    with pytest.raises(ValueError, match="deterministic"):
        MyDropout(True).apply({}, 1.0, deterministic=True)


# -- named calls -------------------------------------------------------------------------


def _name_stacks(fn, *args):
    # jax caches traces per function object: callers pass a fresh lambda each time.
    jaxpr = jax.make_jaxpr(fn)(*args)
    return [str(eqn.source_info.name_stack) for eqn in jaxpr.jaxpr.eqns]


class Trig(nn.Module):
    def __call__(self, x):
        return jnp.sin(x)

    def other(self, x):
        return jnp.cos(x)


def test_named_call_flag_scopes_module_calls():
    with nn.override_named_call(True):
        assert _name_stacks(lambda x: Trig(name="foo").apply({}, x), 1.0) == ["foo"]
        # Unnamed root modules are scoped by their class name.
        assert _name_stacks(lambda x: Trig().apply({}, x), 1.0) == ["Trig"]
    with nn.override_named_call(False):
        assert _name_stacks(lambda x: Trig(name="foo").apply({}, x), 1.0) == [""]


def test_named_call_scope_of_other_methods():
    with nn.override_named_call(True):
        stacks = _name_stacks(lambda x: Trig(name="foo").apply({}, x, method="other"), 1.0)
    assert stacks == ["foo.other"]


def test_named_call_scopes_of_setup_and_private_methods():
    class Inner(nn.Module):
        def __call__(self, x):
            return jnp.sin(x)

        def other(self, x):
            return jnp.tan(x)

    class Outer(nn.Module):
        def setup(self):
            self.w = self.param("w", lambda key: jnp.exp(jnp.ones(())))
            self.inner = Inner()

        def __call__(self, x):
            return self.inner(x) * self.w + self._helper(x) + self.inner.other(x)

        def _helper(self, x):
            return jnp.cos(x)

    def primitives(fn, *args):
        jaxpr = jax.make_jaxpr(fn)(*args)
        return [(e.primitive.name, str(e.source_info.name_stack)) for e in jaxpr.jaxpr.eqns]

    with nn.override_named_call(True):
        eqns = primitives(lambda x: Outer(name="foo").init(KEY, x), 1.0)
    scopes = {name: stack for name, stack in eqns if name in ("exp", "sin", "cos", "tan")}
    assert scopes == {
        "exp": "foo.setup",
        "sin": "foo/inner",
        "cos": "foo/foo._helper",
        "tan": "foo/inner.other",
    }


def test_override_named_call_restores_the_flag():
    from flaxen import config

    before = config.flaxen_profile
    with nn.override_named_call(not before):
        assert config.flaxen_profile is (not before)
    assert config.flaxen_profile is before
    try:
        nn.disable_named_call()
        assert config.flaxen_profile is False
        nn.enable_named_call()
        assert config.flaxen_profile is True
    finally:
        config.update("flaxen_profile", before)


def test_named_call_wrapper():
    class Forced(nn.Module):
        @nn.named_call
        def __call__(self, x):
            return jnp.cos(x)

    class Optional(nn.Module):
        @functools.partial(nn.named_call, force=False)
        def __call__(self, x):
            return jnp.cos(x)

    with nn.override_named_call(False):
        (forced,) = _name_stacks(lambda x: Forced(name="foo").apply({}, x), 1.0)
        (optional,) = _name_stacks(lambda x: Optional(name="bar").apply({}, x), 1.0)
    assert forced.startswith("foo")  # force=True: named even with named calls off
    assert optional == ""
    with nn.override_named_call(True):
        (optional,) = _name_stacks(lambda x: Optional(name="bar").apply({}, x), 1.0)
    assert optional.startswith("bar/bar")
