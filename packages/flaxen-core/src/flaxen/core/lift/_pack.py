"""``pack``: the one mechanism every lifted transform is built on.

``pack(fn, in_filters, out_filters, rng_filters)`` returns a function of a
scope tree. When called it

1. finds the *root* scopes of the tree (a scope whose ancestor is also being
   lifted is rebuilt from that ancestor rather than lifted twice);
2. groups each root's collections by ``in_filters`` and its streams by
   ``rng_filters`` (a name goes to the first group whose filter matches it;
   unmatched collections and streams are not available inside);
3. calls ``fn(scope_fn, repack_fn, variable_groups, rng_groups, *args)``, where
   ``fn`` typically enters a JAX transform and, inside it, calls
   ``scope_fn(variable_groups, rng_groups)`` to rebuild the scope tree and
   ``repack_fn(scope_tree)`` to collect the variables it changed;
4. writes the variables ``fn`` returns back into the original scopes.

Inner scopes share the outer scopes' RNG counters (so draws continue where the
outer scope left off) and see only the collections lifted into them; a
collection is mutable inside only if it is mutable outside *and* matched by an
output filter.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax

from flaxen.core._filters import (
    DenyList,
    Filter,
    group_collections,
    in_filter,
    intersect_filters,
    union_filters,
)
from flaxen.core._rng import LazyRng
from flaxen.core._scope import Scope, _copy_dicts, _Store

RepackFn = Callable[[Any], tuple[Any, ...]]


def _is_scope(x: Any) -> bool:
    return isinstance(x, Scope)


def _is_ancestor(ancestor: Scope, scope: Scope) -> bool:
    return (
        ancestor._store is scope._store
        and len(ancestor.path) < len(scope.path)
        and scope.path[: len(ancestor.path)] == ancestor.path
    )


class _Lifted:
    """Bookkeeping for one call of a packed function."""

    def __init__(self, scopes: list[Scope]) -> None:
        self.scopes = scopes
        self.roots: list[Scope] = []
        # For every scope: (index of its root, relative path from that root).
        self.placement: list[tuple[int, tuple[str, ...]]] = []
        for scope in scopes:
            scope._check_valid()
        for scope in scopes:
            has_ancestor = any(
                candidate is not scope and _is_ancestor(candidate, scope) for candidate in scopes
            )
            if not has_ancestor and not any(r is scope for r in self.roots):
                self.roots.append(scope)
        for scope in scopes:
            for index, root in enumerate(self.roots):
                if root is scope or _is_ancestor(root, scope):
                    self.placement.append((index, scope.path[len(root.path) :]))
                    break
        self.inner_roots: list[Scope] = []


def copy_counters(entry: tuple[dict[str, int], dict[str, Any]]) -> Any:
    """A deep copy of a scope's counter entry ``(counters, children)``."""
    counters, children = entry
    return dict(counters), {name: copy_counters(child) for name, child in children.items()}


def counter_delta(before: Any, after: Any) -> Any:
    """What draws did to a counter entry: ``after - before``, nested."""
    (counters_before, children_before), (counters_after, children_after) = before, after
    counts = {
        stream: n - counters_before.get(stream, 0)
        for stream, n in counters_after.items()
        if n != counters_before.get(stream, 0)
    }
    children = {}
    for name, child in children_after.items():
        delta = counter_delta(children_before.get(name, ({}, {})), child)
        if delta[0] or delta[1]:
            children[name] = delta
    return counts, children


def add_counter_delta(entry: Any, delta: Any) -> None:
    """Replays ``delta`` on a live counter entry, in place."""
    counters, children = entry
    delta_counts, delta_children = delta
    for stream, n in delta_counts.items():
        counters[stream] = counters.get(stream, 0) + n
    for name, child_delta in delta_children.items():
        child = children.get(name)
        if child is None:
            child = children[name] = ({}, {})
        add_counter_delta(child, child_delta)


def _scope_variables(scope: Scope) -> dict[str, Any]:
    result = {}
    for col in scope._collection_names():
        found = scope._collection(col)
        if found is not None:
            result[col] = found
    return result


def _hashable_filter(f: Filter) -> Any:
    if isinstance(f, DenyList):
        return ("deny", _hashable_filter(f.deny))
    if isinstance(f, (str, bool)):
        return f
    return tuple(sorted(f))


def _hashable_flags(flags: Mapping[str, Any]) -> Any:
    try:
        items = tuple(sorted(flags.items()))
        hash(items)
        return items
    except TypeError:
        return id(flags)


def structure_key(roots: Sequence[Scope], placement: Any, treedef: Any) -> Any:
    """A hashable summary of what rebuilding these scopes depends on."""
    return (
        treedef,
        tuple(placement),
        tuple(
            (
                root.path,
                _hashable_filter(root._store.mutable),
                _hashable_flags(root.flags),
            )
            for root in roots
        ),
    )


class ScopeFn:
    """Rebuilds the lifted scope tree inside a transform (``scope_fn`` of ``pack``).

    Attributes:
      structure_key: hashable; equal for calls whose rebuilt scopes would have
        the same paths, mutability and flags (``jit`` caches traces by it).
      outer_roots: the lifted (outer) root scopes, in group order.
    """

    __slots__ = ("_build", "outer_roots", "structure_key")

    def __init__(self, build: Callable[..., Any], key: Any, outer_roots: Any) -> None:
        self._build = build
        self.structure_key = key
        self.outer_roots = outer_roots

    def __call__(self, variable_groups: Any, rng_groups: Any, mutable: Filter | None = None) -> Any:
        return self._build(variable_groups, rng_groups, mutable)


