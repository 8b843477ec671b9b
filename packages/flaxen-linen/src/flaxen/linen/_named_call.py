"""Named scopes for profiles: every Module method call shows up as its module's name.

Controlled by the ``flaxen_profile`` flag (on by default).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any

import jax

from flaxen.configurations._flags import config as _config


def enable_named_call() -> None:
    """Wraps Module method calls in ``jax.named_scope`` (the default)."""
    _config.update("flaxen_profile", True)


def disable_named_call() -> None:
    """Stops wrapping Module method calls in ``jax.named_scope``."""
    _config.update("flaxen_profile", False)


@contextlib.contextmanager
def override_named_call(enable: bool = True) -> Iterator[None]:
    """Enables or disables named calls inside a ``with`` block.

    >>> from flaxen import linen as nn
    >>> with nn.override_named_call(False):
    ...   pass
    """
    with _config.temp_flip_flag("flaxen_profile", enable):
        yield


def named_call(class_fn: Callable[..., Any], force: bool = True) -> Callable[..., Any]:
    """Wraps a method so its calls appear as ``<module name>.<method>`` in profiles.

    Args:
      class_fn: a method of a Module class.
      force: name the call even when ``flaxen_profile`` is off.
    """

    @functools.wraps(class_fn)
    def wrapped(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not force and not _config._values["flaxen_profile"]:
            return class_fn(self, *args, **kwargs)
        name = self.__dict__.get("name") or type(self).__name__
        with jax.named_scope(f"{name}.{class_fn.__name__}"):
            return class_fn(self, *args, **kwargs)

    return wrapped
