"""flaxen.linen.dtypes: canonicalize_dtype and promote_dtype (Flax's inference rules)."""

import doctest
import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flaxen import linen as nn

C = nn.dtypes.canonicalize_dtype
P = nn.dtypes.promote_dtype


@pytest.mark.parametrize(
    ("args", "inexact", "expected"),
    [
        ((jnp.ones(2, jnp.int32),), True, jnp.float32),
        ((jnp.ones(2, jnp.int32),), False, jnp.int32),
        ((jnp.ones(2, jnp.int8), jnp.ones(2, jnp.bfloat16)), True, jnp.bfloat16),
        ((jnp.ones(2, jnp.float16), jnp.ones(2, jnp.bfloat16)), True, jnp.float32),
        ((jnp.ones(2, jnp.bool_),), True, jnp.float32),
        ((jnp.ones(2, jnp.uint8),), True, jnp.float32),
        ((jnp.ones(2, jnp.complex64),), True, jnp.complex64),
        ((1.0,), True, jnp.float32),
        ((1,), True, jnp.float32),
        ((1,), False, jnp.int32),
        ((jnp.ones(2, jnp.float16), 1.0), True, jnp.float16),  # Python scalars are weak
        ((jnp.ones(2, jnp.int32), 1.0), True, jnp.float32),
        ((jnp.asarray(1.0),), True, jnp.float32),
        ((None, jnp.ones(2, jnp.bfloat16)), True, jnp.bfloat16),
        ((np.ones(2),), True, jnp.float32),  # float64 canonicalizes without x64
        ((np.ones(2, np.int64),), True, jnp.float32),
        (([1.0, 2.0],), True, jnp.float32),
    ],
)
def test_canonicalize_dtype_infers(args, inexact, expected):
    assert C(*args, inexact=inexact) == jnp.dtype(expected)


def test_canonicalize_dtype_returns_a_given_dtype_unchanged():
    for dtype in ("float16", np.float64, jnp.bfloat16, jnp.float32):
        assert C(jnp.ones(2, jnp.int32), dtype=dtype) is dtype
    assert C(jnp.ones(2), dtype=jnp.int32, inexact=False) is jnp.int32


def test_canonicalize_dtype_errors():
    with pytest.raises(ValueError, match=r"^Dtype must be inexact: <class 'jax.numpy.int32'>$"):
        C(jnp.ones(2), dtype=jnp.int32)
    with pytest.raises(ValueError, match=r"^Dtype must be inexact: int8$"):
        C(jnp.ones(2), dtype="int8")
    with pytest.raises(ValueError, match="at least one array or dtype is required"):
        C()
    with pytest.raises(ValueError, match="at least one array or dtype is required"):
        C(None)
    with pytest.raises(TypeError, match="data type 'notadtype' not understood"):
        C(dtype="notadtype")


def test_canonicalize_dtype_under_x64():
    with jax.enable_x64(True):
        assert C(1.0) == jnp.float64
        assert C(1) == jnp.float32  # JAX's lattice: an integer promotes to float32
        assert C(np.ones(2)) == jnp.float64
        assert C(jnp.ones(2, jnp.int64)) == jnp.float32


def test_promote_dtype_casts_everything_to_one_dtype():
    a, b = P(jnp.ones(2, jnp.int32), jnp.ones(2, jnp.bfloat16))
    assert (a.dtype, b.dtype) == (jnp.bfloat16, jnp.bfloat16)
    a, b = P(1.0, jnp.ones(2, jnp.bfloat16))
    assert a.dtype == jnp.bfloat16 and a.shape == ()
    a, b = P(1, 2, inexact=False)
    assert (a.dtype, b.dtype) == (jnp.int32, jnp.int32)
    (a,) = P(np.ones(2), dtype=jnp.bfloat16)
    assert isinstance(a, jax.Array) and a.dtype == jnp.bfloat16
    (a,) = P([1.0, 2.0])
    np.testing.assert_array_equal(a, np.array([1.0, 2.0], np.float32))


def test_promote_dtype_keeps_none_and_identity():
    x = jnp.ones(2)
    out = P(x, None)
    assert isinstance(out, list) and out[0] is x and out[1] is None
    assert P(x, dtype=jnp.float32)[0] is x
    # A weakly typed array becomes strongly typed, as jnp.asarray makes it.
    weak = jnp.asarray(1.0)
    assert weak.aval.weak_type
    assert not P(weak)[0].aval.weak_type


def test_promote_dtype_errors():
    with pytest.raises(ValueError, match="Dtype must be inexact"):
        P(jnp.ones(2), dtype=jnp.int32)
    with pytest.raises(ValueError, match="at least one array or dtype is required"):
        P(None)


def test_promote_dtype_under_jit_emits_only_the_needed_converts():
    jaxpr = jax.make_jaxpr(P)(jnp.ones(2, jnp.bfloat16), jnp.ones(2))
    assert [e.primitive.name for e in jaxpr.eqns] == ["convert_element_type"]
    jaxpr = jax.make_jaxpr(lambda a: P(a, dtype=jnp.float32))(jnp.ones(2))
    assert jaxpr.eqns == []


def test_dtypes_is_importable_as_flaxen_linen_dtypes():
    import flaxen.linen.dtypes as dtypes
    from flaxen.layers import dtypes as layers_dtypes

    assert dtypes is layers_dtypes
    assert dtypes.promote_dtype is P


@pytest.mark.parametrize("module", ["flaxen.layers.dtypes", "flaxen.layers._dtypes"])
def test_doctests(module):
    results = doctest.testmod(
        importlib.import_module(module),
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
    )
    assert results.attempted > 0 and results.failed == 0
