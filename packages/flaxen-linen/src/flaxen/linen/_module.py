"""``Module``: the base class of every layer and model.

The lifecycle (construction, binding, lazy ``setup``, compact calls) is
explained in this package's README. The pieces live in their own modules:
``_dataclass`` (the dataclass transform), ``_calls`` (what a method call
does), ``_naming`` (names and scopes of submodules), ``_apply`` (init/apply/
bind), ``_repr`` (printing).
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import jax.numpy as jnp

from flaxen.core import Scope
from flaxen.core._filters import DenyList, Filter
from flaxen.core._scope import Variable
from flaxen.errors import (
    AssignSubModuleError,
    CallSetupUnboundModuleError,
    CallShareScopeOnUnboundModuleError,
    DescriptorAttributeError,
    MultipleMethodsCompactError,
    SetAttributeFrozenModuleError,
    SetAttributeInModuleSetupError,
)
from flaxen.traceback_util import api_boundary

from . import _apply, _naming
from ._calls import module_state, run_setup, unwrap, wrap_method
from ._dataclass import field_names, init_field_names, make_dataclass, unspecified_parent
from ._repr import module_repr
from ._state import PARAM, VARIABLE, ModuleState, context

T = TypeVar("T")
M = TypeVar("M", bound="Module")

_DEFAULT_MUTABLE = DenyList("intermediates")

# Methods of Module itself: never wrapped when a subclass overrides them.
_BASE_API = frozenset(
    {
        "apply", "bind", "clone", "copy", "get_variable", "has_rng", "has_variable",
        "init", "init_with_output", "is_initializing", "is_mutable_collection",
        "lazy_init", "make_rng", "module_paths", "param", "perturb", "put_variable",
        "setup", "sow", "tabulate", "unbind", "variable",
    }
)  # fmt: skip


def _is_descriptor(cls: type, name: str) -> bool:
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return hasattr(type(klass.__dict__[name]), "__get__")
    return False


def _tuple_append(xs: tuple, x: Any) -> tuple:
    return (*xs, x)


def _empty_tuple() -> tuple:
    return ()


def _wrap_setup(setup: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(setup)
    def wrapped(self: Module) -> None:
        if self.__dict__.get("scope") is None:
            raise CallSetupUnboundModuleError()
        if module_state(self).in_setup:  # super().setup(), or a setup calling another's
            return run_setup(self, setup)
        self._try_setup()
        return None

    wrapped.unwrapped = setup  # type: ignore[attr-defined]
    wrapped.method_handler_wrapped = True  # type: ignore[attr-defined]
    return wrapped


def _is_user_method(name: str, value: Any) -> bool:
    """Whether ``__init_subclass__`` wraps class attribute ``name``.

    Every function a subclass defines is a wrapped method (``_private`` ones
    too, as in Flax), except dunder methods other than ``__call__``, Module's
    own API, ``@nowrap`` functions and functions wrapped already.
    """
    return (
        isinstance(value, types.FunctionType)
        and (name == "__call__" or not (name.startswith("__") and name.endswith("__")))
        and name not in _BASE_API
        and not getattr(value, "nowrap", False)
        and not getattr(value, "method_handler_wrapped", False)
    )


class Module:
    """Base class of all neural-network modules.

    Subclasses are dataclasses: annotated class attributes are constructor
    arguments. Define submodules and variables in :meth:`setup` or inline in
    one method decorated with :func:`compact`; run the module with
    :meth:`init` and :meth:`apply`.

    >>> import jax, jax.numpy as jnp
    >>> from flaxen import linen as nn
    >>> class Affine(nn.Module):
    ...   features: int
    ...   @nn.compact
    ...   def __call__(self, x):
    ...     w = self.param('w', jax.nn.initializers.lecun_normal(), (x.shape[-1], self.features))
    ...     b = self.param('b', jax.nn.initializers.zeros, (self.features,))
    ...     return x @ w + b
    >>> model = Affine(features=2)
    >>> variables = model.init(jax.random.key(0), jnp.ones((1, 3)))
    >>> jax.tree_util.tree_map(jnp.shape, variables)
    {'params': {'b': (2,), 'w': (3, 2)}}
    >>> model.apply(variables, jnp.ones((1, 3))).shape
    (1, 2)
    """

    # Populated per subclass by __init_subclass__.
    _compact_name: ClassVar[str | None] = None
    _init_fields: ClassVar[tuple[str, ...]] = ()
    _field_names: ClassVar[tuple[str, ...]] = ()
    #: The bound scope; set per instance when the module is bound.
    scope: Scope | None = None
    if TYPE_CHECKING:  # dataclass fields every subclass gets
        parent: Module | Scope | None
        name: str | None

    def __init_subclass__(cls, kw_only: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        make_dataclass(cls, kw_only)
        cls._init_fields = init_field_names(cls)
        cls._field_names = field_names(cls)
        compact = [name for name, value in cls.__dict__.items() if getattr(value, "compact", False)]
        inherited = cls.__mro__[1]._compact_name if issubclass(cls.__mro__[1], Module) else None
        if inherited is not None and inherited not in cls.__dict__:
            compact.append(inherited)
        if len(compact) > 1:
            raise MultipleMethodsCompactError()
        cls._compact_name = compact[0] if compact else None
        for name, value in list(cls.__dict__.items()):
            if name == "setup" and isinstance(value, types.FunctionType):
                setattr(cls, name, _wrap_setup(value))
            elif _is_user_method(name, value):
                setattr(cls, name, wrap_method(value, value.__name__))

    # -- construction ------------------------------------------------------------

    def __post_init__(self) -> None:
        attrs = self.__dict__
        state = attrs["_state"] = ModuleState()
        parent = attrs.get("parent", unspecified_parent)
        if parent is unspecified_parent:
            parent = context.module_stack[-1]
            attrs["parent"] = parent
        if isinstance(parent, Module):
            pstate = module_state(parent)
            if pstate.in_compact_method or pstate.in_setup:
                attrs["scope"] = None
                if pstate.in_compact_method and not pstate.in_setup:
                    _naming.bind_child(parent, self, self.name or _naming.autoname(parent, self))
                elif self.name is not None:
                    _naming.bind_child(parent, self, self.name)
            else:
                raise AssignSubModuleError(type(self).__name__)
        elif isinstance(parent, Scope):
            attrs["scope"] = parent
            _naming.adopt_fields(self)
        else:
            attrs["scope"] = None
        state.is_initialized = True

    def __setattr__(self, name: str, value: Any) -> None:
        attrs = self.__dict__
        state = attrs.get("_state")
        if state is None or not state.is_initialized:
            object.__setattr__(self, name, value)
            return
        if not state.in_setup:
            raise SetAttributeFrozenModuleError(type(self).__name__, name, value)
        if name in type(self).__dataclass_fields__:
            raise SetAttributeInModuleSetupError()
        object.__setattr__(self, name, _naming.register_setup_attribute(self, name, value))

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails: maybe setup defines it.
        if name.startswith("__"):
            raise AttributeError(name)
        attrs = self.__dict__
        state = attrs.get("_state")
        bound = attrs.get("scope") is not None
        if state is not None and bound and not state.setup_called and not state.in_setup:
            self._try_setup()
            if name in attrs:
                return attrs[name]
        if _is_descriptor(type(self), name):
            # A property (or other descriptor) raised AttributeError: Python
            # then falls back to __getattr__ under the property's own name.
            raise DescriptorAttributeError() from None
        message = f'"{type(self).__name__}" object has no attribute "{name}".'
        if not bound:
            message += (
                f" If \"{name}\" is defined in '.setup()', remember these fields are only"
                " accessible from inside 'init' or 'apply'."
            )
        raise AttributeError(message)

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) - {"_state"})

    def __repr__(self) -> str:
        return module_repr(self)

    def _try_setup(self) -> None:
        """Runs ``setup`` once, if bound (the module's field submodules were adopted at binding)."""
        state = module_state(self)
        if state.setup_called or state.in_setup or self.__dict__.get("scope") is None:
            return
        state.in_setup = True
        try:
            setup = type(self).setup
            if setup is not Module.setup:
                run_setup(self, unwrap(setup))
            if type(self)._compact_name is not None:
                scope = self.__dict__["scope"]
                state.setup_reservations = {k: set(v) for k, v in scope.reservations.items()}
            state.setup_called = True
        finally:
            state.in_setup = False

    def setup(self) -> None:
        """Defines submodules and variables; runs lazily, once per bound instance.

        Assign submodules (or containers of them) to attributes of ``self``;
        they are named after the attribute. ``setup`` runs on the first method
        call or the first access of a missing attribute of a bound module.
        """

    # -- copies --------------------------------------------------------------------

    def clone(
        self: M,
        *,
        parent: Any = None,
        _deep_clone: bool | Any = False,
        _reset_names: bool = False,
        **updates: Any,
    ) -> M:
        """A new instance with the same attributes (and ``updates``), unbound by default.

        Args:
          parent: the clone's parent (a Module, a Scope, or None).
          **updates: attribute values to change; ``name`` may be among them.

        Returns:
          The clone.
        """
        del _deep_clone, _reset_names
        attrs = self.__dict__
        kwargs = {field: attrs[field] for field in self._init_fields}
        state = attrs.get("_state")
        originals = state.originals if state is not None else None
        if originals:
            kwargs.update(originals)
        kwargs["name"] = attrs.get("name")
        kwargs.update(updates)
        return type(self)(parent=parent, **kwargs)

    def copy(
        self: M, *, parent: Any = unspecified_parent, name: str | None = None, **updates: Any
    ) -> M:
        """A copy with a new name, by default a child of the running module.

        Args:
          parent: the copy's parent (by default, the module whose method runs).
          name: the copy's name (by default an automatic one).
          **updates: attribute values to change.
        """
        return self.clone(parent=parent, name=name, **updates)

    # -- binding --------------------------------------------------------------------

    def bind(
        self: M,
        variables: Mapping[str, Any],
        *args: Any,
        rngs: Mapping[str, Any] | None = None,
        mutable: Filter = False,
    ) -> M:
        """An interactive copy of this module with ``variables`` (and ``rngs``) bound."""
        _apply.check_module(self)
        return _apply.bind(self, variables, rngs=rngs, mutable=mutable)

    def unbind(self: M) -> tuple[M, Any]:
        """An unbound copy of this (bound) module and its variables."""
        _apply.check_module(self)
        return _apply.unbind(self)

    @api_boundary
    def init(
        self,
        rngs: Any,
        *args: Any,
        method: Callable[..., Any] | str | None = None,
        mutable: Filter = _DEFAULT_MUTABLE,
        capture_intermediates: bool | Callable[[Module, str], bool] = False,
        **kwargs: Any,
    ) -> Any:
        """Initializes the module's variables by running ``method`` (default ``__call__``).

        ``rngs`` is a key (for the ``params`` stream) or a dict of keys.
        """
        _apply.check_module(self)
        _, variables = self.init_with_output(
            rngs, *args, method=method, mutable=mutable,
            capture_intermediates=capture_intermediates, **kwargs,
        )  # fmt: skip
        return variables

    @api_boundary
    def init_with_output(
        self,
        rngs: Any,
        *args: Any,
        method: Callable[..., Any] | str | None = None,
        mutable: Filter = _DEFAULT_MUTABLE,
        capture_intermediates: bool | Callable[[Module, str], bool] = False,
        **kwargs: Any,
    ) -> tuple[Any, Any]:
        """Like :meth:`init`, but also returns the method's output."""
        _apply.check_module(self)
        fn = _apply.resolve_method(self, method)
        return _apply.init_with_output(
            fn, self, mutable=mutable, capture_intermediates=capture_intermediates
        )(rngs, *args, **kwargs)

    @api_boundary
    def apply(
        self,
        variables: Mapping[str, Any],
        *args: Any,
        rngs: Any = None,
        method: Callable[..., Any] | str | None = None,
        mutable: Filter = False,
        capture_intermediates: bool | Callable[[Module, str], bool] = False,
        **kwargs: Any,
    ) -> Any:
        """Runs ``method`` (default ``__call__``) with ``variables`` bound.

        Returns the output, or ``(output, changed_collections)`` when
        ``mutable`` is not False.
        """
        _apply.check_module(self)
        fn = _apply.resolve_method(self, method)
        return _apply.apply(fn, self, mutable=mutable, capture_intermediates=capture_intermediates)(
            variables, *args, rngs=rngs, **kwargs
        )

    @api_boundary
    def lazy_init(
        self,
        rngs: Any,
        *args: Any,
        method: Callable[..., Any] | str | None = None,
        mutable: Filter = _DEFAULT_MUTABLE,
        **kwargs: Any,
    ) -> Any:
        """Initializes variables from ``jax.ShapeDtypeStruct`` inputs, without the forward pass."""
        _apply.check_module(self)
        fn = _apply.resolve_method(self, method)
        return _apply.lazy_init(fn, self, mutable=mutable)(rngs, *args, **kwargs)

    def module_paths(
        self,
        rngs: Any,
        *args: Any,
        show_repeated: bool = False,
        mutable: Filter = _DEFAULT_MUTABLE,
        **kwargs: Any,
    ) -> dict[str, Module]:
        """Path -> unbound copy of every module used by ``__call__`` (no FLOPs spent)."""
        _apply.check_module(self)
        return _apply.module_paths(
            self, rngs, *args, show_repeated=show_repeated, mutable=mutable, **kwargs
        )

    def tabulate(self, rngs: Any, *args: Any, **kwargs: Any) -> str:
        """A table summarizing the module; provided by the flaxen-tabulate package."""
        from ._namespace import lookup_export

        return lookup_export("tabulate")(self, rngs, **_tabulate_kwargs(kwargs))(*args, **kwargs)

    # -- state -------------------------------------------------------------------------

    def _bound_scope(self, what: str) -> Scope:
        scope = self.__dict__.get("scope")
        if scope is None:
            raise ValueError(f"Can't {what} on unbound modules.")
        return scope

    @property
    def variables(self) -> Any:
        """A copy of this module's variables, ``{collection: tree}``."""
        return self._bound_scope("access variables").variables()

    @property
    def path(self) -> tuple[str, ...]:
        """The names from the model root to this module."""
        return self._bound_scope("access module paths").path

    def is_initializing(self) -> bool:
        """Whether this runs under ``init`` (or ``nn.init``)."""
        return bool(self._bound_scope("check for initialization").flags.get("initializing"))

    def is_mutable_collection(self, col: str) -> bool:
        """Whether collection ``col`` may be changed."""
        return self._bound_scope("check mutability").is_mutable_collection(col)

    def has_rng(self, name: str) -> bool:
        """Whether a PRNG stream called ``name`` was given."""
        return self._bound_scope("query PRNG sequences").has_rng(name)

    def make_rng(self, name: str = "params") -> Any:
        """A fresh key from stream ``name`` (falling back to ``params``)."""
        return self._bound_scope("use RNGs").make_rng(name)

    def _check_declaration(self, what: str) -> Scope:
        scope = self._bound_scope(f"declare {what}s")
        state = self.__dict__["_state"]
        if not (state.in_setup or state.in_compact_method):
            raise ValueError(
                f"{what.capitalize()}s must be initialized in `setup()` or in a method"
                " wrapped in `@compact`"
            )
        return scope

    def param(
        self,
        name: str,
        init_fn: Callable[..., T],
        *init_args: Any,
        unbox: bool = True,
        **init_kwargs: Any,
    ) -> T:
        """Declares parameter ``name`` and returns its value.

        ``init_fn(key, *init_args, **init_kwargs)`` creates it during ``init``;
        the key comes from the ``params`` stream.

        Raises:
          NameInUseError: the name is taken by a submodule or another parameter.
        """
        scope = self._check_declaration("parameter")
        _naming.claim_name(self, name, PARAM, "params")
        return scope.param(name, init_fn, *init_args, unbox=unbox, **init_kwargs)

    def variable(
        self,
        col: str,
        name: str,
        init_fn: Callable[..., T] | None = None,
        *init_args: Any,
        unbox: bool = True,
        **init_kwargs: Any,
    ) -> Variable[T]:
        """Declares variable ``name`` in collection ``col``; read and write ``.value``."""
        scope = self._check_declaration("variable")
        _naming.claim_name(self, name, VARIABLE, col)
        return scope.variable(col, name, init_fn, *init_args, unbox=unbox, **init_kwargs)

    def get_variable(self, col: str, name: str, default: T | None = None) -> T:
        """The value of a variable, or ``default`` when it does not exist."""
        return self._bound_scope("access variables").get_variable(col, name, default)

    def put_variable(self, col: str, name: str, value: Any) -> None:
        """Sets a variable (its collection must be mutable)."""
        self._bound_scope("set variables").put_variable(col, name, value)

    def has_variable(self, col: str, name: str) -> bool:
        """Whether variable ``name`` exists in collection ``col``."""
        return self._bound_scope("access variables").has_variable(col, name)

    def sow(
        self,
        col: str,
        name: str,
        value: Any,
        reduce_fn: Callable[[Any, Any], Any] = _tuple_append,
        init_fn: Callable[[], Any] = _empty_tuple,
    ) -> bool:
        """Stores ``value`` in collection ``col`` if it is mutable.

        Values accumulate with ``reduce_fn`` (default: appended to a tuple)
        starting from ``init_fn()``.

        Returns:
          Whether the value was stored (False when ``col`` is immutable).
        """
        scope = self._bound_scope("store variables")
        if not scope.is_mutable_collection(col):
            return False
        current = scope.get_variable(col, name) if scope.has_variable(col, name) else init_fn()
        scope.put_variable(col, name, reduce_fn(current, value))
        return True

    def perturb(self, name: str, value: T, collection: str = "perturbations") -> T:
        """Adds a zero-valued variable to ``value`` so ``jax.grad`` can reach it.

        When ``collection`` is mutable (as in ``init``) the zeros are created;
        when the variable is absent (``apply`` without it), this is a no-op.
        """
        scope = self._bound_scope("perturb")
        if scope.is_mutable_collection(collection) and not scope.has_variable(collection, name):
            scope.put_variable(collection, name, jnp.zeros_like(value))
        if scope.has_variable(collection, name):
            value = value + scope.get_variable(collection, name)
        return value


def _tabulate_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    names = (
        "depth", "show_repeated", "mutable", "console_kwargs", "table_kwargs",
        "column_kwargs", "compute_flops", "compute_vjp_flops",
    )  # fmt: skip
    return {name: kwargs.pop(name) for name in names if name in kwargs}


def share_scope(module: Module, other: Module, /) -> None:
    """Makes ``other`` use ``module``'s scope, so its variables live at ``module``'s level.

    Useful for wrappers that should not add a level to the variable tree.
    """
    if module.__dict__.get("scope") is None or other.__dict__.get("scope") is None:
        raise CallShareScopeOnUnboundModuleError()
    other.__dict__["scope"] = module.scope
