"""with_logical_constraint, RulesFallback and LogicallyPartitioned boxes."""

import pickle

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from flaxen import linen as nn
from flaxen import spmd
from flaxen.core import meta
from flaxen.errors import (
    DuplicateLogicalAxisError,
    PartitioningUnspecifiedError,
    ShardingRankMismatchError,
    UnknownMeshAxisError,
    UnmatchedLogicalAxisError,
)
from flaxen.spmd import RulesFallback

RULES = (("batch", "data"), ("hidden", "model"))


@pytest.fixture(scope="module")
def mesh():
    return jax.sharding.Mesh(np.array(jax.devices()[:8]).reshape(2, 4), ("data", "model"))


def constraints(fn, *args):
    """The partition specs of every sharding constraint ``fn`` puts in its program."""
    # A fresh function each time: JAX caches traces by function, and the rules
    # are a Python-level context it does not know about.
    jaxpr = jax.make_jaxpr(lambda *a: fn(*a))(*args)  # noqa: PLW0108 (a fresh function)
    return [
        eqn.params["sharding"].spec
        for eqn in jaxpr.eqns
        if eqn.primitive.name == "sharding_constraint"
    ]


X = jnp.ones((2, 4))


def test_explicit_mesh_and_rules(mesh):
    def f(x):
        return spmd.with_logical_constraint(x, ("batch", "embed"), rules=RULES, mesh=mesh)

    assert constraints(f, X) == [P("data", None)]
    expected = NamedSharding(mesh, P("data", None))
    assert jax.jit(f)(X).sharding.is_equivalent_to(expected, 2)
    # eagerly too
    assert f(X).sharding.is_equivalent_to(expected, 2)


def test_context_mesh_and_rules(mesh):
    def f(x):
        return spmd.with_logical_constraint(x, ("batch", "hidden"))

    with jax.set_mesh(mesh), spmd.logical_axis_rules(RULES):
        assert constraints(f, X) == [P("data", "model")]
    # no mesh, or no rules: nothing is constrained (models run unsharded)
    with spmd.logical_axis_rules(RULES):
        assert constraints(f, X) == []
    with jax.set_mesh(mesh):
        assert constraints(f, X) == []
        assert constraints(lambda x: spmd.with_logical_constraint(x, ("batch",), rules=()), X) == []


def test_none_spec_is_no_constraint(mesh):
    f = lambda x: spmd.with_logical_constraint(x, None, rules=RULES, mesh=mesh)
    assert constraints(f, X) == []


def test_unmatched_names_are_unsharded_by_default(mesh):
    f = lambda x: spmd.with_logical_constraint(x, ("a", "b"), rules=RULES, mesh=mesh)
    assert constraints(f, X) == [P(None, None)]


def test_fallback_raise_error(mesh):
    with pytest.raises(UnmatchedLogicalAxisError) as info:
        spmd.with_logical_constraint(
            X, ("batch", "embed"), rules=RULES, mesh=mesh, fallback=RulesFallback.RAISE_ERROR
        )
    assert info.value.unmatched == ("embed",)
    assert str(info.value).startswith(
        "Axis names ('batch', 'embed') did not match a rule: no rule names 'embed'."
    )
    # two dimensions competing for one mesh axis: the loser is named in the error
    with pytest.raises(UnmatchedLogicalAxisError, match="'embed' maps only to mesh axes 'data'"):
        spmd.with_logical_constraint(
            X,
            ("batch", "embed"),
            rules=(("batch", "data"), ("embed", "data")),
            fallback=RulesFallback.RAISE_ERROR,
        )
    # None names and names pinned to None are fine
    ok = (("batch", "data"), ("embed", None))
    f = lambda x: spmd.with_logical_constraint(
        x, ("batch", "embed"), rules=ok, mesh=mesh, fallback=RulesFallback.RAISE_ERROR
    )
    assert constraints(f, X) == [P("data", None)]


def test_fallback_no_constraint(mesh):
    def f(names):
        return lambda x: spmd.with_logical_constraint(
            x, names, rules=RULES, mesh=mesh, fallback=RulesFallback.NO_CONSTRAINT
        )

    assert constraints(f(("batch", "embed")), X) == []
    assert constraints(f(("batch", None)), X) == [P("data", None)]
    assert constraints(f(("batch", "hidden")), X) == [P("data", "model")]


def test_fallback_by_value(mesh):
    with pytest.raises(UnmatchedLogicalAxisError):
        spmd.with_logical_constraint(X, ("a",), rules=RULES, mesh=mesh, fallback="raise_error")
    with pytest.raises(ValueError, match="RulesFallback"):
        spmd.with_logical_constraint(X, ("a",), rules=RULES, mesh=mesh, fallback="sometimes")


