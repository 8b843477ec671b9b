"""The common base of every flaxen error."""

from __future__ import annotations

from typing import Any

DOCS_URL = "https://flaxen.readthedocs.io/en/latest"
ERRORS_PAGE = f"{DOCS_URL}/api/errors.html"


def docs_link(class_name: str) -> str:
    """The docs entry of an error class in the flaxen error catalog."""
    return f"{ERRORS_PAGE}#flaxen.errors.{class_name}"


class _RecordsArguments(Exception):
    # Kept apart from FlaxenError so that inspect.signature(FlaxenError) shows
    # __init__(message) rather than this catch-all __new__.
    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        self = super().__new__(cls, *args)
        self._init_args = args
        self._init_kwargs = kwargs
        return self


class FlaxenError(_RecordsArguments):
    """Base class of every error raised by flaxen.

    Subclasses call ``super().__init__(message)`` from their own constructor;
    the constructor arguments are remembered so the error pickles (and
    unpickles) as its own subclass with the same message. The docs link of the
    subclass is appended to the message.
    """

    def __init__(self, message: str) -> None:
        self.message = message
        text = f"{message} ({docs_link(type(self).__name__)})"
        super().__init__(text)
        # OSError (behind FileExistsError) takes its args in __new__ when a
        # subclass overrides __new__, and then ignores __init__: set them here.
        self.args = (text,)

    def __reduce__(self) -> Any:
        # Rebuilt from the constructor arguments, so the message and the
        # attributes come back exactly; the instance dict rides along as state
        # so that anything added later (``add_note``, attributes set by the
        # raiser) survives too.
        state = {k: v for k, v in self.__dict__.items() if k not in _REBUILT}
        return (_rebuild, (type(self), self._init_args, self._init_kwargs), state or None)

    def __str__(self) -> str:
        # KeyError's __str__ would repr() the message; every flaxen error reads
        # as plain text whatever built-in it also derives from.
        return str(self.args[0]) if self.args else ""


_REBUILT = frozenset({"_init_args", "_init_kwargs", "message"})


def _rebuild(cls: type[FlaxenError], args: tuple, kwargs: dict) -> FlaxenError:
    return cls(*args, **kwargs)


class FlaxenWarning(UserWarning):
    """Base class of every warning issued by flaxen."""
