"""Linear layers of flaxen.linen against flax.linen, run as a black-box oracle.

For a broad table of configurations: the same dataclass fields, the same
variable trees and initial values bit for bit, the same outputs, the same
errors, the same XLA program (FLOPs and bytes), and cheaper tracing.
Skipped when flax is not installed (``nox -s compat``).
"""

import dataclasses
import inspect
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytestmark = pytest.mark.compat
pytest.importorskip("flax")

import flax.linen as flax_nn  # noqa: E402

from flaxen import linen as nn  # noqa: E402
from flaxen.layers import testing  # noqa: E402

X1 = testing.normal(2, 7, 3)
X2 = testing.normal(2, 6, 5, 4)
X3 = testing.normal(2, 3, 5)

CONFIGS = {
    # Dense / DenseGeneral
    "dense": (lambda nn: nn.Dense(4), X3),
    "dense_no_bias_bf16": (lambda nn: nn.Dense(4, use_bias=False, dtype=jnp.bfloat16), X3),
    "dense_param_bf16": (lambda nn: nn.Dense(4, param_dtype=jnp.bfloat16), X3),
    "dense_1d": (lambda nn: nn.Dense(4), testing.normal(3)),
    "dense_int_inputs": (lambda nn: nn.Dense(4), testing.integers(2, 3, high=5)),
    "dense_precision": (lambda nn: nn.Dense(4, precision="highest"), X3),
    "dense_general_two_axes": (lambda nn: nn.DenseGeneral((4, 6), axis=(-2, -1)), X3),
    "dense_general_batch": (lambda nn: nn.DenseGeneral((4, 2), batch_dims=(0,)), X3),
    "dense_general_batch_swapped": (lambda nn: nn.DenseGeneral(4, batch_dims=(1, 0)), X3),
    "dense_general_axes_unsorted": (lambda nn: nn.DenseGeneral((4,), axis=(2, 0)), X3),
    "dense_general_no_axis": (lambda nn: nn.DenseGeneral((4,), axis=()), X3),
    "dense_general_axis0": (lambda nn: nn.DenseGeneral(3, axis=0), X3),
    "dense_general_bf16": (
        lambda nn: nn.DenseGeneral((2, 3), axis=1, dtype=jnp.bfloat16, param_dtype=jnp.bfloat16),
        X3,
    ),
    "dense_general_partitioned": (
        lambda nn: nn.DenseGeneral(
            (2, 3),
            batch_dims=(0,),
            kernel_init=nn.with_partitioning(nn.initializers.lecun_normal(), ("a", "b", "c", "d")),
        ),
        X3,
    ),
    # Conv
    "conv_int_kernel": (lambda nn: nn.Conv(4, 3), X1),
    "conv_lower_same": (lambda nn: nn.Conv(4, (3,), padding="same"), X1),
    "conv_same_lower": (lambda nn: nn.Conv(4, (4,), padding="SAME_LOWER"), X1),
    "conv_int_padding_seq": (lambda nn: nn.Conv(3, (3, 2), padding=(1, 2)), X2),
    "conv_mixed_padding": (lambda nn: nn.Conv(3, (3, 2), padding=(1, (0, 1))), X2),
    "conv_none_strides": (
        lambda nn: nn.Conv(3, (3, 2), strides=None, input_dilation=None, kernel_dilation=None),
        X2,
    ),
    "conv_circular_2d_dilated": (
        lambda nn: nn.Conv(3, (3, 2), padding="CIRCULAR", kernel_dilation=(2, 1), strides=2),
        X2,
    ),
    "conv_causal_strided": (lambda nn: nn.Conv(3, (4,), padding="CAUSAL", strides=2), X1),
    "conv_groups": (lambda nn: nn.Conv(6, (3, 3), feature_group_count=2), X2),
    "conv_int_inputs": (lambda nn: nn.Conv(3, (3,)), testing.integers(1, 5, 2, high=9)),
    "conv_bf16": (lambda nn: nn.Conv(3, (3,), dtype=jnp.bfloat16), X1),
    "conv_zero_rank": (lambda nn: nn.Conv(3, ()), X3),
    "conv_local_circular_unbatched": (
        lambda nn: nn.ConvLocal(4, (3,), padding="CIRCULAR"),
        testing.normal(5, 3),
    ),
    "conv_local_input_dilation": (
        lambda nn: nn.ConvLocal(3, (3,), input_dilation=2, padding=[(1, 1)]),
        X1,
    ),
    "conv_local_mask": (lambda nn: nn.ConvLocal(3, (3,), mask=jnp.ones((7, 9, 3))), X1),
    # ConvTranspose
    **{
        f"conv_transpose_{padding}_{strides}_{kernel}_{tk}": (
            lambda nn, p=padding, s=strides, k=kernel, t=tk: nn.ConvTranspose(
                4, (k,), strides=(s,), padding=p, transpose_kernel=t
            ),
            X1,
        )
        for padding in ("SAME", "VALID", "CIRCULAR", 1)
        for strides in (1, 3)
        for kernel in (1, 4, 5)
        for tk in (False, True)
    },
    "conv_transpose_2d_circular": (
        lambda nn: nn.ConvTranspose(
            3, (3, 4), strides=(2, 1), kernel_dilation=(2, 1), padding="CIRCULAR"
        ),
        X2,
    ),
    "conv_transpose_int_strides_dilation": (
        lambda nn: nn.ConvTranspose(3, 3, strides=2, kernel_dilation=2),
        X1,
    ),
    "conv_transpose_pet": (
        lambda nn: nn.ConvTranspose(
            4,
            (3,),
            dtype=jnp.bfloat16,
            param_dtype=jnp.bfloat16,
            preferred_element_type=jnp.float32,
        ),
        X1,
    ),
    # Embed
    "embed_out_of_range": (lambda nn: nn.Embed(5, 3), lambda k: (jnp.array([-1, 7, 2]),)),
    "embed_uint8_bf16": (
        lambda nn: nn.Embed(5, 3, dtype=jnp.bfloat16),
        testing.integers(2, 3, high=5, dtype=jnp.uint8),
    ),
    "embed_attend_bf16": (
        lambda nn: nn.Embed(5, 3, param_dtype=jnp.bfloat16),
        testing.normal(2, 3),
    ),
    # Einsum
    **{
        f"einsum_{equation}": (
            lambda nn, e=equation, s=shape: nn.Einsum(s, e, bias_init=nn.initializers.normal(1.0)),
            testing.normal(*xs),
        )
        for equation, shape, xs in [
            ("abc,cde->aebd", (5, 3, 4), (2, 3, 5)),
            ("abc,dce->eadb", (4, 5, 6), (2, 3, 5)),
            ("abc,bd->ad", (3, 4), (2, 3, 5)),
            ("abc,cb->a", (5, 3), (2, 3, 5)),
            ("...c,cd->d...", (5, 4), (2, 3, 5)),
            ("a...,...d->a...d", (3, 5, 4), (2, 3, 5)),
            ("a...,...d->...ad", (3, 5, 4), (2, 5)),
            ("a...c,c...->a...", (5, 3), (2, 3, 5)),
            ("abc,c...->ab...", (5, 4, 2), (2, 3, 5)),
            ("ab c, cd -> abd", (5, 4), (2, 3, 5)),
        ]
    },
}

