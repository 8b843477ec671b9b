"""The checks every :class:`LayerCase` runs under: init/apply, jit, vmap, grad, dtypes, oracle."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._case import LayerCase
from ._compare import assert_trees_equal

# The checks test semantics, not speed: compiling without LLVM optimizations
# is 10x faster on CPU (random initializers especially) and gives the same
# results within the checks' tolerances.
_COMPILER_OPTIONS = {"xla_backend_optimization_level": 0}


def compiled(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``jax.jit(fn)``, compiled with cheap compiler options (falling back to the defaults)."""

    def run(*args: Any, **kwargs: Any) -> Any:
        lowered = jax.jit(fn).lower(*args, **kwargs)
        try:
            executable = lowered.compile(compiler_options=_COMPILER_OPTIONS)
        except RuntimeError:  # a backend without the option: compile as usual
            executable = lowered.compile()
        return executable(*args, **kwargs)

    return run


def _is_float(x: Any) -> bool:
    return hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jnp.floating)


def _cast_floats(tree: Any, dtype: Any) -> Any:
    return jax.tree_util.tree_map(lambda x: x.astype(dtype) if _is_float(x) else x, tree)


def _float_leaves(tree: Any) -> list[Any]:
    return [x for x in jax.tree_util.tree_leaves(tree) if _is_float(x)]


def _output(case: LayerCase, result: Any) -> Any:
    """The method's output, without the updated collections."""
    return result[0] if case.mutable else result


def _call_kwargs(case: LayerCase) -> dict[str, Any]:
    kwargs = dict(case.call_kwargs)
    if case.method is not None:
        kwargs["method"] = case.method
    return kwargs


def init(case: LayerCase, nn: Any, module: Any = None, *, jit: bool = False) -> tuple[Any, Any]:
    """Builds the case's module from ``nn`` (unless given) and initializes it.

    With ``jit=True`` the initialization runs as one compiled program (the
    same values, much cheaper than compiling every initializer op).

    >>> from flaxen import linen as nn
    >>> from flaxen.layers.testing import LayerCase, init, normal
    >>> case = LayerCase('Dense/doc', lambda nn: nn.Dense(3), normal(2, 4))
    >>> module, variables = init(case, nn)
    >>> variables['params']['kernel'].shape
    (4, 3)

    Returns:
      ``(module, variables)``.
    """
    module = case.build(nn) if module is None else module
    args, kwargs = case.make_inputs()
    return module, _init_variables(case, module, args, kwargs, jit=jit)


def _init_variables(
    case: LayerCase, module: Any, args: Any, kwargs: Any, *, jit: Any, cast: Any = None
) -> Any:
    static = _call_kwargs(case)

    def run(rngs: Any, args: Any, kwargs: Any) -> Any:
        if cast is not None:
            args, kwargs = _cast_floats((args, kwargs), cast)
        return module.init(rngs, *args, **kwargs, **static)

    rngs = case.init_rngs_dict()
    if jit == "shapes":
        return jax.eval_shape(run, rngs, args, kwargs)
    return (compiled(run) if jit else run)(rngs, args, kwargs)


def apply_fn(case: LayerCase, module: Any) -> Callable[..., Any]:
    """``f(variables, *args, **array_kwargs)``: the case's ``apply`` with its rngs and flags."""
    rngs = case.apply_rngs_dict()
    static = _call_kwargs(case)
    mutable = list(case.mutable) if case.mutable else False

    def apply(variables: Any, *args: Any, **kwargs: Any) -> Any:
        return module.apply(variables, *args, rngs=rngs, mutable=mutable, **kwargs, **static)

    return apply


@functools.lru_cache(maxsize=64)
def _reference(case: LayerCase, nn: Any) -> tuple[Any, Any, Any]:
    """``(module, variables, jitted result)`` of the case, computed once per namespace."""
    module, variables = init(case, nn, jit=True)
    args, kwargs = case.make_inputs()
    result = compiled(apply_fn(case, module))(variables, *args, **kwargs)
    return module, variables, result


def check_init_apply(case: LayerCase, nn: Any) -> Any:
    """``init`` then ``apply`` work (compiled), and the float values are finite.

    Returns:
      The result of ``apply``.
    """
    _, variables, result = _reference(case, nn)
    assert hasattr(variables, "items"), f"{case.name}: init returned {type(variables)}"
    for leaf in _float_leaves(variables):
        assert np.isfinite(np.asarray(leaf, np.float64)).all(), f"{case.name}: non-finite variable"
    for leaf in _float_leaves(_output(case, result)):
        assert np.isfinite(np.asarray(leaf, np.float64)).all(), f"{case.name}: non-finite output"
    return result


