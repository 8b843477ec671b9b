"""flaxen.traverse_util: flatten/unflatten, path_aware_map, traversals, ModelParamTraversal."""

import collections
import copy
import dataclasses
import pickle

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flaxen import traverse_util as tu
from flaxen.core import FrozenDict, freeze

NT = collections.namedtuple("NT", "a b")


@dataclasses.dataclass
class Foo:
    foo: int = 0
    bar: int = 0


@dataclasses.dataclass(frozen=True)
class FrozenFoo:
    foo: int = 0
    bar: int = 0


class Plain:
    def __init__(self, foo):
        self.foo = foo


class Slots:
    __slots__ = ("foo",)

    def __init__(self, foo):
        self.foo = foo


# ---------------------------------------------------------------- flatten_dict


def test_flatten_keeps_depth_first_insertion_order():
    xs = {"b": 1, "a": {"d": 2, "c": 3}, "e": 4}
    flat = tu.flatten_dict(xs)
    assert list(flat.items()) == [(("b",), 1), (("a", "d"), 2), (("a", "c"), 3), (("e",), 4)]


def test_flatten_drops_empty_dicts_unless_kept():
    xs = {"a": {}, "b": 1, "c": {"d": {}}}
    assert tu.flatten_dict(xs) == {("b",): 1}
    kept = tu.flatten_dict(xs, keep_empty_nodes=True)
    assert kept == {("a",): tu.empty_node, ("b",): 1, ("c", "d"): tu.empty_node}
    assert list(kept) == [("a",), ("b",), ("c", "d")]


def test_flatten_empty_root_is_empty_even_when_keeping_empty_nodes():
    assert tu.flatten_dict({}) == {}
    assert tu.flatten_dict({}, keep_empty_nodes=True) == {}


def test_flatten_sep_joins_string_keys():
    xs = {"a": {"b": 1, "c": {}}, "d": 2}
    assert tu.flatten_dict(xs, sep="/") == {"a/b": 1, "d": 2}
    assert tu.flatten_dict(xs, sep=".", keep_empty_nodes=True) == {
        "a.b": 1,
        "a.c": tu.empty_node,
        "d": 2,
    }
    with pytest.raises(TypeError):
        tu.flatten_dict({1: {2: 3}}, sep="/")


def test_flatten_non_string_keys_as_tuples():
    assert tu.flatten_dict({1: {2: 3}, ("x", "y"): {"z": 4}}) == {(1, 2): 3, (("x", "y"), "z"): 4}


def test_flatten_is_leaf_is_called_on_every_mapping_depth_first():
    calls = []

    def is_leaf(path, node):
        calls.append((path, dict(node)))
        return False

    xs = {"a": {"b": {"c": 1}, "x": 5}, "d": {"e": 2}, "f": 3}
    assert tu.flatten_dict(xs, is_leaf=is_leaf) == {
        ("a", "b", "c"): 1,
        ("a", "x"): 5,
        ("d", "e"): 2,
        ("f",): 3,
    }
    assert [path for path, _ in calls] == [(), ("a",), ("a", "b"), ("d",)]
    assert calls[0][1] == xs


def test_flatten_is_leaf_stops_descent_and_precedes_emptiness():
    xs = {"a": {"b": {"c": 1}}, "d": {"e": 2}, "g": {}}
    flat = tu.flatten_dict(xs, is_leaf=lambda path, node: path in {("a",), ("g",)})
    assert flat == {("a",): {"b": {"c": 1}}, ("d", "e"): 2, ("g",): {}}
    assert flat[("a",)] is xs["a"]
    assert tu.flatten_dict({"a": 1}, is_leaf=lambda p, n: True) == {(): {"a": 1}}
    assert tu.flatten_dict({"a": 1}, is_leaf=lambda p, n: True, sep="/") == {"": {"a": 1}}


