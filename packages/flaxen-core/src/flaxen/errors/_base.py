"""The common base of every flaxen error."""

from __future__ import annotations

from typing import Any

DOCS_URL = "https://flaxen.readthedocs.io/en/latest"
ERRORS_PAGE = f"{DOCS_URL}/api/errors.html"


def docs_link(class_name: str) -> str:
    """The docs entry of an error class in the flaxen error catalog."""
    return f"{ERRORS_PAGE}#flaxen.errors.{class_name}"


class FlaxenError(Exception):
    """Base class of every error raised by flaxen.

    Subclasses call ``super().__init__(message)`` from their own constructor;
    the constructor arguments are remembered so the error pickles (and
    unpickles) as its own subclass with the same message. The docs link of the
    subclass is appended to the message.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> FlaxenError:
        self = super().__new__(cls, *args)
        self._init_args = args
        self._init_kwargs = kwargs
        return self

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(f"{message} ({docs_link(type(self).__name__)})")

    def __reduce__(self) -> Any:
        if self._init_kwargs:
            return (_rebuild, (type(self), self._init_args, self._init_kwargs))
        return (type(self), self._init_args)

    def __str__(self) -> str:
        # KeyError's __str__ would repr() the message; every flaxen error reads
        # as plain text whatever built-in it also derives from.
        return str(self.args[0]) if self.args else ""


def _rebuild(cls: type[FlaxenError], args: tuple, kwargs: dict) -> FlaxenError:
    return cls(*args, **kwargs)


class FlaxenWarning(UserWarning):
    """Base class of every warning issued by flaxen."""
