"""TrainState: creation, updates, subclassing, pytree behaviour, jit and pmap."""

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from flaxen import serialization, struct
from flaxen.core import FrozenDict, freeze
from flaxen.core.meta import Partitioned
from flaxen.training import train_state
from flaxen.training.train_state import OVERWRITE_WITH_GRADIENT, TrainState


def _params():
    return {
        "dense": {"kernel": jnp.arange(6.0).reshape(2, 3) / 10, "bias": jnp.array([0.5, -1.0, 2.0])}
    }


def _grads():
    return {"dense": {"kernel": jnp.full((2, 3), 0.25), "bias": jnp.array([1.0, -2.0, 0.5])}}


def _apply(variables, x):
    p = variables["params"]["dense"]
    return x @ p["kernel"] + p["bias"][None]


def assert_trees_equal(a, b):
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def _optax_step(tx, params, opt_state, grads):
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state


# -- the dataclass ---------------------------------------------------------------------


def test_public_module_names():
    assert train_state.TrainState is TrainState
    assert OVERWRITE_WITH_GRADIENT == "_overwrite_with_gradient"
    assert issubclass(TrainState, struct.PyTreeNode)


def test_fields_in_order_with_pytree_markers():
    fields = {f.name: f for f in dataclasses.fields(TrainState)}
    assert list(fields) == ["step", "apply_fn", "params", "tx", "opt_state"]
    assert fields["apply_fn"].metadata["pytree_node"] is False
    assert fields["tx"].metadata["pytree_node"] is False
    assert fields["params"].metadata["pytree_node"] is True
    assert fields["opt_state"].metadata["pytree_node"] is True
    # step is a plain field, a pytree child by default.
    assert "pytree_node" not in fields["step"].metadata


def test_create_initializes_step_and_opt_state():
    tx = optax.adam(1e-2)
    state = TrainState.create(apply_fn=_apply, params=_params(), tx=tx)
    assert state.step == 0 and isinstance(state.step, int)
    assert state.apply_fn is _apply
    assert state.tx is tx
    assert_trees_equal(state.params, _params())
    assert_trees_equal(state.opt_state, tx.init(_params()))


def test_create_and_apply_gradients_are_keyword_only():
    state = TrainState.create(apply_fn=_apply, params=_params(), tx=optax.sgd(0.1))
    with pytest.raises(TypeError, match="positional argument"):
        TrainState.create(_apply, _params(), optax.sgd(0.1))
    with pytest.raises(TypeError, match="positional argument"):
        state.apply_gradients(_grads())


@pytest.mark.parametrize(
    "make_tx",
    [
        lambda: optax.sgd(0.1),
        lambda: optax.sgd(0.05, momentum=0.9),
        lambda: optax.adam(1e-2),
        # adamw reads the params in tx.update: apply_gradients must pass them.
        lambda: optax.adamw(1e-2, weight_decay=0.1),
        lambda: optax.chain(
            optax.clip_by_global_norm(1.0), optax.add_decayed_weights(0.1), optax.scale(-0.1)
        ),
    ],
)
def test_apply_gradients_matches_plain_optax(make_tx):
    tx = make_tx()
    state = TrainState.create(apply_fn=_apply, params=_params(), tx=tx)
    params, opt_state = _params(), tx.init(_params())
    for i in range(3):
        grads = jax.tree_util.tree_map(lambda g, i=i: g * (i + 1), _grads())
        state = state.apply_gradients(grads=grads)
        params, opt_state = _optax_step(tx, params, opt_state, grads)
        assert state.step == i + 1
        assert_trees_equal(state.params, params)
        assert_trees_equal(state.opt_state, opt_state)


def test_apply_gradients_replaces_extra_fields_and_rejects_unknown_ones():
    class State(TrainState):
        batch_stats: Any
        key: Any = None

    state = State.create(
        apply_fn=_apply, params=_params(), tx=optax.sgd(0.1), batch_stats={"mean": jnp.zeros(3)}
    )
    assert state.key is None
    new = state.apply_gradients(grads=_grads(), batch_stats={"mean": jnp.ones(3)})
    assert type(new) is State
    assert new.step == 1
    np.testing.assert_array_equal(new.batch_stats["mean"], jnp.ones(3))
    with pytest.raises(TypeError, match="unexpected keyword argument 'nope'"):
        state.apply_gradients(grads=_grads(), nope=1)
    with pytest.raises(TypeError, match="multiple values for keyword argument 'step'"):
        state.apply_gradients(grads=_grads(), step=10)
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'batch_stats'"):
        State.create(apply_fn=_apply, params=_params(), tx=optax.sgd(0.1))
    with pytest.raises(TypeError, match="multiple values for keyword argument 'opt_state'"):
        TrainState.create(apply_fn=_apply, params=_params(), tx=optax.sgd(0.1), opt_state=5)


