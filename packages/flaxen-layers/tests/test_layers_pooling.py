"""flaxen.linen pooling: pool, max_pool, avg_pool (count_include_pad), min_pool."""

import contextlib
import doctest
import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from flaxen import linen as nn
from flaxen.linen import pooling

X = jax.random.normal(jax.random.key(0), (2, 5, 6, 3))


@contextlib.contextmanager
def raises_exactly(error, message):
    with pytest.raises(error) as info:
        yield
    assert str(info.value) == message


def np_pool(x, window, strides, pads, reduce, fill):
    """Windows of a channels-last batch, reduced with a NumPy function."""
    x = np.pad(np.asarray(x, np.float64), [(0, 0), *pads, (0, 0)], constant_values=fill)
    out_shape = [(n - w) // s + 1 for n, w, s in zip(x.shape[1:-1], window, strides)]
    out = np.zeros((x.shape[0], *out_shape, x.shape[-1]))
    for i in range(out_shape[0]):
        for j in range(out_shape[1]):
            patch = x[:, i * strides[0] : i * strides[0] + window[0],
                      j * strides[1] : j * strides[1] + window[1]]  # fmt: skip
            out[:, i, j] = reduce(patch, axis=(1, 2))
    return out


def same_pads(sizes, window, strides):
    pads = []
    for n, w, s in zip(sizes, window, strides, strict=True):
        total = max((-(-n // s) - 1) * s + w - n, 0)
        pads.append((total // 2, total - total // 2))
    return pads


@pytest.mark.parametrize(
    ("window", "strides", "padding"),
    [((2, 2), None, "VALID"), ((3, 2), (2, 1), "VALID"), ((3, 3), (1, 2), "SAME"),
     ((2, 3), (1, 1), ((1, 0), (2, 1)))],
)  # fmt: skip
def test_max_min_avg_against_numpy(window, strides, padding):
    st = strides or (1, 1)
    pads = same_pads(X.shape[1:3], window, st) if padding == "SAME" else (
        [(0, 0), (0, 0)] if padding == "VALID" else list(padding)
    )  # fmt: skip
    np.testing.assert_allclose(
        nn.max_pool(X, window, strides, padding), np_pool(X, window, st, pads, np.max, -np.inf)
    )
    np.testing.assert_allclose(
        pooling.min_pool(X, window, strides, padding), np_pool(X, window, st, pads, np.min, np.inf)
    )
    total = np_pool(X, window, st, pads, np.sum, 0.0)
    np.testing.assert_allclose(
        nn.avg_pool(X, window, strides, padding), total / np.prod(window), rtol=1e-5, atol=1e-6
    )
    counts = np_pool(np.ones_like(X), window, st, pads, np.sum, 0.0)
    np.testing.assert_allclose(
        nn.avg_pool(X, window, strides, padding, count_include_pad=False),
        total / counts,
        rtol=1e-5,
        atol=1e-6,
    )


def test_pool_with_custom_reduction_and_strides_default():
    y = nn.pool(X, 1.0, lax.mul, (2, 2), None, "VALID")
    expected = np_pool(X, (2, 2), (1, 1), [(0, 0)] * 2, np.prod, 1.0)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


def test_unbatched_and_many_batch_axes():
    np.testing.assert_array_equal(nn.max_pool(X[0], (2, 2)), nn.max_pool(X, (2, 2))[0])
    np.testing.assert_array_equal(
        nn.avg_pool(X[0], (2, 2), padding="SAME", count_include_pad=False),
        nn.avg_pool(X, (2, 2), padding="SAME", count_include_pad=False)[0],
    )
    # With a 1-D window, (2, 5) are both batch axes.
    y = nn.max_pool(X, (2,))
    assert y.shape == (2, 5, 5, 3)
    np.testing.assert_array_equal(y[1, 2], nn.max_pool(X[1, 2], (2,)))


def test_dtypes():
    ints = jnp.arange(12, dtype=jnp.int32).reshape(1, 4, 3, 1)
    assert nn.max_pool(ints, (2, 2)).dtype == jnp.int32
    assert pooling.min_pool(ints, (2, 2)).dtype == jnp.int32
    assert nn.avg_pool(ints, (2, 2)).dtype == jnp.float32
    assert nn.avg_pool(X.astype(jnp.bfloat16), (2, 2)).dtype == jnp.bfloat16
    # The padding counts are float32.
    assert nn.avg_pool(X.astype(jnp.bfloat16), (2, 2), count_include_pad=False).dtype == (
        jnp.float32
    )
    assert nn.max_pool(X > 0, (2, 2)).dtype == jnp.bool_


def test_gradients():
    g = jax.grad(lambda x: nn.max_pool(x, (2, 2), (2, 2)).sum())(X[:, :4, :4])
    # Each non-overlapping window routes its gradient to its maximum only.
    assert float(g.sum()) == 2 * 2 * 2 * 3
    g = jax.grad(lambda x: nn.avg_pool(x, (2, 2)).sum())(X)
    np.testing.assert_allclose(g[0, 0, 0, 0], 0.25)


def test_op_sequence():
    names = lambda f: [e.primitive.name for e in jax.make_jaxpr(f)(X).eqns]
    assert names(lambda x: nn.max_pool(x, (2, 2))) == ["reduce_window_max"]
    assert names(lambda x: nn.avg_pool(x, (2, 2))) == ["reduce_window_sum", "div"]
    assert names(lambda x: nn.avg_pool(x, (2, 2), count_include_pad=False)) == [
        "reduce_window_sum", "broadcast_in_dim", "reduce_window_sum", "div",
    ]  # fmt: skip


def test_errors():
    with pytest.raises(TypeError):
        nn.max_pool(X, 2)
    with pytest.raises(TypeError, match="can only concatenate tuple"):
        nn.max_pool(X, [2, 2])
    with raises_exactly(AssertionError, "len((2, 2)) must equal len((1,))"):
        nn.max_pool(X, (2, 2), strides=(1,))
    with raises_exactly(AssertionError, "len((2, 5, 6, 3)) != len((2, 2, 2, 2, 1))"):
        nn.max_pool(X, (2, 2, 2, 2))
    with raises_exactly(
        AssertionError,
        "padding ((1, 1),) must specify pads for same number of dims as window_shape (2, 2)",
    ):
        nn.max_pool(X, (2, 2), padding=((1, 1),))
    with raises_exactly(
        AssertionError, "each entry in padding ((1, 1, 1), (1, 1, 1)) must be length 2"
    ):
        nn.max_pool(X, (2, 2), padding=((1, 1, 1), (1, 1, 1)))
    with pytest.raises(RuntimeError, match="Unrecognized padding type"):
        nn.max_pool(X, (2, 2), padding="CIRCULAR")


def test_exports():
    assert nn.pooling.max_pool is nn.max_pool
    assert nn.min_pool is pooling.min_pool  # flaxen also exports it at the top level


@pytest.mark.parametrize("module", ["flaxen.layers.pooling", "flaxen.layers._pooling"])
def test_doctests(module):
    results = doctest.testmod(
        importlib.import_module(module),
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
    )
    assert results.attempted > 0 and results.failed == 0