METHODS = {"embed_attend_bf16": "attend"}


def _case(name):
    build, inputs = CONFIGS[name]
    return testing.LayerCase(name, build, inputs, method=METHODS.get(name), covers=("-",))


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_same_variables_and_outputs(name):
    testing.check_against_oracle(_case(name), nn, flax_nn)


ERRORS = {
    # name: (build, inputs, same message?)
    "dense_scalar_input": (lambda nn: nn.Dense(4), lambda k: (jnp.ones(()),), True),
    "dense_general_batch_not_leading": (lambda nn: nn.DenseGeneral(4, batch_dims=(1,)), X3, True),
    "dense_general_negative_batch": (lambda nn: nn.DenseGeneral(4, batch_dims=(-3,)), X3, True),
    "dense_general_duplicate_axes": (lambda nn: nn.DenseGeneral(4, axis=(-1, -1)), X3, True),
    "dense_general_no_features": (lambda nn: nn.DenseGeneral((), axis=-1), X3, True),
    "conv_bad_padding_string": (lambda nn: nn.Conv(2, (3,), padding="FOO"), X1, True),
    "conv_bad_padding_float": (lambda nn: nn.Conv(2, (3,), padding=1.5), X1, True),
    "conv_bad_padding_len": (lambda nn: nn.Conv(2, (3, 2), padding=(1, 2, 3)), X2, True),
    # flax shows the padding as ((1, 2),): it freezes list attributes into
    # tuples when a module is bound, which flaxen.linen does not (yet).
    "conv_bad_padding_pairs": (lambda nn: nn.Conv(2, (3, 2), padding=[(1, 2)]), X2, False),
    "conv_causal_2d": (lambda nn: nn.Conv(2, (3, 2), padding="CAUSAL"), X2, True),
    "conv_circular_input_dilation": (
        lambda nn: nn.Conv(2, (3,), padding="CIRCULAR", input_dilation=2),
        X1,
        True,
    ),
    "conv_groups_not_dividing_inputs": (
        lambda nn: nn.Conv(4, (3,), feature_group_count=2),
        X1,
        False,
    ),
    "conv_groups_not_dividing_outputs": (
        lambda nn: nn.Conv(3, (3, 3), feature_group_count=2),
        X2,
        True,
    ),
    "conv_bad_mask": (lambda nn: nn.Conv(3, (3,), mask=jnp.ones((2, 2))), X1, True),
    "conv_bad_strides": (lambda nn: nn.Conv(3, (3, 2), strides=(1, 2, 3)), X2, True),
    "conv_too_few_dims": (lambda nn: nn.Conv(3, (3, 3)), testing.normal(5, 4), True),
    "conv_local_groups": (lambda nn: nn.ConvLocal(3, (3,), feature_group_count=3), X1, True),
    "conv_transpose_causal": (lambda nn: nn.ConvTranspose(3, (3,), padding="CAUSAL"), X1, True),
    "conv_transpose_bad_mask": (
        lambda nn: nn.ConvTranspose(3, (3,), mask=jnp.ones((3, 4))),
        X1,
        True,
    ),
    "conv_transpose_too_few_dims": (
        lambda nn: nn.ConvTranspose(3, (3,)),
        testing.normal(5),
        False,
    ),
    "embed_float_ids": (lambda nn: nn.Embed(5, 3), testing.normal(2), True),
    "embed_list_ids": (lambda nn: nn.Embed(5, 3), lambda k: ([1, 2],), True),
    "einsum_twice": (lambda nn: nn.Einsum((5, 4), "abc,cd->abd"), X3, None),
    "einsum_missing": (lambda nn: nn.Einsum((5, 4)), X3, True),
    "einsum_implicit": (lambda nn: nn.Einsum((5, 4), "abc,cd"), X3, True),
    "einsum_three_operands": (lambda nn: nn.Einsum((5, 4), "abc,cd,de->abe"), X3, True),
    "einsum_bad_kernel": (lambda nn: nn.Einsum((3, 4), "abc,cd->abd"), X3, True),
}


