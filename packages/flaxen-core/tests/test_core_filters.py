"""Collection filters: matching, DenyList, set algebra, grouping, invalid filters."""

import itertools

import pytest

from flaxen.core import DenyList, apply, bind
from flaxen.core.lift import (
    group_collections,
    in_filter,
    intersect_filters,
    is_filter_empty,
    subtract_filters,
    union_filters,
)
from flaxen.errors import FlaxenError, InvalidFilterError

NAMES = ("params", "batch_stats", "cache", "intermediates")

# Every kind of filter: bools, a name, collections of names, deny lists of each.
FILTERS = (
    True,
    False,
    "params",
    "cache",
    ["params", "cache"],
    ("batch_stats",),
    {"cache", "intermediates"},
    [],
    DenyList("params"),
    DenyList(["params", "cache"]),
    DenyList(True),
    DenyList(False),
)


@pytest.mark.parametrize(
    ("filter_like", "matched"),
    [
        (True, set(NAMES)),
        (False, set()),
        ("params", {"params"}),
        (["params", "cache"], {"params", "cache"}),
        (("cache",), {"cache"}),
        ({"batch_stats"}, {"batch_stats"}),
        (frozenset({"params"}), {"params"}),
        ([], set()),
        (DenyList("params"), set(NAMES) - {"params"}),
        (DenyList(["params", "cache"]), {"batch_stats", "intermediates"}),
        (DenyList(True), set()),
        (DenyList(False), set(NAMES)),
        (DenyList(DenyList("cache")), {"cache"}),
    ],
)
def test_in_filter_matches(filter_like, matched):
    assert {name for name in NAMES if in_filter(filter_like, name)} == matched


def test_a_name_filter_matches_the_whole_name_only():
    assert not in_filter("param", "params")
    assert not in_filter("params", "param")
    # A string is one name, never a collection of characters.
    assert not in_filter("ab", "a")


def test_nested_lists_are_not_flattened():
    assert not in_filter([["params"]], "params")


@pytest.mark.parametrize(("a", "b"), list(itertools.product(FILTERS, FILTERS)))
def test_filter_algebra_semantics(a, b):
    union = union_filters(a, b)
    intersection = intersect_filters(a, b)
    difference = subtract_filters(a, b)
    for name in NAMES:
        in_a, in_b = in_filter(a, name), in_filter(b, name)
        assert in_filter(union, name) == (in_a or in_b), (a, b, name)
        assert in_filter(intersection, name) == (in_a and in_b), (a, b, name)
        assert in_filter(difference, name) == (in_a and not in_b), (a, b, name)


def test_filter_algebra_representations():
    assert union_filters(True, "a") is True
    assert union_filters("a", False) == "a"
    assert union_filters("a", "b") == {"a", "b"}
    assert union_filters(DenyList("a"), "a") == DenyList(set())
    assert union_filters(DenyList(["a", "b"]), DenyList("b")) == DenyList({"b"})
    assert intersect_filters(True, "b") == "b"
    assert intersect_filters(["a", "b"], "b") == {"b"}
    assert intersect_filters(DenyList("a"), ["a", "b"]) == {"b"}
    assert intersect_filters(DenyList("a"), DenyList("b")) == DenyList({"a", "b"})
    assert subtract_filters(True, "a") == DenyList("a")
    assert subtract_filters(["a", "b"], "a") == {"b"}
    assert subtract_filters(DenyList("a"), "b") == DenyList({"a", "b"})
    assert subtract_filters("a", DenyList("a")) == {"a"}
    assert subtract_filters("a", True) is False


@pytest.mark.parametrize(
    ("filter_like", "empty"),
    [
        (False, True),
        ([], True),
        ((), True),
        (set(), True),
        (True, False),
        ("a", False),
        (["a"], False),
        (DenyList("a"), False),
    ],
)
def test_is_filter_empty(filter_like, empty):
    assert is_filter_empty(filter_like) is empty


def test_group_collections_first_match_wins_and_unmatched_are_dropped():
    xs = {"a": 1, "b": 2, "c": 3}
    assert group_collections(xs, ["a", True, "b"]) == ({"a": 1}, {"b": 2, "c": 3}, {})
    assert group_collections(xs, [DenyList("a")]) == ({"b": 2, "c": 3},)
    assert group_collections(xs, [["c"], False]) == ({"c": 3}, {})
    assert group_collections(xs, ()) == ()


def test_group_collections_keeps_values_by_identity():
    tree = {"w": 1}
    (group,) = group_collections({"params": tree}, ["params"])
    assert group["params"] is tree


@pytest.mark.parametrize("bad", [3, 1.5, None, object()])
def test_invalid_filter_error(bad):
    with pytest.raises(InvalidFilterError) as info:
        in_filter(bad, "params")
    assert isinstance(info.value, FlaxenError)
    assert isinstance(info.value, TypeError)
    assert info.value.filter_like is bad
    message = str(info.value)
    assert message.startswith(f'Invalid Filter: "{bad}"')
    assert "DenyList" in message


def test_is_filter_empty_rejects_invalid_filters():
    with pytest.raises(InvalidFilterError, match='Invalid Filter: "3"'):
        is_filter_empty(3)


def test_invalid_filter_inside_deny_list():
    with pytest.raises(InvalidFilterError):
        in_filter(DenyList(3), "params")


def test_filter_algebra_rejects_invalid_filters():
    with pytest.raises(InvalidFilterError):
        union_filters(3, "a")


def test_invalid_mutable_filter_is_rejected_by_apply_and_bind():
    with pytest.raises(InvalidFilterError):
        apply(lambda scope: None, mutable=3)({})
    with pytest.raises(InvalidFilterError):
        bind({}, mutable=[1])


@pytest.mark.parametrize(
    ("mutable", "expected"),
    [
        (True, {"params", "stats", "cache"}),
        (False, set()),
        ("stats", {"stats"}),
        (["stats", "cache"], {"stats", "cache"}),
        (("cache",), {"cache"}),
        ({"params"}, {"params"}),
        (DenyList("params"), {"stats", "cache"}),
        (DenyList(["params", "stats"]), {"cache"}),
    ],
)
def test_is_mutable_collection_with_every_filter_kind(mutable, expected):
    scope = bind({"params": {}, "stats": {}}, mutable=mutable)
    assert {c for c in ("params", "stats", "cache") if scope.is_mutable_collection(c)} == expected
    # Children share the root's mutability.
    child = scope.push("child")
    assert {c for c in ("params", "stats", "cache") if child.is_mutable_collection(c)} == expected


def test_deny_list_is_hashable_and_compares_by_value():
    assert DenyList("a") == DenyList("a")
    assert DenyList("a") != DenyList("b")
    assert hash(DenyList("a")) == hash(DenyList("a"))
