"""The "Scale up Flax Modules on multiple devices" guide, on a 2x4 mesh of CPU devices.

The guide's model is initialised with ``jax.jit(..., out_shardings=...)``,
trained for a few steps keeping its shardings, and must give the same
parameters and outputs as the same model run on a single device.
"""

import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

pytest.importorskip("optax")
pytest.importorskip("flaxen.training.train_state")

sys.path.insert(0, os.path.dirname(__file__))
import _spmd_guide as guide

from flaxen import linen as nn
from flaxen.linen import spmd


@pytest.fixture(scope="module")
def mesh():
    return jax.sharding.Mesh(np.array(jax.devices()[:8]).reshape(2, 4), ("data", "model"))


@pytest.fixture(scope="module")
def single():
    return jax.sharding.Mesh(np.array(jax.devices()[:1]).reshape(1, 1), ("data", "model"))


def inputs():
    k = jax.random.PRNGKey(0)
    x = jax.random.normal(jax.random.PRNGKey(1), (guide.BATCH, guide.DEPTH))
    return k, x


def boxes(params):
    return jax.tree_util.tree_leaves(params, is_leaf=lambda x: isinstance(x, nn.Partitioned))


def assert_same_values(a, b):
    leaves_a, leaves_b = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    assert len(leaves_a) == len(leaves_b)
    for x, y in zip(leaves_a, leaves_b, strict=True):
        # Sharded contractions sum in another order: equal up to float rounding.
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=2e-5, atol=2e-6)


def test_state_spec_follows_the_annotations(mesh):
    k, x = inputs()
    optimizer = guide.optax.adam(0.001)
    spec = guide.state_spec(guide.MLP(guide.LAYERS, guide.DEPTH, True), optimizer, k, x, mesh)
    expected = {"ScanDotReluDot_0": {"W1": P(None, None, "model"), "W2": P(None, "model", None)}}
    assert spec.step == P()
    assert spec.params == expected
    adam = spec.opt_state[0]
    assert adam.count == P() and adam.mu == expected and adam.nu == expected

    loop = guide.state_spec(guide.MLP(2, guide.DEPTH, False), optimizer, k, x, mesh)
    assert loop.params == {
        f"DotReluDot_{i}": {"W1": P(None, "model"), "W2": P("model", None)} for i in range(2)
    }


def test_logical_spec_maps_to_the_same_mesh_spec(mesh):
    k, x = inputs()
    optimizer = guide.optax.adam(0.001)
    model = guide.LogicalMLP(guide.LAYERS, guide.DEPTH, True)
    with jax.set_mesh(mesh):
        abstract = jax.eval_shape(lambda k, x: guide.init_fn(k, x, model, optimizer), k, x)
    logical = nn.get_partition_spec(abstract)
    assert logical.params == {
        "ScanLogicalDotReluDot_0": {
            "W1": P("layer", "embed", "hidden"),
            "W2": P("layer", "hidden", "embed"),
        }
    }
    box = abstract.params["ScanLogicalDotReluDot_0"]["W1"]
    assert type(box) is spmd.LogicallyPartitioned and box.value.shape == (4, 32, 32)
    physical = spmd.logical_to_mesh(logical, guide.RULES)
    plain = guide.state_spec(guide.MLP(guide.LAYERS, guide.DEPTH, True), optimizer, k, x, mesh)
    assert physical.params["ScanLogicalDotReluDot_0"] == plain.params["ScanDotReluDot_0"]
    assert physical.opt_state[0].mu == {"ScanLogicalDotReluDot_0": plain.params["ScanDotReluDot_0"]}


@pytest.mark.slow
@pytest.mark.parametrize("logical", [False, True], ids=["mesh-axes", "logical-axes"])
def test_sharded_training_matches_a_single_device(mesh, single, logical):
    k, x = inputs()
    if logical:
        model, rules = guide.LogicalMLP(guide.LAYERS, guide.DEPTH, True), guide.RULES
    else:
        model, rules = guide.MLP(guide.LAYERS, guide.DEPTH, True), None
    initial, state, y, shardings = guide.train(model, mesh, k, x, rules=rules)

    # Every array lives where its spec says, before and after training.
    specs = []
    for box, sharding in zip(
        boxes(state.params), jax.tree_util.tree_leaves(shardings.params), strict=True
    ):
        assert box.value.sharding.is_equivalent_to(sharding, box.value.ndim)
        specs.append(tuple(box.value.sharding.spec))
    assert specs == [(None, None, "model"), (None, "model", None)]
    mu = boxes(state.opt_state[0].mu)
    assert [b.value.sharding.spec for b in mu] == [
        b.value.sharding.spec for b in boxes(state.params)
    ]
    assert y.sharding.is_equivalent_to(NamedSharding(mesh, P("data", None)), 2)
    assert int(state.step) == 3

    ref_initial, ref_state, ref_y, _ = guide.train(model, single, k, x, rules=rules)
    assert len(ref_y.sharding.device_set) == 1
    assert_same_values(state.params, ref_state.params)
    assert_same_values(state.opt_state, ref_state.opt_state)
    assert_same_values(y, ref_y)
    # training changed the parameters (the comparison is not of initial values)
    # sharding does not change initial values; training changed them
    assert_same_values(initial.params, ref_initial.params)
    w1 = boxes(initial.params)[0].value
    assert not np.allclose(np.asarray(w1), np.asarray(boxes(state.params)[0].value))
    assert jnp.isfinite(y).all()
