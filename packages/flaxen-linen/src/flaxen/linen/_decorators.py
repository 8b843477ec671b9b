"""``@compact`` and ``@nowrap``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable)


def compact(fun: F) -> F:
    """Marks the method in which submodules and variables are defined inline.

    A Module has at most one compact method. Submodules created in it are
    named ``ClassName_<i>`` (counting per class) unless given a ``name``; a
    second call of the method creates the same names and so reuses the same
    variables.

    >>> import jax, jax.numpy as jnp
    >>> from flaxen import linen as nn
    >>> class Scale(nn.Module):
    ...   @nn.compact
    ...   def __call__(self, x):
    ...     return x * self.param('scale', jax.nn.initializers.ones, x.shape[-1:])
    >>> Scale().init(jax.random.key(0), jnp.ones((1, 3)))['params']['scale'].shape
    (3,)
    """
    fun.compact = True  # type: ignore[attr-defined]
    return fun


def nowrap(fun: F) -> F:
    """Marks a method as a plain helper: no setup, naming or interception.

    Use it for helpers that build submodules' arguments or run outside
    ``init``/``apply``; they cannot define submodules or variables themselves.

    >>> from flaxen import linen as nn
    >>> class Foo(nn.Module):
    ...   features: int = 3
    ...   @nn.nowrap
    ...   def doubled(self):
    ...     return 2 * self.features
    >>> Foo().doubled()
    6
    """
    fun.nowrap = True  # type: ignore[attr-defined]
    return fun
