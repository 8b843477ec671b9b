"""flaxen.core.frozen_dict: FrozenDict, freeze/unfreeze/copy/pop/pretty_repr."""

import collections
import copy as copy_module
import pickle
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.tree_util import DictKey, SequenceKey

from flaxen import serialization
from flaxen.core.frozen_dict import (
    FrozenDict,
    FrozenKeysView,
    FrozenValuesView,
    copy,
    freeze,
    pop,
    pretty_repr,
    unfreeze,
)
from flaxen.errors import StateDictMismatchError


def _example():
    return FrozenDict({"b": {"y": 1, "x": 2}, "a": 3})


# --- construction and storage contract ---------------------------------------


def test_constructor_accepts_dict_arguments():
    assert dict(FrozenDict([("a", 1)], c=2)._dict) == {"a": 1, "c": 2}
    assert FrozenDict({"a": 1}, a=2)._dict == {"a": 2}
    assert FrozenDict()._dict == {}
    with pytest.raises(TypeError):
        FrozenDict(1)


def test_storage_is_plain_nested_dicts():
    inner = {"y": 1}
    fd = FrozenDict(
        {
            "b": inner,
            "f": FrozenDict(z=2),
            "o": collections.OrderedDict(q=1),
            "n": {"deep": FrozenDict(c=1)},
        }
    )
    assert type(fd._dict) is dict
    assert type(fd._dict["b"]) is dict
    assert type(fd._dict["f"]) is dict
    assert type(fd._dict["o"]) is dict
    assert type(fd._dict["n"]["deep"]) is dict
    # The input's dicts are copied: mutating them later does not leak in.
    assert fd._dict["b"] is not inner
    inner["y"] = 100
    assert fd["b"]["y"] == 1


def test_leaves_and_non_dict_mappings_are_not_copied():
    leaf = np.ones(2)
    proxy = types.MappingProxyType({"b": 1})
    items = [FrozenDict(q=1)]
    fd = FrozenDict(a={"x": leaf}, p=proxy, l=items)
    assert fd._dict["a"]["x"] is leaf
    assert fd["p"] is proxy
    assert fd["l"] is items
    assert type(fd["l"][0]) is FrozenDict


def test_unsafe_skip_copy_keeps_nested_dicts():
    inner = {"y": 1}
    outer = {"b": inner}
    fd = FrozenDict(outer, __unsafe_skip_copy__=True)
    assert fd._dict is not outer
    assert fd._dict["b"] is inner


def test_from_owned_wraps_without_copy():
    raw = {"a": {"b": 1}}
    fd = FrozenDict._from_owned(raw)
    assert type(fd) is FrozenDict
    assert fd._dict is raw
    assert fd == {"a": {"b": 1}}


def test_getitem_wraps_nested_dict_without_copy():
    fd = _example()
    nested = fd["b"]
    assert type(nested) is FrozenDict
    assert nested._dict is fd._dict["b"]
    assert fd["a"] == 3
    with pytest.raises(KeyError, match="'q'"):
        fd["q"]


def test_immutable():
    fd = _example()
    with pytest.raises(ValueError, match=r"FrozenDict is immutable\."):
        fd["a"] = 1
    with pytest.raises(AttributeError):
        fd.x = 1
    with pytest.raises(AttributeError):
        del fd["a"]
    assert not isinstance(fd, dict)


# --- Mapping API ---------------------------------------------------------------


def test_mapping_api():
    fd = _example()
    assert "a" in fd
    assert "q" not in fd
    assert len(fd) == 2
    assert list(fd) == ["b", "a"]
    assert fd.get("q", 5) == 5
    assert fd.get("b") == {"y": 1, "x": 2}
    assert type(fd.get("b")) is FrozenDict
    assert {**fd} == {"b": FrozenDict(y=1, x=2), "a": 3}


def test_views():
    fd = _example()
    keys = fd.keys()
    values = fd.values()
    assert isinstance(keys, FrozenKeysView)
    assert isinstance(values, FrozenValuesView)
    assert list(keys) == ["b", "a"]
    assert repr(keys) == "frozen_dict_keys(['b', 'a'])"
    assert list(values) == [FrozenDict(y=1, x=2), 3]
    assert repr(values) == f"frozen_dict_values([{FrozenDict(y=1, x=2)!r}, 3])"
    assert [type(v) for v in values] == [FrozenDict, int]
    assert list(fd.items()) == [("b", FrozenDict(y=1, x=2)), ("a", 3)]
    assert keys & {"a", "z"} == {"a"}


