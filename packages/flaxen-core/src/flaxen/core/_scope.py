"""Scope: the variables and PRNG streams of one node in a model's tree.

Design notes (see also ``packages/flaxen-core/README.md``):

* A tree of scopes shares one :class:`_Store` per root: the variable
  collections, the mutability filter (with a per-collection cache) and the
  validity flag. Invalidating a root invalidates every scope below it in O(1).
* Each scope caches, per collection, the dict holding *its own* variables
  (``_cols``). Reads never copy; writes go into dicts the store owns (mutable
  collections are copied, dict structure only, when the store is created).
* Streams are :class:`~flaxen.core._rng.LazyRng` (root key + static suffix);
  per-stream counters live in a dict shared with rewound copies and lifted
  inner scopes, and a parent keeps its children's counters by child name so a
  child pushed again continues counting.
* ``param`` checks an existing parameter's shape against its initializer's
  output shape. The abstract shape is memoised per ``(init_fn, args)``, so
  applying a model does not re-trace every initializer on every call.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import types
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

import jax
import numpy as np

from flaxen.configurations._flags import config as _config
from flaxen.errors import (
    InvalidRngError,
    InvalidScopeError,
    ModifyScopeVariableError,
    NameInUseError,
    ScopeCollectionNotFound,
    ScopeParamNotFoundError,
    ScopeParamShapeError,
    ScopeVariableNotFoundError,
)

from . import _meta as meta
from ._filters import Filter, check_filter, in_filter
from ._rng import LazyRng, fold_path

T = TypeVar("T")

_MISSING: Any = object()
_SHAPE_CACHE: dict[Any, Any] = {}
_SHAPE_CACHE_LIMIT = 4096
_MAYBE_BOXED = (meta.AxisMetadata, dict, list, tuple)


class _Store:
    """What every scope of one root shares."""

    __slots__ = ("generation", "mutable", "mutable_cache", "valid", "variables")

    def __init__(self, variables: dict[str, Any], mutable: Filter) -> None:
        self.variables = variables
        self.mutable = mutable
        self.mutable_cache: dict[str, bool] = {}
        self.valid = True
        # Bumped whenever a dict that scopes may have cached is replaced, so that
        # every scope drops its per-collection cache (see Scope._collection).
        self.generation = 0


class _Uncacheable(Exception):
    """Raised while building a cache key for something that is not a plain value."""


_VALUE_TYPES = (int, float, complex, str, bytes, bool, type(None), type, np.dtype)


def _value_key(value: Any) -> Any:
    """``value`` itself if it is an immutable plain value (or a tuple of them)."""
    if isinstance(value, _VALUE_TYPES):
        return value
    if type(value) is tuple:
        return tuple(_value_key(v) for v in value)
    if type(value) in (types.FunctionType, functools.partial):
        return _function_key(value)
    raise _Uncacheable


def _function_key(fn: Any) -> Any:
    """A hashable key equal for functions that compute the same thing.

    Initializer factories (``lecun_normal()``, ``normal(0.02)``) return a new
    closure on every call; two closures of the same code over equal plain
    values behave identically, so they share a key. A closure over anything
    mutable, or a callable object, is not cached at all: its output shape
    could change between calls.
    """
    if type(fn) is types.FunctionType:
        cells = fn.__closure__
        if not cells:
            return fn
        try:
            contents = tuple(_value_key(cell.cell_contents) for cell in cells)
        except ValueError:  # an empty cell: the closure is not finished yet
            raise _Uncacheable from None
        return (
            fn.__code__,
            contents,
            _value_key(fn.__defaults__),
            _value_key(tuple(fn.__kwdefaults__.items())) if fn.__kwdefaults__ else None,
        )
    if type(fn) is functools.partial:
        return (
            functools.partial,
            _function_key(fn.func),
            _value_key(fn.args),
            _value_key(tuple(fn.keywords.items())),
        )
    raise _Uncacheable


def _abstract_init_shapes(init_fn: Callable, args: tuple, kwargs: dict) -> Any:
    """The shapes ``init_fn(key, *args, **kwargs)`` would produce (memoised)."""
    try:
        cache_key = (
            _function_key(init_fn),
            _value_key(args),
            _value_key(tuple(kwargs.items())) if kwargs else (),
        )
        shapes = _SHAPE_CACHE.get(cache_key, _MISSING)
    except (_Uncacheable, TypeError):  # not plain values: compute every time
        cache_key = None
        shapes = _MISSING
    if shapes is _MISSING:
        abstract = jax.eval_shape(lambda: init_fn(jax.random.key(0), *args, **kwargs))
        shapes = _shapes(abstract)
        if cache_key is not None:
            if len(_SHAPE_CACHE) >= _SHAPE_CACHE_LIMIT:
                _SHAPE_CACHE.clear()
            _SHAPE_CACHE[cache_key] = shapes
    return shapes


def _shapes(tree: Any) -> Any:
    if isinstance(tree, meta.AxisMetadata):
        tree = _unbox_unconstrained(tree)
    elif isinstance(tree, _MAYBE_BOXED):
        tree = meta.map_axis_meta(_unbox_unconstrained, tree)
    shape = getattr(tree, "shape", None)
    if shape is not None:
        return tuple(shape)
    return jax.tree_util.tree_map(lambda x: tuple(getattr(x, "shape", ())), tree)


# Box class -> whether its unbox() takes ``apply_constraint`` (Partitioned and
# LogicallyPartitioned do; a user's AxisMetadata subclass may not).
_TAKES_APPLY_CONSTRAINT: dict[type, bool] = {}


def _unbox_unconstrained(box: meta.AxisMetadata[Any]) -> Any:
    """The boxed value without the sharding constraint ``unbox()`` may add.

    Reading a shape needs no constraint; applying one would add an op to the
    trace (or, outside ``jit``, run a resharding) for every parameter check.
    """
    cls = type(box)
    takes = _TAKES_APPLY_CONSTRAINT.get(cls)
    if takes is None:
        try:
            takes = "apply_constraint" in inspect.signature(cls.unbox).parameters
        except (TypeError, ValueError):
            takes = False
        _TAKES_APPLY_CONSTRAINT[cls] = takes
    return box.unbox(apply_constraint=False) if takes else box.unbox()


class Variable(Generic[T]):
    """Mutable access to one variable of a scope through ``.value``.

    Attributes:
      scope: the scope the variable lives in.
      collection: its collection (``'params'``, ``'batch_stats'``, ...).
      name: its name within the scope.
      unbox: whether ``.value`` strips :class:`~flaxen.core.meta.AxisMetadata`.
    """

    __slots__ = ("collection", "name", "scope", "unbox")

    def __init__(self, scope: Scope, collection: str, name: str, unbox: bool = True) -> None:
        self.scope = scope
        self.collection = collection
        self.name = name
        self.unbox = unbox

    @property
    def value(self) -> T:
        """The current value (unboxed when ``unbox``)."""
        value = self.scope.get_variable(self.collection, self.name)
        return meta.unbox(value) if self.unbox else value

    @value.setter
    def value(self, value: T) -> None:
        if self.unbox:
            current = self.scope.get_variable(self.collection, self.name)
            if isinstance(current, _MAYBE_BOXED):
                value = meta.replace_boxed(current, value)
        self.scope.put_variable(self.collection, self.name, value)

    def is_mutable(self) -> bool:
        """Whether the variable's collection is mutable in its scope."""
        return self.scope.is_mutable_collection(self.collection)

    def __repr__(self) -> str:
        return f"Variable(collection={self.collection!r}, name={self.name!r})"