def test_flatten_accepts_frozendict_and_other_mappings():
    class Mapping(collections.abc.Mapping):
        def __init__(self, d):
            self.d = d

        def __getitem__(self, k):
            return self.d[k]

        def __iter__(self):
            return iter(self.d)

        def __len__(self):
            return len(self.d)

    xs = freeze({"a": {"b": 1, "c": {}}, "d": 2})
    flat = tu.flatten_dict(xs, keep_empty_nodes=True)
    assert type(flat) is dict
    assert flat == {("a", "b"): 1, ("a", "c"): tu.empty_node, ("d",): 2}
    nested = {
        "a": FrozenDict({"b": 1}),
        "m": Mapping({"x": {"y": 2}}),
        "o": collections.OrderedDict(z=3),
    }
    assert tu.flatten_dict(nested) == {("a", "b"): 1, ("m", "x", "y"): 2, ("o", "z"): 3}
    assert tu.flatten_dict(Mapping({"x": 1})) == {("x",): 1}


@pytest.mark.parametrize("bad", [3, [1, 2], None, (("a", 1),)])
def test_flatten_rejects_non_mappings(bad):
    with pytest.raises(TypeError, match="expected a \\(frozen\\)dict"):
        tu.flatten_dict(bad)


def test_flatten_leaves_are_not_copied():
    leaf = [1, 2]
    assert tu.flatten_dict({"a": {"b": leaf}})[("a", "b")] is leaf


# -------------------------------------------------------------- unflatten_dict


def test_unflatten_builds_nested_dicts_in_first_seen_order():
    xs = tu.unflatten_dict({("b", "y"): 1, ("a",): 2, ("b", "x"): 3})
    assert xs == {"b": {"y": 1, "x": 3}, "a": 2}
    assert list(xs) == ["b", "a"] and list(xs["b"]) == ["y", "x"]


def test_unflatten_sep_and_empty_nodes():
    assert tu.unflatten_dict({"a/b": 1, "c": 2, "d": tu.empty_node}, sep="/") == {
        "a": {"b": 1},
        "c": 2,
        "d": {},
    }
    assert tu.unflatten_dict({"a//b": 1}, sep="/") == {"a": {"": {"b": 1}}}
    assert tu.unflatten_dict({("a", "b"): tu.empty_node}) == {"a": {"b": {}}}
    with pytest.raises(TypeError, match="needs string keys"):
        tu.unflatten_dict({1: 2}, sep="/")


def test_unflatten_later_paths_win():
    # An empty node followed by a child: the child fills the empty dict.
    assert tu.unflatten_dict({("a",): tu.empty_node, ("a", "b"): 1}) == {"a": {"b": 1}}
    # A shorter path after a longer one replaces the subtree (as Flax does).
    assert tu.unflatten_dict({("a", "b"): 1, ("a",): tu.empty_node}) == {"a": {}}
    assert tu.unflatten_dict({("a", "b"): 2, ("a",): 1}) == {"a": 1}


def test_unflatten_through_a_leaf_is_a_type_error():
    with pytest.raises(TypeError, match=r"\('a',\) holds the leaf 1"):
        tu.unflatten_dict({("a",): 1, ("a", "b"): 2})


def test_unflatten_never_modifies_a_dict_given_as_leaf():
    leaf = {"x": 1}
    xs = tu.unflatten_dict({("a",): leaf, ("a", "b"): 2})
    assert xs == {"a": {"x": 1, "b": 2}}
    assert leaf == {"x": 1}


def test_unflatten_rejects_empty_paths_and_non_mappings():
    with pytest.raises(ValueError, match="empty path"):
        tu.unflatten_dict({(): 1})
    with pytest.raises(TypeError, match="expected a dict"):
        tu.unflatten_dict([(("a",), 1)])


def test_unflatten_accepts_frozendict_and_returns_plain_dicts():
    xs = tu.unflatten_dict(FrozenDict({("a", "b"): 1}))
    assert xs == {"a": {"b": 1}} and type(xs) is dict and type(xs["a"]) is dict


def test_unflatten_string_keys_without_sep_are_sequences_of_parts():
    assert tu.unflatten_dict({"ab": 1}) == {"a": {"b": 1}}


# --------------------------------------------------------------- round trips

keys = st.text(min_size=1, max_size=4, alphabet="abcxyz_")
nested = st.recursive(
    st.integers() | st.none() | st.floats(allow_nan=False),
    lambda children: st.dictionaries(keys, children, max_size=4),
    max_leaves=20,
)
nested_dicts = st.dictionaries(keys, nested, max_size=5)


