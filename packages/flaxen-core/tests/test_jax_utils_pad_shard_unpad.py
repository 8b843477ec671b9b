"""pad_shard_unpad, including the "Processing the entire Dataset" guide's evaluation loops."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import flaxen
from flaxen import jax_utils
from flaxen.errors import InconsistentBatchSizesError

N = 8  # the root conftest's CPU device count


def recording(out=None):
    calls = []

    def fn(*args, **kwargs):
        calls.append((args, kwargs))
        return (args, kwargs) if out is None else out

    return fn, calls


def shapes(tree):
    return jax.tree_util.tree_map(lambda x: (type(x).__name__, np.shape(x)), tree)


def test_signature_of_the_wrapper():
    wrapper = jax_utils.pad_shard_unpad(lambda p, x: x)
    params = inspect.signature(wrapper).parameters
    assert [(p.name, p.kind, p.default) for p in params.values()] == [
        ("args", inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.empty),
        ("min_device_batch", inspect.Parameter.KEYWORD_ONLY, None),
        ("kw", inspect.Parameter.VAR_KEYWORD, inspect.Parameter.empty),
    ]
    assert wrapper.__name__ == "pad_shard_unpad_wrapper"


def test_pads_with_zeros_on_the_host_and_unpads_the_result():
    fn, calls = recording()
    wrapped = jax_utils.pad_shard_unpad(fn, static_argnums=())
    x = np.arange(5.0) + 1
    (out,), _ = wrapped(x)
    (padded,) = calls[-1][0]
    assert type(padded) is np.ndarray and padded.dtype == np.float64
    np.testing.assert_array_equal(padded, np.array([1, 2, 3, 4, 5, 0, 0, 0.0]).reshape(N, 1))
    np.testing.assert_array_equal(out, x)
    # JAX inputs are moved to the host too.
    wrapped(jnp.arange(5.0))
    assert type(calls[-1][0][0]) is np.ndarray and calls[-1][0][0].dtype == np.float32


@pytest.mark.parametrize(
    ("batch", "min_device_batch", "per_device"),
    [(5, None, 1), (5, 3, 3), (20, 1, 3), (16, None, 2), (16, 0, 2), (0, None, 0), (9, 2, 2)],
)
def test_per_device_batch(batch, min_device_batch, per_device):
    fn, calls = recording()
    wrapped = jax_utils.pad_shard_unpad(fn, static_argnums=())
    (out,), _ = wrapped(np.ones((batch, 2)), min_device_batch=min_device_batch)
    assert calls[-1][0][0].shape == (N, per_device, 2)
    assert out.shape == (batch, 2)


def test_arguments_that_need_no_padding_are_only_reshaped():
    fn, calls = recording()
    wrapped = jax_utils.pad_shard_unpad(fn, static_argnums=())
    x = jnp.arange(2.0 * N)
    (out,), _ = wrapped(x)
    (seen,) = calls[-1][0]
    assert isinstance(seen, jax.Array) and seen.shape == (N, 2)
    assert type(out) is np.ndarray  # results still come back to the host
    np.testing.assert_array_equal(out, x)
    wrapped(x, min_device_batch=3)  # padded to 3 per device: on the host
    assert type(calls[-1][0][0]) is np.ndarray


def test_static_arguments_pass_through():
    fn, calls = recording()
    wrapped = jax_utils.pad_shard_unpad(fn, static_argnums=(0,), static_argnames=("z",))
    wrapped(np.ones(2), np.arange(5.0), z=np.ones(7), w=np.ones(5))
    args, kwargs = calls[-1]
    assert shapes(args) == (("ndarray", (2,)), ("ndarray", (N, 1)))
    assert shapes(kwargs) == {"z": ("ndarray", (7,)), "w": ("ndarray", (N, 1))}


def test_static_return_is_returned_as_it_is():
    sentinel = {"correct": 3, "total": 5}
    fn, _ = recording(out=sentinel)
    assert jax_utils.pad_shard_unpad(fn, static_return=True)(None, np.ones(5)) is sentinel


def test_every_leaf_of_the_result_is_unsharded_and_unpadded():
    wrapped = jax_utils.pad_shard_unpad(
        lambda x: {"a": jnp.ones((N, 2, 3)), "b": np.ones(N), "c": None}, static_argnums=()
    )
    out = wrapped(np.arange(4.0))
    assert shapes(out) == {"a": ("ndarray", (4, 3)), "b": ("ndarray", (4,)), "c": None}
    scalar = jax_utils.pad_shard_unpad(lambda x: 3.0, static_argnums=())
    with pytest.raises(AttributeError, match="reshape"):
        scalar(np.arange(4.0))


def test_pytree_arguments_and_dtypes():
    fn, calls = recording()
    wrapped = jax_utils.pad_shard_unpad(fn, static_argnums=())
    wrapped({"a": np.arange(3), "b": np.ones((3, 2), np.int8), "c": np.ones(3, bool)})
    (batch,) = calls[-1][0]
    assert batch["a"][:, 0].tolist() == [0, 1, 2, 0, 0, 0, 0, 0]
    assert batch["b"].dtype == np.int8 and batch["b"].shape == (N, 1, 2)
    assert batch["c"].dtype == bool and batch["c"][:, 0].tolist() == [True] * 3 + [False] * 5


def test_inconsistent_or_missing_batches():
    wrapped = jax_utils.pad_shard_unpad(lambda *a: a, static_argnums=())
    with pytest.raises(InconsistentBatchSizesError) as info:
        wrapped(np.arange(5.0), np.ones((3, 2)), {"k": np.ones(3)})
    # An assert in Flax: both built-ins catch it.
    assert isinstance(info.value, ValueError) and isinstance(info.value, AssertionError)
    assert info.value.batch_sizes == (3, 5)
    assert str(info.value).startswith(
        "Inconsistent batch-sizes: {3, 5}. pad_shard_unpad pads the leading dimension of"
        " every array in the arguments that are not static, so all of them need the same"
        " batch size; pass the other arguments through static_argnums or static_argnames."
    )
    # Negative indices are not normalized: (-1,) marks no positional argument static.
    with pytest.raises(InconsistentBatchSizesError, match=r"batch-sizes: \{5, 7\}"):
        jax_utils.pad_shard_unpad(lambda *a: a, static_argnums=(-1,))(np.ones(5), np.ones(7))
    with pytest.raises(InconsistentBatchSizesError) as info:
        wrapped()
    assert info.value.batch_sizes == ()
    assert str(info.value).startswith(
        "Inconsistent batch-sizes: set(). pad_shard_unpad found no array to pad: every"
        " argument is static."
    )
    with pytest.raises(InconsistentBatchSizesError, match="no array to pad"):
        jax_utils.pad_shard_unpad(lambda x, y: x, static_argnums=(0,), static_argnames=("y",))(
            np.ones(3), y=np.ones(4)
        )
    with pytest.raises(AttributeError, match="shape"):
        wrapped(3.0)


def test_pmapped_function_on_a_batch_that_does_not_divide():
    @jax_utils.pad_shard_unpad
    @jax.pmap
    def forward(w, x):
        return jnp.tanh(x @ w)

    w = jax_utils.replicate(jnp.arange(6.0).reshape(3, 2) / 10)
    x = np.random.RandomState(0).randn(13, 3).astype(np.float32)
    out = forward(w, x)
    assert type(out) is np.ndarray and out.shape == (13, 2)
    np.testing.assert_allclose(out, np.tanh(x @ (np.arange(6.0).reshape(3, 2) / 10)), rtol=1e-5)


# -- the "Processing the entire Dataset" guide ---------------------------------------


def dataset(n, per_host_batch_size):
    """A stand-in for ``ds.as_numpy_iterator()``: MNIST-shaped batches, the last one short."""
    rng = np.random.RandomState(0)
    images = rng.rand(n, 4, 4, 1).astype(np.float32)
    labels = rng.randint(0, 10, n)
    for start in range(0, n, per_host_batch_size):
        yield {
            "image": images[start : start + per_host_batch_size],
            "label": labels[start : start + per_host_batch_size],
        }


def model_apply(variables, images):
    flat = images.reshape(images.shape[0], -1)
    return flat @ variables["params"]["kernel"]


def reference_counts(vs, n, per_host_batch_size):
    correct = total = 0
    for batch in dataset(n, per_host_batch_size):
        preds = model_apply(vs, batch["image"])
        total += len(batch["image"])
        correct += int((batch["label"] == preds.argmax(axis=-1)).sum())
    return correct, total


VS = {"params": {"kernel": jnp.asarray(np.random.RandomState(1).randn(16, 10), jnp.float32)}}


def test_guide_manual_padding_and_pad_shard_unpad_agree():
    n, per_device_batch_size = 100, 4
    per_host_batch_size = per_device_batch_size * jax.local_device_count()
    get_preds = jax.pmap(model_apply)
    vs = flaxen.jax_utils.replicate(VS)

    def shard(x):
        return x.reshape(jax.local_device_count(), -1, *x.shape[1:])

    def unshard(x):
        return x.reshape(-1, *x.shape[2:])

    # Manual implementation.
    correct = total = 0
    for batch in dataset(n, per_host_batch_size):
        images = batch["image"]
        n_batch = len(images)
        padding = np.zeros([per_host_batch_size - n_batch, *images.shape[1:]], images.dtype)
        padded_images = np.concatenate([images, padding])
        preds = unshard(get_preds(vs, shard(padded_images)))[:n_batch]
        total += n_batch
        correct += (batch["label"] == preds.argmax(axis=-1)).sum()
    manual = (int(correct), total)

    # Using pad_shard_unpad().
    correct = total = 0
    for batch in dataset(n, per_host_batch_size):
        preds = flaxen.jax_utils.pad_shard_unpad(get_preds)(
            vs, batch["image"], min_device_batch=per_device_batch_size
        )
        total += len(batch["image"])
        correct += (batch["label"] == preds.argmax(axis=-1)).sum()
    wrapped = (int(correct), total)

    assert manual == wrapped == reference_counts(VS, n, per_host_batch_size)
    assert total == n


def test_guide_metrics_computed_in_eval_step():
    n, per_device_batch_size = 100, 4
    per_host_batch_size = per_device_batch_size * jax.local_device_count()
    compiled_shapes = []

    def eval_step(metrics, variables, batch):
        compiled_shapes.append({k: v.shape for k, v in batch.items()})  # retrigger compilation
        preds = model_apply(variables, batch["image"])
        correct = (batch["mask"] & (batch["label"] == preds.argmax(axis=-1))).sum()
        total = batch["mask"].sum()
        return dict(
            correct=metrics["correct"] + jax.lax.psum(correct, axis_name="batch"),
            total=metrics["total"] + jax.lax.psum(total, axis_name="batch"),
        )

    eval_step = jax.pmap(eval_step, axis_name="batch")
    eval_step = flaxen.jax_utils.pad_shard_unpad(
        eval_step, static_argnums=(0, 1), static_return=True
    )

    metrics = flaxen.jax_utils.replicate({"correct": 0, "total": 0})
    vs = flaxen.jax_utils.replicate(VS)
    for raw in dataset(n, per_host_batch_size):
        batch = dict(raw, mask=np.ones(len(raw["label"]), bool))
        metrics = eval_step(metrics, vs, batch, min_device_batch=per_device_batch_size)
    metrics = flaxen.jax_utils.unreplicate(metrics)
    assert (int(metrics["correct"]), int(metrics["total"])) == reference_counts(
        VS, n, per_host_batch_size
    )
    # min_device_batch kept the last, short batch at the same shape.
    assert all(seen == compiled_shapes[0] for seen in compiled_shapes)
    assert compiled_shapes[0]["image"] == (per_device_batch_size, 4, 4, 1)
