"""msgpack serialization of state dicts, byte-compatible with Flax checkpoints."""

from __future__ import annotations

import sys
from typing import Any

from ._decode import restore
from ._encode import Encoder
from ._state_dict import from_state_dict, to_state_dict

MAX_CHUNK_SIZE = 2**30
"""Arrays of more bytes than this are written in chunks (see ``msgpack_serialize``).

Read when ``msgpack_serialize`` runs, from the ``flaxen.serialization``
module: assign ``flaxen.serialization.MAX_CHUNK_SIZE`` to change it.
"""


def _max_chunk_size() -> int:
    package = sys.modules.get(__package__ or "")
    return getattr(package, "MAX_CHUNK_SIZE", MAX_CHUNK_SIZE)


def msgpack_serialize(pytree: Any, in_place: bool = False) -> bytes:
    """Save data structure to bytes in msgpack format.

    Low-level function that only supports python trees with array leaves,
    for custom objects use :func:`to_bytes`. It splits arrays above
    ``MAX_CHUNK_SIZE`` bytes into multiple chunks. The output is the format
    Flax writes, byte for byte; array data is copied once, into the result.

    Args:
        pytree: python tree of dict, list, str, bytes, int, float, bool,
            ``None``, complex, numpy/jax array and numpy scalar leaves.
        in_place: with ``False`` (the default) dict keys are written in sorted
            order, as Flax does after copying the tree; with ``True`` in
            insertion order. flaxen never modifies ``pytree`` either way.

    Returns:
        msgpack-encoded bytes of ``pytree``.

    Raises:
        MsgpackSerializeError: the tree holds an object the format cannot
            represent (a tuple, an object array, an int beyond 64 bits...).

    Example:

        >>> import numpy as np
        >>> from flaxen import serialization
        >>> data = serialization.msgpack_serialize({'b': 1, 'a': np.arange(2)})
        >>> serialization.msgpack_restore(data)
        {'a': array([0, 1]), 'b': 1}
    """
    encoder = Encoder(sort_keys=not in_place, max_chunk_size=_max_chunk_size())
    encoder.encode(pytree, chunkable=True)
    return b"".join(encoder.parts)


def msgpack_restore(encoded_pytree: bytes) -> Any:
    """Restore data structure from bytes in msgpack format.

    Low-level function that only supports python trees with array leaves,
    for custom objects use :func:`from_bytes`. Safe on untrusted input: it
    never runs code from the data and refuses anything malformed.

    Restored arrays are read-only numpy arrays that share memory with
    ``encoded_pytree`` (a non-``bytes`` input is copied once first); arrays
    that were written in chunks are joined into new arrays.

    Args:
        encoded_pytree: msgpack-encoded bytes of python tree.

    Returns:
        Python tree of dict, list, str, bytes, numbers, booleans, ``None``
        and numpy array/scalar leaves (plus ``msgpack.ExtType`` and
        ``msgpack.Timestamp`` for extension types Flax does not define).

    Raises:
        MsgpackRestoreError: the input is not valid data in this format.

    Example:

        >>> from flaxen import serialization
        >>> serialization.msgpack_restore(b'\\x81\\xa1a\\x01')
        {'a': 1}
    """
    return restore(encoded_pytree)


def to_bytes(target: Any) -> bytes:
    """Save optimizer or other object as msgpack-serialized state-dict.

    Args:
        target: template object with state-dict registrations to be
            serialized to msgpack format. Typically a flaxen model's
            variables, a train state or a struct dataclass.

    Returns:
        Bytes of msgpack-encoded state-dict of target object.

    Example:

        >>> import numpy as np
        >>> from flaxen import serialization
        >>> target = {'params': {'w': np.zeros(2)}, 'step': 0}
        >>> data = serialization.to_bytes({'params': {'w': np.ones(2)}, 'step': 3})
        >>> serialization.from_bytes(target, data)
        {'params': {'w': array([1., 1.])}, 'step': 3}
    """
    state_dict = to_state_dict(target)
    return msgpack_serialize(state_dict, in_place=True)


def from_bytes(target: Any, encoded_bytes: bytes) -> Any:
    """Restore optimizer or other object from msgpack-serialized state-dict.

    Args:
        target: template object with state-dict registrations that matches
            the structure being deserialized from ``encoded_bytes``.
        encoded_bytes: msgpack serialized object structurally isomorphic to
            ``target``. Typically a flaxen model's variables or train state.

    Returns:
        A new object structurally isomorphic to ``target`` containing the
        updated leaf data from saved data.

    Raises:
        MsgpackRestoreError: ``encoded_bytes`` is not valid msgpack data.
        StateDictMismatchError: the data does not have the structure of
            ``target``.
    """
    state_dict = msgpack_restore(encoded_bytes)
    return from_state_dict(target, state_dict)
