"""flaxen.core against flax.core, run as a black-box oracle.

Each scenario is written once against the shared functional-core API and run
with both libraries; outputs and variables must agree exactly (same tree, same
dtypes, bit-identical values). Skipped when flax is not installed (run these
with ``nox -s compat``).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytestmark = pytest.mark.compat
flax = pytest.importorskip("flax")

import flax.core as flax_core  # noqa: E402

import flaxen.core as flaxen_core  # noqa: E402

SCENARIOS = {}


def scenario(fn):
    SCENARIOS[fn.__name__] = fn
    return fn


def lecun(key, shape, dtype=jnp.float32):
    return jax.nn.initializers.lecun_normal()(key, shape, dtype)


def dense(scope, x, features=3):
    kernel = scope.param("kernel", lecun, (x.shape[-1], features))
    bias = scope.param("bias", jax.nn.initializers.normal(), (features,))
    return x @ kernel + bias.reshape((1,) * (x.ndim - 1) + (-1,))


def noisy(scope, x):
    x = scope.child(dense, "Dense_0")(x)
    return x + jax.random.normal(scope.make_rng("noise"), x.shape)


KEY = jax.random.key(0)
RNGS = {"params": jax.random.key(1), "noise": jax.random.key(2)}


@scenario
def nested_children(core):
    def model(scope, x):
        x = scope.child(dense, "Inner_0")(x)
        x = scope.child(functools.partial(dense, features=5), "Inner_1")(x)
        state = scope.variable("stats", "count", lambda: jnp.zeros(()))
        state.value += 1
        return x, scope.make_rng("params"), scope.make_rng("other")

    return core.init(model)(KEY, jnp.ones((2, 4)))


@scenario
def raw_prng_key_and_streams(core):
    def model(scope, x):
        return scope.child(noisy, "Noisy")(x), scope.make_rng("noise")

    return core.init(model)(
        {"params": jax.random.PRNGKey(3), "noise": jax.random.PRNGKey(4)}, jnp.ones((1, 2))
    )


@scenario
def reused_child_continues_counters(core):
    def model(scope):
        first = scope.push("c")
        a = first.make_rng("params")
        again = scope.push("c", reuse=True)
        b = again.make_rng("params")
        rewound = again.rewound()
        c = rewound.make_rng("params")
        d = again.rewound(rewind_rngs=True).make_rng("params")
        auto = [scope.push().name, scope.push(prefix="x").name, scope.default_name("x")]
        return (a, b, c, d), auto

    return core.init(model)(KEY)


@scenario
def apply_with_mutable(core):
    def model(scope, x):
        y = scope.child(dense, "Dense_0")(x)
        count = scope.variable("stats", "count", lambda: jnp.zeros(()))
        count.value += 1
        return y

    _, variables = core.init(model)(KEY, jnp.ones((1, 2)))
    return core.apply(model, mutable="stats")(variables, jnp.ones((1, 2)))


@scenario
def vmap_split_params(core):
    vdense = core.lift.vmap(dense, variable_axes={"params": 0}, split_rngs={"params": True})

    def model(scope, x):
        return scope.child(vdense, "VmapDense_0")(x)

    out, variables = core.init(model)(KEY, jnp.ones((3, 2, 4)))
    return out, variables, core.apply(model)(variables, jnp.ones((3, 2, 4)) * 2)


@scenario
def vmap_shared_params_and_streams(core):
    vnoisy = core.lift.vmap(
        noisy,
        variable_axes={"params": None},
        split_rngs={"params": False, "noise": True},
        in_axes=(1,),
        out_axes=1,
    )
    return core.init(vnoisy)(RNGS, jnp.ones((2, 5, 4)))


@scenario
def vmap_axis_size_and_state(core):
    def counter(scope):
        v = scope.variable("state", "n", lambda: jnp.zeros(()))
        v.value = v.value + 1
        return scope.param("p", jax.nn.initializers.normal(), (2,))

    vc = core.lift.vmap(
        counter,
        variable_axes={"params": 0, "state": 0},
        split_rngs={"params": True},
        axis_size=4,
        in_axes=(),
    )
    return core.init(vc)(KEY)


@scenario
def scan_params_axes(core):
    def body(scope, c, x):
        h = scope.child(dense, "Dense_0")(c)
        return jnp.tanh(h + x), h

    scanned = core.lift.scan(body, variable_axes={"params": 0}, split_rngs={"params": True})
    carry = jnp.ones((1, 3))
    xs = jnp.arange(15.0).reshape((5, 1, 3))
    out, variables = core.init(scanned)(KEY, carry, xs)
    return out, variables, core.apply(scanned)(variables, carry, xs)


@scenario
def scan_broadcast_params(core):
    def body(scope, c, x):
        h = scope.child(dense, "Dense_0")(c)
        return jnp.tanh(h + x), h

    scanned = core.lift.scan(body, variable_broadcast="params", split_rngs={"params": False})
    carry = jnp.ones((1, 3))
    xs = jnp.arange(15.0).reshape((5, 1, 3))
    out, variables = core.init(scanned)(KEY, carry, xs)
    return out, variables, core.apply(scanned)(variables, carry, xs)


@scenario
def scan_unsplit_axes_reverse_in_axes(core):
    def body(scope, c, x, b):
        h = scope.child(dense, "Dense_0")(c)
        return h + x[None, :] + b, jnp.sum(h)

    scanned = core.lift.scan(
        body,
        variable_axes={"params": 0},
        split_rngs={"params": False},
        in_axes=(1, core.broadcast),
        reverse=True,
    )
    carry = jnp.ones((1, 3))
    xs = jnp.arange(12.0).reshape((3, 4))
    return core.init(scanned)(KEY, carry, xs, jnp.ones((1, 3)))


@scenario
def scan_carry_variables_and_streams(core):
    def body(scope, c):
        count = scope.variable("counter", "i", lambda: jnp.zeros((), jnp.int32))
        count.value += 1
        noise = jax.random.normal(scope.make_rng("noise"), c.shape)
        return c + noise, count.value

    scanned = core.lift.scan(
        body,
        variable_carry="counter",
        split_rngs={"noise": True},
        length=4,
        in_axes=(),
    )

    def model(scope, c):
        scope.variable("counter", "i", lambda: jnp.zeros((), jnp.int32))
        return scanned(scope, c)

    return core.init(model)(RNGS, jnp.zeros((2,)))


@scenario
def checkpoint_passes_keys_through(core):
    rdense = core.lift.checkpoint(noisy)
    out, variables = core.init(rdense)(RNGS, jnp.ones((1, 2)))
    grads = jax.grad(lambda v: core.apply(rdense)(v, jnp.ones((1, 2)), rngs=RNGS).sum())(variables)
    return out, variables, grads


@scenario
def cond_and_switch(core):
    def model(scope, x, pred, index):
        scope.variable("state", "t", lambda: 0)
        scope.variable("state", "f", lambda: 0)

        def true_fn(s, x):
            s.variable("state", "t").value += 1
            return s.child(dense, "dense")(x)

        def false_fn(s, x):
            s.variable("state", "f").value += 1
            return -s.child(dense, "dense")(x)

        a = core.lift.cond(pred, true_fn, false_fn, scope, x)
        b = core.lift.switch(index, [true_fn, false_fn, true_fn], scope, x)
        return a, b

    out, variables = core.init(model)(KEY, jnp.ones((1, 2)), True, 2)
    again = core.apply(model, mutable="state")(variables, jnp.ones((1, 2)), False, 1)
    return out, variables, again


@scenario
def while_loop_with_split_rngs(core):
    def model(scope, x):
        def cond_fn(s, c):
            return s.variables()["state"]["acc"] < 5

        def body_fn(s, c):
            acc = s.variable("state", "acc", lambda: jnp.array(0))
            acc.value += 1
            return c + jax.random.uniform(s.make_rng("noise"), c.shape)

        scope.variable("state", "acc", lambda: jnp.array(0))
        return core.lift.while_loop(
            cond_fn, body_fn, scope, x, carry_variables="state", split_rngs={"noise": True}
        )

    return core.init(model)(RNGS, jnp.zeros((2,)))


@scenario
def jvp_vjp_custom_vjp(core):
    def scale(scope, x):
        return scope.param("scale", jax.nn.initializers.normal(), ()) * x

    def model(scope, x):
        child = scope.push("scale")
        child.param("scale", jax.nn.initializers.normal(), ())
        tangents = jax.tree_util.tree_map(jnp.ones_like, child.variables()["params"])
        y, y_t = core.lift.jvp(
            scale, child, (x,), (jnp.zeros_like(x),), variable_tangents={"params": tangents}
        )
        z, bwd = core.lift.vjp(scale, child, x)
        grads = bwd(jnp.ones_like(z))

        def fwd(s, x):
            return core.lift.vjp(scale, s, x)

        def back(vjp_fn, y_t):
            params_t, *inputs_t = vjp_fn(y_t)
            return (jax.tree_util.tree_map(jnp.sign, params_t), *inputs_t)

        signed = core.lift.custom_vjp(scale, fwd, back)
        w = signed(child, x)
        return y, y_t, z, grads, w

    out, variables = core.init(model)(KEY, jnp.arange(3.0))
    grads = jax.grad(lambda v: core.apply(model)(v, jnp.arange(3.0))[-1].sum())(variables)
    return out, variables, grads


@scenario
def map_variables_init(core):
    def masked(scope, x):
        return scope.child(dense, "Dense_0")(x)

    mapped = core.lift.map_variables(
        masked,
        "params",
        lambda v: jax.tree_util.tree_map(lambda a: a * 2, v),
        init=True,
    )
    out, variables = core.init(mapped)(KEY, jnp.ones((1, 3)))
    return out, variables, core.apply(mapped)(variables, jnp.ones((1, 3)))


@scenario
def remat_scan_nested(core):
    def body(scope, x):
        return scope.child(dense, "Dense_0")(x)

    looped = core.lift.remat_scan(body, lengths=(2, 3))
    out, variables = core.init(looped)(KEY, jnp.ones((1, 3)))
    return out, variables


@scenario
def separator_flag(core):
    config = flax.config if core is flax_core else __import__("flaxen.config").config
    name = "flax_fix_rng_separator" if core is flax_core else "flaxen_fix_rng_separator"
    config.update(name, True)
    try:
        return core.init(lambda s: (s.push("ab").make_rng("params"), s.make_rng("x")))(KEY)
    finally:
        config.update(name, False)


@scenario
def lifted_scope_trees(core):
    def two_scopes(scopes, x):
        parent, child = scopes
        w = parent.param("w", lambda key: jnp.full((), 3.0))
        v = child.param("v", lambda key: jnp.full((), 5.0))
        child.variable("stats", "n", lambda: 0.0).value += 1.0
        parent.variable("stats", "m", lambda: 0.0).value += 2.0
        return w * x + v

    def model(scope, x):
        a = core.lift.jit(two_scopes)((scope, scope.push("c")), x)
        b = core.lift.checkpoint(two_scopes)((scope.push("s"), scope.push("t")), x)
        return a + b

    out, variables = core.init(model)(KEY, 2.0)
    return out, variables, core.apply(model, mutable="stats")(variables, 1.0)


@scenario
def vmap_in_out_axes(core):
    def model(scope, x):
        p = scope.param("p", jax.nn.initializers.normal(), ())
        n = scope.variable("stats", "n", lambda: jnp.zeros(()))
        n.value = x * p
        return x * p

    vmapped = core.lift.vmap(
        model,
        variable_axes={"params": core.lift.In(0), "stats": core.lift.Out(0)},
        split_rngs={"params": True},
    )
    params = {"p": jnp.array([1.0, 2.0, 3.0])}
    return core.apply(vmapped, mutable=True)({"params": params}, jnp.ones(3))


@scenario
def partitioned_boxes_through_vmap_and_scan(core):
    def kernel_init(key, shape):
        return core.meta.Partitioned(lecun(key, shape), ("in", "out"))

    def body(scope, c, x):
        k = scope.param("k", kernel_init, (3, 3))
        return jnp.tanh(c @ k + x), None

    scanned = core.lift.scan(
        body,
        variable_axes={"params": 0},
        split_rngs={"params": True},
        metadata_params={"partition_name": "layers"},
    )
    vmapped = core.lift.vmap(
        scanned,
        variable_axes={"params": 1},
        split_rngs={"params": True},
        in_axes=(0, None),
        metadata_params={"partition_name": "batch"},
    )
    carry, xs = jnp.ones((2, 1, 3)), jnp.ones((4, 1, 3))
    (out, _), variables = core.init(vmapped)(KEY, carry, xs)
    box = variables["params"]["k"]
    return out, box.value, box.names, core.apply(vmapped)(variables, carry, xs)[0]


@scenario
def lazy_init_constants_and_params(core):
    def model(scope, x):
        scope.variable("s", "n", lambda: 1)
        scope.variable("s", "f", lambda: 2.5)
        scope.variable("s", "a", lambda: jnp.float32(3))
        return scope.child(dense, "Dense_0")(x)

    return core.lazy_init(model)(KEY, jax.ShapeDtypeStruct((2, 4), jnp.float32))


def _leaves(tree):
    def normalize(x):
        if isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            return ("key", np.asarray(jax.random.key_data(x)))
        return x

    tree = jax.tree_util.tree_map(normalize, tree)
    return jax.tree_util.tree_flatten_with_path(tree)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_matches_flax(name):
    expected_leaves, expected_def = _leaves(SCENARIOS[name](flax_core))
    actual_leaves, actual_def = _leaves(SCENARIOS[name](flaxen_core))
    assert str(actual_def) == str(expected_def)
    for (path, expected), (_, actual) in zip(expected_leaves, actual_leaves):
        want, got = np.asarray(expected), np.asarray(actual)
        assert got.dtype == want.dtype, jax.tree_util.keystr(path)
        np.testing.assert_array_equal(got, want, err_msg=jax.tree_util.keystr(path))


# Misuses of the lifted transforms: flaxen raises its own error classes, which
# must still be caught by the built-in exception Flax (through JAX) raises.
ERROR_SCENARIOS = {}


def error_scenario(fn):
    ERROR_SCENARIOS[fn.__name__] = fn
    return fn


@error_scenario
def cond_branches_create_different_params(core):
    def model(scope, x, pred):
        def true_fn(s, x):
            return s.param("a", lecun, (1, 1))[0, 0] * x

        def false_fn(s, x):
            return s.param("b", lecun, (1, 1))[0, 0] * x

        return core.lift.cond(pred, true_fn, false_fn, scope, x)

    core.init(model)(KEY, 1.0, True)


@error_scenario
def scan_creates_a_carried_variable(core):
    def body(scope, c):
        count = scope.variable("counter", "i", lambda: jnp.zeros((), jnp.int32))
        count.value += 1
        return c, None

    core.init(core.lift.scan(body, variable_carry="counter", length=2, in_axes=()))(KEY, 0.0)


@error_scenario
def scan_broadcast_depends_on_the_carry(core):
    def body(scope, c, x):
        w = scope.param("w", lambda key: c * 2.0)
        return c * w + x, None

    scanned = core.lift.scan(body, variable_broadcast="params", split_rngs={"params": False})
    core.init(scanned)(KEY, jnp.ones(()), jnp.ones(3))


@pytest.mark.parametrize("name", sorted(ERROR_SCENARIOS))
def test_errors_are_caught_like_flax_s(name):
    from flaxen.errors import FlaxenError

    with pytest.raises(Exception) as theirs:
        ERROR_SCENARIOS[name](flax_core)
    with pytest.raises(FlaxenError) as ours:
        ERROR_SCENARIOS[name](flaxen_core)
    assert type(theirs.value) in (TypeError, ValueError), theirs.value
    assert isinstance(ours.value, type(theirs.value))