def test_equality():
    fd = _example()
    assert fd == {"a": 3, "b": {"x": 2, "y": 1}}
    assert {"a": 3, "b": {"x": 2, "y": 1}} == fd  # noqa: SIM300 (the reflected __eq__)
    assert fd == FrozenDict({"a": 3, "b": {"x": 2, "y": 1}})
    assert FrozenDict(a={"b": 1}) == {"a": FrozenDict(b=1)}
    assert FrozenDict(a=1) == types.MappingProxyType({"a": 1})
    assert FrozenDict(a=1) == FrozenDict(a=1.0)
    assert fd != {"a": 3}
    assert fd != 3
    assert fd.__eq__([("a", 3)]) is NotImplemented


def test_hash():
    fd = _example()
    same = FrozenDict({"a": 3, "b": {"x": 2, "y": 1}})
    assert hash(fd) == hash(same)
    assert hash(FrozenDict(a=1)) == hash(FrozenDict(a=1.0))
    assert hash(FrozenDict()) == hash(FrozenDict())
    assert len({fd, same, FrozenDict(a=1)}) == 2
    with pytest.raises(TypeError, match="unhashable type: 'list'"):
        hash(FrozenDict(a=[1]))
    with pytest.raises(TypeError, match="unhashable"):
        hash(FrozenDict(a={"b": np.ones(2)}))


def test_hash_is_cached():
    fd = FrozenDict(a=1)
    assert fd._hash is None
    value = hash(fd)
    assert fd._hash == value


# --- repr ----------------------------------------------------------------------


def test_repr():
    fd = _example()
    expected = "FrozenDict({\n    b: {\n        y: 1,\n        x: 2,\n    },\n    a: 3,\n})"
    assert repr(fd) == expected
    assert str(fd) == expected
    assert repr(FrozenDict()) == "FrozenDict({})"
    assert repr(FrozenDict(a={})) == "FrozenDict({\n    a: {},\n})"
    assert repr(FrozenDict(a="x", b=None)) == "FrozenDict({\n    a: 'x',\n    b: None,\n})"


def test_pretty_repr_num_spaces_and_multiline_leaves():
    fd = FrozenDict(a={"b": {}}, c=np.zeros((2, 2)))
    assert fd.pretty_repr(num_spaces=2) == (
        "FrozenDict({\n  a: {\n    b: {},\n  },\n  c: array([[0., 0.],\n         [0., 0.]]),\n})"
    )


def test_pretty_repr_function():
    assert pretty_repr({"a": {"b": 1}, "c": []}) == (
        "{\n    a: {\n        b: 1,\n    },\n    c: [],\n}"
    )
    assert pretty_repr(3) == "3"
    assert pretty_repr({}) == "{}"
    assert pretty_repr(FrozenDict()) == "FrozenDict({})"
    assert pretty_repr([{"a": 1}]) == "[{'a': 1}]"
    assert pretty_repr({(1, 2): 1, None: 2}) == "{\n    (1, 2): 1,\n    None: 2,\n}"
    assert pretty_repr(collections.OrderedDict(b=1)) == "{\n    b: 1,\n}"
    # A FrozenDict inside a dict keeps its own repr, indented.
    assert pretty_repr({"a": FrozenDict(b=1)}) == (
        "{\n    a: FrozenDict({\n        b: 1,\n    }),\n}"
    )


def test_pretty_repr_indents_every_line_of_a_leaf():
    class Multiline:
        def __repr__(self):
            return "x\n\n  y\n"

    assert pretty_repr({"a": Multiline(), "b": {"c": Multiline()}}) == (
        "{\n    a: x\n    \n      y\n    ,\n    b: {\n        c: x\n        \n"
        "          y\n        ,\n    },\n}"
    )


# --- copy / pop / freeze / unfreeze ------------------------------------------------


def test_copy_method():
    fd = _example()
    new = fd.copy({"c": {"d": 1}, "a": FrozenDict(z=1)})
    assert type(new) is FrozenDict
    assert new == {"b": {"y": 1, "x": 2}, "a": {"z": 1}, "c": {"d": 1}}
    assert list(new) == ["b", "a", "c"]
    assert type(new._dict["a"]) is dict
    assert type(new._dict["c"]) is dict
    assert fd == {"b": {"y": 1, "x": 2}, "a": 3}
    assert fd.copy() == fd
    with pytest.raises(TypeError):
        fd.copy(a=2)


def test_pop_method():
    fd = _example()
    rest, value = fd.pop("b")
    assert type(rest) is FrozenDict
    assert rest == {"a": 3}
    assert value == {"y": 1, "x": 2}
    assert type(value) is FrozenDict
    assert fd == {"b": {"y": 1, "x": 2}, "a": 3}
    with pytest.raises(KeyError, match="'zz'"):
        fd.pop("zz")