def pack(
    fn: Callable[..., Any],
    in_variable_filters: Sequence[Filter],
    out_variable_filters: Sequence[Filter],
    rng_filters: Sequence[Filter],
    name: str | None = None,
    enable_kwargs: bool = False,
    fold_rngs: bool = False,
    share_counters: bool = True,
) -> Callable[..., Any]:
    """Lifts ``fn`` so it runs on the variables and streams of a scope tree.

    Args:
      fn: ``fn(scope_fn, repack_fn, variable_groups, rng_groups, *args)``,
        returning ``(output, out_variable_groups)``.
      in_variable_filters: one filter per variable group passed in.
      out_variable_filters: one filter per variable group returned.
      rng_filters: one filter per stream group passed in.
      name: the transform's name (for profiling).
      enable_kwargs: pass keyword arguments through to ``fn``.
      fold_rngs: re-root every lifted stream at ``make_rng(stream)`` of its
        outer scope (empty suffix) before passing it in, as ``jit`` does.
      share_counters: inner scopes draw from the outer scopes' RNG counters
        (the default); when False they start from a copy, so draws inside do
        not move the outer counters (``jit``: a cached trace draws nothing).

    Returns:
      ``wrapper(scope_tree, *args, **kwargs)``.
    """
    in_variable_filters = tuple(in_variable_filters)
    out_variable_filters = tuple(out_variable_filters)
    rng_filters = tuple(rng_filters)
    inner_mutable_filter: Filter = False
    for out_filter in out_variable_filters:
        inner_mutable_filter = union_filters(inner_mutable_filter, out_filter)

    @functools.wraps(fn)
    def wrapper(scope_tree: Any, *args: Any, **kwargs: Any) -> Any:
        if kwargs and not enable_kwargs:
            raise TypeError(
                f"The lifted {name or 'transform'} does not accept keyword arguments;"
                f" got {sorted(kwargs)}. Pass them positionally."
            )
        scopes, treedef = jax.tree_util.tree_flatten(scope_tree, is_leaf=_is_scope)
        lifted = _Lifted(scopes)
        roots = lifted.roots
        per_root_vars = [
            group_collections(_scope_variables(root), in_variable_filters) for root in roots
        ]
        per_root_rngs = [group_collections(root.rngs, rng_filters) for root in roots]
        if fold_rngs:
            per_root_rngs = [
                tuple(
                    {stream: LazyRng(root.make_rng(stream), ()) for stream in group}
                    for group in groups
                )
                for root, groups in zip(roots, per_root_rngs)
            ]
        variable_groups = tuple(
            tuple(groups[i] for groups in per_root_vars) for i in range(len(in_variable_filters))
        )
        rng_groups = tuple(
            tuple(groups[i] for groups in per_root_rngs) for i in range(len(rng_filters))
        )

        def build(
            variable_groups: Sequence[Sequence[Mapping[str, Any]]],
            rng_groups: Sequence[Sequence[Mapping[str, LazyRng]]],
            mutable_override: Filter | None,
        ) -> Any:
            inner_roots = []
            for index, root in enumerate(roots):
                variables: dict[str, Any] = {}
                for group in variable_groups:
                    variables.update(group[index])
                rngs: dict[str, LazyRng] = {}
                for group in rng_groups:
                    rngs.update(group[index])

                mutable = intersect_filters(root._store.mutable, inner_mutable_filter)
                if mutable_override is not None:
                    mutable = intersect_filters(mutable, mutable_override)
                owned = {
                    col: _copy_dicts(tree) if in_filter(mutable, col) else tree
                    for col, tree in variables.items()
                }
                store = _Store(owned, mutable)
                if share_counters:
                    inner = Scope._new_root(store, rngs, root.rng_counters, root.path, root.flags)
                    inner._child_counters = root._child_counters
                else:
                    counters, children = copy_counters((root.rng_counters, root._child_counters))
                    inner = Scope._new_root(store, rngs, counters, root.path, root.flags)
                    inner._child_counters = children
                inner_roots.append(inner)
            lifted.inner_roots.extend(inner_roots)
            inner_scopes = []
            for index, relative in lifted.placement:
                scope = inner_roots[index]
                for part in relative:
                    scope = scope.push(part, reuse=True)
                inner_scopes.append(scope)
            return jax.tree_util.tree_unflatten(treedef, inner_scopes)

        scope_fn = ScopeFn(build, structure_key(roots, lifted.placement, treedef), roots)

        def repack_fn(inner_scope_tree: Any) -> tuple[Any, ...]:
            inner_scopes = jax.tree_util.tree_leaves(inner_scope_tree, is_leaf=_is_scope)
            inner_roots = []
            for index in range(len(roots)):
                for scope, (root_index, _) in zip(inner_scopes, lifted.placement):
                    if root_index == index:
                        inner_roots.append(scope.root)
                        break
            per_root = []
            for inner in inner_roots:
                mutable = {
                    col: tree
                    for col, tree in inner._store.variables.items()
                    if inner.is_mutable_collection(col)
                }
                per_root.append(group_collections(mutable, out_variable_filters))
            return tuple(
                tuple(groups[i] for groups in per_root) for i in range(len(out_variable_filters))
            )

        try:
            y, out_variable_groups = fn(
                scope_fn, repack_fn, variable_groups, rng_groups, *args, **kwargs
            )
        finally:
            for inner in lifted.inner_roots:
                inner.invalidate()
        for group in out_variable_groups:
            for root, collections in zip(roots, group):
                for col, tree in collections.items():
                    if not root.is_mutable_collection(col):
                        continue
                    for var_name, value in tree.items():
                        root.put_variable(col, var_name, value)
        return y

    return wrapper
