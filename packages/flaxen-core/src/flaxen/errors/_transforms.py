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


# -- flaxen additions: lifted control flow and scan ------------------------------------------


class BranchStructureError(FlaxenError, TypeError):
    """The branches of a lifted ``cond``/``switch`` disagree on variables or outputs.

    Every branch is traced, and ``jax.lax.cond``/``switch`` need all of them to
    produce the same structure, shapes and dtypes: the same return values and
    the same variables created and updated. A variable or submodule created in
    only one branch breaks this. Run every branch once at initialization so
    that all variables exist (then each branch may use a different subset),
    for example:

    .. code-block:: python

      def __call__(self, x, index):
        branches = [lambda mdl, x: mdl.a(x), lambda mdl, x: mdl.b(x)]
        if self.is_mutable_collection('params'):  # initializing
          for branch in branches:
            _ = branch(self, x)
        return nn.switch(index, branches, self, x)

    Raised as a ``TypeError``, like the error of ``jax.lax.cond`` it wraps.

    Attributes:
      transform: ``"cond"`` or ``"switch"``.
      detail: JAX's description of the mismatch.
    """

    def __init__(self, transform: str, detail: str) -> None:
        self.transform = transform
        self.detail = detail
        super().__init__(
            f"The branches of lifted {transform} must create and update variables with"
            " the same structure, shapes and dtypes, and return values of the same"
            " structure. Creating a variable or submodule in only one branch breaks"
            " this: run every branch once at initialization so that all variables"
            f" exist, or create them outside the {transform}. JAX reported: {detail}"
        )


class ScanBroadcastError(FlaxenError, ValueError):
    """A broadcast variable of a lifted ``scan`` depends on the loop's inputs.

    Broadcast collections (``variable_broadcast``) are the same for every
    step, so they are computed once, before the loop, from a first trace of
    the body. Their values may depend only on other broadcast variables,
    constants and RNG streams that are not split per step. Initialize them
    from those (``split_rngs={'params': False}`` for ``params``), or scan the
    collection with ``variable_axes`` so that each step gets its own value.

    Attributes:
      paths: the ``collection/.../name`` paths of the dependent variables.
    """

    def __init__(self, paths: Any) -> None:
        self.paths = tuple(paths)
        names = ", ".join(self.paths) or "some broadcast variables"
        super().__init__(
            "Broadcast variables of scan must not depend on the carry, the scanned"
            f" inputs or split RNG streams, but {names} do: broadcast variables are"
            " computed once, outside the loop. Initialize them from constants, other"
            " broadcast variables and unsplit RNG streams only (e.g."
            " split_rngs={'params': False}), or scan the collection with variable_axes"
            " instead of broadcasting it."
        )


class ScanCarryStructureError(FlaxenError, TypeError):
    """The body of a lifted ``scan`` created or removed carried variables.

    Carried collections (``variable_carry``) are threaded from one step to the
    next, so every step must return exactly the variables it received, as
    ``jax.lax.scan`` requires of its carry. Create them before the scan (for
    example in ``setup`` or by calling the body once outside it) instead of
    inside the body. Raised as a ``TypeError``, like ``jax.lax.scan``'s error
    for a carry whose structure changes.

    Attributes:
      created: the ``collection/.../name`` paths the body created.
      removed: the paths the body did not return.
    """

    def __init__(self, created: Any, removed: Any = ()) -> None:
        self.created = tuple(created)
        self.removed = tuple(removed)
        changes = []
        if self.created:
            changes.append(f"created {', '.join(self.created)}")
        if self.removed:
            changes.append(f"removed {', '.join(self.removed)}")
        what = " and ".join(changes) or "changed the structure of the carried variables"
        super().__init__(
            f"The scan body {what}. Carried variables (variable_carry) must keep"
            " their structure across scan steps, so they cannot be created inside"
            " the scan body. Initialize them before the scan (e.g. by calling the"
            " body once outside it)."
        )
