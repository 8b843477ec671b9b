"""Errors of scopes and variables: reading, creating and updating variables."""

from __future__ import annotations

from typing import Any

from ._base import FlaxenError


class ApplyScopeInvalidVariablesTypeError(FlaxenError, TypeError):
    """The variables given to ``apply`` are not a dict of collections.

    The first argument of :meth:`Module.apply` (and of the functional
    ``apply``) is a variable dict: collection names mapping to dicts with
    string keys, e.g. ``{'params': {...}, 'batch_stats': {...}}``. Passing the
    parameters alone, or any other object, raises this error.

    .. code-block:: python

      y = model.apply(params, x)              # wrong: params is not a variable dict
      y = model.apply({'params': params}, x)  # right
    """

    def __init__(self) -> None:
        super().__init__(
            "The first argument of apply() must be a dict of variable collections"
            " such as {'params': {...}}, each collection a dict with string keys."
            " If you have the parameters alone, pass {'params': params}."
        )


class ApplyScopeInvalidVariablesStructureError(FlaxenError, ValueError):
    """The variables given to ``apply`` hold an extra ``'params'`` level.

    ``apply`` expects ``{'params': params}``; this error is raised when it gets
    ``{'params': {'params': ...}}``, typically because the whole result of
    ``init`` was wrapped in another ``{'params': ...}``.

    .. code-block:: python

      variables = model.init(key, x)
      model.apply({'params': variables}, x)  # wrong: variables already has 'params'
      model.apply(variables, x)              # right

    Attributes:
      variables: the variable dict that was passed.
    """

    def __init__(self, variables: Any) -> None:
        self.variables = variables
        super().__init__(
            "The variables passed to apply() have an extra params layer: expected a"
            ' dict shaped {"params": ...} but got {"params": {"params": ...}}.'
            ' Pass the inner dict, variables["params"], instead.'
        )


class ScopeParamNotFoundError(FlaxenError, KeyError):
    """A parameter is read that does not exist.

    Raised in ``apply`` when a Module asks for a parameter that is not in the
    ``params`` collection, e.g. because it is created under a different name
    (or in a different submodule) than during ``init``:

    .. code-block:: python

      class Embed(nn.Module):
        @nn.compact
        def __call__(self, inputs, embed_name='embedding'):
          embedding = self.param(embed_name, nn.initializers.lecun_normal(), (4, 8))
          return embedding[inputs]

      variables = Embed().init(key, ids)
      Embed().apply(variables, ids, 'embed')  # 'embed' was never initialized

    Attributes:
      param_name: the name of the missing parameter.
      scope_path: the path of the scope that looked for it.
    """

    def __init__(self, param_name: str, scope_path: Any) -> None:
        self.param_name = param_name
        self.scope_path = scope_path
        super().__init__(
            f'Could not find parameter named "{param_name}" in scope "{scope_path}".'
            " The params passed to apply() have no such entry: check that the"
            " parameter has the same name and module path as during init, and that"
            " the variables come from init of this same model."
        )


class ScopeCollectionNotFound(FlaxenError, KeyError):
    """A variable is read from a collection that is empty.

    Two usual causes: the collection was not passed to ``apply`` (for
    instance ``module.apply(params, ...)`` instead of
    ``module.apply({'params': params}, ...)``), or the collection still has to
    be initialized, in which case it must be mutable during the call
    (``module.apply(variables, ..., mutable=['state'])``).

    Attributes:
      col_name: the empty collection.
      var_name: the variable that was read.
      scope_path: the path of the scope that read it.
    """

    def __init__(self, col_name: str, var_name: str, scope_path: Any) -> None:
        self.col_name = col_name
        self.var_name = var_name
        self.scope_path = scope_path
        super().__init__(
            f'Tried to read "{var_name}" from collection "{col_name}" in'
            f' "{scope_path}", but the collection is empty. Pass the collection to'
            f" apply() (e.g. apply({{'{col_name}': ...}}, ...)), or, if it still has to"
            f" be created, make it mutable: apply(..., mutable=['{col_name}'])."
        )


class ScopeParamShapeError(FlaxenError, ValueError):
    """An existing parameter has another shape than its initializer would give.

    When a parameter already exists (in ``apply``), its initializer is
    evaluated abstractly to check the shape. A mismatch usually means the
    inputs given to ``apply`` have a different shape from those used in
    ``init``:

    .. code-block:: python

      class NoBiasDense(nn.Module):
        features: int = 8

        @nn.compact
        def __call__(self, x):
          kernel = self.param('kernel', nn.initializers.lecun_normal(),
                              (x.shape[-1], self.features))  # <-- raises
          return x @ kernel

      variables = NoBiasDense().init(key, jnp.ones((5, 5, 1)))  # kernel (1, 8)
      NoBiasDense().apply(variables, jnp.ones((5, 5)))          # wants (5, 8)

    Attributes:
      param_name: the parameter's name.
      scope_path: the path of its scope.
      value_shape: the shape of the existing parameter.
      init_shape: the shape the initializer produces now.
    """

    def __init__(self, param_name: str, scope_path: Any, value_shape: Any, init_shape: Any) -> None:
        self.param_name = param_name
        self.scope_path = scope_path
        self.value_shape = value_shape
        self.init_shape = init_shape
        super().__init__(
            f'For parameter "{param_name}" in "{scope_path}", the initializer now'
            f" produces shape {init_shape}, but the existing parameter has shape"
            f" {value_shape}. The inputs probably have a different shape than at"
            " init: call apply() with inputs shaped like those given to init(), or"
            " re-initialize the parameters."
        )


