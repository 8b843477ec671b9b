"""flaxen.traverse_util against flax.traverse_util, run side by side on the same inputs.

Deliberate differences, all where Flax raises or is inconsistent (not compared
here, covered by test_traverse_util.py): ``each()`` over a FrozenDict yields
values (Flax: keys) and can update it; ``TraverseItem`` updates FrozenDicts
and applies ``fn`` per item of a list slice (Flax: to the whole sub-list);
``each()`` updates namedtuples and dict/list subclasses; private attribute
names are not traversal steps; no DeprecationWarning on construction.
"""

import collections
import dataclasses
import inspect
from collections.abc import Iterator, Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

pytestmark = [
    pytest.mark.compat,
    # Flax announces the deprecation of its Traversal classes on construction.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

flax_traverse_util = pytest.importorskip("flax.traverse_util")
flax_core = pytest.importorskip("flax.core")

from flaxen import core as flaxen_core  # noqa: E402
from flaxen import traverse_util  # noqa: E402

NT = collections.namedtuple("NT", "a b")


@dataclasses.dataclass(frozen=True)
class Foo:
    foo: int = 0
    bar: int = 0


def _normalize(x):
    if type(x).__name__ == "_EmptyNode":
        return "<empty_node>"
    if isinstance(x, Iterator):
        return ("iter", [_normalize(v) for v in x])
    if isinstance(x, Mapping):
        kind = "dict" if isinstance(x, dict) else "frozen"
        return (
            kind,
            type(x).__name__ if kind == "dict" else "",
            [(k, _normalize(v)) for k, v in x.items()],
        )
    if isinstance(x, (list, tuple)):
        return (type(x).__name__, [_normalize(v) for v in x])
    return x


def _flatten(t, freeze):
    xs = {"b": 1, "a": {"d": 2, "c": {}, "e": {"f": 3}}, "g": {}}
    return [
        t.flatten_dict(xs),
        t.flatten_dict(xs, keep_empty_nodes=True),
        t.flatten_dict(xs, sep="/"),
        t.flatten_dict(xs, sep="/", keep_empty_nodes=True),
        t.flatten_dict(freeze(xs), keep_empty_nodes=True),
        t.flatten_dict({}),
        t.flatten_dict({}, keep_empty_nodes=True),
        t.flatten_dict({1: {2: 3}, ("x", "y"): {"z": 4}}),
        t.flatten_dict({"a": None, "b": t.empty_node}),
    ]


def _is_leaf(t, freeze):
    calls = []

    def is_leaf(path, node):
        calls.append(path)
        return path in {("a", "e"), ("g",)}

    xs = {"b": 1, "a": {"d": 2, "c": {}, "e": {"f": 3}}, "g": {}}
    out = [t.flatten_dict(xs, is_leaf=is_leaf, keep_empty_nodes=True), list(calls)]
    out.append(t.flatten_dict({"a": 1}, is_leaf=lambda p, n: True))
    out.append(t.flatten_dict({"a": 1}, is_leaf=lambda p, n: True, sep="/"))
    out.append(t.flatten_dict({}, is_leaf=lambda p, n: True))
    return out


def _unflatten(t, freeze):
    return [
        t.unflatten_dict({("b", "y"): 1, ("a",): 2, ("b", "x"): 3}),
        t.unflatten_dict({"a/b": 1, "c": 2, "d": t.empty_node}, sep="/"),
        t.unflatten_dict({"a//b": 1, "": 2}, sep="/"),
        t.unflatten_dict({("a",): t.empty_node, ("a", "b"): 1}),
        t.unflatten_dict({("a", "b"): 1, ("a",): t.empty_node}),
        t.unflatten_dict({("a", "b"): 2, ("a",): 1}),
        t.unflatten_dict({("a", "b"): t.empty_node}),
        t.unflatten_dict({"ab": 1}),
        t.unflatten_dict({}),
        t.unflatten_dict(t.flatten_dict({"a": {"b": {}}, "c": {}}, keep_empty_nodes=True)),
    ]


def _path_aware_map(t, freeze):
    calls = []
    f = lambda path, x: calls.append(path) or (path, x)
    out = [t.path_aware_map(f, {"b": {"x": 1, "y": {}}, "a": 2})]
    out.append(t.path_aware_map(lambda p, x: -x, freeze({"a": {"x": 1}, "e": {}})))
    return [*out, calls]


def _traversals(t, freeze):
    i = t.t_identity
    data = [{"foo": 1, "bar": 2}, {"foo": 3, "bar": 4}]
    params = {"a": {"b": 1, "c": [1, 2]}, "d": 3}
    return [
        list(i.iterate(5)),
        i.update(lambda x: x + 1, 5),
        i.set([7], 5),
        list(i.each()["foo"].iterate(data)),
        i.each()["foo"].update(lambda x: -x, data),
        i.each()["bar"].set([20, 40], data),
        i["foo"].bar.update(lambda x: x + x, {"foo": Foo(bar=2)}),
        t.TraverseAttr("foo").update(lambda x: x + 1, Foo(1, 2)),
        t.TraverseAttr("a").update(lambda x: x + 1, NT(1, 2)),
        t.TraverseItem("a").update(lambda x: x + 1, {"a": 1, "b": 2}),
        t.TraverseItem(1).update(lambda x: x + 1, [1, 2, 3]),
        t.TraverseItem(1).update(lambda x: x + 1, (1, 2, 3)),
        t.TraverseItem(1).update(lambda x: x + 1, NT(1, 2)),
        t.TraverseItem(-1).update(lambda x: x * 10, [1, 2, 3]),
        t.TraverseItem(slice(0, 2)).update(lambda x: x * 10, (1, 2, 3)),
        list(t.TraverseItem(slice(0, 2)).iterate([1, 2, 3])),
        t.TraverseItem("a").update(lambda x: x, collections.OrderedDict(a=1)),
        list(t.TraverseEach().iterate({"b": 1, "a": 2})),
        list(t.TraverseEach().iterate(NT(1, 2))),
        t.TraverseEach().update(lambda x: x + 1, {"b": 1, "a": 2}),
        t.TraverseEach().update(lambda x: x + 1, (1, 2)),
        list(t.TraverseTree().iterate({"b": [1, 2], "a": 3, "n": None})),
        t.TraverseTree().update(lambda x: x + 1, {"b": [1, 2], "a": 3}),
        t.TraverseTree().update(lambda x: x + 1, freeze({"b": 1, "a": 2})),
        t.TraverseTree().set([7, 8], {"b": 0, "a": 1}),
        i.each().filter(lambda x: x % 2 == 0).update(lambda x: -x, [1, 2, 3, 4]),
        i.merge(t.TraverseItem("a"), t.TraverseItem("d")).update(lambda x: [x], params),
        i.merge(t.TraverseItem("d"), t.TraverseItem("d")).update(lambda x: x + 1, params),
        list(i.merge(t.TraverseItem("d"), t.TraverseItem("d")).iterate(params)),
        i["a"]["c"].each().set([5, 6], params),
        list(t.TraverseMerge().iterate(params)),
    ]


def _model_params(t, freeze):
    calls = []

    def f(name, value):
        calls.append(name)
        return "kernel" in name or name == "/b"

    mpt = t.ModelParamTraversal(f)
    params = {"params": {"Dense_1": {"kernel": 3, "bias": 4}, "Dense_0": {"kernel": 1, "bias": 2}}}
    xs = {"b": 1, "a": {"d": 2, "c": 3}, "e": {}}
    return [
        list(mpt.iterate(params)),
        mpt.update(lambda x: -x, params),
        mpt.update(lambda x: -x, params["params"]),
        mpt.update(lambda x: -x, freeze(params)),
        list(mpt.iterate(xs)),
        mpt.update(lambda x: -x, xs),
        mpt.set([10, 30], params),
        t.ModelParamTraversal(lambda n, v: True).update(lambda x: x * 2, {"a": [1, 2]}),
        calls,
    ]


CASES = [_flatten, _is_leaf, _unflatten, _path_aware_map, _traversals, _model_params]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__.strip("_"))
def test_same_results(case):
    ours = case(traverse_util, flaxen_core.freeze)
    theirs = case(flax_traverse_util, flax_core.freeze)
    assert _normalize(ours) == _normalize(theirs)


