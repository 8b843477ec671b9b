"""How Modules print: their attributes, then (when bound) their children."""

from __future__ import annotations

import dataclasses
from typing import Any

from flaxen.configurations._flags import config as _config


def _value_repr(value: Any, depth: int) -> str:
    from ._module import Module

    if isinstance(value, Module):
        return module_repr(value, depth + 1)
    if isinstance(value, type):
        return value.__name__
    if callable(value) and hasattr(value, "__name__") and not isinstance(value, type):
        return value.__name__
    dtype_name = getattr(value, "name", None)
    if dtype_name is not None and type(value).__name__.startswith("dtype"):
        return dtype_name
    return repr(value)


def _indent(text: str, spaces: int = 4) -> str:
    return "\n".join(" " * spaces + line if line else line for line in text.split("\n"))


def module_repr(module: Any, depth: int = 0) -> str:
    """``ClassName(# attributes ... # children ...)``, as Flax prints modules."""
    name = type(module).__name__
    max_depth = _config._values["flaxen_max_repr_depth"]
    if max_depth is not None and depth > max_depth:
        return f"{name}(...)"
    attributes = [
        f"{field.name} = {_value_repr(module.__dict__.get(field.name), depth)}"
        for field in dataclasses.fields(module)
        if field.repr and field.name not in ("parent", "name")
    ]
    state = module.__dict__.get("_state")
    children = []
    if state is not None and module.__dict__.get("scope") is not None:
        for child_name, child in state.children.items():
            children.append(f"{child_name} = {module_repr(child, depth + 1)}")
    if not attributes and not children:
        return f"{name}()"
    lines = []
    if attributes:
        lines.append("# attributes")
        lines.extend(attributes)
    if children:
        lines.append("# children")
        lines.extend(children)
    return f"{name}(\n" + _indent("\n".join(lines)) + "\n)"
