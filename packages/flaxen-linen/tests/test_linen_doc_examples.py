"""The examples of the Module API and lifted-transform docs, run with flaxen.

Every example is a function of the ``nn`` module it runs with: here it runs
with ``flaxen.linen`` and checks what the docs claim (and the maths, against
plain jnp); test_linen_doc_examples_compat.py runs the same functions with
flax and flaxen and compares what they return bit for bit (this is where the
outputs the docs print are compared). Examples that need layers of the
flaxen-layers plugin are skipped while those layers are not available.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

KEY = jax.random.key(0)
EXAMPLES = {}


def example(*layers):
    """Registers an example; ``layers`` are the ``nn`` names it needs from plugins."""

    def register(fn):
        EXAMPLES[fn.__name__] = (fn, layers)
        return fn

    return register


def require(nn, names):
    for name in names:
        try:
            getattr(nn, name)
        except (ImportError, AttributeError) as error:
            pytest.skip(f"nn.{name} is not available: {type(error).__name__}: {error}")


def dense(p, x):
    """nn.Dense's maths."""
    y = x @ p["kernel"]
    if "bias" in p:
        y = y + p["bias"].reshape((1,) * (y.ndim - 1) + (-1,))
    return y


def shapes(tree):
    return jax.tree_util.tree_map(jnp.shape, tree)


def close(a, b):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


# -- Module (002) -------------------------------------------------------------------------


@example("Dense", "relu")
def module_class(nn):
    class Module(nn.Module):
        features: tuple[int, ...] = (16, 4)

        def setup(self):
            self.dense1 = nn.Dense(self.features[0])
            self.dense2 = nn.Dense(self.features[1])

        def __call__(self, x):
            return self.dense2(nn.relu(self.dense1(x)))

    x = jnp.linspace(-1, 1, 6).reshape(2, 3)
    y, variables = Module().init_with_output(KEY, x)
    p = variables["params"]
    assert shapes(p) == {
        "dense1": {"bias": (16,), "kernel": (3, 16)},
        "dense2": {"bias": (4,), "kernel": (16, 4)},
    }
    close(y, dense(p["dense2"], jax.nn.relu(dense(p["dense1"], x))))
    return y, variables


@example()
def apply_method_forms(nn):
    class Transformer(nn.Module):
        def encode(self, x): ...

    def other_fn(instance, x):
        instance.encode
        ...

    x = jnp.ones((16, 9))
    model = Transformer()
    variables = model.init(jax.random.key(0), x, method=Transformer.encode)
    assert variables == {}
    for method in (Transformer.encode, model.encode, "encode", other_fn):
        assert model.apply(variables, x, method=method) is None
    return variables


@example("Dense", "relu")
def apply_rngs(nn):
    class Foo(nn.Module):
        @nn.compact
        def __call__(self, x, add_noise=False):
            x = nn.Dense(16)(x)
            x = nn.relu(x)
            if add_noise:
                noise_key = self.make_rng("noise")
                x = x + jax.random.normal(noise_key, x.shape)
            return nn.Dense(1)(x)

    x = jnp.linspace(-1, 1, 7).reshape(1, 7)  # the docs' jnp.empty, made deterministic
    module = Foo()
    rngs = {"params": jax.random.key(0), "noise": jax.random.key(1)}
    variables = module.init(rngs, x)
    out0 = module.apply(variables, x, add_noise=True, rngs=rngs)
    rngs["noise"] = jax.random.key(0)
    out1 = module.apply(variables, x, add_noise=True, rngs=rngs)
    np.testing.assert_raises(AssertionError, np.testing.assert_allclose, out0, out1)
    del rngs["noise"]
    out2 = module.apply(variables, x, add_noise=True, rngs=rngs)
    np.testing.assert_allclose(out1, out2)
    out3 = module.apply(variables, x, add_noise=True, rngs=jax.random.key(0))
    np.testing.assert_allclose(out2, out3)
    return variables, out0, out1, out2, out3


@example("Dense")
def bind_autoencoder(nn):
    class AutoEncoder(nn.Module):
        def setup(self):
            self.encoder = nn.Dense(3)
            self.decoder = nn.Dense(5)

        def __call__(self, x):
            return self.decoder(self.encoder(x))

    x = jnp.ones((16, 9))
    ae = AutoEncoder()
    variables = ae.init(jax.random.key(0), x)
    model = ae.bind(variables)
    z = model.encoder(x)
    x_reconstructed = model.decoder(z)
    p = variables["params"]
    close(z, dense(p["encoder"], x))
    close(x_reconstructed, ae.apply(variables, x))
    return variables, z, x_reconstructed


