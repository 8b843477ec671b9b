"""``init``, ``apply`` and ``bind``: running a function written against a Scope."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from flaxen.configurations._flags import config as _config
from flaxen.errors import (
    ApplyScopeInvalidVariablesStructureError,
    ApplyScopeInvalidVariablesTypeError,
    InvalidRngError,
)

from ._filters import DenyList, Filter, check_filter, in_filter
from ._frozen_dict_support import FrozenDict, raw_dict
from ._partial_eval import eval_known
from ._rng import LazyRng, is_prng_key
from ._scope import Scope, _copy_dicts, _Store

_INVALID_RNGS = {
    "init": "First argument passed to an init function should be a ``jax.PRNGKey`` or a"
    " dictionary mapping strings to ``jax.PRNGKey``.",
    "apply": "The ``rngs`` argument passed to an apply function should be a ``jax.PRNGKey``"
    " or a dictionary mapping strings to ``jax.PRNGKey``.",
}


def _validate_variables(variables: Any) -> dict[str, Any]:
    if not isinstance(variables, Mapping):
        raise ApplyScopeInvalidVariablesTypeError()
    raw = raw_dict(variables)
    for col, tree in raw.items():
        if not isinstance(col, str) or not isinstance(tree, Mapping):
            raise ApplyScopeInvalidVariablesTypeError()
    params = raw.get("params")
    if isinstance(params, Mapping) and "params" in params:
        raise ApplyScopeInvalidVariablesStructureError(variables)
    return raw


def _validate_rngs(rngs: Any, caller: str) -> dict[str, Any]:
    if rngs is None:
        return {}
    valid = (
        all(isinstance(name, str) and is_prng_key(key) for name, key in rngs.items())
        if isinstance(rngs, Mapping)
        else caller != "bind" and is_prng_key(rngs)
    )
    if not valid:
        if caller == "bind":
            raise InvalidRngError("rngs should be a dictionary mapping strings to `jax.PRNGKey`.")
        raise ValueError(_INVALID_RNGS[caller])
    return dict(rngs) if isinstance(rngs, Mapping) else {"params": rngs}


def make_root(
    variables: Mapping[str, Any],
    rngs: Mapping[str, Any] | None,
    mutable: Filter,
    flags: Mapping[str, Any] | None = None,
    caller: str = "apply",
) -> Scope:
    """A root scope over validated ``variables``; mutable collections are copied.

    The dict structure of mutable collections is copied so the caller's
    variables are never changed; immutable collections are read in place.
    """
    check_filter(mutable)
    raw = _validate_variables(variables)
    owned = {
        col: _copy_dicts(tree) if in_filter(mutable, col) else raw_dict(tree)
        for col, tree in raw.items()
    }
    root = Scope._new_root(
        _Store(owned, mutable),
        {k: LazyRng(v, ()) for k, v in _validate_rngs(rngs, caller).items()},
        None,
        (),
        dict(flags) if flags else {},
    )
    return root


def _output(tree: dict[str, Any]) -> Any:
    if _config._values["flaxen_return_frozendict"]:
        return FrozenDict._from_owned(tree)
    return tree


def owned_mutable_variables(root: Scope) -> dict[str, Any]:
    """The root's mutable collections, handed over without copying.

    Only valid once the root's lifetime has ended: the store owns these dicts
    and nobody writes to them afterwards.
    """
    store = root._store
    return {col: tree for col, tree in store.variables.items() if root.is_mutable_collection(col)}


def apply(
    fn: Callable[..., Any],
    mutable: Filter = False,
    flags: Mapping[str, Any] | None = None,
) -> Callable[..., Any]:
    """Turns ``fn(scope, *args)`` into ``apply_fn(variables, *args, rngs=None)``.

    Args:
      fn: a function whose first argument is a :class:`Scope`.
      mutable: the collections ``fn`` may change; when not ``False`` the result
        is ``(output, changed_collections)``.
      flags: settings made available as ``scope.flags``.

    Returns:
      The apply function.

    >>> import jax, jax.numpy as jnp
    >>> from flaxen.core import apply
    >>> def scale(scope, x):
    ...   return x * scope.param('s', jax.nn.initializers.ones, ())
    >>> apply(scale)({'params': {'s': 3.0}}, jnp.ones(2))
    Array([3., 3.], dtype=float32)
    """

    @functools.wraps(fn)
    def wrapper(
        variables: Mapping[str, Any],
        *args: Any,
        rngs: Mapping[str, Any] | Any | None = None,
        **kwargs: Any,
    ) -> Any:
        root = make_root(variables, rngs, mutable, flags)
        try:
            y = fn(root, *args, **kwargs)
        finally:
            root.invalidate()
        if mutable is not False:
            return y, _output(owned_mutable_variables(root))
        return y

    return wrapper


def init(
    fn: Callable[..., Any],
    mutable: Filter = True,
    flags: Mapping[str, Any] | None = None,
) -> Callable[..., Any]:
    """Turns ``fn(scope, *args)`` into ``init_fn(rngs, *args) -> (output, variables)``.

    ``rngs`` is a key (meaning ``{'params': key}``) or a dict of keys.

    >>> import jax, jax.numpy as jnp
    >>> from flaxen.core import init
    >>> def scale(scope, x):
    ...   return x * scope.param('s', jax.nn.initializers.ones, ())
    >>> y, variables = init(scale)(jax.random.key(0), jnp.ones(2))
    >>> variables
    {'params': {'s': Array(1., dtype=float32)}}
    """

    @functools.wraps(fn)
    def wrapper(rngs: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        if rngs is None:
            raise ValueError(_INVALID_RNGS["init"])
        rngs = _validate_rngs(rngs, "init")
        init_flags = {**(flags or {}), "initializing": True}
        return apply(fn, mutable=mutable, flags=init_flags)({}, *args, rngs=rngs, **kwargs)

    return wrapper


def bind(
    variables: Mapping[str, Any],
    rngs: Mapping[str, Any] | None = None,
    mutable: Filter = False,
    flags: Mapping[str, Any] | None = None,
) -> Scope:
    """A root scope over ``variables`` whose lifetime never ends (interactive use).

    >>> from flaxen.core import bind
    >>> scope = bind({'params': {'w': 1.0}})
    >>> scope.get_variable('params', 'w')
    1.0
    """
    return make_root(variables, rngs, mutable, flags, caller="bind")


def lazy_init(
    fn: Callable[..., Any],
    mutable: Filter = True,
    flags: Mapping[str, Any] | None = None,
) -> Callable[..., Any]:
    """Like :func:`init`, but arguments may be ``jax.ShapeDtypeStruct``.

    Only the computations the variables need are run: the forward pass costs
    nothing. The variables must not depend on the values of abstract inputs.

    >>> import jax, jax.numpy as jnp
    >>> from flaxen.core import lazy_init
    >>> def dense(scope, x):
    ...   return x @ scope.param('w', jax.nn.initializers.ones, (x.shape[-1], 2))
    >>> spec = jax.ShapeDtypeStruct((1, 3), jnp.float32)
    >>> lazy_init(dense)(jax.random.key(0), spec)['params']['w'].shape
    (3, 2)
    """

    @functools.wraps(fn)
    def wrapper(rngs: Any, *args: Any, **kwargs: Any) -> Any:
        def variables_of(rngs: Any, args: tuple, kwargs: dict) -> Any:
            return init(fn, mutable=mutable, flags=flags)(rngs, *args, **kwargs)[1]

        return eval_known(variables_of, rngs, args, kwargs)

    return wrapper


DEFAULT_INIT_MUTABLE = DenyList("intermediates")
