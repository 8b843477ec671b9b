"""FLOPs columns: XLA's cost analysis of each call and its VJP; nothing compiled otherwise."""

import jax
import jax.numpy as jnp
import pytest

from flaxen import linen as nn
from flaxen.tabulate import _flops, summarize

KEY = jax.random.key(0)


class Affine(nn.Module):
    features: int

    @nn.compact
    def __call__(self, x):
        kernel = self.param("kernel", jax.nn.initializers.ones, (x.shape[-1], self.features))
        bias = self.param("bias", jax.nn.initializers.zeros, (1, self.features))
        return x @ kernel + bias


class Two(nn.Module):
    @nn.compact
    def __call__(self, x):
        h = Affine(4)(x)
        return Affine(2)(jax.nn.relu(h))


def lowered_flops(fn, *args):
    analysis = jax.jit(fn).lower(*args).cost_analysis()
    return int(analysis["flops"])


def test_flops_are_the_lowered_programs_costs():
    x = jnp.ones((16, 9))
    table = summarize(Two(), KEY, x, compute_flops=True, compute_vjp_flops=True)
    params = {"kernel": jnp.ones((9, 4)), "bias": jnp.zeros((1, 4))}

    def forward(params, x):
        y = x @ params["kernel"] + params["bias"]
        # apply returns the mutable collections too (here, the parameters)
        return y, {"params": params}

    def with_vjp(params, x, ct):
        y, pull = jax.vjp(forward, params, x)
        return y, pull(ct)

    out = jax.eval_shape(forward, params, x)
    ct = jax.tree_util.tree_map(lambda s: jnp.ones(s.shape, s.dtype), out)
    dense = table[1]
    assert dense.path == ("Affine_0",)
    assert dense.flops == lowered_flops(forward, params, x) == 16 * 9 * 4 * 2 + 16 * 4
    assert dense.vjp_flops == lowered_flops(with_vjp, params, x, ct)
    # the root call contains both layers (and the relu)
    assert table[0].flops > table[1].flops + table[2].flops


def test_no_flops_unless_asked():
    table = summarize(Two(), KEY, jnp.ones((2, 3)))
    assert [(row.flops, row.vjp_flops) for row in table] == [(0, 0)] * 3
    table = summarize(Two(), KEY, jnp.ones((2, 3)), compute_vjp_flops=True)
    assert all(row.flops == 0 and row.vjp_flops > 0 for row in table)


def test_nothing_is_compiled_or_lowered_without_flops(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("cost analysis without compute_flops")

    monkeypatch.setattr(_flops, "_cost", fail)
    compiled = []
    listener = lambda event, duration, **kw: compiled.append(event)
    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        Two().tabulate(KEY, jnp.ones((2, 3)))
        during_tabulate = list(compiled)
        jax.jit(lambda x: x * 3.5)(jnp.ones(7))  # the listener does see compilations
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    assert [e for e in compiled if "backend_compile" in e]
    assert not [e for e in during_tabulate if "backend_compile" in e]


class Strings(nn.Module):
    @nn.compact
    def __call__(self, x, label: str):
        return Affine(2)(x), label


def test_calls_that_cannot_be_compiled_cost_zero():
    table = summarize(Strings(), KEY, jnp.ones((1, 3)), "name", compute_flops=True)
    assert table[0].flops == 0  # returns a string
    assert table[1].flops == 1 * 3 * 2 * 2 + 2
    text = Strings().tabulate(
        KEY, jnp.ones((1, 3)), "name", compute_flops=True, console_kwargs={"width": 120}
    )
    assert "flops" in text


@pytest.mark.parametrize("static", [True, False])
def test_static_arguments_are_not_traced(static):
    class Flag(nn.Module):
        @nn.compact
        def __call__(self, x, double: bool):
            y = Affine(2)(x)
            return y * 2 if double else y  # Python control flow on the flag

    table = summarize(Flag(), KEY, jnp.ones((1, 3)), static, compute_flops=True)
    assert table[0].flops == table[1].flops + (2 if static else 0)
