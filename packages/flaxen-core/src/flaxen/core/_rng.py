"""PRNG streams: how a scope derives keys, bit-identical to Flax Linen.

Every scope holds, per stream, the stream's *root key* and a static *suffix*
(the scope names from where the stream was last re-rooted). Entering a child
scope appends the child's name to the suffix; no key arithmetic happens then.
``make_rng`` increments the scope's counter for the stream and returns
``fold_in(root, H(suffix + (counter,)))`` where ``H`` is the first four bytes
(big-endian) of a SHA-1 over the items: strings as UTF-8, integers as their
minimal big-endian bytes. With ``flaxen_fix_rng_separator`` a zero byte
precedes every item.

The SHA-1 state after the suffix is cached, so a draw only hashes its counter.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

import jax
import numpy as np

from flaxen.configurations._flags import config as _config

_fold_in = jax.random.fold_in


class LazyRng:
    """A stream as a scope sees it: a root key and the static path suffix.

    A pytree whose only leaf is the key; the suffix is static, so streams pass
    through ``jax.jit``/``vmap``/``scan`` as ordinary arguments.
    """

    __slots__ = ("rng", "suffix")

    def __init__(self, rng: Any, suffix: tuple[str, ...] = ()) -> None:
        self.rng = rng
        self.suffix = suffix

    def __repr__(self) -> str:
        return f"LazyRng(rng={self.rng!r}, suffix={self.suffix!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LazyRng) and self.suffix == other.suffix and self.rng is other.rng

    __hash__ = None  # type: ignore[assignment]

    def replace_rng(self, rng: Any) -> LazyRng:
        return LazyRng(rng, self.suffix)

    def as_jax_rng(self) -> Any:
        """The key this stream denotes, with the suffix folded in."""
        if not self.suffix:
            return self.rng
        return _fold_in(self.rng, hash_items(self.suffix))

    def fold(self) -> LazyRng:
        """This stream as a fresh root key with an empty suffix."""
        return LazyRng(self.as_jax_rng(), ())


def _item_bytes(item: Any) -> bytes:
    if isinstance(item, str):
        return item.encode("utf-8")
    if isinstance(item, int) and not isinstance(item, bool):
        if item < 0:
            raise ValueError(f"Cannot hash a negative integer into an RNG path: {item}.")
        return item.to_bytes((item.bit_length() + 7) // 8, "big")
    raise ValueError(
        f"RNG paths hold strings and integers only; got {item!r} of type {type(item).__name__}."
    )


@functools.lru_cache(maxsize=16384)
def _suffix_hasher(suffix: tuple[str, ...], separator: bool) -> Any:
    hasher = hashlib.sha1()
    for item in suffix:
        if separator:
            hasher.update(b"\0")
        hasher.update(_item_bytes(item))
    return hasher


def hash_items(items: tuple[Any, ...]) -> int:
    """The uint32 Flax folds into a key for ``items`` (see the module docstring)."""
    separator = _config._values["flaxen_fix_rng_separator"]
    hasher = hashlib.sha1()
    for item in items:
        if separator:
            hasher.update(b"\0")
        hasher.update(_item_bytes(item))
    return int.from_bytes(hasher.digest()[:4], "big")


def fold_path(rng: Any, suffix: tuple[str, ...], counter: int) -> Any:
    """``fold_in(rng, H(suffix + (counter,)))`` with the suffix hash cached."""
    separator = _config._values["flaxen_fix_rng_separator"]
    hasher = _suffix_hasher(suffix, separator).copy()
    if separator:
        hasher.update(b"\0")
    hasher.update(counter.to_bytes((counter.bit_length() + 7) // 8, "big"))
    return _fold_in(rng, int.from_bytes(hasher.digest()[:4], "big"))


def is_prng_key(value: Any) -> bool:
    """Whether ``value`` is a typed key or a raw ``uint32[2]`` PRNGKey."""
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        return False
    if jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
        return True
    return getattr(value, "shape", None) == (2,) and dtype == np.uint32


jax.tree_util.register_pytree_with_keys(
    LazyRng,
    lambda r: (((jax.tree_util.GetAttrKey("rng"), r.rng),), r.suffix),
    lambda suffix, children: LazyRng(children[0], suffix),
    flatten_func=lambda r: ((r.rng,), r.suffix),
)
