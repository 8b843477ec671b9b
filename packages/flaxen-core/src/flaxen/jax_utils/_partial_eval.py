"""Evaluating what a function's outputs can be without its inputs' values."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import jax
import jax.numpy as jnp

_CALL_PRIMITIVES = ("jit", "pjit", "closed_call", "core_call")


def _abstract_input(spec: Any) -> jax.ShapeDtypeStruct:
    # ``(shape, dtype)`` pairs are told apart from shapes by their first entry
    # being a sequence itself: ``(2, 3)`` is a shape, ``((2, 3), jnp.int8)`` a pair.
    if isinstance(spec, jax.ShapeDtypeStruct):
        return spec
    if not isinstance(spec, Iterable):
        raise TypeError(
            f"An input_spec entry is not iterable: {spec!r}. Give each input as a shape, e.g."
            " (3,), or a (shape, dtype) pair, e.g. ((3,), jnp.int32)."
        )
    if len(spec) == 2 and isinstance(spec[0], Iterable):
        shape, dtype = spec
    else:
        shape, dtype = spec, jnp.float32
    # eval_shape validates the shape and canonicalizes the dtype as jnp.zeros
    # would (float64 is float32 unless x64 is enabled), allocating nothing.
    return jax.eval_shape(lambda: jnp.zeros(tuple(shape), dtype))


def _placeholders(closed: Any, inputs: list[jax.ShapeDtypeStruct]) -> list[Any]:
    # The values of unknown inputs are never read by the equations that known
    # outputs need, except by a nested jit call that also has known outputs:
    # evaluate_outputs binds such a call whole when it has a value for each of
    # its inputs (a None counts as one), so give it zeros in that case. Its
    # known outputs cannot depend on them.
    if any(eqn.primitive.name in _CALL_PRIMITIVES for eqn in closed.jaxpr.eqns):
        return [jnp.zeros(x.shape, x.dtype) for x in inputs]
    return [None] * len(inputs)


def partial_eval_by_shape(
    fn: Callable[..., Any], input_spec: Iterable[Any], *args: Any, **kwargs: Any
) -> Any:
    """Lazily evaluate a function by using the shapes of the inputs.

    Like :func:`jax.eval_shape`, but outputs that can be computed without the
    values of the inputs (constants, values built from the inputs' shapes,
    anything derived from ``args`` and ``kwargs`` alone) are returned as
    concrete values; only the outputs that depend on the input values are
    returned as :class:`jax.ShapeDtypeStruct`. This is how a model can be
    initialized from input shapes without input data or a forward pass.

    ``fn`` is called as ``fn(*inputs, *args, **kwargs)``: ``inputs`` are the
    abstract arrays described by ``input_spec``, while ``args`` and ``kwargs``
    are passed as they are (concrete values, e.g. a PRNG key). Outputs that
    are not JAX values (Python numbers such as ``x.shape[0]``, NumPy arrays
    computed from ``args``) are returned unchanged. Only the operations the
    known outputs need are executed.

    Args:
        fn: the function to be lazily evaluated.
        input_spec: an iterable of shapes or ``(shape, dtype)`` tuples
            specifying the shape and type of the inputs. If unspecified the
            dtype is float32.
        *args: other arguments passed to ``fn`` after the inputs.
        **kwargs: keyword arguments passed to ``fn``.

    Returns:
        The output of ``fn``: concrete values where they do not depend on the
        inputs' values, ``jax.ShapeDtypeStruct`` where they do.

    Example:

        >>> import jax, jax.numpy as jnp
        >>> from flaxen import jax_utils
        >>> def init(x, key):
        ...     w = jax.random.normal(key, (x.shape[-1], 2))
        ...     return {'w': w, 'y': x @ w, 'n': x.shape[0]}
        >>> out = jax_utils.partial_eval_by_shape(init, [(4, 3)], jax.random.key(0))
        >>> out['y'], out['n'], out['w'].shape
        (ShapeDtypeStruct(shape=(4, 2), dtype=float32), 4, (3, 2))
    """
    # Imported here: flaxen.jax_utils' other helpers do not need flaxen.core.
    from flaxen.core._partial_eval import evaluate_outputs, unknown_outputs

    inputs = [_abstract_input(spec) for spec in input_spec]
    static_leaves: dict[int, Any] = {}
    structure: list[Any] = []

    def traced(*values: Any) -> list[Any]:
        leaves, treedef = jax.tree_util.tree_flatten(fn(*values, *args, **kwargs))
        structure.append(treedef)
        dynamic = []
        for i, leaf in enumerate(leaves):
            if isinstance(leaf, jax.core.Tracer):
                dynamic.append(leaf)
            else:
                static_leaves[i] = leaf
        return dynamic

    closed, shapes = jax.make_jaxpr(traced, return_shape=True)(*inputs)
    unknown = unknown_outputs(closed, [True] * len(inputs))
    known = [i for i, u in enumerate(unknown) if not u]
    values = dict(zip(known, evaluate_outputs(closed, _placeholders(closed, inputs), known)))
    dynamic_results = iter(
        values[i] if i in values else jax.ShapeDtypeStruct(s.shape, s.dtype)
        for i, s in enumerate(shapes)
    )
    (treedef,) = structure
    leaves = [
        static_leaves[i] if i in static_leaves else next(dynamic_results)
        for i in range(treedef.num_leaves)
    ]
    return jax.tree_util.tree_unflatten(treedef, leaves)
