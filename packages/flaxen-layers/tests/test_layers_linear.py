"""Linear layers (Dense, DenseGeneral, Conv, ConvLocal, ConvTranspose, Embed, Einsum).

Numerics against NumPy references; variable trees, initializer calls and
errors against the spec (Flax 0.12's behaviour).
"""

import contextlib
import doctest
import importlib
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from flaxen import linen as nn
from flaxen.errors import ScopeParamShapeError

KEY = jax.random.key(0)


def randn(*shape, seed=1, dtype=jnp.float32):
    return jax.random.normal(jax.random.key(seed), shape).astype(dtype)


@contextlib.contextmanager
def raises_exactly(error, message):
    """Like ``pytest.raises``, but the message must be exactly ``message``.

    (``match`` would also see the note JAX appends about filtered frames.)
    """
    with pytest.raises(error) as info:
        yield
    assert str(info.value) == message


def shapes(tree):
    return jax.tree_util.tree_map(lambda a: (a.shape, str(a.dtype)), tree)


def as64(x):
    return np.asarray(x, np.float64)


class Recorder:
    """An initializer that records its calls and delegates to ``init``."""

    def __init__(self, init=nn.initializers.lecun_normal()):
        self.init = init
        self.calls = []

    def __call__(self, key, shape, dtype=jnp.float32):
        self.calls.append((tuple(shape), jnp.dtype(dtype)))
        return self.init(key, shape, dtype)


# -- Dense -------------------------------------------------------------------------


def test_dense_variables_and_output():
    x = randn(2, 5, 3)
    layer = nn.Dense(4)
    variables = layer.init(KEY, x)
    assert shapes(variables) == {
        "params": {"bias": ((4,), "float32"), "kernel": ((3, 4), "float32")}
    }
    kernel, bias = variables["params"]["kernel"], variables["params"]["bias"]
    assert not np.asarray(bias).any()  # zeros
    np.testing.assert_allclose(
        layer.apply(variables, x), as64(x) @ as64(kernel) + as64(bias), rtol=1e-5, atol=1e-6
    )


def test_dense_initializers_get_shape_and_param_dtype():
    kernel_init, bias_init = Recorder(), Recorder(nn.initializers.ones_init())
    layer = nn.Dense(4, kernel_init=kernel_init, bias_init=bias_init, param_dtype=jnp.bfloat16)
    variables = layer.init(KEY, randn(2, 3))
    assert kernel_init.calls == [((3, 4), jnp.dtype(jnp.bfloat16))]
    assert bias_init.calls == [((4,), jnp.dtype(jnp.bfloat16))]
    assert variables["params"]["bias"].dtype == jnp.bfloat16


def test_dense_default_kernel_init_is_lecun_normal():
    keys = []

    def spy(key, shape, dtype):
        keys.append(key)
        return nn.initializers.lecun_normal()(key, shape, dtype)

    expected = nn.Dense(4, kernel_init=spy).init(KEY, randn(2, 3))["params"]["kernel"]
    actual = nn.Dense(4).init(KEY, randn(2, 3))["params"]["kernel"]
    np.testing.assert_array_equal(actual, expected)
    assert nn.linear.default_kernel_init(KEY, (3, 4)).shape == (3, 4)


def test_dense_without_bias_and_one_dimensional_input():
    layer = nn.Dense(4, use_bias=False)
    x = randn(3)
    variables = layer.init(KEY, x)
    assert list(variables["params"]) == ["kernel"]
    np.testing.assert_allclose(
        layer.apply(variables, x), as64(x) @ as64(variables["params"]["kernel"]), rtol=1e-5
    )


@pytest.mark.parametrize(
    ("x_dtype", "param_dtype", "dtype", "expected"),
    [
        (jnp.float32, jnp.float32, None, jnp.float32),
        (jnp.bfloat16, jnp.float32, None, jnp.float32),
        (jnp.bfloat16, jnp.bfloat16, None, jnp.bfloat16),
        (jnp.float32, jnp.float32, jnp.bfloat16, jnp.bfloat16),
        (jnp.int32, jnp.float32, None, jnp.float32),
        (jnp.float16, jnp.bfloat16, None, jnp.float32),
    ],
)
def test_dense_dtype_promotion(x_dtype, param_dtype, dtype, expected):
    x = jnp.ones((2, 3), x_dtype)
    layer = nn.Dense(4, param_dtype=param_dtype, dtype=dtype)
    assert layer.init_with_output(KEY, x)[0].dtype == expected


