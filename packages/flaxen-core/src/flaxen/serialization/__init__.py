"""Serialization utilities: state dicts and the msgpack checkpoint format.

Every flaxen class that carries state (FrozenDict, ``flaxen.struct``
dataclasses, train states, ...) can be turned into a *state dict*, a nested
dict of arrays with string keys (:func:`to_state_dict`), and restored from one
into a template object (:func:`from_state_dict`). :func:`to_bytes` and
:func:`from_bytes` add the msgpack encoding, byte-compatible with Flax's
checkpoints.
"""

from ._msgpack import MAX_CHUNK_SIZE as MAX_CHUNK_SIZE
from ._msgpack import from_bytes as from_bytes
from ._msgpack import msgpack_restore as msgpack_restore
from ._msgpack import msgpack_serialize as msgpack_serialize
from ._msgpack import to_bytes as to_bytes
from ._state_dict import current_path as current_path
from ._state_dict import from_state_dict as from_state_dict
from ._state_dict import is_serializable as is_serializable
from ._state_dict import register_serialization_state as register_serialization_state
from ._state_dict import to_state_dict as to_state_dict
