"""Replaying repeated Module calls gives the same summary as tracing every call."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flaxen import linen as nn
from flaxen.tabulate import _reuse, render, summarize

KEY = {"params": jax.random.key(0), "dropout": jax.random.key(1)}


class Dense(nn.Module):
    features: int
    init: object = jax.nn.initializers.lecun_normal()

    @nn.compact
    def __call__(self, x):
        return x @ self.param("kernel", self.init, (x.shape[-1], self.features))


class Block(nn.Module):
    width: int

    @nn.compact
    def __call__(self, x, scale: float = 1.0):
        h = Dense(self.width)(x)
        h = Dense(self.width)(jax.nn.gelu(h))  # same class, attributes, inputs: a replay
        stats = self.variable("batch_stats", "mean", jnp.zeros, (self.width,))
        return x + h * scale + jnp.reshape(stats.value, (1, -1))


class Stack(nn.Module):
    @nn.compact
    def __call__(self, x):
        for i in range(6):
            x = Block(x.shape[-1])(x, scale=0.5 if i % 2 else 1.0)
        x = Block(x.shape[-1], name="last")(x)
        return Dense(3, init=jax.nn.initializers.zeros)(x)


def text(module, *args, reuse, **kwargs):
    return render(
        summarize(module, KEY, *args, reuse=reuse, **kwargs), console_kwargs={"width": 150}
    )


@pytest.mark.parametrize("options", [{}, {"depth": 1}, {"show_repeated": True}])
def test_same_summary_with_and_without_reuse(options):
    x = jnp.ones((2, 8))
    assert text(Stack(), x, reuse=True, **options) == text(Stack(), x, reuse=False, **options)


def test_repeated_calls_are_replayed(monkeypatch):
    traced = []
    original = _reuse.Reuse._record

    def spy(self, key, call, *args):
        traced.append(call.path)
        return original(self, key, call, *args)

    monkeypatch.setattr(_reuse.Reuse, "_record", spy)
    table = summarize(Stack(), KEY, jnp.ones((2, 8)))
    assert len(table) == 1 + 7 * 3 + 1
    # the root, one Block per distinct call signature (scale=1.0, scale=0.5, no
    # scale), the first Dense inside, the final Dense: all else is replayed.
    assert traced == [
        (), ("Block_0",), ("Block_0", "Dense_0"), ("Block_1",), ("last",), ("Dense_0",),
    ]  # fmt: skip
    replayed = {"/".join(r.path): r for r in table}["Block_4/Dense_1"]
    assert replayed.module_variables["params"]["kernel"].shape == (8, 8)


def test_flops_of_replayed_calls():
    x = jnp.ones((2, 8))
    with_reuse = summarize(Stack(), KEY, x, compute_flops=True, reuse=True)
    without = summarize(Stack(), KEY, x, compute_flops=True, reuse=False)
    assert [r.flops for r in with_reuse] == [r.flops for r in without]


class ArrayAttribute(nn.Module):
    table: object
    traced = []

    @nn.compact
    def __call__(self, x):
        self.traced.append(self.name)
        return x + self.param("b", jax.nn.initializers.zeros, (1, x.shape[-1]))


class Writer(nn.Module):
    @nn.compact
    def __call__(self, x):
        # writes into its parent's variables: not replayable
        self.parent.put_variable("params", f"from_{self.name}", jnp.zeros(2))
        return x


class Hosts(nn.Module):
    @nn.compact
    def __call__(self, x):
        for _ in range(2):
            x = ArrayAttribute(np.zeros(2))(x)
        for _ in range(2):
            x = Writer()(x)
        return x


def test_calls_that_are_not_replayed():
    x = jnp.ones((1, 2))
    ArrayAttribute.traced.clear()
    table = summarize(Hosts(), KEY, x)
    # array attributes cannot be compared cheaply: both calls were traced
    assert ArrayAttribute.traced == ["ArrayAttribute_0", "ArrayAttribute_1"]
    assert text(Hosts(), x, reuse=True) == text(Hosts(), x, reuse=False)
    # both writers ran: the second was not replayed from the first
    assert set(table[0].module_variables["params"]) == {"from_Writer_0", "from_Writer_1"}
    assert len(table) == len(summarize(Hosts(), KEY, x, reuse=False)) == 5


class Named(nn.Module):
    @nn.compact
    def __call__(self, x):
        # shapes that depend on the module's name: the documented limitation
        return Dense(int(self.name[-1]) + 1)(x)


class UsesNames(nn.Module):
    @nn.compact
    def __call__(self, x):
        return [Named(name=f"n{i}")(x) for i in range(3)]


def test_opting_out(monkeypatch):
    x = jnp.ones((1, 2))
    traced = summarize(UsesNames(), KEY, x, reuse=False)
    assert [r.outputs.shape for r in traced if r.path and len(r.path) == 1] == [
        (1, 1), (1, 2), (1, 3),
    ]  # fmt: skip
    replayed = summarize(UsesNames(), KEY, x)
    assert [r.outputs.shape for r in replayed if len(r.path) == 1] == [(1, 1)] * 3
    monkeypatch.setenv("FLAXEN_TABULATE_REUSE", "0")
    assert text(UsesNames(), x, reuse=None) == text(UsesNames(), x, reuse=False)
