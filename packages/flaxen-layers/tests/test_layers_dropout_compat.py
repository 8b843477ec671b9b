"""Dropout of flaxen.linen against flax.linen, run as a black-box oracle.

For the same key the masks, hence the outputs, must be bit-identical.
Skipped when flax is not installed (``nox -s compat``).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytestmark = pytest.mark.compat
flax = pytest.importorskip("flax")

import flax.linen as flax_nn  # noqa: E402

from flaxen import linen as flaxen_nn  # noqa: E402

X = jax.random.normal(jax.random.key(1), (3, 4, 5))
RNGS = {"dropout": jax.random.key(2)}

CASES = {
    "rate_half": (lambda nn: nn.Dropout(0.5), {"deterministic": False}, RNGS),
    "rate_small": (lambda nn: nn.Dropout(0.1), {"deterministic": False}, RNGS),
    "rate_zero": (lambda nn: nn.Dropout(0.0), {"deterministic": False}, RNGS),
    "rate_one": (lambda nn: nn.Dropout(1.0), {"deterministic": False}, RNGS),
    "deterministic_field": (lambda nn: nn.Dropout(0.5, deterministic=True), {}, None),
    "deterministic_call": (lambda nn: nn.Dropout(0.5), {"deterministic": True}, None),
    "train_field": (lambda nn: nn.Dropout(0.3, deterministic=False), {}, RNGS),
    "broadcast_dims": (
        lambda nn: nn.Dropout(0.5, broadcast_dims=(0, -1)), {"deterministic": False}, RNGS,
    ),
    "rng_collection": (
        lambda nn: nn.Dropout(0.5, rng_collection="noise"),
        {"deterministic": False},
        {"noise": jax.random.key(3)},
    ),
    "explicit_rng": (
        lambda nn: nn.Dropout(0.5), {"deterministic": False, "rng": jax.random.key(4)}, None,
    ),
}  # fmt: skip


# Compiling is the slow part: only a few cases also run under jit.
JITTED = ("rate_half", "broadcast_dims")


@pytest.mark.parametrize(
    ("name", "jit"), [(n, False) for n in sorted(CASES)] + [(n, True) for n in JITTED]
)
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_dropout_matches_flax(name, dtype, jit):
    build, kwargs, rngs = CASES[name]
    x = X.astype(dtype)

    def run(nn, x):
        return build(nn).apply({}, x, rngs=rngs, **kwargs)

    expected = (jax.jit(run, static_argnums=0) if jit else run)(flax_nn, x)
    actual = (jax.jit(run, static_argnums=0) if jit else run)(flaxen_nn, x)
    assert actual.dtype == expected.dtype
    np.testing.assert_array_equal(np.asarray(actual), np.asarray(expected))


def test_dropout_inside_model_uses_the_same_keys():
    def build(nn):
        class Model(nn.Module):
            @nn.compact
            def __call__(self, x, train):
                x = nn.Dropout(0.5)(x, deterministic=not train)
                x = nn.Dropout(0.2, name="second")(x, deterministic=not train)
                return nn.Dropout(0.2)(x, deterministic=not train)

        return Model()

    expected = build(flax_nn).apply({}, X, True, rngs=RNGS)
    actual = build(flaxen_nn).apply({}, X, True, rngs=RNGS)
    np.testing.assert_array_equal(np.asarray(actual), np.asarray(expected))


def test_missing_rng_error_class():
    def error(nn):
        with pytest.raises(Exception) as info:
            nn.Dropout(0.5).apply({}, X, deterministic=False)
        return info.value

    assert type(error(flaxen_nn)).__name__ == type(error(flax_nn)).__name__
