"""flaxen.core.frozen_dict against flax.core.frozen_dict: same results, reprs, pytrees."""

import collections
import pickle
import types

import jax
import numpy as np
import pytest

pytestmark = pytest.mark.compat

flax_fd = pytest.importorskip("flax.core.frozen_dict")

from flaxen.core import frozen_dict as flaxen_fd  # noqa: E402


class Multiline:
    def __repr__(self):
        return "x\n\n  y\n"


def _text(value):
    return repr(value).replace("flaxen.", "flax.")


def _outcome(fn, m):
    try:
        return ("ok", _text(fn(m)))
    except Exception as error:  # the comparison is the point
        return ("error", type(error).__name__, str(error))


def _example(m):
    return m.FrozenDict({"b": {"y": 1, "x": 2}, "a": 3})


CASES = {
    "repr": _example,
    "str": lambda m: str(_example(m)),
    "empty": lambda m: m.FrozenDict(),
    "empty nested": lambda m: m.FrozenDict(a={}),
    "pretty 2": lambda m: _example(m).pretty_repr(2),
    "pretty function": lambda m: m.pretty_repr({"a": {"b": 1}, "c": [], "d": Multiline()}),
    "pretty others": lambda m: (m.pretty_repr(3), m.pretty_repr({}), m.pretty_repr([{"a": 1}])),
    "pretty frozen in dict": lambda m: m.pretty_repr({"a": m.FrozenDict(b=1)}),
    "pretty arrays": lambda m: m.FrozenDict(a=np.arange(3), b={"c": np.zeros((2, 2))}),
    "pretty keys": lambda m: m.pretty_repr({(1, 2): 1, None: 2, "x": "y"}),
    "storage": lambda m: [type(v).__name__ for v in _example(m)._dict.values()],
    "getitem": lambda m: type(_example(m)["b"]).__name__,
    "flatten": lambda m: jax.tree_util.tree_flatten(_example(m)),
    "paths": lambda m: jax.tree_util.tree_flatten_with_path(
        m.FrozenDict(b={"y": 1, "x": [2, {"z": 3}]}, a=None, c={})
    ),
    "node data": lambda m: jax.tree_util.tree_structure(_example(m)).node_data()[1],
    "tree_map": lambda m: jax.tree_util.tree_map(lambda x: x + 1, _example(m)),
    "flatten_with_keys": lambda m: _example(m).tree_flatten_with_keys(),
    "unflatten": lambda m: m.FrozenDict.tree_unflatten(("a", "b"), [1, {"c": 2}]),
    "hash equal": lambda m: hash(_example(m)) == hash(m.FrozenDict(a=3, b={"x": 2, "y": 1})),
    "equality": lambda m: (
        _example(m) == {"a": 3, "b": {"x": 2, "y": 1}},
        m.FrozenDict(a={"b": 1}) == {"a": m.FrozenDict(b=1)},
        m.FrozenDict(a=1) == m.FrozenDict(a=1.0),
        _example(m) == 3,
        _example(m) != {"a": 3},
    ),
    "unhashable": lambda m: hash(m.FrozenDict(a=[1])),
    "reduce": lambda m: _example(m).__reduce__()[1],
    "pickle": lambda m: pickle.loads(pickle.dumps(_example(m))) == _example(m),
    "keys": lambda m: _example(m).keys(),
    "values": lambda m: _example(m).values(),
    "items": lambda m: list(_example(m).items()),
    "mapping": lambda m: ("a" in _example(m), len(_example(m)), list(_example(m))),
    "get": lambda m: (_example(m).get("q", 5), _example(m).get("b")),
    "copy": lambda m: _example(m).copy({"c": {"d": 1}, "a": m.FrozenDict(z=1)}),
    "copy kwargs": lambda m: _example(m).copy(a=2),
    "pop": lambda m: _example(m).pop("a"),
    "pop missing": lambda m: _example(m).pop("zz"),
    "missing key": lambda m: _example(m)["q"],
    "setitem": lambda m: _example(m).__setitem__("a", 1),
    "setattr": lambda m: setattr(_example(m), "x", 1),
    "copy function": lambda m: m.copy({"b": {"z": 1, "y": 2}, "a": 1}, {"c": 1}),
    "pop function": lambda m: m.pop({"b": {"z": 1, "y": 2}, "a": 1}, "a"),
    "copy type error": lambda m: m.copy(3, {}),
    "pop type error": lambda m: m.pop(3, "a"),
    "unfreeze": lambda m: m.unfreeze(_example(m)),
    "unfreeze dict": lambda m: m.unfreeze({"z": m.FrozenDict(b=1, a=2), "a": {"y": 1, "b": 2}}),
    "unfreeze leaf": lambda m: m.unfreeze(3),
    "unfreeze int keys": lambda m: m.unfreeze(m.FrozenDict({2: 1, 1: {3: 4}})),
    "freeze": lambda m: type(m.freeze(_example(m))).__name__,
    "constructor": lambda m: (m.FrozenDict([("a", 1)], c=2), m.FrozenDict({"a": 1}, a=2)),
    "constructor error": lambda m: m.FrozenDict(1),
    "ordered dict value": lambda m: (
        type(m.FrozenDict(a=collections.OrderedDict(b=1))._dict["a"]).__name__
    ),
    "proxy value": lambda m: type(m.FrozenDict(a=types.MappingProxyType({"b": 1}))["a"]).__name__,
    "deep frozen": lambda m: (
        type(m.FrozenDict({"a": {"b": m.FrozenDict(c=1)}})._dict["a"]["b"]).__name__
    ),
    "frozen in list": lambda m: type(m.FrozenDict(l=[m.FrozenDict(q=1)])._dict["l"][0]).__name__,
    "unsortable flatten": lambda m: jax.tree_util.tree_flatten(m.FrozenDict({1: 2, "a": 3})),
    "jit": lambda m: jax.jit(lambda x: jax.tree_util.tree_map(lambda v: v * 2, x))(
        m.FrozenDict(a=1.0, b={"c": 2.0})
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_behavior(name):
    fn = CASES[name]
    assert _outcome(fn, flaxen_fd) == _outcome(fn, flax_fd)


def test_same_public_names():
    public = {name for name in dir(flax_fd) if not name.startswith("_")}
    imported = {"Any", "Hashable", "K", "Mapping", "MappingProxyType", "TypeVar", "V"}
    imported |= {"collections", "jax", "serialization"}
    assert public - imported <= set(dir(flaxen_fd))