def test_copy_and_pop_functions_on_dicts():
    inner = {"z": 1, "y": 2}
    d = {"b": inner, "a": 1}
    new = copy(d, {"c": {"q": 1}})
    assert type(new) is dict
    assert new == {"a": 1, "b": {"y": 2, "z": 1}, "c": {"q": 1}}
    # A fresh dict structure, keys sorted the way JAX orders them.
    assert new["b"] is not inner
    assert list(new) == ["a", "b", "c"]
    assert list(new["b"]) == ["y", "z"]
    rest, value = pop(d, "a")
    assert rest == {"b": {"y": 2, "z": 1}}
    assert value == 1
    assert d == {"b": {"z": 1, "y": 2}, "a": 1}
    assert copy(d) == d
    with pytest.raises(KeyError):
        pop({}, "a")


def test_copy_and_pop_functions_on_frozen_dicts():
    fd = FrozenDict(a=1, b=2)
    assert copy(fd, {"c": 3}) == FrozenDict(a=1, b=2, c=3)
    assert type(copy(fd)) is FrozenDict
    rest, value = pop(fd, "a")
    assert type(rest) is FrozenDict
    assert (rest, value) == (FrozenDict(b=2), 1)


@pytest.mark.parametrize("fn", [lambda: copy(3, {}), lambda: pop(3, "a")])
def test_copy_and_pop_reject_other_types(fn):
    with pytest.raises(TypeError, match="Expected FrozenDict or dict, got <class 'int'>"):
        fn()


def test_freeze():
    inner = {"b": 1}
    frozen = freeze({"a": inner, "f": FrozenDict(c=2)})
    assert type(frozen) is FrozenDict
    assert frozen == {"a": {"b": 1}, "f": {"c": 2}}
    assert frozen._dict["a"] is not inner
    assert type(frozen._dict["f"]) is dict
    again = freeze(frozen)
    assert type(again) is FrozenDict
    assert again == frozen


def test_unfreeze_frozen_dict_returns_fresh_sorted_dicts():
    leaf = np.ones(2)
    items = [leaf]
    fd = FrozenDict({"b": {"y": 1, "x": leaf}, "a": items})
    out = unfreeze(fd)
    assert out == {"a": items, "b": {"x": leaf, "y": 1}}
    assert type(out) is dict
    assert type(out["b"]) is dict
    assert list(out) == ["a", "b"]
    assert list(out["b"]) == ["x", "y"]
    assert out["b"]["x"] is leaf
    assert out["a"] is items
    # Mutating the result never changes the FrozenDict.
    out["b"]["new"] = 1
    out["c"] = 2
    assert fd == {"b": {"y": 1, "x": leaf}, "a": items}
    assert fd.unfreeze() == {"a": items, "b": {"x": leaf, "y": 1}}
    assert fd.unfreeze() is not fd.unfreeze()


def test_unfreeze_dict_keeps_order_and_thaws_frozen_values():
    items = [1]
    out = unfreeze({"z": 1, "a": {"y": 1, "b": 2}, "f": FrozenDict(z=1, a=2), "l": items})
    assert out == {"z": 1, "a": {"y": 1, "b": 2}, "f": {"a": 2, "z": 1}, "l": items}
    assert list(out) == ["z", "a", "f", "l"]
    assert list(out["a"]) == ["y", "b"]
    assert type(out["f"]) is dict
    assert out["l"] is items
    assert unfreeze(3) == 3
    assert unfreeze(None) is None


def test_unfreeze_unsortable_keys_keeps_insertion_order():
    fd = FrozenDict({1: 2, "a": 3})
    assert list(unfreeze(fd)) == [1, "a"]


# --- pytree ---------------------------------------------------------------------------


def test_pytree_leaves_in_sorted_key_order():
    fd = _example()
    leaves, treedef = jax.tree_util.tree_flatten(fd)
    assert leaves == [3, 2, 1]
    assert treedef.node_data() == (FrozenDict, ("a", "b"))
    assert jax.tree_util.tree_unflatten(treedef, leaves) == fd


def test_pytree_key_paths():
    paths = jax.tree_util.tree_flatten_with_path(FrozenDict(b={"y": 1, "x": 2}, a=3))[0]
    assert paths == [
        ((DictKey("a"),), 3),
        ((DictKey("b"), DictKey("x")), 2),
        ((DictKey("b"), DictKey("y")), 1),
    ]
    paths = jax.tree_util.tree_flatten_with_path(FrozenDict(a=[1, {"b": 2}], c=None, e={}))[0]
    assert paths == [
        ((DictKey("a"), SequenceKey(0)), 1),
        ((DictKey("a"), SequenceKey(1), DictKey("b")), 2),
    ]


