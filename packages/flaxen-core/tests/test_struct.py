"""flaxen.struct: frozen pytree dataclasses, meta fields, PyTreeNode, serialization."""

import dataclasses
import inspect
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.tree_util import GetAttrKey

from flaxen import serialization, struct
from flaxen.errors import StateDictMismatchError


@struct.dataclass
class Model:
    params: Any
    apply_fn: Any = struct.field(pytree_node=False, default=None)
    step: Any = 0


class Counter(struct.PyTreeNode):
    count: Any
    increment: int = struct.field(pytree_node=False, default=1)
    history: Any = ()


# --- dataclass basics --------------------------------------------------------------


def test_is_a_frozen_dataclass():
    model = Model(jnp.ones(2), "fn", 3)
    assert dataclasses.is_dataclass(model)
    assert Model.__dataclass_params__.frozen
    assert [f.name for f in dataclasses.fields(Model)] == ["params", "apply_fn", "step"]
    assert repr(Model(1, "fn", 2)) == "Model(params=1, apply_fn='fn', step=2)"
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'params'"):
        model.params = 1
    assert Model(1, "f") == Model(1, "f")
    assert hash(Model(1, "f")) == hash(Model(1, "f"))
    assert Model._flax_dataclass is True


def test_replace():
    model = Model(1, "fn", 2)
    new = model.replace(step=5)
    assert new == Model(1, "fn", 5)
    assert model == Model(1, "fn", 2)
    assert (
        Model.replace.__doc__
        == "Returns a new object replacing the specified fields with new values."
    )
    with pytest.raises(TypeError, match="unexpected keyword argument 'q'"):
        model.replace(q=1)


def test_replace_overrides_a_method_of_the_class():
    @struct.dataclass
    class Own:
        x: int

        def replace(self, **updates):
            return "mine"

    assert Own(1).replace(x=2) == Own(2)


def test_field_metadata():
    assert struct.field().metadata == {"pytree_node": True}
    assert struct.field(metadata={"a": 1}).metadata == {"a": 1, "pytree_node": True}
    meta = struct.field(pytree_node=False, metadata={"pytree_node": True, "b": 2}).metadata
    assert meta == {"pytree_node": False, "b": 2}
    assert dataclasses.fields(Model)[0].metadata == {}
    assert dataclasses.fields(Model)[1].metadata == {"pytree_node": False}
    assert struct.field(default_factory=list).default_factory is list


def test_kw_only():
    @struct.dataclass(kw_only=True)
    class Config:
        x: int
        y: int = 1

    assert Config(x=1) == Config(x=1, y=1)
    with pytest.raises(TypeError, match="takes 1 positional argument"):
        Config(1)
    assert str(inspect.signature(Config)) == "(*, x: int, y: int = 1) -> None"


def test_frozen_can_be_turned_off():
    @struct.dataclass(frozen=False)
    class Mutable:
        x: int

    value = Mutable(1)
    value.x = 2
    assert value.x == 2
    assert jax.tree_util.tree_leaves(value) == [2]


def test_decorating_twice_returns_the_class():
    assert struct.dataclass(Model) is Model


def test_subclass_needs_its_own_decoration():
    class Sub(Model):
        extra: int = 0

    # Sub is not registered as a pytree by inheritance: it is a leaf.
    assert jax.tree_util.tree_leaves(Sub(1)) == [Sub(1)]
    decorated = struct.dataclass(Sub)
    assert decorated is Sub
    assert [f.name for f in dataclasses.fields(Sub)] == ["params", "apply_fn", "step", "extra"]
    assert jax.tree_util.tree_leaves(Sub(1, "f", 2, 3)) == [1, 2, 3]


def test_init_false_fields_are_rejected_by_jax():
    with pytest.raises(ValueError, match=r"Unexpected fields: \{'z'\}"):

        @struct.dataclass
        class Bad:
            x: int
            z: int = dataclasses.field(init=False, default=5)


# --- pytree ---------------------------------------------------------------------------


def test_pytree_children_and_meta_fields():
    model = Model(jnp.ones(2), "meta", 3)
    leaves, treedef = jax.tree_util.tree_flatten(model)
    assert len(leaves) == 2
    np.testing.assert_array_equal(leaves[0], jnp.ones(2))
    assert leaves[1] == 3
    assert jax.tree_util.tree_unflatten(treedef, [5, 6]) == Model(5, "meta", 6)
    assert jax.tree_util.tree_structure(Model(1, "a")) != jax.tree_util.tree_structure(
        Model(1, "b")
    )


def test_key_paths_are_field_names():
    paths = [path for path, _ in jax.tree_util.tree_flatten_with_path(Model({"w": 1}, "m", 2))[0]]
    assert paths == [
        (GetAttrKey("params"), jax.tree_util.DictKey("w")),
        (GetAttrKey("step"),),
    ]


def test_unflatten_goes_through_init():
    calls = []

    @struct.dataclass
    class Checked:
        x: Any

        def __post_init__(self):
            calls.append(self.x)

    value = Checked(1)
    jax.tree_util.tree_map(lambda v: v + 1, value)
    assert calls == [1, 2]


def test_jit_treats_meta_fields_as_static():
    traces = []

    def fn(model, x):
        traces.append(model.apply_fn)
        # A meta field is a plain Python value inside the trace.
        assert isinstance(model.apply_fn, str)
        return model.params * x if model.apply_fn == "mul" else model.params + x

    jitted = jax.jit(fn)
    np.testing.assert_allclose(jitted(Model(jnp.array(2.0), "mul"), 3.0), 6.0)
    np.testing.assert_allclose(jitted(Model(jnp.array(4.0), "mul"), 3.0), 12.0)
    assert traces == ["mul"]  # same meta: no retrace
    np.testing.assert_allclose(jitted(Model(jnp.array(2.0), "add"), 3.0), 5.0)
    assert traces == ["mul", "add"]


