"""The models and training loop of the "Scale up Flax Modules on multiple devices" guide.

Shared by the single-process tests and the two-process worker (which imports
this file by path). Only the sizes differ from the guide, and ``jax.set_mesh``
replaces the deprecated ``with mesh:``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import optax
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from flaxen import linen as nn
from flaxen.linen import spmd
from flaxen.training import train_state

BATCH, LAYERS, DEPTH = 8, 4, 32
RULES = (("batch", "data"), ("hidden", "model"))


class DotReluDot(nn.Module):
    depth: int

    @nn.compact
    def __call__(self, x):
        W1 = self.param(
            "W1",
            nn.with_partitioning(jax.nn.initializers.xavier_normal(), (None, "model")),
            (x.shape[-1], self.depth),
        )
        y = jax.nn.relu(jnp.dot(x, W1))
        y = jax.lax.with_sharding_constraint(y, P("data", "model"))
        W2 = self.param(
            "W2",
            nn.with_partitioning(jax.nn.initializers.xavier_normal(), ("model", None)),
            (self.depth, x.shape[-1]),
        )
        z = jnp.dot(y, W2)
        z = jax.lax.with_sharding_constraint(z, P("data", None))
        return z, None


class MLP(nn.Module):
    num_layers: int
    depth: int
    use_scan: bool

    @nn.compact
    def __call__(self, x):
        if self.use_scan:
            x, _ = nn.scan(
                DotReluDot,
                length=self.num_layers,
                variable_axes={"params": 0},
                split_rngs={"params": True},
                metadata_params={nn.PARTITION_NAME: None},
            )(self.depth)(x)
        else:
            for _ in range(self.num_layers):
                x, _ = DotReluDot(self.depth)(x)
        return x


class LogicalDotReluDot(nn.Module):
    depth: int

    @nn.compact
    def __call__(self, x):
        W1 = self.param(
            "W1",
            spmd.with_logical_partitioning(
                jax.nn.initializers.xavier_normal(), ("embed", "hidden")
            ),
            (x.shape[-1], self.depth),
        )
        y = jax.nn.relu(jnp.dot(x, W1))
        y = spmd.with_logical_constraint(y, ("batch", "hidden"))
        W2 = self.param(
            "W2",
            spmd.with_logical_partitioning(
                jax.nn.initializers.xavier_normal(), ("hidden", "embed")
            ),
            (self.depth, x.shape[-1]),
        )
        z = jnp.dot(y, W2)
        z = spmd.with_logical_constraint(z, ("batch", "embed"))
        return z, None


class LogicalMLP(nn.Module):
    num_layers: int
    depth: int
    use_scan: bool

    @nn.compact
    def __call__(self, x):
        if self.use_scan:
            x, _ = nn.scan(
                LogicalDotReluDot,
                length=self.num_layers,
                variable_axes={"params": 0},
                split_rngs={"params": True},
                metadata_params={nn.PARTITION_NAME: "layer"},
            )(self.depth)(x)
        else:
            for _ in range(self.num_layers):
                x, _ = LogicalDotReluDot(self.depth)(x)
        return x


def init_fn(k, x, model, optimizer):
    variables = model.init(k, x)
    return train_state.TrainState.create(
        apply_fn=model.apply, params=variables["params"], tx=optimizer
    )


def train_step(state, x):
    def loss(params):
        return state.apply_fn({"params": params}, x).sum()

    return state.apply_gradients(grads=jax.grad(loss)(state.params))


def to_shardings(spec_tree, mesh):
    return jax.tree_util.tree_map(
        lambda spec: NamedSharding(mesh, spec), spec_tree, is_leaf=lambda s: isinstance(s, P)
    )


def state_spec(model, optimizer, k, x, mesh, rules=None):
    """The mesh PartitionSpecs of the train state, as the guide derives them."""
    with jax.set_mesh(mesh), spmd.logical_axis_rules(rules or ()):
        abstract = jax.eval_shape(
            functools.partial(init_fn, model=model, optimizer=optimizer), k, x
        )
    spec = nn.get_partition_spec(abstract)
    return spmd.logical_to_mesh(spec, rules) if rules else spec


def train(model, mesh, k, x, steps=3, rules=None, put=jax.device_put):
    """Sharded init, ``steps`` train steps and an apply, all jitted with shardings.

    Returns the initial and final states, the model's output and the state's
    shardings.
    """
    optimizer = optax.adam(learning_rate=0.01)
    state_sharding = to_shardings(state_spec(model, optimizer, k, x, mesh, rules), mesh)
    x_sharding = NamedSharding(mesh, P("data", None))
    replicated = NamedSharding(mesh, P())
    k, x = put(k, replicated), put(x, x_sharding)
    with jax.set_mesh(mesh), spmd.logical_axis_rules(rules or ()):
        init = jax.jit(
            init_fn,
            static_argnums=(2, 3),
            in_shardings=(replicated, x_sharding),
            out_shardings=state_sharding,
        )
        state = initial = init(k, x, model, optimizer)
        step = jax.jit(
            train_step, in_shardings=(state_sharding, x_sharding), out_shardings=state_sharding
        )
        for _ in range(steps):
            state = step(state, x)
        apply = jax.jit(
            lambda s, x: s.apply_fn({"params": s.params}, x),
            in_shardings=(state_sharding, x_sharding),
            out_shardings=x_sharding,
        )
        y = apply(state, x)
    return initial, state, y, state_sharding
