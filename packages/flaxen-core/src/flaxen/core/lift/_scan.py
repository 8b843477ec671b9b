"""Lifted ``jax.lax.scan`` and ``remat_scan``.

A scan body sees three kinds of collections:

* *scanned* (``variable_axes``): stacked along an axis, one slice per step;
* *carried* (``variable_carry``): threaded through the steps;
* *broadcast* (``variable_broadcast``): the same for every step. They are
  computed once, before the loop, from a first trace of the body: the values
  they get may depend only on other broadcast values and unsplit streams,
  which is checked on the traced program.

Like Flax, the body is traced once before the loop (that first trace draws
from the RNG counters too), then once more by ``jax.lax.scan``. The first
trace is skipped where it could change nothing: no collection is mutable and
no stream is given, as in a plain ``apply``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from flaxen.core._filters import Filter, is_filter_empty
from flaxen.core._partial_eval import evaluate_outputs, unknown_outputs
from flaxen.errors import ScanBroadcastError, ScanCarryStructureError

from ._axes import (
    _Broadcast,
    add_axes,
    remove_axes,
    rng_tree_map,
    split_in_out_axes,
)
from ._jit import checkpoint
from ._pack import ScopeFn, pack


def _is_broadcast_axis(axis: Any) -> bool:
    return axis is None or isinstance(axis, _Broadcast)


def _moveaxis(tree: Any, source: int, destination: int) -> Any:
    if source == destination:
        return tree
    return jax.tree_util.tree_map(lambda x: jnp.moveaxis(x, source, destination), tree)


def _slice_spec(tree: Any) -> Any:
    return jax.tree_util.tree_map(
        lambda x: jax.ShapeDtypeStruct(jnp.shape(x)[1:], jnp.result_type(x)), tree
    )


def scan(
    fn: Callable[..., Any],
    variable_axes: Mapping[Filter, Any] | None = None,
    variable_broadcast: Filter = False,
    variable_carry: Filter = False,
    split_rngs: Mapping[Filter, bool] | None = None,
    in_axes: Any = 0,
    out_axes: Any = 0,
    length: int | None = None,
    reverse: bool = False,
    unroll: int = 1,
    _split_transpose: bool = False,
    data_transform: Callable[..., Any] | None = None,
    metadata_params: dict[Any, Any] | None = None,
    check_constancy_invariants: bool = True,
) -> Callable[..., Any]:
    """Lifted ``jax.lax.scan`` over ``fn(scope, carry, *xs) -> (carry, ys)``.

    Args:
      fn: the loop body.
      variable_axes: collection filter -> axis the collection is scanned along.
      variable_broadcast: collections shared by every step (computed once).
      variable_carry: collections threaded through the steps.
      split_rngs: stream filter -> whether each step gets its own key.
      in_axes: axis of each ``xs`` argument (``broadcast``: passed whole).
      out_axes: axis of the stacked outputs.
      length: the number of steps when no input is scanned.
      reverse: run from the last step to the first.
      unroll: steps unrolled per loop iteration.
      data_transform: ``(variable_groups, rng_groups) -> (variable_groups,
        rng_groups)`` applied inside the body (for sharding annotations).
      metadata_params: passed to ``AxisMetadata.add_axis``/``remove_axis``.
      check_constancy_invariants: accepted for compatibility.

    Returns:
      ``scanned(scope, carry, *xs) -> (carry, ys)``.
    """
    del check_constancy_invariants
    metadata_params = dict(metadata_params or {})
    variable_in, variable_out = split_in_out_axes(dict(variable_axes or {}))
    in_groups, in_var_axes = tuple(variable_in), tuple(variable_in.values())
    out_groups, out_var_axes = tuple(variable_out), tuple(variable_out.values())
    for axis in (*in_var_axes, *out_var_axes):
        if not isinstance(axis, int):
            raise TypeError(f"scan variable_axes must be integers, got {axis!r}.")
    split_rngs = dict(split_rngs or {})
    rng_filters, rng_splits = tuple(split_rngs), tuple(split_rngs.values())

    def inner(scope_fn, repack_fn, variable_groups, rng_groups, init, *args):
        broadcast_vars, carry_vars, *scan_vars = variable_groups
        scan_vars = remove_axes(tuple(scan_vars), in_var_axes, metadata_params)
        axes, axes_treedef = jax.tree_util.tree_flatten(in_axes, is_leaf=_is_broadcast_axis)
        subtrees = axes_treedef.flatten_up_to(args)
        n = length
        for axis, subtree in zip(axes, subtrees):
            leaves = [] if _is_broadcast_axis(axis) else jax.tree_util.tree_leaves(subtree)
            if n is None and leaves:
                n = jnp.shape(leaves[0])[axis]
        for group, axis in zip(scan_vars, in_var_axes):
            leaves = jax.tree_util.tree_leaves(group)
            if n is None and leaves:
                n = jnp.shape(leaves[0])[axis]
        if n is None:
            raise ValueError(
                "scan could not infer its length: no input is scanned over. Pass length=."
            )
        scanned_rngs = tuple(
            rng_tree_map(lambda key: jax.random.split(key, n), group) if split else None
            for group, split in zip(rng_groups, rng_splits)
        )
        fixed_rngs = tuple(None if split else group for group, split in zip(rng_groups, rng_splits))
        scanned_args = tuple(
            None if _is_broadcast_axis(axis) else _moveaxis(subtree, axis, 0)
            for axis, subtree in zip(axes, subtrees)
        )
        broadcast_args = tuple(
            subtree if _is_broadcast_axis(axis) else None for axis, subtree in zip(axes, subtrees)
        )
        scan_vars_front = tuple(
            _moveaxis(group, axis, 0) for group, axis in zip(scan_vars, in_var_axes)
        )

        def rebuild_args(scanned_slices):
            return axes_treedef.unflatten(
                [b if _is_broadcast_axis(a) else s
                 for a, s, b in zip(axes, scanned_slices, broadcast_args)]
            )  # fmt: skip

        def body_fn(broadcast_vars, carry, scan_inputs):
            carry_vars, c = carry
            scan_vars, step_rngs, scanned_slices = scan_inputs
            rngs = tuple(f if s is None else s for f, s in zip(fixed_rngs, step_rngs))
            groups = (broadcast_vars, carry_vars, *scan_vars)
            if data_transform is not None:
                groups, rngs = data_transform(groups, rngs)
            inner_scope = scope_fn(groups, rngs)
            c, y = fn(inner_scope, c, *rebuild_args(scanned_slices))
            out = repack_fn(inner_scope)
            broadcast_out, carry_vars_out, *scan_vars_out = out
            return broadcast_out, (carry_vars_out, c), (y, tuple(scan_vars_out))

        scan_inputs = (scan_vars_front, scanned_rngs, scanned_args)
        carry0 = (carry_vars, init)
        if _pre_pass_observable(scope_fn):
            broadcast_vars = _compute_broadcast(body_fn, broadcast_vars, carry0, scan_inputs)

        def loop_body(carry, step_inputs):
            _, carry, ys = body_fn(broadcast_vars, carry, step_inputs)
            return carry, ys

        scan_kwargs: dict[str, Any] = {}
        if _split_transpose:
            scan_kwargs["_split_transpose"] = True
        (carry_vars, c), (ys, scan_vars_out) = jax.lax.scan(
            loop_body,
            carry0,
            scan_inputs,
            length=n,
            reverse=reverse,
            unroll=unroll,
            **scan_kwargs,
        )
        ys = _move_out_axes(ys, out_axes)
        scan_vars_out = tuple(
            _moveaxis(group, 0, axis) for group, axis in zip(scan_vars_out, out_var_axes)
        )
        scan_vars_out = add_axes(scan_vars_out, out_var_axes, metadata_params)
        return (c, ys), (broadcast_vars, carry_vars, *scan_vars_out)

    return pack(
        inner,
        (variable_broadcast, variable_carry, *in_groups),
        (variable_broadcast, variable_carry, *out_groups),
        rng_filters,
        name="scan",
    )


def _move_out_axes(ys: Any, out_axes: Any) -> Any:
    if isinstance(out_axes, int):
        return _moveaxis(ys, 0, out_axes)
    return jax.tree_util.tree_map(
        lambda axis, y: _moveaxis(y, 0, axis), out_axes, ys, is_leaf=lambda x: x is None
    )


def _pre_pass_observable(scope_fn: ScopeFn) -> bool:
    """Whether the broadcast pre-pass can change anything.

    It computes broadcast variables the body creates or changes, checks that
    the carried variables keep their structure, and advances the RNG counters.
    When no collection is mutable and no stream exists (a plain ``apply``),
    it would do none of these, so the body is traced once instead of twice.
    """
    return any(
        root.rngs or not is_filter_empty(root._store.mutable) for root in scope_fn.outer_roots
    )


def _compute_broadcast(body_fn: Callable, broadcast_vars: Any, carry0: Any, scan_inputs: Any):
    """Traces the body once and evaluates its broadcast outputs outside the loop."""
    slices = _slice_spec(scan_inputs)

    def broadcast_part(broadcast_vars, carry, step_inputs):
        broadcast_out, (carry_vars_out, _), _ = body_fn(broadcast_vars, carry, step_inputs)
        return broadcast_out, carry_vars_out

    closed, (out_shapes, carry_vars_shapes) = jax.make_jaxpr(broadcast_part, return_shape=True)(
        broadcast_vars, carry0, slices
    )
    if jax.tree_util.tree_structure(carry0[0]) != jax.tree_util.tree_structure(carry_vars_shapes):
        before, after = _leaf_paths(carry0[0]), _leaf_paths(carry_vars_shapes)
        raise ScanCarryStructureError(
            [p for p in after if p not in before], [p for p in before if p not in after]
        )
    known_leaves = jax.tree_util.tree_leaves(broadcast_vars)
    n_unknown = len(jax.tree_util.tree_leaves((carry0, slices)))
    out_leaves, out_tree = jax.tree_util.tree_flatten(out_shapes)
    if not out_leaves:
        return broadcast_vars
    unknown = unknown_outputs(closed, [False] * len(known_leaves) + [True] * n_unknown)
    if any(unknown[: len(out_leaves)]):
        paths = _leaf_paths(out_shapes)
        raise ScanBroadcastError([p for p, u in zip(paths, unknown) if u])
    values = evaluate_outputs(
        closed, [*known_leaves, *([None] * n_unknown)], range(len(out_leaves))
    )
    computed = jax.tree_util.tree_unflatten(out_tree, values)
    return tuple({**before, **after} for before, after in zip(broadcast_vars, computed))


def _leaf_paths(groups: Any) -> list[str]:
    """``collection/scope/name`` of every leaf of a tuple of variable groups."""
    return [
        "/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path[1:])
        for path, _ in jax.tree_util.tree_flatten_with_path(groups)[0]
    ]


def remat_scan(
    body_fn: Callable[..., Any],
    lengths: Sequence[int],
    policy: Callable[..., bool] | None = None,
    variable_broadcast: Filter = False,
    variable_carry: Filter = False,
    variable_axes: Mapping[Filter, Any] | None = None,
    split_rngs: Mapping[Filter, bool] | None = None,
) -> Callable[..., Any]:
    """Nested scans of a rematerialized body: ``prod(lengths)`` steps in total.

    Memory for gradients grows like ``n ** (1 / len(lengths))`` and compile
    time is constant in depth.

    Args:
      body_fn: ``body_fn(scope, carry) -> carry``.
      lengths: steps per nesting level.
      policy: a ``jax.checkpoint_policies`` policy.
      variable_broadcast: collections shared by all steps.
      variable_carry: collections threaded through the steps.
      variable_axes: collections scanned (default: all, along axis 0).
      split_rngs: streams split per step (default: all).

    Returns:
      ``looped(scope, carry) -> carry``.
    """
    variable_axes = {True: 0} if variable_axes is None else variable_axes
    split_rngs = {True: True} if split_rngs is None else split_rngs
    scan_fn = functools.partial(
        scan,
        variable_broadcast=variable_broadcast,
        variable_carry=variable_carry,
        variable_axes=variable_axes,
        split_rngs=split_rngs,
    )
    if len(lengths) == 1:

        def wrapper(scope, carry):
            return body_fn(scope, carry), ()

        scanned = scan_fn(checkpoint(wrapper, policy=policy), length=lengths[0])
    else:

        @functools.partial(checkpoint, policy=policy, prevent_cse=False)
        def wrapper(scope, carry):
            carry = remat_scan(
                body_fn,
                lengths[1:],
                policy,
                variable_broadcast,
                variable_carry,
                variable_axes,
                split_rngs,
            )(scope, carry)
            return carry, ()

        scanned = scan_fn(wrapper, length=lengths[0])

    def looped(scope, carry):
        return scanned(scope, carry)[0]

    return looped
