"""Utilities for defining custom classes that can be used with jax transformations.

:func:`dataclass` and :class:`PyTreeNode` make frozen dataclasses that are
JAX pytrees (``field(pytree_node=False)`` marks static fields) and that
serialize through :mod:`flaxen.serialization` by field name.
"""

from ._dataclass import PyTreeNode as PyTreeNode
from ._dataclass import TNode as TNode
from ._dataclass import dataclass as dataclass
from ._dataclass import field as field
