"""Evaluating only the part of a traced function that known inputs determine.

Used where Flax semantics need concrete values of *some* outputs of a function
whose other inputs are only shapes: ``lazy_init`` (variables from abstract
inputs, no forward pass), ``scan`` (broadcast variables, computed once outside
the loop) and ``jax_utils.partial_eval_by_shape``.

The function is traced with :func:`jax.make_jaxpr`; unknown-ness is propagated
forward (through nested ``jit`` calls precisely, through other higher-order
primitives conservatively); then only the equations the wanted outputs need
are evaluated. Nested ``jit`` calls run whole (compiled as in eager execution, so
the values are bit-identical to running the function) unless some of their
inputs are unknown, in which case their needed part is inlined.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax.extend import core as jcore

from flaxen.errors import LazyInitError

# remat2 is jax.checkpoint (nn.remat): its body holds the variables to keep.
_CALL_PRIMITIVES = ("jit", "pjit", "closed_call", "core_call", "remat2")


def _sub_jaxpr(eqn: Any) -> Any:
    if eqn.primitive.name in _CALL_PRIMITIVES:
        sub = eqn.params.get("jaxpr") or eqn.params.get("call_jaxpr")
        if sub is not None:
            return sub
    return None


def _as_closed(jaxpr: Any) -> Any:
    if isinstance(jaxpr, jcore.ClosedJaxpr):
        return jaxpr
    return jcore.ClosedJaxpr(jaxpr, ())


def unknown_outputs(closed: Any, unknown_inputs: Sequence[bool]) -> list[bool]:
    """Which outputs of ``closed`` depend on the inputs marked unknown."""
    jaxpr = closed.jaxpr
    unknown: set[Any] = {v for v, u in zip(jaxpr.invars, unknown_inputs) if u}
    for eqn in jaxpr.eqns:
        flags = [not isinstance(v, jcore.Literal) and v in unknown for v in eqn.invars]
        if not any(flags):
            continue
        sub = _sub_jaxpr(eqn)
        if sub is not None:
            out_flags = unknown_outputs(_as_closed(sub), flags)
        else:
            out_flags = [True] * len(eqn.outvars)
        for var, flag in zip(eqn.outvars, out_flags):
            if flag:
                unknown.add(var)
    return [not isinstance(v, jcore.Literal) and v in unknown for v in jaxpr.outvars]


def _literal_value(value: Any) -> Any:
    """A jaxpr literal as the Python or JAX value the traced function produced."""
    for builtin in (bool, int, float, complex):
        if isinstance(value, builtin):
            return builtin(value)
    if isinstance(value, np.ndarray) and type(value) is not np.ndarray:
        return jax.numpy.asarray(np.asarray(value))
    return value


def evaluate_outputs(closed: Any, inputs: Sequence[Any], wanted: Sequence[int]) -> list[Any]:
    """Evaluates outputs ``wanted`` of ``closed``; unneeded inputs may be None."""
    jaxpr = closed.jaxpr
    needed: set[Any] = set()
    for index in wanted:
        var = jaxpr.outvars[index]
        if not isinstance(var, jcore.Literal):
            needed.add(var)
    plan = []
    for eqn in reversed(jaxpr.eqns):
        used = [i for i, v in enumerate(eqn.outvars) if v in needed]
        if not used:
            continue
        plan.append((eqn, used))
        needed.update(v for v in eqn.invars if not isinstance(v, jcore.Literal))
    env: dict[Any, Any] = dict(zip(jaxpr.constvars, closed.consts))
    # Unknown inputs (None) stay out of the environment, so a nested call that
    # takes one is inlined rather than bound whole.
    env.update((var, value) for var, value in zip(jaxpr.invars, inputs) if value is not None)

    def read(var: Any) -> Any:
        return _literal_value(var.val) if isinstance(var, jcore.Literal) else env[var]

    for eqn, used in reversed(plan):
        sub = _sub_jaxpr(eqn)
        all_known = all(isinstance(v, jcore.Literal) or v in env for v in eqn.invars)
        if sub is not None and not all_known:
            # Inline only calls that mix known and unknown inputs; a call with
            # known inputs is bound whole so XLA compiles it exactly as eager
            # execution would (fusion can change the last bits of a result).
            sub_inputs = [
                read(v) if (isinstance(v, jcore.Literal) or v in env) else None for v in eqn.invars
            ]
            results = evaluate_outputs(_as_closed(sub), sub_inputs, used)
            for i, value in zip(used, results):
                env[eqn.outvars[i]] = value
            continue
        invals = [read(v) for v in eqn.invars]
        bind_params = eqn.primitive.get_bind_params(eqn.params)
        subfuns: Any = ()
        if isinstance(bind_params, tuple):  # older JAX: (subfuns, params)
            subfuns, bind_params = bind_params
        context = getattr(getattr(eqn, "ctx", None), "manager", None)
        with context if context is not None else contextlib.nullcontext():
            outvals = eqn.primitive.bind(*subfuns, *invals, **bind_params)
        if not eqn.primitive.multiple_results:
            outvals = [outvals]
        for var, value in zip(eqn.outvars, outvals):
            env[var] = value
    return [read(jaxpr.outvars[i]) for i in wanted]


def _is_abstract(x: Any) -> bool:
    return isinstance(x, jax.ShapeDtypeStruct)


def _is_dynamic(x: Any) -> bool:
    return isinstance(x, (jax.ShapeDtypeStruct, jax.Array, np.ndarray, np.generic))


def eval_known(fn: Any, *args: Any) -> Any:
    """Calls ``fn(*args)`` computing only what the concrete inputs determine.

    Leaves of ``args`` that are ``jax.ShapeDtypeStruct`` are *unknown*: the
    result must not depend on their values (only on their shapes). Arrays are
    known inputs; any other leaf is a static Python value.

    Returns:
      ``fn(*args)`` with every output leaf a concrete value.

    Raises:
      LazyInitError: an output depends on the value of an unknown input.
    """
    leaves, treedef = jax.tree_util.tree_flatten(args, is_leaf=_is_abstract)
    dynamic_positions = [i for i, leaf in enumerate(leaves) if _is_dynamic(leaf)]

    def traced(*dynamic_leaves: Any) -> Any:
        full = list(leaves)
        for position, value in zip(dynamic_positions, dynamic_leaves):
            full[position] = value
        return fn(*treedef.unflatten(full))

    dynamic = [leaves[i] for i in dynamic_positions]
    closed, out_shape = jax.make_jaxpr(traced, return_shape=True)(*dynamic)
    unknown_in = [_is_abstract(x) for x in dynamic]
    out_leaves, out_tree = jax.tree_util.tree_flatten(out_shape)
    flags = unknown_outputs(closed, unknown_in)
    if any(flags):
        position = flags.index(True)
        raise LazyInitError(out_leaves[position])
    values = evaluate_outputs(
        closed, [None if u else x for u, x in zip(unknown_in, dynamic)], range(len(out_leaves))
    )
    return jax.tree_util.tree_unflatten(out_tree, values)