def _error(nn, build, inputs, call_kwargs):
    try:
        build(nn).init(jax.random.key(0), *inputs(jax.random.key(1)), **call_kwargs)
    except Exception as error:  # any error is the observation
        return type(error).__name__, str(error).split("\n--------------------")[0]
    return None, None


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_same_errors(name):
    build, inputs, same_message = ERRORS[name]
    call_kwargs = {"einsum_str": "abc,cd->abd"} if name == "einsum_twice" else {}
    expected = _error(flax_nn, build, inputs, call_kwargs)
    actual = _error(nn, build, inputs, call_kwargs)
    assert expected[0] is not None, "flax raised nothing"
    assert actual[0] == expected[0]
    if same_message or same_message is None:
        # flax's own catalog errors link to flax's docs; flaxen's to its own.
        assert actual[1] == expected[1]


@pytest.mark.parametrize(
    "name", ["Dense", "DenseGeneral", "Conv", "ConvLocal", "ConvTranspose", "Embed", "Einsum"]
)
def test_same_dataclass_fields(name):
    def fields(cls):
        return [
            (f.name, f.default if f.default is not dataclasses.MISSING else "<required>")
            for f in dataclasses.fields(cls)
            if f.name not in ("parent", "name")
        ]

    expected, actual = fields(getattr(flax_nn, name)), fields(getattr(nn, name))
    assert [f[0] for f in actual] == [f[0] for f in expected]
    for (field, e), (_, a) in zip(expected, actual, strict=True):
        if callable(e) and not isinstance(e, type):
            # Initializers and promote_dtype: same behaviour, checked below.
            assert callable(a), field
        else:
            assert a == e, field