def test_trees_of_arrays_and_specs(mesh):
    tree = {"p": X, "q": X}

    def one_spec(t):
        return spmd.with_logical_constraint(t, ("batch", "hidden"), rules=RULES, mesh=mesh)

    assert constraints(one_spec, tree) == [P("data", "model")] * 2

    def per_leaf(t):
        specs = {"p": ("batch", None), "q": P(None, "batch")}
        return spmd.with_logical_constraint(t, specs, rules=RULES, mesh=mesh)

    assert constraints(per_leaf, tree) == [P("data", None), P(None, "data")]

    def some_leaves(t):
        specs = {"p": None, "q": ("hidden", "batch")}
        return spmd.with_logical_constraint(t, specs, rules=RULES, mesh=mesh)

    assert constraints(some_leaves, tree) == [P("model", "data")]

    def no_constraint_per_leaf(t):
        specs = {"p": ("batch", None), "q": ("embed", "batch")}
        return spmd.with_logical_constraint(
            t, specs, rules=RULES, mesh=mesh, fallback=RulesFallback.NO_CONSTRAINT
        )

    assert constraints(no_constraint_per_leaf, tree) == [P("data", None)]


def test_unconstrained_dimension(mesh):
    f = lambda x: spmd.with_logical_constraint(
        x, ("batch", P.UNCONSTRAINED), rules=RULES, mesh=mesh, fallback="raise_error"
    )
    assert constraints(f, X) == [P("data", P.UNCONSTRAINED)]


def test_rank_mismatch_is_a_clear_error(mesh):
    with pytest.raises(ShardingRankMismatchError) as info:
        spmd.with_logical_constraint(X, ("batch", "embed", "hidden"), rules=RULES, mesh=mesh)
    assert info.value.shape == (2, 4)
    assert "has 3 entries but the array has rank 2" in str(info.value)
    assert isinstance(info.value, ValueError)
    # shorter specs leave the trailing dimensions replicated, as in JAX
    f = lambda x: spmd.with_logical_constraint(x, ("batch",), rules=RULES, mesh=mesh)
    assert constraints(f, X) == [P("data")]


def test_unknown_mesh_axis_is_a_clear_error(mesh):
    with pytest.raises(UnknownMeshAxisError) as info:
        spmd.with_logical_constraint(X, ("batch",), rules=(("batch", "dta"),), mesh=mesh)
    assert info.value.axis == "dta" and info.value.spec == P("dta")
    with pytest.raises(UnknownMeshAxisError):
        spmd.with_logical_constraint(X, ("batch",), rules=(("batch", ("data", "x")),), mesh=mesh)


def test_duplicate_names_raise_even_without_a_mesh():
    with pytest.raises(DuplicateLogicalAxisError):
        spmd.with_logical_constraint(X, ("batch", "batch"), rules=RULES)


# -- LogicallyPartitioned -------------------------------------------------------------


def test_box_fields_and_repr():
    box = spmd.LogicallyPartitioned(1, ("a", "b"), rules=(("a", "x"),))
    assert isinstance(box, nn.Partitioned) and isinstance(box, meta.AxisMetadata)
    assert (box.value, box.names, box.mesh, box.rules) == (1, ("a", "b"), None, (("a", "x"),))
    assert repr(box) == (
        "LogicallyPartitioned(value=1, names=('a', 'b'), mesh=None, rules=(('a', 'x'),))"
    )
    assert box == spmd.LogicallyPartitioned(1, ("a", "b"), rules=(("a", "x"),))
    assert box != spmd.LogicallyPartitioned(1, ("a", "b"))
    assert hash(box) == hash(spmd.LogicallyPartitioned(1, ("a", "b"), rules=(("a", "x"),)))
    assert pickle.loads(pickle.dumps(box)) == box


def test_box_is_a_pytree_keeping_its_metadata():
    box = spmd.LogicallyPartitioned(jnp.ones(2), ("a",), rules=[("a", "x")])
    [(path, _)], _ = jax.tree_util.tree_flatten_with_path(box)
    assert path == (jax.tree_util.GetAttrKey("value"),)
    doubled = jax.tree_util.tree_map(lambda v: v * 2, box)
    assert type(doubled) is spmd.LogicallyPartitioned
    assert doubled.names == ("a",) and doubled.rules == [("a", "x")]
    np.testing.assert_array_equal(doubled.value, 2 * np.ones(2))
    replaced = box.replace_boxed(3)
    assert type(replaced) is spmd.LogicallyPartitioned
    assert (replaced.value, replaced.names, replaced.rules) == (3, ("a",), [("a", "x")])


def test_partition_spec_is_logical(mesh):
    box = spmd.LogicallyPartitioned(X, ("batch", "hidden"), rules=RULES)
    assert box.get_partition_spec() == P("batch", "hidden")
    assert nn.get_partition_spec({"w": box}) == {"w": P("batch", "hidden")}
    assert spmd.logical_to_mesh(nn.get_partition_spec({"w": box}), RULES) == {
        "w": P("data", "model")
    }


def test_add_and_remove_axis():
    box = spmd.LogicallyPartitioned(1, ("a", "b"), rules=(("a", "x"),))
    added = box.add_axis(1, {nn.PARTITION_NAME: "layer"})
    assert type(added) is spmd.LogicallyPartitioned
    assert added.names == ("a", "layer", "b") and added.rules == (("a", "x"),)
    assert added.remove_axis(1, {nn.PARTITION_NAME: "layer"}) == box
    assert box.add_axis(0, {nn.PARTITION_NAME: None}).names == (None, "a", "b")
    with pytest.raises(PartitioningUnspecifiedError):
        box.add_axis(0, {})


