"""The Module-level errors of the error catalog, each raised by its documented trigger.

Messages start like flax's (flaxen's may go on with a hint on how to fix it);
every error is also an instance of the matching built-in exception. Name
clashes (NameInUseError) and frozen attributes (SetAttribute*Error) have their
own tables in test_linen_naming.py and test_linen_dataclass.py.
"""

import contextlib
import functools

import jax
import jax.numpy as jnp
import pytest

from flaxen import errors
from flaxen import linen as nn

KEY = jax.random.key(0)


class Leaf(nn.Module):
    @nn.compact
    def __call__(self, x):
        return x * self.param("w", jax.nn.initializers.ones, ())


@contextlib.contextmanager
def raises(cls, starts_with, builtin=None):
    """Expects ``cls`` with a message starting with ``starts_with`` (and a ``builtin``)."""
    with pytest.raises(cls) as info:
        yield info
    message = str(info.value)
    assert message.startswith(starts_with), message
    if builtin is not None:
        assert isinstance(info.value, builtin)


# -- AssignSubModuleError -------------------------------------------------------------------

ASSIGN = "Submodule Leaf must be defined in `setup()` or in a method wrapped in `@compact`"


def test_assign_submodule_in_a_non_compact_method():
    class Foo(nn.Module):
        def setup(self):
            pass

        def __call__(self, x):
            return Leaf()(x)

    with raises(errors.AssignSubModuleError, ASSIGN, RuntimeError) as info:
        Foo().init(KEY, jnp.zeros((1,)))
    assert info.value.cls in (Leaf, "Leaf")


def test_assign_submodule_partially_defined_in_setup():
    class Foo(nn.Module):
        def setup(self):
            self.conv = functools.partial(Leaf)

        def __call__(self, x):
            return self.conv()(x)

    with raises(errors.AssignSubModuleError, ASSIGN):
        Foo().init(KEY, jnp.zeros((1,)))


def test_assign_submodule_with_an_explicit_bound_parent_outside_setup():
    class Foo(nn.Module):
        def __call__(self, x):
            return x

    bound = Foo().bind({})
    with raises(errors.AssignSubModuleError, ASSIGN):
        Leaf(parent=bound)


# -- unbound modules ----------------------------------------------------------------------------


def test_call_compact_unbound_module():
    with raises(
        errors.CallCompactUnboundModuleError,
        "Can't call compact methods on unbound modules",
        RuntimeError,
    ):
        Leaf()(jnp.ones((5, 5)))


def test_call_setup_unbound_module():
    class MyModule(nn.Module):
        def setup(self):
            self.submodule = Leaf()

    module = MyModule()
    with raises(errors.CallSetupUnboundModuleError, "Can't call ", RuntimeError) as info:
        module.setup()
    assert "unbound modules" in str(info.value)


def test_call_unbind_on_unbound_module():
    with raises(
        errors.CallUnbindOnUnboundModuleError,
        "Can't call `unbind()` on unbound modules",
        RuntimeError,
    ):
        Leaf().unbind()


def test_call_share_scope_on_unbound_module():
    class CustomDense(Leaf):
        def __call__(self, x):
            return super().__call__(x) + 1

    with raises(
        errors.CallShareScopeOnUnboundModuleError,
        "Can't call `share_scope` on unbound modules",
        RuntimeError,
    ):
        nn.share_scope(CustomDense(), Leaf())

    class Half(nn.Module):
        @nn.compact
        def __call__(self, x):
            nn.share_scope(self, Leaf(parent=None))

    with raises(errors.CallShareScopeOnUnboundModuleError, "Can't call `share_scope`"):
        Half().init(KEY, 1.0)


# -- __post_init__ ---------------------------------------------------------------------------

POST_INIT = "Overrode `.__post_init__()` without calling `super().__post_init__()`"


class NoSuper(nn.Module):
    x: float

    def __post_init__(self):
        self.x_square = self.x**2

    @nn.compact
    def __call__(self, inputs):
        return inputs + 3