@example("Dense", "BatchNorm", "relu")
def init_batchnorm(nn):
    class Foo(nn.Module):
        @nn.compact
        def __call__(self, x, train):
            x = nn.Dense(16)(x)
            x = nn.BatchNorm(use_running_average=not train)(x)
            x = nn.relu(x)
            return nn.Dense(1)(x)

    x = jnp.linspace(-1, 1, 7).reshape(1, 7)
    module = Foo()
    variables = module.init(jax.random.key(0), x, train=False)
    assert sorted(variables) == ["batch_stats", "params"]
    assert shapes(variables["batch_stats"]) == {"BatchNorm_0": {"mean": (16,), "var": (16,)}}
    return variables


@example("Dense", "relu")
def init_rngs(nn):
    class Foo(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.Dense(16)(x)
            x = nn.relu(x)
            other_variable = self.variable(
                "other_collection",
                "other_variable",
                lambda x: jax.random.normal(self.make_rng("other_rng"), x.shape),
                x,
            )
            x = x + other_variable.value
            return nn.Dense(1)(x)

    x = jnp.linspace(-1, 1, 7).reshape(1, 7)
    module = Foo()
    rngs = {"params": jax.random.key(0), "other_rng": jax.random.key(1)}
    variables0 = module.init(rngs, x)
    rngs["other_rng"] = jax.random.key(0)
    variables1 = module.init(rngs, x)
    jax.tree_util.tree_map(np.testing.assert_allclose, variables0["params"], variables1["params"])
    other = lambda v: v["other_collection"]["other_variable"]
    np.testing.assert_raises(
        AssertionError, np.testing.assert_allclose, other(variables0), other(variables1)
    )
    del rngs["other_rng"]
    variables2 = module.init(rngs, x)
    jax.tree_util.tree_map(np.testing.assert_allclose, variables1["params"], variables2["params"])
    np.testing.assert_allclose(other(variables1), other(variables2))
    variables3 = module.init(jax.random.key(0), x)
    jax.tree_util.tree_map(np.testing.assert_allclose, variables2["params"], variables3["params"])
    np.testing.assert_allclose(other(variables2), other(variables3))
    return variables0, variables1


@example("Dense")
def init_jit(nn):
    x = jnp.linspace(-1, 1, 7).reshape(1, 7)
    module = nn.Dense(1)
    init_jit = jax.jit(module.init)
    variables = init_jit(jax.random.key(0), x)
    jax.tree_util.tree_map(close, variables, module.init(jax.random.key(0), x))
    return variables


@example("Dense")
def lazy_init(nn):
    model = nn.Dense(features=256)
    variables = model.lazy_init(jax.random.key(0), jax.ShapeDtypeStruct((1, 128), jnp.float32))
    assert shapes(variables) == {"params": {"bias": (256,), "kernel": (128, 256)}}
    return variables


@example()
def make_rng_fallback(nn):
    class ParamsModule(nn.Module):
        def __call__(self):
            return self.make_rng("params")

    class OtherModule(nn.Module):
        def __call__(self):
            return self.make_rng("other")

    key = jax.random.key(0)
    params_out, _ = ParamsModule().init_with_output({"params": key})
    other_out, _ = OtherModule().init_with_output({"params": key})
    assert params_out == other_out
    return jax.random.key_data(params_out)


@example("Dense")
def module_paths(nn):
    class Foo(nn.Module):
        @nn.compact
        def __call__(self, x):
            h = nn.Dense(4)(x)
            return nn.Dense(2)(h)

    x = jnp.ones((16, 9))
    modules = Foo().module_paths(jax.random.key(0), x)
    printed = {p: type(m).__name__ for p, m in modules.items()}
    assert printed == {"": "Foo", "Dense_0": "Dense", "Dense_1": "Dense"}
    return printed


@example("Dense", "initializers")
def param_shapes(nn):
    class Foo(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.Dense(4)(x)
            mean = self.param("mean", nn.initializers.lecun_normal(), x.shape)
            return x * mean

    variables = Foo().init(
        {"params": jax.random.key(0), "stats": jax.random.key(1)}, jnp.ones((2, 3))
    )
    printed = jax.tree_util.tree_map(jnp.shape, variables)
    assert printed == {"params": {"Dense_0": {"bias": (4,), "kernel": (3, 4)}, "mean": (2, 4)}}
    return variables


@example("Dense", "initializers")
def variable_shapes(nn):
    class Foo(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.Dense(4)(x)
            key = self.make_rng("stats")
            mean = self.variable("stats", "mean", nn.initializers.lecun_normal(), key, x.shape)
            return x * mean.value

    variables = Foo().init(
        {"params": jax.random.key(0), "stats": jax.random.key(1)}, jnp.ones((2, 3))
    )
    printed = jax.tree_util.tree_map(jnp.shape, variables)
    assert printed == {
        "params": {"Dense_0": {"bias": (4,), "kernel": (3, 4)}},
        "stats": {"mean": (2, 4)},
    }
    return variables


@example("Dense")
def perturb(nn):
    class Foo(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.Dense(3)(x)
            x = self.perturb("dense3", x)
            return nn.Dense(2)(x)

    def loss(variables, inputs, targets):
        preds = model.apply(variables, inputs)
        return jnp.square(preds - targets).mean()

    x = jnp.ones((2, 9))
    y = jnp.ones((2, 2))
    model = Foo()
    variables = model.init(jax.random.key(0), x)
    intm_grads = jax.grad(loss, argnums=0)(variables, x, y)
    p = variables["params"]
    preds = dense(p["Dense_1"], dense(p["Dense_0"], x))
    close(
        intm_grads["perturbations"]["dense3"],
        2 * (preds - y) / preds.size @ p["Dense_1"]["kernel"].T,
    )
    out = model.apply(variables, x)
    out_no_perturbations = model.apply({"params": variables["params"]}, x)
    np.testing.assert_array_equal(out, out_no_perturbations)
    close(out, preds)
    intm_grads2 = jax.grad(loss, argnums=0)({"params": variables["params"]}, x, y)
    assert "perturbations" not in intm_grads2
    return intm_grads, out


@example("Dense")
def sow(nn):
    class Foo(nn.Module):
        @nn.compact
        def __call__(self, x):
            h = nn.Dense(4)(x)
            self.sow("intermediates", "h", h)
            return nn.Dense(2)(h)

    x = jnp.ones((16, 9))
    model = Foo()
    variables = model.init(jax.random.key(0), x)
    y, state = model.apply(variables, x, mutable=["intermediates"])
    (h,) = state["intermediates"]["h"]
    close(h, dense(variables["params"]["Dense_0"], x))
    close(y, dense(variables["params"]["Dense_1"], h))

    class Foo2(nn.Module):
        @nn.compact
        def __call__(self, x):
            init_fn = lambda: 0
            reduce_fn = lambda a, b: a + b
            self.sow("intermediates", "h", x, init_fn=init_fn, reduce_fn=reduce_fn)
            self.sow("intermediates", "h", x * 2, init_fn=init_fn, reduce_fn=reduce_fn)
            return x

    x = jnp.ones((1, 1))
    model = Foo2()
    variables2 = model.init(jax.random.key(0), x)
    y2, state2 = model.apply(variables2, x, mutable=["intermediates"])
    np.testing.assert_array_equal(y2, x)
    np.testing.assert_array_equal(state2["intermediates"]["h"], [[3.0]])
    return state, state2


@example("Dense")
def unbind(nn):
    class Encoder(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Dense(256)(x)

    class Decoder(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Dense(784)(x)

    class AutoEncoder(nn.Module):
        def setup(self):
            self.encoder = Encoder()
            self.decoder = Decoder()

        def __call__(self, x):
            return self.decoder(self.encoder(x))

    module = AutoEncoder()
    variables = module.init(jax.random.key(0), jnp.ones((1, 784)))
    encoder, encoder_vars = module.bind(variables).encoder.unbind()
    assert type(encoder).__name__ == "Encoder" and encoder.scope is None
    assert shapes(encoder_vars) == {"params": {"Dense_0": {"bias": (256,), "kernel": (784, 256)}}}
    return encoder_vars


@example()
def free_functions(nn):
    class Foo(nn.Module):
        def encode(self, x): ...

        def decode(self, x): ...

    def f(foo, x):
        z = foo.encode(x)
        return foo.decode(z)

    foo = Foo()
    assert jax.jit(nn.apply(f, foo))({}, jnp.ones((1, 3))) is None
    variables = jax.jit(nn.init(f, foo))(jax.random.key(0), jnp.ones((1, 3)))
    y, variables2 = jax.jit(nn.init_with_output(f, foo))(jax.random.key(0), jnp.ones((1, 3)))
    assert variables == {} and variables2 == {} and y is None
    return variables


@example()
def intercept_methods(nn):
    printed = []

    class Foo(nn.Module):
        def __call__(self, x):
            return x

    def my_interceptor1(next_fun, args, kwargs, context):
        printed.append("calling my_interceptor1")
        return next_fun(*args, **kwargs)

    def my_interceptor2(next_fun, args, kwargs, context):
        printed.append("calling my_interceptor2")
        return next_fun(*args, **kwargs)

    def my_interceptor3(next_fun, args, kwargs, context):
        printed.append("calling my_interceptor3")
        return context.orig_method(*args, **kwargs)

    foo = Foo()
    with nn.intercept_methods(my_interceptor1):
        _ = foo(jnp.ones([1]))
    with nn.intercept_methods(my_interceptor1), nn.intercept_methods(my_interceptor2):
        _ = foo(jnp.ones([1]))
    with (
        nn.intercept_methods(my_interceptor3),
        nn.intercept_methods(my_interceptor1),
        nn.intercept_methods(my_interceptor2),
    ):
        _ = foo(jnp.ones([1]))
    assert printed == [
        "calling my_interceptor1",
        "calling my_interceptor1",
        "calling my_interceptor2",
        "calling my_interceptor3",
    ]
    return printed


# -- transformations (004) -------------------------------------------------------------------


@example("Dense")
def vmap_batch_dense(nn):
    x = jnp.linspace(-1, 1, 12).reshape(4, 3)
    mapped = nn.vmap(
        nn.Dense, in_axes=0, out_axes=0, variable_axes={"params": 0}, split_rngs={"params": True}
    )
    shared = nn.vmap(
        nn.Dense,
        in_axes=0,
        out_axes=0,
        variable_axes={"params": None},
        split_rngs={"params": False},
    )
    y1, v1 = mapped(2).init_with_output(KEY, x)
    y2, v2 = shared(2).init_with_output(KEY, x)
    assert shapes(v1) == {"params": {"bias": (4, 2), "kernel": (4, 3, 2)}}
    assert shapes(v2) == {"params": {"bias": (2,), "kernel": (3, 2)}}
    close(y1, jax.vmap(dense)(v1["params"], x))
    close(y2, dense(v2["params"], x))
    return y1, v1, y2, v2


@example("LSTMCell")
def scan_lstm(nn):
    class LSTM(nn.Module):
        features: int

        @nn.compact
        def __call__(self, x):
            ScanLSTM = nn.scan(
                nn.LSTMCell,
                variable_broadcast="params",
                split_rngs={"params": False},
                in_axes=1,
                out_axes=1,
            )
            lstm = ScanLSTM(self.features)
            input_shape = x[:, 0].shape
            carry = lstm.initialize_carry(jax.random.key(0), input_shape)
            carry, x = lstm(carry, x)
            return x

    class LSTMFn(nn.Module):
        features: int

        @nn.compact
        def __call__(self, x):
            cell = nn.LSTMCell(self.features)

            def body_fn(cell, carry, x):
                carry, y = cell(carry, x)
                return carry, y

            scan = nn.scan(
                body_fn,
                variable_broadcast="params",
                split_rngs={"params": False},
                in_axes=1,
                out_axes=1,
            )
            input_shape = x[:, 0].shape
            carry = cell.initialize_carry(jax.random.key(0), input_shape)
            carry, x = scan(cell, carry, x)
            return x

    x = jnp.ones((4, 12, 7))
    y, variables = LSTM(features=32).init_with_output(jax.random.key(0), x)
    assert y.shape == (4, 12, 32)
    assert list(variables["params"]) == ["ScanLSTMCell_0"]
    y_fn, variables_fn = LSTMFn(features=32).init_with_output(jax.random.key(0), x)
    assert y_fn.shape == (4, 12, 32) and list(variables_fn["params"]) == ["LSTMCell_0"]
    return y, variables, y_fn, variables_fn


@example("Dense", "relu")
def scan_residual_mlp(nn):
    class ResidualMLPBlock(nn.Module):
        @nn.compact
        def __call__(self, x, _):
            h = nn.Dense(features=2)(x)
            h = nn.relu(h)
            return x + h, None

    class ResidualMLP(nn.Module):
        n_layers: int = 4

        @nn.compact
        def __call__(self, x):
            ScanMLP = nn.scan(
                ResidualMLPBlock,
                variable_axes={"params": 0},
                variable_broadcast=False,
                split_rngs={"params": True},
                length=self.n_layers,
            )
            x, _ = ScanMLP()(x, None)
            return x

    model = ResidualMLP(n_layers=4)
    x = jnp.ones((1, 2))
    y, variables = model.init_with_output(jax.random.key(42), x)
    p = variables["params"]["ScanResidualMLPBlock_0"]["Dense_0"]
    ref = x
    for i in range(4):
        ref = ref + jax.nn.relu(dense(jax.tree_util.tree_map(lambda a: a[i], p), ref))
    close(y, ref)
    return y, variables


@example("Dense", "relu")
def checkpoint_mlp(nn):
    class CheckpointedMLP(nn.Module):
        @nn.checkpoint
        @nn.compact
        def __call__(self, x):
            x = nn.Dense(128)(x)
            x = nn.relu(x)
            x = nn.Dense(1)(x)
            return x

    model = CheckpointedMLP()
    x = jnp.ones((1, 16))
    variables = model.init(jax.random.key(0), x)
    p = variables["params"]
    y = model.apply(variables, x)
    close(y, dense(p["Dense_1"], jax.nn.relu(dense(p["Dense_0"], x))))
    grads = jax.grad(lambda v: model.apply(v, x).sum())(variables)
    return variables, y, grads


@example("Dense")
def remat_scan(nn):
    class BigModel(nn.Module):
        @nn.compact
        def __call__(self, x):
            DenseStack = nn.remat_scan(nn.Dense, lengths=(10, 10))
            return DenseStack(8, name="dense_stack")(x)

    x = jnp.linspace(-1, 1, 8).reshape(1, 8) / 10
    y, variables = BigModel().init_with_output(KEY, x)
    p = variables["params"]["dense_stack"]
    assert shapes(p) == {"bias": (10, 10, 8), "kernel": (10, 10, 8, 8)}
    ref = x
    for i in range(10):
        for j in range(10):
            ref = dense(jax.tree_util.tree_map(lambda a: a[i, j], p), ref)
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-6)
    return y, variables


@example("Dense")
def map_variables_causal(nn):
    class CausalDense(nn.Module):
        features: int

        def apply_mask(self, variables):
            return (
                jax.tree_util.tree_map(jnp.triu, variables)
                if not self.is_initializing()
                else variables
            )

        def setup(self):
            _CausalDense = nn.map_variables(
                nn.Dense, "params", self.apply_mask, init=self.is_initializing()
            )
            self.dense = _CausalDense(features=self.features, use_bias=False)

        def __call__(self, x):
            return self.dense(x)

    module = CausalDense(features=5)
    x = jnp.linspace(-1, 1, 5).reshape(1, 5)
    variables = module.init(jax.random.key(0), jnp.ones((1, 5)))
    kernel = variables["params"]["dense"]["kernel"]
    y = module.apply(variables, x)
    close(y, x @ jnp.triu(kernel))
    return variables, y


@example("initializers")
def jvp(nn):
    class LearnScale(nn.Module):
        @nn.compact
        def __call__(self, x):
            # The docs use the private nn.initializers._init(); any scalar init does here.
            p = self.param("test", nn.initializers.normal(), ())
            return p * x

    class Foo(nn.Module):
        @nn.compact
        def __call__(self, x):
            scale = LearnScale()
            vars_t = jax.tree_util.tree_map(jnp.ones_like, scale.variables.get("params", {}))
            _, out_t = nn.jvp(
                lambda mdl, x: mdl(x),
                scale,
                (x,),
                (jnp.zeros_like(x),),
                variable_tangents={"params": vars_t},
            )
            return out_t

    x = jnp.arange(3.0)
    # During init LearnScale has no variables yet, so the variable tangents are empty.
    init_t, variables = Foo().init_with_output(KEY, x)
    close(init_t, jnp.zeros(3))
    out_t = Foo().apply(variables, x)
    close(out_t, x)  # d/dp (p * x) = x
    return init_t, out_t, variables


@example("initializers")
def vjp(nn):
    class LearnScale(nn.Module):
        @nn.compact
        def __call__(self, x, y):
            p = self.param("scale", nn.initializers.zeros_init(), ())
            return p * x * y

    class Foo(nn.Module):
        @nn.compact
        def __call__(self, x, y):
            z, bwd = nn.vjp(lambda mdl, x, y: mdl(x, y), LearnScale(), x, y)
            params_grad, x_grad, y_grad = bwd(jnp.ones(z.shape))
            return z, params_grad, x_grad, y_grad

    x, y = jnp.arange(3.0), jnp.full(3, 2.0)
    variables = Foo().init(KEY, x, y)
    z, params_grad, x_grad, y_grad = Foo().apply(variables, x, y)
    close(z, jnp.zeros(3))
    close(params_grad["params"]["scale"], jnp.sum(x * y))
    close(x_grad, jnp.zeros(3))
    close(y_grad, jnp.zeros(3))
    return z, params_grad, x_grad, y_grad


@example("Dense")
def custom_vjp(nn):
    class Foo(nn.Module):
        @nn.compact
        def __call__(self, x):
            def f(mdl, x):
                return mdl(x)

            def fwd(mdl, x):
                return nn.vjp(f, mdl, x)

            def bwd(vjp_fn, y_t):
                params_t, *inputs_t = vjp_fn(y_t)
                params_t = jax.tree_util.tree_map(jnp.sign, params_t)
                return (params_t, *inputs_t)

            sign_grad = nn.custom_vjp(f, forward_fn=fwd, backward_fn=bwd)
            return sign_grad(nn.Dense(1), x).reshape(())

    x = jnp.ones((2,))
    variables = Foo().init(jax.random.key(0), x)
    grad = jax.grad(Foo().apply)(variables, x)
    p = variables["params"]["Dense_0"]
    true_grad = jax.grad(lambda p: dense(p, x).reshape(()))(p)
    jax.tree_util.tree_map(lambda g, t: close(g, jnp.sign(t)), grad["params"]["Dense_0"], true_grad)
    return grad


@example("Dense")
def while_loop(nn):
    class WhileLoopExample(nn.Module):
        @nn.compact
        def __call__(self, x):
            def cond_fn(mdl, c):
                return mdl.variables["state"]["acc"] < 10

            def body_fn(mdl, c):
                acc = mdl.variable("state", "acc", lambda: jnp.array(0))
                acc.value += 1
                y = nn.Dense(c.shape[-1])(c)
                return y

            c = x
            if self.is_mutable_collection("params"):
                return body_fn(self, c)
            return nn.while_loop(cond_fn, body_fn, self, c, carry_variables="state")

    k = jax.random.key(0)
    x = jnp.ones((2, 2))
    initial_vars = WhileLoopExample().init(k, x)
    result, state = WhileLoopExample().apply(initial_vars, x, mutable=["state"])
    assert state["state"]["acc"] == 10
    p = initial_vars["params"]["Dense_0"]
    ref = x
    for _ in range(9):
        ref = dense(p, ref)
    np.testing.assert_allclose(result, ref, rtol=1e-4)
    return initial_vars, result, state


@example("Dense")
def cond(nn):
    class CondExample(nn.Module):
        @nn.compact
        def __call__(self, x, pred):
            self.variable("state", "true_count", lambda: 0)
            self.variable("state", "false_count", lambda: 0)

            def true_fn(mdl, x):
                mdl.variable("state", "true_count").value += 1
                return nn.Dense(2, name="dense")(x)

            def false_fn(mdl, x):
                mdl.variable("state", "false_count").value += 1
                return -nn.Dense(2, name="dense")(x)

            return nn.cond(pred, true_fn, false_fn, self, x)

    x = jnp.ones((1, 3))
    variables = CondExample().init(KEY, x, True)
    out, state = CondExample().apply(variables, x, False, mutable="state")
    close(out, -dense(variables["params"]["dense"], x))
    assert (state["state"]["true_count"], state["state"]["false_count"]) == (1, 1)
    return variables, out, state


@example("Dense")
def switch(nn):
    class SwitchExample(nn.Module):
        @nn.compact
        def __call__(self, x, index):
            self.variable("state", "a_count", lambda: 0)
            self.variable("state", "b_count", lambda: 0)
            self.variable("state", "c_count", lambda: 0)

            def a_fn(mdl, x):
                mdl.variable("state", "a_count").value += 1
                return nn.Dense(2, name="dense")(x)

            def b_fn(mdl, x):
                mdl.variable("state", "b_count").value += 1
                return -nn.Dense(2, name="dense")(x)

            def c_fn(mdl, x):
                mdl.variable("state", "c_count").value += 1
                return nn.Dense(2, name="dense")(x)

            return nn.switch(index, [a_fn, b_fn, c_fn], self, x)

    x = jnp.ones((1, 3))
    variables = SwitchExample().init(KEY, x, 0)
    out, state = SwitchExample().apply(variables, x, 1, mutable="state")
    close(out, -dense(variables["params"]["dense"], x))
    assert [state["state"][k] for k in ("a_count", "b_count", "c_count")] == [1, 1, 0]
    return variables, out, state


@example("Dense", "Sequential")
def switch_multi_head(nn):
    class MultiHeadSwitchExample(nn.Module):
        def setup(self) -> None:
            self.heads = [
                nn.Sequential([nn.Dense(10), nn.Dense(7), nn.Dense(5)]),
                nn.Sequential([nn.Dense(11), nn.Dense(5)]),
                nn.Dense(5),
            ]

        @nn.compact
        def __call__(self, x, index):
            def head_fn(i):
                return lambda mdl, x: mdl.heads[i](x)

            branches = [head_fn(i) for i in range(len(self.heads))]
            if self.is_mutable_collection("params"):
                for branch in branches:
                    _ = branch(self, x)
            return nn.switch(index, branches, self, x)

    x = jnp.ones((1, 3))
    variables = MultiHeadSwitchExample().init(KEY, x, 0)
    assert sorted(variables["params"]) == ["heads_0", "heads_1", "heads_2"]
    outs = [MultiHeadSwitchExample().apply(variables, x, i) for i in range(3)]
    close(outs[2], dense(variables["params"]["heads_2"], x))
    return variables, outs


# -- guides (003) -------------------------------------------------------------------------------


@example("Dense", "relu")
def setup_or_compact(nn):
    class SetupMLP(nn.Module):
        def setup(self):
            self.dense1 = nn.Dense(32)
            self.dense2 = nn.Dense(32)

        def __call__(self, x):
            x = self.dense1(x)
            x = nn.relu(x)
            return self.dense2(x)

    class CompactMLP(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.Dense(32, name="dense1")(x)
            x = nn.relu(x)
            return nn.Dense(32, name="dense2")(x)

    x = jnp.linspace(-1, 1, 8).reshape(2, 4)
    y1, v1 = SetupMLP().init_with_output(KEY, x)
    close(y1, dense(v1["params"]["dense2"], jax.nn.relu(dense(v1["params"]["dense1"], x))))
    y2, v2 = CompactMLP().init_with_output(KEY, x)
    # "exactly the same functionality": same variables, same outputs.
    jax.tree_util.tree_map(np.testing.assert_array_equal, v1, v2)
    np.testing.assert_array_equal(y1, y2)
    return y1, v1


@example("Dense", "relu", "initializers")
def lifecycle_mlps(nn):
    class MLP(nn.Module):
        hidden_size: int
        out_size: int

        def setup(self):
            self.hidden = nn.Dense(self.hidden_size)
            self.out = nn.Dense(self.out_size)

        def __call__(self, x):
            a = self.hidden(x)
            h = nn.relu(a)
            return self.out(h)

    class CompactScaledMLP(nn.Module):
        hidden_size: int
        out_size: int

        @nn.compact
        def __call__(self, x):
            scale = self.param("scale", nn.initializers.ones_init(), x.shape[-1:])
            x *= scale[None]
            a = nn.Dense(self.hidden_size)(x)
            h = nn.relu(a)
            return nn.Dense(self.out_size)(h)

    mlp = MLP(hidden_size=5, out_size=3)
    x = jnp.ones((1, 2))
    variables = mlp.init(jax.random.key(0), x)
    y = mlp.apply(variables, x)
    # init is apply with empty variables, a params stream and everything mutable.
    _, variables2 = mlp.apply({}, x, rngs={"params": jax.random.key(0)}, mutable=True)
    jax.tree_util.tree_map(np.testing.assert_array_equal, variables, variables2)
    scaled = CompactScaledMLP(5, 3).init(jax.random.key(0), x)
    assert sorted(scaled["params"]) == ["Dense_0", "Dense_1", "scale"]
    return variables, y, scaled


@example("Dense", "relu")
def lifted_vmap_mlp(nn):
    class MLP(nn.Module):
        @nn.compact
        def __call__(self, xs):
            h = nn.Dense(4, name="hidden")(xs)
            h = nn.relu(h)
            return nn.Dense(1, name="out")(h)

    class ManualVmapMLP(nn.Module):
        @nn.compact
        def __call__(self, xs):
            mlp = MLP(parent=None)
            init_fn = lambda rng, xs: jax.vmap(mlp.init, in_axes=0)(
                jax.random.split(rng, xs.shape[0]), xs
            )["params"]
            apply_fn = jax.vmap(mlp.apply, in_axes=0)
            mlp_params = self.param("mlp", init_fn, xs)
            return apply_fn({"params": mlp_params}, xs)

    class LinenVmapMLP(nn.Module):
        @nn.compact
        def __call__(self, xs):
            VmapMLP = nn.vmap(
                MLP, variable_axes={"params": 0}, split_rngs={"params": True}, in_axes=0
            )
            return VmapMLP(name="mlp")(xs)

    xs = jnp.ones((3, 4))
    manual = ManualVmapMLP().init(jax.random.key(0), xs)
    linen = LinenVmapMLP().init(jax.random.key(0), xs)
    expected = {
        "mlp": {
            "hidden": {"bias": (3, 4), "kernel": (3, 4, 4)},
            "out": {"bias": (3, 1), "kernel": (3, 4, 1)},
        }
    }
    assert shapes(manual["params"]) == expected
    assert shapes(linen["params"]) == expected
    y = LinenVmapMLP().apply(linen, xs)
    close(y, ManualVmapMLP().apply(linen, xs))
    return manual, linen, y


@example("Dense", "BatchNorm", "relu")
def lifted_vmap_batchnorm(nn):
    class StatefulMLP(nn.Module):
        @nn.compact
        def __call__(self, x, *, train):
            h = nn.Dense(4, name="hidden")(x)
            h = nn.BatchNorm(axis_name="batch")(h, use_running_average=not train)
            h = nn.relu(h)
            return nn.Dense(1, name="out")(h)

    class LinenStatefulVmapMLP(nn.Module):
        @nn.compact
        def __call__(self, xs, *, train):
            VmapMLP = nn.vmap(
                StatefulMLP,
                variable_axes={"params": 0, "batch_stats": 0},
                split_rngs={"params": True},
                in_axes=0,
                axis_name="batch",
            )
            return VmapMLP(name="mlp")(xs, train=train)

    xs = jnp.linspace(-1, 1, 12).reshape(3, 4)
    variables = LinenStatefulVmapMLP().init(jax.random.key(0), xs, train=False)
    assert shapes(variables["batch_stats"]) == {
        "mlp": {"BatchNorm_0": {"mean": (3, 4), "var": (3, 4)}}
    }
    y, state = LinenStatefulVmapMLP().apply(variables, xs, train=True, mutable=["batch_stats"])
    return variables, y, state


@example("Dropout", "Dense")
def merge_param_dropout(nn):
    class MyDropout(nn.Module):
        drop_rate: float
        deterministic: bool | None = None

        @nn.compact
        def __call__(self, x, deterministic=None):
            deterministic = nn.merge_param("deterministic", self.deterministic, deterministic)
            return nn.Dropout(self.drop_rate, deterministic=deterministic)(x)

    x = jnp.ones((2, 3))
    kept = MyDropout(0.5).apply({}, x, deterministic=True)
    np.testing.assert_array_equal(kept, x)
    dropped = MyDropout(0.5, deterministic=False).apply({}, x, rngs={"dropout": KEY})
    assert set(np.unique(np.asarray(dropped)).tolist()) <= {0.0, 2.0}
    try:
        MyDropout(0.5, deterministic=True).apply({}, x, deterministic=True)
    except ValueError:
        pass
    else:
        raise AssertionError("merge_param accepted the parameter twice")
    return kept, dropped


@example("Dense", "Dropout")
def sharp_bits_dropout(nn):
    root_key = jax.random.PRNGKey(seed=0)
    main_key, params_key, dropout_key = jax.random.split(key=root_key, num=3)

    class MyModel(nn.Module):
        num_neurons: int
        training: bool

        @nn.compact
        def __call__(self, x):
            x = nn.Dense(self.num_neurons)(x)
            return nn.Dropout(rate=0.5, deterministic=not self.training)(x)

    my_model = MyModel(num_neurons=3, training=False)
    x = jax.random.uniform(key=main_key, shape=(3, 4, 4))
    variables = my_model.init(params_key, x)
    y = my_model.apply(variables, x, rngs={"dropout": dropout_key})
    close(y, dense(variables["params"]["Dense_0"], x))
    y_train = MyModel(3, training=True).apply(variables, x, rngs={"dropout": dropout_key})
    zeros = np.asarray(y_train) == 0
    assert zeros.any() and not zeros.all()
    close(np.where(zeros, 0, y_train), np.where(zeros, 0, 2 * y))
    return variables, y, y_train


@example("Conv", "Dense", "relu", "avg_pool", "log_softmax")
def intermediates_sow_cnn(nn):
    class SowCNN(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.Conv(features=4, kernel_size=(3, 3))(x)
            x = nn.relu(x)
            x = nn.avg_pool(x, window_shape=(2, 2), strides=(2, 2))
            x = x.reshape((x.shape[0], -1))
            self.sow("intermediates", "features", x)
            x = nn.Dense(features=10)(x)
            return nn.log_softmax(x)

    class SowCNN2(nn.Module):
        @nn.compact
        def __call__(self, x):
            mod = SowCNN(name="SowCNN")
            return mod(x) + mod(x)

    @jax.jit
    def init(key, x):
        return SowCNN2().init(key, x)

    @jax.jit
    def predict(variables, x):
        output, mod_vars = SowCNN2().apply(variables, x, mutable="intermediates")
        return output, mod_vars["intermediates"]["SowCNN"]["features"]

    batch = jnp.ones((1, 8, 8, 1))
    variables = init(jax.random.PRNGKey(0), batch)
    assert set(variables) == {"params"}
    preds, feats = predict(variables, batch)
    assert len(feats) == 2

    @jax.jit
    def capture(variables, x):
        return SowCNN2().apply(
            variables,
            x,
            capture_intermediates=lambda mdl, method_name: isinstance(mdl, nn.Dense),
            mutable=["intermediates"],
        )

    _, state = capture(variables, batch)
    inter = state["intermediates"]["SowCNN"]
    assert sorted(inter) == ["Dense_0", "features"]
    assert len(inter["Dense_0"]["__call__"]) == 2
    return preds, feats, state


def _run(name, nn):
    fn, layers = EXAMPLES[name]
    require(nn, layers)
    return fn(nn)


# Examples flaxen is known to get wrong: name -> why (run as strict xfails, here and
# in the compat twin). Empty: every example runs.
KNOWN_FAILURES: dict[str, str] = {}


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=KNOWN_FAILURES[name]))
        if name in KNOWN_FAILURES
        else name
        for name in sorted(EXAMPLES)
    ],
)
def test_doc_example(name):
    from flaxen import linen as nn

    _run(name, nn)