def test_tree_flatten_with_keys_method():
    fd = _example()
    children, keys = fd.tree_flatten_with_keys()
    assert keys == ("a", "b")
    assert children == ((DictKey("a"), 3), (DictKey("b"), {"y": 1, "x": 2}))
    assert type(children[1][1]) is dict
    assert FrozenDict.tree_unflatten(keys, [3, {"y": 1}]) == {"a": 3, "b": {"y": 1}}


def test_tree_map_keeps_storage_contract():
    fd = FrozenDict(a=1, b={"c": 2})
    out = jax.tree_util.tree_map(lambda x: x + 1, fd)
    assert type(out) is FrozenDict
    assert out == {"a": 2, "b": {"c": 3}}
    assert type(out._dict["b"]) is dict
    # Children returned as FrozenDicts (tree_map with is_leaf) are unwrapped.
    out = jax.tree_util.tree_map(
        lambda x: FrozenDict(x) if isinstance(x, dict) else x,
        fd,
        is_leaf=lambda x: isinstance(x, dict),
    )
    assert type(out._dict["b"]) is dict
    assert out == fd


def test_unsortable_keys_cannot_be_flattened():
    with pytest.raises(TypeError, match="'<' not supported"):
        jax.tree_util.tree_flatten(FrozenDict({1: 2, "a": 3}))


def test_jit_vmap_grad_over_frozen_dicts():
    params = FrozenDict(w=jnp.array([1.0, 2.0]), nested={"b": jnp.array(3.0)})

    def loss(p, x):
        return jnp.sum(p["w"] * x) + p["nested"]["b"] ** 2

    grads = jax.jit(jax.grad(loss))(params, jnp.array([4.0, 5.0]))
    assert type(grads) is FrozenDict
    np.testing.assert_allclose(grads["w"], [4.0, 5.0])
    np.testing.assert_allclose(grads["nested"]["b"], 6.0)
    batched = jax.vmap(lambda p: jax.tree_util.tree_map(lambda v: v * 2, p))(
        FrozenDict(a=jnp.arange(3.0))
    )
    np.testing.assert_allclose(batched["a"], [0.0, 2.0, 4.0])


# --- pickling and copying ------------------------------------------------------------


def test_reduce_and_pickle():
    fd = _example()
    cls, (state,) = fd.__reduce__()
    assert cls is FrozenDict
    assert state == {"a": 3, "b": {"x": 2, "y": 1}}
    assert type(state) is dict
    loaded = pickle.loads(pickle.dumps(fd))
    assert type(loaded) is FrozenDict
    assert loaded == fd
    assert type(loaded._dict["b"]) is dict
    assert b"flaxen.core.frozen_dict" in pickle.dumps(fd)


def test_copy_module():
    fd = FrozenDict(a={"b": [1]})
    deep = copy_module.deepcopy(fd)
    assert deep == fd
    assert deep._dict["a"]["b"] is not fd._dict["a"]["b"]
    assert copy_module.copy(fd) == fd


def test_generic_alias():
    assert FrozenDict[str, int].__origin__ is FrozenDict


# --- serialization ---------------------------------------------------------------------


def test_state_dict_round_trip():
    fd = FrozenDict(b=1, a={"d": 1, "c": 2}, t=(5, 6))
    state = serialization.to_state_dict(fd)
    assert state == {"b": 1, "a": {"d": 1, "c": 2}, "t": {"0": 5, "1": 6}}
    assert type(state) is dict
    assert type(state["a"]) is dict
    assert list(state) == ["b", "a", "t"]
    restored = serialization.from_state_dict(
        fd, {"b": 7, "a": {"d": 8, "c": 9}, "t": {"0": 1, "1": 2}, "extra": 0}
    )
    assert type(restored) is FrozenDict
    assert restored == {"b": 7, "a": {"d": 8, "c": 9}, "t": (1, 2)}
    assert type(restored._dict["a"]) is dict
    assert serialization.is_serializable(fd)


def test_state_dict_missing_keys():
    fd = FrozenDict(a=1, b={"c": 2})
    with pytest.raises(StateDictMismatchError) as info:
        serialization.from_state_dict(fd, {"a": 3, "b": {}})
    assert info.value.detail == (
        "The target dict keys and state dict keys do not match, target dict contains"
        " keys {'c'} which are not present in state dict at path ./b"
    )


def test_doctests():
    import doctest

    from flaxen.core import _frozen_dict, frozen_dict

    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    names = set()
    for module in (frozen_dict, _frozen_dict):
        for test in finder.find(module):
            if test.examples and test.name.rsplit(".", 1)[-1] not in names:
                names.add(test.name.rsplit(".", 1)[-1])
                runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.failed == 0
    assert {"FrozenDict", "freeze", "unfreeze", "copy", "pop", "pretty_repr"} <= names
