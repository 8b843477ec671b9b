"""dtype inference and promotion shared by every layer (Flax's ``flax.linen.dtypes``).

Layers take a computation ``dtype`` (``None`` means "infer it from the inputs
and parameters") and a ``param_dtype``. Before computing, a layer passes its
inputs and parameters through :func:`promote_dtype`, which casts them all to
one dtype: the given one, or the promotion of theirs, made inexact.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import DTypeLike

#: Anything ``jnp.dtype`` accepts as a dtype (a string, a scalar type, a numpy dtype).
Dtype = DTypeLike | Any

_Array = jax.Array


def canonicalize_dtype(*args: Any, dtype: Dtype | None = None, inexact: bool = True) -> Dtype:
    """The dtype that ``args`` should be cast to.

    With ``dtype=None`` the dtype is inferred from the arguments with
    ``jnp.result_type`` (Python scalars are weakly typed, ``None`` arguments
    are ignored); an inferred integer or boolean dtype is promoted with
    float32 when ``inexact`` is True. A given ``dtype`` is returned as it was
    given, after checking that it is inexact when ``inexact`` is True.

    Args:
      *args: JAX-array-compatible values; ``None`` values are ignored.
      dtype: optional override; when given, no inference happens.
      inexact: whether the result must be a real or complex floating dtype.

    Returns:
      The dtype ``args`` should be cast to.

    Raises:
      ValueError: ``dtype`` is given, ``inexact`` is True and ``dtype`` is not
        inexact; or there is nothing to infer the dtype from.

    >>> import jax.numpy as jnp
    >>> from flaxen.layers.dtypes import canonicalize_dtype
    >>> canonicalize_dtype(jnp.ones(2, jnp.int8), jnp.ones(2, jnp.bfloat16))
    dtype(bfloat16)
    >>> canonicalize_dtype(jnp.ones(2, jnp.int32))
    dtype('float32')
    >>> canonicalize_dtype(jnp.ones(2, jnp.int32), inexact=False)
    dtype('int32')
    >>> canonicalize_dtype(jnp.ones(2), dtype=jnp.int32)
    Traceback (most recent call last):
    ...
    ValueError: Dtype must be inexact: <class 'jax.numpy.int32'>
    """
    if dtype is None:
        dtype = _common_dtype(args)
        if inexact and not _is_inexact(dtype):
            dtype = jnp.promote_types(jnp.float32, dtype)
    elif inexact and not _is_inexact(dtype):
        raise ValueError(f"Dtype must be inexact: {dtype}")
    return dtype


def _common_dtype(args: tuple[Any, ...]) -> Any:
    # Fast path for the usual case (strongly typed arrays of one dtype), where
    # ``jnp.result_type`` would return that dtype after a much slower walk.
    common = None
    for x in args:
        if x is None:
            continue
        if (
            not isinstance(x, _Array)
            or x.aval.weak_type
            or (common is not None and x.dtype != common)
        ):
            return jnp.result_type(*[_dtype_source(x) for x in args if x is not None])
        common = x.dtype
    if common is None:
        return jnp.result_type()  # raises jax's "at least one array or dtype is required"
    return common


def _dtype_source(x: Any) -> Any:
    # ``jnp.result_type`` takes arrays, scalars and dtypes; sequences need converting.
    return jnp.asarray(x) if isinstance(x, (list, tuple)) else x


_INEXACT: dict[Any, bool] = {}
_NP_DTYPE: dict[Any, np.dtype] = {}


def _memoized(cache: dict[Any, Any], key: Any, compute: Any) -> Any:
    # dtype checks run on every layer call; numpy/jax answer them slowly.
    try:
        return cache[key]
    except KeyError:
        result = cache[key] = compute(key)
        return result
    except TypeError:  # an unhashable dtype-like
        return compute(key)


def _np_dtype(dtype: Any) -> np.dtype:
    return _memoized(_NP_DTYPE, dtype, np.dtype)


def _is_inexact(dtype: Any) -> bool:
    return _memoized(_INEXACT, dtype, lambda d: bool(jnp.issubdtype(d, jnp.inexact)))


def promote_dtype(*args: Any, dtype: Dtype | None = None, inexact: bool = True) -> list[Any]:
    """Casts every argument to one dtype (see :func:`canonicalize_dtype` for which).

    A convenience wrapper around ``jnp.promote_types``: it casts the inputs,
    lets ``dtype`` override the inference, and can require an inexact result.
    An argument that already has the target dtype is returned as is.

    Args:
      *args: JAX-array-compatible values; ``None`` values are returned as is.
      dtype: optional override; when given, every argument is cast to it.
      inexact: whether the dtype must be a real or complex floating dtype.

    Returns:
      A list with the arguments cast to arrays of the same dtype.

    >>> import jax.numpy as jnp
    >>> from flaxen.layers.dtypes import promote_dtype
    >>> x, w = promote_dtype(jnp.ones(2, jnp.bfloat16), jnp.ones(2, jnp.float32))
    >>> x.dtype, w.dtype
    (dtype('float32'), dtype('float32'))
    >>> [a.dtype for a in promote_dtype(jnp.ones(2), None, dtype=jnp.bfloat16) if a is not None]
    [dtype(bfloat16)]
    """
    dtype = canonicalize_dtype(*args, dtype=dtype, inexact=inexact)
    target = _np_dtype(dtype)
    # ``jnp.asarray`` would return such arrays unchanged anyway (weak types
    # aside); skipping it keeps the per-call cost of every layer low.
    return [
        x
        if x is None or (isinstance(x, _Array) and x.dtype == target and not x.aval.weak_type)
        else jnp.asarray(x, dtype)
        for x in args
    ]
