"""FLOPs of one Module call, from XLA's cost analysis of the lowered program.

Both numbers are Flax's: ``flops`` is the cost of ``module.apply(variables,
*args, method=..., mutable=...)`` for the call's own variables and inputs;
``vjp_flops`` is the cost of that function's forward pass together with its
VJP applied to a cotangent of its whole output (including the returned
mutable collections). Only array arguments are traced; everything else (flags,
strings, ...) is passed as a static value. A call that cannot be compiled (or
differentiated) costs 0, as in Flax for non-differentiable modules.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

from ._abstract import abstract, is_array


def _cost(fn: Any, *args: Any) -> int:
    # The cost of the lowered (unoptimized) program, as Flax reports it; XLA
    # does not compile anything for it.
    analysis = jax.jit(fn).lower(*args).cost_analysis()
    if isinstance(analysis, list | tuple):
        analysis = analysis[0] if analysis else None
    if not analysis:
        return 0
    return int(analysis.get("flops", 0))


def _cotangent(x: jax.ShapeDtypeStruct) -> jax.ShapeDtypeStruct:
    dtype = x.dtype
    if not (np.issubdtype(dtype, np.inexact) or jax.dtypes.issubdtype(dtype, np.inexact)):
        dtype = jax.dtypes.float0
    return jax.ShapeDtypeStruct(x.shape, dtype)


def _vjp_cost(apply: Any, inputs: tuple[Any, ...]) -> int:
    """Cost of the forward pass and its VJP for a cotangent of the whole output."""
    variables, rngs, *values = inputs
    cotangent = jax.tree_util.tree_map(_cotangent, jax.eval_shape(apply, *inputs))

    def pullback(variables: Any, rngs: Any, ct: Any, *values: Any) -> Any:
        y, pull = jax.vjp(lambda v, *a: apply(v, rngs, *a), variables, *values)
        return y, pull(ct)

    return _cost(pullback, variables, rngs, cotangent, *values)


def call_flops(
    module: Any,
    method: str,
    variables: Mapping[str, Any],
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    rngs: Mapping[str, Any],
    mutable: Any,
    *,
    forward: bool,
    vjp: bool,
) -> tuple[int, int]:
    """``(flops, vjp_flops)`` of ``module.<method>(*args, **kwargs)``; 0 where not asked."""
    leaves, treedef = jax.tree_util.tree_flatten((args, dict(kwargs)))
    dynamic = [i for i, leaf in enumerate(leaves) if is_array(leaf)]
    static = list(leaves)
    clone = module.clone(parent=None)

    def apply(variables: Any, rngs: Any, *values: Any) -> Any:
        filled = list(static)
        for i, value in zip(dynamic, values, strict=True):
            filled[i] = value
        call_args, call_kwargs = jax.tree_util.tree_unflatten(treedef, filled)
        return clone.apply(
            variables, *call_args, rngs=rngs, method=method, mutable=mutable, **call_kwargs
        )

    inputs = (abstract(variables), abstract(rngs), *(abstract(leaves[i]) for i in dynamic))
    flops = vjp_flops = 0
    if forward:
        try:
            flops = _cost(apply, *inputs)
        except Exception:  # noqa: BLE001 - e.g. outputs that are not arrays
            flops = 0
    if vjp:
        try:
            vjp_flops = _vjp_cost(apply, inputs)
        except Exception:  # noqa: BLE001 - not differentiable
            vjp_flops = 0
    return flops, vjp_flops