class Scope:
    """A node in the scope tree: variables, PRNG streams, child scopes.

    Create root scopes through :func:`flaxen.core.init`, :func:`apply` or
    :func:`bind`; functions written against ``Scope`` call :meth:`param`,
    :meth:`variable`, :meth:`make_rng` and :meth:`push` (or :meth:`child`).

    Args:
      variables: the root's collections, ``{collection: nested dict}``.
      rngs: stream name -> PRNG key (or :class:`LazyRng`).
      name: this scope's name (``None`` for a root).
      mutable: a filter of the collections that may be changed.
      parent: the parent scope, if any.
      path: the names from the model root to this scope.
      flags: free-form settings shared down the tree.

    >>> import jax
    >>> from flaxen.core import init
    >>> def model(scope, x):
    ...   w = scope.param('w', jax.nn.initializers.ones, (x.shape[-1], 2))
    ...   return x @ w
    >>> y, variables = init(model)(jax.random.key(0), jax.numpy.ones((1, 3)))
    >>> variables['params']['w'].shape
    (3, 2)
    """

    __slots__ = (
        "_child_counters",
        "_cols",
        "_cols_generation",
        "_store",
        "flags",
        "name",
        "parent",
        "path",
        "reservations",
        "rng_counters",
        "rngs",
    )

    def __init__(
        self,
        variables: Mapping[str, Any],
        rngs: Mapping[str, Any] | None = None,
        name: str | None = None,
        mutable: Filter = False,
        parent: Scope | None = None,
        path: tuple[str, ...] = (),
        flags: Mapping[str, Any] | None = None,
    ) -> None:
        check_filter(mutable)
        self._store = _Store(dict(variables), mutable) if parent is None else parent._store
        self.parent = parent
        self.name = name
        self.path = tuple(path)
        self.rngs = {
            k: v if isinstance(v, LazyRng) else LazyRng(v, ()) for k, v in (rngs or {}).items()
        }
        self.rng_counters: dict[str, int] = {}
        # Child name -> (its counters, its children's entries): counters persist at
        # every depth, so a subtree pushed again keeps counting where it was.
        self._child_counters: dict[str, tuple[dict[str, int], dict[str, Any]]] = {}
        self.reservations: dict[str, set[str | None]] = {}
        self._cols: dict[str, Any] = {}
        self._cols_generation = 0
        self.flags = dict(flags) if flags else {}

    @classmethod
    def _new_root(
        cls,
        store: _Store,
        rngs: dict[str, LazyRng],
        rng_counters: dict[str, int] | None,
        path: tuple[str, ...],
        flags: dict[str, Any],
    ) -> Scope:
        """A root over an existing store; lifted transforms build inner roots so."""
        self = object.__new__(cls)
        self._store = store
        self.parent = None
        self.name = path[-1] if path else None
        self.path = path
        self.rngs = rngs
        self.rng_counters = {} if rng_counters is None else rng_counters
        self._child_counters = {}
        self.reservations = {}
        self._cols = {}
        self._cols_generation = store.generation
        self.flags = flags
        return self

    def _make_child(self, name: str) -> Scope:
        child = object.__new__(Scope)
        child._store = self._store
        child.parent = self
        child.name = name
        child.path = (*self.path, name)
        child.rngs = {k: LazyRng(r.rng, (*r.suffix, name)) for k, r in self.rngs.items()}
        entry = self._child_counters.get(name)
        if entry is None:
            entry = self._child_counters[name] = ({}, {})
        child.rng_counters, child._child_counters = entry
        child.reservations = {}
        child._cols = {}
        child._cols_generation = self._store.generation
        child.flags = self.flags
        return child

    # -- validity --------------------------------------------------------------

    @property
    def invalid(self) -> bool:
        return not self._store.valid

    def invalidate(self) -> None:
        """Ends the lifetime of this scope's whole tree."""
        self._store.valid = False

    def _check_valid(self) -> None:
        if not self._store.valid:
            raise InvalidScopeError(self.name)

    @contextlib.contextmanager
    def temporary(self) -> Iterator[Scope]:
        """Yields this scope and invalidates its tree when the block ends."""
        try:
            yield self
        finally:
            self.invalidate()

    # -- names -----------------------------------------------------------------

    @property
    def root(self) -> Scope:
        scope = self
        while scope.parent is not None:
            scope = scope.parent
        return scope

    @property
    def path_text(self) -> str:
        """The path as text, e.g. ``'/Encoder_0/Dense_1'``."""
        return "/" + "/".join(self.path)

    def reserve(self, name: str, col: str | None = None) -> None:
        """Claims ``name`` for a child scope (``col=None``) or a variable in ``col``.

        A child-scope name excludes every variable of that name and vice versa;
        variables of different collections may share a name.

        Raises:
          NameInUseError: the name is already taken.
        """
        if not isinstance(name, str):
            raise TypeError(f"Scope and variable names must be strings, got {name!r}.")
        taken = self.reservations.get(name)
        if taken is None:
            self.reservations[name] = {col}
            return
        if col is None or None in taken or col in taken:
            key_type = "submodule" if col is None else ("param" if col == "params" else "variable")
            raise NameInUseError(key_type, name, self.path_text)
        taken.add(col)

    def name_reserved(self, name: str, col: str | None = None) -> bool:
        taken = self.reservations.get(name)
        if taken is None:
            return False
        return col is None or None in taken or col in taken

    def default_name(self, prefix: str) -> str:
        """The first ``f'{prefix}{i}'`` not yet reserved."""
        i = 0
        while f"{prefix}{i}" in self.reservations:
            i += 1
        return f"{prefix}{i}"

    def push(self, name: str | None = None, prefix: str = "", reuse: bool = False) -> Scope:
        """Creates a child scope.

        Args:
          name: the child's name; by default ``f'{prefix}{i}'`` for the first free ``i``.
          prefix: prefix of the generated name.
          reuse: allow ``name`` to be taken already (the new child continues the
            previous one's RNG counters).

        Returns:
          The child scope.
        """
        self._check_valid()
        if name is None:
            name = self.default_name(prefix)
        if not (reuse and name in self.reservations):
            self.reserve(name)
        return self._make_child(name)

    def child(
        self,
        fn: Callable[..., Any],
        name: str | None = None,
        prefix: str | None = None,
        named_call: bool = True,
        **partial_kwargs: Any,
    ) -> Callable[..., Any]:
        """Partially applies ``fn`` to a new child scope.

        Args:
          fn: a function whose first argument is a scope.
          name: the child scope's name (default: ``f'{prefix}{i}'``).
          prefix: the prefix for a generated name (default: ``fn.__name__ + '_'``).
          named_call: whether to wrap the call in a ``jax.named_scope``.
          **partial_kwargs: keyword arguments bound to ``fn``.

        Returns:
          ``fn`` with the child scope (and ``partial_kwargs``) bound.
        """
        if name is None and prefix is None:
            prefix = getattr(fn, "__name__", "") + "_"
        scope = self.push(name, prefix=prefix or "")

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            kwargs = {**partial_kwargs, **kwargs}
            if named_call and _profile_enabled():
                with jax.named_scope(scope.name):
                    return fn(scope, *args, **kwargs)
            return fn(scope, *args, **kwargs)

        return wrapper

    def rewound(self, rewind_rngs: bool = False) -> Scope:
        """A copy of this scope with its names released (and, optionally, RNG counters)."""
        self._check_valid()
        scope = object.__new__(Scope)
        scope._store = self._store
        scope.parent = self.parent
        scope.name = self.name
        scope.path = self.path
        scope.rngs = self.rngs
        scope.rng_counters = {} if rewind_rngs else self.rng_counters
        scope._child_counters = {} if rewind_rngs else self._child_counters
        scope.reservations = {}
        scope._cols = self._cols
        scope._cols_generation = self._cols_generation
        scope.flags = self.flags
        return scope

    # -- collections -------------------------------------------------------------

    def is_mutable_collection(self, col: str) -> bool:
        """Whether collection ``col`` may be changed in this scope."""
        store = self._store
        mutable = store.mutable_cache.get(col)
        if mutable is None:
            mutable = store.mutable_cache[col] = in_filter(store.mutable, col)
        return mutable

    def _collection(self, col: str) -> Any:
        """This scope's dict in ``col``, or None if it has none (never copies)."""
        if self._cols_generation != self._store.generation:
            self._cols = {}
            self._cols_generation = self._store.generation
        found = self._cols.get(col)
        if found is not None:
            return found
        parent = self.parent
        if parent is None:
            found = self._store.variables.get(col)
        else:
            in_parent = parent._collection(col)
            found = None if in_parent is None else in_parent.get(self.name)
            if found is not None and not isinstance(found, Mapping):
                found = None
        if found is not None:
            self._cols[col] = found
        return found

    def _mutable_collection(self, col: str) -> dict[str, Any]:
        """This scope's dict in ``col``, created (in owned dicts) if needed."""
        if self._cols_generation != self._store.generation:
            self._cols = {}
            self._cols_generation = self._store.generation
        found = self._cols.get(col)
        if found is not None:
            return found
        parent = self.parent
        if parent is None:
            found = self._store.variables.get(col)
            if found is None:
                found = self._store.variables[col] = {}
        else:
            in_parent = parent._mutable_collection(col)
            found = in_parent.get(self.name)
            if found is None:
                found = in_parent[self.name] = {}
        self._cols[col] = found
        return found

    def is_collection_empty(self, col: str) -> bool:
        """Whether collection ``col`` holds no variable at all (in this scope's root)."""
        return not self._store.variables.get(col)

    def variables(self) -> dict[str, Any]:
        """A copy of this scope's variables, ``{collection: nested dict}``."""
        self._check_valid()
        result = {}
        for col in self._collection_names():
            found = self._collection(col)
            if found is not None:
                result[col] = _copy_dicts(found)
        return result

    def mutable_variables(self) -> dict[str, Any]:
        """A copy of this scope's variables in mutable collections."""
        self._check_valid()
        result = {}
        for col in self._collection_names():
            if self.is_mutable_collection(col):
                found = self._collection(col)
                if found is not None:
                    result[col] = _copy_dicts(found)
        return result

    def _collection_names(self) -> list[str]:
        return list(self._store.variables)

    # -- variables -----------------------------------------------------------------

    def has_variable(self, col: str, name: str) -> bool:
        """Whether variable ``name`` exists in collection ``col`` of this scope."""
        found = self._collection(col)
        return found is not None and name in found

    def get_variable(self, col: str, name: str, default: Any = None) -> Any:
        """The (boxed) value of a variable, or ``default`` if it does not exist."""
        self._check_valid()
        found = self._collection(col)
        if found is None:
            return default
        return found.get(name, default)

    def put_variable(self, col: str, name: str, value: Any) -> None:
        """Sets variable ``name`` of collection ``col``.

        Raises:
          ModifyScopeVariableError: the collection is immutable.
        """
        self._check_valid()
        if not self.is_mutable_collection(col):
            raise ModifyScopeVariableError(col, name, self.path_text)
        target = self._mutable_collection(col)
        if isinstance(target.get(name), Mapping):
            # A child scope may have cached the dict being replaced.
            self._store.generation += 1
        target[name] = value

    def variable(
        self,
        col: str,
        name: str,
        init_fn: Callable[..., T] | None = None,
        *init_args: Any,
        unbox: bool = True,
        **init_kwargs: Any,
    ) -> Variable[T]:
        """Declares variable ``name`` in ``col``, initialising it if needed.

        Args:
          col: the collection.
          name: the variable's name.
          init_fn: called as ``init_fn(*init_args, **init_kwargs)`` when the variable
            does not exist yet and ``col`` is mutable.
          unbox: whether ``.value`` strips metadata boxes.

        Returns:
          A :class:`Variable` reading and writing the value.

        Raises:
          ScopeCollectionNotFound: the variable is missing and so is the collection.
          ScopeVariableNotFoundError: the variable is missing and cannot be created.
        """
        self.reserve(name, col)
        if not self.has_variable(col, name):
            if not self.is_mutable_collection(col) or init_fn is None:
                if self.is_collection_empty(col):
                    raise ScopeCollectionNotFound(col, name, self.path_text)
                raise ScopeVariableNotFoundError(name, col, self.path_text)
            self.put_variable(col, name, init_fn(*init_args, **init_kwargs))
        return Variable(self, col, name, unbox=unbox)

    def param(
        self,
        name: str,
        init_fn: Callable[..., T],
        *init_args: Any,
        unbox: bool = True,
        **init_kwargs: Any,
    ) -> T:
        """Declares parameter ``name`` and returns its value.

        A new parameter is initialised as ``init_fn(make_rng('params'),
        *init_args, **init_kwargs)``. An existing one is returned as is, after
        checking its shape against what ``init_fn`` would produce.

        Raises:
          ScopeParamShapeError: the existing parameter's shape differs.
          ScopeParamNotFoundError: the parameter is missing and ``params`` is immutable.
          ScopeCollectionNotFound: the ``params`` collection is missing altogether.
        """
        self.reserve(name, "params")
        found = self._collection("params")
        value = _MISSING if found is None else found.get(name, _MISSING)
        if value is not _MISSING:
            expected = _abstract_init_shapes(init_fn, init_args, init_kwargs)
            actual = _shapes(value)
            if actual != expected:
                raise ScopeParamShapeError(name, self.path_text, actual, expected)
        else:
            if not self.is_mutable_collection("params"):
                if self.is_collection_empty("params"):
                    raise ScopeCollectionNotFound("params", name, self.path_text)
                raise ScopeParamNotFoundError(name, self.path_text)
            value = init_fn(self.make_rng("params"), *init_args, **init_kwargs)
            self.put_variable("params", name, value)
        if unbox and isinstance(value, _MAYBE_BOXED):
            value = meta.unbox(value)
        return value

    # -- randomness ----------------------------------------------------------------

    def has_rng(self, name: str) -> bool:
        """Whether stream ``name`` is available (no ``params`` fallback)."""
        return name in self.rngs

    def make_rng(self, name: str = "params") -> Any:
        """A fresh key from stream ``name`` (falling back to ``params``).

        Raises:
          InvalidRngError: neither ``name`` nor ``params`` is available.
        """
        self._check_valid()
        lazy = self.rngs.get(name)
        if lazy is None:
            lazy = self.rngs.get("params")
            if lazy is None:
                raise InvalidRngError(f'{self.name} needs PRNG for "{name}"')
            name = "params"
        counters = self.rng_counters
        count = counters.get(name, 0) + 1
        counters[name] = count
        return fold_path(lazy.rng, lazy.suffix, count)

    def __repr__(self) -> str:
        return f"Scope(path={self.path_text!r}, valid={self._store.valid})"


def _copy_dicts(tree: Any) -> Any:
    if isinstance(tree, Mapping) and not isinstance(tree, meta.AxisMetadata):
        return {k: _copy_dicts(v) for k, v in tree.items()}
    return tree


def _profile_enabled() -> bool:
    return _config._values["flaxen_profile"]
