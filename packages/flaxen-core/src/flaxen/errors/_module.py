"""Errors of Module definitions: fields, names, submodules, frozen attributes."""

from __future__ import annotations

from typing import Any

from ._base import FlaxenError


def _type_name(cls: Any) -> str:
    return getattr(cls, "__name__", None) or str(cls)


class AssignSubModuleError(FlaxenError, RuntimeError):
    """A submodule is created outside ``setup`` and outside a compact method.

    Submodules may only be created in :meth:`Module.setup` (non-compact
    Modules) or inside the method decorated with ``nn.compact``. Here
    ``nn.Conv`` is created in a ``__call__`` that is not compact:

    .. code-block:: python

      class Foo(nn.Module):
        def setup(self):
          pass

        def __call__(self, x):
          conv = nn.Conv(features=3, kernel_size=3)  # raises

    The same holds for a Module partially applied in ``setup`` and
    constructed later:

    .. code-block:: python

      class Foo(nn.Module):
        def setup(self):
          self.conv = functools.partial(nn.Conv, features=3)

        def __call__(self, x):
          return self.conv(kernel_size=4)(x)  # raises: built outside setup

    Build the submodule in ``setup`` or decorate the method with
    ``@nn.compact``.

    Attributes:
      cls: the class (or class name) of the submodule.
    """

    def __init__(self, cls: Any) -> None:
        self.cls = cls
        super().__init__(
            f"Submodule {_type_name(cls)} must be defined in `setup()` or in a method"
            " wrapped in `@compact`: it was created somewhere else. Move its"
            " construction into setup() (self.sub = ...) or decorate the method that"
            " creates it with @nn.compact."
        )


class DescriptorAttributeError(FlaxenError):
    """A property of a Module reads an attribute that does not exist.

    Raised instead of a bare ``AttributeError`` from inside a property (or
    other descriptor), which Python would otherwise report as the property
    itself missing:

    .. code-block:: python

      class Foo(nn.Module):
        @property
        def prop(self):
          return self.non_existent_field  # raises

        def __call__(self, x):
          return self.prop
    """

    def __init__(self) -> None:
        super().__init__(
            "A property of this Module is accessing a non-existent attribute. Check"
            " the attribute names used inside the property (the traceback shows"
            " which one)."
        )


class IncorrectPostInitOverrideError(FlaxenError, RuntimeError):
    """``__post_init__`` was overridden without calling the base class's.

    .. code-block:: python

      class A(nn.Module):
        x: float

        def __post_init__(self):
          self.x_square = self.x ** 2
          # super().__post_init__()  <-- missing

        @nn.compact
        def __call__(self, inputs):
          return inputs + 3

      A(x=3).init(key, jnp.ones(3))  # raises
    """

    def __init__(self) -> None:
        super().__init__(
            "Overrode `.__post_init__()` without calling `super().__post_init__()`,"
            " so the Module was not set up. Add `super().__post_init__()` to your"
            " __post_init__."
        )


class MultipleMethodsCompactError(FlaxenError, TypeError):
    """More than one method of a Module class is decorated with ``@compact``.

    Either define submodules and variables in :meth:`Module.setup` and drop
    ``@compact``, or split the class into several Modules that each have one
    compact method.
    """

    def __init__(self) -> None:
        super().__init__(
            "Only one method per Module class can be @compact. Remove @compact and"
            " define submodules in setup(), or split the class into Modules with one"
            " @compact method each."
        )


class NameInUseError(FlaxenError, ValueError):
    """A submodule, parameter or variable reuses a name already taken.

    Submodules, parameters and variables of a Module share one namespace. To
    share a submodule, call the same instance twice instead of creating two
    with the same name:

    .. code-block:: python

      y = nn.Dense(3, name='bar')(x)
      z = nn.Dense(3, name='bar')(x)  # raises

      dense = nn.Dense(3, name='bar')
      y, z = dense(x), dense(x)       # shares the submodule

    A parameter and a submodule may not share a name either (variables in
    different collections may: ``'params'`` and ``'batch_stats'`` each have
    their own names):

    .. code-block:: python

      bar = self.param('bar', nn.initializers.zeros_init(), (1,))
      embed = nn.Embed(num_embeddings=2, features=5, name='bar')  # raises

    Submodules created without a name get unique automatic names.

    Attributes:
      key_type: what was being created (``'param'``, ``'variable'``,
        ``'submodule'``).
      value: the name in use.
      module_name: the Module in which it was created.
    """

    def __init__(self, key_type: str, value: Any, module_name: Any) -> None:
        self.key_type = key_type
        self.value = value
        self.module_name = module_name
        super().__init__(
            f'Could not create {key_type} "{value}" in Module {module_name}: Name in'
            " use. Submodules, params and variables share one namespace; choose"
            " another name, or reuse the existing object (call the same submodule"
            " instance twice to share it)."
        )


class ReservedModuleAttributeError(FlaxenError, TypeError):
    """A Module class declares a field named ``parent`` or ``name``.

    Both are reserved: ``parent`` holds the enclosing Module and ``name`` the
    Module's own name. Rename the field.

    Attributes:
      annotations: the annotations of the offending class.
    """

    def __init__(self, annotations: Any) -> None:
        self.annotations = annotations
        super().__init__(
            f"properties `parent` and `name` are reserved for every Module and cannot"
            f" be declared as fields: {annotations}. Rename those fields."
        )


class SetAttributeFrozenModuleError(FlaxenError, AttributeError):
    """An attribute of a Module is set outside ``setup``.

    A Module instance is frozen, like a frozen dataclass, except inside its
    own :meth:`Module.setup`:

    .. code-block:: python

      class SomeModule(nn.Module):
        @nn.compact
        def __call__(self, x, num_features=10):
          self.num_features = num_features  # raises
          return nn.Dense(self.num_features)(x)

    This also applies to a submodule's attributes, even from the parent's
    ``setup``: ``self.dense = nn.Dense(10); self.dense.features = 20`` raises.
    Pass values to the constructor, or use ``module.clone(attr=value)``.

    Attributes:
      module_cls: the Module's class (or class name).
      attr_name: the attribute that was set.
      attr_val: the value it was set to.
    """

    def __init__(self, module_cls: Any, attr_name: str, attr_val: Any) -> None:
        self.module_cls = module_cls
        self.attr_name = attr_name
        self.attr_val = attr_val
        super().__init__(
            f"Can't set {attr_name}={attr_val!r} for Module of type"
            f" {_type_name(module_cls)}: Module instance is frozen outside of setup"
            f" method. Assign attributes in setup(), pass the value to the"
            f" constructor, or make a modified copy with .clone({attr_name}=...)."
        )
        self.name = attr_name  # AttributeError.name: the attribute involved


class SetAttributeInModuleSetupError(FlaxenError, AttributeError):
    """A dataclass field of a Module is reassigned in ``setup``.

    Fields are fixed at construction; ``setup`` may add attributes but not
    change fields:

    .. code-block:: python

      class Foo(nn.Module):
        features: int = 6

        def setup(self):
          self.features = 3  # raises

    Pass the value when constructing the Module instead: ``Foo(features=3)``.
    """

    def __init__(self) -> None:
        super().__init__(
            "Module construction attributes are frozen: a dataclass field cannot be"
            " reassigned in setup(). Pass the value when constructing the Module"
            " instead, e.g. Foo(features=3)."
        )
