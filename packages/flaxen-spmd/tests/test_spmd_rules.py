"""Logical axis rules: the rules context and the mapping of logical names to mesh axes."""

import threading

import jax
import numpy as np
import pytest
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from flaxen import linen as nn
from flaxen import spmd
from flaxen.errors import (
    DuplicateLogicalAxisError,
    InvalidLogicalAxisRulesError,
    UnknownMeshAxisError,
)

DOC_RULES = (("batch", "X"), ("features", "X"), ("heads", "Y"), ("batch", "Z"))


@pytest.fixture(autouse=True)
def _no_leftover_rules():
    yield
    spmd.set_logical_axis_rules(())


def test_docs_example():
    # The API reference's example: 'features' loses 'X' to 'batch', which
    # ranks first; the later ('batch', 'Z') rule is never reached.
    spec = spmd.logical_to_mesh_axes(("batch", "length", "heads", "features"), DOC_RULES)
    assert spec == P("X", None, "Y", None)
    assert type(spec) is P


@pytest.mark.parametrize(
    "names, rules, expected",
    [
        # unknown names and None are unsharded
        (("a", "b"), (("a", "x"),), P("x", None)),
        ((None, "a"), (("a", "x"),), P(None, "x")),
        # a rule mapping to None pins the dimension unsharded; later rules for it are ignored
        (("a", "b"), (("a", None), ("a", "x"), ("b", "x")), P(None, "x")),
        # mesh axes given as a tuple: all of them must be free
        (("a", "b"), (("a", ("x", "y")), ("b", "z")), P(("x", "y"), "z")),
        (("a", "b"), (("a", ("x", "y")), ("b", "y")), P(("x", "y"), None)),
        (("a", "b"), (("b", "y"), ("a", ("x", "y"))), P(None, "y")),
        # two dimensions cannot share a mesh axis: the later rule is skipped
        (("a", "b"), (("a", "x"), ("b", "x")), P("x", None)),
        (("a", "b"), (("b", "x"), ("a", "x")), P(None, "x")),
        # lists are accepted for rules and names
        (["a", "b"], [["a", "x"]], P("x", None)),
        # entries that are not names pass through and claim their mesh axes
        ((("x",), "b"), (("b", "x"),), P("x", None)),
        ((("x", "y"), "b"), (("b", "y"),), P(("x", "y"), None)),
        (("a", P.UNCONSTRAINED, "b"), (("a", "x"), ("b", "x")), P("x", P.UNCONSTRAINED, None)),
        # a rule for None never applies
        (("a", None), ((None, "x"),), P(None, None)),
        ((), (("a", "x"),), P()),
        # a PartitionSpec of logical names works like a tuple
        (P("a", "b"), (("b", "x"),), P(None, "x")),
    ],
)
def test_mapping(names, rules, expected):
    assert spmd.logical_to_mesh_axes(names, rules) == expected


def test_none_names_give_none():
    assert spmd.logical_to_mesh_axes(None, DOC_RULES) is None


def test_without_rules_everything_is_unsharded():
    assert spmd.logical_to_mesh_axes(("a", "b")) == P(None, None)
    assert spmd.logical_to_mesh_axes(("a", "b"), None) == P(None, None)
    spmd.set_logical_axis_rules(None)
    assert spmd.logical_to_mesh_axes(("a", "b")) == P(None, None)


def test_names_may_be_any_iterable():
    assert spmd.logical_to_mesh_axes(iter(("a", "b")), (("a", "x"),)) == P("x", None)


def test_duplicate_names_are_an_error():
    with pytest.raises(DuplicateLogicalAxisError) as info:
        spmd.logical_to_mesh_axes(("r", "q", "r", "q", "r"), ())
    assert info.value.duplicates == ("r", "q")
    assert str(info.value).startswith(
        "Unsupported: Dimensions ('r', 'q') occur more than once in array names"
    )
    assert isinstance(info.value, ValueError)
    # None and UNCONSTRAINED may repeat.
    assert spmd.logical_to_mesh_axes((None, None), ()) == P(None, None)
    unc = P.UNCONSTRAINED
    assert spmd.logical_to_mesh_axes((unc, unc), ()) == P(unc, unc)