def test_is_frozen_and_replace_returns_a_copy():
    state = TrainState.create(apply_fn=_apply, params=_params(), tx=optax.sgd(0.1))
    with pytest.raises(dataclasses.FrozenInstanceError):
        state.step = 3
    other = state.replace(step=7)
    assert (state.step, other.step) == (0, 7)
    assert other.tx is state.tx


# -- pytree behaviour ------------------------------------------------------------------


def test_pytree_children_are_step_params_and_opt_state():
    tx = optax.sgd(0.1, momentum=0.9)
    state = TrainState.create(apply_fn=_apply, params=_params(), tx=tx)
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(state)[0]]
    assert paths[0] == ".step"
    assert ".params['dense']['bias']" in paths
    assert all(p.startswith((".step", ".params", ".opt_state")) for p in paths)
    n_opt = len(jax.tree_util.tree_leaves(tx.init(_params())))
    assert len(paths) == 1 + 2 + n_opt
    # apply_fn and tx are static: two states with different ones differ in treedef.
    other = state.replace(apply_fn=lambda v, x: x)
    assert jax.tree_util.tree_structure(other) != jax.tree_util.tree_structure(state)


def test_state_dict_holds_the_pytree_fields_and_round_trips_through_msgpack():
    state = TrainState.create(apply_fn=_apply, params=_params(), tx=optax.adam(1e-2))
    state = state.apply_gradients(grads=_grads())
    state_dict = serialization.to_state_dict(state)
    assert set(state_dict) == {"step", "params", "opt_state"}
    assert state_dict["step"] == 1
    blank = TrainState.create(apply_fn=_apply, params=_params(), tx=optax.adam(1e-2))
    restored = serialization.from_bytes(blank, serialization.to_bytes(state))
    assert restored.step == 1 and restored.tx is blank.tx
    assert_trees_equal(restored.params, state.params)
    assert_trees_equal(restored.opt_state, state.opt_state)


def test_jit_train_step():
    tx = optax.adam(1e-2)
    x = jnp.arange(8.0).reshape(4, 2)

    @jax.jit
    def train_step(state, x):
        def loss_fn(params):
            return jnp.mean(state.apply_fn({"params": params}, x) ** 2)

        return state.apply_gradients(grads=jax.grad(loss_fn)(state.params))

    state = TrainState.create(apply_fn=_apply, params=_params(), tx=tx)
    eager = state
    for _ in range(3):
        state = train_step(state, x)
        grads = jax.grad(lambda p: jnp.mean(_apply({"params": p}, x) ** 2))(eager.params)
        eager = eager.apply_gradients(grads=grads)
    assert state.step.dtype == jnp.int32 and int(state.step) == 3
    for a, b in zip(
        jax.tree_util.tree_leaves(state.params), jax.tree_util.tree_leaves(eager.params)
    ):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert state.apply_fn is _apply


def test_pmap_data_parallel_step_keeps_replicas_in_sync():
    from flaxen import jax_utils

    n = jax.local_device_count()
    assert n == 8, "the root conftest provides 8 CPU devices"
    tx = optax.sgd(0.1, momentum=0.9)
    state = TrainState.create(apply_fn=_apply, params=_params(), tx=tx)
    x = jnp.arange(n * 4 * 2, dtype=jnp.float32).reshape(n, 4, 2) / 10

    def loss_fn(params, x):
        return jnp.mean(_apply({"params": params}, x) ** 2)

    def train_step(state, x):
        grads = jax.lax.pmean(jax.grad(loss_fn)(state.params, x), "batch")
        return state.apply_gradients(grads=grads)

    train_step = jax.pmap(train_step, axis_name="batch")
    replicated = jax_utils.replicate(state)
    replicated = train_step(replicated, x)
    assert replicated.step.shape == (n,)
    for leaf in jax.tree_util.tree_leaves(replicated.params):
        np.testing.assert_array_equal(leaf, jnp.broadcast_to(leaf[0], leaf.shape))
    single = jax_utils.unreplicate(replicated)
    expected = state.apply_gradients(grads=jax.grad(loss_fn)(state.params, x.reshape(-1, 2)))
    assert int(single.step) == 1
    for a, b in zip(
        jax.tree_util.tree_leaves(single.params), jax.tree_util.tree_leaves(expected.params)
    ):
        np.testing.assert_allclose(a, b, rtol=1e-5)


# -- params containers -----------------------------------------------------------------


def test_frozen_dict_params_stay_frozen_and_need_matching_grads():
    params = freeze(_params())
    state = TrainState.create(apply_fn=_apply, params=params, tx=optax.sgd(0.1))
    new = state.apply_gradients(grads=freeze(_grads()))
    assert isinstance(new.params, FrozenDict)
    expected = jax.tree_util.tree_map(lambda p, g: p - 0.1 * g, _params(), _grads())
    assert_trees_equal(new.params.unfreeze(), expected)
    # The tree structures differ (FrozenDict vs dict): optax refuses, as in Flax.
    # (jax's wording changed in 0.10.)
    with pytest.raises(ValueError, match=r"pytree structure error|Custom node type mismatch"):
        state.apply_gradients(grads=_grads())