def test_unbox_applies_the_mapped_constraint(mesh):
    def unbox(box):
        return lambda x: box.replace_boxed(x).unbox()

    own_rules = spmd.LogicallyPartitioned(X, ("batch", "hidden"), rules=RULES)
    assert constraints(unbox(own_rules), X) == []  # no mesh
    with jax.set_mesh(mesh):
        assert constraints(unbox(own_rules), X) == [P("data", "model")]
        no_rules = spmd.LogicallyPartitioned(X, ("batch", "hidden"))
        assert constraints(unbox(no_rules), X) == []
        with spmd.logical_axis_rules((("hidden", "data"),)):
            assert constraints(unbox(no_rules), X) == [P(None, "data")]
            # the box's own rules take precedence over the context's, even empty ones
            assert constraints(unbox(own_rules), X) == [P("data", "model")]
            empty = spmd.LogicallyPartitioned(X, ("batch", "hidden"), rules=())
            assert constraints(unbox(empty), X) == []
    own_mesh = spmd.LogicallyPartitioned(X, ("batch", "hidden"), mesh=mesh, rules=RULES)
    assert constraints(unbox(own_mesh), X) == [P("data", "model")]
    assert constraints(lambda x: own_mesh.replace_boxed(x).unbox(apply_constraint=False), X) == []
    assert constraints(lambda x: meta.unbox({"w": own_mesh.replace_boxed(x)}), X) == [
        P("data", "model")
    ]


def test_abstract_values_are_not_constrained(mesh):
    value = jax.ShapeDtypeStruct((2, 4), jnp.float32)
    logical = spmd.LogicallyPartitioned(value, ("batch", None))
    physical = nn.Partitioned(value, ("data", None))
    with jax.set_mesh(mesh), spmd.logical_axis_rules(RULES):
        assert logical.unbox() is value and physical.unbox() is value
        # not even inside a trace, where a constraint would stage a constant
        assert constraints(lambda x: (logical.unbox(), physical.unbox(), x)[-1], X) == []


def test_with_logical_partitioning_wraps_initializers():
    init = nn.with_logical_partitioning(jax.nn.initializers.ones, ("embed", "mlp"), rules=RULES)
    assert init.__name__ == "ones" and init.__wrapped__ is jax.nn.initializers.ones
    box = init(jax.random.key(0), (2, 3), jnp.float16)
    assert type(box) is spmd.LogicallyPartitioned
    assert box.names == ("embed", "mlp") and box.rules == RULES and box.mesh is None
    assert box.value.dtype == jnp.float16 and box.value.shape == (2, 3)


class LogicalDense(nn.Module):
    features: int

    @nn.compact
    def __call__(self, x):
        init = spmd.with_logical_partitioning(jax.nn.initializers.ones, ("embed", "hidden"))
        w = self.param("w", init, (x.shape[-1], self.features))
        y = spmd.with_logical_constraint(x @ w, ("batch", "hidden"))
        return y, None


def test_module_params_and_activations(mesh):
    x = jnp.ones((8, 4))
    variables = LogicalDense(8).init(jax.random.key(0), x)
    box = variables["params"]["w"]
    assert type(box) is spmd.LogicallyPartitioned and box.names == ("embed", "hidden")
    with jax.set_mesh(mesh), spmd.logical_axis_rules(RULES):
        specs = constraints(lambda v, x: LogicalDense(8).apply(v, x)[0], variables, x)
    # the parameter as it is read, then the activation
    assert specs[-2:] == [P(None, "model"), P("data", "model")]
    assert set(specs[:-2]) <= {P(None, "model")}


def test_scan_and_vmap_name_the_new_axis():
    x = jnp.ones((8, 4))
    scanned = nn.scan(
        LogicalDense,
        length=3,
        variable_axes={"params": 0},
        split_rngs={"params": True},
        metadata_params={nn.PARTITION_NAME: "layer"},
    )
    variables = jax.eval_shape(lambda: scanned(4).init(jax.random.key(0), x))
    box = variables["params"]["w"]
    assert type(box) is spmd.LogicallyPartitioned
    assert box.names == ("layer", "embed", "hidden") and box.value.shape == (3, 4, 4)

    vmapped = nn.vmap(
        LogicalDense,
        in_axes=1,
        out_axes=1,
        variable_axes={"params": 1},
        split_rngs={"params": True},
        metadata_params={nn.PARTITION_NAME: "heads"},
    )
    variables = jax.eval_shape(lambda: vmapped(4).init(jax.random.key(0), jnp.ones((8, 2, 4))))
    box = variables["params"]["w"]
    assert box.names == ("embed", "heads", "hidden") and box.value.shape == (4, 2, 4)

    unnamed = nn.scan(
        LogicalDense, length=3, variable_axes={"params": 0}, split_rngs={"params": True}
    )
    with pytest.raises(PartitioningUnspecifiedError):
        unnamed(4).init(jax.random.key(0), x)
