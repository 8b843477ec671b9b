"""How values appear in the summary: arrays as ``dtype[shape]``, sizes as ``count (bytes)``.

Cells are rich markup. An array (or anything JAX gives a dtype, like a
``jax.ShapeDtypeStruct``) reads ``[dim]float32[/dim][16,9]``; a partitioned
variable adds its axis names (``P('data', None)``); other leaves are their
``repr``. Containers become YAML (see :mod:`._yaml`), and, as in Flax, every
single quote is then dropped from the text.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from flaxen.core.meta import AxisMetadata, Partitioned

from . import _yaml

_SCALARS = (bool, int, float, type(None))
_BYTE_UNITS = ("KB", "MB", "GB")
# numpy dtype kinds JAX has no arrays of: objects, strings, datetimes. (Voids
# are either ml_dtypes' (bfloat16, float8, int4) or structured ones.)
_NON_JAX_KINDS = frozenset("OSUmM")


def _is_jax_void(dtype: Any) -> bool:
    try:
        return jax.dtypes.issubdtype(dtype, np.number) or jax.dtypes.issubdtype(
            dtype, jax.dtypes.extended
        )
    except TypeError:
        return False


def _dtype_and_shape(x: Any) -> tuple[Any, tuple[int, ...]] | None:
    """(dtype, shape) of an array-like, or None for other values."""
    dtype = getattr(x, "dtype", None)
    shape = getattr(x, "shape", None)
    if dtype is not None and isinstance(shape, tuple):
        kind = getattr(dtype, "kind", None)
        if kind in _NON_JAX_KINDS or (kind == "V" and not _is_jax_void(dtype)):
            return None
        # jax arrays, tracers, ShapeDtypeStructs, numpy arrays and scalars;
        # their dtype is canonicalized like JAX would (float64 -> float32).
        try:
            return jax.dtypes.canonicalize_dtype(dtype, allow_extended_dtype=True), shape
        except (TypeError, ValueError):
            return None
    if isinstance(x, _SCALARS):
        return None
    try:
        with warnings.catch_warnings():
            # e.g. "Explicitly requested dtype int64 requested ..." for np.int64
            warnings.simplefilter("ignore")
            dtype = jnp.result_type(x)
    except Exception:  # noqa: BLE001 - anything JAX cannot type is shown by repr
        return None
    return dtype, shape if isinstance(shape, tuple) else ()


def array_markup(dtype: Any, shape: tuple[int, ...]) -> str:
    """``[dim]float32[/dim][16,9]``."""
    return f"[dim]{dtype}[/dim][{','.join(str(d) for d in shape)}]"


def leaf_markup(x: Any) -> str:
    """The cell text of one leaf (before the quotes are dropped)."""
    if isinstance(x, Partitioned):
        found = _dtype_and_shape(x.value)
        inner = array_markup(*found) if found is not None else repr(x.value)
        return f"{inner} [dim]P[/dim]{tuple(x.names)}"
    if isinstance(x, _SCALARS):
        return repr(x)
    found = _dtype_and_shape(x)
    if found is not None:
        return array_markup(*found)
    return repr(x)


def _is_pytree_node(x: Any) -> bool:
    return not jax.tree_util.treedef_is_leaf(jax.tree_util.tree_structure(x))


def _sorted_items(mapping: Mapping[Any, Any]) -> list[tuple[Any, Any]]:
    try:
        return sorted(mapping.items(), key=lambda kv: kv[0])
    except TypeError:
        return sorted(mapping.items(), key=lambda kv: str(kv[0]))


def to_document(x: Any) -> Any:
    """``x`` as nested ``dict``/``list``/``str`` for the YAML writer."""
    if isinstance(x, Partitioned):
        return leaf_markup(x)
    if isinstance(x, AxisMetadata):
        x = x.unbox()
    if isinstance(x, Mapping):
        return {str(k): to_document(v) for k, v in _sorted_items(x)}
    if isinstance(x, list | tuple):
        return [to_document(v) for v in x]
    if dataclasses.is_dataclass(x) and not isinstance(x, type) and _is_pytree_node(x):
        # flax.struct dataclasses (pytrees), not Modules (leaves): every field.
        return {f.name: to_document(getattr(x, f.name)) for f in dataclasses.fields(x)}
    return leaf_markup(x)


def markup(x: Any) -> str:
    """The cell text of a value: a leaf's markup, or YAML for containers."""
    document = to_document(x)
    if isinstance(document, str):
        text = document
    else:
        text = _yaml.dump(document).removesuffix("\n")
    return text.replace("'", "")


def inputs_value(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
    """What the inputs column shows for a call with ``args`` and ``kwargs``."""
    if args and kwargs:
        return (*args, dict(kwargs))
    if kwargs:
        return dict(kwargs)
    if len(args) == 1:
        return args[0]
    return tuple(args)


def value_markup(x: Any) -> str:
    """Inputs or outputs: empty containers show as nothing."""
    if isinstance(x, list | tuple | Mapping) and not x:
        return ""
    return markup(x)


def size_and_bytes(tree: Any) -> tuple[int, int]:
    """Number of elements and bytes of the array leaves of ``tree``."""
    count = nbytes = 0
    for leaf in jax.tree_util.tree_leaves(tree):
        found = _dtype_and_shape(leaf)
        if found is None:
            continue
        dtype, shape = found
        size = math.prod(shape)
        count += size
        nbytes += size * _itemsize(dtype)
    return count, nbytes


def _itemsize(dtype: Any) -> int:
    # Extended dtypes (PRNG keys) carry their own itemsize; int4 counts as a byte.
    itemsize = getattr(dtype, "itemsize", None)
    return itemsize if itemsize is not None else np.dtype(dtype).itemsize


def bytes_repr(nbytes: int) -> str:
    """``'160 B'``, ``'1.3 KB'``, ``'1,000.0 MB'``: decimal units up to GB."""
    if nbytes <= 1000:
        return f"{nbytes:,} B"
    value = nbytes / 1000
    for unit in _BYTE_UNITS[:-1]:
        if value <= 1000:
            return f"{value:,.1f} {unit}"
        value /= 1000
    return f"{value:,.1f} {_BYTE_UNITS[-1]}"


def size_markup(count: int, nbytes: int) -> str:
    """``'40 [dim](160 B)[/dim]'``; nothing for zero elements."""
    if not count:
        return ""
    return f"{count:,} [dim]({bytes_repr(nbytes)})[/dim]"
