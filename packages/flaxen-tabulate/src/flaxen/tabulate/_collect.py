"""Running a Module's ``init`` abstractly and recording every Module call.

``init`` runs under ``jax.eval_shape`` (nothing is computed or allocated)
with a method interceptor that records, for each call of a bound Module, its
path, method, inputs and outputs (as shapes and dtypes), and, when asked,
its FLOPs. Calls of a transform's wrapper class (``ScanCell`` around
``Cell``) are not recorded: the call of the wrapped class at the same path
is.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import jax

from flaxen.linen import intercept_methods

from ._abstract import abstract, is_array
from ._flops import call_flops
from ._reuse import Reuse


@dataclasses.dataclass
class Call:
    """One recorded Module method call (shapes and dtypes, no values)."""

    path: tuple[str, ...]
    module: Any
    method: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    outputs: Any = None
    flops: int = 0
    vjp_flops: int = 0


def _is_lifted_wrapper(module: Any, method: str) -> bool:
    return bool(getattr(getattr(type(module), method, None), "lifted", False))


class Recorder:
    """The interceptor that records calls (and replays repeated ones, see :mod:`._reuse`)."""

    def __init__(
        self,
        rngs: Mapping[str, Any],
        mutable: Any,
        compute_flops: bool,
        compute_vjp_flops: bool,
        reuse: bool,
    ) -> None:
        self.calls: list[Call] = []
        self.rngs = rngs
        self.mutable = mutable
        self.flops = compute_flops or compute_vjp_flops
        self.compute_flops = compute_flops
        self.compute_vjp_flops = compute_vjp_flops
        self.reuse = Reuse(self) if reuse else None
        self.lifted_depth = 0
        # Set while the FLOPs of a call are measured: that runs the Module
        # again (apply), and those calls are not part of the summary.
        self.measuring = False

    def __call__(self, next_fun: Any, args: tuple, kwargs: dict, context: Any) -> Any:
        module = context.module
        scope = module.__dict__.get("scope")
        if scope is None or self.measuring:
            return next_fun(*args, **kwargs)
        method = context.method_name
        if method == "setup":
            # Interceptors see setup, but Flax's tables leave it out: the
            # submodules it defines show up when they are called.
            return next_fun(*args, **kwargs)
        if _is_lifted_wrapper(module, method):
            # The wrapped class's call (same path) is recorded instead; inside
            # a transform, calls run in another trace and are never replayed.
            self.lifted_depth += 1
            try:
                return next_fun(*args, **kwargs)
            finally:
                self.lifted_depth -= 1
        call = Call(scope.path, module, method, abstract(args), abstract(kwargs))
        if self.reuse is not None and self.lifted_depth == 0:
            return self.reuse.call(call, scope, next_fun, args, kwargs)
        return self.run(call, next_fun, args, kwargs)

    def run(self, call: Call, next_fun: Any, args: tuple, kwargs: dict) -> Any:
        """Records ``call`` and runs it."""
        self.calls.append(call)
        out = next_fun(*args, **kwargs)
        call.outputs = abstract(out)
        if self.flops:
            self.measuring = True
            try:
                call.flops, call.vjp_flops = call_flops(
                    call.module, call.method, call.module.variables, args, kwargs, self.rngs,
                    self.mutable, forward=self.compute_flops, vjp=self.compute_vjp_flops,
                )  # fmt: skip
            finally:
                self.measuring = False
        return out


def _split_static(tree: Any) -> tuple[list[Any], Any]:
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return leaves, treedef


def collect(
    module: Any,
    rngs: Any,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    *,
    mutable: Any,
    init_kwargs: Mapping[str, Any],
    compute_flops: bool,
    compute_vjp_flops: bool,
    reuse: bool,
) -> tuple[list[Call], dict[str, Any]]:
    """Runs ``module.init`` abstractly; returns the recorded calls and the variables' shapes."""
    if not isinstance(rngs, Mapping):
        rngs = {"params": rngs}
    leaves, treedef = _split_static((rngs, args, dict(kwargs)))
    dynamic = [i for i, leaf in enumerate(leaves) if is_array(leaf)]
    recorder = Recorder(abstract(rngs), mutable, compute_flops, compute_vjp_flops, reuse)

    def run(*values: Any) -> Any:
        filled = list(leaves)
        for i, value in zip(dynamic, values, strict=True):
            filled[i] = value
        rngs, args, kwargs = jax.tree_util.tree_unflatten(treedef, filled)
        with intercept_methods(recorder):
            return module.init(rngs, *args, mutable=mutable, **init_kwargs, **kwargs)

    variables = jax.eval_shape(run, *(abstract(leaves[i]) for i in dynamic))
    return recorder.calls, dict(variables)