@pytest.mark.parametrize(
    "call",
    [
        lambda t: t.flatten_dict(3),
        lambda t: t.flatten_dict([1, 2]),
        lambda t: t.flatten_dict({1: {2: 3}}, sep="/"),
        lambda t: t.unflatten_dict({("a",): 1, ("a", "b"): 2}),
        lambda t: t.unflatten_dict({(): 1}),
        lambda t: t.unflatten_dict({1: 2}, sep="/"),
        lambda t: t.t_identity.set([1, 2], 0),
        lambda t: t.t_identity.set([], 0),
        lambda t: t.TraverseEach().update(lambda x: x, {1, 2}),
        lambda t: list(t.TraverseItem("z").iterate({"a": 1})),
        lambda t: list(t.TraverseAttr("z").iterate(Foo())),
        lambda t: list(t.ModelParamTraversal(lambda n, v: True).iterate(3)),
        lambda t: t.Traversal(),
    ],
)
def test_both_raise(call):
    with pytest.raises(Exception):
        call(flax_traverse_util)
    with pytest.raises(Exception):
        call(traverse_util)


def test_same_public_names_and_signatures():
    public = [
        "flatten_dict",
        "unflatten_dict",
        "path_aware_map",
        "empty_node",
        "t_identity",
        "Traversal",
        "TraverseId",
        "TraverseMerge",
        "TraverseCompose",
        "TraverseFilter",
        "TraverseAttr",
        "TraverseItem",
        "TraverseEach",
        "TraverseTree",
        "ModelParamTraversal",
    ]
    for name in public:
        ours, theirs = getattr(traverse_util, name), getattr(flax_traverse_util, name)
        assert type(ours).__name__ == type(theirs).__name__ or isinstance(ours, type), name
        if not callable(ours):
            continue
        theirs_params = list(inspect.signature(theirs).parameters)
        if theirs_params != ["args", "kwargs"]:  # classes without their own __init__
            assert list(inspect.signature(ours).parameters) == theirs_params, name
    for method in ["iterate", "update", "set", "compose", "merge", "each", "filter", "tree"]:
        ours = inspect.signature(getattr(traverse_util.Traversal, method))
        theirs = inspect.signature(getattr(flax_traverse_util.Traversal, method))
        assert list(ours.parameters) == list(theirs.parameters), method


_keys = st.text(min_size=1, max_size=3, alphabet="abxy")
_nested = st.recursive(
    st.integers(),
    lambda children: st.dictionaries(_keys, children, max_size=3),
    max_leaves=12,
)


@given(st.dictionaries(_keys, _nested, max_size=4), st.booleans(), st.sampled_from([None, "/"]))
def test_flatten_and_unflatten_agree_on_random_trees(xs, keep, sep):
    ours = traverse_util.flatten_dict(xs, keep_empty_nodes=keep, sep=sep)
    theirs = flax_traverse_util.flatten_dict(xs, keep_empty_nodes=keep, sep=sep)
    assert _normalize(ours) == _normalize(theirs)
    assert traverse_util.unflatten_dict(ours, sep=sep) == flax_traverse_util.unflatten_dict(
        theirs, sep=sep
    )