@pytest.mark.parametrize(
    "rules, entry",
    [
        ({"a": "x"}, None),
        (("a", "x"), "a"),
        ((("a",),), ("a",)),
        ((("a", "x", "y"),), ("a", "x", "y")),
        (("ax",), "ax"),
    ],
)
def test_malformed_rules(rules, entry):
    with pytest.raises(InvalidLogicalAxisRulesError) as info:
        spmd.logical_to_mesh_axes(("a", "b"), rules)
    assert info.value.rules == rules and info.value.entry == entry
    assert "(logical_name, mesh_axes) pairs" in str(info.value)


def test_context_manager_sets_and_restores():
    assert spmd.get_logical_axis_rules() == ()
    outer = [("a", "x")]
    with spmd.logical_axis_rules(outer):
        assert spmd.get_logical_axis_rules() is outer
        assert spmd.logical_to_mesh_axes(("a", "b")) == P("x", None)
        # explicit rules win over the context's
        assert spmd.logical_to_mesh_axes(("a", "b"), [("b", "y")]) == P(None, "y")
        with spmd.logical_axis_rules((("b", "y"),)):
            # an inner block replaces the rules rather than extending them
            assert spmd.logical_to_mesh_axes(("a", "b")) == P(None, "y")
        assert spmd.get_logical_axis_rules() is outer
    assert spmd.get_logical_axis_rules() == ()


def test_context_restores_after_an_exception():
    with pytest.raises(RuntimeError), spmd.logical_axis_rules((("a", "x"),)):
        raise RuntimeError
    assert spmd.get_logical_axis_rules() == ()


def test_set_rules_persist_and_the_context_restores_them():
    rules = (("a", "x"),)
    assert spmd.set_logical_axis_rules(rules) is None
    assert spmd.get_logical_axis_rules() is rules
    with spmd.logical_axis_rules((("b", "y"),)):
        assert spmd.get_logical_axis_rules() == (("b", "y"),)
    assert spmd.get_logical_axis_rules() is rules


def test_rules_are_thread_local():
    seen = []
    with spmd.logical_axis_rules((("a", "x"),)):
        thread = threading.Thread(target=lambda: seen.append(spmd.get_logical_axis_rules()))
        thread.start()
        thread.join()
    assert seen == [()]


def test_logical_to_mesh_on_trees():
    tree = {"w": P("embed", "hidden"), "step": P(), "none": None, "layers": (P("layer", None),)}
    out = spmd.logical_to_mesh(tree, (("hidden", "model"), ("layer", "data")))
    assert out == {
        "w": P(None, "model"),
        "step": P(),
        "none": None,
        "layers": (P("data", None),),
    }
    with spmd.logical_axis_rules((("embed", "data"),)):
        assert spmd.logical_to_mesh({"w": P("embed", "hidden")}) == {"w": P("data", None)}


def test_logical_to_mesh_of_partition_specs_from_boxes():
    init = spmd.with_logical_partitioning(jax.nn.initializers.ones, ("embed", "hidden"))
    variables = {"params": {"w": init(jax.random.key(0), (2, 3)), "b": np.zeros(3)}}
    specs = nn.get_partition_spec(variables)
    assert specs == {"params": {"w": P("embed", "hidden"), "b": P()}}
    assert spmd.logical_to_mesh(specs, (("hidden", "model"),)) == {
        "params": {"w": P(None, "model"), "b": P()}
    }


def _mesh():
    return jax.sharding.Mesh(np.array(jax.devices()[:8]).reshape(2, 4), ("data", "model"))


def test_logical_to_mesh_sharding():
    mesh = _mesh()
    out = spmd.logical_to_mesh_sharding(
        {"w": P("embed", "hidden"), "x": P("batch"), "none": None},
        mesh,
        (("batch", "data"), ("hidden", "model")),
    )
    assert out["w"] == NamedSharding(mesh, P(None, "model"))
    assert out["x"] == NamedSharding(mesh, P("data"))
    assert out["none"] is None


def test_logical_to_mesh_sharding_unknown_mesh_axis():
    with pytest.raises(UnknownMeshAxisError) as info:
        spmd.logical_to_mesh_sharding({"w": P("embed")}, _mesh(), (("embed", "modle"),))
    assert info.value.axis == "modle"
    assert info.value.mesh_axis_names == ("data", "model")