def test_dense_op_sequence():
    layer = nn.Dense(4, precision=lax.Precision.HIGHEST)
    x = randn(2, 3)
    variables = layer.init(KEY, x)
    jaxpr = jax.make_jaxpr(layer.apply)(variables, x)
    assert [e.primitive.name for e in jaxpr.eqns] == ["dot_general", "reshape", "add"]
    params = jaxpr.eqns[0].params
    assert params["dimension_numbers"] == (((1,), (0,)), ((), ()))
    assert params["precision"] == (lax.Precision.HIGHEST, lax.Precision.HIGHEST)
    # bfloat16 computation: the inputs and params are cast, nothing else.
    jaxpr = jax.make_jaxpr(nn.Dense(4, dtype=jnp.bfloat16).apply)(variables, x)
    assert [e.primitive.name for e in jaxpr.eqns] == [
        "convert_element_type", "convert_element_type", "convert_element_type",
        "dot_general", "reshape", "add",
    ]  # fmt: skip


def test_dense_custom_dot_general_and_cls_and_promote_dtype():
    calls = []

    def dot_general(lhs, rhs, dims, precision=None):
        calls.append(("fn", dims, precision))
        return lax.dot_general(lhs, rhs, dims, precision=precision)

    class DotGeneral:
        def __call__(self, lhs, rhs, dims, precision=None):
            calls.append(("cls", dims, precision))
            return 2 * lax.dot_general(lhs, rhs, dims, precision=precision)

    x = randn(2, 3)
    plain = nn.Dense(4, use_bias=False)
    variables = plain.init(KEY, x)
    y = plain.apply(variables, x)
    np.testing.assert_array_equal(
        nn.Dense(4, use_bias=False, dot_general=dot_general, precision="high").apply(variables, x),
        y,
    )
    both = nn.Dense(4, use_bias=False, dot_general=dot_general, dot_general_cls=DotGeneral)
    np.testing.assert_allclose(both.apply(variables, x), 2 * y, rtol=1e-6)
    assert calls == [
        ("fn", (((1,), (0,)), ((), ())), "high"),
        ("cls", (((1,), (0,)), ((), ())), None),
    ]

    promoted = []

    def promote(*arrays, dtype=None):
        promoted.append((len(arrays), arrays[2] is None, dtype))
        return nn.dtypes.promote_dtype(*arrays, dtype=dtype)

    nn.Dense(4, use_bias=False, promote_dtype=promote, dtype=jnp.float32).apply(variables, x)
    assert promoted == [(3, True, jnp.float32)]


def test_dense_submodule_dot_general_cls_is_a_child():
    class ScaledDot(nn.Module):
        @nn.compact
        def __call__(self, lhs, rhs, dims, precision=None):
            scale = self.param("scale", nn.initializers.ones, ())
            return scale * lax.dot_general(lhs, rhs, dims, precision=precision)

    variables = nn.Dense(4, dot_general_cls=ScaledDot).init(KEY, randn(2, 3))
    assert shapes(variables)["params"]["ScaledDot_0"] == {"scale": ((), "float32")}


def test_dense_errors():
    with pytest.raises(IndexError):
        nn.Dense(4).init(KEY, jnp.ones(()))
    variables = nn.Dense(4).init(KEY, randn(2, 3))
    with pytest.raises(ScopeParamShapeError, match=r"shape \(5, 4\).*\(3, 4\)"):
        nn.Dense(4).apply(variables, randn(2, 5))


def test_dense_keeps_metadata_boxes():
    init = nn.with_partitioning(nn.initializers.lecun_normal(), (None, "model"))
    variables = nn.Dense(4, kernel_init=init).init(KEY, randn(2, 3))
    kernel = variables["params"]["kernel"]
    assert isinstance(kernel, nn.Partitioned) and kernel.names == (None, "model")


# -- DenseGeneral --------------------------------------------------------------------


def test_dense_general_axes_and_features():
    x = randn(2, 3, 4, 5)
    layer = nn.DenseGeneral((6, 7), axis=(-2, -1))
    variables = layer.init(KEY, x)
    assert shapes(variables)["params"] == {
        "bias": ((6, 7), "float32"),
        "kernel": ((4, 5, 6, 7), "float32"),
    }
    kernel = as64(variables["params"]["kernel"])
    expected = np.einsum("abcd,cdef->abef", as64(x), kernel)
    np.testing.assert_allclose(layer.apply(variables, x), expected, rtol=1e-4, atol=1e-5)