def check_jit(case: LayerCase, nn: Any) -> None:
    """``jax.jit(apply)`` gives the eager result (within ``rtol``/``atol``)."""
    module, variables, jitted = _reference(case, nn)
    args, kwargs = case.make_inputs()
    eager = apply_fn(case, module)(variables, *args, **kwargs)
    assert_trees_equal(eager, jitted, rtol=case.rtol, atol=case.atol)


def check_vmap(case: LayerCase, nn: Any) -> None:
    """``vmap`` over the batch axis, one example at a time, equals applying to the batch.

    Each example keeps a batch axis of size 1 inside the vmapped function,
    so layers that need a batch axis work; the vmapped and the batched
    outputs must agree (within ``rtol``/``atol``).
    """
    module, variables, batched = _reference(case, nn)
    args, kwargs = case.make_inputs()
    apply = apply_fn(case, module)

    def one(*example_args: Any, **example_kwargs: Any) -> Any:
        expand = functools.partial(jax.tree_util.tree_map, lambda x: x[None])
        out = _output(case, apply(variables, *expand(example_args), **expand(example_kwargs)))
        return jax.tree_util.tree_map(lambda y: y[0], out)

    per_example = compiled(jax.vmap(one))(*args, **kwargs)
    assert_trees_equal(_output(case, batched), per_example, rtol=case.rtol, atol=case.atol)


def check_grad(case: LayerCase, nn: Any) -> None:
    """Gradients of the summed float outputs w.r.t. params and float inputs are finite."""
    module, variables, _ = _reference(case, nn)
    args, kwargs = case.make_inputs()
    apply = apply_fn(case, module)
    params = variables.get("params", {})
    rest = {k: v for k, v in variables.items() if k != "params"}
    float_args = tuple(a if _is_float(a) else None for a in args)

    def loss(params: Any, float_args: tuple[Any, ...]) -> Any:
        full = tuple(f if f is not None else a for f, a in zip(float_args, args, strict=True))
        out = _output(case, apply({**rest, "params": params}, *full, **kwargs))
        return sum((jnp.sum(y.astype(jnp.float32)) for y in _float_leaves(out)), jnp.zeros(()))

    grads = compiled(jax.grad(loss, argnums=(0, 1)))(params, float_args)
    for leaf in jax.tree_util.tree_leaves(grads):
        assert np.isfinite(np.asarray(leaf, np.float64)).all(), f"{case.name}: non-finite grad"
    param_leaves, param_def = jax.tree_util.tree_flatten(params)
    grad_leaves, grad_def = jax.tree_util.tree_flatten(grads[0])
    assert grad_def == param_def, f"{case.name}: gradient tree {grad_def} != params {param_def}"
    assert [jnp.shape(g) for g in grad_leaves] == [jnp.shape(p) for p in param_leaves]


def with_dtype(case: LayerCase, module: Any, dtype: Any) -> Any:
    """A clone of ``module`` with the case's ``dtype_fields`` (those it has) set to ``dtype``."""
    fields = {f.name for f in dataclasses.fields(module)}
    updates = {name: dtype for name in case.dtype_fields if name in fields}
    return module.clone(**updates) if updates else module


def _check_dtype_variant(
    case: LayerCase, nn: Any, dtype: Any, tol: float, inputs: tuple[Any, Any]
) -> None:
    _, variables32, result32 = _reference(case, nn)
    module = with_dtype(case, case.build(nn), dtype)
    fields = {f.name for f in dataclasses.fields(module)}
    args, kwargs = inputs
    name = jnp.dtype(dtype).name
    # Only the dtypes matter here: trace init without compiling it.
    variables = _init_variables(case, module, args, kwargs, jit="shapes", cast=dtype)
    if "param_dtype" in fields and "param_dtype" in case.dtype_fields:
        for leaf in _float_leaves(variables.get("params", {})):
            assert leaf.dtype == dtype, f"{case.name}: param of dtype {leaf.dtype}, not {name}"
    # The float32 variables in the variant dtype: the outputs must stay close.
    apply = apply_fn(case, module)

    def apply_cast(variables: Any, args: Any, kwargs: Any) -> Any:
        variables, args, kwargs = _cast_floats((variables, args, kwargs), dtype)
        return apply(variables, *args, **kwargs)

    result = compiled(apply_cast)(variables32, args, kwargs)
    outputs, outputs32 = (
        _float_leaves(_output(case, result)),
        _float_leaves(_output(case, result32)),
    )
    assert len(outputs) == len(outputs32), f"{case.name}: output structure changed with {name}"
    for y, y32 in zip(outputs, outputs32, strict=True):
        if "dtype" in fields and "dtype" in case.dtype_fields:
            assert y.dtype == dtype, f"{case.name}: output of dtype {y.dtype}, not {name}"
        expected = np.asarray(y32, np.float64)
        scale = 1.0 + (np.abs(expected).max() if expected.size else 0.0)
        error = np.abs(np.asarray(y, np.float64) - expected).max() if expected.size else 0.0
        assert error <= tol * scale, f"{case.name}: {name} output off by {error} (scale {scale})"


