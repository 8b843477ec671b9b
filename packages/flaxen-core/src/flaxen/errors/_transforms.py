"""Errors of transformations: lifted transforms and mixing JAX transforms."""

from __future__ import annotations

from typing import Any

from ._base import FlaxenError


class JaxTransformError(FlaxenError, RuntimeError):
    """A JAX transform is applied across a Module boundary.

    JAX's transforms (``jax.vmap``, ``jax.jit``, ``jax.grad``, ...) expect pure
    functions; a bound Module carries state. Inside Modules use the lifted
    transforms of ``flaxen.linen`` (``nn.vmap``, ``nn.scan``, ``nn.jit``, ...),
    or apply the JAX transform to a function of the variables that calls
    ``Module.apply``.
    """

    def __init__(self) -> None:
        super().__init__(
            "Jax transforms and Flax models cannot be mixed: a JAX transform was"
            " applied to a function that uses a bound Module. Use the lifted"
            " transforms (nn.vmap, nn.scan, nn.jit, ...) inside Modules, or transform"
            " a pure function that calls module.apply(variables, ...)."
        )


class TraceContextError(FlaxenError, RuntimeError):
    """A scope or variable is used under a different JAX trace than its own.

    Scopes and variables belong to the JAX trace (``jit``, ``vmap``, ``grad``,
    ...) in which they were created; touching them from inside another
    transform leaks tracers. Use the lifted transforms, which move scopes
    across traces correctly. The message says what was touched.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)


class TransformTargetError(FlaxenError, TypeError):
    """A lifted transform is given something other than a Module class or function.

    Linen transforms apply to Module classes, or to functions taking a Module
    instance as first argument; a Module *instance* is not a valid target:

    .. code-block:: python

      nn.vmap(nn.Dense(features))(x)   # raises
      nn.vmap(nn.Dense)(features)(x)   # transform the class

      class BatchDense(nn.Module):
        @nn.compact
        def __call__(self, x):
          return nn.vmap(
              lambda mdl, x: mdl(x),
              variable_axes={'params': 0}, split_rngs={'params': True},
          )(nn.Dense(3), x)

    Attributes:
      target: the invalid target.
    """

    def __init__(self, target: Any) -> None:
        self.target = target
        super().__init__(
            "Linen transformations must be applied to Module classes or to functions"
            " taking a Module instance as the first argument; the provided target is"
            f" not a Module class or callable: {target}. Transform the class (e.g."
            " nn.vmap(nn.Dense)) or a function `lambda module, x: module(x)`."
        )


class TransformedMethodReturnValueError(FlaxenError, TypeError):
    """A transformed Module method returns a Module or a Variable.

    Values leaving a transform must be pytrees of arrays; return the arrays
    you need (for instance ``variable.value``) instead.

    Attributes:
      name: the name of the transformed method.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f"Transformed module method {name} cannot return Modules or Variables."
            " Return arrays (e.g. variable.value) or other pytrees of values instead."
        )
