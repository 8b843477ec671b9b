"""``convert_pre_linen``: renumber pre-Linen submodule names per class."""

from __future__ import annotations

import re
from typing import Any

from flaxen.core.frozen_dict import FrozenDict, freeze, unfreeze

MODULE_NUM_RE = re.compile(r"(.*)_\d+$")


def convert_pre_linen(params: Any) -> Any:
    """Converts a pre-Linen parameter pytree.

    In pre-Linen API submodules were numbered incrementally, independent of
    the submodule class. With Linen this behavior has changed to keep
    separate submodule counts per module class.

    Consider the following module::

      class Model(nn.Module):
        @nn.compact
        def __call__(self, x):
          x = nn.Conv(1, 1)(x)
          x = nn.Dense(1)(x)
          return x

    In pre-Linen the resulting params would have had the structure
    ``{'Conv_0': { ... }, 'Dense_1': { ... } }``; with Linen they are
    ``{'Conv_0': { ... }, 'Dense_0': { ... } }``. To convert from pre-Linen
    format to Linen simply call ``params = convert_pre_linen(pre_linen_params)``.

    Every dict level is converted: names ending in ``_<number>`` are grouped
    by what precedes the number and renumbered ``0, 1, ...`` in the order of
    their old numbers. Other names, and values that are not dicts, are kept.
    Pre-Linen collections are "flat" and first need to be unflattened.

    Args:
      params: the parameter pytree (a dict or FrozenDict).

    Returns:
      The converted tree, keys sorted, a FrozenDict if ``params`` was one.

    >>> convert_pre_linen({'Conv_0': {'w': 1}, 'Dense_1': {'w': 2}})
    {'Conv_0': {'w': 1}, 'Dense_0': {'w': 2}}
    """
    if isinstance(params, FrozenDict):
        return freeze(convert_pre_linen(unfreeze(params)))
    if not isinstance(params, dict):
        return params
    groups: dict[str, list[tuple[int, str]]] = {}
    converted: dict[str, Any] = {}
    for key, value in params.items():
        match = MODULE_NUM_RE.match(key) if isinstance(key, str) else None
        if match is None:
            converted[key] = convert_pre_linen(value)
        else:
            groups.setdefault(match.group(1), []).append((int(key[len(match.group(1)) + 1 :]), key))
    for name, members in groups.items():
        # sorted() is stable: equal numbers ('D_1', 'D_01') keep their order.
        for index, (_, key) in enumerate(sorted(members, key=lambda m: m[0])):
            converted[f"{name}_{index}"] = convert_pre_linen(params[key])
    return dict(sorted(converted.items()))
