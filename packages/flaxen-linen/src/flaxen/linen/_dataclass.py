"""Turning every Module subclass into a dataclass.

Each subclass becomes a frozen dataclass (``eq`` and ``hash`` by field, no
generated ``repr``) with two keyword-only fields appended by the first
subclass level: ``parent`` and ``name``. Being keyword-only, they let
subclasses add fields with or without defaults in any order. Freezing makes
the generated ``__init__`` assign fields with ``object.__setattr__``, so
construction does not pay for Module's own ``__setattr__`` (which enforces
that attributes are only set in ``setup``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from flaxen.errors import ReservedModuleAttributeError

RESERVED = ("parent", "name")


class _Sentinel:
    """Default of ``parent``: "the module whose method is running, if any"."""

    _instance: _Sentinel | None = None

    def __new__(cls) -> _Sentinel:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "_unspecified_parent"

    def __reduce__(self) -> Any:
        return (_Sentinel, ())

    def __copy__(self) -> _Sentinel:
        return self

    def __deepcopy__(self, memo: Any) -> _Sentinel:
        return self


unspecified_parent = _Sentinel()


def _has_reserved_fields(cls: type) -> bool:
    return any("parent" in getattr(base, "__dataclass_fields__", {}) for base in cls.__mro__[1:])


def make_dataclass(cls: type, kw_only: bool) -> None:
    """Applies the Module dataclass transform to ``cls`` in place.

    Raises:
      ReservedModuleAttributeError: the class annotates ``parent`` or ``name``.
    """
    annotations = cls.__dict__.get("__annotations__")
    if annotations is None:
        annotations = {}
        cls.__annotations__ = annotations
    reserved = {k: v for k, v in annotations.items() if k in RESERVED}
    if reserved:
        raise ReservedModuleAttributeError(reserved)
    if not _has_reserved_fields(cls):
        annotations["parent"] = Any
        annotations["name"] = "str | None"
        cls.parent = dataclasses.field(  # type: ignore[attr-defined]
            repr=False, default=unspecified_parent, kw_only=True
        )
        cls.name = dataclasses.field(default=None, kw_only=True)  # type: ignore[attr-defined]
    own_setattr = cls.__dict__.get("__setattr__")
    own_delattr = cls.__dict__.get("__delattr__")
    if own_setattr is not None:
        delattr(cls, "__setattr__")
    if own_delattr is not None:
        delattr(cls, "__delattr__")
    dataclasses.dataclass(cls, repr=False, eq=True, frozen=True, kw_only=kw_only)
    # The frozen transform generates __setattr__/__delattr__ that always raise;
    # Module's own (or the class's) take their place.
    del cls.__setattr__
    del cls.__delattr__
    if own_setattr is not None:
        cls.__setattr__ = own_setattr
    if own_delattr is not None:
        cls.__delattr__ = own_delattr


def init_field_names(cls: type) -> tuple[str, ...]:
    """The fields ``__init__`` accepts, ``parent`` and ``name`` excluded."""
    return tuple(f.name for f in dataclasses.fields(cls) if f.init and f.name not in RESERVED)


def field_names(cls: type) -> tuple[str, ...]:
    """Every field, ``parent`` and ``name`` excluded."""
    return tuple(f.name for f in dataclasses.fields(cls) if f.name not in RESERVED)
