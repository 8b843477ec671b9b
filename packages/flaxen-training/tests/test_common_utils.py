"""common_utils: shard, shard_prng_key, stack_forest, get_metrics, onehot."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flaxen.training import common_utils

N = 8  # the root conftest's CPU device count


def test_device_count():
    assert jax.local_device_count() == N


def test_shard_reshapes_leading_dimension_and_keeps_array_types():
    xs = {"image": np.arange(16 * 3).reshape(16, 3), "label": jnp.arange(8)}
    out = common_utils.shard(xs)
    assert type(out["image"]) is np.ndarray
    assert isinstance(out["label"], jax.Array)
    np.testing.assert_array_equal(out["image"], xs["image"].reshape(N, 2, 3))
    np.testing.assert_array_equal(out["label"], np.arange(8).reshape(N, 1))


def test_shard_needs_a_multiple_of_the_device_count():
    with pytest.raises(ValueError, match=r"cannot reshape array of size 10 into shape \(8,"):
        common_utils.shard(np.ones(10))
    with pytest.raises(AttributeError, match="reshape"):
        common_utils.shard(1.0)


@pytest.mark.parametrize("make_key", [lambda: jax.random.PRNGKey(3), lambda: jax.random.key(3)])
def test_shard_prng_key_splits_one_key_per_device(make_key):
    key = make_key()
    keys = common_utils.shard_prng_key(key)
    assert keys.shape[0] == N
    expected = jax.random.split(key, N)
    assert jnp.array_equal(jax.random.key_data(keys), jax.random.key_data(expected))


def test_shard_prng_key_drives_a_pmap():
    keys = common_utils.shard_prng_key(jax.random.PRNGKey(0))
    samples = jax.pmap(lambda k: jax.random.uniform(k, (2,)))(keys)
    assert samples.shape == (N, 2)
    assert len({tuple(np.asarray(row)) for row in samples}) == N


def test_stack_forest():
    forest = [{"a": np.ones(2), "b": (np.zeros(()),)}, {"a": np.full(2, 2.0), "b": (np.ones(()),)}]
    out = common_utils.stack_forest(forest)
    assert isinstance(out["a"], jax.Array) and out["a"].dtype == jnp.float32
    np.testing.assert_array_equal(out["a"], [[1.0, 1.0], [2.0, 2.0]])
    np.testing.assert_array_equal(out["b"][0], [0.0, 1.0])
    ints = common_utils.stack_forest(({"a": 1}, {"a": 2}))["a"]
    assert ints.dtype == jnp.int32 and ints.weak_type
    with pytest.raises(ValueError, match="same shape"):
        common_utils.stack_forest([np.ones(2), np.zeros(3)])
    with pytest.raises(ValueError, match=r"pytree structure|Dict key mismatch"):  # jax<0.10 wording
        common_utils.stack_forest([{"a": 1}, {"b": 2}])
    with pytest.raises(TypeError):
        common_utils.stack_forest([])


def test_get_metrics_unreplicates_and_stacks_over_time():
    step = jax.pmap(lambda x: {"loss": jnp.mean(x), "count": jnp.sum(x > 0)}, axis_name="i")
    history = [step(jnp.full((N, 3), float(i))) for i in range(4)]
    out = common_utils.get_metrics(history)
    assert sorted(out) == ["count", "loss"]
    np.testing.assert_array_equal(out["loss"], [0.0, 1.0, 2.0, 3.0])
    np.testing.assert_array_equal(out["count"], [0, 3, 3, 3])
    assert out["loss"].shape == (4,)
    assert out["loss"].sharding.is_fully_replicated


def test_get_metrics_reads_the_first_replica_of_per_device_values():
    # Replicas differ (not reduced over devices): the first one is returned.
    step = jax.pmap(lambda x: x * 2)
    history = [step(jnp.arange(N * 2.0).reshape(N, 2) + i) for i in range(2)]
    out = common_utils.get_metrics(history)
    np.testing.assert_array_equal(out, [[0.0, 2.0], [2.0, 4.0]])


def test_get_metrics_needs_device_arrays_with_a_device_axis():
    with pytest.raises(AttributeError, match="addressable_shards"):
        common_utils.get_metrics([{"a": np.ones((N, 2))}])
    with pytest.raises(ValueError):
        common_utils.get_metrics([{"a": jnp.ones((N, 2))}])  # one unsharded array


def test_onehot_matches_numpy():
    labels = jnp.array([[0, 2], [5, -1]])
    out = common_utils.onehot(labels, 4)
    expected = (np.asarray(labels)[..., None] == np.arange(4)).astype(np.float32)
    assert out.dtype == jnp.float32 and out.shape == (2, 2, 4)
    np.testing.assert_array_equal(out, expected)  # out-of-range labels are all zeros
    np.testing.assert_array_equal(out, jax.nn.one_hot(labels, 4))


def test_onehot_values_and_dtypes():
    labels = jnp.array([1, 2])
    np.testing.assert_array_equal(
        common_utils.onehot(labels, 3, on_value=5.0, off_value=-1.0), [[-1, 5, -1], [-1, -1, 5]]
    )
    out = common_utils.onehot(labels, 3, on_value=2, off_value=0)
    assert out.dtype == jnp.float32
    np.testing.assert_array_equal(out, [[0, 2, 0], [0, 0, 2]])
    np.testing.assert_array_equal(
        common_utils.onehot(labels, 3, on_value=jnp.array([1.0, 2.0, 3.0])), [[0, 2, 0], [0, 0, 3]]
    )
    np.testing.assert_array_equal(common_utils.onehot(jnp.array(1), 3), [0, 1, 0])
    assert common_utils.onehot(np.array([1, 2], np.uint8), 3).dtype == jnp.float32
    assert common_utils.onehot(labels, 0).shape == (2, 0)
    with pytest.raises(TypeError, match="same dtypes"):
        common_utils.onehot(labels, 3, on_value=jnp.bfloat16(1), off_value=0)


def test_onehot_under_jit():
    jitted = jax.jit(common_utils.onehot, static_argnums=1)
    np.testing.assert_array_equal(jitted(jnp.array([2, 0]), 3), [[0, 0, 1], [1, 0, 0]])
