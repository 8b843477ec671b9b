"""Global flags, each overridable from the environment (``FLAXEN_<NAME>``)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")

PREFIX = "flaxen_"
_TRUE = ("y", "yes", "t", "true", "on", "1")
_FALSE = ("n", "no", "f", "false", "off", "0")


def static_bool_env(varname: str, default: bool) -> bool:
    """Reads an environment variable as a boolean.

    True values are (case insensitive) 'y', 'yes', 't', 'true', 'on' and '1';
    false values 'n', 'no', 'f', 'false', 'off' and '0'.

    Args:
      varname: the environment variable to read.
      default: the value when the variable is unset.

    Returns:
      The boolean value.

    Raises:
      ValueError: the variable holds anything else.

    >>> static_bool_env("FLAXEN_SOME_UNSET_VARIABLE", True)
    True
    """
    raw = os.environ.get(varname)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(
        f"Invalid value {raw!r} for environment variable {varname!r}: use one of"
        f" {_TRUE} or {_FALSE}."
    )


def static_int_env(varname: str, default: int | None) -> int | None:
    """Reads an environment variable as an integer ('none' or unset: default)."""
    raw = os.environ.get(varname)
    if raw is None or raw.strip().lower() in ("", "none"):
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(
            f"Invalid value {raw!r} for environment variable {varname!r}: expected an integer."
        ) from None


class FlagHolder(Generic[T]):
    """A handle on one flag; ``holder.value`` reads its current value."""

    __slots__ = ("_config", "name")

    def __init__(self, config: Config, name: str):
        self._config = config
        self.name = name

    @property
    def value(self) -> T:
        return self._config._values[self.name]

    def __bool__(self) -> bool:
        raise TypeError(
            f"A FlagHolder is not a boolean; read {self.name}.value or config.{self.name}."
        )

    def __repr__(self) -> str:
        return f"FlagHolder({self.name}={self.value!r})"


class Config:
    """The flag store behind :mod:`flaxen.config`.

    Flags are read as attributes (``config.flaxen_profile``) and changed with
    :meth:`update`. Names may be given with or without the ``flaxen_`` prefix;
    Flax's ``flax_`` spelling is accepted too, so ported code keeps working.
    """

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}
        self._help: dict[str, str] = {}
        self._types: dict[str, type] = {}

    def _canonical(self, name: str) -> str:
        if name.startswith("flax_") and not name.startswith(PREFIX):
            name = PREFIX + name[len("flax_") :]
        elif not name.startswith(PREFIX):
            name = PREFIX + name
        if name not in self._values:
            raise LookupError(
                f"Unrecognized config option: {name}. Known options: {sorted(self._values)}."
            )
        return name

    def _define(self, name: str, kind: type, default: Any, help: str) -> FlagHolder:
        if not name.startswith(PREFIX):
            raise ValueError(f"Flag names start with {PREFIX!r}, got {name!r}.")
        if name in self._values:
            raise ValueError(f"Flag {name} is defined twice.")
        env = name.upper()
        if kind is bool:
            value = static_bool_env(env, default)
        else:
            value = static_int_env(env, default)
        self._values[name] = value
        self._help[name] = help
        self._types[name] = kind
        return FlagHolder(self, name)

    def update(self, name_or_holder: str | FlagHolder, value: Any, /) -> None:
        """Sets a flag for the rest of the process.

        Args:
          name_or_holder: the flag's name (``'flaxen_profile'``) or its holder.
          value: the new value.

        Raises:
          LookupError: no flag has that name.
        """
        name = (
            name_or_holder.name
            if isinstance(name_or_holder, FlagHolder)
            else self._canonical(name_or_holder)
        )
        if self._types[name] is bool and not isinstance(value, (bool, int)):
            raise TypeError(f"Flag {name} takes a bool, got {value!r}.")
        self._values[name] = value

    @contextlib.contextmanager
    def temp_flip_flag(self, var_name: str, var_value: bool) -> Iterator[None]:
        """Sets a flag inside a ``with`` block and restores it afterwards.

        >>> from flaxen import config
        >>> with config.temp_flip_flag('return_frozendict', True):
        ...   config.flaxen_return_frozendict
        True
        >>> config.flaxen_return_frozendict
        False
        """
        name = self._canonical(var_name)
        previous = self._values[name]
        self.update(name, var_value)
        try:
            yield
        finally:
            self._values[name] = previous

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._values[self._canonical(name)]
        except LookupError:
            raise AttributeError(f"'Config' object has no attribute {name!r}") from None

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._values))

    def describe(self) -> dict[str, tuple[Any, str]]:
        """Every flag: name -> (current value, help text)."""
        return {name: (self._values[name], self._help[name]) for name in sorted(self._values)}


config = Config()


def bool_flag(name: str, *, default: bool, help: str) -> FlagHolder[bool]:
    """Defines a boolean flag, overridable by the environment variable ``NAME``."""
    return config._define(name, bool, default, help)


def int_flag(name: str, *, default: int | None, help: str) -> FlagHolder[int]:
    """Defines an integer flag, overridable by the environment variable ``NAME``."""
    return config._define(name, int, default, help)


# Keep the names of the flags in step with spec/rng-and-naming.md.
flaxen_fix_rng_separator = bool_flag(
    "flaxen_fix_rng_separator",
    default=False,
    help="Put a zero byte before every item hashed into an RNG fold-in value, so"
    " that ('ab',) and ('a', 'b') derive different keys.",
)
flaxen_return_frozendict = bool_flag(
    "flaxen_return_frozendict",
    default=False,
    help="Return FrozenDict instead of dict from init/apply and friends.",
)
flaxen_preserve_adopted_names = bool_flag(
    "flaxen_preserve_adopted_names",
    default=False,
    help="Keep the names of modules adopted from dataclass fields instead of"
    " renaming them after the field.",
)
flaxen_profile = bool_flag(
    "flaxen_profile",
    default=True,
    help="Wrap Module methods in jax.named_scope so traces show the module path.",
)
flaxen_filter_frames = bool_flag(
    "flaxen_filter_frames",
    default=True,
    help="Hide flaxen's internal frames from tracebacks.",
)
flaxen_use_orbax_checkpointing = bool_flag(
    "flaxen_use_orbax_checkpointing",
    default=True,
    help="Save checkpoints with the orbax backend where it is installed.",
)
flaxen_max_repr_depth = int_flag(
    "flaxen_max_repr_depth",
    default=None,
    help="Maximum depth of nested Modules shown by repr (None: unlimited).",
)
