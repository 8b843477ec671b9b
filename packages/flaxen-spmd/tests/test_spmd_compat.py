"""flaxen.spmd against flax.linen.spmd, run side by side as a black-box oracle."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

pytestmark = pytest.mark.compat

flax_nn = pytest.importorskip("flax.linen")

from flaxen import linen as nn  # noqa: E402
from flaxen import spmd  # noqa: E402

RULE_SETS = [
    (),
    (("batch", "X"), ("features", "X"), ("heads", "Y"), ("batch", "Z")),
    (("a", "x"),),
    (("a", None), ("a", "x"), ("b", "x")),
    (("a", ("x", "y")), ("b", "z")),
    (("a", ("x", "y")), ("b", "y")),
    (("b", "y"), ("a", ("x", "y"))),
    (("a", "x"), ("b", "x")),
    [["a", "x"], ["b", ["y", "z"]]],
    (("a", ()), ("b", "x")),
    ((None, "x"), ("c", "y")),
]
NAMES = [
    ("batch", "length", "heads", "features"),
    ("a", "b"),
    ("b", "a", "c"),
    (None, "a"),
    ("a", None, None),
    (),
    (("x",), "b"),
    (("x", "y"), "b"),
    (1, "b"),
    ("a", P.UNCONSTRAINED, "b"),
    P("a", "b"),
    ["c", "b"],
    None,
]


def outcome(fn):
    try:
        return ("ok", fn())
    except ValueError:
        return ("ValueError",)


@pytest.mark.parametrize("rules", RULE_SETS, ids=str)
def test_logical_to_mesh_axes(rules):
    for names in NAMES:
        ours = outcome(lambda: spmd.logical_to_mesh_axes(names, rules))
        theirs = outcome(lambda: flax_nn.logical_to_mesh_axes(names, rules))
        assert ours == theirs, (names, rules)


@pytest.mark.parametrize("names", [("a", "a"), ("r", "q", "r", "q"), ("q", "q", None)])
def test_duplicate_names_message(names):
    with pytest.raises(ValueError) as theirs:
        flax_nn.logical_to_mesh_axes(names, ())
    with pytest.raises(ValueError) as ours:
        spmd.logical_to_mesh_axes(names, ())
    assert str(ours.value).startswith(str(theirs.value).rstrip("."))


def test_rules_context():
    for lib in (spmd, flax_nn):
        assert lib.get_logical_axis_rules() == ()
    rules = [("a", "x")]
    with nn.logical_axis_rules(rules), flax_nn.logical_axis_rules(rules):
        assert spmd.get_logical_axis_rules() == flax_nn.get_logical_axis_rules()
        assert spmd.logical_to_mesh_axes(("a", "b")) == flax_nn.logical_to_mesh_axes(("a", "b"))
    assert spmd.get_logical_axis_rules() == flax_nn.get_logical_axis_rules() == ()


def test_logical_to_mesh_trees():
    tree = {"w": P("embed", "hidden"), "s": P(), "n": None, "t": (P("layer", None), ("a", "b"))}
    rules = (("hidden", "model"), ("layer", "data"), ("a", "x"))
    assert spmd.logical_to_mesh(tree, rules) == flax_nn.logical_to_mesh(tree, rules)


@pytest.fixture(scope="module")
def mesh():
    return jax.sharding.Mesh(np.array(jax.devices()[:8]).reshape(2, 4), ("data", "model"))


def constraint_specs(fn, *args):
    jaxpr = jax.make_jaxpr(lambda *a: fn(*a))(*args)  # noqa: PLW0108 (a fresh function)
    return [
        e.params["sharding"].spec for e in jaxpr.eqns if e.primitive.name == "sharding_constraint"
    ]


FALLBACKS = ["AXIS_IS_UNSHARDED", "RAISE_ERROR", "NO_CONSTRAINT"]
CONSTRAINT_CASES = [
    (("batch", "embed"), (("batch", "data"),)),
    (("batch", "hidden"), (("batch", "data"), ("hidden", "model"))),
    (("batch", "hidden"), (("batch", "data"), ("hidden", "data"))),
    (("batch", None), (("batch", "data"),)),
    (("batch", "embed"), (("batch", "data"), ("embed", None))),
    (("a", "b"), (("c", "data"),)),
    (None, (("batch", "data"),)),
    (("batch", "embed"), ()),
    ({"p": ("batch", None), "q": ("embed", "batch")}, (("batch", "data"),)),
    (("batch", P.UNCONSTRAINED), (("batch", "data"),)),
]


@pytest.mark.parametrize("fallback", FALLBACKS)
@pytest.mark.parametrize("names, rules", CONSTRAINT_CASES, ids=str)
def test_with_logical_constraint(mesh, fallback, names, rules):
    x = (
        {"p": jnp.ones((2, 4)), "q": jnp.ones((2, 4))}
        if isinstance(names, dict)
        else jnp.ones((2, 4))
    )
    results = []
    for lib in (spmd, flax_nn.spmd):
        fb = getattr(lib.RulesFallback, fallback)

        def f(x, lib=lib, fb=fb):
            return lib.with_logical_constraint(x, names, rules=rules, fallback=fb)

        with jax.set_mesh(mesh):
            results.append(outcome(lambda f=f: constraint_specs(f, x)))
        # an explicit mesh gives the same program
        results.append(
            outcome(
                lambda lib=lib, fb=fb: constraint_specs(
                    lambda x: lib.with_logical_constraint(x, names, rules, mesh, fb), x
                )
            )
        )
    assert results[0] == results[2] and results[1] == results[3], results


def test_boxes(mesh):
    for value in (1, jnp.ones((2, 4))):
        ours = spmd.LogicallyPartitioned(value, ("a", "b"), rules=(("a", "data"),))
        theirs = flax_nn.LogicallyPartitioned(value, ("a", "b"), rules=(("a", "data"),))
        assert repr(ours) == repr(theirs)
        assert ours.get_partition_spec() == theirs.get_partition_spec()
        added = (
            ours.add_axis(1, {"partition_name": "l"}),
            theirs.add_axis(1, {"partition_name": "l"}),
        )
        assert repr(added[0]) == repr(added[1])
        paths = [p for p, _ in jax.tree_util.tree_flatten_with_path(ours)[0]]
        assert paths == [p for p, _ in jax.tree_util.tree_flatten_with_path(theirs)[0]]
    x = jnp.ones((2, 4))
    context = [("b", "model")]
    with jax.set_mesh(mesh), nn.logical_axis_rules(context), flax_nn.logical_axis_rules(context):
        for rules in (None, (), (("a", "data"),), (("c", "data"),)):
            specs = [
                constraint_specs(
                    lambda x, lib=lib: lib.LogicallyPartitioned(x, ("a", "b"), rules=rules).unbox(),
                    x,
                )
                for lib in (spmd, flax_nn)
            ]
            assert specs[0] == specs[1], rules


def _scanned(lib, name):
    class Layer(lib.Module):
        @lib.compact
        def __call__(self, x):
            w = self.param(
                "w",
                lib.with_logical_partitioning(
                    jax.nn.initializers.xavier_normal(), ("embed", "mlp")
                ),
                (x.shape[-1], 6),
            )
            h = lib.with_logical_constraint(x @ w, ("batch", "mlp"))
            return h @ w.T, None

    return lib.scan(
        Layer,
        length=3,
        variable_axes={"params": 0},
        split_rngs={"params": True},
        metadata_params={lib.PARTITION_NAME: name},
    )()


@pytest.mark.parametrize("partition_name", ["layer", None])
def test_scanned_model_variables_and_specs(mesh, partition_name):
    x = jnp.ones((4, 5))
    rules = (("batch", "data"), ("mlp", "model"), ("layer", None))
    ours = _scanned(nn, partition_name).init(jax.random.key(0), x)
    theirs = _scanned(flax_nn, partition_name).init(jax.random.key(0), x)
    assert repr(jax.tree_util.tree_map(jnp.shape, ours)) == repr(
        jax.tree_util.tree_map(jnp.shape, theirs)
    )
    np.testing.assert_array_equal(ours["params"]["w"].value, theirs["params"]["w"].value)
    assert nn.get_partition_spec(ours) == flax_nn.get_partition_spec(theirs)
    assert spmd.logical_to_mesh(nn.get_partition_spec(ours), rules) == flax_nn.logical_to_mesh(
        flax_nn.get_partition_spec(theirs), rules
    )
    with jax.set_mesh(mesh), nn.logical_axis_rules(rules), flax_nn.logical_axis_rules(rules):
        out_ours = jax.jit(lambda v: _scanned(nn, partition_name).apply(v, x)[0])(ours)
        out_theirs = jax.jit(lambda v: _scanned(flax_nn, partition_name).apply(v, x)[0])(theirs)
    np.testing.assert_array_equal(out_ours, out_theirs)
    assert out_ours.sharding.spec == out_theirs.sharding.spec


@pytest.mark.parametrize(
    "name",
    [
        "LogicallyPartitioned", "get_logical_axis_rules", "logical_axis_rules",
        "logical_to_mesh", "logical_to_mesh_axes", "logical_to_mesh_sharding",
        "set_logical_axis_rules", "with_logical_constraint", "with_logical_partitioning",
    ],
)  # fmt: skip
def test_same_signatures(name):
    import inspect

    ours = inspect.signature(getattr(nn, name)).parameters
    theirs = inspect.signature(getattr(flax_nn, name)).parameters
    assert [(p.name, p.kind) for p in ours.values()] == [(p.name, p.kind) for p in theirs.values()]
    defaults = [
        (p.name, p.default) for p in theirs.values() if p.default is None or p.default == ()
    ]
    assert defaults == [
        (p.name, p.default) for p in ours.values() if p.default is None or p.default == ()
    ]
    assert [e.value for e in spmd.RulesFallback] == [e.value for e in flax_nn.spmd.RulesFallback]