def _drop_empty(xs):
    out = {}
    for k, v in xs.items():
        kept = _drop_empty(v) if isinstance(v, dict) else v
        if kept != {} or not isinstance(v, dict):
            out[k] = kept
    return out


@given(nested_dicts)
def test_round_trip_with_empty_nodes(xs):
    assert tu.unflatten_dict(tu.flatten_dict(xs, keep_empty_nodes=True)) == xs


@given(nested_dicts)
def test_round_trip_drops_empty_dicts(xs):
    assert tu.unflatten_dict(tu.flatten_dict(xs)) == _drop_empty(xs)


@given(nested_dicts)
def test_round_trip_with_separator(xs):
    flat = tu.flatten_dict(xs, keep_empty_nodes=True, sep="/")
    assert all(isinstance(k, str) for k in flat)
    assert tu.unflatten_dict(flat, sep="/") == xs


@given(nested_dicts)
def test_round_trip_through_frozendict(xs):
    assert tu.unflatten_dict(tu.flatten_dict(freeze(xs), keep_empty_nodes=True)) == xs


@given(nested_dicts)
def test_flat_paths_reach_their_leaves(xs):
    for path, leaf in tu.flatten_dict(xs).items():
        node = xs
        for part in path:
            node = node[part]
        assert node is leaf


@given(nested_dicts)
def test_path_aware_map_sees_every_path(xs):
    seen = []
    mapped = tu.path_aware_map(lambda path, x: seen.append(path) or path, xs)
    assert seen == list(tu.flatten_dict(xs))
    for path, leaf in tu.flatten_dict(mapped, keep_empty_nodes=True).items():
        assert leaf is tu.empty_node or leaf == path


# -------------------------------------------------------------- path_aware_map


def test_path_aware_map_keeps_empty_dicts_and_returns_dicts():
    calls = []
    out = tu.path_aware_map(lambda p, x: calls.append(p) or -x, freeze({"a": {}, "b": {"c": 1}}))
    assert out == {"a": {}, "b": {"c": -1}}
    assert type(out) is dict and type(out["b"]) is dict
    assert calls == [("b", "c")]


def test_path_aware_map_with_arrays():
    params = {"dense": {"kernel": jnp.ones((2, 2)), "bias": jnp.zeros(2)}}
    out = tu.path_aware_map(lambda p, x: x * 2 if p[-1] == "kernel" else x, params)
    np.testing.assert_array_equal(out["dense"]["kernel"], 2 * np.ones((2, 2)))
    assert out["dense"]["bias"] is params["dense"]["bias"]


# -------------------------------------------------------------------- empty_node


def test_empty_node_is_a_leafless_pytree_and_a_singleton():
    assert repr(tu.empty_node) == "_EmptyNode()"
    assert type(tu.empty_node)() is tu.empty_node
    assert tu.empty_node == type(tu.empty_node)() and tu.empty_node != {}
    assert hash(tu.empty_node) == hash(type(tu.empty_node)())
    assert jax.tree_util.tree_leaves({"a": tu.empty_node, "b": 1}) == [1]
    mapped = jax.tree_util.tree_map(lambda x: x + 1, {"a": tu.empty_node, "b": 1})
    assert mapped == {"a": tu.empty_node, "b": 2}
    assert pickle.loads(pickle.dumps(tu.empty_node)) is tu.empty_node
    assert copy.deepcopy(tu.empty_node) is tu.empty_node
    assert tu.empty_node.replace() is tu.empty_node
    with pytest.raises(TypeError):
        tu.empty_node.replace(x=1)


def test_empty_node_survives_jit():
    out = jax.jit(lambda tree: tree)({"a": tu.empty_node, "b": jnp.ones(())})
    assert out["a"] is tu.empty_node


# --------------------------------------------------------------------- traversals

T = tu.t_identity


def test_identity():
    assert list(T.iterate(5)) == [5]
    assert T.update(lambda x: x + 1, 5) == 6
    assert T.set([7], 5) == 7
    assert isinstance(T, tu.TraverseId)


