"""Lifted ``jax.jit`` and ``jax.checkpoint`` (remat)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

import jax

from flaxen.core._filters import Filter

from ._pack import _is_scope, add_counter_delta, copy_counters, counter_delta, pack


def _as_tuple(x: int | Iterable[int]) -> tuple[int, ...]:
    return (x,) if isinstance(x, int) else tuple(x)


def _frozen_counters(entry: Any) -> Any:
    counters, children = entry
    return (
        tuple(sorted(counters.items())),
        tuple(sorted((name, _frozen_counters(child)) for name, child in children.items())),
    )


class _TraceKey:
    """A static jit argument: compared by scope structure, carries the closures.

    Two calls whose scopes have the same paths, mutability and flags trace to
    the same program, so the second call reuses the compiled one; the
    ``scope_fn``/``repack_fn`` of the call that traces are the ones used.
    """

    __slots__ = ("key", "repack_fn", "scope_fn")

    def __init__(self, key: Any, scope_fn: Any, repack_fn: Any) -> None:
        self.key = key
        self.scope_fn = scope_fn
        self.repack_fn = repack_fn

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _TraceKey) and self.key == other.key


def jit(
    fn: Callable[..., Any],
    variables: Filter = True,
    rngs: Filter = True,
    static_argnums: int | Iterable[int] = (),
    static_argnames: str | Iterable[str] = (),
    donate_argnums: int | Iterable[int] = (),
    device: Any = None,
    backend: str | None = None,
) -> Callable[..., Any]:
    """Lifted ``jax.jit``: compiles ``fn(scope, *args)`` once per scope structure.

    Each lifted stream is first re-rooted at ``scope.make_rng(stream)`` (empty
    suffix), so a jitted scope draws different keys than the same scope
    un-jitted, as in Flax.

    Args:
      fn: ``fn(scope, *args)``.
      variables: the collections lifted into the jitted function.
      rngs: the streams lifted into the jitted function.
      static_argnums: positions in ``args`` (after the scope) that are static.
      static_argnames: keyword arguments that are static.
      donate_argnums: positions in ``args`` whose buffers may be donated.
      device: as for ``jax.jit``.
      backend: as for ``jax.jit``.

    Returns:
      ``jitted(scope, *args)``.
    """
    static_argnums = _as_tuple(static_argnums)
    donate_argnums = _as_tuple(donate_argnums)
    jit_kwargs: dict[str, Any] = {}
    if device is not None:
        jit_kwargs["device"] = device
    if backend is not None:
        jit_kwargs["backend"] = backend

    # Draws inside the jitted function move the RNG counters only while it is
    # traced; the effect of each trace is recorded here and replayed on every
    # call, so a cached call advances the counters exactly as the first did.
    counter_effects: dict[Any, list[Any]] = {}

    @functools.partial(
        jax.jit,
        static_argnums=(0, *(i + 3 for i in static_argnums)),
        static_argnames=static_argnames,
        donate_argnums=tuple(i + 3 for i in donate_argnums),
        **jit_kwargs,
    )
    def jitted(trace_key: _TraceKey, variable_groups, rng_groups, *args, **kwargs):
        scope = trace_key.scope_fn(variable_groups, rng_groups)
        roots = [s.root for s in jax.tree_util.tree_leaves(scope, is_leaf=_is_scope)]
        before = [copy_counters((r.rng_counters, r._child_counters)) for r in roots]
        y = fn(scope, *args, **kwargs)
        counter_effects[trace_key.key] = [
            counter_delta(b, (r.rng_counters, r._child_counters)) for b, r in zip(before, roots)
        ]
        return y, trace_key.repack_fn(scope)

    def inner(scope_fn, repack_fn, variable_groups, rng_groups, *args, **kwargs):
        # The counters are baked into the traced program (as fold_in constants),
        # so they are part of what a trace is reused for.
        counters = tuple(
            _frozen_counters((root.rng_counters, root._child_counters))
            for root in scope_fn.outer_roots
        )
        key = _TraceKey((scope_fn.structure_key, counters), scope_fn, repack_fn)
        result = jitted(key, variable_groups, rng_groups, *args, **kwargs)
        for root, effect in zip(scope_fn.outer_roots, counter_effects.get(key.key, ())):
            add_counter_delta((root.rng_counters, root._child_counters), effect)
        return result

    return pack(
        inner,
        (variables,),
        (variables,),
        (rngs,),
        name="jit",
        enable_kwargs=True,
        fold_rngs=True,
        share_counters=False,
    )


def checkpoint(
    fn: Callable[..., Any],
    variables: Filter = True,
    rngs: Filter = True,
    concrete: bool = False,
    prevent_cse: bool = True,
    static_argnums: int | tuple[int, ...] = (),
    policy: Callable[..., bool] | None = None,
) -> Callable[..., Any]:
    """Lifted ``jax.checkpoint``: recompute ``fn``'s activations on the backward pass.

    Args:
      fn: ``fn(scope, *args)``.
      variables: the collections lifted into the checkpointed function.
      rngs: the streams lifted into it (keys are passed through unchanged).
      concrete: accepted for compatibility; JAX no longer needs it.
      prevent_cse: as for ``jax.checkpoint``.
      static_argnums: positions in ``args`` (after the scope) that are static.
      policy: a ``jax.checkpoint_policies`` policy.

    Returns:
      ``rematted(scope, *args)``.
    """
    del concrete  # jax.checkpoint handles Python control flow on static args itself
    static_argnums = _as_tuple(static_argnums)

    def inner(scope_fn, repack_fn, variable_groups, rng_groups, *args, **kwargs):
        @functools.partial(
            jax.checkpoint,
            prevent_cse=prevent_cse,
            policy=policy,
            static_argnums=tuple(i + 2 for i in static_argnums),
        )
        def rematted(variable_groups, rng_groups, *args, **kwargs):
            scope = scope_fn(variable_groups, rng_groups)
            y = fn(scope, *args, **kwargs)
            return y, repack_fn(scope)

        return rematted(variable_groups, rng_groups, *args, **kwargs)

    return pack(inner, (variables,), (variables,), (rngs,), name="remat", enable_kwargs=True)


remat = checkpoint
