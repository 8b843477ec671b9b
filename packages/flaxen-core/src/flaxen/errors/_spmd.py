"""Errors of logical axis partitioning (``flaxen.spmd``; flaxen additions).

Flax reports these as plain ``ValueError`` (or as JAX's errors, later and
further from the cause); each class here also subclasses ``ValueError`` so
existing ``except ValueError`` clauses keep working.
"""

from __future__ import annotations

from typing import Any

from ._base import FlaxenError


class DuplicateLogicalAxisError(FlaxenError, ValueError):
    """An array's logical axis names repeat a name.

    Each logical name maps to at most one mesh axis, and one mesh axis cannot
    shard two dimensions of the same array, so a name may label only one
    dimension. Give the dimensions distinct names (``('embed', 'embed_out')``)
    and a rule for each.

    Attributes:
      duplicates: the repeated names, in order of first appearance.
      array_dim_names: the logical names of the array's dimensions.
    """

    def __init__(self, duplicates: tuple[Any, ...], array_dim_names: Any = None) -> None:
        self.duplicates = tuple(duplicates)
        self.array_dim_names = array_dim_names
        where = "" if array_dim_names is None else f" {tuple(array_dim_names)}"
        super().__init__(
            f"Unsupported: Dimensions {self.duplicates} occur more than once in array"
            f" names{where}. A logical axis name may label only one dimension of an"
            " array, because one mesh axis cannot shard two dimensions; give each"
            " dimension its own name (e.g. 'embed' and 'embed_out') and a rule for each."
        )


class UnmatchedLogicalAxisError(FlaxenError, ValueError):
    """With ``RulesFallback.RAISE_ERROR``, a logical axis got no mesh axis.

    A name gets no mesh axis when no rule names it, or when every rule that
    names it maps to mesh axes that an earlier rule already gave to another
    dimension of the same array (two dimensions cannot share a mesh axis).
    Add a rule (``('name', None)`` keeps the dimension unsharded), or use the
    fallbacks ``AXIS_IS_UNSHARDED`` / ``NO_CONSTRAINT``.

    Attributes:
      array_dim_names: the logical names of the array's dimensions.
      unmatched: the names that got no mesh axis.
      detail: why each of them got none.
    """

    def __init__(
        self, array_dim_names: Any, unmatched: tuple[Any, ...] = (), detail: str = ""
    ) -> None:
        self.array_dim_names = array_dim_names
        self.unmatched = tuple(unmatched)
        self.detail = detail
        reason = f": {detail}" if detail else ""
        first = self.unmatched[0] if self.unmatched else "name"
        super().__init__(
            f"Axis names {array_dim_names} did not match a rule{reason}. With"
            " fallback=RulesFallback.RAISE_ERROR every logical name needs a rule whose"
            f" mesh axes are still free; add one (('{first}', None) leaves the dimension"
            " unsharded) or pass fallback=RulesFallback.AXIS_IS_UNSHARDED."
        )


class ShardingRankMismatchError(FlaxenError, ValueError):
    """A partition spec names more dimensions than the array has.

    A spec gives one entry (a mesh axis, a tuple of them, or ``None``) per
    leading dimension of the array; it may be shorter than the array's rank
    (the rest is replicated) but not longer.

    Attributes:
      spec: the (mesh) partition spec.
      shape: the shape of the array it was applied to.
      logical_names: the logical names the spec came from, if any.
    """

    def __init__(self, spec: Any, shape: tuple[int, ...], logical_names: Any = None) -> None:
        self.spec = spec
        self.shape = tuple(shape)
        self.logical_names = logical_names
        source = "" if logical_names is None else f" (from logical names {logical_names})"
        super().__init__(
            f"The partition spec {spec}{source} has {len(spec)} entries but the array"
            f" has rank {len(self.shape)} (shape {self.shape}). Give one logical name"
            " (or None) per dimension of the array, at most as many as it has."
        )


class UnknownMeshAxisError(FlaxenError, ValueError):
    """A partition spec names an axis the mesh does not have.

    Logical axis rules map logical names to mesh axis names; each of those
    must be one of the mesh's ``axis_names``. Fix the rule, or build the mesh
    with that axis name.

    Attributes:
      axis: the missing mesh axis name.
      spec: the partition spec that names it.
      mesh_axis_names: the axis names of the mesh.
    """

    def __init__(self, axis: Any, spec: Any, mesh_axis_names: tuple[Any, ...]) -> None:
        self.axis = axis
        self.spec = spec
        self.mesh_axis_names = tuple(mesh_axis_names)
        super().__init__(
            f"Mesh axis {axis!r} in {spec} is not an axis of the mesh, whose axes are"
            f" {self.mesh_axis_names}. Fix the logical axis rules that map to"
            f" {axis!r}, or create the mesh with that axis name."
        )


class InvalidLogicalAxisRulesError(FlaxenError, ValueError):
    """Logical axis rules are not a sequence of ``(logical_name, mesh_axes)`` pairs.

    Rules look like ``(('batch', 'data'), ('hidden', 'model'), ('embed', None))``:
    a logical name, and a mesh axis name, a tuple of mesh axis names or
    ``None`` (unsharded). The first rule naming a dimension wins.

    Attributes:
      rules: the rules given.
      entry: the offending entry, if one was singled out.
    """

    def __init__(self, rules: Any, entry: Any = None) -> None:
        self.rules = rules
        self.entry = entry
        bad = "" if entry is None else f" ({entry!r} is not such a pair)"
        super().__init__(
            "Unknown axis rule specification type: logical axis rules must be a"
            " sequence of (logical_name, mesh_axes) pairs, where mesh_axes is a mesh"
            f" axis name, a tuple of them or None; got {rules!r}{bad}."
        )
