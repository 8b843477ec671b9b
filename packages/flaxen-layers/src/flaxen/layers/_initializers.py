"""Flaxen's own initializer factories; the rest of ``initializers`` is ``jax.nn.initializers``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Union

import jax

#: What a layer accepts as an initializer: ``init(key, shape, dtype) -> Array``.
Initializer = Union[jax.nn.initializers.Initializer, Callable[..., Any]]  # noqa: UP007


def zeros_init() -> Initializer:
    """Builds an initializer that returns a constant array full of zeros.

    The initializer is ``jax.nn.initializers.zeros`` itself, so variables it
    creates are the same as with Flax and JAX.

    >>> import jax, jax.numpy as jnp
    >>> from flaxen.linen.initializers import zeros_init
    >>> zeros_initializer = zeros_init()
    >>> zeros_initializer(jax.random.key(42), (2, 3), jnp.float32)
    Array([[0., 0., 0.],
           [0., 0., 0.]], dtype=float32)
    """
    return jax.nn.initializers.zeros


def ones_init() -> Initializer:
    """Builds an initializer that returns a constant array full of ones.

    The initializer is ``jax.nn.initializers.ones`` itself.

    >>> import jax, jax.numpy as jnp
    >>> from flaxen.linen.initializers import ones_init
    >>> ones_initializer = ones_init()
    >>> ones_initializer(jax.random.key(42), (3, 2), jnp.float32)
    Array([[1., 1.],
           [1., 1.],
           [1., 1.]], dtype=float32)
    """
    return jax.nn.initializers.ones
