"""Elementwise steps that layers run on every trace, as bare ``lax`` ops.

``jnp`` arithmetic re-checks dtypes and ranks and runs through a cached
``jit`` on every call; where the operands already agree (the same dtype, the
same rank, nothing weakly typed) the ``lax`` op emits the very equation jnp
would, for a fraction of the Python work. Anything else falls back to jnp, so
promotion and broadcasting stay exactly jnp's.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

Array = jax.Array

#: Dtypes a Python scalar converts to exactly as ``np.array(c, dtype)`` does.
PLAIN_FLOATS = frozenset(jnp.dtype(d) for d in ("float32", "float64", "complex64", "complex128"))


def same_kind(a: Any, b: Any) -> bool:
    """Whether jnp would combine ``a`` and ``b`` without promotion or rank broadcasting."""
    return (
        isinstance(a, jax.Array)
        and isinstance(b, jax.Array)
        and a.dtype == b.dtype
        and a.ndim == b.ndim
        and not a.aval.weak_type
        and not b.aval.weak_type
    )


def sub(a: Array, b: Array) -> Array:
    """``a - b``."""
    return lax.sub(a, b) if same_kind(a, b) else a - b


def mul(a: Array, b: Array) -> Array:
    """``a * b``."""
    return lax.mul(a, b) if same_kind(a, b) else a * b


def add(a: Array, b: Array) -> Array:
    """``a + b``."""
    return lax.add(a, b) if same_kind(a, b) else a + b


def _takes_scalar_as_is(x: Any, c: Any) -> bool:
    # A Python number meets ``x`` as a weakly typed constant of ``x``'s dtype.
    return (
        type(c) in (int, float)
        and isinstance(x, jax.Array)
        and x.dtype in PLAIN_FLOATS
        and not x.aval.weak_type
    )


def add_scalar(x: Array, c: float) -> Array:
    """``x + c`` for a Python number ``c``."""
    return lax.add(x, np.array(c, x.dtype)) if _takes_scalar_as_is(x, c) else x + c


def scalar_mul(c: float, x: Array) -> Array:
    """``c * x`` for a Python number ``c``."""
    return lax.mul(np.array(c, x.dtype), x) if _takes_scalar_as_is(x, c) else c * x


def as_array(x: Any) -> Array:
    """``jnp.asarray(x)``, skipped for what already is a JAX array (or tracer)."""
    return x if isinstance(x, jax.Array) else jnp.asarray(x)


def reshape(x: Array, shape: tuple[int, ...]) -> Array:
    """``jnp.reshape(x, shape)`` for a fully specified ``shape`` (no ``-1``)."""
    if not isinstance(x, jax.Array):
        return jnp.reshape(x, shape)
    return x if x.shape == shape else lax.reshape(x, shape)


def add_bias(y: Array, bias: Array, shape: tuple[int, ...]) -> Array:
    """``y + jnp.reshape(bias, shape)``: a bias broadcast over ``y``'s other axes."""
    return add(y, reshape(bias, shape))