def test_dense_general_axes_are_sorted():
    x = randn(2, 3, 4)
    layer = nn.DenseGeneral(5, axis=(2, 0), use_bias=False)
    variables = layer.init(KEY, x)
    kernel = as64(variables["params"]["kernel"])
    assert kernel.shape == (2, 4, 5)
    np.testing.assert_allclose(
        layer.apply(variables, x), np.einsum("abc,ace->be", as64(x), kernel), rtol=1e-4, atol=1e-5
    )


def test_dense_general_batch_dims():
    x = randn(2, 3, 4)
    layer = nn.DenseGeneral((5, 6), axis=-1, batch_dims=(0,))
    variables = layer.init(KEY, x)
    assert shapes(variables)["params"] == {
        "bias": ((2, 5, 6), "float32"),
        "kernel": ((2, 4, 5, 6), "float32"),
    }
    params = jax.tree_util.tree_map(as64, variables["params"])
    params["bias"] = np.arange(60, dtype=np.float64).reshape(2, 5, 6)
    expected = np.einsum("abc,acde->abde", as64(x), params["kernel"]) + params["bias"][:, None]
    np.testing.assert_allclose(layer.apply({"params": params}, x), expected, rtol=1e-4, atol=1e-4)


def test_dense_general_initializers_see_flat_shapes():
    kernel_init, bias_init = Recorder(), Recorder(nn.initializers.zeros)
    layer = nn.DenseGeneral((5, 6), axis=-1, batch_dims=(0,), kernel_init=kernel_init,
                            bias_init=bias_init)  # fmt: skip
    layer.init(KEY, randn(2, 3, 4))
    # fan_in covers the batch and contracted axes: (2 * 4, 5 * 6).
    assert kernel_init.calls == [((8, 30), jnp.dtype(jnp.float32))]
    assert bias_init.calls == [((60,), jnp.dtype(jnp.float32))]
    # The kernel is the flat draw, reshaped.
    key_seen = []

    def spy(key, shape, dtype):
        key_seen.append(key)
        return nn.initializers.lecun_normal()(key, shape, dtype)

    kernel = nn.DenseGeneral((5, 6), axis=(-2, -1), kernel_init=spy).init(KEY, randn(2, 3, 4))
    flat = nn.initializers.lecun_normal()(key_seen[0], (12, 30), jnp.float32)
    np.testing.assert_array_equal(kernel["params"]["kernel"], flat.reshape(3, 4, 5, 6))


@pytest.mark.parametrize("batch_dims", [(1,), (-3,), 1, (0, 2)])
def test_dense_general_batch_dims_must_be_leading(batch_dims):
    normalized = batch_dims if isinstance(batch_dims, tuple) else (batch_dims,)
    with raises_exactly(
        ValueError,
        f"batch_dims {normalized} must be consecutive leading dimensions starting from 0.",
    ):
        nn.DenseGeneral(4, batch_dims=batch_dims).init(KEY, randn(2, 3, 4))


def test_dense_general_without_bias_and_with_partitioned_kernel():
    init = nn.with_partitioning(nn.initializers.lecun_normal(), ("a", "b", "c"))
    variables = nn.DenseGeneral((2, 3), kernel_init=init, use_bias=False).init(KEY, randn(2, 4))
    kernel = variables["params"]["kernel"]
    assert isinstance(kernel, nn.Partitioned) and kernel.value.shape == (4, 2, 3)
    assert list(variables["params"]) == ["kernel"]


# -- Conv ------------------------------------------------------------------------------