def test_grad_over_struct():
    def loss(model):
        return jnp.sum(model.apply_fn(model.params) ** 2) + model.step

    model = Model(jnp.array([1.0, 2.0]), jnp.tanh, jnp.array(1.0))
    grads = jax.grad(loss)(model)
    assert type(grads) is Model
    assert grads.apply_fn is jnp.tanh
    expected = 2 * np.tanh([1.0, 2.0]) * (1 - np.tanh([1.0, 2.0]) ** 2)
    np.testing.assert_allclose(grads.params, expected, rtol=1e-6)
    np.testing.assert_allclose(grads.step, 1.0)


def test_vmap_over_struct():
    batch = Counter(count=jnp.arange(3.0), increment=2)
    out = jax.vmap(lambda c: c.replace(count=c.count + c.increment))(batch)
    assert type(out) is Counter
    assert out.increment == 2
    np.testing.assert_allclose(out.count, [2.0, 3.0, 4.0])


# --- PyTreeNode ---------------------------------------------------------------------------


def test_pytree_node_subclass_with_defaults():
    counter = Counter(jnp.array(0))
    assert counter.increment == 1
    assert counter.history == ()
    assert jax.tree_util.tree_leaves(counter) == [counter.count]
    advanced = counter.replace(count=counter.count + counter.increment)
    assert int(advanced.count) == 1
    assert Counter._flax_dataclass is True
    assert Counter.__dataclass_params__.frozen
    with pytest.raises(dataclasses.FrozenInstanceError):
        counter.count = 1


def test_pytree_node_class_keywords_and_inheritance():
    class Extended(Counter, kw_only=True):
        scale: float = 2.0

    value = Extended(1, scale=3.0)
    assert value == Extended(count=1, increment=1, history=(), scale=3.0)
    assert str(inspect.signature(Extended)) == (
        "(count: Any, increment: int = 1, history: Any = (), *, scale: float = 2.0) -> None"
    )
    assert jax.tree_util.tree_leaves(value) == [1, 3.0]
    paths = [path for path, _ in jax.tree_util.tree_flatten_with_path(value)[0]]
    assert paths == [(GetAttrKey("count"),), (GetAttrKey("scale"),)]

    class Mutable(struct.PyTreeNode, frozen=False):
        a: int = 1

    assert not Mutable.__dataclass_params__.frozen


def test_pytree_node_itself_cannot_be_instantiated():
    with pytest.raises(NotImplementedError):
        struct.PyTreeNode()
    assert not dataclasses.is_dataclass(struct.PyTreeNode)
    assert list(inspect.signature(struct.PyTreeNode.__init_subclass__).parameters) == ["kwargs"]


# --- serialization ------------------------------------------------------------------------


def test_state_dict_excludes_meta_fields():
    model = Model({"w": np.ones(2)}, "meta", 3)
    state = serialization.to_state_dict(model)
    assert list(state) == ["params", "step"]
    assert state["step"] == 3
    np.testing.assert_array_equal(state["params"]["w"], np.ones(2))
    assert serialization.is_serializable(model)
    assert serialization.is_serializable(Counter)


def test_from_state_dict_restores_fields_and_keeps_meta():
    model = Model({"w": 0}, "meta", (0, 0))
    restored = serialization.from_state_dict(model, {"params": {"w": 5}, "step": {"0": 1, "1": 2}})
    assert restored == Model({"w": 5}, "meta", (1, 2))


def test_from_state_dict_errors():
    model = Model(1, "meta", 2)
    with pytest.raises(StateDictMismatchError) as info:
        serialization.from_state_dict(model, {"params": 1})
    assert info.value.detail == (
        "Missing field step in state dict while restoring an instance of Model, at path ."
    )
    with pytest.raises(StateDictMismatchError) as info:
        serialization.from_state_dict(model, {"params": 1, "step": 2, "z": 3, "w": 4})
    assert info.value.detail == (
        'Unknown field(s) "z,w" in state dict while restoring an instance of Model at path .'
    )
    # Meta fields are not part of the state: giving one is an unknown field.
    with pytest.raises(StateDictMismatchError) as info:
        serialization.from_state_dict({"m": model}, {"m": {"params": 1, "step": 2, "apply_fn": 0}})
    assert info.value.detail == (
        'Unknown field(s) "apply_fn" in state dict while restoring an instance of Model at path ./m'
    )
    with pytest.raises(ValueError, match=r"got int at path \.") as info:
        serialization.from_state_dict(model, 5)
    assert type(info.value) is StateDictMismatchError


def test_bytes_round_trip_of_nested_structs():
    inner = Counter(np.arange(3, dtype=np.float32), increment=5, history=(np.float32(1.0),))
    outer = Model({"inner": inner, "list": [np.ones(2)]}, "meta", np.int32(7))
    data = serialization.to_bytes(outer)
    template = jax.tree_util.tree_map(np.zeros_like, outer)
    restored = serialization.from_bytes(template, data)
    assert type(restored) is Model
    assert restored.apply_fn == "meta"
    assert restored.params["inner"].increment == 5
    np.testing.assert_array_equal(restored.params["inner"].count, np.arange(3))
    assert restored.params["inner"].history == (np.float32(1.0),)
    np.testing.assert_array_equal(restored.params["list"][0], np.ones(2))
    assert restored.step == 7


def test_doctests(run_doctests):
    assert run_doctests("flaxen.struct") > 0