def check_float64(case: LayerCase, nn: Any) -> None:
    """Under ``jax.enable_x64``: float64 params (``param_dtype``), outputs close to float32's."""
    # The float32 reference and the inputs are made without x64: random
    # values drawn under x64 would differ.
    _reference(case, nn)
    inputs = case.make_inputs()
    with jax.enable_x64(True):
        _check_dtype_variant(case, nn, jnp.float64, case.float64_tol, inputs)


def check_bfloat16(case: LayerCase, nn: Any) -> None:
    """bfloat16 params and computation; outputs close to float32's (``bfloat16_tol``)."""
    _check_dtype_variant(case, nn, jnp.bfloat16, case.bfloat16_tol, case.make_inputs())


#: The library-internal checks, by name, in the order :func:`check_layer` runs them.
CHECKS: dict[str, Callable[[LayerCase, Any], Any]] = {
    "init_apply": check_init_apply,
    "jit": check_jit,
    "vmap": check_vmap,
    "grad": check_grad,
    "float64": check_float64,
    "bfloat16": check_bfloat16,
}


def enabled_checks(case: LayerCase) -> list[str]:
    """The names of the checks in :data:`CHECKS` that apply to ``case``."""
    return [name for name in CHECKS if name == "init_apply" or getattr(case, name)]


def check_layer(case: LayerCase, nn: Any) -> None:
    """Runs every check that applies to ``case`` with the namespace ``nn``.

    >>> from flaxen import linen as nn
    >>> from flaxen.layers.testing import LayerCase, check_layer, normal
    >>> check_layer(LayerCase('Dense/doc', lambda nn: nn.Dense(2), normal(2, 3)), nn)

    Raises:
      AssertionError: a check failed (the message names the case).
    """
    for name in enabled_checks(case):
        CHECKS[name](case, nn)


def check_against_oracle(case: LayerCase, nn: Any, oracle_nn: Any) -> None:
    """The case built from ``nn`` behaves like the one built from ``oracle_nn``.

    Variables from ``init`` must be the same tree with the same dtypes and
    the same bits; then each implementation applies its (equal) variables,
    and the outputs (and updated collections) must agree within
    ``compat_rtol``/``compat_atol``, eagerly and under ``jit``. Each applies
    its own variables because metadata boxes (``nn.Partitioned``) are classes
    of their library. Typically ``oracle_nn`` is ``flax.linen``.

    >>> from flaxen import linen as nn
    >>> from flaxen.layers.testing import LayerCase, check_against_oracle, normal
    >>> case = LayerCase('Dense/doc', lambda nn: nn.Dense(2), normal(2, 3))
    >>> check_against_oracle(case, nn, nn)  # an oracle agrees with itself

    Raises:
      AssertionError: listing the differences.
    """
    module, variables = init(case, nn, jit=case.jit)
    oracle, oracle_variables = init(case, oracle_nn, jit=case.jit)
    assert_trees_equal(oracle_variables, variables)
    args, kwargs = case.make_inputs()
    tol = {"rtol": case.compat_rtol, "atol": case.compat_atol}
    expected = apply_fn(case, oracle)(oracle_variables, *args, **kwargs)
    actual = apply_fn(case, module)(variables, *args, **kwargs)
    assert_trees_equal(expected, actual, **tol)
    if case.jit:
        expected = jax.jit(apply_fn(case, oracle))(oracle_variables, *args, **kwargs)
        actual = jax.jit(apply_fn(case, module))(variables, *args, **kwargs)
        assert_trees_equal(expected, actual, **tol)