def test_set_checks_the_number_of_values():
    with pytest.raises(ValueError, match="Too many values provided"):
        T.set([7, 8], 5)
    with pytest.raises(ValueError, match="Not enough values provided"):
        T.set([], 5)
    with pytest.raises(ValueError, match="Not enough values provided"):
        T.each().set([10], [1, 2])
    assert T.each().set(iter([10, 20]), [1, 2]) == [10, 20]


def test_base_class_is_abstract():
    with pytest.raises(TypeError):
        tu.Traversal()


def test_attr_traversal():
    t = tu.TraverseAttr("foo")
    assert list(t.iterate(Foo(1))) == [1]
    assert t.update(lambda x: x + 1, Foo(1, 2)) == Foo(2, 2)
    assert t.update(lambda x: x + 1, FrozenFoo(1, 2)) == FrozenFoo(2, 2)
    assert tu.TraverseAttr("a").update(lambda x: x + 1, NT(1, 2)) == NT(2, 2)
    original = Plain(1)
    updated = t.update(lambda x: x + 1, original)
    assert (original.foo, updated.foo) == (1, 2)
    assert t.update(lambda x: x + 1, Slots(1)).foo == 2
    with pytest.raises(AttributeError):
        list(tu.TraverseAttr("zz").iterate(Foo()))


def test_item_traversal():
    assert list(tu.TraverseItem("a").iterate({"a": 1})) == [1]
    source = {"a": 1, "b": 2}
    assert tu.TraverseItem("a").update(lambda x: x + 1, source) == {"a": 2, "b": 2}
    assert source == {"a": 1, "b": 2}
    assert tu.TraverseItem(1).update(lambda x: x + 1, [1, 2, 3]) == [1, 3, 3]
    assert tu.TraverseItem(1).update(lambda x: x + 1, (1, 2, 3)) == (1, 3, 3)
    assert tu.TraverseItem(-1).update(lambda x: x * 10, [1, 2, 3]) == [1, 2, 30]
    updated = tu.TraverseItem(1).update(lambda x: x + 1, NT(1, 2))
    assert updated == NT(1, 3) and type(updated) is NT
    ordered = tu.TraverseItem("a").update(lambda x: x, collections.OrderedDict(a=1))
    assert type(ordered) is collections.OrderedDict
    with pytest.raises(KeyError):
        list(tu.TraverseItem("zz").iterate({"a": 1}))
    with pytest.raises(KeyError):
        tu.TraverseItem("zz").update(lambda x: x, {"a": 1})
    with pytest.raises(TypeError):
        tu.TraverseItem(0).update(lambda x: x, "abc")


def test_item_traversal_updates_frozendict_into_a_frozendict():
    updated = tu.TraverseItem("a").update(lambda x: x + 1, freeze({"a": 1, "b": {"c": 2}}))
    assert isinstance(updated, FrozenDict)
    assert updated == freeze({"a": 2, "b": {"c": 2}})


def test_item_traversal_with_slices_selects_each_item():
    assert list(tu.TraverseItem(slice(0, 2)).iterate([1, 2, 3])) == [1, 2]
    assert tu.TraverseItem(slice(0, 2)).update(lambda x: x * 10, [1, 2, 3]) == [10, 20, 3]
    assert tu.TraverseItem(slice(0, 2)).update(lambda x: x * 10, (1, 2, 3)) == (10, 20, 3)
    assert tu.TraverseItem(slice(None, None, 2)).update(lambda x: -x, [1, 2, 3, 4, 5]) == [
        -1,
        2,
        -3,
        4,
        -5,
    ]


