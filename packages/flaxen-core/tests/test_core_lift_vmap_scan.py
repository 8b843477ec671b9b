"""Lifted vmap, scan and remat_scan against the same math written in plain JAX."""

import functools
import hashlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flaxen.core import apply, broadcast, init, lift
from flaxen.core.lift import ScopeFn
from flaxen.errors import (
    ModifyScopeVariableError,
    ScanBroadcastError,
    ScanCarryStructureError,
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


@functools.partial(jax.jit, static_argnums=1)
def key_init(key, shape):
    """Cheap to compile (unlike jax.random.normal) yet a different value per key."""
    seed = (jax.random.key_data(key)[..., 0] % 10007).astype(jnp.float32)
    size = int(np.prod(shape))
    return jnp.sin(jnp.arange(size, dtype=jnp.float32).reshape(shape) * 0.5 + seed)


def dense(scope, x, features=3):
    kernel = scope.param("kernel", key_init, (x.shape[-1], features))
    bias = scope.param("bias", key_init, (features,))
    return x @ kernel + bias[None]


def data(shape):
    return jnp.asarray(np.sin(np.arange(np.prod(shape)) * 0.7).reshape(shape), jnp.float32)


def plain_dense(params, x):
    return x @ params["kernel"] + params["bias"][None]


def keys_differ(stacked):
    return all(not np.allclose(stacked[0], stacked[i]) for i in range(1, len(stacked)))


def keys_equal(stacked):
    return all(np.array_equal(stacked[0], stacked[i]) for i in range(1, len(stacked)))


# -- vmap -----------------------------------------------------------------------------------


def test_vmap_with_mapped_params_is_a_per_example_dense():
    vdense = lift.vmap(dense, variable_axes={"params": 0}, split_rngs={"params": True})

    def model(scope, x):
        return scope.child(vdense, "VmapDense_0")(x)

    xs = data((4, 2, 5))
    ys, variables = init(model)(KEY, xs)
    params = variables["params"]["VmapDense_0"]
    assert params["kernel"].shape == (4, 5, 3)
    assert params["bias"].shape == (4, 3)
    expected = jax.vmap(plain_dense)(params, xs)
    np.testing.assert_allclose(ys, expected, rtol=RTOL)
    for i in range(4):
        np.testing.assert_allclose(
            ys[i], plain_dense(jax.tree_util.tree_map(lambda p: p[i], params), xs[i]), rtol=RTOL
        )
    again = apply(model)(variables, 2 * xs)
    np.testing.assert_allclose(again, jax.vmap(plain_dense)(params, 2 * xs), rtol=RTOL)
    assert keys_differ(params["kernel"])


def test_vmap_split_keys_follow_the_spec():
    vdense = lift.vmap(dense, variable_axes={"params": 0}, split_rngs={"params": True})

    def model(scope, x):
        return scope.child(vdense, "V")(x)

    _, variables = init(model)(KEY, jnp.ones((3, 1, 2)))
    roots = jax.random.split(KEY, 3)
    for i in range(3):
        kernel_key = jax.random.fold_in(roots[i], fold_value("V", 1))
        bias_key = jax.random.fold_in(roots[i], fold_value("V", 2))
        np.testing.assert_array_equal(
            variables["params"]["V"]["kernel"][i], key_init(kernel_key, (2, 3))
        )
        np.testing.assert_array_equal(variables["params"]["V"]["bias"][i], key_init(bias_key, (3,)))


def test_vmap_without_split_gives_identical_params():
    vdense = lift.vmap(dense, variable_axes={"params": 0}, split_rngs={"params": False})
    _, variables = init(vdense)(KEY, jnp.ones((3, 1, 2)))
    assert keys_equal(variables["params"]["kernel"])
    # ...equal to the un-vmapped parameters.
    _, single = init(dense)(KEY, jnp.ones((1, 2)))
    np.testing.assert_array_equal(variables["params"]["kernel"][0], single["params"]["kernel"])


def test_vmap_with_shared_params_and_split_noise():
    def noisy(scope, x):
        y = dense(scope, x)
        return y + key_init(scope.make_rng("noise"), y.shape)

    vnoisy = lift.vmap(
        noisy,
        variable_axes={"params": None},
        split_rngs={"params": False, "noise": True},
        in_axes=(1,),
        out_axes=1,
    )
    noise_key = jax.random.key(5)
    xs = jnp.ones((2, 4, 5))
    ys, variables = init(vnoisy)({"params": KEY, "noise": noise_key}, xs)
    params = variables["params"]
    assert params["kernel"].shape == (5, 3)
    assert ys.shape == (2, 4, 3)
    noise_roots = jax.random.split(noise_key, 4)
    for i in range(4):
        noise = key_init(jax.random.fold_in(noise_roots[i], fold_value(1)), (2, 3))
        np.testing.assert_allclose(ys[:, i], plain_dense(params, xs[:, i]) + noise, rtol=RTOL)
    # The inputs are identical: only the noise tells the elements apart.
    assert keys_differ(jnp.moveaxis(ys, 1, 0))


def test_vmap_axis_size_without_mapped_inputs():
    def counter(scope):
        n = scope.variable("state", "n", lambda: jnp.zeros(()))
        n.value = n.value + 1
        return scope.param("p", key_init, (2,))

    vcounter = lift.vmap(
        counter,
        variable_axes={"params": 0, "state": 0},
        split_rngs={"params": True},
        axis_size=4,
        in_axes=(),
    )
    out, variables = init(vcounter)(KEY)
    assert out.shape == (4, 2)
    np.testing.assert_array_equal(variables["state"]["n"], jnp.ones(4))
    np.testing.assert_array_equal(variables["params"]["p"], out)
    _, updated = apply(vcounter, mutable="state")(variables)
    np.testing.assert_array_equal(updated["state"]["n"], jnp.full(4, 2.0))


def test_vmap_needs_a_mapped_input_or_axis_size():
    vmapped = lift.vmap(
        lambda scope: scope.param("p", key_init, (2,)),
        variable_axes={"params": 0},
        split_rngs={"params": True},
        in_axes=(),
    )
    with pytest.raises(ValueError, match="vmap could not infer the size of the mapped axis"):
        init(vmapped)(KEY)


def test_vmap_infers_the_size_from_mapped_variables():
    vmapped = lift.vmap(
        lambda scope: scope.param("p", key_init, (2,)),
        variable_axes={"params": 0},
        split_rngs={"params": True},
        in_axes=(),
    )
    params = jnp.arange(6.0).reshape((3, 2))
    np.testing.assert_array_equal(apply(vmapped)({"params": {"p": params}}), params)


def test_vmap_axis_name_for_collectives():
    def normalize(scope, x):
        return x / jax.lax.psum(x, "batch")

    vmapped = lift.vmap(normalize, variable_axes={}, split_rngs={}, axis_name="batch")
    xs = jnp.arange(1.0, 5.0)
    np.testing.assert_allclose(apply(vmapped)({}, xs), xs / xs.sum(), rtol=RTOL)


def test_vmap_collections_not_lifted_are_not_visible_inside():
    def model(scope, x):
        return scope.variable("stats", "n").value * x

    vmapped = lift.vmap(model, variable_axes={"params": 0}, split_rngs={})
    variables = {"stats": {"n": jnp.ones(())}, "params": {}}
    assert apply(model)(variables, 2.0) == 2.0
    with pytest.raises(ScopeCollectionNotFound):
        apply(vmapped)(variables, jnp.ones(3))
    lifted = lift.vmap(model, variable_axes={"stats": None}, split_rngs={})
    np.testing.assert_array_equal(apply(lifted)(variables, jnp.ones(3)), jnp.ones(3))


def test_vmap_mutability_follows_the_outside():
    def model(scope, x):
        n = scope.variable("stats", "n", lambda: jnp.zeros(()))
        n.value = n.value + x
        return x

    vmapped = lift.vmap(model, variable_axes={"stats": 0}, split_rngs={})
    variables = {"stats": {"n": jnp.zeros(3)}}
    with pytest.raises(ModifyScopeVariableError):
        apply(vmapped)(variables, jnp.arange(3.0))
    _, updated = apply(vmapped, mutable="stats")(variables, jnp.arange(3.0))
    np.testing.assert_array_equal(updated["stats"]["n"], jnp.arange(3.0))
    np.testing.assert_array_equal(variables["stats"]["n"], jnp.zeros(3))


def test_vmap_in_and_out_only_axes():
    def model(scope, x):
        p = scope.param("p", lambda key: jnp.ones(()))
        n = scope.variable("stats", "n", lambda: jnp.zeros(()))
        n.value = x * p
        return x * p

    vmapped = lift.vmap(
        model, variable_axes={"params": lift.In(0), "stats": lift.Out(0)}, split_rngs={}
    )
    params = {"p": jnp.array([1.0, 2.0, 3.0])}
    out, updated = apply(vmapped, mutable=True)({"params": params}, jnp.ones(3))
    np.testing.assert_array_equal(out, params["p"])
    # params were mapped in but not returned; stats only come out.
    assert set(updated) == {"stats", "params"}
    np.testing.assert_array_equal(updated["stats"]["n"], params["p"])


# -- scan -----------------------------------------------------------------------------------


def cell(scope, carry, x):
    h = scope.child(dense, "Dense_0")(carry)
    return jnp.tanh(h + x), h


def python_loop(params, carry, xs, per_step):
    ys = []
    for t in range(xs.shape[0]):
        step = jax.tree_util.tree_map(lambda p: p[t], params) if per_step else params
        h = plain_dense(step, carry)
        carry = jnp.tanh(h + xs[t])
        ys.append(h)
    return carry, jnp.stack(ys)


def test_scan_with_per_step_params_is_a_python_loop():
    scanned = lift.scan(cell, variable_axes={"params": 0}, split_rngs={"params": True})
    carry = jnp.ones((1, 3))
    xs = data((5, 1, 3))
    (c, ys), variables = init(scanned)(KEY, carry, xs)
    params = variables["params"]["Dense_0"]
    assert params["kernel"].shape == (5, 3, 3)
    want_c, want_ys = python_loop(params, carry, xs, per_step=True)
    np.testing.assert_allclose(c, want_c, rtol=RTOL, atol=1e-6)
    np.testing.assert_allclose(ys, want_ys, rtol=RTOL, atol=1e-6)
    c2, ys2 = apply(scanned)(variables, carry, xs)
    np.testing.assert_allclose(c2, want_c, rtol=RTOL, atol=1e-6)
    np.testing.assert_allclose(ys2, want_ys, rtol=RTOL, atol=1e-6)
    assert keys_differ(params["kernel"])


def test_scan_keys_split_the_root_and_count_after_the_first_trace():
    scanned = lift.scan(cell, variable_axes={"params": 0}, split_rngs={"params": True})
    _, variables = init(scanned)(KEY, jnp.ones((1, 3)), jnp.ones((4, 1, 3)))
    params = variables["params"]["Dense_0"]
    roots = jax.random.split(KEY, 4)
    # The body is traced once before the loop: kernel and bias draw counters 3 and 4.
    for t in range(4):
        kernel_key = jax.random.fold_in(roots[t], fold_value("Dense_0", 3))
        bias_key = jax.random.fold_in(roots[t], fold_value("Dense_0", 4))
        np.testing.assert_array_equal(params["kernel"][t], key_init(kernel_key, (3, 3)))
        np.testing.assert_array_equal(params["bias"][t], key_init(bias_key, (3,)))


def test_scan_without_split_gives_identical_steps():
    scanned = lift.scan(cell, variable_axes={"params": 0}, split_rngs={"params": False})
    _, variables = init(scanned)(KEY, jnp.ones((1, 3)), jnp.ones((4, 1, 3)))
    assert keys_equal(variables["params"]["Dense_0"]["kernel"])


def test_scan_with_broadcast_params_reuses_them_every_step():
    scanned = lift.scan(cell, variable_broadcast="params", split_rngs={"params": False})
    carry = jnp.ones((1, 3))
    xs = data((5, 1, 3))
    (c, ys), variables = init(scanned)(KEY, carry, xs)
    params = variables["params"]["Dense_0"]
    assert params["kernel"].shape == (3, 3)
    want_c, want_ys = python_loop(params, carry, xs, per_step=False)
    np.testing.assert_allclose(c, want_c, rtol=RTOL, atol=1e-6)
    np.testing.assert_allclose(ys, want_ys, rtol=RTOL, atol=1e-6)
    c2, _ = apply(scanned)(variables, carry, xs)
    np.testing.assert_allclose(c2, want_c, rtol=RTOL, atol=1e-6)


@pytest.mark.parametrize(
    ("mutable", "rngs", "traces"),
    [
        (False, None, 1),  # lax.scan's trace only
        (["intermediates"], None, 2),  # + the broadcast pre-pass
        (False, {"params": KEY}, 2),  # + the pre-pass, which advances the counters
    ],
)
def test_scan_traces_the_body_for_its_pre_pass_only_when_it_can_matter(mutable, rngs, traces):
    calls = []

    def counting_cell(scope, c, x):
        calls.append(None)
        return cell(scope, c, x)

    scanned = lift.scan(counting_cell, variable_broadcast="params", split_rngs={"params": False})
    carry, xs = jnp.ones((1, 3)), data((5, 1, 3))
    _, variables = init(scanned)(KEY, carry, xs)
    calls.clear()
    out = jax.jit(lambda v: apply(scanned, mutable=mutable)(v, carry, xs, rngs=rngs))(variables)
    c, ys = out if mutable is False else out[0]
    assert len(calls) == traces
    want_c, want_ys = python_loop(variables["params"]["Dense_0"], carry, xs, per_step=False)
    np.testing.assert_allclose(c, want_c, rtol=RTOL, atol=1e-6)
    np.testing.assert_allclose(ys, want_ys, rtol=RTOL, atol=1e-6)


@pytest.mark.parametrize("unroll", [1, 3])
def test_scan_reverse_in_axes_broadcast_and_out_axes(unroll):
    def body(scope, c, x, b):
        w = scope.param("w", lambda key: jnp.ones(()))
        c = c * w + x + b
        return c, c

    scanned = lift.scan(
        body,
        variable_broadcast="params",
        split_rngs={"params": False},
        in_axes=(1, broadcast),
        out_axes=1,
        reverse=True,
        unroll=unroll,
    )
    xs = jnp.arange(8.0).reshape((2, 4))
    b = jnp.array([10.0, 20.0])
    (c, ys), _ = init(scanned)(KEY, jnp.zeros(2), xs, b)
    carry, outs = jnp.zeros(2), [None] * 4
    for t in reversed(range(4)):
        carry = carry + xs[:, t] + b
        outs[t] = carry
    np.testing.assert_array_equal(c, carry)
    assert ys.shape == (2, 4)
    np.testing.assert_array_equal(ys, jnp.stack(outs, axis=1))


def test_scan_carried_variables_count_the_steps():
    def body(scope, c):
        count = scope.variable("counter", "i", lambda: jnp.zeros((), jnp.int32))
        count.value += 1
        return c + 1.0, count.value

    scanned = lift.scan(body, variable_carry="counter", length=4, in_axes=())

    def model(scope, c):
        scope.variable("counter", "i", lambda: jnp.zeros((), jnp.int32))
        return scanned(scope, c)

    (c, counts), variables = init(model)(KEY, jnp.zeros(()))
    assert c == 4.0
    np.testing.assert_array_equal(counts, jnp.arange(1, 5))
    assert variables["counter"]["i"] == 4
    # Without a mutable counter the step cannot update it.
    with pytest.raises(ModifyScopeVariableError):
        apply(model)(variables, jnp.zeros(()))
    (_, counts), updated = apply(model, mutable="counter")(variables, jnp.zeros(()))
    np.testing.assert_array_equal(counts, jnp.arange(5, 9))
    assert updated["counter"]["i"] == 8


def test_scan_split_noise_differs_per_step():
    def body(scope, c):
        return c, key_init(scope.make_rng("noise"), (2,))

    split = lift.scan(body, split_rngs={"noise": True}, length=3, in_axes=())
    same = lift.scan(body, split_rngs={"noise": False}, length=3, in_axes=())
    noise_key = jax.random.key(9)
    (_, noise), _ = init(split)({"params": KEY, "noise": noise_key}, 0.0)
    assert keys_differ(noise)
    roots = jax.random.split(noise_key, 3)
    for t in range(3):
        np.testing.assert_array_equal(
            noise[t], key_init(jax.random.fold_in(roots[t], fold_value(2)), (2,))
        )
    (_, noise), _ = init(same)({"params": KEY, "noise": noise_key}, 0.0)
    assert keys_equal(noise)


def test_scan_carry_variables_cannot_be_created_in_the_body():
    def body(scope, c):
        count = scope.variable("counter", "i", lambda: jnp.zeros((), jnp.int32))
        count.value += 1
        return c, None

    scanned = lift.scan(body, variable_carry="counter", length=2, in_axes=())
    with pytest.raises(ScanCarryStructureError) as info:
        init(scanned)(KEY, 0.0)
    # A TypeError, like jax.lax.scan's own error for a carry that changes structure.
    assert isinstance(info.value, TypeError)
    assert info.value.created == ("counter/i",)
    assert info.value.removed == ()
    assert str(info.value).startswith(
        "The scan body created counter/i. Carried variables (variable_carry) must keep"
        " their structure across scan steps, so they cannot be created inside the scan body."
    )


def test_scan_broadcast_variables_must_not_depend_on_the_carry():
    def body(scope, c, x):
        # Only the dependent variables are named: a, b and the child's v are constants.
        a = scope.param("a", lambda key: jnp.ones(()))
        w = scope.param("w", lambda key: c * 2.0)
        b = scope.param("b", lambda key: jnp.zeros(2))
        child = scope.push("child")
        v = child.param("v", lambda key: jnp.ones(()))
        u = child.param("u", lambda key: x.sum() * c)
        return c * w * a * v * u + x + b.sum(), None

    scanned = lift.scan(body, variable_broadcast="params", split_rngs={"params": False})
    with pytest.raises(ScanBroadcastError) as info:
        init(scanned)(KEY, jnp.ones(()), jnp.ones(3))
    assert isinstance(info.value, ValueError)
    assert info.value.paths == ("params/child/u", "params/w")
    assert str(info.value).startswith(
        "Broadcast variables of scan must not depend on the carry, the scanned inputs or"
        " split RNG streams, but params/child/u, params/w do"
    )


def test_scan_broadcast_variables_must_not_use_split_streams():
    def body(scope, c, x):
        w = scope.param("w", key_init, ())
        return c * w + x, None

    scanned = lift.scan(body, variable_broadcast="params", split_rngs={"params": True})
    with pytest.raises(ScanBroadcastError) as info:
        init(scanned)(KEY, jnp.ones(()), jnp.ones(3))
    assert info.value.paths == ("params/w",)


def test_scan_needs_a_length():
    scanned = lift.scan(lambda scope, c: (c, c), in_axes=())
    with pytest.raises(ValueError, match="scan could not infer its length"):
        apply(scanned)({}, 0.0)


def test_scan_collections_not_lifted_are_not_visible_inside():
    def body(scope, c, x):
        return c + scope.variable("stats", "n").value * x, None

    scanned = lift.scan(body, variable_broadcast="params")
    with pytest.raises(ScopeCollectionNotFound):
        apply(scanned)({"stats": {"n": 1.0}, "params": {}}, 0.0, jnp.ones(3))
    lifted = lift.scan(body, variable_broadcast=["stats"])
    c, _ = apply(lifted)({"stats": {"n": 2.0}}, 0.0, jnp.ones(3))
    assert c == 6.0


def test_scan_variable_axes_must_be_integers():
    with pytest.raises(TypeError, match="must be integers"):
        lift.scan(cell, variable_axes={"params": None})


# -- remat_scan ---------------------------------------------------------------------------


def test_remat_scan_shapes_and_nested_loop():
    def body(scope, x):
        return jnp.tanh(scope.child(dense, "Dense_0")(x))

    looped = lift.remat_scan(body, lengths=(2, 3))
    x = data((1, 3))
    y, variables = init(looped)(KEY, x)
    params = variables["params"]["Dense_0"]
    assert params["kernel"].shape == (2, 3, 3, 3)
    assert params["bias"].shape == (2, 3, 3)
    want = x
    for i in range(2):
        for j in range(3):
            step = jax.tree_util.tree_map(lambda p: p[i, j], params)
            want = jnp.tanh(plain_dense(step, want))
    np.testing.assert_allclose(y, want, rtol=RTOL, atol=1e-6)
    np.testing.assert_allclose(apply(looped)(variables, x), want, rtol=RTOL, atol=1e-6)
    flat = params["kernel"].reshape((6, 3, 3))
    assert keys_differ(flat)

    def loss(params, x):
        return jnp.sum(apply(looped)({"params": params}, x) ** 2)

    def plain_loss(params, x):
        for i in range(2):
            for j in range(3):
                x = jnp.tanh(plain_dense(jax.tree_util.tree_map(lambda p: p[i, j], params), x))
        return jnp.sum(x**2)

    grads = jax.jit(jax.grad(loss))(variables["params"], x)
    want_grads = jax.jit(jax.grad(plain_loss))(params, x)
    np.testing.assert_allclose(
        grads["Dense_0"]["kernel"], want_grads["kernel"], rtol=1e-4, atol=1e-6
    )


def test_remat_scan_single_level():
    def body(scope, x):
        return x * scope.param("w", lambda key: jnp.full((), 2.0))

    looped = lift.remat_scan(body, lengths=(4,))
    y, variables = init(looped)(KEY, jnp.ones(()))
    assert variables["params"]["w"].shape == (4,)
    assert y == 16.0


# -- pack -----------------------------------------------------------------------------------


def test_pack_groups_collections_and_writes_back():
    def lift_transpose(fn, target="params", variables=True, rngs=True):
        def wrapper(scope_fn, repack_fn, variable_groups, rng_groups, *args):
            assert isinstance(scope_fn, ScopeFn)
            target_group, rest = variable_groups
            target_group = jax.tree_util.tree_map(lambda x: x.T if x.ndim == 2 else x, target_group)
            scope = scope_fn((target_group, rest), rng_groups)
            y = fn(scope, *args)
            return y, repack_fn(scope)

        return lift.pack(wrapper, (target, variables), (variables,), (rngs,))

    def model(scope, x):
        w = scope.param("w", key_init, (x.shape[-1], 2))
        n = scope.variable("stats", "n", lambda: 0)
        n.value += 1
        return x @ w

    transposed = lift_transpose(model, variables=["stats"])
    x = jnp.ones((1, 4))
    w = data((2, 4))
    y, updated = apply(transposed, mutable=True)({"params": {"w": w}, "stats": {"n": 0}}, x)
    np.testing.assert_allclose(y, x @ w.T, rtol=RTOL)
    # Only the output filters' collections are written back.
    assert updated["stats"] == {"n": 1}
    np.testing.assert_array_equal(updated["params"]["w"], w)
