"""Lifted control flow: ``cond``, ``switch`` and ``while_loop``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import jax

from flaxen.core._filters import Filter
from flaxen.core._scope import Scope
from flaxen.errors import BranchStructureError

from ._axes import rng_tree_map
from ._pack import pack

C = TypeVar("C")


def _branches(
    transform: str,
    branch_fns: Sequence[Callable[..., C]],
    select: Callable[[Sequence[Callable[..., Any]], tuple[Any, ...]], Any],
    scope: Scope,
    operands: tuple[Any, ...],
    variables: Filter,
    rngs: Filter,
) -> C:
    def inner(scope_fn, repack_fn, variable_groups, rng_groups):
        def make_branch(branch_fn):
            def branch(*operands):
                inner_scope = scope_fn(variable_groups, rng_groups)
                y = branch_fn(inner_scope, *operands)
                return y, repack_fn(inner_scope)

            return branch

        try:
            return select([make_branch(f) for f in branch_fns], operands)
        except TypeError as error:
            if "branch" in str(error) or "true_fun" in str(error):
                raise BranchStructureError(transform, str(error)) from error
            raise

    return pack(inner, (variables,), (variables,), (rngs,), name=transform)(scope)


def cond(
    pred: Any,
    true_fun: Callable[..., C],
    false_fun: Callable[..., C],
    scope: Scope,
    *operands: Any,
    variables: Filter = True,
    rngs: Filter = True,
) -> C:
    """Lifted ``jax.lax.cond``; each branch is ``fn(scope, *operands)``.

    Both branches are traced, so variables created or changed in one branch
    must be created or changed the same way in the other.

    Raises:
      BranchStructureError: the branches disagree on outputs or variables.
    """
    return _branches(
        "cond",
        (true_fun, false_fun),
        lambda fns, ops: jax.lax.cond(pred, fns[0], fns[1], *ops),
        scope,
        operands,
        variables,
        rngs,
    )


def switch(
    index: Any,
    branches: Sequence[Callable[..., C]],
    scope: Scope,
    *operands: Any,
    variables: Filter = True,
    rngs: Filter = True,
) -> C:
    """Lifted ``jax.lax.switch``; each branch is ``fn(scope, *operands)``.

    Raises:
      BranchStructureError: the branches disagree on outputs or variables.
    """
    return _branches(
        "switch",
        tuple(branches),
        lambda fns, ops: jax.lax.switch(index, fns, *ops),
        scope,
        operands,
        variables,
        rngs,
    )


def while_loop(
    cond_fn: Callable[[Scope, C], Any],
    body_fn: Callable[[Scope, C], C],
    scope: Scope,
    init: C,
    carry_variables: Filter = False,
    broadcast_variables: Filter = True,
    split_rngs: Mapping[Filter, bool] | None = None,
) -> C:
    """Lifted ``jax.lax.while_loop``.

    ``cond_fn`` sees every lifted collection read-only; ``body_fn`` may update
    the carried collections (their structure, shapes and dtypes must not
    change, so variables cannot be created inside the loop).

    Args:
      cond_fn: ``cond_fn(scope, carry) -> bool``.
      body_fn: ``body_fn(scope, carry) -> carry``.
      scope: the scope lifted into the loop.
      init: the initial carry.
      carry_variables: collections carried through the loop (mutable).
      broadcast_variables: collections closed over (read-only).
      split_rngs: stream filter -> whether each iteration gets its own key.

    Returns:
      The final carry.
    """
    split_rngs = dict(split_rngs or {})
    rng_filters, rng_splits = tuple(split_rngs), tuple(split_rngs.values())

    def inner(scope_fn, repack_fn, variable_groups, rng_groups):
        carry_vars, broadcast_vars = variable_groups

        def loop_rngs(i):
            return tuple(
                rng_tree_map(lambda key: jax.random.fold_in(key, i), group) if split else group
                for group, split in zip(rng_groups, rng_splits)
            )

        def cond_wrapper(state):
            i, carry_vars, carry = state
            inner_scope = scope_fn((carry_vars, broadcast_vars), loop_rngs(i), mutable=False)
            return cond_fn(inner_scope, carry)

        def body_wrapper(state):
            i, carry_vars, carry = state
            inner_scope = scope_fn((carry_vars, broadcast_vars), loop_rngs(i))
            carry = body_fn(inner_scope, carry)
            (carry_vars,) = repack_fn(inner_scope)
            return i + 1, carry_vars, carry

        _, carry_vars, carry = jax.lax.while_loop(cond_wrapper, body_wrapper, (0, carry_vars, init))
        return carry, (carry_vars,)

    return pack(
        inner,
        (carry_variables, broadcast_variables),
        (carry_variables,),
        rng_filters,
        name="while_loop",
    )(scope)
