"""flaxen.jax_utils: replicate/unreplicate, pmean, prefetch_to_device, partial_eval_by_shape,
scan_in_dim."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec

from flaxen import jax_utils
from flaxen.errors import IndivisibleBatchError, ScalarBatchLeafError

N = 8  # the root conftest's CPU device count


def test_public_names():
    public = {n for n in dir(jax_utils) if not n.startswith("_")}
    assert public == {
        "pad_shard_unpad",
        "partial_eval_by_shape",
        "pmean",
        "prefetch_to_device",
        "replicate",
        "scan_in_dim",
        "unreplicate",
    }
    assert jax.local_device_count() == N


# -- replicate / unreplicate -----------------------------------------------------------


def test_replicate_puts_one_copy_on_each_device():
    tree = {"a": jnp.arange(3.0), "b": np.ones(2, np.int32), "c": 1.0, "d": 3, "e": True}
    out = jax_utils.replicate(tree)
    expected = {"a": ((N, 3), jnp.float32), "b": ((N, 2), jnp.int32), "c": ((N,), jnp.float32),
                "d": ((N,), jnp.int32), "e": ((N,), jnp.bool_)}  # fmt: skip
    for key, (shape, dtype) in expected.items():
        x = out[key]
        assert (x.shape, x.dtype) == (shape, dtype), key
        assert not x.weak_type
        assert isinstance(x.sharding, NamedSharding)
        assert x.sharding.spec == PartitionSpec("_device_put_sharded")
        assert x.sharding.mesh.axis_names == ("_device_put_sharded",)
        assert [s.device for s in x.addressable_shards] == jax.local_devices()
        for shard in x.addressable_shards:
            np.testing.assert_array_equal(shard.data[0], np.asarray(tree[key]))


def test_replicate_devices_and_axis_name():
    devices = jax.local_devices()[::-2]
    out = jax_utils.replicate(jnp.ones(2), devices=devices, axis_name="ensemble")
    assert out.shape == (len(devices), 2)
    assert out.sharding.spec == PartitionSpec("ensemble")
    assert list(out.sharding.mesh.devices) == devices
    assert {s.device for s in out.addressable_shards} == set(devices)


def test_replicate_typed_keys_and_empty_nodes():
    keys = jax_utils.replicate(jax.random.key(0))
    assert keys.shape == (N,)
    assert jnp.array_equal(jax.random.key_data(keys[3]), jax.random.key_data(jax.random.key(0)))
    assert jax_utils.replicate({"a": None, "b": ()}) == {"a": None, "b": ()}
    with pytest.raises(TypeError, match="not a valid JAX array type"):
        jax_utils.replicate("text")


def test_replicated_arrays_feed_pmap_and_unreplicate_inverts():
    tree = {"w": jnp.arange(6.0).reshape(2, 3), "step": 0}
    replicated = jax_utils.replicate(tree)
    doubled = jax.pmap(lambda t: jax.tree_util.tree_map(lambda x: x * 2, t))(replicated)
    single = jax_utils.unreplicate(doubled)
    np.testing.assert_array_equal(single["w"], tree["w"] * 2)
    assert single["w"].shape == (2, 3) and int(single["step"]) == 0


def test_unreplicate_reads_the_first_addressable_shard():
    from jax.sharding import Mesh

    devices = jax.local_devices()[::-1]
    x = jax.device_put(
        jnp.arange(16.0).reshape(N, 2),
        NamedSharding(Mesh(np.array(devices), ("x",)), PartitionSpec("x")),
    )
    out = jax_utils.unreplicate(x)
    np.testing.assert_array_equal(out, [0.0, 1.0])
    assert out.devices() == {devices[0]}  # no copy to another device
    # Sharded along another axis: the first row of the global array instead.
    cols = jax.device_put(
        jnp.arange(16.0).reshape(N, 2),
        NamedSharding(Mesh(np.array(jax.local_devices()[:2]), ("x",)), PartitionSpec(None, "x")),
    )
    np.testing.assert_array_equal(jax_utils.unreplicate(cols), [0.0, 1.0])
    # Fully replicated or single-device arrays: row 0 as well.
    full = jax.device_put(
        jnp.arange(16.0).reshape(N, 2),
        NamedSharding(Mesh(np.array(jax.local_devices()), ("x",)), PartitionSpec()),
    )
    np.testing.assert_array_equal(jax_utils.unreplicate(full), [0.0, 1.0])
    np.testing.assert_array_equal(jax_utils.unreplicate(jnp.arange(4.0).reshape(2, 2)), [0.0, 1.0])


def test_unreplicate_takes_the_first_entry():
    assert jax_utils.unreplicate({"x": np.arange(6).reshape(3, 2)})["x"].tolist() == [0, 1]
    assert isinstance(jax_utils.unreplicate([np.ones((2, 2))])[0], np.ndarray)
    with pytest.raises(TypeError, match="not subscriptable"):
        jax_utils.unreplicate({"x": 1.0})


def test_pmean_averages_every_leaf():
    out = jax.pmap(lambda x: jax_utils.pmean({"a": x, "b": (x * 2,)}, "i"), axis_name="i")(
        jnp.arange(float(N))
    )
    np.testing.assert_array_equal(out["a"], jnp.full(N, (N - 1) / 2))
    np.testing.assert_array_equal(out["b"][0], jnp.full(N, N - 1.0))
    ints = jax.pmap(lambda x: jax_utils.pmean(x, "i"), axis_name="i")(jnp.arange(N))
    np.testing.assert_array_equal(
        ints, jax.pmap(lambda x: jax.lax.pmean(x, "i"), axis_name="i")(jnp.arange(N))
    )


# -- prefetch_to_device ----------------------------------------------------------------


def test_prefetch_to_device_is_lazy_and_keeps_size_batches_ahead():
    read = []

    def batches():
        for i in range(5):
            read.append(i)
            yield {"x": np.full((N, 2), i, np.float32), "y": [np.arange(N)]}

    it = jax_utils.prefetch_to_device(batches(), 2)
    assert read == []
    first = next(it)
    assert read == [0, 1]
    next(it)
    assert read == [0, 1, 2]
    rest = list(it)
    assert read == [0, 1, 2, 3, 4] and len(rest) == 3
    x = first["x"]
    assert x.shape == (N, 2) and x.sharding.spec == PartitionSpec("_device_put_sharded")
    for i, shard in enumerate(x.addressable_shards):
        assert shard.device == jax.local_devices()[i]
        assert shard.data.shape == (1, 2)
    assert first["y"][0].sharding.spec == PartitionSpec("_device_put_sharded")


def test_prefetch_to_device_splits_larger_leading_dimensions():
    (x,) = jax_utils.prefetch_to_device(iter([np.arange(2 * N * 3).reshape(2 * N, 3)]), 1)
    assert x.shape == (2 * N, 3)
    assert x.addressable_shards[1].data.tolist() == [[6, 7, 8], [9, 10, 11]]
    (y,) = jax_utils.prefetch_to_device([np.ones((4, 2))], 1, devices=jax.local_devices()[:4],
                                        axis_name="batch")  # fmt: skip
    assert y.sharding.spec == PartitionSpec("batch") and len(y.addressable_shards) == 4


def test_prefetch_to_device_errors():
    with pytest.raises(IndivisibleBatchError) as info:
        next(jax_utils.prefetch_to_device(iter([np.ones((3, 2))]), 1))  # 3 rows, 8 devices
    assert isinstance(info.value, ValueError)
    assert (info.value.path, info.value.shape, info.value.num_devices) == ("batch", (3, 2), N)
    assert str(info.value).startswith(
        f"prefetch_to_device splits the first dimension of every array over {N} devices,"
        f" but batch has shape (3, 2): 3 is not a multiple of {N}. Reshape the batch to"
        " (num_devices, per_device_batch, ...)"
    )
    batch = {"a": np.ones(N), "b": [np.ones((N, 2)), np.ones((2 * N + 1, 2))]}
    with pytest.raises(IndivisibleBatchError, match=r"but batch\['b'\]\[1\] has shape \(17, 2\)"):
        next(jax_utils.prefetch_to_device(iter([batch]), 1))
    # Fewer devices: the count in the message is theirs.
    with pytest.raises(IndivisibleBatchError, match="over 4 devices") as info:
        next(jax_utils.prefetch_to_device([np.ones(6)], 1, devices=jax.local_devices()[:4]))
    assert info.value.num_devices == 4
    with pytest.raises(ScalarBatchLeafError) as info:
        next(jax_utils.prefetch_to_device(iter([{"a": np.ones(N), "b": 1.0}]), 1))
    assert isinstance(info.value, TypeError)
    assert (info.value.path, info.value.value) == ("batch['b']", 1.0)
    assert str(info.value).startswith(
        "prefetch_to_device shards every array along its first dimension, but batch['b']"
        " is a scalar: 1.0. Give each leaf a leading dimension (one entry per device)"
    )
    with pytest.raises(ScalarBatchLeafError, match=r"but batch is a scalar: np\.float32"):
        next(jax_utils.prefetch_to_device(iter([np.float32(2)]), 1))
    with pytest.raises(ValueError, match="islice"):
        next(jax_utils.prefetch_to_device(iter([np.ones(N)]), -1))


def test_prefetch_to_device_size_zero_and_none():
    assert list(jax_utils.prefetch_to_device(iter([np.ones(N)]), 0)) == []
    read = []

    def batches():
        for i in range(3):
            read.append(i)
            yield np.full(N, i)

    it = jax_utils.prefetch_to_device(batches(), None)
    assert int(next(it)[0]) == 0 and read == [0, 1, 2]


def test_prefetched_batches_feed_pmap():
    batches = (np.full((N, 2), float(i)) for i in range(3))
    sums = [float(jax.pmap(jnp.sum)(b).sum()) for b in jax_utils.prefetch_to_device(batches, 2)]
    assert sums == [0.0, 2.0 * N, 4.0 * N]


# -- partial_eval_by_shape -------------------------------------------------------------


def test_partial_eval_by_shape_returns_known_values_and_unknown_shapes():
    def fn(x, y, scale=1.0):
        return {
            "shape": x.shape,
            "ones": jnp.ones(3) * scale,
            "dep": x + y,
            "zeros": jnp.zeros_like(x),
        }

    out = jax_utils.partial_eval_by_shape(fn, [(2, 3), ((2, 3), jnp.int32)], scale=2.0)
    assert out["dep"] == jax.ShapeDtypeStruct((2, 3), jnp.float32)
    assert out["shape"] == (2, 3) and type(out["shape"][0]) is int
    np.testing.assert_array_equal(out["ones"], [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(out["zeros"], np.zeros((2, 3)))
    assert isinstance(out["ones"], jax.Array)


def test_partial_eval_by_shape_input_spec_forms():
    def spec(s):
        return jax_utils.partial_eval_by_shape(lambda x: x, [s])

    assert spec((2,)) == jax.ShapeDtypeStruct((2,), jnp.float32)
    assert spec([2, 3]) == jax.ShapeDtypeStruct((2, 3), jnp.float32)
    assert spec(()) == jax.ShapeDtypeStruct((), jnp.float32)
    assert spec(np.array([2, 3])) == jax.ShapeDtypeStruct((2, 3), jnp.float32)
    assert spec(((2,), jnp.int8)) == jax.ShapeDtypeStruct((2,), jnp.int8)
    assert spec([(2, 3), "int8"]) == jax.ShapeDtypeStruct((2, 3), jnp.int8)
    assert spec(((), jnp.float16)) == jax.ShapeDtypeStruct((), jnp.float16)
    assert spec(jax.ShapeDtypeStruct((4,), jnp.int32)) == jax.ShapeDtypeStruct((4,), jnp.int32)
    with pytest.raises(TypeError, match="Shapes must be 1D sequences"):
        spec((2, jnp.int32))
    with pytest.raises(TypeError, match="Shapes must be 1D sequences"):
        spec(((2, 3),))
    with pytest.raises(TypeError, match="not iterable"):
        spec(3)


def test_partial_eval_by_shape_args_are_passed_as_they_are():
    key = jax.random.key(0)

    def init(x, key):
        return jax.random.normal(key, (2,)), x.sum()

    w, total = jax_utils.partial_eval_by_shape(init, [(3,)], key)
    np.testing.assert_array_equal(w, jax.random.normal(key, (2,)))
    assert total == jax.ShapeDtypeStruct((), jnp.float32)
    # NumPy and Python arguments stay NumPy and Python.
    _, doubled = jax_utils.partial_eval_by_shape(lambda x, y: (x, y * 2), [(2,)], np.ones(2))
    assert type(doubled) is np.ndarray and doubled.dtype == np.float64
    assert jax_utils.partial_eval_by_shape(lambda x, y: (x, y * 2), [(2,)], 3)[1] == 6


def test_partial_eval_by_shape_does_not_run_unneeded_work():
    calls = []

    def expensive(x):
        jax.debug.callback(lambda: calls.append("ran"))
        return x * 2

    out = jax_utils.partial_eval_by_shape(lambda x: (expensive(x), jnp.arange(3)), [(2,)])
    assert out[0] == jax.ShapeDtypeStruct((2,), jnp.float32)
    np.testing.assert_array_equal(out[1], [0, 1, 2])
    assert calls == []


def test_partial_eval_by_shape_through_nested_jit_and_control_flow():
    out = jax_utils.partial_eval_by_shape(jax.jit(lambda a: (a * 2, jnp.ones(2))), [(2,)])
    assert out[0] == jax.ShapeDtypeStruct((2,), jnp.float32)
    np.testing.assert_array_equal(out[1], [1.0, 1.0])
    out = jax_utils.partial_eval_by_shape(
        lambda x: jax.lax.cond(True, lambda: jnp.ones(2), lambda: jnp.zeros(2)), [(2,)]
    )
    np.testing.assert_array_equal(out, [1.0, 1.0])
    out = jax_utils.partial_eval_by_shape(lambda x: [x.sum(), None, {}], [(2,)])
    assert out == [jax.ShapeDtypeStruct((), jnp.float32), None, {}]


# -- scan_in_dim -----------------------------------------------------------------------


def reference_scan(body_fn, init, xs, axes):
    """Nested Python loops over ``axes`` (first is outermost), for comparison."""
    carry = init
    xs = np.asarray(xs)
    shape = [xs.shape[a] for a in axes]
    ys = {}
    for index in np.ndindex(*shape):
        sl = [slice(None)] * xs.ndim
        for a, i in zip(axes, index):
            sl[a] = i
        carry, y = body_fn(carry, xs[tuple(sl)])
        ys[index] = np.asarray(y)
    return carry, ys


@pytest.mark.parametrize("axis", [0, 1, 2, -1, (0,), (1, 2), (2, 0), (0, 1, 2), (2, 1, 0)])
def test_scan_in_dim_matches_nested_loops(axis):
    xs = jnp.arange(24.0).reshape(2, 3, 4)
    axes = (axis,) if isinstance(axis, int) else axis
    axes = tuple(a % 3 for a in axes)

    def body(c, x):
        # Order-sensitive carry: any permutation of the loop order changes it.
        c = c * 1.5 + jnp.sum(x)
        return c, x * 2 + c

    carry, ys = jax_utils.scan_in_dim(body, jnp.float32(0.0), xs, axis=axis)
    ref_carry, ref_ys = reference_scan(body, jnp.float32(0.0), xs, axes)
    np.testing.assert_allclose(carry, ref_carry, rtol=1e-6)
    assert ys.shape == xs.shape
    for index, y in ref_ys.items():
        sl = [slice(None)] * 3
        for a, i in zip(axes, index):
            sl[a] = i
        np.testing.assert_allclose(ys[tuple(sl)], y, rtol=1e-6)


def test_scan_in_dim_output_placement_and_keepdims():
    xs = {"a": jnp.arange(24.0).reshape(2, 3, 4)}
    seen = []

    def body(c, x):
        seen.append(x["a"].shape)
        return c + x["a"].sum(), {"b": x["a"] + 1, "c": jnp.ones((5, 1) if keep else (5,))}

    keep = False
    c, ys = jax_utils.scan_in_dim(body, 0.0, xs, axis=1)
    assert seen[-1] == (2, 4) and float(c) == 276.0
    assert ys["b"].shape == (2, 3, 4) and ys["c"].shape == (5, 3)
    keep = True
    c, ys = jax_utils.scan_in_dim(body, 0.0, xs, axis=1, keepdims=True)
    assert seen[-1] == (2, 1, 4)
    assert ys["b"].shape == (2, 3, 4) and ys["c"].shape == (5, 3)
    np.testing.assert_array_equal(ys["b"], xs["a"] + 1)
    c, ys = jax_utils.scan_in_dim(lambda c, x: (c, jnp.ones((7, 8))), 0.0, xs["a"], axis=(2, 0))
    assert ys.shape == (2, 7, 4, 8)
    c, ys = jax_utils.scan_in_dim(lambda c, x: (c, x), 0.0, xs["a"], axis=(0, 2), keepdims=True)
    np.testing.assert_array_equal(ys, xs["a"])


def _scan_params(jaxpr_text):
    import re

    return re.findall(r"length=(\d+)", jaxpr_text), re.findall(r"unroll=(\d+|True)", jaxpr_text)


@pytest.mark.parametrize(
    ("axis", "unroll", "expected"),
    [
        # Printed innermost scan first: (lengths, unrolls).
        ((0, 1), 2, (["6", "4"], ["2", "1"])),
        ((0, 1), (3, 2), (["6", "4"], ["2", "3"])),
        ((1, 0), (3, 2), (["4", "6"], ["2", "3"])),
        ((0, 1), (5, 3, 2), (["6", "4"], ["3", "5"])),
        (1, 3, (["6"], ["3"])),
    ],
)
def test_scan_in_dim_unroll_is_left_padded(axis, unroll, expected):
    text = str(
        jax.make_jaxpr(
            lambda x: jax_utils.scan_in_dim(
                lambda c, x: (c + x.sum(), x), 0.0, x, axis=axis, unroll=unroll
            )
        )(jnp.ones((4, 6)))
    )
    assert _scan_params(text) == expected


def test_scan_in_dim_needs_an_axis():
    with pytest.raises(ValueError, match="at least one axis"):
        jax_utils.scan_in_dim(lambda c, x: (c, x), 0.0, jnp.ones(3), axis=())


def test_doctests(run_doctests):
    assert run_doctests("flaxen.jax_utils") >= 5
