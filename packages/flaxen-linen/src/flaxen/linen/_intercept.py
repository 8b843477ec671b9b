"""Method interceptors: observing or changing Module method calls from a distance."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

from ._state import context

Interceptor = Callable[..., Any]


@dataclasses.dataclass(frozen=True)
class InterceptorContext:
    """What an interceptor learns about the call it intercepts.

    Attributes:
      module: the Module instance whose method is called.
      method_name: the method's name.
      orig_method: the original method bound to ``module``; calling it skips
        the remaining interceptors.
    """

    module: Any
    method_name: str
    orig_method: Callable[..., Any]


@contextlib.contextmanager
def intercept_methods(interceptor: Interceptor) -> Iterator[None]:
    """Registers ``interceptor(next_fun, args, kwargs, context)`` for a ``with`` block.

    Every wrapped Module method call in the block goes through the
    interceptor, which decides whether and how to call ``next_fun``.
    Interceptors registered by nested blocks run after the outer ones.
    ``@nowrap`` methods, dunder methods other than ``__call__`` and dataclass
    fields are not intercepted.

    >>> import jax.numpy as jnp
    >>> from flaxen import linen as nn
    >>> class Foo(nn.Module):
    ...   def __call__(self, x):
    ...     return x
    >>> def double_output(next_fun, args, kwargs, context):
    ...   return 2 * next_fun(*args, **kwargs)
    >>> with nn.intercept_methods(double_output):
    ...   Foo()(jnp.ones(2))
    Array([2., 2.], dtype=float32)
    """
    context.interceptors.append(interceptor)
    try:
        yield
    finally:
        context.interceptors.pop()


def run_intercepted(
    fun: Callable[..., Any], module: Any, name: str, args: tuple, kwargs: dict
) -> Any:
    """Calls ``fun(module, *args, **kwargs)`` through every active interceptor."""
    interceptors = tuple(context.interceptors)

    def orig_method(*args: Any, **kwargs: Any) -> Any:
        return fun(module, *args, **kwargs)

    info = InterceptorContext(module, name, orig_method)

    def call(index: int, args: tuple, kwargs: dict) -> Any:
        if index == len(interceptors):
            return orig_method(*args, **kwargs)

        def next_fun(*args: Any, **kwargs: Any) -> Any:
            return call(index + 1, args, kwargs)

        return interceptors[index](next_fun, args, kwargs, info)

    return call(0, args, kwargs)