class ScopeVariableNotFoundError(FlaxenError, KeyError):
    """A variable does not exist and its collection is immutable.

    A missing variable can only be created (by its initializer) when its
    collection is mutable. Make the collection mutable with the ``mutable``
    argument of ``Module.apply``.

    Attributes:
      name: the variable's name.
      col: its collection.
      scope_path: the path of the scope that asked for it.
    """

    def __init__(self, name: str, col: str, scope_path: Any) -> None:
        self.name = name
        self.col = col
        self.scope_path = scope_path
        super().__init__(
            f'No Variable named "{name}" for collection "{col}" exists in'
            f' "{scope_path}". A variable is only created when its collection is'
            f" mutable (apply(..., mutable=['{col}'])) and an init function is"
            f" passed to variable()."
        )


class ModifyScopeVariableError(FlaxenError, ValueError):
    """A variable is updated while its collection is immutable.

    In ``apply`` every collection is immutable unless listed in ``mutable``:

    .. code-block:: python

      class MyModule(nn.Module):
        @nn.compact
        def __call__(self, x):
          var = self.variable('batch_stats', 'mean', jnp.zeros, x.shape[1:])
          var.value = x.mean(0)
          return x

      variables = MyModule().init(key, x)
      MyModule().apply(variables, x)                          # raises
      y, updates = MyModule().apply(variables, x, mutable=['batch_stats'])  # works

    Attributes:
      col: the immutable collection.
      variable_name: the variable that was updated.
      scope_path: the path of its scope.
    """

    def __init__(self, col: str, variable_name: str, scope_path: Any) -> None:
        self.col = col
        self.variable_name = variable_name
        self.scope_path = scope_path
        super().__init__(
            f'Cannot update variable "{variable_name}" in "{scope_path}" because'
            f' collection "{col}" is immutable. Declare it mutable in the call:'
            f" apply(..., mutable=['{col}'])."
        )


class ImmutableVariableError(FlaxenError, ValueError):
    """A variable, or a variable dict, is modified where it is read-only.

    The message says which value was modified; make its collection mutable
    or work on a copy.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)


class InvalidRngError(FlaxenError, ValueError):
    """An RNG stream is missing or an RNG key is malformed.

    Every RNG stream a Module uses must be given to ``init`` and ``apply``.
    ``init`` needs ``'params'`` plus any other stream drawn during the call
    (e.g. ``'dropout'``); ``apply`` only needs the non-``'params'`` streams:

    .. code-block:: python

      variables = Foo().init({'params': key0, 'dropout': key1}, x)
      y = Foo().apply(variables, x, rngs={'dropout': key2})

    A single key given to ``init`` is shorthand for ``{'params': key}``.

    Attributes:
      msg: what was wrong, as given by the raiser.
    """

    def __init__(self, msg: str) -> None:
        self.msg = msg
        super().__init__(msg)


class InvalidScopeError(FlaxenError, RuntimeError):
    """A scope is used after it became invalid.

    A temporary scope is only valid inside the ``with`` block that made it:

    .. code-block:: python

      with Scope(variables, rngs=rngs).temporary() as root:
        y = fn(root, x)   # root is valid here
      fn(root, x)         # raises: root is no longer valid

    Attributes:
      scope_name: the name of the invalid scope.
    """

    def __init__(self, scope_name: Any) -> None:
        self.scope_name = scope_name
        super().__init__(
            f'The scope "{scope_name}" is no longer valid: a temporary scope can only'
            " be used inside the `with` block that created it. Do the work inside"
            " that block, or create a new scope."
        )


class InvalidFilterError(FlaxenError, TypeError):
    """A collection filter has an invalid type.

    A filter is a bool (all or no collections), a collection name (``str``),
    a container of filters, or a ``DenyList``.

    Attributes:
      filter_like: the invalid filter.
    """

    def __init__(self, filter_like: Any) -> None:
        self.filter_like = filter_like
        super().__init__(
            f'Invalid Filter: "{filter_like}". A filter is True/False, a collection'
            " name (str), a list, tuple or set of filters, or a DenyList."
        )


class LazyInitError(FlaxenError, ValueError):
    """``lazy_init`` met an initial value it cannot compute from shapes alone.

    ``lazy_init`` takes inputs as ``jax.ShapeDtypeStruct``; initializers may
    use their shape and dtype but not their values:

    .. code-block:: python

      class Foo(nn.Module):
        @nn.compact
        def __call__(self, x):
          k = self.param('kernel', lambda _: x)  # depends on the value of x
          return x * k

      Foo().lazy_init(key, jax.ShapeDtypeStruct((8, 4), jnp.float32))  # raises

    Use only shapes and dtypes of lazy inputs, or pass a real array.

    Attributes:
      partial_val: the value that could not be computed.
    """

    def __init__(self, partial_val: Any) -> None:
        self.partial_val = partial_val
        super().__init__(
            "Lazy init encountered a value that it cannot compute from the shapes of"
            f" the inputs (shape: {partial_val}): an initializer depends on input"
            " values. Make initializers use only the shape and dtype of the lazy"
            " inputs, or pass a concrete array instead of a jax.ShapeDtypeStruct."
        )