def test_incorrect_post_init_override_as_a_submodule():
    class Outer(nn.Module):
        @nn.compact
        def __call__(self, x):
            return NoSuper(x=2)(x)

    with raises(errors.IncorrectPostInitOverrideError, POST_INIT, RuntimeError):
        Outer().init(KEY, 1.0)


TOP_LEVEL_CALLS = {
    "init": lambda m: m.init(KEY, jnp.ones(3)),
    "init_with_output": lambda m: m.init_with_output(KEY, jnp.ones(3)),
    "lazy_init": lambda m: m.lazy_init(KEY, jnp.ones(3)),
    "apply": lambda m: m.apply({}, jnp.ones(3)),
    "bind": lambda m: m.bind({}),
    "unbind": lambda m: m.unbind(),
    "module_paths": lambda m: m.module_paths(KEY, jnp.ones(3)),
}


@pytest.mark.parametrize("call", sorted(TOP_LEVEL_CALLS))
def test_incorrect_post_init_override_at_the_top_level(call):
    module = NoSuper(x=3)
    assert module.x_square == 9
    with raises(errors.IncorrectPostInitOverrideError, POST_INIT, RuntimeError):
        TOP_LEVEL_CALLS[call](module)


def test_a_module_without_super_post_init_is_still_a_dataclass():
    # As in flax: only running it (or a compact method) needs the Module set up.
    class Plain(nn.Module):
        x: float

        def __post_init__(self):
            object.__setattr__(self, "doubled", 2 * self.x)

        def __call__(self, inputs):
            return inputs + self.doubled

    module = Plain(x=3.0)
    assert module.scope is None
    assert module(1.0) == 7.0
    clone = module.clone(x=1.0)
    assert (clone.x, clone.doubled) == (1.0, 2.0)
    assert module == Plain(x=3.0)


# -- init/apply on the class -------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda: Leaf.init(KEY, 1.0),
        lambda: Leaf.init_with_output(KEY, 1.0),
        lambda: Leaf.apply({}, 1.0),
        lambda: Leaf.lazy_init(KEY, 1.0),
    ],
    ids=["init", "init_with_output", "apply", "lazy_init"],
)
def test_invalid_instance_module(call):
    with raises(
        errors.InvalidInstanceModuleError, "Can only call init, init_with_output", TypeError
    ):
        call()


# -- apply(method=...) ------------------------------------------------------------------------


class HasAttr(nn.Module):
    value: int = 3

    def __call__(self, x):
        return x


@pytest.mark.parametrize("method", [3, lambda: 1], ids=["int", "zero-argument-function"])
def test_apply_module_invalid_method(method):
    with raises(
        errors.ApplyModuleInvalidMethodError,
        f"Cannot call apply(): {method} is not a valid function for apply().",
        TypeError,
    ) as info:
        HasAttr().apply({}, 1.0, method=method)
    assert info.value.method is method


def test_apply_method_name_of_a_non_callable_attribute_is_a_type_error():
    with pytest.raises(TypeError, match="value"):
        HasAttr().apply({}, 1.0, method="value")


def test_apply_unknown_method_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match='"HasAttr" object has no attribute "nope"'):
        HasAttr().apply({}, 1.0, method="nope")


# -- compact ------------------------------------------------------------------------------------

MULTIPLE = "Only one method per Module class can be @compact"


def test_multiple_methods_compact_is_raised_at_class_creation():
    with raises(errors.MultipleMethodsCompactError, MULTIPLE, TypeError):

        class Two(nn.Module):
            @nn.compact
            def a(self, x):
                return x

            @nn.compact
            def b(self, x):
                return x


def test_multiple_methods_compact_counts_inherited_methods():
    class A(nn.Module):
        @nn.compact
        def a(self, x):
            return x

    with raises(errors.MultipleMethodsCompactError, MULTIPLE):

        class B(A):
            @nn.compact
            def b(self, x):
                return x


