"""Modules as dataclasses: fields, freezing, lazy setup, repr, equality, pickling."""

import dataclasses
import inspect
import pickle

import cloudpickle
import jax
import jax.numpy as jnp
import pytest

from flaxen import config
from flaxen import linen as nn
from flaxen.errors import (
    ReservedModuleAttributeError,
    SetAttributeFrozenModuleError,
    SetAttributeInModuleSetupError,
)

KEY = jax.random.key(0)


class Leaf(nn.Module):
    features: int = 1

    @nn.compact
    def __call__(self, x):
        return x * self.param("w", jax.nn.initializers.ones, ())


# -- fields -------------------------------------------------------------------------------


def test_fields_and_keyword_only_parent_and_name():
    class Base(nn.Module):
        a: int

    class Sub(Base):
        b: int
        c: int = 5

    class Sub2(Sub):
        d: int = 6

    m = Sub2(1, 2)
    assert (m.a, m.b, m.c, m.d, m.name, m.parent) == (1, 2, 5, 6, None, None)
    m = Sub2(1, 2, 3, 4, name="x")
    assert (m.c, m.d, m.name) == (3, 4, "x")
    # parent and name never take positional slots.
    with pytest.raises(TypeError, match="positional argument"):
        Sub2(1, 2, 3, 4, None)
    names = [f.name for f in dataclasses.fields(Sub2)]
    assert [n for n in names if n not in ("parent", "name")] == ["a", "b", "c", "d"]
    assert {"parent", "name"} <= set(names)
    parameters = inspect.signature(Sub2).parameters
    assert parameters["name"].kind is inspect.Parameter.KEYWORD_ONLY
    assert parameters["parent"].kind is inspect.Parameter.KEYWORD_ONLY


def test_a_field_without_default_after_one_with_default_is_a_type_error():
    class Base(nn.Module):
        a: int = 1

    with pytest.raises(TypeError, match="non-default argument 'b' follows default argument"):

        class Sub(Base):
            b: int


def test_kw_only_class_argument():
    class K(nn.Module, kw_only=True):
        a: int
        b: int = 2

    assert (K(a=1).a, K(a=1).b) == (1, 2)
    with pytest.raises(TypeError, match="positional argument"):
        K(1)

    # A subclass without kw_only may add positional fields after defaulted kw-only ones.
    class S(K):
        c: int

    s = S(3, a=1)
    assert (s.a, s.b, s.c) == (1, 2, 3)


def test_annotations_without_type_hint_are_class_attributes_not_fields():
    class M(nn.Module):
        x: int = 1
        y = 2

    assert [f.name for f in dataclasses.fields(M) if f.name not in ("parent", "name")] == ["x"]
    with pytest.raises(TypeError):
        M(1, 3)


@pytest.mark.parametrize(
    "annotations",
    [{"parent": object}, {"parent": object, "name": str}],
    ids=["parent", "parent-and-name"],
)
def test_reserved_module_attribute(annotations):
    with pytest.raises(ReservedModuleAttributeError) as info:
        type(nn.Module)("R", (nn.Module,), {"__annotations__": dict(annotations)})
    message = str(info.value)
    assert message.startswith("properties `parent` and `name` are reserved")
    for key in annotations:
        assert f"'{key}'" in message
    assert isinstance(info.value, TypeError)
    assert info.value.annotations == annotations


def test_nowrap_methods_run_on_unbound_modules():
    class M(nn.Module):
        features: int = 3

        @nn.nowrap
        def doubled(self):
            return 2 * self.features

        def plain(self, x):
            return x + self.features

    assert M().doubled() == 6
    # Non-compact methods run on unbound modules too (setup does not run).
    assert M().plain(1) == 4


# -- frozen instances ---------------------------------------------------------------------


def test_bound_modules_are_frozen():
    bound = Leaf(2).bind({})
    with pytest.raises(SetAttributeFrozenModuleError) as info:
        bound.features = 3
    assert str(info.value).startswith(
        "Can't set features=3 for Module of type Leaf: Module instance is frozen outside of"
        " setup method."
    )
    assert isinstance(info.value, AttributeError)
    with pytest.raises(SetAttributeFrozenModuleError, match="Can't set other=1 for Module"):
        bound.other = 1
    assert bound.features == 2


def test_setting_attributes_in_a_method_is_refused():
    class SomeModule(nn.Module):
        @nn.compact
        def __call__(self, x, num_features=10):
            self.num_features = num_features
            return x

    with pytest.raises(
        SetAttributeFrozenModuleError, match="Can't set num_features=10 for Module of type"
    ):
        SomeModule().init(KEY, 1.0)


def test_setting_a_submodule_attribute_in_setup_is_refused():
    class Foo(nn.Module):
        def setup(self):
            self.dense = Leaf(10)
            self.dense.features = 20

        def __call__(self, x):
            return self.dense(x)

    with pytest.raises(SetAttributeFrozenModuleError, match="Can't set features=20 for Module"):
        Foo().init(KEY, 1.0)


