"""Selecting model parameters by their path name."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from operator import itemgetter
from typing import Any

from ._dicts import empty_node, flatten_dict, unflatten_dict
from ._traversals import Traversal

_first = itemgetter(0)


def _params_dict(inputs: Any) -> Mapping[Any, Any]:
    if not isinstance(inputs, Mapping):
        raise ValueError(
            "ModelParamTraversal can only traverse a nested dict of parameters (a"
            f" dict or FrozenDict), not {type(inputs)}."
        )
    return inputs


def _name(path: tuple[Any, ...]) -> str:
    return "/" + "/".join(map(str, path))


class ModelParamTraversal(Traversal):
    """Selects the leaves of a nested parameter dict by their path name.

    A parameter's name is its path joined by ``/`` with a leading ``/``, e.g.
    ``'/Dense_0/kernel'`` (``'/params/Dense_0/kernel'`` if the whole variable
    dict is traversed). Leaves are visited in sorted path order; an update
    returns a new nested dict of the input's type (dict or ``FrozenDict``)
    with its keys in sorted order, empty dicts kept.

    >>> params = {'Dense_0': {'kernel': 1, 'bias': 2}, 'Dense_1': {'kernel': 3, 'bias': 4}}
    >>> kernels = ModelParamTraversal(lambda name, value: name.endswith('/kernel'))
    >>> list(kernels.iterate(params))
    [1, 3]
    >>> kernels.update(lambda x: -x, params)
    {'Dense_0': {'bias': 2, 'kernel': -1}, 'Dense_1': {'bias': 4, 'kernel': -3}}

    With optax, :func:`path_aware_map` plus ``optax.multi_transform`` does the
    same job.
    """

    def __init__(self, filter_fn: Callable[[str, Any], bool]):
        """Creates the traversal.

        Args:
          filter_fn: called as ``filter_fn(name, value)`` for each parameter;
            returns whether the parameter is selected.
        """
        self._filter_fn = filter_fn

    def iterate(self, inputs: Any) -> Iterator[Any]:
        flat = flatten_dict(_params_dict(inputs), keep_empty_nodes=True)
        filter_fn = self._filter_fn
        for path, value in sorted(flat.items(), key=_first):
            if value is not empty_node and filter_fn(_name(path), value):
                yield value

    def update(self, fn: Callable[[Any], Any], inputs: Any) -> Any:
        flat = flatten_dict(_params_dict(inputs), keep_empty_nodes=True)
        filter_fn = self._filter_fn
        new_flat = {}
        for path, value in sorted(flat.items(), key=_first):
            selected = value is not empty_node and filter_fn(_name(path), value)
            new_flat[path] = fn(value) if selected else value
        result = unflatten_dict(new_flat)
        if isinstance(inputs, dict):
            return result
        return type(inputs)(result)

    def __repr__(self) -> str:
        return f"ModelParamTraversal({self._filter_fn!r})"