def test_metadata_boxed_params_are_updated_inside_their_boxes():
    boxed = {
        "kernel": Partitioned(jnp.arange(6.0).reshape(2, 3), names=("in", "out")),
        "bias": jnp.ones(3),
    }
    boxed_grads = {
        "kernel": Partitioned(jnp.full((2, 3), 0.5), names=("in", "out")),
        "bias": jnp.full(3, 2.0),
    }
    tx = optax.adam(0.1)
    state = TrainState.create(apply_fn=_apply, params=boxed, tx=tx)
    # The optimizer state mirrors the boxes: adam's moments are boxed too.
    mu = state.opt_state[0].mu["kernel"]
    assert isinstance(mu, Partitioned) and mu.names == ("in", "out")
    new = state.apply_gradients(grads=boxed_grads)
    assert isinstance(new.params["kernel"], Partitioned)
    assert new.params["kernel"].names == ("in", "out")
    plain = {"kernel": boxed["kernel"].value, "bias": boxed["bias"]}
    plain_grads = {"kernel": boxed_grads["kernel"].value, "bias": boxed_grads["bias"]}
    expected, _ = _optax_step(tx, plain, tx.init(plain), plain_grads)
    np.testing.assert_array_equal(new.params["kernel"].value, expected["kernel"])
    np.testing.assert_array_equal(new.params["bias"], expected["bias"])


def test_unboxed_gradients_for_boxed_params_fail_in_optax():
    boxed = {"kernel": Partitioned(jnp.ones(3), names=("a",))}
    state = TrainState.create(apply_fn=_apply, params=boxed, tx=optax.sgd(0.1))
    with pytest.raises((TypeError, ValueError)):
        state.apply_gradients(grads={"kernel": jnp.ones(3)})


@pytest.mark.parametrize("params", [jnp.arange(3.0), (jnp.ones(2), jnp.zeros(1)), [jnp.ones(2)]])
def test_non_mapping_params(params):
    state = TrainState.create(apply_fn=None, params=params, tx=optax.sgd(0.5))
    grads = jax.tree_util.tree_map(jnp.ones_like, params)
    new = state.apply_gradients(grads=grads)
    assert_trees_equal(new.params, jax.tree_util.tree_map(lambda p: p - 0.5, params))


# -- OVERWRITE_WITH_GRADIENT -----------------------------------------------------------


def test_overwrite_with_gradient_collection():
    params = {"params": _params(), OVERWRITE_WITH_GRADIENT: {"scale": jnp.full(2, 5.0)}}
    grads = {"params": _grads(), OVERWRITE_WITH_GRADIENT: {"scale": jnp.full(2, 7.0)}}
    tx = optax.adam(0.1)
    state = TrainState.create(apply_fn=_apply, params=params, tx=tx)
    # Only the 'params' entry is optimized.
    assert_trees_equal(state.opt_state, tx.init(_params()))
    new = state.apply_gradients(grads=grads)
    expected, opt_state = _optax_step(tx, _params(), tx.init(_params()), _grads())
    assert set(new.params) == {"params", OVERWRITE_WITH_GRADIENT}
    assert_trees_equal(new.params["params"], expected)
    assert_trees_equal(new.opt_state, opt_state)
    # The overwrite collection takes the value of its "gradient".
    np.testing.assert_array_equal(new.params[OVERWRITE_WITH_GRADIENT]["scale"], jnp.full(2, 7.0))


def test_overwrite_with_gradient_rebuilds_a_plain_dict_of_two_entries():
    params = freeze(
        {
            "params": {"w": jnp.ones(1)},
            "other": {"x": jnp.ones(1)},
            OVERWRITE_WITH_GRADIENT: {"s": jnp.ones(2)},
        }
    )
    grads = freeze(
        {
            "params": {"w": jnp.ones(1)},
            "other": {"x": jnp.ones(1)},
            OVERWRITE_WITH_GRADIENT: {"s": jnp.zeros(2)},
        }
    )
    state = TrainState.create(apply_fn=None, params=params, tx=optax.sgd(0.1))
    new = state.apply_gradients(grads=grads)
    # As in Flax: a dict with only 'params' and the overwrite collection.
    assert type(new.params) is dict
    assert set(new.params) == {"params", OVERWRITE_WITH_GRADIENT}
    np.testing.assert_allclose(new.params["params"]["w"], [0.9])
    np.testing.assert_array_equal(new.params[OVERWRITE_WITH_GRADIENT]["s"], jnp.zeros(2))


def test_overwrite_with_gradient_needs_a_params_entry():
    with pytest.raises(KeyError, match="params"):
        TrainState.create(
            apply_fn=None, params={OVERWRITE_WITH_GRADIENT: {"s": jnp.ones(1)}}, tx=optax.sgd(0.1)
        )