def test_reassigning_a_field_in_setup_is_refused():
    class Foo(nn.Module):
        features: int = 6

        def setup(self):
            self.features = 3

        def __call__(self, x):
            return x

    with pytest.raises(SetAttributeInModuleSetupError) as info:
        Foo().init(KEY, 1.0)
    assert str(info.value).startswith("Module construction attributes are frozen")
    assert isinstance(info.value, AttributeError)
    assert Foo(features=3).features == 3


# -- setup --------------------------------------------------------------------------------


def test_setup_runs_lazily_once_per_bound_instance():
    log = []

    class Lazy(nn.Module):
        tag: str = "t"

        def setup(self):
            log.append(self.tag)
            self.w = self.param("w", jax.nn.initializers.ones, ())

        def __call__(self, x):
            return x * self.w

        def info(self):
            return self.tag

        @nn.nowrap
        def helper(self):
            return self.tag

    variables = {"params": {"w": 2.0}}
    bound = Lazy().bind(variables)
    assert log == []  # binding does not run setup
    bound.helper()
    bound.tag  # fields do not need setup
    assert log == []
    bound.info()  # the first wrapped method call runs it
    assert log == ["t"]
    bound.info()
    assert bound(1.0) == 2.0
    assert bound.w == 2.0
    assert log == ["t"]  # ... once
    Lazy().bind(variables).w  # so does the first missing-attribute access
    assert log == ["t", "t"]
    with pytest.raises(AttributeError):
        Lazy().bind(variables).missing
    assert log == ["t", "t", "t"]
    other = Lazy().bind(variables)
    hasattr(other, "tag")
    repr(other)
    other.variables
    assert log == ["t", "t", "t"]


def test_setup_of_children_runs_when_they_are_used():
    log = []

    class Child(nn.Module):
        tag: str

        def setup(self):
            log.append(("setup", self.tag))

        def __call__(self, x):
            return x

    class Parent(nn.Module):
        def setup(self):
            log.append(("setup", "parent"))
            self.a = Child("a")
            self.b = Child("b")  # never used: never set up

        def __call__(self, x):
            log.append(("call", "parent"))
            return self.a(x)

    Parent().apply({}, 1.0)
    assert log == [("setup", "parent"), ("call", "parent"), ("setup", "a")]


def test_compact_child_sets_up_on_first_use():
    log = []

    class Child(nn.Module):
        tag: str = "c"

        def setup(self):
            log.append("child")
            self.w = 1.0

    class Parent(nn.Module):
        @nn.compact
        def __call__(self):
            child = Child()
            before = len(log)
            child.tag
            after_field = len(log)
            child.w
            return before, after_field, len(log)

    assert Parent().apply({}) == (0, 0, 1)


def test_top_level_modules_do_not_run_setup():
    class TopLevelAccess(nn.Module):
        def setup(self):
            self.foo = Leaf()

    mdl = TopLevelAccess()
    assert not hasattr(mdl, "foo")


def test_getattr_hint_on_unbound_modules():
    class S(nn.Module):
        def setup(self):
            self.w = 1

    with pytest.raises(AttributeError) as info:
        S().w
    assert str(info.value) == (
        '"S" object has no attribute "w". If "w" is defined in \'.setup()\', remember'
        " these fields are only accessible from inside 'init' or 'apply'."
    )


def test_getattr_message_on_bound_modules():
    class S(nn.Module):
        def setup(self):
            self.w = 1

    with pytest.raises(AttributeError) as info:
        S().bind({}).zz
    assert str(info.value) == '"S" object has no attribute "zz".'


def test_post_init_override_with_super():
    class A(nn.Module):
        x: float

        def __post_init__(self):
            object.__setattr__(self, "x_square", self.x**2)
            super().__post_init__()

        def __call__(self, inputs):
            return inputs + self.x_square

    assert A(x=3).x_square == 9
    assert A(x=3).apply({}, 1.0) == 10.0
    assert A(x=3).clone(x=2).x_square == 4


# -- repr ---------------------------------------------------------------------------------


class Attrs(nn.Module):
    n: int = 1
    dtype: object = jnp.float32
    act: object = jax.nn.relu
    tup: tuple = (1, 2)
    s: str = "hi"
    f: object = None


class Holder(nn.Module):
    inner: nn.Module = None
    items: object = None

    @nn.compact
    def __call__(self, x):
        return Leaf(3)(x)


