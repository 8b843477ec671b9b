"""Type aliases shared by the layer modules (Flax's ``flax.typing`` names for them)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Union

import jax
from jax import lax

from ._dtypes import Dtype as Dtype
from ._initializers import Initializer as Initializer

Array = jax.Array
PRNGKey = jax.Array
Shape = Sequence[int]

#: ``precision`` of ``lax.dot_general`` / ``lax.conv_general_dilated``.
PrecisionLike = Union[  # noqa: UP007
    None, str, lax.Precision, tuple[str, str], tuple[lax.Precision, lax.Precision]
]
#: A replacement for ``lax.dot_general`` (same signature).
DotGeneralT = Callable[..., Array]
#: A replacement for ``lax.conv_general_dilated`` (same signature).
ConvGeneralDilatedT = Callable[..., Array]
#: Padding a layer accepts: a string, an int, or per-dimension ints or ``(low, high)`` pairs.
PaddingLike = Union[str, int, Sequence[Union[int, tuple[int, int]]]]  # noqa: UP007
#: Padding ``lax`` accepts: a string or per-dimension ``(low, high)`` pairs.
LaxPadding = Union[str, Sequence[tuple[int, int]]]  # noqa: UP007
#: ``promote_dtype(*arrays, dtype=...) -> list of arrays``.
PromoteDtypeFn = Callable[..., Any]