def test_each_traversal():
    each = tu.TraverseEach()
    assert list(each.iterate([1, 2])) == [1, 2]
    assert list(each.iterate({"b": 1, "a": 2})) == [1, 2]
    assert list(each.iterate(freeze({"b": 1, "a": 2}))) == [1, 2]
    assert list(each.iterate(NT(1, 2))) == [1, 2]
    assert each.update(lambda x: x + 1, [1, 2]) == [2, 3]
    assert each.update(lambda x: x + 1, (1, 2)) == (2, 3)
    assert each.update(lambda x: x + 1, NT(1, 2)) == NT(2, 3)
    updated = each.update(lambda x: x + 1, {"b": 1, "a": 2})
    assert updated == {"b": 2, "a": 3} and list(updated) == ["b", "a"]
    frozen = each.update(lambda x: x + 1, freeze({"b": 1}))
    assert isinstance(frozen, FrozenDict) and frozen == {"b": 2}
    counts = each.update(lambda x: x + 1, collections.defaultdict(int, a=1))
    assert type(counts) is collections.defaultdict and counts["a"] == 2 and counts["z"] == 0
    with pytest.raises(ValueError, match="Only the entries of a list, tuple or mapping"):
        each.update(lambda x: x, {1, 2})
    with pytest.raises(ValueError, match="Only the entries"):
        each.update(lambda x: x, "ab")
    with pytest.raises(TypeError):
        list(each.iterate(3))


def test_tree_traversal_uses_jax_leaf_order():
    tree = tu.TraverseTree()
    assert list(tree.iterate({"b": [1, 2], "a": 3})) == [3, 1, 2]
    assert list(tree.iterate({"a": None, "b": 1})) == [1]
    assert tree.update(lambda x: x + 1, {"b": [1, 2], "a": 3}) == {"a": 4, "b": [2, 3]}
    assert tree.set([7, 8], {"b": 0, "a": 1}) == {"a": 7, "b": 8}
    frozen = tree.update(lambda x: x + 1, freeze({"b": 1, "a": 2}))
    assert isinstance(frozen, FrozenDict) and frozen == {"a": 3, "b": 2}


def test_filter_traversal():
    positive = tu.TraverseFilter(lambda x: x > 1)
    assert list(positive.iterate(3)) == [3] and list(positive.iterate(0)) == []
    assert positive.update(lambda x: -x, 3) == -3
    assert positive.update(lambda x: -x, 0) == 0
    evens = T.each().filter(lambda x: x % 2 == 0)
    assert evens.update(lambda x: -x, [1, 2, 3, 4]) == [1, -2, 3, -4]
    assert evens.set([20, 40], [1, 2, 3, 4]) == [1, 20, 3, 40]


def test_compose_and_chaining():
    data = [{"foo": 1, "bar": 2}, {"foo": 3, "bar": 4}]
    assert list(T.each()["foo"].iterate(data)) == [1, 3]
    assert T["foo"].bar.update(lambda x: x + x, {"foo": Foo(bar=2)}) == {"foo": Foo(bar=4)}
    nested = tu.TraverseItem("a").compose(tu.TraverseItem("b"))
    assert isinstance(nested, tu.TraverseCompose)
    assert nested.update(lambda x: -x, {"a": {"b": 1, "c": 2}, "d": 3}) == {
        "a": {"b": -1, "c": 2},
        "d": 3,
    }
    assert T["a"].each().set([5, 6], {"a": [1, 2], "b": 0}) == {"a": [5, 6], "b": 0}
    assert list(T.each().each().iterate([[1, 2], [3]])) == [1, 2, 3]
    for step in (T.each(), T.filter(bool), T.tree(), T.merge(T), T.foo, T["foo"]):
        assert isinstance(step, tu.TraverseCompose)


def test_merge_traversal():
    both = T.merge(tu.TraverseItem("a"), tu.TraverseItem("b"))
    data = {"a": 1, "b": 2, "c": 3}
    assert list(both.iterate(data)) == [1, 2]
    assert both.update(lambda x: -x, data) == {"a": -1, "b": -2, "c": 3}
    assert both.set([5, 6], {"a": 1, "b": 2}) == {"a": 5, "b": 6}
    twice = T.merge(tu.TraverseItem("a"), tu.TraverseItem("a"))
    assert twice.update(lambda x: x + 1, {"a": 1}) == {"a": 3}
    assert list(twice.iterate({"a": 1})) == [1, 1]
    assert list(tu.TraverseMerge().iterate({"a": 1})) == []


def test_update_never_mutates_the_input():
    data = {"a": [1, {"b": 2}], "c": Foo(1)}
    snapshot = copy.deepcopy(data)
    T["a"][1]["b"].update(lambda x: x + 1, data)
    T["a"].each().set([0, 0], data)
    T["c"].foo.update(lambda x: x + 1, data)
    T.tree().update(lambda x: x, data)
    assert data == snapshot


