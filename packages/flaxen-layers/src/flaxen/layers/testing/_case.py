"""``LayerCase``: how to build, feed and check one layer configuration."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp

#: ``build(nn) -> Module``: builds the layer from a Linen namespace (flaxen's or flax's).
Builder = Callable[[Any], Any]
#: ``inputs(key) -> tuple of positional call arguments``.
InputsFn = Callable[[jax.Array], tuple[Any, ...]]


# eq=False: cases compare (and hash) by identity, so checks can cache per case.
@dataclasses.dataclass(frozen=True, eq=False)
class LayerCase:
    """One layer configuration of the conformance table.

    A case says how to build the layer from a Linen namespace (so the same
    case runs with ``flaxen.linen`` and, as an oracle, ``flax.linen``), how to
    make its inputs from a key, and which checks apply. The checks in
    :mod:`flaxen.layers.testing` take a case and a namespace.

    >>> import jax.numpy as jnp
    >>> from flaxen import linen as nn
    >>> from flaxen.layers.testing import LayerCase, check_layer, normal
    >>> case = LayerCase(
    ...     name='Dense/small',
    ...     build=lambda nn: nn.Dense(3),
    ...     inputs=normal(2, 4),
    ... )
    >>> case.covers
    ('Dense',)
    >>> check_layer(case, nn)  # init/apply, jit, vmap, grad, float64, bfloat16

    Attributes:
      name: unique id, ``'<Layer>/<configuration>'`` by convention.
      build: ``build(nn)`` returns the module, built from the namespace ``nn``.
      inputs: ``inputs(key)`` returns the positional call arguments (arrays
        with a leading batch axis unless ``vmap`` is False). Use the helpers
        :func:`normal`, :func:`integers` and :func:`args`.
      kwarg_inputs: optional ``kwarg_inputs(key)`` returning array keyword
        arguments (batched like ``inputs``), e.g. an attention mask.
      call_kwargs: static keyword arguments of every call (init and apply).
      method: the method to call (default ``__call__``).
      covers: the exported names this case exercises; by default the class
        name of the built module. The conformance test fails when an exported
        Module class is covered by no case.
      init_rngs: PRNG streams given to ``init``.
      apply_rngs: PRNG streams given to ``apply`` (e.g. ``('dropout',)``).
      mutable: collections that are mutable in ``apply``; their updates are
        checked like the output.
      jit: whether ``jax.jit(apply)`` must equal eager ``apply``.
      vmap: whether ``vmap`` over the batch axis of the inputs must equal
        applying to the whole batch (False for layers that mix examples,
        like ``BatchNorm`` in training mode).
      grad: whether gradients w.r.t. the float parameters and inputs must be
        finite.
      float64: whether the float64 variant (params and computation) applies.
      bfloat16: whether the bfloat16 variant applies.
      dtype_fields: module fields set to the variant dtype (those the module has).
      compat: whether the case runs against the Flax oracle.
      rtol: relative tolerance of the jit and vmap comparisons.
      atol: absolute tolerance of the jit and vmap comparisons.
      float64_tol: tolerance of float64 against float32 outputs (relative to
        the output's scale).
      bfloat16_tol: tolerance of bfloat16 against float32 outputs (relative
        to the output's scale).
      compat_rtol: relative tolerance of outputs against the oracle
        (variables are always compared bit for bit).
      compat_atol: absolute tolerance of outputs against the oracle.
      seed: the seed of the case's keys (inputs, init and apply keys are
        derived from it).
    """

    name: str
    build: Builder
    inputs: InputsFn
    kwarg_inputs: Callable[[jax.Array], Mapping[str, Any]] | None = None
    call_kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    method: str | None = None
    covers: tuple[str, ...] = ()
    init_rngs: tuple[str, ...] = ("params",)
    apply_rngs: tuple[str, ...] = ()
    mutable: tuple[str, ...] = ()
    jit: bool = True
    vmap: bool = True
    grad: bool = True
    float64: bool = True
    bfloat16: bool = True
    dtype_fields: tuple[str, ...] = ("dtype", "param_dtype")
    compat: bool = True
    rtol: float = 1e-5
    atol: float = 1e-6
    float64_tol: float = 1e-4
    bfloat16_tol: float = 5e-2
    compat_rtol: float = 0.0
    compat_atol: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.covers:
            from flaxen import linen

            object.__setattr__(self, "covers", (type(self.build(linen)).__name__,))

    def keys(self) -> tuple[jax.Array, jax.Array, jax.Array]:
        """The ``(inputs, init, apply)`` keys of the case."""
        return _keys(self.seed)

    def make_inputs(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The positional and keyword array inputs (made once, then cached)."""
        args, kwargs = _inputs(self)
        return args, dict(kwargs)

    def init_rngs_dict(self) -> dict[str, jax.Array]:
        """The keys given to ``init``: one per stream of ``init_rngs``."""
        return dict(_rngs(self.seed, self.init_rngs, 1))

    def apply_rngs_dict(self) -> dict[str, jax.Array] | None:
        """The keys given to ``apply`` (None without ``apply_rngs``)."""
        return dict(_rngs(self.seed, self.apply_rngs, 2)) if self.apply_rngs else None


# Keys and inputs are made once: every fresh jax.random call outside a jit
# compiles, and under jax.enable_x64 it would compile (and draw) anew.
@functools.lru_cache(maxsize=64)
def _keys(seed: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    inputs_key, init_key, apply_key = jax.random.split(jax.random.key(seed), 3)
    return inputs_key, init_key, apply_key


@functools.lru_cache(maxsize=256)
def _rngs(seed: int, streams: tuple[str, ...], which: int) -> tuple[tuple[str, jax.Array], ...]:
    key = _keys(seed)[which]
    return tuple((name, jax.random.fold_in(key, i)) for i, name in enumerate(streams))


@functools.lru_cache(maxsize=256)
def _inputs(case: LayerCase) -> tuple[tuple[Any, ...], tuple[tuple[str, Any], ...]]:
    args_key, kwargs_key = jax.random.split(_keys(case.seed)[0])
    args = tuple(case.inputs(args_key))
    kwargs = dict(case.kwarg_inputs(kwargs_key)) if case.kwarg_inputs is not None else {}
    return args, tuple(kwargs.items())


def normal(*shape: int, dtype: Any = jnp.float32, scale: float = 1.0) -> InputsFn:
    """Inputs: one standard-normal array of ``shape`` (times ``scale``).

    >>> import jax
    >>> from flaxen.layers.testing import normal
    >>> [x.shape for x in normal(2, 3)(jax.random.key(0))]
    [(2, 3)]
    """

    def make(key: jax.Array) -> tuple[Any, ...]:
        return ((scale * jax.random.normal(key, shape, jnp.float32)).astype(dtype),)

    return make


def integers(*shape: int, high: int, low: int = 0, dtype: Any = jnp.int32) -> InputsFn:
    """Inputs: one array of integers in ``[low, high)`` (e.g. token ids).

    >>> import jax
    >>> from flaxen.layers.testing import integers
    >>> (ids,) = integers(2, 3, high=5)(jax.random.key(0))
    >>> ids.shape, str(ids.dtype), bool((ids < 5).all())
    ((2, 3), 'int32', True)
    """

    def make(key: jax.Array) -> tuple[Any, ...]:
        return (jax.random.randint(key, shape, low, high, dtype=dtype),)

    return make


def args(*makers: InputsFn) -> InputsFn:
    """Inputs: the concatenation of several input makers (one key each).

    >>> import jax
    >>> from flaxen.layers.testing import args, integers, normal
    >>> [x.shape for x in args(normal(2, 3), integers(2, high=3))(jax.random.key(0))]
    [(2, 3), (2,)]
    """

    def make(key: jax.Array) -> tuple[Any, ...]:
        keys = jax.random.split(key, len(makers))
        return tuple(x for k, maker in zip(keys, makers, strict=True) for x in maker(k))

    return make


@functools.cache
def _function_layer_class(nn: Any) -> type:
    class FunctionLayer(nn.Module):
        """Applies ``nn.<path>(*args, **kwargs)``: a function in the layer table."""

        function: str
        kwargs: tuple[tuple[str, Any], ...] = ()

        @nn.compact
        def __call__(self, *inputs: Any) -> Any:
            fn = nn
            for part in self.function.split("."):
                fn = getattr(fn, part)
            return fn(*inputs, **dict(self.kwargs))

    return FunctionLayer


def function_layer(nn: Any, path: str, **kwargs: Any) -> Any:
    """A module applying the function ``nn.<path>`` (``'relu'``, ``'pooling.min_pool'``).

    Lets functions (activations, pooling) use the layer checks.

    >>> import jax.numpy as jnp
    >>> from flaxen import linen as nn
    >>> from flaxen.layers.testing import function_layer
    >>> layer = function_layer(nn, 'leaky_relu', negative_slope=0.5)
    >>> layer.apply({}, jnp.array([-2.0, 2.0]))
    Array([-1.,  2.], dtype=float32)
    """
    return _function_layer_class(nn)(function=path, kwargs=tuple(sorted(kwargs.items())))


def function_case(name: str, path: str, inputs: InputsFn, **options: Any) -> LayerCase:
    """A :class:`LayerCase` for a function; ``options`` starting with ``fn_`` go to the function.

    >>> from flaxen.layers.testing import function_case, normal
    >>> case = function_case('gelu/approximate', 'gelu', normal(2, 3), fn_approximate=True)
    >>> case.covers, case.float64
    (('gelu',), True)
    """
    fn_kwargs = {k[3:]: v for k, v in options.items() if k.startswith("fn_")}
    options = {k: v for k, v in options.items() if not k.startswith("fn_")}
    options.setdefault("covers", (path.rsplit(".", 1)[-1],))
    options.setdefault("init_rngs", ())
    return LayerCase(
        name=name,
        build=lambda nn: function_layer(nn, path, **fn_kwargs),
        inputs=inputs,
        **options,
    )
