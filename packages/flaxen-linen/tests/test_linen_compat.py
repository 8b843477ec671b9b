"""flaxen.linen against flax.linen, run as a black-box oracle.

Every scenario builds its models from the ``nn`` module it is given, so the
exact same model code runs through both libraries. Variables and outputs must
agree exactly: same tree, same dtypes, bit-identical values. Skipped when flax
is not installed (``nox -s compat`` installs it).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytestmark = pytest.mark.compat
flax = pytest.importorskip("flax")

import flax.linen as flax_nn  # noqa: E402

from flaxen import linen as flaxen_nn  # noqa: E402

KEY = jax.random.key(0)
SCENARIOS = {}


def scenario(fn):
    SCENARIOS[fn.__name__] = fn
    return fn


def layers(nn):
    """Minimal layers written against the shared Module API (no plugin needed)."""

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

    class Noisy(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = Dense(3)(x)
            return x + jax.random.normal(self.make_rng("noise"), x.shape)

    class Stateful(nn.Module):
        @nn.compact
        def __call__(self, x):
            count = self.variable("state", "count", lambda: jnp.zeros((), jnp.int32))
            count.value += 1
            return Dense(3)(x) * count.value

    return Dense, Noisy, Stateful


@scenario
def compact_and_setup_naming(nn):
    Dense, _, _ = layers(nn)

    class Block(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = Dense(3)(x)
            x = Dense(4, name="named")(x)
            return Dense(3)(jax.nn.relu(x))

    class SetupModel(nn.Module):
        def setup(self):
            self.first = Dense(3)
            self.stack = [Block(), Block()]
            self.table = {"a": [Dense(2)], "b": Dense(5)}

        def __call__(self, x):
            x = self.first(x)
            for block in self.stack:
                x = block(x)
            return self.table["a"][0](x), self.table["b"](x)

    x = jnp.ones((2, 4))
    out, variables = SetupModel().init_with_output(KEY, x)
    return out, variables, SetupModel().apply(variables, x * 2)


@scenario
def shared_and_adopted_modules(nn):
    Dense, _, _ = layers(nn)

    class Wrap(nn.Module):
        inner: nn.Module

        @nn.compact
        def __call__(self, x):
            return self.inner(x)

    class Seq(nn.Module):
        layers: tuple

        @nn.compact
        def __call__(self, x):
            for layer in self.layers:
                x = layer(x)
            return x

    class Sharing(nn.Module):
        @nn.compact
        def __call__(self, x):
            d = Dense(4)
            return Wrap(d)(x) + d(x) + Wrap(Dense(4))(x)

    shared = Dense(4)
    x = jnp.ones((1, 4))
    return (
        Wrap(Dense(3, name="ignored")).init(KEY, x),
        Seq((Dense(4), shared, shared, Dense(2))).init(KEY, x),
        Sharing().init(KEY, x),
    )


@scenario
def module_called_twice_and_streams(nn):
    Dense, Noisy, Stateful = layers(nn)

    class Model(nn.Module):
        @nn.compact
        def __call__(self, x):
            dense = Dense(4)
            y = dense(dense(x))
            noisy = Noisy()
            z = noisy(x) + noisy(x)
            s = Stateful()(x)
            return y, z, s, self.make_rng("params"), self.make_rng("other")

    rngs = {"params": jax.random.key(1), "noise": jax.random.key(2)}
    x = jnp.ones((1, 4))
    out, variables = Model().init_with_output(rngs, x)
    again = Model().apply(
        variables, x, rngs={"noise": jax.random.key(3), "params": KEY}, mutable="state"
    )
    return out, variables, again


@scenario
def sow_perturb_intermediates(nn):
    Dense, _, _ = layers(nn)

    class Model(nn.Module):
        @nn.compact
        def __call__(self, x):
            h = Dense(3)(x)
            self.sow("intermediates", "h", h)
            self.sow("stats", "sum", h.sum(), reduce_fn=lambda a, b: a + b, init_fn=lambda: 0.0)
            h = self.perturb("h", h)
            return Dense(2)(h)

    x = jnp.ones((2, 4))
    variables = Model().init(KEY, x)
    captured = Model().apply(variables, x, capture_intermediates=True, mutable=["stats"])
    filtered = Model().apply(
        variables, x, capture_intermediates=lambda m, name: type(m).__name__ == "Dense"
    )
    grads = jax.grad(lambda v: Model().apply(v, x).sum())(variables)
    return variables, captured, filtered, grads


@scenario
def transforms_on_classes(nn):
    Dense, Noisy, _ = layers(nn)

    class Cell(nn.Module):
        @nn.compact
        def __call__(self, carry, x):
            h = Dense(3)(carry) + x
            return jnp.tanh(h), h

    class Model(nn.Module):
        @nn.compact
        def __call__(self, x):
            a = nn.vmap(
                Noisy, variable_axes={"params": 0}, split_rngs={"params": True, "noise": True}
            )()(x)
            b = nn.vmap(Dense, variable_axes={"params": None}, split_rngs={"params": False})(3)(x)
            carry, ys = nn.scan(Cell, variable_axes={"params": 0}, split_rngs={"params": True})()(
                x[0], x
            )
            c2, ys2 = nn.scan(Cell, variable_broadcast="params", split_rngs={"params": False})()(
                x[0], x
            )
            d = nn.remat(Dense)(3)(x[0])
            e = nn.jit(Dense)(3)(x[0])
            f = nn.remat_scan(Dense, lengths=(2, 2))(3)(x[0])
            return a, b, carry, ys, c2, ys2, d, e, f

    rngs = {"params": KEY, "noise": jax.random.key(7)}
    x = jnp.ones((3, 2, 3))
    out, variables = Model().init_with_output(rngs, x)
    return out, variables, Model().apply(variables, x, rngs={"noise": jax.random.key(8)})


@scenario
def transforms_on_functions_and_methods(nn):
    Dense, _, _ = layers(nn)

    class Remat(nn.Module):
        @nn.remat
        @nn.compact
        def __call__(self, x):
            return Dense(2)(jax.nn.relu(Dense(3)(x)))

    class CondSwitch(nn.Module):
        @nn.compact
        def __call__(self, x, pred, index):
            self.variable("state", "t", lambda: 0)

            def true_fn(mdl, x):
                mdl.variable("state", "t").value += 1
                return Dense(2, name="dense")(x)

            def false_fn(mdl, x):
                return -Dense(2, name="dense")(x)

            a = nn.cond(pred, true_fn, false_fn, self, x)
            b = nn.switch(index, [true_fn, false_fn], self, x)
            c = nn.vmap(
                lambda mdl, x: mdl(x), variable_axes={"params": 0}, split_rngs={"params": True}
            )(Dense(2), x[None].repeat(2, 0))
            return a, b, c

    x = jnp.ones((1, 3))
    r_out, r_vars = Remat().init_with_output(KEY, x)
    c_out, c_vars = CondSwitch().init_with_output(KEY, x, True, 1)
    c_again = CondSwitch().apply(c_vars, x, False, 0, mutable="state")
    grads = jax.grad(lambda v: Remat().apply(v, x).sum())(r_vars)
    return r_out, r_vars, grads, c_out, c_vars, c_again


@scenario
def autodiff_transforms(nn):
    class LearnScale(nn.Module):
        @nn.compact
        def __call__(self, x, y):
            p = self.param("scale", jax.nn.initializers.normal(), ())
            return p * x * y

    class Foo(nn.Module):
        @nn.compact
        def __call__(self, x, y):
            m = LearnScale()
            if self.is_initializing():
                m(x, y)
            z, bwd = nn.vjp(lambda mdl, x, y: mdl(x, y), m, x, y)
            grads = bwd(jnp.ones(z.shape))
            g = nn.grad(lambda mdl, x, y: mdl(x, y).sum(), m, x, y)
            vg = nn.value_and_grad(lambda mdl, x, y: mdl(x, y).sum(), m, x, y)
            tangents = jax.tree_util.tree_map(jnp.ones_like, m.variables.get("params", {}))
            jv = nn.jvp(
                lambda mdl, x: mdl(x, y), m, (x,), (jnp.zeros_like(x),),
                variable_tangents={"params": tangents},
            )  # fmt: skip

            def fwd(mdl, x, y):
                return nn.vjp(lambda mdl, x, y: mdl(x, y), mdl, x, y)

            def back(vjp_fn, y_t):
                params_t, *inputs_t = vjp_fn(y_t)
                return (jax.tree_util.tree_map(jnp.sign, params_t), *inputs_t)

            signed = nn.custom_vjp(lambda mdl, x, y: mdl(x, y), fwd, back)(m, x, y)
            return z, grads, g, vg, jv, signed

    x, y = jnp.arange(3.0), jnp.ones(3) * 2
    variables = Foo().init(KEY, x, y)
    out = Foo().apply(variables, x, y)
    grads = jax.grad(lambda v: Foo().apply(v, x, y)[-1].sum())(variables)
    return variables, out, grads


@scenario
def while_loop_and_map_variables(nn):
    Dense, _, _ = layers(nn)

    class Loop(nn.Module):
        @nn.compact
        def __call__(self, x):
            def cond_fn(mdl, c):
                return mdl.variables["state"]["acc"] < 4

            def body_fn(mdl, c):
                acc = mdl.variable("state", "acc", lambda: jnp.array(0))
                acc.value += 1
                return Dense(c.shape[-1])(c)

            if self.is_mutable_collection("params"):
                return body_fn(self, x)
            return nn.while_loop(cond_fn, body_fn, self, x, carry_variables="state")

    class Causal(nn.Module):
        features: int = 4

        def apply_mask(self, variables):
            if self.is_initializing():
                return variables
            return jax.tree_util.tree_map(jnp.triu, variables)

        def setup(self):
            masked = nn.map_variables(Dense, "params", self.apply_mask, init=self.is_initializing())
            self.dense = masked(features=self.features, use_bias=False)

        def __call__(self, x):
            return self.dense(x)

    x = jnp.ones((2, 4))
    loop_vars = Loop().init(KEY, x)
    loop_out = Loop().apply(loop_vars, x, mutable=["state"])
    causal_vars = Causal().init(KEY, x)
    return loop_vars, loop_out, causal_vars, Causal().apply(causal_vars, x)


@scenario
def bind_unbind_clone_paths(nn):
    Dense, _, _ = layers(nn)

    class AutoEncoder(nn.Module):
        def setup(self):
            self.encoder = Dense(3)
            self.decoder = Dense(5)

        def __call__(self, x):
            return self.decoder(self.encoder(x))

    x = jnp.ones((2, 5))
    variables = AutoEncoder().init(KEY, x)
    bound = AutoEncoder().bind(variables)
    z = bound.encoder(x)
    encoder, encoder_vars = bound.encoder.unbind()
    paths = {p: type(m).__name__ for p, m in AutoEncoder().module_paths(KEY, x).items()}
    return z, bound.decoder(z), encoder_vars, encoder.apply(encoder_vars, x), sorted(paths.items())


@scenario
def counters_persist_at_depth_and_across_jit_calls(nn):
    class Noise(nn.Module):
        @nn.compact
        def __call__(self, x):
            return self.make_rng("noise")

    class Mid(nn.Module):
        @nn.compact
        def __call__(self, x):
            return Noise()(x)

    class Outer(nn.Module):
        @nn.compact
        def __call__(self, x):
            return Mid()(x)

    class Top(nn.Module):
        @nn.compact
        def __call__(self, x):
            outer = Outer()
            jitted = nn.jit(Noise)()
            return outer(x), outer(x), jitted(x), jitted(x)

    rngs = {"noise": jax.random.key(5)}
    return Top().apply({}, 1.0, rngs=rngs), Top().apply({}, 1.0, rngs=rngs)


@scenario
def vmap_and_scan_with_state_and_metadata(nn):
    class RunningMean(nn.Module):
        @nn.compact
        def __call__(self, x, train):
            ra = self.variable("batch_stats", "mean", jnp.zeros, x.shape[-1:])
            init = nn.with_partitioning(jax.nn.initializers.normal(), ("feat",))
            scale = self.param("scale", init, x.shape[-1:])
            if train and not self.is_initializing():
                ra.value = 0.9 * ra.value + 0.1 * x.mean(axis=0)
            return (x - ra.value[None]) * scale[None]

    class Cell(nn.Module):
        @nn.compact
        def __call__(self, c, x):
            n = self.variable("state", "n", lambda: jnp.zeros((), jnp.int32))
            n.value += 1
            init = nn.with_partitioning(jax.nn.initializers.normal(), ("h",))
            return jnp.tanh(c * self.param("w", init, c.shape[-1:]) + x), n.value

    V = nn.vmap(
        RunningMean,
        variable_axes={"params": 0, "batch_stats": 0},
        split_rngs={"params": True},
        in_axes=(0, None),
        metadata_params={nn.PARTITION_NAME: "batch"},
    )
    S = nn.scan(
        Cell,
        variable_axes={"params": 0},
        variable_carry="state",
        split_rngs={"params": True},
        metadata_params={nn.PARTITION_NAME: "layers"},
    )
    xs = jnp.linspace(-1, 1, 24).reshape(2, 4, 3)
    v_vars = V().init(KEY, xs, True)
    v_out = V().apply(v_vars, xs, True, mutable=["batch_stats"])
    # Carried variables must exist before the scan: start from a given state.
    start = {"state": {"n": jnp.zeros((), jnp.int32)}}
    s_out, s_vars = S().apply(start, jnp.ones(3), xs[0], rngs={"params": KEY}, mutable=True)
    is_box = lambda x: isinstance(x, nn.Partitioned)
    names = jax.tree_util.tree_map(
        lambda b: b.names if is_box(b) else None, (v_vars, s_vars), is_leaf=is_box
    )
    return nn.unbox(v_vars), v_out, s_out, nn.unbox(s_vars), jax.tree_util.tree_leaves(names)


@scenario
def rngs_through_transforms(nn):
    class Draw(nn.Module):
        @nn.compact
        def __call__(self, x):
            return x + jax.random.uniform(self.make_rng("noise"), x.shape)

    class Model(nn.Module):
        @nn.compact
        def __call__(self, x):
            split = nn.vmap(Draw, split_rngs={"noise": True})()(x)
            shared = nn.vmap(Draw, split_rngs={"noise": False})()(x)
            folded = nn.fold_rngs(Draw)()(x[0])
            jitted = nn.jit(Draw)()(x[0])
            rematted = nn.remat(Draw)()(x[0])
            scanned = nn.scan(lambda mdl, c, x: (c + mdl(x), c), split_rngs={"noise": True})(
                Draw(), jnp.zeros(2), x
            )
            return split, shared, folded, jitted, rematted, scanned

    x = jnp.zeros((3, 2))
    rngs = {"noise": jax.random.key(3)}
    return Model().apply({}, x, rngs=rngs), Model().apply({}, x, rngs={"noise": KEY})


@scenario
def share_scope_lazy_init_and_static_args(nn):
    Dense, _, _ = layers(nn)

    class Shared(nn.Module):
        def setup(self):
            self.inner = Dense(3)
            nn.share_scope(self, self.inner)

        def __call__(self, x):
            return self.inner(x) + 1

    class Branch(nn.Module):
        @nn.compact
        def __call__(self, x, use_relu):
            x = Dense(2)(x)
            return jax.nn.relu(x) if use_relu else x

    class Wrapper(nn.Module):
        @nn.compact
        def __call__(self, x):
            a = Shared()(x)
            b = nn.remat(Branch, static_argnums=(2,))()(x, True)
            c = nn.jit(Branch, static_argnums=2)()(x, False)
            return a, b, c

    class LazyPart(nn.Module):
        @nn.compact
        def __call__(self, x):
            return Shared()(x), nn.jit(Branch, static_argnums=2)()(x, False)

    x = jnp.linspace(-1, 1, 6).reshape(2, 3)
    lazy = LazyPart().lazy_init(KEY, jax.ShapeDtypeStruct(x.shape, x.dtype))
    out, variables = Wrapper().init_with_output(KEY, x)
    grads = jax.grad(lambda v: sum(o.sum() for o in Wrapper().apply(v, x)))(variables)
    return lazy, out, variables, grads


@scenario
def adoption_order_and_shared_orphans(nn):
    Dense, _, _ = layers(nn)

    class Wrap(nn.Module):
        inner: nn.Module

        def __call__(self, x):
            return self.inner(x)

    class Pair(nn.Module):
        a: nn.Module
        b: nn.Module

        def __call__(self, x):
            return self.a(x) + self.b(x)

    class Items(nn.Module):
        items: list

        def __call__(self, x):
            return sum(item(x) for item in self.items)

    class PassedFirst(nn.Module):
        def setup(self):
            dense = Dense(4)
            self.a = Wrap(dense)
            self.dense = dense

        def __call__(self, x):
            return self.dense(x) + self.a(x)

    class OneAssignment(nn.Module):
        def setup(self):
            dense = Dense(4)
            self.a = [Wrap(dense), dense]

        def __call__(self, x):
            return self.a[0](x) + self.a[1](x)

    class CompactOrphan(nn.Module):
        @nn.compact
        def __call__(self, x):
            orphan = Dense(4, parent=None)
            return Wrap(orphan)(x) + Wrap(orphan)(x)

    class SequentialInSetup(nn.Module):
        def setup(self):
            self.seq = nn.Sequential([Dense(4), jax.nn.relu, Dense(2)])

        def __call__(self, x):
            return self.seq(x)

    orphan = Dense(4)
    x = jnp.ones((1, 3))
    models = [
        Pair(Wrap(orphan), Wrap(orphan)),
        Pair(Wrap(orphan), orphan),
        Items([Wrap(orphan), orphan]),
        PassedFirst(),
        OneAssignment(),
        CompactOrphan(),
        SequentialInSetup(),
    ]
    backbone = Wrap(orphan)
    variables = backbone.init(KEY, x)
    through_lambda = backbone.apply(variables, x, method=lambda m, x: m.inner(x))
    return [m.init_with_output(KEY, x) for m in models], through_lambda


@scenario
def modules_lifted_into_transforms(nn):
    class Scale(nn.Module):
        @nn.compact
        def __call__(self, x):
            return x * self.param("w", jax.nn.initializers.normal(), (x.shape[-1],))

    class Hold(nn.Module):
        inner: nn.Module

        def __call__(self, x):
            return self.inner(x)

    mapped = dict(variable_axes={"params": 0}, split_rngs={"params": True})

    class FieldOfLiftedClass(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.vmap(Hold, **mapped)(Scale())(x)

    class FieldInSetup(nn.Module):
        def setup(self):
            self.held = nn.vmap(Hold, **mapped)(Scale())

        def __call__(self, x):
            return self.held(x)

    class InArguments(nn.Module):
        def setup(self):
            self.d = Scale()

        @nn.compact
        def __call__(self, x):
            fn = nn.vmap(lambda mdl, x, ms: ms["a"][0](x) + ms["b"](x), **mapped)
            return fn(self, x, {"a": [Scale()], "b": self.d})

    class OtherTransforms(nn.Module):
        @nn.compact
        def __call__(self, x):
            c = nn.jit(lambda mdl, x, d: d(x))(self, x, Scale())
            d = nn.remat(lambda mdl, x, d: d(x))(self, x, Scale())
            scan = nn.scan(
                lambda mdl, c, d: (d(c), None),
                variable_broadcast="params",
                split_rngs={"params": False},
                length=2,
            )
            return c, d, scan(self, x, Scale())[0]

    x = jnp.linspace(-1, 1, 6).reshape(2, 3)
    results = []
    for model, inputs in [
        (FieldOfLiftedClass(), x),
        (FieldInSetup(), x),
        (InArguments(), x),
        (OtherTransforms(), x[0]),
    ]:
        out, variables = model.init_with_output(KEY, inputs)
        results.append((out, variables, model.apply(variables, 2 * inputs)))
    return results


@scenario
def interceptors_and_named_scopes(nn):
    class Inner(nn.Module):
        def __call__(self, x):
            return jnp.sin(x)

        def other(self, x):
            return jnp.tan(x)

    class Base(nn.Module):
        def setup(self):
            self.w = self.param("w", lambda key: jnp.exp(jnp.ones(())))
            self.inner = Inner()

    class Outer(Base):
        def setup(self):
            super().setup()

        def __call__(self, x):
            return self.inner(x) * self.w + self._helper(x) + self.inner.other(x)

        def _helper(self, x):
            return jnp.cos(x)

        def __mangled(self):
            return 1.0

        def twice(self, x):
            return self(x) * self.__mangled()

    log = []

    def record(next_fun, args, kwargs, context):
        log.append(f"{type(context.module).__name__}.{context.method_name}")
        return next_fun(*args, **kwargs)

    def stacks(fn):
        jaxpr = jax.make_jaxpr(fn)(1.0)
        return [f"{e.primitive.name}@{e.source_info.name_stack}" for e in jaxpr.jaxpr.eqns]

    with nn.intercept_methods(record):
        variables = Outer(name="foo").init(KEY, 1.0, method="twice")
    with nn.override_named_call(True):
        scoped = stacks(lambda x: Outer(name="foo").apply(variables, x, method="twice"))
    _, captured = Outer(name="foo").apply(
        variables,
        1.0,
        method="twice",
        capture_intermediates=lambda mdl, method: True,
        mutable=["intermediates"],
    )
    return variables, log, scoped, captured


def _normalize(tree):
    def leaf(x):
        if isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            return np.asarray(jax.random.key_data(x))
        return x

    return jax.tree_util.tree_flatten_with_path(jax.tree_util.tree_map(leaf, tree))


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_matches_flax(name):
    expected, expected_def = _normalize(SCENARIOS[name](flax_nn))
    actual, actual_def = _normalize(SCENARIOS[name](flaxen_nn))
    assert str(actual_def) == str(expected_def)
    for (path, want), (_, got) in zip(expected, actual):
        want_arr, got_arr = np.asarray(want), np.asarray(got)
        assert got_arr.dtype == want_arr.dtype, jax.tree_util.keystr(path)
        np.testing.assert_array_equal(got_arr, want_arr, err_msg=jax.tree_util.keystr(path))
