"""Replaying a Module call that repeats an earlier one, instead of tracing it again.

Deep models repeat themselves: the 12 blocks of a transformer are 12 calls
of the same class, with the same attributes, on inputs of the same shapes.
Tracing each of them (initializers, forward pass) is most of the cost of a
summary, yet every repeat produces the same variable shapes, outputs and
nested calls as the first. So the first such call is traced and recorded;
the later ones are *replayed*: their variables are created as zeros of the
recorded shapes, their nested calls are recorded under their own path, and
their output is zeros of the recorded shapes. Only shapes and dtypes matter
under ``jax.eval_shape``, so the summary is the same.

A call is replayed only when it is safe to assume it behaves like the first:

* same class and method, equal attributes (hashable plain values: numbers,
  strings, dtypes, functions, ...), same abstract inputs and static
  arguments, same available RNG streams and scope flags;
* both calls start with an empty scope (the module's first call);
* the first call changed no variable outside its own subtree, and its
  outputs and variables are arrays (no PRNG-key dtypes, no weak types);
* the call is not inside a lifted transform (``nn.scan``, ``nn.vmap``, ...).

A Module whose shapes depend on something else (its name, its parent's
attributes, global state) would be summarized wrongly; set
``FLAXEN_TABULATE_REUSE=0`` or pass ``reuse=False`` to ``summarize`` to trace
every call.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._abstract import abstract

_MISSING = object()
_PLAIN = (type(None), bool, int, float, complex, str, bytes, type, np.dtype, enum.Enum)
_STATIC_OUT = (type(None), bool, int, float, str)


class _Unhashable(Exception):
    pass


def _freeze(value: Any) -> Any:
    """A hashable stand-in for a plain attribute value; raises _Unhashable otherwise."""
    if isinstance(value, _PLAIN):
        return (type(value), value)
    if isinstance(value, tuple | list):
        return (type(value), tuple(_freeze(v) for v in value))
    if isinstance(value, frozenset):
        return (frozenset, frozenset(_freeze(v) for v in value))
    if callable(value) and not dataclasses.is_dataclass(value):
        # Functions (initializers, activations) are compared by identity. A
        # Module instance (a dataclass) is not: it may carry its own state.
        try:
            hash(value)
        except TypeError:
            raise _Unhashable from None
        return ("callable", value)
    raise _Unhashable


_field_cache: dict[type, tuple[str, ...]] = {}


def _fields(cls: type) -> tuple[str, ...]:
    names = _field_cache.get(cls)
    if names is None:
        names = tuple(f.name for f in dataclasses.fields(cls) if f.name not in ("parent", "name"))
        _field_cache[cls] = names
    return names


def _abstract_key(tree: Any) -> Any:
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    key = []
    for leaf in leaves:
        if isinstance(leaf, jax.ShapeDtypeStruct):
            key.append(("array", leaf.shape, leaf.dtype, leaf.weak_type))
        else:
            key.append(_freeze(leaf))
    return treedef, tuple(key)


def _flags_key(flags: Any) -> Any:
    return tuple(sorted((k, _freeze(v)) for k, v in flags.items()))


def _is_plain_array(x: Any) -> bool:
    return (
        isinstance(x, jax.ShapeDtypeStruct)
        and not x.weak_type
        and not jax.dtypes.issubdtype(x.dtype, jax.dtypes.extended)
    )


def _zeros(tree: Any) -> Any:
    return jax.tree_util.tree_map(
        lambda x: jnp.zeros(x.shape, x.dtype) if isinstance(x, jax.ShapeDtypeStruct) else x,
        tree,
    )


def _leaf_count(tree: Any) -> int:
    return len(jax.tree_util.tree_leaves(tree))


@dataclasses.dataclass
class _Recording:
    variables: dict[str, Any]
    outputs: Any
    calls: list[Any]
    depth: int


class Reuse:
    """Decides, per call, whether to trace (and record) it or to replay a recording."""

    def __init__(self, recorder: Any) -> None:
        self.recorder = recorder
        self.recordings: dict[Any, _Recording | None] = {}

    def _key(self, call: Any, scope: Any) -> Any:
        if scope.reservations:
            return None
        module = call.module
        try:
            attributes = tuple(
                (name, _freeze(getattr(module, name))) for name in _fields(type(module))
            )
            key = (
                type(module), call.method, attributes, _abstract_key(call.args),
                _abstract_key(call.kwargs), tuple(sorted(scope.rngs)), _flags_key(scope.flags),
            )  # fmt: skip
            hash(key)
        except (_Unhashable, TypeError):
            return None
        if any(scope.variables().values()):
            return None
        return key

    def call(self, call: Any, scope: Any, next_fun: Any, args: tuple, kwargs: dict) -> Any:
        key = self._key(call, scope)
        if key is None:
            return self.recorder.run(call, next_fun, args, kwargs)
        recording = self.recordings.get(key, _MISSING)
        if recording is _MISSING:
            return self._record(key, call, scope, next_fun, args, kwargs)
        if recording is None:
            return self.recorder.run(call, next_fun, args, kwargs)
        return self._replay(recording, call, scope)

    def _record(
        self, key: Any, call: Any, scope: Any, next_fun: Any, args: tuple, kwargs: dict
    ) -> Any:
        recorder = self.recorder
        root = scope.root
        before = _leaf_count(root.variables())
        start = len(recorder.calls)
        out = recorder.run(call, next_fun, args, kwargs)
        own = scope.variables()
        abstract_own = {col: abstract(tree) for col, tree in own.items() if tree}
        outputs = call.outputs
        ok = (
            _leaf_count(root.variables()) - before == _leaf_count(own)
            and all(_is_plain_array(x) for x in jax.tree_util.tree_leaves(abstract_own))
            and all(
                _is_plain_array(x) or isinstance(x, _STATIC_OUT)
                for x in jax.tree_util.tree_leaves(outputs)
            )
        )
        self.recordings[key] = (
            _Recording(abstract_own, outputs, recorder.calls[start:], len(call.path))
            if ok
            else None
        )
        return out

    def _replay(self, recording: _Recording, call: Any, scope: Any) -> Any:
        for col, tree in recording.variables.items():
            for name, value in tree.items():
                scope.put_variable(col, name, _zeros(value))
        calls = self.recorder.calls
        prefix = call.path
        first, *nested = recording.calls
        calls.append(
            dataclasses.replace(
                first, path=prefix, module=call.module, args=call.args, kwargs=call.kwargs
            )
        )
        for recorded in nested:
            path = prefix + recorded.path[recording.depth :]
            calls.append(dataclasses.replace(recorded, path=path))
        return _zeros(recording.outputs)