def _same_pads(sizes, kernel, strides):
    pads = []
    for n, k, s in zip(sizes, kernel, strides, strict=True):
        out = -(-n // s)
        total = max((out - 1) * s + k - n, 0)
        pads.append((total // 2, total - total // 2))
    return pads


def np_conv(x, w, strides, pads, lhs_dil=None, rhs_dil=None, groups=1):
    """N-D channels-last convolution in NumPy (float64)."""
    x, w = as64(x), as64(w)
    rank = x.ndim - 2
    lhs_dil = lhs_dil or (1,) * rank
    rhs_dil = rhs_dil or (1,) * rank
    if any(d != 1 for d in lhs_dil):
        dilated = np.zeros(
            (x.shape[0], *((n - 1) * d + 1 for n, d in zip(x.shape[1:-1], lhs_dil)), x.shape[-1])
        )
        dilated[(slice(None), *(slice(None, None, d) for d in lhs_dil))] = x
        x = dilated
    x = np.pad(x, [(0, 0), *pads, (0, 0)])
    kernel = w.shape[:rank]
    eff = [(k - 1) * d + 1 for k, d in zip(kernel, rhs_dil)]
    out = [(n - e) // s + 1 for n, e, s in zip(x.shape[1:-1], eff, strides)]
    cin_g, cout = w.shape[-2], w.shape[-1]
    y = np.zeros((x.shape[0], *out, cout))
    for g in range(groups):
        for pos in itertools.product(*(range(k) for k in kernel)):
            index = tuple(
                slice(p * d, p * d + (o - 1) * s + 1, s)
                for p, d, o, s in zip(pos, rhs_dil, out, strides)
            )
            patch = x[(slice(None), *index, slice(g * cin_g, (g + 1) * cin_g))]
            cols = slice(g * cout // groups, (g + 1) * cout // groups)
            y[..., cols] += patch @ w[(*pos, slice(None), cols)]
    return y


def _conv_params(layer, x):
    variables = layer.init(KEY, x)
    params = dict(variables["params"])
    if "bias" in params:
        params["bias"] = jax.random.normal(jax.random.key(7), params["bias"].shape)
    return {"params": params}


@pytest.mark.parametrize(
    ("kernel", "strides", "kernel_dilation", "size"),
    [((3,), 1, 1, 6), ((4,), 2, 1, 7), ((3,), 1, 2, 7), ((2, 3), (2, 1), (1, 2), 6)],
)
def test_conv_same_and_valid(kernel, strides, kernel_dilation, size):
    rank = len(kernel)
    x = randn(2, *(size,) * rank, 3)
    st = strides if isinstance(strides, tuple) else (strides,) * rank
    kd = kernel_dilation if isinstance(kernel_dilation, tuple) else (kernel_dilation,) * rank
    eff = [(k - 1) * d + 1 for k, d in zip(kernel, kd)]
    for padding, pads in [("SAME", _same_pads(x.shape[1:-1], eff, st)), ("VALID", [(0, 0)] * rank)]:
        layer = nn.Conv(
            4, kernel, strides=strides, padding=padding, kernel_dilation=kernel_dilation
        )
        variables = _conv_params(layer, x)
        p = variables["params"]
        assert p["kernel"].shape == (*kernel, 3, 4)
        expected = np_conv(x, p["kernel"], st, pads, rhs_dil=kd) + as64(p["bias"])
        np.testing.assert_allclose(layer.apply(variables, x), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("padding", "pads"),
    [(1, [(1, 1), (1, 1)]), ((1, 2), [(1, 1), (2, 2)]), (((1, 2), (0, 1)), [(1, 2), (0, 1)]),
     ((1, (0, 2)), [(1, 1), (0, 2)]), ([[2, 0], [1, 1]], [(2, 0), (1, 1)])],
)  # fmt: skip
def test_conv_explicit_padding(padding, pads):
    x = randn(2, 5, 4, 2)
    layer = nn.Conv(3, (3, 2), padding=padding)
    variables = _conv_params(layer, x)
    p = variables["params"]
    expected = np_conv(x, p["kernel"], (1, 1), pads) + as64(p["bias"])
    np.testing.assert_allclose(layer.apply(variables, x), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("kernel", "dilation", "strides"), [(3, 1, 1), (4, 1, 2), (3, 2, 1), (2, 1, 3)]
)
def test_conv_circular_wraps_around(kernel, dilation, strides):
    x = randn(2, 7, 2)
    layer = nn.Conv(3, (kernel,), padding="CIRCULAR", kernel_dilation=dilation, strides=strides)
    variables = _conv_params(layer, x)
    p = variables["params"]
    eff = (kernel - 1) * dilation + 1
    wrapped = np.pad(as64(x), [(0, 0), ((eff - 1) // 2, eff // 2), (0, 0)], mode="wrap")
    expected = np_conv(wrapped, p["kernel"], (strides,), [(0, 0)], rhs_dil=(dilation,))
    np.testing.assert_allclose(
        layer.apply(variables, x), expected + as64(p["bias"]), rtol=1e-4, atol=1e-5
    )
    if strides == 1:
        assert layer.apply(variables, x).shape == (2, 7, 3)  # periodic: same size


def test_conv_circular_2d_and_shift_equivariance():
    x = randn(1, 5, 6, 2)
    layer = nn.Conv(3, (3, 4), padding="CIRCULAR", use_bias=False)
    variables = layer.init(KEY, x)
    y = layer.apply(variables, x)
    shifted = layer.apply(variables, jnp.roll(x, (2, 3), axis=(1, 2)))
    np.testing.assert_allclose(shifted, jnp.roll(y, (2, 3), axis=(1, 2)), rtol=1e-5, atol=1e-5)


def test_conv_causal():
    x = randn(2, 8, 2)
    layer = nn.Conv(3, (3,), padding="CAUSAL", kernel_dilation=2)
    variables = _conv_params(layer, x)
    p = variables["params"]
    expected = np_conv(x, p["kernel"], (1,), [(4, 0)], rhs_dil=(2,)) + as64(p["bias"])
    y = layer.apply(variables, x)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)
    # Output t depends only on inputs up to t.
    changed = layer.apply(variables, x.at[:, 5:].set(100.0))
    np.testing.assert_array_equal(changed[:, :5], y[:, :5])
    with raises_exactly(ValueError, "Causal padding is only implemented for 1D convolutions."):
        nn.Conv(3, (3, 3), padding="CAUSAL").init(KEY, randn(1, 4, 4, 1))


def test_conv_input_dilation_and_groups():
    x = randn(2, 5, 4)
    layer = nn.Conv(6, (3,), padding=[(2, 1)], input_dilation=2, feature_group_count=2)
    variables = _conv_params(layer, x)
    p = variables["params"]
    assert p["kernel"].shape == (3, 2, 6)
    expected = np_conv(x, p["kernel"], (1,), [(2, 1)], lhs_dil=(2,), groups=2)
    np.testing.assert_allclose(
        layer.apply(variables, x), expected + as64(p["bias"]), rtol=1e-4, atol=1e-5
    )


def test_conv_mask_zeroes_kernel_entries():
    x = randn(2, 6, 2)
    mask = jnp.ones((3, 2, 3)).at[2].set(0.0)
    layer = nn.Conv(3, (3,), mask=mask, use_bias=False)
    variables = layer.init(KEY, x)
    masked_kernel = variables["params"]["kernel"] * mask
    expected = nn.Conv(3, (3,), use_bias=False).apply({"params": {"kernel": masked_kernel}}, x)
    np.testing.assert_array_equal(layer.apply(variables, x), expected)
    with raises_exactly(
        ValueError, "Mask needs to have the same shape as weights. Shapes are: (3, 4), (3, 2, 3)"
    ):
        nn.Conv(3, (3,), mask=jnp.ones((3, 4))).init(KEY, x)


def test_conv_batch_axes():
    x = randn(2, 3, 6, 2)
    layer = nn.Conv(4, (3,))
    variables = layer.init(KEY, x)
    y = layer.apply(variables, x)
    assert y.shape == (2, 3, 6, 4)
    flat = layer.apply(variables, x.reshape(6, 6, 2)).reshape(2, 3, 6, 4)
    np.testing.assert_array_equal(y, flat)
    single = layer.apply(variables, x[0, 0])
    assert single.shape == (6, 4)
    np.testing.assert_allclose(single, y[0, 0], rtol=1e-6, atol=1e-6)


def test_conv_kernel_size_int_and_zero_rank():
    x = randn(2, 5, 3)
    assert nn.Conv(4, 3).init(KEY, x)["params"]["kernel"].shape == (3, 3, 4)
    # An empty kernel_size convolves nothing spatially: a Dense over features.
    layer = nn.Conv(4, ())
    variables = layer.init(KEY, x[:, 0])
    assert variables["params"]["kernel"].shape == (3, 4)
    np.testing.assert_allclose(
        layer.apply(variables, x[:, 0]),
        as64(x[:, 0]) @ as64(variables["params"]["kernel"]),
        rtol=1e-5,
    )


def test_conv_errors():
    x = randn(1, 5, 3)
    with pytest.raises(AssertionError, match="multiple of feature_group_count"):
        nn.Conv(4, (3,), feature_group_count=2).init(KEY, x)
    with pytest.raises(ValueError, match=r"Invalid padding format: 1\.5, should be str, int,"):
        nn.Conv(4, (3,), padding=1.5).init(KEY, x)
    with pytest.raises(RuntimeError, match="Unrecognized padding type"):
        nn.Conv(4, (3,), padding="FOO").init(KEY, x)


def test_conv_shared_weights_property():
    assert nn.Conv(1, (1,)).shared_weights is True
    assert nn.ConvLocal(1, (1,)).shared_weights is False


def test_conv_op_sequence_and_dimension_numbers():
    x = randn(2, 5, 4, 3)
    layer = nn.Conv(4, (3, 3))
    variables = layer.init(KEY, x)
    jaxpr = jax.make_jaxpr(layer.apply)(variables, x)
    assert [e.primitive.name for e in jaxpr.eqns] == ["conv_general_dilated", "reshape", "add"]
    numbers = jaxpr.eqns[0].params["dimension_numbers"]
    assert (numbers.lhs_spec, numbers.rhs_spec, numbers.out_spec) == (
        (0, 3, 1, 2), (3, 2, 0, 1), (0, 3, 1, 2),
    )  # fmt: skip


def test_conv_custom_conv_general_dilated():
    calls = []

    def conv(lhs, rhs, window_strides, padding, **kwargs):
        calls.append((window_strides, padding, sorted(kwargs)))
        return lax.conv_general_dilated(lhs, rhs, window_strides, padding, **kwargs)

    x = randn(1, 5, 2)
    variables = nn.Conv(3, (3,)).init(KEY, x)
    y = nn.Conv(3, (3,), conv_general_dilated=conv, padding=1).apply(variables, x)
    np.testing.assert_array_equal(y, nn.Conv(3, (3,)).apply(variables, x))
    assert calls == [
        ((1,), [(1, 1)], ["dimension_numbers", "feature_group_count", "lhs_dilation",
                          "precision", "rhs_dilation"]),
    ]  # fmt: skip


def test_canonicalize_padding():
    cp = nn.linear.canonicalize_padding
    assert cp("SAME", 2) == "SAME"
    assert cp(1, 2) == [(1, 1), (1, 1)]
    assert cp((1, (0, 2)), 2) == [(1, 1), (0, 2)]
    assert cp([[1, 2]], 1) == [(1, 2)]
    for bad in [(1,), [(1, 2)], 1.5, None, (1, 2, 3), ("ab", 1), np.int64(1)]:
        with pytest.raises(ValueError, match=r"Invalid padding format: .*, should be str, int,"):
            cp(bad, 2)


# -- ConvLocal -----------------------------------------------------------------------


def test_conv_local_has_a_kernel_per_position():
    x = randn(2, 6, 2)
    layer = nn.ConvLocal(3, (3,), strides=2, padding="VALID")
    variables = _conv_params(layer, x)
    p = variables["params"]
    assert p["kernel"].shape == (2, 6, 3) and p["bias"].shape == (2, 3)
    # (position, in, window, out): the patch axis is feature-major, as in lax.
    kernel = as64(p["kernel"]).reshape(2, 2, 3, 3)
    expected = np.stack(
        [np.einsum("bki,iko->bo", as64(x[:, 2 * t : 2 * t + 3]), kernel[t]) for t in range(2)],
        axis=1,
    )
    np.testing.assert_allclose(
        layer.apply(variables, x), expected + as64(p["bias"]), rtol=1e-4, atol=1e-5
    )


def test_conv_local_errors():
    x = randn(1, 5, 2)
    with pytest.raises(NotImplementedError, match="feature_group_count != 1"):
        nn.ConvLocal(2, (3,), feature_group_count=2).init(KEY, x)
    with pytest.raises(ValueError, match="Mask needs to have the same shape as weights"):
        nn.ConvLocal(2, (3,), mask=jnp.ones((3,))).init(KEY, x)


# -- ConvTranspose -----------------------------------------------------------------------


@pytest.mark.parametrize("padding", ["SAME", "VALID", [(1, 2)]])
@pytest.mark.parametrize("strides", [1, 2])
def test_conv_transpose_matches_lax(padding, strides):
    x = randn(2, 5, 3)
    layer = nn.ConvTranspose(4, (3,), strides=(strides,), padding=padding)
    variables = _conv_params(layer, x)
    p = variables["params"]
    expected = lax.conv_transpose(
        x, p["kernel"], (strides,), padding, dimension_numbers=("NWC", "WIO", "NWC")
    )
    np.testing.assert_allclose(
        layer.apply(variables, x), as64(expected) + as64(p["bias"]), rtol=1e-5, atol=1e-5
    )
    if padding == "SAME":
        assert layer.apply(variables, x).shape == (2, 5 * strides, 4)


@pytest.mark.parametrize(
    ("kernel", "strides", "size"), [(3, 1, 6), (3, 2, 6), (4, 2, 6), (2, 3, 6)]
)
def test_conv_transpose_circular_is_the_adjoint_of_conv_circular(kernel, strides, size):
    x = randn(1, size, 3)
    conv = nn.Conv(2, (kernel,), strides=strides, padding="CIRCULAR", use_bias=False)
    variables = conv.init(KEY, x)
    y = conv.apply(variables, x)
    r = randn(*y.shape, seed=3)
    transpose = nn.ConvTranspose(
        3, (kernel,), strides=(strides,), padding="CIRCULAR", transpose_kernel=True,
        use_bias=False,
    )  # fmt: skip
    z = transpose.apply(variables, r)
    assert z.shape == x.shape
    np.testing.assert_allclose(jnp.vdot(y, r), jnp.vdot(x, z), rtol=1e-4)


def test_conv_transpose_circular_output_is_periodic():
    r = randn(1, 4, 2)
    layer = nn.ConvTranspose(3, (5,), strides=(2,), padding="CIRCULAR", use_bias=False)
    variables = layer.init(KEY, r)
    z = layer.apply(variables, r)
    assert z.shape == (1, 8, 3)
    # Shifting the input by one step shifts the output by one stride.
    shifted = layer.apply(variables, jnp.roll(r, 1, axis=1))
    np.testing.assert_allclose(shifted, jnp.roll(z, 2, axis=1), rtol=1e-5, atol=1e-5)


def test_conv_transpose_kernel_shapes_mask_and_batches():
    x = randn(2, 3, 5, 2)
    assert nn.ConvTranspose(4, (3,)).init(KEY, x)["params"]["kernel"].shape == (3, 2, 4)
    tk = nn.ConvTranspose(4, 3, transpose_kernel=True).init(KEY, x)["params"]["kernel"]
    assert tk.shape == (3, 4, 2)
    layer = nn.ConvTranspose(4, (3,), mask=jnp.zeros((3, 2, 4)), use_bias=False)
    variables = layer.init(KEY, x)
    assert not np.asarray(layer.apply(variables, x)).any()
    layer = nn.ConvTranspose(4, (3,))
    variables = layer.init(KEY, x)
    np.testing.assert_allclose(
        layer.apply(variables, x)[1, 2], layer.apply(variables, x[1, 2]), rtol=1e-6, atol=1e-6
    )
    with pytest.raises(AssertionError, match="needs inputs with at least 2 dimensions"):
        layer.init(KEY, randn(5))
    with pytest.raises(ValueError, match="Mask needs to have the same shape as weights"):
        nn.ConvTranspose(4, (3,), mask=jnp.ones((3, 4))).init(KEY, x)


def test_conv_transpose_preferred_element_type():
    x = randn(1, 5, 2, dtype=jnp.bfloat16)
    layer = nn.ConvTranspose(3, (3,), dtype=jnp.bfloat16, preferred_element_type=jnp.float32)
    variables = layer.init(KEY, x)
    jaxpr = jax.make_jaxpr(layer.apply)(variables, x)
    conv = next(e for e in jaxpr.eqns if e.primitive.name == "conv_general_dilated")
    assert conv.params["preferred_element_type"] == jnp.float32


# -- Embed -------------------------------------------------------------------------------


def test_embed_lookup_and_edges():
    layer = nn.Embed(5, 3)
    ids = jnp.array([[0, 4], [-1, 2]])
    variables = layer.init(KEY, ids)
    table = np.asarray(variables["params"]["embedding"])
    assert table.shape == (5, 3)
    np.testing.assert_array_equal(layer.apply(variables, ids), table[np.array([[0, 4], [4, 2]])])
    assert np.isnan(np.asarray(layer.apply(variables, jnp.array([5])))).all()
    assert layer.apply(variables, jnp.array(2)).shape == (3,)
    assert layer.apply(variables, ids.astype(jnp.uint8)).shape == (2, 2, 3)


def test_embed_default_init_is_normal_scaled_by_features():
    values = nn.linear.default_embed_init(KEY, (2000, 16))
    np.testing.assert_allclose(np.std(np.asarray(values)), 1 / math.sqrt(16), rtol=0.05)


def test_embed_single_row_broadcasts():
    layer = nn.Embed(1, 3)
    ids = jnp.zeros((2, 4), jnp.int32)
    variables = layer.init(KEY, ids)
    y = layer.apply(variables, ids)
    assert y.shape == (2, 4, 3)
    np.testing.assert_array_equal(y[1, 3], variables["params"]["embedding"][0])


def test_embed_attend_and_dtypes():
    layer = nn.Embed(5, 3, param_dtype=jnp.bfloat16)
    variables = layer.init(KEY, jnp.array([1]))
    q = randn(2, 3)
    scores = layer.apply(variables, q, method=layer.attend)
    table = as64(variables["params"]["embedding"])
    np.testing.assert_allclose(scores, as64(q) @ table.T, rtol=1e-5, atol=1e-5)
    assert scores.dtype == jnp.float32  # promoted with the float32 query
    assert layer.apply(variables, jnp.array([1])).dtype == jnp.bfloat16
    assert nn.Embed(5, 3, dtype=jnp.float32).apply(variables, jnp.array([1])).dtype == jnp.float32
    # attend alone can initialize (the table is created in setup).
    assert shapes(nn.Embed(5, 3).init(KEY, q, method="attend"))["params"] == {
        "embedding": ((5, 3), "float32")
    }


@pytest.mark.parametrize("ids", [jnp.ones((2,)), jnp.array([True])])
def test_embed_rejects_non_integers(ids):
    with raises_exactly(ValueError, "Input type must be an integer or unsigned integer."):
        nn.Embed(5, 3).init(KEY, ids)


# -- Einsum ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("equation", "shape", "bias_shape", "broadcast"),
    [
        ("abc,cd->abd", (4, 5), (5,), (1, 1, 5)),
        ("abc,cde->abed", (4, 5, 6), (6, 5), (1, 1, 6, 5)),
        ("abc,cda->abd", (4, 5, 2), (2, 5), (2, 1, 5)),
        ("abc,cd->dab", (4, 5), (5,), (5, 1, 1)),
        ("...c,cd->d...", (4, 5), (5,), (5, 1, 1)),
        ("a...,...d->a...d", (3, 4, 5), (3, 4, 5), (1, 3, 4, 5)),
        ("abc,cb->a", (4, 3), (), (1,)),
    ],
)
def test_einsum_kernel_bias_and_output(equation, shape, bias_shape, broadcast):
    x = randn(2, 3, 4)
    layer = nn.Einsum(shape, equation, bias_init=nn.initializers.normal(1.0))
    variables = layer.init(KEY, x)
    p = variables["params"]
    assert p["kernel"].shape == shape and p["bias"].shape == bias_shape
    expected = np.einsum(equation, as64(x), as64(p["kernel"])) + as64(p["bias"]).reshape(broadcast)
    np.testing.assert_allclose(layer.apply(variables, x), expected, rtol=1e-4, atol=1e-4)


def test_einsum_string_at_call_time_and_spaces():
    x = randn(2, 3, 4)
    layer = nn.Einsum((4, 5))
    variables = layer.init(KEY, x, "abc, cd -> abd")
    y = layer.apply(variables, x, einsum_str="abc,cd->abd")
    assert y.shape == (2, 3, 5)


@pytest.mark.parametrize(
    ("ctor", "call", "message"),
    [
        ("abc,cd->abd", "abc,cd->abd", 'Parameter "einsum_str" was passed to the constructor and'
         " at call time. Should be passed just once."),
        (None, None, 'Parameter "einsum_str" must be passed to the constructor or at call time.'),
        ("abc,cd", None, '`einsum_str` equation must be explicit and include "->".'),
        ("abc->abd", None, "`einsum_str` equation must have exactly two operands and therefore,"
         " exactly one comma character, instead of 0"),
        ("abc,cd,de->abe", None, "`einsum_str` equation must have exactly two operands and"
         " therefore, exactly one comma character, instead of 2"),
    ],
)  # fmt: skip
def test_einsum_errors(ctor, call, message):
    with raises_exactly(ValueError, message):
        nn.Einsum((4, 5), ctor).init(KEY, randn(2, 3, 4), call)


def test_einsum_dtypes_and_preferred_element_type():
    x = randn(2, 3, 4)
    layer = nn.Einsum((4, 5), "abc,cd->abd", dtype=jnp.bfloat16, preferred_element_type=jnp.float32)
    y, _ = layer.init_with_output(KEY, x)
    assert y.dtype == jnp.float32  # accumulated in float32, bias added in float32


# -- the module and docs ----------------------------------------------------------------


def test_linear_module_exports():
    import flaxen.linen.linear as linear

    for name in ("Conv", "ConvLocal", "ConvTranspose", "Dense", "DenseGeneral", "Einsum", "Embed"):
        assert getattr(nn, name) is getattr(linear, name)
        assert issubclass(getattr(nn, name), nn.Module)
    assert linear.promote_dtype is nn.dtypes.promote_dtype


@pytest.mark.parametrize(
    "module",
    ["linear", "_dense", "_conv", "_conv_transpose", "_conv_util", "_embed", "_einsum"],
)
def test_doctests(module):
    results = doctest.testmod(
        importlib.import_module(f"flaxen.layers.{module}"),
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
    )
    assert results.attempted > 0 and results.failed == 0
