"""The summary as data: one :class:`Row` per shown Module call, in a :class:`Table`."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import jax

from flaxen.core.meta import AxisMetadata, Partitioned

from . import _represent
from ._collect import Call


@dataclasses.dataclass
class Row:
    """One row of the summary: a Module method call.

    Attributes:
      path: names from the root Module to the called one (``()`` for the root).
      module_copy: an unbound copy of the called Module.
      method: the method called (``'__call__'`` for calls).
      inputs: the call's inputs, arrays as ``jax.ShapeDtypeStruct``. A single
        positional argument is itself; several are a tuple; keyword arguments
        are a dict (after the positional ones, if any).
      outputs: the call's outputs, arrays as ``jax.ShapeDtypeStruct``.
      module_variables: ``{collection: {name: value}}`` of the Module's own
        variables (submodules excluded), as ``jax.ShapeDtypeStruct`` (boxed
        where the variable is boxed).
      counted_variables: the variables this row counts: its own, plus those
        of submodules hidden by ``depth`` when it is at the depth limit.
      flops: FLOPs of the call (0 unless ``compute_flops``).
      vjp_flops: FLOPs of the call's VJP (0 unless ``compute_vjp_flops``).
    """

    path: tuple[str, ...]
    module_copy: Any
    method: str
    inputs: Any
    outputs: Any
    module_variables: dict[str, dict[str, Any]]
    counted_variables: dict[str, dict[str, Any]]
    flops: int
    vjp_flops: int

    def size_and_bytes(self, collections: Iterable[str]) -> dict[str, tuple[int, int]]:
        """``{collection: (elements, bytes)}`` of the counted variables."""
        return {
            col: _represent.size_and_bytes(self.counted_variables.get(col, {}))
            for col in collections
        }

    def to_dict(self) -> dict[str, Any]:
        """This row as JSON-compatible data (see :meth:`Table.to_json`)."""
        return {
            "path": "/".join(self.path),
            "module": type(self.module_copy).__name__,
            "method": self.method,
            "inputs": _jsonable(self.inputs),
            "outputs": _jsonable(self.outputs),
            "variables": _jsonable(self.module_variables),
            "counts": {
                col: {"elements": n, "bytes": b}
                for col, (n, b) in self.size_and_bytes(self.counted_variables).items()
            },
            "flops": self.flops,
            "vjp_flops": self.vjp_flops,
        }


class Table(list):
    """A list of :class:`Row` s, with the summarized Module and its collections.

    Attributes:
      module: the summarized Module.
      collections: the variable collections, one column each (sorted).
    """

    def __init__(self, module: Any, collections: Sequence[str], rows: Iterable[Row]) -> None:
        super().__init__(rows)
        self.module = module
        self.collections = list(collections)

    def totals(self) -> dict[str, tuple[int, int]]:
        """``{collection: (elements, bytes)}`` summed over the rows."""
        totals = dict.fromkeys(self.collections, (0, 0))
        for row in self:
            for col, (n, b) in row.size_and_bytes(self.collections).items():
                count, nbytes = totals[col]
                totals[col] = (count + n, nbytes + b)
        return totals

    def to_dicts(self) -> list[dict[str, Any]]:
        """Every row as JSON-compatible data."""
        return [row.to_dict() for row in self]

    def to_json(self, **json_kwargs: Any) -> str:
        """The summary as JSON: ``{"module", "collections", "totals", "rows"}``."""
        totals = {c: {"elements": n, "bytes": b} for c, (n, b) in self.totals().items()}
        data = {
            "module": type(self.module).__name__,
            "collections": self.collections,
            "totals": totals,
            "rows": self.to_dicts(),
        }
        return json.dumps(data, **json_kwargs)


def _jsonable(x: Any) -> Any:
    if isinstance(x, Partitioned):
        return {**_jsonable(x.value), "names": list(x.names)}
    if isinstance(x, AxisMetadata):
        return _jsonable(x.unbox())
    if isinstance(x, jax.ShapeDtypeStruct):
        return {"shape": list(x.shape), "dtype": str(x.dtype)}
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if x is None or isinstance(x, bool | int | float | str):
        return x
    return repr(x)


def _subtree(tree: Any, path: tuple[str, ...]) -> Any:
    for name in path:
        if not isinstance(tree, Mapping) or name not in tree:
            return None
        tree = tree[name]
    return tree


def build_table(
    module: Any,
    calls: list[Call],
    variables: Mapping[str, Any],
    depth: int | None,
    show_repeated: bool,
) -> Table:
    """The rows shown for ``calls``, with the variables each one owns and counts."""
    children: dict[tuple[str, ...], set[str]] = {}
    for call in calls:
        path = call.path
        for i in range(len(path)):
            children.setdefault(path[:i], set()).add(path[i])
    collections = sorted(col for col, tree in variables.items() if tree)
    rows = []
    seen: set[tuple[str, ...]] = set()
    for call in calls:
        path = call.path
        if depth is not None and len(path) > depth:
            continue
        first = path not in seen
        if not first and not show_repeated:
            continue
        seen.add(path)
        own: dict[str, dict[str, Any]] = {}
        counted: dict[str, dict[str, Any]] = {}
        if first:
            skip = children.get(path, ())
            at_limit = depth is not None and len(path) == depth
            for col in collections:
                tree = _subtree(variables[col], path)
                if not isinstance(tree, Mapping) or not tree:
                    continue
                mine = {k: v for k, v in tree.items() if k not in skip}
                if mine:
                    own[col] = mine
                if at_limit:
                    counted[col] = dict(tree)
                elif mine:
                    counted[col] = mine
        rows.append(
            Row(
                path, call.module.clone(parent=None), call.method,
                _represent.inputs_value(call.args, call.kwargs), call.outputs, own, counted,
                call.flops, call.vjp_flops,
            )
        )  # fmt: skip
    return Table(module, collections, rows)
