"""Scope: names, child scopes, lifetime, parameters, variables and mutability."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flaxen.core import AxisMetadata, Scope, apply, bind, init
from flaxen.core.meta import Partitioned, with_partitioning
from flaxen.errors import (
    FlaxenError,
    InvalidScopeError,
    ModifyScopeVariableError,
    NameInUseError,
    ScopeCollectionNotFound,
    ScopeParamNotFoundError,
    ScopeParamShapeError,
    ScopeVariableNotFoundError,
)

KEY = jax.random.key(0)
zeros = jax.nn.initializers.zeros


def run_init(fn, *args):
    return init(fn)(KEY, *args)


# -- names -----------------------------------------------------------------------------


@pytest.mark.parametrize("col", ["params", "batch_stats"])
def test_variable_then_child_of_the_same_name_conflicts(col):
    def model(scope):
        scope.variable(col, "x", lambda: 0)
        scope.push("x")

    with pytest.raises(NameInUseError) as info:
        run_init(model)
    assert info.value.key_type == "submodule"
    assert info.value.value == "x"
    assert info.value.module_name == "/"
    assert str(info.value).startswith('Could not create submodule "x" in Module /: Name in use.')


@pytest.mark.parametrize(("col", "key_type"), [("params", "param"), ("batch_stats", "variable")])
def test_child_then_variable_of_the_same_name_conflicts(col, key_type):
    def model(scope):
        scope.push("x")
        if col == "params":
            scope.param("x", zeros, ())
        else:
            scope.variable(col, "x", lambda: 0)

    with pytest.raises(NameInUseError) as info:
        run_init(model)
    assert info.value.key_type == key_type
    assert str(info.value).startswith(f'Could not create {key_type} "x" in Module /')


@pytest.mark.parametrize("col", ["params", "batch_stats"])
def test_same_variable_twice_in_one_collection_conflicts(col):
    def model(scope):
        inner = scope.push("inner2")
        inner.variable(col, "x", lambda: 0)
        inner.variable(col, "x", lambda: 1)

    with pytest.raises(NameInUseError) as info:
        run_init(model)
    assert info.value.module_name == "/inner2"
    assert "in Module /inner2: Name in use" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_variables_of_different_collections_may_share_a_name():
    def model(scope):
        p = scope.param("x", lambda key: jnp.ones(()))
        s = scope.variable("stats", "x", lambda: 2.0)
        c = scope.variable("cache", "x", lambda: 3.0)
        return p, s.value, c.value

    out, variables = run_init(model)
    assert out == (1.0, 2.0, 3.0)
    assert variables == {"params": {"x": 1.0}, "stats": {"x": 2.0}, "cache": {"x": 3.0}}


def test_pushing_a_name_twice_conflicts_unless_reused():
    scope = bind({})
    scope.push("c")
    with pytest.raises(NameInUseError, match='Could not create submodule "c"'):
        scope.push("c")
    assert scope.push("c", reuse=True).path == ("c",)
    # reuse of a name nobody took reserves it.
    scope.push("d", reuse=True)
    with pytest.raises(NameInUseError):
        scope.push("d")


def test_reserve_and_name_reserved():
    scope = bind({})
    scope.reserve("a")
    scope.reserve("b", "params")
    assert scope.name_reserved("a")
    assert scope.name_reserved("b")
    assert scope.name_reserved("b", "params")
    assert not scope.name_reserved("b", "stats")
    assert not scope.name_reserved("c")
    scope.reserve("b", "stats")
    with pytest.raises(NameInUseError):
        scope.reserve("b")
    with pytest.raises(NameInUseError):
        scope.reserve("a", "stats")


def test_names_must_be_strings():
    with pytest.raises(TypeError, match="must be strings"):
        bind({}).reserve(3)
    with pytest.raises(TypeError):
        bind({}).push(3)


def test_default_name_and_prefix():
    scope = bind({})
    assert scope.default_name("Dense_") == "Dense_0"
    # default_name does not reserve.
    assert scope.default_name("Dense_") == "Dense_0"
    assert scope.push(prefix="Dense_").name == "Dense_0"
    assert scope.push(prefix="Dense_").name == "Dense_1"
    assert scope.push().name == "0"
    assert scope.push().name == "1"
    scope.push("Conv_0")
    assert scope.push(prefix="Conv_").name == "Conv_1"
    # Variables' names are skipped too.
    scope = bind({"params": {}}, mutable=True)
    scope.variable("stats", "x0", lambda: 0)
    scope.reserve("x1", "params")
    assert scope.default_name("x") == "x2"


def test_child_names_paths_and_arguments():
    def dense(scope, x, features=2):
        return scope.path, scope.name, x, features

    def model(scope):
        return (
            scope.child(dense)(1),
            scope.child(dense)(1, features=3),
            scope.child(dense, name="q", features=5)(1),
            scope.child(dense, name="r", features=5)(1, features=6),
            scope.child(dense, prefix="p")(1),
            scope.child(lambda s: s.path)(),
            scope.child(dense, named_call=False)(1),
        )

    out, _ = run_init(model)
    assert out == (
        (("dense_0",), "dense_0", 1, 2),
        (("dense_1",), "dense_1", 1, 3),
        (("q",), "q", 1, 5),
        (("r",), "r", 1, 6),
        (("p0",), "p0", 1, 2),
        ("<lambda>_0",),
        (("dense_2",), "dense_2", 1, 2),
    )


def test_child_is_named_in_traces():
    def model(scope, x):
        return scope.child(lambda s, x: jnp.sin(x), "encoder")(x)

    jaxpr = jax.make_jaxpr(lambda x: apply(model)({}, x))(jnp.ones(2))
    assert "encoder" in str(jaxpr.eqns[0].source_info.name_stack)


def test_scope_tree_attributes():
    root = bind({})
    a = root.push("a")
    b = a.push("b")
    assert root.name is None and root.parent is None and root.path == ()
    assert root.path_text == "/"
    assert b.path == ("a", "b")
    assert b.path_text == "/a/b"
    assert b.parent is a
    assert b.root is root
    assert "'/a/b'" in repr(b)


def test_rewound_releases_names_and_keeps_variables():
    def model(scope):
        scope.variable("stats", "x", lambda: 1)
        child = scope.push("a")
        rewound = scope.rewound()
        again = rewound.push("a")
        value = rewound.variable("stats", "x", lambda: 2).value
        return child.path, again.path, value, rewound.name, rewound.path, rewound.parent

    out, variables = run_init(model)
    assert out == (("a",), ("a",), 1, None, (), None)
    assert variables == {"stats": {"x": 1}}


def test_rewound_child_keeps_its_place_in_the_tree():
    root = bind({}, mutable=True)
    child = root.push("a")
    child.push("z")
    rewound = child.rewound()
    assert rewound.name == "a" and rewound.parent is root and rewound.path == ("a",)
    assert rewound.push("z").path == ("a", "z")
    rewound.put_variable("stats", "n", 3)
    assert root.variables() == {"stats": {"a": {"n": 3}}}


# -- lifetime --------------------------------------------------------------------------


@pytest.mark.parametrize("runner", ["init", "apply"])
def test_scope_is_invalid_after_the_call_returns(runner):
    captured = []

    def model(scope):
        captured.append(scope)
        assert not scope.invalid
        scope.param("w", zeros, (2,))

    if runner == "init":
        init(model)(KEY)
    else:
        apply(model, mutable=True)({"params": {"w": jnp.zeros(2)}}, rngs=KEY)
    (scope,) = captured
    assert scope.invalid
    for use in (
        lambda: scope.make_rng("params"),
        lambda: scope.push("c"),
        lambda: scope.put_variable("params", "v", 1),
        lambda: scope.param("new", zeros, ()),
        scope.rewound,
    ):
        with pytest.raises(InvalidScopeError) as info:
            use()
        assert str(info.value).startswith('The scope "None" is no longer valid')
        assert isinstance(info.value, FlaxenError)
        assert info.value.scope_name is None


def test_scope_is_invalidated_when_the_function_raises():
    captured = []

    def model(scope):
        captured.append(scope)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        apply(model)({})
    with pytest.raises(InvalidScopeError):
        captured[0].make_rng("params")


def test_temporary_scope():
    scope = Scope({"params": {"w": 1.0}}, rngs={"params": KEY}, mutable="stats")
    with scope.temporary() as root:
        assert root is scope
        assert root.get_variable("params", "w") == 1.0
        root.put_variable("stats", "n", 2)
        child = root.push("c")
        child.make_rng("params")
    assert scope.invalid
    with pytest.raises(InvalidScopeError):
        scope.make_rng("params")
    with pytest.raises(InvalidScopeError):
        scope.put_variable("stats", "n", 3)


def test_temporary_scope_is_invalidated_on_error():
    scope = Scope({})
    with pytest.raises(KeyError), scope.temporary():
        raise KeyError("x")
    assert scope.invalid


def test_bound_scope_stays_valid():
    scope = bind({"params": {"w": 1.0}}, rngs={"params": KEY})
    scope.make_rng("params")
    scope.push("c").make_rng("params")
    assert not scope.invalid


def test_scope_constructor_builds_a_root():
    scope = Scope({"params": {"w": 1.0}}, rngs={"params": KEY}, mutable=["stats"])
    assert scope.get_variable("params", "w") == 1.0
    assert scope.is_mutable_collection("stats")
    assert not scope.is_mutable_collection("params")
    expected = bind({}, rngs={"params": KEY}).make_rng("params")
    np.testing.assert_array_equal(
        jax.random.key_data(scope.make_rng("params")), jax.random.key_data(expected)
    )


# -- parameters --------------------------------------------------------------------------


def test_param_creation_calls_init_with_a_key_and_arguments():
    calls = []

    def init_fn(key, shape, scale=1.0):
        calls.append((shape, scale))
        return scale * jax.random.normal(key, shape)

    def model(scope):
        return scope.param("w", init_fn, (3,), scale=2.0)

    out, variables = run_init(model)
    assert calls == [((3,), 2.0)]
    key = bind({}, rngs={"params": KEY}).make_rng("params")
    np.testing.assert_array_equal(out, 2.0 * jax.random.normal(key, (3,)))
    assert variables["params"]["w"] is out


def test_param_reads_the_existing_value_as_is():
    existing = jnp.arange(3.0)
    calls = []

    def init_fn(key, shape):
        calls.append(type(key))
        return jnp.zeros(shape)

    def model(scope):
        return scope.param("w", init_fn, (3,))

    assert apply(model)({"params": {"w": existing}}) is existing
    # The initializer only ran abstractly (a shape check), never on a concrete key.
    assert all(issubclass(t, jax.core.Tracer) for t in calls)


def test_param_in_mutable_params_reads_an_existing_value():
    def model(scope):
        return scope.param("w", zeros, (2,))

    out, variables = apply(model, mutable=True)({"params": {"w": jnp.ones(2)}})
    np.testing.assert_array_equal(out, jnp.ones(2))
    np.testing.assert_array_equal(variables["params"]["w"], jnp.ones(2))


def test_param_shape_error():
    def model(scope):
        child = scope.push("Dense_0")
        return child.param("kernel", zeros, (2, 3))

    with pytest.raises(ScopeParamShapeError) as info:
        apply(model)({"params": {"Dense_0": {"kernel": jnp.zeros((4, 3))}}})
    error = info.value
    assert isinstance(error, ValueError)
    assert error.param_name == "kernel"
    assert error.scope_path == "/Dense_0"
    assert error.value_shape == (4, 3)
    assert error.init_shape == (2, 3)
    assert str(error).startswith(
        'For parameter "kernel" in "/Dense_0", the initializer now produces shape (2, 3),'
        " but the existing parameter has shape (4, 3)."
    )


def test_param_shape_check_covers_pytree_params():
    def init_fn(key):
        return {"a": jnp.zeros(2), "b": jnp.zeros((1, 2))}

    def model(scope):
        return scope.param("w", init_fn)

    good = {"a": jnp.ones(2), "b": jnp.ones((1, 2))}
    out = apply(model)({"params": {"w": good}})
    assert out.keys() == good.keys()
    assert out["a"] is good["a"] and out["b"] is good["b"]
    with pytest.raises(ScopeParamShapeError):
        apply(model)({"params": {"w": {"a": jnp.ones(2), "b": jnp.ones((2, 1))}}})


def test_param_shape_check_sees_through_boxes():
    def model(scope):
        return scope.param("w", with_partitioning(zeros, ("x",)), (2,))

    boxed = Partitioned(jnp.ones(3), ("x",))
    with pytest.raises(ScopeParamShapeError) as info:
        apply(model)({"params": {"w": boxed}})
    assert info.value.value_shape == (3,)
    assert info.value.init_shape == (2,)


def test_param_not_found_vs_collection_not_found():
    def model(scope):
        return scope.param("w", zeros, (2,))

    for variables in ({}, {"params": {}}):
        with pytest.raises(ScopeCollectionNotFound) as info:
            apply(model)(variables)
        error = info.value
        assert isinstance(error, KeyError)
        assert (error.col_name, error.var_name, error.scope_path) == ("params", "w", "/")
        assert str(error).startswith(
            'Tried to read "w" from collection "params" in "/", but the collection is empty.'
        )
    with pytest.raises(ScopeParamNotFoundError) as info:
        apply(model, mutable="stats")({"params": {"v": 1.0}})
    assert (info.value.param_name, info.value.scope_path) == ("w", "/")
    assert str(info.value).startswith('Could not find parameter named "w" in scope "/".')


def test_param_not_found_in_a_child_scope():
    def model(scope):
        return scope.push("c").param("w", zeros, (2,))

    with pytest.raises(ScopeParamNotFoundError) as info:
        apply(model)({"params": {"c": {"v": 1.0}}})
    assert info.value.scope_path == "/c"


def test_param_missing_in_a_child_is_not_found_when_the_collection_is_not_empty():
    def model(scope):
        return scope.push("a").push("b").param("w", zeros, ())

    with pytest.raises(ScopeParamNotFoundError) as info:
        apply(model)({"params": {"other": {"w": 1.0}}})
    assert info.value.scope_path == "/a/b"


def test_is_collection_empty_is_about_the_whole_collection():
    root = bind({"stats": {"x": {"n": 1}}})
    assert not root.push("c").is_collection_empty("stats")


def test_is_collection_empty():
    root = bind({"stats": {"x": {"n": 1}}, "params": {}})
    assert not root.is_collection_empty("stats")
    assert root.is_collection_empty("params")
    assert root.is_collection_empty("cache")
    assert not root.push("x").is_collection_empty("stats")


def test_param_boxes_are_stored_and_unboxed_on_read():
    def ones(key, shape):
        return jnp.ones(shape)

    def model(scope):
        value = scope.param("w", with_partitioning(ones, (None, "model")), (2, 3))
        boxed = scope.param("v", with_partitioning(ones, ("data",)), (2,), unbox=False)
        return value, boxed

    (value, boxed), variables = init(model)(KEY)
    assert isinstance(value, jax.Array)
    np.testing.assert_array_equal(value, jnp.ones((2, 3)))
    assert isinstance(boxed, Partitioned) and boxed.names == ("data",)
    stored = variables["params"]["w"]
    assert isinstance(stored, Partitioned) and stored.names == (None, "model")
    again = apply(model)(variables)
    assert isinstance(again[0], jax.Array)
    assert again[1] is variables["params"]["v"]


def _constraint_spy(monkeypatch):
    calls = []

    def with_sharding_constraint(x, sharding):
        calls.append(sharding.spec)
        return x

    monkeypatch.setattr(jax.lax, "with_sharding_constraint", with_sharding_constraint)
    return calls


def test_param_shape_check_applies_no_sharding_constraint(monkeypatch):
    def ones(key, shape):
        return jnp.ones(shape)

    def model(scope, unbox):
        return scope.param("w", with_partitioning(ones, ("data", None)), (8, 3), unbox=unbox)

    _, variables = init(model)(KEY, False)
    calls = _constraint_spy(monkeypatch)
    with jax.set_mesh(jax.make_mesh((8,), ("data",), axis_types=(jax.sharding.AxisType.Auto,))):
        # The existing parameter's shape is checked against the initializer's;
        # only the value handed out unboxed is constrained to its sharding.
        boxed = apply(model)(variables, False)
        assert calls == []
        assert boxed is variables["params"]["w"]
        jax.jit(lambda v: apply(model)(v, False).value)(variables)
        assert calls == []
        value = apply(model)(variables, True)
    assert calls == [jax.sharding.PartitionSpec("data", None)]
    np.testing.assert_array_equal(value, jnp.ones((8, 3)))


def test_param_shape_check_unboxes_custom_boxes_without_constraints():
    seen = []

    @jax.tree_util.register_pytree_node_class
    class Constrained(AxisMetadata):
        def __init__(self, value):
            self.value = value

        def unbox(self, apply_constraint=True):
            seen.append(apply_constraint)
            return self.value

        def replace_boxed(self, val):
            return Constrained(val)

        def add_axis(self, index, params):
            return self

        def remove_axis(self, index, params):
            return self

        def tree_flatten(self):
            return (self.value,), None

        @classmethod
        def tree_unflatten(cls, aux, children):
            return cls(*children)

    @jax.tree_util.register_pytree_node_class
    class Plain(Constrained):
        def unbox(self):  # a box whose unbox takes no arguments
            seen.append("plain")
            return self.value

    def model(scope):
        scope.param("a", lambda key: Constrained(jnp.ones(2)), unbox=False)
        scope.param("b", lambda key: {"x": Plain(jnp.ones(3))}, unbox=False)

    _, variables = init(model)(KEY)
    seen.clear()
    apply(model)(variables)
    # Each shape check unboxes the stored value and the initializer's output.
    assert sorted(seen, key=str) == [False, False, "plain", "plain"]
    bad = {"params": {"a": Constrained(jnp.ones(5)), "b": variables["params"]["b"]}}
    with pytest.raises(ScopeParamShapeError, match="shape \\(5,\\)"):
        apply(model)(bad)


# -- variables ----------------------------------------------------------------------


def test_variable_is_initialised_only_when_the_collection_is_mutable():
    calls = []

    def init_fn(shape, fill=0.0):
        calls.append((shape, fill))
        return jnp.full(shape, fill)

    def model(scope):
        return scope.variable("stats", "n", init_fn, (2,), fill=3.0).value

    out, updated = apply(model, mutable="stats")({})
    assert calls == [((2,), 3.0)]
    np.testing.assert_array_equal(out, jnp.full((2,), 3.0))
    np.testing.assert_array_equal(updated["stats"]["n"], jnp.full((2,), 3.0))

    # An existing variable is read; its initializer is not called.
    calls.clear()
    out = apply(model)({"stats": {"n": jnp.ones(2)}})
    np.testing.assert_array_equal(out, jnp.ones(2))
    assert calls == []

    with pytest.raises(ScopeCollectionNotFound) as info:
        apply(model)({})
    assert (info.value.col_name, info.value.var_name) == ("stats", "n")
    with pytest.raises(ScopeVariableNotFoundError) as info:
        apply(model)({"stats": {"other": 1}})
    assert calls == []
    error = info.value
    assert isinstance(error, KeyError)
    assert (error.name, error.col, error.scope_path) == ("n", "stats", "/")
    assert str(error).startswith('No Variable named "n" for collection "stats" exists in "/"')


def test_variable_without_init_fn_is_not_created():
    def model(scope):
        return scope.variable("stats", "n")

    with pytest.raises(ScopeVariableNotFoundError):
        apply(model, mutable=True)({"stats": {"m": 1}})
    with pytest.raises(ScopeCollectionNotFound):
        apply(model, mutable=True)({})


def test_modify_immutable_variable():
    def model(scope):
        v = scope.push("bn").variable("batch_stats", "mean", jnp.zeros, (2,))
        assert not v.is_mutable()
        v.value = v.value + 1

    with pytest.raises(ModifyScopeVariableError) as info:
        apply(model)({"batch_stats": {"bn": {"mean": jnp.zeros(2)}}})
    error = info.value
    assert isinstance(error, ValueError)
    assert (error.col, error.variable_name, error.scope_path) == ("batch_stats", "mean", "/bn")
    assert str(error).startswith(
        'Cannot update variable "mean" in "/bn" because collection "batch_stats" is immutable.'
    )


def test_variable_handle():
    scope = bind({"stats": {"n": 1}}, mutable="stats")
    v = scope.variable("stats", "n")
    assert (v.scope, v.collection, v.name) == (scope, "stats", "n")
    assert v.is_mutable()
    assert repr(v) == "Variable(collection='stats', name='n')"
    v.value = 5
    assert scope.get_variable("stats", "n") == 5
    scope.put_variable("stats", "n", 6)
    assert v.value == 6


def test_put_get_has_variable():
    root = bind({"stats": {"x": 1}}, mutable="stats")
    child = root.push("c").push("d")
    assert root.has_variable("stats", "x")
    assert not root.has_variable("stats", "y")
    assert not root.has_variable("cache", "x")
    assert root.get_variable("stats", "y") is None
    assert root.get_variable("stats", "y", 7) == 7
    assert root.get_variable("cache", "x", 8) == 8
    child.put_variable("stats", "n", 2)
    assert child.has_variable("stats", "n")
    assert child.get_variable("stats", "n") == 2
    assert root.variables() == {"stats": {"x": 1, "c": {"d": {"n": 2}}}}
    with pytest.raises(ModifyScopeVariableError):
        child.put_variable("params", "w", 1)


def test_replacing_a_subtree_is_seen_by_child_scopes():
    def model(scope):
        child = scope.push("c")
        before = child.get_variable("s", "n")
        scope.put_variable("s", "c", {"n": 5})
        return before, child.get_variable("s", "n"), child.variables()

    out, updated = apply(model, mutable="s")({"s": {"c": {"n": 1}}})
    assert out == (1, 5, {"s": {"n": 5}})
    assert updated == {"s": {"c": {"n": 5}}}


def test_variables_and_mutable_variables_are_copies():
    scope = bind({"s": {"a": {"b": 1}}, "p": {"w": 2}}, mutable="s")
    copied = scope.variables()
    assert copied == {"s": {"a": {"b": 1}}, "p": {"w": 2}}
    copied["s"]["a"]["b"] = 10
    copied["p"]["w"] = 20
    copied["new"] = {}
    assert scope.variables() == {"s": {"a": {"b": 1}}, "p": {"w": 2}}
    mutable = scope.mutable_variables()
    assert mutable == {"s": {"a": {"b": 1}}}
    mutable["s"]["a"]["b"] = 10
    assert scope.get_variable("s", "a") == {"b": 1}
    assert scope.push("a").variables() == {"s": {"b": 1}}
    assert scope.push("zz").variables() == {}


def test_param_shape_check_follows_closure_values():
    def model(scope, n):
        return scope.param("w", lambda key: jnp.zeros(n))

    variables = {"params": {"w": jnp.zeros(2)}}
    apply(model)(variables, 2)
    with pytest.raises(ScopeParamShapeError):
        apply(model)(variables, 3)


def test_param_shape_check_is_not_stale_for_mutable_closure_state():
    class Config:
        features = 2

    config = Config()

    def model(scope):
        return scope.param("w", lambda key: jnp.zeros(config.features))

    variables = {"params": {"w": jnp.zeros(2)}}
    apply(model)(variables)
    config.features = 3
    with pytest.raises(ScopeParamShapeError):
        apply(model)(variables)


def test_param_with_an_initializer_closing_over_an_unassigned_variable():
    def model(scope):
        def init_fn(key):
            if False:
                return later
            return jnp.zeros(2)

        w = scope.param("w", init_fn)
        if False:
            later = 1
        return w

    _, variables = init(model)(KEY)
    np.testing.assert_array_equal(apply(model)(variables), jnp.zeros(2))