def test_same_default_initializers():
    key = jax.random.key(3)
    for shape in [(3, 4), (2, 3, 5, 7)]:
        np.testing.assert_array_equal(
            nn.linear.default_kernel_init(key, shape),
            flax_nn.linear.default_kernel_init(key, shape),
        )
        np.testing.assert_array_equal(
            nn.linear.default_embed_init(key, shape), flax_nn.linear.default_embed_init(key, shape)
        )


def test_canonicalize_padding_same_as_flax():
    # Not compared: pairs given as lists ([[1, 2]]), which flax rejects and
    # flaxen accepts, because flaxen.linen does not freeze list attributes
    # into tuples as flax does (so Conv(padding=[[1, 2]]) works in both).
    paddings = ["SAME", "foo", 1, (1,), (1, 2), [(1, 2)], ((1, 2), (3, 4)), (1, (1, 2)), 1.5,
                [], None, (1, 2, 3), ((1.5, 2), (1, 1)), ("ab", (1, 1)), True, b"ab"]  # fmt: skip
    for padding in paddings:
        for rank in (1, 2):
            results = []
            for canonicalize in (
                flax_nn.linear.canonicalize_padding,
                nn.linear.canonicalize_padding,
            ):
                try:
                    results.append(("ok", canonicalize(padding, rank)))
                except ValueError as error:
                    results.append(("ValueError", str(error)))
            assert results[1] == results[0], (padding, rank)


# -- the compiled program and the cost of tracing --------------------------------------


def _model(nn):
    class CNN(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.Conv(8, (3, 3))(x)
            x = nn.relu(x)
            x = nn.avg_pool(x, (2, 2), (2, 2))
            x = nn.Conv(8, (3, 3), padding="CIRCULAR")(x)
            x = nn.ConvTranspose(4, (2, 2), strides=(2, 2))(x)
            x = x.reshape((x.shape[0], -1))
            x = nn.Dense(16)(x)
            x = nn.DenseGeneral((2, 3))(x)
            return nn.Einsum((3, 5), "abc,cd->abd")(x)

    return CNN()


X_MODEL = jnp.ones((2, 8, 8, 3))


def test_same_program():
    programs = []
    for lib in (flax_nn, nn):
        model = _model(lib)
        variables = model.init(jax.random.key(0), X_MODEL)
        jaxpr = jax.make_jaxpr(model.apply)(variables, X_MODEL)
        cost = jax.jit(model.apply).lower(variables, X_MODEL).compile().cost_analysis()
        programs.append(
            ([e.primitive.name for e in jaxpr.jaxpr.eqns], cost["flops"], cost["bytes accessed"])
        )
    assert programs[1] == programs[0]


def _trace_seconds(lib):
    model = _model(lib)
    variables = model.init(jax.random.key(0), X_MODEL)
    jax.make_jaxpr(model.apply)(variables, X_MODEL)
    times = []
    for _ in range(7):
        start = time.perf_counter()
        jax.make_jaxpr(model.apply)(variables, X_MODEL)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def test_tracing_is_cheaper_than_flax():
    # Measured 3-5x cheaper; asserted with a wide margin for noisy machines.
    assert _trace_seconds(nn) < 0.8 * _trace_seconds(flax_nn)


def test_function_signatures_match():
    for name in ("canonicalize_padding",):
        assert inspect.signature(getattr(nn.linear, name)).parameters.keys() == (
            inspect.signature(getattr(flax_nn.linear, name)).parameters.keys()
        )
