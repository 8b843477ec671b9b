"""Lifted jit, remat, control flow, autodiff, map_variables and named_call."""

import functools
import hashlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flaxen.core import apply, init, lift
from flaxen.errors import (
    BranchStructureError,
    InvalidRngError,
    ModifyScopeVariableError,
    ScopeCollectionNotFound,
)

KEY = jax.random.key(0)
RTOL = 1e-5


def fold_value(*items):
    digest = hashlib.sha1()
    for item in items:
        digest.update(
            item.encode() if isinstance(item, str) else item.to_bytes((item.bit_length() + 7) // 8)
        )
    return int.from_bytes(digest.digest()[:4], "big")


def key_bits(key):
    return np.asarray(jax.random.key_data(key))


@functools.partial(jax.jit, static_argnums=1)
def key_init(key, shape):
    """Cheap to compile (unlike jax.random.normal) yet a different value per key."""
    seed = (jax.random.key_data(key)[..., 0] % 10007).astype(jnp.float32)
    size = int(np.prod(shape))
    return jnp.sin(jnp.arange(size, dtype=jnp.float32).reshape(shape) * 0.5 + seed)


def data(shape):
    return jnp.asarray(np.sin(np.arange(np.prod(shape)) * 0.7).reshape(shape), jnp.float32)


def dense(scope, x, features=3):
    kernel = scope.param("kernel", key_init, (x.shape[-1], features))
    bias = scope.param("bias", key_init, (features,))
    return x @ kernel + bias[None]


def plain_dense(params, x):
    return x @ params["kernel"] + params["bias"][None]


def mlp(scope, x):
    x = jnp.tanh(scope.child(dense, "Dense_0")(x))
    return scope.child(dense, "Dense_1")(x)


def plain_mlp(params, x):
    return plain_dense(params["Dense_1"], jnp.tanh(plain_dense(params["Dense_0"], x)))


def assert_trees_close(a, b, rtol=RTOL, atol=1e-6):
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_allclose(x, y, rtol=rtol, atol=atol)


# -- jit -------------------------------------------------------------------------------------


def test_jit_traces_once_per_scope_structure():
    traces = []

    def traced_mlp(scope, x):
        traces.append(x.shape)
        return mlp(scope, x)

    jitted = lift.jit(traced_mlp)

    def model(scope, x):
        return scope.child(jitted, "Jit_0")(x)

    x = data((2, 3))
    _, variables = init(model)(KEY, x)
    assert len(traces) == 1
    traces.clear()
    outs = [apply(model)(variables, x * i) for i in (1.0, 2.0, 3.0)]
    assert len(traces) == 1
    params = variables["params"]["Jit_0"]
    for i, out in zip((1.0, 2.0, 3.0), outs):
        np.testing.assert_allclose(out, plain_mlp(params, x * i), rtol=RTOL, atol=1e-6)
    # A new input shape traces again.
    apply(model)(variables, jnp.concatenate([x, x]))
    assert len(traces) == 2


def test_jit_reroots_the_streams():
    def probe(scope, x):
        kernel = scope.param("kernel", lambda key: key)
        bias = scope.param("bias", lambda key: key)
        return kernel, bias, scope.make_rng("params")

    jitted = lift.jit(probe)

    def model(scope, x):
        inner = scope.child(jitted, "Dense_0")(x)
        after = scope.push("Dense_0", reuse=True).make_rng("params")
        return inner, after

    ((kernel, bias, drawn), after), variables = init(model)(KEY, 1.0)
    # The jitted scope's stream is re-rooted at its own make_rng (counter 1) ...
    root = jax.random.fold_in(KEY, fold_value("Dense_0", 1))
    # ... and draws inside continue the counter with an empty suffix.
    np.testing.assert_array_equal(
        key_bits(kernel), key_bits(jax.random.fold_in(root, fold_value(2)))
    )
    np.testing.assert_array_equal(key_bits(bias), key_bits(jax.random.fold_in(root, fold_value(3))))
    np.testing.assert_array_equal(
        key_bits(drawn), key_bits(jax.random.fold_in(root, fold_value(4)))
    )
    np.testing.assert_array_equal(
        key_bits(after), key_bits(jax.random.fold_in(KEY, fold_value("Dense_0", 5)))
    )

    # Un-jitted, the same code gives other parameters.
    def plain_model(scope, x):
        return scope.child(probe, "Dense_0")(x)

    _, plain = init(plain_model)(KEY, 1.0)
    assert not np.array_equal(
        key_bits(plain["params"]["Dense_0"]["kernel"]),
        key_bits(variables["params"]["Dense_0"]["kernel"]),
    )
    np.testing.assert_array_equal(
        key_bits(plain["params"]["Dense_0"]["kernel"]),
        key_bits(jax.random.fold_in(KEY, fold_value("Dense_0", 1))),
    )


def test_jit_counter_effects_are_the_same_on_cached_calls():
    jitted = lift.jit(lambda scope, x: (scope.make_rng("params"), scope.make_rng("params"))[1])

    def model(scope, x):
        jitted(scope.push("a"), x)
        return scope.push("a", reuse=True).make_rng("params")

    # One draw re-roots the stream, two are drawn inside: the next is counter 4.
    want = key_bits(jax.random.fold_in(KEY, fold_value("a", 4)))
    for _ in range(3):
        after = apply(model)({}, 1.0, rngs=KEY)
        np.testing.assert_array_equal(key_bits(after), want)


def test_jit_updates_mutable_collections_and_respects_filters():
    def counter(scope, x):
        n = scope.variable("stats", "n", lambda: jnp.zeros(()))
        n.value = n.value + x
        return n.value

    jitted = lift.jit(counter)
    out, updated = apply(jitted, mutable="stats")({"stats": {"n": jnp.ones(())}}, 2.0)
    assert out == 3.0
    assert updated == {"stats": {"n": 3.0}}
    with pytest.raises(ModifyScopeVariableError):
        apply(jitted)({"stats": {"n": jnp.ones(())}}, 2.0)
    only_params = lift.jit(counter, variables="params")
    with pytest.raises(ScopeCollectionNotFound):
        apply(only_params, mutable="stats")({"stats": {"n": jnp.ones(())}}, 2.0)


def test_jit_static_argnums():
    traces = []

    def fn(scope, x, power):
        traces.append(power)
        return x**power

    jitted = lift.jit(fn, static_argnums=(1,))
    assert apply(jitted)({}, 3.0, 2) == 9.0
    assert apply(jitted)({}, 3.0, 3) == 27.0
    assert apply(jitted)({}, 4.0, 3) == 64.0
    assert traces == [2, 3]


def test_jit_composes_with_outer_jax_transforms():
    jitted = lift.jit(mlp)
    x = data((2, 3))
    _, variables = init(jitted)(KEY, x)

    def loss(params):
        return jnp.sum(apply(jitted)({"params": params}, x) ** 2)

    grads = jax.grad(loss)(variables["params"])
    want = jax.grad(lambda p: jnp.sum(plain_mlp(p, x) ** 2))(variables["params"])
    assert_trees_close(grads, want)


# -- checkpoint / remat ---------------------------------------------------------------------


def test_remat_gives_the_same_values_and_gradients():
    rematted = lift.remat(mlp)
    x = data((2, 3))
    y, variables = init(rematted)(KEY, x)
    y_plain, plain = init(mlp)(KEY, x)
    # remat adds nothing to the keys: same parameters.
    assert_trees_close(variables, plain, rtol=0, atol=0)
    np.testing.assert_allclose(y, y_plain, rtol=RTOL)

    def loss(fn):
        return lambda params, x: jnp.sum(apply(fn)({"params": params}, x) ** 2)

    grads = jax.grad(loss(rematted), argnums=(0, 1))(variables["params"], x)
    want = jax.grad(loss(mlp), argnums=(0, 1))(variables["params"], x)
    assert_trees_close(grads, want)
    jaxpr = jax.make_jaxpr(jax.grad(loss(rematted)))(variables["params"], x)
    assert "remat" in str(jaxpr) or "checkpoint" in str(jaxpr)
    assert lift.checkpoint is lift.remat


def test_remat_passes_keys_through_and_static_argnums():
    def noisy(scope, x, train):
        if not train:
            return x
        return x + key_init(scope.make_rng("noise"), x.shape)

    rematted = lift.checkpoint(noisy, static_argnums=(1,))
    rngs = {"params": KEY, "noise": jax.random.key(3)}
    x = data((2,))
    out, _ = init(rematted)(rngs, x, True)
    want, _ = init(noisy)(rngs, x, True)
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(apply(rematted)({}, x, False), x)


def test_remat_with_policy_and_mutable_state():
    def model(scope, x):
        n = scope.variable("stats", "n", lambda: jnp.zeros(()))
        n.value = n.value + 1
        return mlp(scope, x)

    rematted = lift.checkpoint(model, policy=jax.checkpoint_policies.nothing_saveable)
    x = data((2, 3))
    _, variables = init(rematted)(KEY, x)
    assert variables["stats"]["n"] == 1
    out, updated = apply(rematted, mutable="stats")(variables, x)
    assert updated["stats"]["n"] == 2
    np.testing.assert_allclose(out, plain_mlp(variables["params"], x), rtol=RTOL, atol=1e-6)


# -- cond / switch / while_loop ------------------------------------------------------------


def branchy(scope, x, pred):
    scope.variable("state", "t", lambda: 0)
    scope.variable("state", "f", lambda: 0)

    def true_fn(s, x):
        s.variable("state", "t").value += 1
        return s.child(dense, "dense")(x)

    def false_fn(s, x):
        s.variable("state", "f").value += 1
        return -s.child(dense, "dense")(x)

    return lift.cond(pred, true_fn, false_fn, scope, x)


@pytest.mark.parametrize("pred", [True, False])
def test_cond_picks_the_branch_and_updates_state(pred):
    x = data((1, 2))
    y, variables = init(branchy)(KEY, x, pred)
    params = variables["params"]["dense"]
    sign = 1.0 if pred else -1.0
    np.testing.assert_allclose(y, sign * plain_dense(params, x), rtol=RTOL)
    assert variables["state"] == {"t": int(pred), "f": int(not pred)}
    out, updated = apply(branchy, mutable="state")(variables, x, jnp.array(not pred))
    np.testing.assert_allclose(out, -sign * plain_dense(params, x), rtol=RTOL)
    assert updated["state"] == {"t": 1, "f": 1}


def test_cond_branches_must_create_the_same_variables():
    def model(scope, x, pred):
        def true_fn(s, x):
            return s.param("a", key_init, ()) * x

        def false_fn(s, x):
            return s.param("b", key_init, ()) * x

        return lift.cond(pred, true_fn, false_fn, scope, x)

    with pytest.raises(BranchStructureError) as info:
        init(model)(KEY, 1.0, True)
    assert isinstance(info.value, TypeError)
    message = str(info.value)
    assert message.startswith("The branches of lifted cond must create and update variables")
    assert "run every branch once at initialization" in message
    assert info.value.transform == "cond"
    assert "cond branch outputs must have the same pytree structure" in info.value.detail
    assert "cond branch outputs must have the same pytree structure" in message


def test_switch_picks_the_branch():
    def model(scope, x, index):
        scope.variable("state", "calls", lambda: jnp.zeros(3, jnp.int32))

        def branch(i, scale):
            def fn(s, x):
                calls = s.variable("state", "calls")
                calls.value = calls.value.at[i].add(1)
                return scale * s.child(dense, "dense")(x)

            return fn

        return lift.switch(index, [branch(0, 1.0), branch(1, 2.0), branch(2, 3.0)], scope, x)

    x = data((1, 2))
    y, variables = init(model)(KEY, x, 2)
    params = variables["params"]["dense"]
    np.testing.assert_allclose(y, 3.0 * plain_dense(params, x), rtol=RTOL)
    np.testing.assert_array_equal(variables["state"]["calls"], [0, 0, 1])
    for index, scale in ((0, 1.0), (1, 2.0)):
        y, updated = apply(model, mutable="state")(variables, x, index)
        np.testing.assert_allclose(y, scale * plain_dense(params, x), rtol=RTOL)
        expected = np.array([0, 0, 1])
        expected[index] += 1
        np.testing.assert_array_equal(updated["state"]["calls"], expected)


def test_switch_branches_must_create_the_same_variables():
    def model(scope, i):
        fns = [lambda s: s.param("a", key_init, ()), lambda s: s.param("b", key_init, ())]
        return lift.switch(i, fns, scope)

    with pytest.raises(BranchStructureError, match="lifted switch"):
        init(model)(KEY, 1)


def test_while_loop_counts_and_carries_state():
    def model(scope, limit):
        scope.variable("state", "acc", lambda: jnp.array(0))
        scope.variable("consts", "step", lambda: jnp.array(2))

        def cond_fn(s, c):
            return s.variable("state", "acc").value < limit

        def body_fn(s, c):
            acc = s.variable("state", "acc")
            acc.value += s.variable("consts", "step").value
            return c + 1

        return lift.while_loop(
            cond_fn, body_fn, scope, 0, carry_variables="state", broadcast_variables="consts"
        )

    iterations, variables = init(model)(KEY, 9)
    assert iterations == 5
    assert variables["state"]["acc"] == 10
    assert variables["consts"]["step"] == 2
    iterations, updated = apply(model, mutable="state")(variables, 15)
    assert iterations == 3
    assert updated["state"]["acc"] == 16


def test_while_loop_broadcast_variables_are_immutable():
    def model(scope):
        scope.variable("consts", "x", lambda: 1)

        def body_fn(s, n):
            s.variable("consts", "x").value = 2
            return n + 1

        return lift.while_loop(
            lambda s, n: n < 3,
            body_fn,
            scope,
            0,
            carry_variables="state",
            broadcast_variables="consts",
        )

    with pytest.raises(ModifyScopeVariableError):
        init(model)(KEY)


def test_while_loop_cannot_create_carried_variables():
    def model(scope):
        def body_fn(s, n):
            s.variable("state", "x", lambda: 1)
            return n + 1

        return lift.while_loop(lambda s, n: n < 3, body_fn, scope, 0, carry_variables="state")

    with pytest.raises(TypeError, match="carry input and carry output must have the same"):
        init(model)(KEY)


@pytest.mark.parametrize("split", [True, False])
def test_while_loop_rng_splitting(split):
    def model(scope):
        def body_fn(s, carry):
            i, draws = carry
            draw = key_init(s.make_rng("noise"), ())
            return i + 1, draws.at[i].set(draw)

        return lift.while_loop(
            lambda s, c: c[0] < 3, body_fn, scope, (0, jnp.zeros(3)), split_rngs={"noise": split}
        )

    (_, draws), _ = init(model)({"params": KEY, "noise": jax.random.key(4)})
    if split:
        assert len(set(np.asarray(draws).tolist())) == 3
    else:
        assert len(set(np.asarray(draws).tolist())) == 1


# -- autodiff ------------------------------------------------------------------------------


def quadratic(scope, x):
    scale = scope.param("scale", lambda key: jnp.array(1.5))
    return scale * x**2


def plain_quadratic(scale, x):
    return scale * x**2


def scope_with_scale(scale=1.5):
    return {"params": {"scale": jnp.array(scale)}}


def test_jvp_matches_jax_jvp():
    x, x_t, s_t = data((3,)), jnp.array([1.0, 0.5, -1.0]), jnp.array(0.25)

    def model(scope, x):
        return lift.jvp(
            quadratic, scope, (x,), (x_t,), variable_tangents={"params": {"scale": s_t}}
        )

    (y, y_t) = apply(model)(scope_with_scale(), x)
    want_y, want_t = jax.jvp(plain_quadratic, (jnp.array(1.5), x), (s_t, x_t))
    np.testing.assert_allclose(y, want_y, rtol=RTOL)
    np.testing.assert_allclose(y_t, want_t, rtol=RTOL)

    # A collection without tangents counts as a zero tangent.
    def no_var_tangents(scope, x):
        return lift.jvp(quadratic, scope, (x,), (x_t,), variable_tangents={})

    _, y_t = apply(no_var_tangents)(scope_with_scale(), x)
    np.testing.assert_allclose(y_t, 1.5 * 2 * x * x_t, rtol=RTOL)


def test_vjp_matches_jax_vjp():
    x, ct = data((3,)), jnp.array([1.0, 2.0, 3.0])

    def model(scope, x):
        y, bwd = lift.vjp(quadratic, scope, x)
        return y, bwd(ct)

    y, (param_ct, x_ct) = apply(model)(scope_with_scale(), x)
    want_y, want_bwd = jax.vjp(plain_quadratic, jnp.array(1.5), x)
    want_scale_ct, want_x_ct = want_bwd(ct)
    np.testing.assert_allclose(y, want_y, rtol=RTOL)
    assert set(param_ct) == {"params"}
    np.testing.assert_allclose(param_ct["params"]["scale"], want_scale_ct, rtol=RTOL)
    np.testing.assert_allclose(x_ct, want_x_ct, rtol=RTOL)


def test_vjp_has_aux_and_updates_state():
    def fn(scope, x):
        n = scope.variable("stats", "n", lambda: 0)
        n.value += 1
        y = quadratic(scope, x)
        return y.sum(), {"mean": y.mean()}

    def model(scope, x):
        y, bwd, aux = lift.vjp(fn, scope, x, has_aux=True)
        return y, bwd(jnp.ones(())), aux

    x = data((3,))
    (y, (param_ct, x_ct), aux), updated = apply(model, mutable="stats")(
        {**scope_with_scale(), "stats": {"n": 0}}, x
    )
    np.testing.assert_allclose(y, jnp.sum(1.5 * x**2), rtol=RTOL)
    np.testing.assert_allclose(aux["mean"], jnp.mean(1.5 * x**2), rtol=RTOL)
    np.testing.assert_allclose(param_ct["params"]["scale"], jnp.sum(x**2), rtol=RTOL)
    np.testing.assert_allclose(x_ct, 3.0 * x, rtol=RTOL)
    assert updated == {"stats": {"n": 1}}


def test_vjp_reduce_axes_is_rejected():
    with pytest.raises(ValueError, match="reduce_axes"):
        apply(lambda scope, x: lift.vjp(quadratic, scope, x, reduce_axes=("batch",)))(
            scope_with_scale(), 1.0
        )


def test_value_and_grad_matches_jax():
    x = data((3,))

    def loss(scope, x):
        return jnp.sum(quadratic(scope, x))

    def model(scope, x):
        return lift.value_and_grad(loss, scope, x)

    value, (param_grads, x_grad) = apply(model)(scope_with_scale(2.0), x)
    want_value, (want_scale, want_x) = jax.value_and_grad(
        lambda s, x: jnp.sum(plain_quadratic(s, x)), argnums=(0, 1)
    )(jnp.array(2.0), x)
    np.testing.assert_allclose(value, want_value, rtol=RTOL)
    np.testing.assert_allclose(param_grads["params"]["scale"], want_scale, rtol=RTOL)
    np.testing.assert_allclose(x_grad, want_x, rtol=RTOL)

    def with_aux(scope, x):
        return lift.value_and_grad(lambda s, x: (loss(s, x), x.shape[0]), scope, x, has_aux=True)

    (value, aux), _ = apply(with_aux)(scope_with_scale(2.0), x)
    np.testing.assert_allclose(value, want_value, rtol=RTOL)
    assert aux == 3


def test_custom_vjp_replaces_the_backward_pass():
    def fwd(scope, x):
        return lift.vjp(quadratic, scope, x)

    def bwd(vjp_fn, y_t):
        params_t, *inputs_t = vjp_fn(y_t)
        return (jax.tree_util.tree_map(jnp.sign, params_t), *[2 * t for t in inputs_t])

    signed = lift.custom_vjp(quadratic, fwd, bwd)
    x = jnp.array([1.0, -2.0, 3.0])
    variables = scope_with_scale(1.5)
    np.testing.assert_allclose(apply(signed)(variables, x), 1.5 * x**2, rtol=RTOL)

    def loss(params, x):
        return jnp.sum(apply(signed)({"params": params}, x))

    param_grads, x_grad = jax.grad(loss, argnums=(0, 1))(variables["params"], x)
    np.testing.assert_allclose(param_grads["scale"], jnp.sign(jnp.sum(x**2)))
    np.testing.assert_allclose(x_grad, 2 * (2 * 1.5 * x), rtol=RTOL)


def test_custom_vjp_nondiff_argnums():
    def fn(scope, power, x):
        return scope.param("scale", lambda key: jnp.array(1.5)) * x**power

    def fwd(scope, power, x):
        y = fn(scope, power, x)
        return y, x

    def bwd(power, x, y_t):
        return {"params": {"scale": jnp.zeros(())}}, 100.0 * power * y_t

    custom = lift.custom_vjp(fn, fwd, bwd, nondiff_argnums=(0,))

    def loss(x):
        return jnp.sum(apply(custom)(scope_with_scale(), 3, x))

    x = jnp.array([1.0, 2.0])
    np.testing.assert_allclose(jax.grad(loss)(x), jnp.full(2, 300.0))


# -- map_variables / named_call ---------------------------------------------------------------


def double(tree):
    return jax.tree_util.tree_map(lambda a: 2 * a, tree)


def test_map_variables_maps_in():
    mapped = lift.map_variables(mlp, "params", double)
    x = data((1, 3))
    _, plain = init(mlp)(KEY, x)
    out = apply(mapped)(plain, x)
    np.testing.assert_allclose(out, plain_mlp(double(plain["params"]), x), rtol=RTOL, atol=1e-6)
    # Not mutable inside: the mapped values are not written back.
    _, updated = apply(mapped, mutable=True)(plain, x)
    assert_trees_close(updated, plain, rtol=0, atol=0)


def test_map_variables_init_creates_then_maps():
    mapped = lift.map_variables(mlp, "params", double, init=True)
    x = data((1, 3))
    y, variables = init(mapped)(KEY, x)
    _, plain = init(mlp)(KEY, x)
    # The variables are created unmapped, mapped in for the call, and stored as the
    # function left them (map_out_fn is the identity).
    doubled = double(plain["params"])
    assert_trees_close(variables["params"], doubled, rtol=0, atol=0)
    np.testing.assert_allclose(y, plain_mlp(doubled, x), rtol=RTOL, atol=1e-6)
    out = apply(mapped)(variables, x)
    np.testing.assert_allclose(out, plain_mlp(double(doubled), x), rtol=RTOL, atol=1e-6)


def test_map_variables_init_maps_the_created_variables_out_first():
    def fn(scope):
        return scope.param("w", lambda key: jnp.ones(2))

    def plus_100(tree):
        return jax.tree_util.tree_map(lambda a: a + 100, tree)

    mapped = lift.map_variables(fn, "params", double, plus_100, init=True)
    y, variables = init(mapped)(KEY)
    np.testing.assert_array_equal(y, jnp.full(2, 202.0))
    np.testing.assert_array_equal(variables["params"]["w"], jnp.full(2, 302.0))


def test_map_variables_for_tied_weights():
    def transpose(tree):
        return jax.tree_util.tree_map(lambda a: a.T, tree)

    def decoder(scope, h):
        return h @ scope.param("kernel", key_init, (2, 3))

    tied = lift.map_variables(decoder, "params", transpose)

    def autoencoder(scope, x):
        h = x @ scope.param("kernel", key_init, (3, 2))
        return tied(scope, h)

    x = data((1, 3))
    y, variables = init(autoencoder)(KEY, x)
    assert set(variables["params"]) == {"kernel"}
    kernel = variables["params"]["kernel"]
    assert kernel.shape == (3, 2)
    np.testing.assert_allclose(y, (x @ kernel) @ kernel.T, rtol=RTOL)


def test_map_variables_out_fn_and_other_collections():
    def fn(scope):
        v = scope.variable("stats", "v", lambda: jnp.ones(2))
        v.value = v.value + 1
        return scope.variable("consts", "c").value

    def halve(tree):
        return jax.tree_util.tree_map(lambda a: a / 2, tree)

    mapped = lift.map_variables(fn, "stats", map_in_fn=double, map_out_fn=halve, mutable=True)
    out, updated = apply(mapped, mutable="stats")(
        {"stats": {"v": jnp.ones(2)}, "consts": {"c": 7.0}}
    )
    assert out == 7.0
    # in: 1 -> 2, +1 -> 3, out: 3 / 2.
    np.testing.assert_array_equal(updated["stats"]["v"], jnp.full(2, 1.5))


def test_map_variables_immutable_target_is_read_only():
    def fn(scope):
        v = scope.variable("stats", "v", lambda: jnp.ones(2))
        v.value = v.value + 1

    mapped = lift.map_variables(fn, "stats", double)
    with pytest.raises(ModifyScopeVariableError):
        apply(mapped, mutable=True)({"stats": {"v": jnp.ones(2)}})


def test_named_call():
    named = lift.named_call(lambda scope, x: jnp.sin(x) + scope.param("b", key_init, ()), "block")
    _, variables = init(named)(KEY, jnp.ones(()))
    x = data((2,))
    np.testing.assert_allclose(
        apply(named)(variables, x), jnp.sin(x) + variables["params"]["b"], rtol=RTOL
    )
    jaxpr = jax.make_jaxpr(lambda x: apply(named)(variables, x))(x)
    assert any("block" in str(eqn.source_info.name_stack) for eqn in jaxpr.eqns)


# -- several scopes lifted together ---------------------------------------------------------


def two_scopes(scopes, x):
    parent, child = scopes
    w = parent.param("w", lambda key: jnp.full((), 3.0))
    v = child.param("v", lambda key: jnp.full((), 5.0))
    child.variable("stats", "n", lambda: 0.0).value += 1.0
    parent.variable("stats", "m", lambda: 0.0).value += 2.0
    return w * x + v


@pytest.mark.parametrize("transform", [lift.jit, lift.checkpoint])
@pytest.mark.parametrize(
    ("pick", "params"),
    [
        # A child lifted with its parent is rebuilt from the parent, not lifted twice.
        (lambda s: (s, s.push("c")), {"w": 3.0, "c": {"v": 5.0}}),
        (lambda s: (s.push("a"), s.push("b")), {"a": {"w": 3.0}, "b": {"v": 5.0}}),
        (
            lambda s: (s.push("a"), s.push("a", reuse=True).push("d").push("e")),
            {"a": {"w": 3.0, "d": {"e": {"v": 5.0}}}},
        ),
    ],
)
def test_lifting_a_tree_of_scopes(transform, pick, params):
    lifted = transform(two_scopes)

    def model(scope, x):
        return lifted(pick(scope), x)

    y, variables = init(model)(KEY, 2.0)
    assert y == 11.0
    assert jax.tree_util.tree_map(float, variables["params"]) == params
    stats = jax.tree_util.tree_map(float, variables["stats"])
    assert sorted(jax.tree_util.tree_leaves(stats)) == [1.0, 2.0]
    out, updated = apply(model, mutable="stats")(variables, 1.0)
    assert out == 8.0
    assert sorted(jax.tree_util.tree_leaves(updated["stats"])) == [2.0, 4.0]


def test_streams_not_lifted_are_not_available_inside():
    def model(scope):
        return lift.jit(lambda s: s.make_rng("dropout"), rngs=False)(scope)

    with pytest.raises(InvalidRngError, match='needs PRNG for "dropout"'):
        init(model)({"params": KEY, "dropout": jax.random.key(1)})