def test_overriding_the_compact_method_is_fine():
    class A(nn.Module):
        @nn.compact
        def __call__(self, x):
            return x

    class B(A):
        @nn.compact
        def __call__(self, x):
            return super().__call__(x) + 1

    assert B().apply({}, 1.0) == 2.0


# -- transforms ---------------------------------------------------------------------------------

TARGET = "Linen transformations must be applied to Module"


@pytest.mark.parametrize(
    "make",
    [lambda: nn.vmap(Leaf()), lambda: nn.vmap(3), lambda: nn.jit(Leaf()), lambda: nn.scan(None)],
    ids=["vmap-instance", "vmap-int", "jit-instance", "scan-none"],
)
def test_transform_target_error(make):
    with raises(errors.TransformTargetError, TARGET, TypeError):
        make()


def test_transform_target_error_for_an_instance_names_it():
    with pytest.raises(errors.TransformTargetError) as info:
        nn.vmap(Leaf())
    assert "Leaf()" in str(info.value)
    assert info.value.target == Leaf()


def test_transformed_function_needs_a_module_first():
    vmapped = nn.vmap(lambda m, x: m(x), variable_axes={"params": 0}, split_rngs={"params": True})
    with pytest.raises(errors.TransformTargetError):
        vmapped(3, jnp.ones(2))


RETURN = "Transformed module method {} cannot return Modules or Variables."


