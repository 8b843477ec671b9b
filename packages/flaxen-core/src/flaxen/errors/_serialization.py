"""Errors of ``flaxen.serialization``: state dicts and the msgpack format.

Flax raises plain ``ValueError``/``TypeError`` for these; flaxen gives each
failure its own class, still deriving from the built-in Flax raised, so
ported ``except`` clauses keep working.
"""

from __future__ import annotations

from ._base import FlaxenError


class StateDictMismatchError(FlaxenError, ValueError):
    """A state dict does not have the structure of the restore target.

    :func:`flaxen.serialization.from_state_dict` (and ``from_bytes``) walk the
    target and look up each of its branches in the state dict: a key the
    target has and the state lacks, a list of another length, a struct field
    that is missing or unknown all raise this error. The message names the
    path of the branch (see :func:`flaxen.serialization.current_path`).

    .. code-block:: python

      serialization.from_state_dict({'a': 0, 'b': 0}, {'a': 1})          # wrong
      serialization.from_state_dict({'a': 0, 'b': 0}, {'a': 1, 'b': 2})  # right

    Attributes:
      detail: what did not match, with the path.
    """

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(
            f"{detail}; restore into a target with the same structure as the saved"
            " state (same keys, list lengths and struct fields), or convert the state"
            " dict to the new structure before restoring it."
        )


class SerializationHandlerExistsError(FlaxenError, ValueError):
    """A type is registered for serialization twice.

    :func:`flaxen.serialization.register_serialization_state` refuses to
    replace the handlers of a type unless asked to.

    .. code-block:: python

      register_serialization_state(MyType, to_sd, from_sd)                 # again: error
      register_serialization_state(MyType, to_sd, from_sd, override=True)  # replaces

    Attributes:
      type_name: the name of the type.
    """

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name
        super().__init__(
            f'a serialization handler for "{type_name}" is already registered. Pass'
            " override=True to register_serialization_state() to replace it."
        )


class MsgpackSerializeError(FlaxenError, TypeError, ValueError):
    """An object cannot be written in the msgpack format.

    :func:`flaxen.serialization.msgpack_serialize` writes dicts, lists,
    strings, bytes, numbers, booleans, ``None``, complex numbers, numpy and
    jax arrays of numeric, boolean or datetime dtypes, and numpy scalars of
    those dtypes. Tuples and other containers have to go through
    :func:`flaxen.serialization.to_bytes`, which turns registered types into
    state dicts first.

    .. code-block:: python

      serialization.msgpack_serialize({'a': (1, 2)})  # wrong: a tuple
      serialization.to_bytes({'a': (1, 2)})           # right

    Attributes:
      reason: what could not be written and why.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class MsgpackRestoreError(FlaxenError, ValueError):
    """Bytes given to ``msgpack_restore``/``from_bytes`` are not a valid checkpoint.

    The input is truncated, has trailing bytes, is not msgpack, or holds an
    array whose header does not describe its data (unknown or unsafe dtype,
    shape that does not match the number of bytes). Restoring never runs code
    from the input; anything it cannot read safely raises this error. Check
    that the file was written completely by ``to_bytes``/``msgpack_serialize``
    (of flaxen or Flax) and was not modified since.

    Attributes:
      reason: what was wrong and where (byte offset) in the input.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(
            f"Cannot restore msgpack data: {reason}. The input is not a complete,"
            " unmodified output of to_bytes() or msgpack_serialize(); check that the"
            " file was written completely and is the one you meant to read."
        )
