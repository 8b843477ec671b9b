"""Errors of binding Modules to variables: init, apply, bind and unbound use."""

from __future__ import annotations

from typing import Any

from ._base import FlaxenError


class ApplyModuleInvalidMethodError(FlaxenError, TypeError):
    """The ``method`` given to ``Module.apply`` cannot be called.

    ``method`` must be a method of the Module (or its name as a string), or a
    function taking the Module as its first argument.

    Attributes:
      method: the invalid ``method`` argument.
    """

    def __init__(self, method: Any) -> None:
        self.method = method
        super().__init__(
            f"Cannot call apply(): {method} is not a valid function for apply(). Pass"
            " a method of the Module (or its name as a string), or a function whose"
            " first argument is the Module."
        )


class CallCompactUnboundModuleError(FlaxenError, RuntimeError):
    """A Module is called directly, without variables.

    A freshly constructed Module is unbound: it has no variables, so its
    methods cannot run. Call it through :meth:`Module.apply` (create the
    variables with :meth:`Module.init`) or bind it first:

    .. code-block:: python

      dense = nn.Dense(10)
      dense(jnp.ones((5, 5)))                   # raises
      variables = dense.init(key, jnp.ones((5, 5)))
      y = dense.apply(variables, jnp.ones((5, 5)))  # works
    """

    def __init__(self) -> None:
        super().__init__(
            "Can't call compact methods on unbound modules: this Module has no"
            " variables. Run it through apply(), e.g. module.apply(variables, x)"
            " with variables = module.init(key, x), or bind it first with"
            " module.bind(variables)."
        )


class CallSetupUnboundModuleError(FlaxenError, RuntimeError):
    """``setup`` is called directly on an unbound Module.

    ``setup`` runs on its own, lazily, inside ``init``/``apply``; do not call
    it. To reach something defined in ``setup``, run a function through
    ``nn.apply``:

    .. code-block:: python

      module = MyModule()
      module.setup()  # raises

      def get_submodule(module):
        return module.submodule.clone()  # clone: don't leak the scope

      submodule = nn.apply(get_submodule, module)({})
    """

    def __init__(self) -> None:
        super().__init__(
            "Can't call setup() on unbound modules: setup() runs by itself inside"
            " init()/apply(). To reach a submodule defined in setup(), run a function"
            " through nn.apply, e.g. nn.apply(lambda m: m.sub.clone(), module)(variables)."
        )


class CallShareScopeOnUnboundModuleError(FlaxenError, RuntimeError):
    """``share_scope`` is called on an unbound Module.

    ``share_scope`` only works on bound Modules, i.e. from ``setup`` or a
    compact method running inside ``init``/``apply``.
    """

    def __init__(self) -> None:
        super().__init__(
            "Can't call `share_scope` on unbound modules. Call it from setup() or a"
            " compact method while the Module runs inside init() or apply()."
        )


class CallUnbindOnUnboundModuleError(FlaxenError, RuntimeError):
    """``unbind`` is called on a Module that is not bound.

    .. code-block:: python

      module = MyModule()
      module.unbind()                      # raises
      bound = module.bind(variables)
      module, variables = bound.unbind()   # works
    """

    def __init__(self) -> None:
        super().__init__(
            "Can't call `unbind()` on unbound modules: this Module is not bound to"
            " any variables. Only a Module returned by bind() can be unbound."
        )


class InvalidInstanceModuleError(FlaxenError, TypeError):
    """``init``/``apply``/``bind`` is called on a Module class, not an instance.

    .. code-block:: python

      B.init(key, x)    # raises: B is the class
      B().init(key, x)  # works
    """

    def __init__(self) -> None:
        super().__init__(
            "Can only call init, init_with_output, apply or bind on an instance of the"
            " Module class, not on the Module class itself: write MyModule().init(...)"
            " rather than MyModule.init(...)."
        )