def test_transformed_method_returning_a_module():
    class Returns(nn.Module):
        @nn.compact
        def __call__(self, x):
            return Leaf()

    class M(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.jit(Returns)()(x)

    with raises(
        errors.TransformedMethodReturnValueError, RETURN.format("__call__"), TypeError
    ) as info:
        M().init(KEY, 1.0)
    assert info.value.name == "__call__"


def test_transformed_method_returning_a_variable():
    class Returns(nn.Module):
        @nn.compact
        def __call__(self, x):
            return self.variable("s", "v", lambda: jnp.ones(()))

    class M(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.jit(Returns)()(x)

    with raises(errors.TransformedMethodReturnValueError, RETURN.format("__call__")):
        M().init(KEY, 1.0)


def test_transformed_function_returning_a_module():
    class M(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.remat(lambda m, x: m)(Leaf(), x)

    with raises(errors.TransformedMethodReturnValueError, RETURN.format("<lambda>")):
        M().init(KEY, 1.0)


def test_jax_transforms_and_modules_do_not_mix():
    # flax 0.12.8 does not raise JaxTransformError for this (or for closures over
    # modules inside jax transforms): JAX itself rejects the module argument.
    class NaiveVmap(nn.Module):
        @nn.compact
        def __call__(self, xs):
            leaf = Leaf()
            return jax.vmap(lambda leaf, x: leaf(x))(leaf, xs)

    with pytest.raises(TypeError, match="is not a valid JAX type"):
        NaiveVmap().init(KEY, jnp.ones(3))
    assert issubclass(errors.JaxTransformError, RuntimeError)
    assert str(errors.JaxTransformError()).startswith(
        "Jax transforms and Flax models cannot be mixed"
    )


# -- properties ----------------------------------------------------------------------------------


@pytest.mark.parametrize("bound", [True, False], ids=["in-apply", "unbound"])
def test_descriptor_attribute_error(bound):
    class Foo(nn.Module):
        @property
        def prop(self):
            return self.non_existent_field

        def __call__(self, x):
            return self.prop

    with pytest.raises(errors.DescriptorAttributeError) as info:
        if bound:
            Foo().init(KEY, jnp.ones((1, 8)))
        else:
            Foo().prop
    assert str(info.value).startswith(
        "A property of this Module is accessing a non-existent attribute."
    )
    # Not an AttributeError (as in Flax): hasattr/getattr with a default must
    # not swallow the bug in the property.
    assert not isinstance(info.value, AttributeError)
    with pytest.raises(errors.DescriptorAttributeError):
        getattr(Foo(), "prop", None)


def test_descriptor_attribute_error_for_any_attribute_error_in_a_property():
    class Foo(nn.Module):
        @property
        def prop(self):
            raise AttributeError("custom")

    with pytest.raises(errors.DescriptorAttributeError):
        Foo().prop
    # An attribute that does not exist at all is an ordinary AttributeError.
    with pytest.raises(AttributeError) as info:
        Foo().missing
    assert type(info.value) is AttributeError


# -- scope errors through modules ------------------------------------------------------------------


def test_scope_param_shape_error():
    class NoBiasDense(nn.Module):
        features: int = 8

        @nn.compact
        def __call__(self, x):
            kernel = self.param(
                "kernel", jax.nn.initializers.lecun_normal(), (x.shape[-1], self.features)
            )
            return x @ kernel

    variables = NoBiasDense().init(KEY, jnp.ones((5, 5, 1)))
    with raises(
        errors.ScopeParamShapeError, 'For parameter "kernel" in "/", the ', ValueError
    ) as info:
        NoBiasDense().apply(variables, jnp.ones((5, 5)))
    assert "(5, 8)" in str(info.value) and "(1, 8)" in str(info.value)


def test_modify_scope_variable_error():
    class MyModule(nn.Module):
        @nn.compact
        def __call__(self, x):
            var = self.variable("batch_stats", "mean", jnp.zeros, ())
            var.value = var.value + x
            return x

    variables = MyModule().init(KEY, 1.0)
    message = 'Cannot update variable "mean" in "/" because collection "batch_stats" is immutable.'
    with raises(errors.ModifyScopeVariableError, message, ValueError):
        MyModule().apply(variables, 1.0)
    _, state = MyModule().apply(variables, 1.0, mutable=["batch_stats"])
    assert state["batch_stats"]["mean"] == 2.0


class Bar(nn.Module):
    @nn.compact
    def __call__(self, x):
        self.param("some_param", jax.nn.initializers.zeros, (1,))
        return jax.random.bernoulli(self.make_rng("dropout"), 0.5, (2,))


class Foo(nn.Module):
    @nn.compact
    def __call__(self, x):
        return Bar()(x)


def test_invalid_rng_error():
    with raises(errors.InvalidRngError, 'Bar_0 needs PRNG for "params"', ValueError):
        Foo().init({"dropout": KEY}, 1.0)
    variables = Foo().init({"params": KEY, "dropout": KEY}, 1.0)
    with raises(errors.InvalidRngError, 'Bar_0 needs PRNG for "dropout"'):
        Foo().apply(variables, 1.0)
    Foo().apply(variables, 1.0, rngs={"dropout": jax.random.key(2)})
    # 'params' stands in for any missing stream.
    Foo().apply(variables, 1.0, rngs={"params": jax.random.key(2)})
    with pytest.raises(ValueError, match=r"should be a ``jax\.PRNGKey`` or a dictionary"):
        Foo().apply(variables, 1.0, rngs={"dropout": 3})


def test_scope_param_not_found_error():
    class Embed(nn.Module):
        @nn.compact
        def __call__(self, x, embed_name="embedding"):
            return self.param(embed_name, jax.nn.initializers.ones, (4, 8))

    variables = Embed().init(KEY, 1.0)
    with raises(
        errors.ScopeParamNotFoundError, 'Could not find parameter named "embed" in scope "/".'
    ):
        Embed().apply(variables, 1.0, "embed")


def test_scope_collection_and_variable_not_found():
    with pytest.raises(errors.ScopeCollectionNotFound) as info:
        Leaf().apply({}, 1.0)
    assert '"w" from collection "params" in "/"' in str(info.value)

    class V(nn.Module):
        @nn.compact
        def __call__(self):
            return self.variable("state", "x").value

    with raises(
        errors.ScopeVariableNotFoundError,
        'No Variable named "x" for collection "state" exists in "/".',
    ):
        V().apply({"state": {"y": 1}})


def test_apply_scope_invalid_variables_structure():
    with pytest.raises(errors.ApplyScopeInvalidVariablesStructureError):
        Leaf().apply({"params": {"params": {"w": 1.0}}}, 1.0)
