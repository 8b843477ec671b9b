"""Boxed axis metadata: AxisMetadata, Partitioned, helpers, and boxes crossing lifts."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import PartitionSpec

from flaxen.core import AxisMetadata, apply, init, lift, meta
from flaxen.core.meta import PARTITION_NAME, Partitioned, with_partitioning
from flaxen.errors import PartitioningUnspecifiedError

KEY = jax.random.key(0)


@dataclasses.dataclass(frozen=True)
class Labeled(AxisMetadata):
    """A custom box: one label per axis; transforms add the label in params['label']."""

    value: object
    labels: tuple

    calls = []  # (method, index, params), shared: the tests clear it

    def unbox(self):
        return self.value

    def replace_boxed(self, val):
        return Labeled(val, self.labels)

    def add_axis(self, index, params):
        Labeled.calls.append(("add", index, dict(params)))
        labels = list(self.labels)
        labels.insert(index, params["label"])
        return Labeled(self.value, tuple(labels))

    def remove_axis(self, index, params):
        Labeled.calls.append(("remove", index, dict(params)))
        labels = list(self.labels)
        assert labels.pop(index) == params["label"]
        return Labeled(self.value, tuple(labels))


jax.tree_util.register_pytree_node(
    Labeled, lambda box: ((box.value,), box.labels), lambda labels, xs: Labeled(xs[0], labels)
)


@pytest.fixture(autouse=True)
def clear_calls():
    Labeled.calls.clear()


def test_axis_metadata_is_abstract():
    class Incomplete(AxisMetadata):
        def unbox(self):
            return 1

    with pytest.raises(TypeError):
        Incomplete()
    box = Labeled(jnp.ones(2), ("x",))
    assert meta.is_axis_metadata(box)
    assert not meta.is_axis_metadata(jnp.ones(2))


def test_add_and_remove_axis_are_inverse():
    box = Partitioned(jnp.ones((2, 3)), ("a", None))
    params = {PARTITION_NAME: "layers"}
    for index in range(3):
        added = box.add_axis(index, params)
        assert added.names[index] == "layers"
        assert added.remove_axis(index, params).names == box.names
    assert box.add_axis(1, params).names == ("a", "layers", None)
    assert box.add_axis(0, {PARTITION_NAME: None}).names == (None, "a", None)
    # An index beyond the known names pads with None (replicated).
    assert box.add_axis(3, params).names == ("a", None, None, "layers")
    assert box.remove_axis(0, {PARTITION_NAME: "a"}).names == (None,)
    # The value is untouched: only metadata changes.
    assert box.add_axis(0, params).value is box.value


def test_remove_axis_checks_the_name():
    box = Partitioned(jnp.ones((2, 3)), ("a", None))
    with pytest.raises(ValueError):
        box.remove_axis(0, {PARTITION_NAME: "b"})


def test_partitioning_unspecified_error():
    box = Partitioned(jnp.ones(2), ("a",))
    for method in (box.add_axis, box.remove_axis):
        with pytest.raises(PartitioningUnspecifiedError) as info:
            method(0, {})
        assert info.value.target is box
        assert isinstance(info.value, ValueError)
        assert str(info.value).startswith(
            'Trying to transform a Partitioned variable but "partition_name" is not'
            " specified in metadata_params: Partitioned("
        )


def test_partitioned_is_a_pytree_of_its_value():
    value = jnp.ones((2, 3))
    box = Partitioned(value, ("a", None))
    leaves_with_paths, treedef = jax.tree_util.tree_flatten_with_path(box)
    assert len(leaves_with_paths) == 1
    path, leaf = leaves_with_paths[0]
    assert leaf is value
    assert path == (jax.tree_util.GetAttrKey("value"),)
    assert jax.tree_util.keystr(path) == ".value"
    # Names and mesh are static: part of the tree structure.
    same = jax.tree_util.tree_structure(Partitioned(1.0, ("a", None)))
    other = jax.tree_util.tree_structure(Partitioned(1.0, ("b", None)))
    assert treedef == same
    assert treedef != other
    doubled = jax.tree_util.tree_map(lambda x: 2 * x, box)
    assert isinstance(doubled, Partitioned) and doubled.names == ("a", None)
    np.testing.assert_array_equal(doubled.value, 2 * value)
    # Boxes go through jit like any pytree.
    out = jax.jit(lambda b: jax.tree_util.tree_map(jnp.sin, b))(box)
    assert isinstance(out, Partitioned) and out.names == box.names


def test_partitioned_unbox_replace_and_specs():
    box = Partitioned(jnp.ones(2), ("a",))
    assert box.unbox() is box.value
    assert box.unbox(apply_constraint=False) is box.value
    replaced = box.replace_boxed(jnp.zeros(3))
    assert isinstance(replaced, Partitioned)
    assert replaced.names == ("a",)
    np.testing.assert_array_equal(replaced.value, jnp.zeros(3))
    assert box.get_partition_spec() == PartitionSpec("a")
    specs = meta.get_partition_spec({"w": box, "b": jnp.ones(2)})
    assert specs == {"w": PartitionSpec("a"), "b": PartitionSpec()}


def test_unbox_helper():
    box = Partitioned(jnp.ones(2), ("a",))
    tree = {"w": box, "nested": [Labeled(3.0, ()), 4.0], "plain": jnp.zeros(1)}
    unboxed = meta.unbox(tree)
    assert unboxed["w"] is box.value
    assert unboxed["nested"] == [3.0, 4.0]
    assert unboxed["plain"] is tree["plain"]
    assert meta.unbox(box) is box.value
    assert meta.unbox(5) == 5


def test_replace_boxed_helper():
    tree = {"w": Partitioned(jnp.ones(2), ("a",)), "b": 2.0, "c": Labeled(1.0, ("z",))}
    updated = meta.replace_boxed(tree, {"w": jnp.zeros(2), "b": 3.0, "c": 5.0})
    assert isinstance(updated["w"], Partitioned) and updated["w"].names == ("a",)
    np.testing.assert_array_equal(updated["w"].value, jnp.zeros(2))
    assert updated["b"] == 3.0
    assert updated["c"] == Labeled(5.0, ("z",))


def test_add_axis_and_remove_axis_helpers_reach_every_box():
    tree = {"w": Labeled(1.0, ("x",)), "v": [Labeled(2.0, ())], "plain": 3.0}
    added = meta.add_axis(tree, 0, {"label": "L"})
    assert added == {"w": Labeled(1.0, ("L", "x")), "v": [Labeled(2.0, ("L",))], "plain": 3.0}
    assert meta.remove_axis(added, 0, {"label": "L"}) == tree


def test_with_partitioning():
    init_fn = with_partitioning(jax.nn.initializers.ones, (None, "model"))
    box = init_fn(KEY, (2, 3))
    assert isinstance(box, Partitioned)
    assert box.names == (None, "model")
    assert box.mesh is None
    np.testing.assert_array_equal(box.value, jnp.ones((2, 3)))


def test_variable_value_setter_preserves_boxes():
    def model(scope):
        v = scope.variable("stats", "x", with_partitioning(jnp.zeros, ("a",)), (2,))
        assert isinstance(v.value, jax.Array)
        v.value = v.value + 1
        raw = scope.variable("stats", "y", lambda: Labeled(jnp.zeros(2), ("b",)), unbox=False)
        assert isinstance(raw.value, Labeled)
        raw.value = Labeled(jnp.ones(2), ("c",))
        return v.value

    out, variables = init(model)(KEY)
    np.testing.assert_array_equal(out, jnp.ones(2))
    stored = variables["stats"]["x"]
    assert isinstance(stored, Partitioned) and stored.names == ("a",)
    np.testing.assert_array_equal(stored.value, jnp.ones(2))
    # unbox=False writes the given value as is.
    assert variables["stats"]["y"].labels == ("c",)


def test_variable_setter_reboxes_nested_trees():
    def model(scope):
        v = scope.variable(
            "stats", "t", lambda: {"a": Partitioned(jnp.zeros(2), ("x",)), "b": jnp.zeros(1)}
        )
        v.value = {"a": jnp.ones(2), "b": jnp.ones(1)}

    _, variables = init(model)(KEY)
    stored = variables["stats"]["t"]
    assert isinstance(stored["a"], Partitioned) and stored["a"].names == ("x",)
    np.testing.assert_array_equal(stored["a"].value, jnp.ones(2))
    np.testing.assert_array_equal(stored["b"], jnp.ones(1))


# -- boxes crossing lifted transforms -------------------------------------------------------


SEEN = []


def partitioned_dense(scope, x):
    kernel = scope.param("k", with_partitioning(jax.nn.initializers.ones, ("i", "o")), (4, 2))
    box = scope.get_variable("params", "k")
    SEEN.append((box.names, box.value.shape))
    return x @ kernel


@pytest.mark.parametrize(
    ("axis", "names", "shape"),
    [(0, ("batch", "i", "o"), (3, 4, 2)), (1, ("i", "batch", "o"), (4, 3, 2))],
)
def test_vmap_adds_and_removes_the_partition_name(axis, names, shape):
    SEEN.clear()
    vmapped = lift.vmap(
        partitioned_dense,
        variable_axes={"params": axis},
        split_rngs={"params": True},
        metadata_params={PARTITION_NAME: "batch"},
    )
    xs = jnp.ones((3, 1, 4))
    _, variables = init(vmapped)(KEY, xs)
    box = variables["params"]["k"]
    assert (box.names, box.value.shape) == (names, shape)
    # Inside, the box has lost the mapped axis and its name.
    assert SEEN == [(("i", "o"), (4, 2))]
    SEEN.clear()
    apply(vmapped)(variables, xs)
    assert SEEN == [(("i", "o"), (4, 2))]


def test_vmap_of_broadcast_variables_keeps_boxes_unchanged():
    vmapped = lift.vmap(
        partitioned_dense,
        variable_axes={"params": None},
        split_rngs={"params": False},
        metadata_params={PARTITION_NAME: "batch"},
    )
    _, variables = init(vmapped)(KEY, jnp.ones((3, 1, 4)))
    assert variables["params"]["k"].names == ("i", "o")


def test_vmap_of_a_partitioned_variable_needs_a_partition_name():
    vmapped = lift.vmap(partitioned_dense, variable_axes={"params": 0}, split_rngs={"params": True})
    with pytest.raises(PartitioningUnspecifiedError):
        init(vmapped)(KEY, jnp.ones((3, 1, 4)))


def test_scan_adds_and_removes_the_partition_name():
    seen = []

    def body(scope, carry, x):
        kernel = scope.param("k", with_partitioning(jax.nn.initializers.ones, ("i", "o")), (2, 2))
        seen.append(scope.get_variable("params", "k").names)
        return carry @ kernel * x, None

    scanned = lift.scan(
        body,
        variable_axes={"params": 0},
        split_rngs={"params": True},
        metadata_params={PARTITION_NAME: "layers"},
    )
    _, variables = init(scanned)(KEY, jnp.ones((1, 2)), jnp.ones((5,)))
    box = variables["params"]["k"]
    assert box.names == ("layers", "i", "o")
    assert box.value.shape == (5, 2, 2)
    assert set(seen) == {("i", "o")}
    seen.clear()
    apply(scanned)(variables, jnp.ones((1, 2)), jnp.ones((5,)))
    assert set(seen) == {("i", "o")}


def test_custom_boxes_receive_the_metadata_params():
    def model(scope, x):
        w = scope.param("w", lambda key, n: Labeled(jnp.ones(n), ("features",)), x.shape[-1])
        return x * w[None]

    vmapped = lift.vmap(
        model,
        variable_axes={"params": 0},
        split_rngs={"params": True},
        metadata_params={"label": "ensemble", "extra": 1},
    )
    xs = jnp.arange(6.0).reshape((2, 1, 3))
    y, variables = init(vmapped)(KEY, xs)
    assert variables["params"]["w"].labels == ("ensemble", "features")
    assert Labeled.calls == [("add", 0, {"label": "ensemble", "extra": 1})]
    np.testing.assert_array_equal(y, xs)
    Labeled.calls.clear()
    apply(vmapped)(variables, xs)
    assert Labeled.calls == [
        ("remove", 0, {"label": "ensemble", "extra": 1}),
    ]
    Labeled.calls.clear()
    apply(vmapped, mutable="params")(variables, xs)
    assert [c[0] for c in Labeled.calls] == ["remove", "add"]
