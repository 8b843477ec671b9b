"""Lifted autodiff and control flow: jvp, vjp, grad, value_and_grad, custom_vjp,
while_loop, cond, switch. Results are checked against the same maths in plain JAX."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flaxen import linen as nn
from flaxen.errors import ModifyScopeVariableError

KEY = jax.random.key(0)


class Dense(nn.Module):
    features: int

    @nn.compact
    def __call__(self, x):
        kernel = self.param("kernel", jax.nn.initializers.normal(), (x.shape[-1], self.features))
        bias = self.param("bias", jax.nn.initializers.normal(), (self.features,))
        return x @ kernel + bias.reshape((1,) * (x.ndim - 1) + (-1,))


def dense(p, x):
    return x @ p["kernel"] + p["bias"].reshape((1,) * (x.ndim - 1) + (-1,))


def close(a, b):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


class LearnScale(nn.Module):
    @nn.compact
    def __call__(self, x, y):
        p = self.param("scale", jax.nn.initializers.normal(), ())
        return p * x * y


X = jnp.arange(3.0)
Y = jnp.full(3, 2.0)


def scale_of(variables, path=("LearnScale_0",)):
    p = variables["params"]
    for name in path:
        p = p[name]
    return p["scale"]


# -- jvp / vjp / grad ------------------------------------------------------------------------


def test_jvp_with_variable_tangents():
    class Foo(nn.Module):
        @nn.compact
        def __call__(self, x):
            scale = LearnScale()
            vars_t = jax.tree_util.tree_map(jnp.ones_like, scale.variables.get("params", {}))
            out, out_t = nn.jvp(
                lambda mdl, x: mdl(x, Y),
                scale,
                (x,),
                (jnp.ones_like(x),),
                variable_tangents={"params": vars_t},
            )
            return out, out_t

    variables = Foo().init(KEY, X)
    (out, out_t) = Foo().apply(variables, X)
    p = scale_of(variables)
    close(out, p * X * Y)
    # d/dt of (p + t) * (x + t) * y at t=0: x*y + p*y
    close(out_t, X * Y + p * Y)


def test_vjp_returns_parameter_and_input_cotangents():
    class Foo(nn.Module):
        @nn.compact
        def __call__(self, x, y):
            z, bwd = nn.vjp(lambda mdl, x, y: mdl(x, y), LearnScale(), x, y)
            params_grad, x_grad, y_grad = bwd(jnp.ones(z.shape))
            return z, params_grad, x_grad, y_grad

    variables = Foo().init(KEY, X, Y)
    z, params_grad, x_grad, y_grad = Foo().apply(variables, X, Y)
    p = scale_of(variables)
    close(z, p * X * Y)
    assert jax.tree_util.tree_structure(params_grad) == jax.tree_util.tree_structure(
        {"params": {"scale": 0}}
    )
    close(params_grad["params"]["scale"], jnp.sum(X * Y))
    close(x_grad, p * Y)
    close(y_grad, p * X)


def test_vjp_has_aux_and_vjp_variables():
    class Foo(nn.Module):
        @nn.compact
        def __call__(self, x):
            m = LearnScale()
            if self.is_initializing():
                m(x, x)
            z, bwd, aux = nn.vjp(
                lambda mdl, x: (mdl(x, x), x.sum()), m, x, has_aux=True, vjp_variables=False
            )
            return z, bwd(jnp.ones_like(z)), aux

    variables = Foo().init(KEY, X)
    z, (var_grads, x_grad), aux = Foo().apply(variables, X)
    p = scale_of(variables)
    close(z, p * X * X)
    assert var_grads == {}
    close(x_grad, 2 * p * X)
    close(aux, X.sum())


def test_grad_and_value_and_grad():
    class Foo(nn.Module):
        @nn.compact
        def __call__(self, x, y):
            m = LearnScale()
            if self.is_initializing():
                m(x, y)
            fn = lambda mdl, x, y: (mdl(x, y) ** 2).sum()
            grads = nn.grad(fn, m, x, y)
            value, grads2 = nn.value_and_grad(fn, m, x, y)
            (value_aux, aux), grads3 = nn.value_and_grad(
                lambda mdl, x, y: (fn(mdl, x, y), x.mean()), m, x, y, has_aux=True
            )
            grads4, aux4 = nn.grad(lambda mdl, x, y: (fn(mdl, x, y), 7.0), m, x, y, has_aux=True)
            return grads, value, grads2, value_aux, aux, grads3, grads4, aux4

    variables = Foo().init(KEY, X, Y)
    grads, value, grads2, value_aux, aux, grads3, grads4, aux4 = Foo().apply(variables, X, Y)
    p = scale_of(variables)
    expected = jax.grad(lambda x, y: ((p * x * y) ** 2).sum(), argnums=(0, 1))(X, Y)
    for g in (grads, grads2, grads3, grads4):
        assert len(g) == 2
        close(g[0], expected[0])
        close(g[1], expected[1])
    close(value, ((p * X * Y) ** 2).sum())
    close(value_aux, value)
    close(aux, X.mean())
    assert aux4 == 7.0


def test_custom_vjp_replaces_the_backward_pass():
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
            return sign_grad(Dense(1), x).reshape(())

    x = jnp.ones((2,))
    variables = Foo().init(KEY, x)
    p = variables["params"]["Dense_0"]
    close(Foo().apply(variables, x), dense(p, x).reshape(()))
    grad = jax.grad(Foo().apply)(variables, x)
    true_grad = jax.grad(lambda p: dense(p, x).reshape(()))(p)
    jax.tree_util.tree_map(lambda g, t: close(g, jnp.sign(t)), grad["params"]["Dense_0"], true_grad)


def test_custom_vjp_nondiff_argnums():
    class Foo(nn.Module):
        @nn.compact
        def __call__(self, x, power):
            def f(mdl, x, power):
                return mdl(x, x) ** power

            def fwd(mdl, x, power):
                y, vjp_fn = nn.vjp(lambda m, x: f(m, x, power), mdl, x)
                return y, vjp_fn

            def bwd(power, vjp_fn, y_t):
                params_t, x_t = vjp_fn(y_t)
                return params_t, x_t * 0 + power

            return nn.custom_vjp(f, fwd, bwd, nondiff_argnums=(2,))(LearnScale(), x, power)

    variables = Foo().init(KEY, X, 2)
    grads = jax.grad(lambda x: Foo().apply(variables, x, 2).sum())(X)
    close(grads, jnp.full(3, 2.0))


# -- while_loop / cond / switch --------------------------------------------------------------------


class WhileLoopExample(nn.Module):
    @nn.compact
    def __call__(self, x):
        def cond_fn(mdl, c):
            return mdl.variables["state"]["acc"] < 10

        def body_fn(mdl, c):
            acc = mdl.variable("state", "acc", lambda: jnp.array(0))
            acc.value += 1
            return Dense(c.shape[-1])(c)

        if self.is_mutable_collection("params"):
            return body_fn(self, x)
        return nn.while_loop(cond_fn, body_fn, self, x, carry_variables="state")


def test_while_loop():
    x = jnp.ones((2, 2)) * 0.1
    variables = WhileLoopExample().init(KEY, x)
    assert variables["state"]["acc"] == 1
    result, state = WhileLoopExample().apply(variables, x, mutable=["state"])
    assert state["state"]["acc"] == 10
    p = variables["params"]["Dense_0"]
    ref = x
    for _ in range(9):  # acc goes from 1 to 10
        ref = dense(p, ref)
    close(result, ref)


def test_while_loop_broadcast_variables_are_read_only():
    class Bad(nn.Module):
        @nn.compact
        def __call__(self, x):
            self.variable("state", "acc", lambda: jnp.array(0))

            def body(mdl, c):
                mdl.variable("state", "acc").value += 1
                return c + 1

            return nn.while_loop(lambda mdl, c: c < 3, body, self, x)

    with pytest.raises(ModifyScopeVariableError, match='collection "state" is immutable'):
        Bad().init(KEY, 0)


class CondExample(nn.Module):
    @nn.compact
    def __call__(self, x, pred):
        self.variable("state", "true_count", lambda: 0)
        self.variable("state", "false_count", lambda: 0)

        def true_fn(mdl, x):
            mdl.variable("state", "true_count").value += 1
            return Dense(2, name="dense")(x)

        def false_fn(mdl, x):
            mdl.variable("state", "false_count").value += 1
            return -Dense(2, name="dense")(x)

        return nn.cond(pred, true_fn, false_fn, self, x)


def test_cond():
    x = jnp.ones((1, 3))
    variables = CondExample().init(KEY, x, True)
    assert sorted(variables["params"]) == ["dense"]
    p = variables["params"]["dense"]
    out, state = CondExample().apply(variables, x, True, mutable="state")
    close(out, dense(p, x))
    assert state["state"]["true_count"] == 2 and state["state"]["false_count"] == 0
    out, state = CondExample().apply(variables, x, jnp.array(False), mutable="state")
    close(out, -dense(p, x))
    assert state["state"]["true_count"] == 1 and state["state"]["false_count"] == 1


class SwitchExample(nn.Module):
    @nn.compact
    def __call__(self, x, index):
        for name in ("a_count", "b_count", "c_count"):
            self.variable("state", name, lambda: 0)

        def branch(count, sign):
            def fn(mdl, x):
                mdl.variable("state", count).value += 1
                return sign * Dense(2, name="dense")(x)

            return fn

        branches = [branch("a_count", 1), branch("b_count", -1), branch("c_count", 2)]
        return nn.switch(index, branches, self, x)


def test_switch():
    x = jnp.ones((1, 3))
    variables = SwitchExample().init(KEY, x, 0)
    p = variables["params"]["dense"]
    for index, sign in [(0, 1), (1, -1), (2, 2)]:
        out, state = SwitchExample().apply(variables, x, jnp.array(index), mutable="state")
        close(out, sign * dense(p, x))
        counts = [state["state"][n] for n in ("a_count", "b_count", "c_count")]
        expected = [0, 0, 0]
        expected[index] = 1
        expected[0] += 1  # init ran branch 0
        assert counts == expected


def test_switch_with_branch_specific_parameters_initialized_first():
    class MultiHead(nn.Module):
        def setup(self):
            self.heads = [Dense(5), Dense(5, name="second"), Dense(5)]

        @nn.compact
        def __call__(self, x, index):
            def head_fn(i):
                return lambda mdl, x: mdl.heads[i](x)

            branches = [head_fn(i) for i in range(len(self.heads))]
            if self.is_mutable_collection("params"):
                for branch in branches:
                    branch(self, x)
            return nn.switch(index, branches, self, x)

    x = jnp.ones((1, 3))
    variables = MultiHead().init(KEY, x, 0)
    assert sorted(variables["params"]) == ["heads_0", "heads_2", "second"]
    for index, name in enumerate(["heads_0", "second", "heads_2"]):
        close(MultiHead().apply(variables, x, index), dense(variables["params"][name], x))


def test_cond_rejects_branches_creating_different_variables():
    class OneSided(nn.Module):
        @nn.compact
        def __call__(self, x, pred):
            return nn.cond(
                pred, lambda mdl, x: Dense(2, name="d")(x), lambda mdl, x: x[..., :2], self, x
            )

    with pytest.raises(Exception):
        OneSided().init(KEY, jnp.ones((1, 3)), True)