def test_private_and_special_attributes_are_not_traversal_steps():
    with pytest.raises(AttributeError):
        T._private
    assert not hasattr(T, "__array__")
    assert not hasattr(T, "__jax_array__")
    clone = copy.deepcopy(T["a"].each())
    assert clone.update(lambda x: x + 1, {"a": [1]}) == {"a": [2]}
    assert pickle.loads(pickle.dumps(T["a"])).update(lambda x: -x, {"a": 1}) == {"a": -1}


def test_reprs():
    assert repr(T.each()["a"].b) == (
        "TraverseCompose(TraverseCompose(TraverseCompose(TraverseId(), TraverseEach()),"
        " TraverseItem('a')), TraverseAttr('b'))"
    )
    assert (
        repr(tu.TraverseMerge(tu.TraverseTree(), T))
        == "TraverseMerge(TraverseTree(), TraverseId())"
    )


# -------------------------------------------------------------- ModelParamTraversal


PARAMS = {"Dense_1": {"kernel": 3, "bias": 4}, "Dense_0": {"kernel": 1, "bias": 2}}


def test_model_param_traversal_names_and_sorted_order():
    calls = []

    def is_kernel(name, value):
        calls.append((name, value))
        return name.endswith("/kernel")

    kernels = tu.ModelParamTraversal(is_kernel)
    assert list(kernels.iterate(PARAMS)) == [1, 3]
    assert calls == [
        ("/Dense_0/bias", 2),
        ("/Dense_0/kernel", 1),
        ("/Dense_1/bias", 4),
        ("/Dense_1/kernel", 3),
    ]
    calls.clear()
    list(kernels.iterate({"params": PARAMS}))
    assert calls[0][0] == "/params/Dense_0/bias"


def test_model_param_traversal_update_sorts_and_keeps_empty_dicts():
    everything = tu.ModelParamTraversal(lambda name, value: True)
    updated = everything.update(lambda x: -x, {"b": 1, "a": {"d": 2, "c": 3}, "e": {}})
    assert updated == {"a": {"c": -3, "d": -2}, "b": -1, "e": {}}
    assert list(updated) == ["a", "b", "e"] and list(updated["a"]) == ["c", "d"]
    kernels = tu.ModelParamTraversal(lambda name, value: "kernel" in name)
    assert kernels.update(lambda x: -x, PARAMS) == {
        "Dense_0": {"bias": 2, "kernel": -1},
        "Dense_1": {"bias": 4, "kernel": -3},
    }
    assert kernels.set([10, 30], PARAMS)["Dense_1"]["kernel"] == 30


def test_model_param_traversal_keeps_frozendict_and_lists_as_leaves():
    frozen = tu.ModelParamTraversal(lambda n, v: True).update(lambda x: -x, freeze(PARAMS))
    assert isinstance(frozen, FrozenDict)
    assert frozen == freeze(
        {"Dense_0": {"bias": -2, "kernel": -1}, "Dense_1": {"bias": -4, "kernel": -3}}
    )
    lists = tu.ModelParamTraversal(lambda n, v: True).update(lambda x: x * 2, {"a": [1, 2]})
    assert lists == {"a": [1, 2, 1, 2]}
    arrays = tu.ModelParamTraversal(lambda n, v: True).update(lambda x: x * 2, {"a": jnp.ones(2)})
    np.testing.assert_array_equal(arrays["a"], [2.0, 2.0])


def test_model_param_traversal_composes():
    assert list(tu.ModelParamTraversal(lambda n, v: True).each().iterate({"a": [1, 2]})) == [1, 2]


def test_model_param_traversal_rejects_non_dicts():
    with pytest.raises(ValueError, match="nested dict of parameters"):
        list(tu.ModelParamTraversal(lambda n, v: True).iterate(3))
    with pytest.raises(ValueError, match="nested dict of parameters"):
        tu.ModelParamTraversal(lambda n, v: True).update(lambda x: x, [1])


def test_doctests(run_doctests):
    assert run_doctests("flaxen.traverse_util") > 10