def test_repr_of_unbound_modules():
    assert repr(Attrs()) == (
        "Attrs(\n"
        "    # attributes\n"
        "    n = 1\n"
        "    dtype = float32\n"
        "    act = relu\n"
        "    tup = (1, 2)\n"
        "    s = 'hi'\n"
        "    f = None\n"
        ")"
    )
    assert repr(Holder(Leaf(2), [Leaf(5)])) == (
        "Holder(\n"
        "    # attributes\n"
        "    inner = Leaf(\n"
        "        # attributes\n"
        "        features = 2\n"
        "    )\n"
        "    items = [Leaf(\n"
        "        # attributes\n"
        "        features = 5\n"
        "    )]\n"
        ")"
    )

    class Empty(nn.Module):
        pass

    assert repr(Empty()) == "Empty()"
    assert "dtype = bfloat16" in repr(Attrs(dtype=jnp.bfloat16))
    assert "act = <lambda>" in repr(Attrs(act=lambda x: x))


def test_repr_of_bound_modules_lists_children():
    bound = Holder().bind({}, rngs={"params": KEY}, mutable=True)
    bound(1.0)
    assert repr(bound) == (
        "Holder(\n"
        "    # attributes\n"
        "    inner = None\n"
        "    items = None\n"
        "    # children\n"
        "    Leaf_0 = Leaf(\n"
        "        # attributes\n"
        "        features = 3\n"
        "    )\n"
        ")"
    )

    class Setup(nn.Module):
        def setup(self):
            self.a = Leaf(1)
            self.bs = [Leaf(2)]

        def __call__(self, x):
            return self.a(x)

    bound = Setup().bind({})
    bound.a  # runs setup
    assert repr(bound) == (
        "Setup(\n"
        "    # children\n"
        "    a = Leaf(\n"
        "        # attributes\n"
        "        features = 1\n"
        "    )\n"
        "    bs_0 = Leaf(\n"
        "        # attributes\n"
        "        features = 2\n"
        "    )\n"
        ")"
    )


class Deep(nn.Module):
    @nn.compact
    def __call__(self, x):
        return Mid()(x)


class Mid(nn.Module):
    @nn.compact
    def __call__(self, x):
        return Leaf()(x)


@pytest.fixture
def repr_depth():
    before = config.flaxen_max_repr_depth

    def set_depth(depth):
        config.update("flaxen_max_repr_depth", depth)

    yield set_depth
    config.update("flaxen_max_repr_depth", before)


def test_max_repr_depth_flag(repr_depth):
    # flaxen's own flag (flax 0.12.8 accepts flax_max_repr_depth but linen ignores it).
    bound = Deep().bind({}, rngs={"params": KEY}, mutable=True)
    bound(1.0)
    full = repr(bound)
    assert "features = 1" in full
    repr_depth(0)
    assert repr(bound) == "Deep(\n    # children\n    Mid_0 = Mid(...)\n)"
    repr_depth(1)
    assert repr(bound) == (
        "Deep(\n"
        "    # children\n"
        "    Mid_0 = Mid(\n"
        "        # children\n"
        "        Leaf_0 = Leaf(...)\n"
        "    )\n"
        ")"
    )
    repr_depth(None)
    assert repr(bound) == full


# -- equality, hashing, pickling -------------------------------------------------------------


def test_equality_and_hash_follow_the_fields_and_name():
    assert Leaf(1) == Leaf(1)
    assert hash(Leaf(1)) == hash(Leaf(1))
    assert Leaf(1) != Leaf(2)
    assert Leaf(1, name="a") != Leaf(1)
    assert Leaf(1) != Holder()
    assert Holder(Leaf(1)) == Holder(Leaf(1))
    assert Leaf(1).bind({}) != Leaf(1)  # a bound module has a scope as parent
    assert {Leaf(1): "x"}[Leaf(1)] == "x"


def test_unhashable_fields_make_an_unhashable_module():
    assert Holder(items=[1]) == Holder(items=[1])
    with pytest.raises(TypeError):
        hash(Holder(items=[1]))


@pytest.mark.parametrize(
    "module",
    [
        Leaf(3, name="x"),
        Holder(Leaf(2), (Leaf(4),)),
        Attrs(dtype=jnp.bfloat16, act=max, tup=(3,)),
    ],
    ids=["named", "nested", "attrs"],
)
def test_pickle_round_trip(module):
    restored = pickle.loads(pickle.dumps(module))
    assert restored == module and type(restored) is type(module)
    assert restored.name == module.name
    assert restored.scope is None and restored.parent is None


def test_pickled_module_still_works():
    module = Holder(Leaf(2))
    variables = module.init(KEY, 1.0)
    restored = pickle.loads(pickle.dumps(module))
    assert restored == module
    assert restored.apply(variables, 2.0) == module.apply(variables, 2.0)


def test_cloudpickle_of_locally_defined_modules():
    class Local(nn.Module):
        scale: float = 2.0

        @nn.compact
        def __call__(self, x):
            return x * self.scale * self.param("w", jax.nn.initializers.ones, ())

    module = Local(3.0, name="local")
    restored = cloudpickle.loads(cloudpickle.dumps(module))
    assert restored == module
    assert restored.apply({"params": {"w": 2.0}}, 1.0) == 6.0
    wrapper = cloudpickle.loads(cloudpickle.dumps(Holder(Local())))
    assert wrapper == Holder(Local())
