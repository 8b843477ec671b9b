"""How submodules, parameters and variables get their names (spec/rng-and-naming.md)."""

import hashlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flaxen import config
from flaxen import linen as nn
from flaxen.core import FrozenDict
from flaxen.errors import NameInUseError

KEY = jax.random.key(0)


class Leaf(nn.Module):
    @nn.compact
    def __call__(self, x):
        return x * self.param("w", jax.nn.initializers.normal(), ())


class Other(nn.Module):
    @nn.compact
    def __call__(self, x):
        return Leaf()(x)


def tree(variables):
    """The variable tree with leaves replaced by None: names and nesting only."""
    return jax.tree_util.tree_map(lambda _: None, variables)


def names(variables, col="params"):
    return sorted(variables.get(col, {}))


# -- compact names ------------------------------------------------------------------------


def test_auto_names_count_per_class_and_explicit_names_are_kept():
    class M(nn.Module):
        @nn.compact
        def __call__(self, x):
            return Leaf()(x) + Other()(x) + Leaf(name="mine")(x) + Leaf()(x) + Other()(x)

    variables = M().init(KEY, 1.0)
    assert tree(variables["params"]) == {
        "Leaf_0": {"w": None},
        "Leaf_1": {"w": None},
        "Other_0": {"Leaf_0": {"w": None}},
        "Other_1": {"Leaf_0": {"w": None}},
        "mine": {"w": None},
    }


def test_auto_names_restart_at_every_call_of_the_compact_method():
    class M(nn.Module):
        @nn.compact
        def __call__(self, x):
            return Leaf()(x) + Leaf()(x)

    class P(nn.Module):
        @nn.compact
        def __call__(self, x):
            m = M()
            return m(x), m(x)

    (a, b), variables = P().init_with_output(KEY, 1.0)
    assert tree(variables["params"]) == {"M_0": {"Leaf_0": {"w": None}, "Leaf_1": {"w": None}}}
    assert a == b  # the second call reuses the first call's parameters
    p = variables["params"]["M_0"]
    assert a == p["Leaf_0"]["w"] + p["Leaf_1"]["w"]


def test_a_submodule_called_twice_shares_its_variables():
    class P(nn.Module):
        @nn.compact
        def __call__(self, x):
            leaf = Leaf()
            return leaf(leaf(x))

    out, variables = P().init_with_output(KEY, 2.0)
    w = variables["params"]["Leaf_0"]["w"]
    assert names(variables) == ["Leaf_0"]
    np.testing.assert_allclose(out, 2.0 * w * w, rtol=1e-6)


def test_auto_names_do_not_skip_explicit_names():
    class M(nn.Module):
        @nn.compact
        def __call__(self, x):
            return Leaf()(x) + Leaf(name="Leaf_1")(x) + Leaf()(x)

    with pytest.raises(NameInUseError, match='Could not create submodule "Leaf_1" in Module M'):
        M().init(KEY, 1.0)


def test_names_in_a_helper_called_from_the_compact_method():
    class M(nn.Module):
        @nn.compact
        def __call__(self, x):
            return self.helper(x) + Leaf()(x)

        def helper(self, x):
            return Leaf()(x)

    assert names(M().init(KEY, 1.0)) == ["Leaf_0", "Leaf_1"]


def test_construction_order_decides_auto_names():
    # The "compact control flow" design note: construct before branching.
    class CorrectModule(nn.Module):
        @nn.compact
        def __call__(self, x, mode):
            encoder = Leaf()
            decoder = Leaf()
            return encoder(x) if mode == "encode" else decoder(x)

    variables = CorrectModule().init(KEY, 1.0, "encode")
    assert names(variables) == ["Leaf_0"]
    variables = CorrectModule().init(KEY, 1.0, "decode")
    assert names(variables) == ["Leaf_1"]


# -- NameInUseError -----------------------------------------------------------------------


def _compact(body):
    class M(nn.Module):
        @nn.compact
        def __call__(self, x):
            body(self, x)
            return x

    return M


def _param(mdl, name):
    mdl.param(name, jax.nn.initializers.zeros, (1,))


def _variable(col):
    def declare(mdl, name):
        mdl.variable(col, name, jnp.zeros, (1,))

    return declare


def _submodule(mdl, name):
    Leaf(name=name)(1.0)


CONFLICTS = {
    "submodule-submodule": (_submodule, _submodule, "submodule"),
    "param-submodule": (_param, _submodule, "submodule"),
    "submodule-param": (_submodule, _param, "param"),
    "variable-submodule": (_variable("stats"), _submodule, "submodule"),
    "submodule-variable": (_submodule, _variable("stats"), "variable"),
    "param-param": (_param, _param, "param"),
    "variable-variable-same-collection": (_variable("stats"), _variable("stats"), "variable"),
}


@pytest.mark.parametrize("case", sorted(CONFLICTS))
def test_name_in_use(case):
    first, second, kind = CONFLICTS[case]

    def body(mdl, x):
        first(mdl, "bar")
        second(mdl, "bar")

    with pytest.raises(NameInUseError) as info:
        _compact(body)().init(KEY, 1.0)
    assert str(info.value).startswith(f'Could not create {kind} "bar" in Module M: Name in use.')
    assert isinstance(info.value, ValueError)
    assert (info.value.key_type, info.value.value, info.value.module_name) == (kind, "bar", "M")


@pytest.mark.parametrize("order", ["param-first", "variable-first"])
def test_a_param_and_a_variable_of_another_collection_may_share_a_name(order):
    def body(mdl, x):
        if order == "param-first":
            _param(mdl, "mean")
            _variable("stats")(mdl, "mean")
        else:
            _variable("stats")(mdl, "mean")
            _param(mdl, "mean")

    variables = _compact(body)().init(KEY, 1.0)
    assert tree(variables) == {"params": {"mean": None}, "stats": {"mean": None}}


def test_variables_of_different_collections_may_share_a_name():
    def body(mdl, x):
        _variable("a")(mdl, "mean")
        _variable("b")(mdl, "mean")

    variables = _compact(body)().init(KEY, 1.0)
    assert tree(variables) == {"a": {"mean": None}, "b": {"mean": None}}


@pytest.mark.parametrize(
    "first, second, kind",
    [(_param, _variable("params"), "variable"), (_variable("params"), _param, "param")],
    ids=["param-first", "variable-first"],
)
def test_a_param_and_a_params_variable_clash(first, second, kind):
    def body(mdl, x):
        first(mdl, "w")
        second(mdl, "w")

    with pytest.raises(NameInUseError) as info:
        _compact(body)().init(KEY, 1.0)
    assert str(info.value).startswith(f'Could not create {kind} "w" in Module M: Name in use.')


def test_variables_of_different_collections_may_share_a_name_in_setup():
    class M(nn.Module):
        def setup(self):
            self.a = self.variable("a", "mean", jnp.zeros, (1,))
            self.b = self.variable("b", "mean", jnp.ones, (1,))

        def __call__(self, x):
            return self.a.value + self.b.value

    out, variables = M().init_with_output(KEY, 1.0)
    assert tree(variables) == {"a": {"mean": None}, "b": {"mean": None}}
    assert out == 1.0


def test_setup_names_are_permanent():
    class TwoExplicit(nn.Module):
        def setup(self):
            self.a = Leaf(name="x")
            self.b = Leaf(name="x")

        def __call__(self, x):
            return self.a(x)

    with pytest.raises(NameInUseError, match='Could not create submodule "x" in Module'):
        TwoExplicit().init(KEY, 1.0)

    class AttrVsParam(nn.Module):
        def setup(self):
            self.a = Leaf()
            self.w = self.param("a", jax.nn.initializers.zeros, ())

        def __call__(self, x):
            return self.a(x)

    with pytest.raises(NameInUseError, match='Could not create param "a" in Module AttrVsParam'):
        AttrVsParam().init(KEY, 1.0)

    class SetupThenCompact(nn.Module):
        def setup(self):
            self.Leaf_0 = Leaf()

        @nn.compact
        def __call__(self, x):
            return Leaf()(x) + self.Leaf_0(x)

    with pytest.raises(NameInUseError, match='Could not create submodule "Leaf_0" in Module'):
        SetupThenCompact().init(KEY, 1.0)


def test_setup_and_compact_in_one_module():
    class Mixed(nn.Module):
        def setup(self):
            self.first = Leaf()

        @nn.compact
        def __call__(self, x):
            return Leaf()(self.first(x))

    variables = Mixed().init(KEY, 1.0)
    assert names(variables) == ["Leaf_0", "first"]
    out = Mixed().apply(variables, 2.0)
    p = variables["params"]
    np.testing.assert_allclose(out, 2.0 * p["first"]["w"] * p["Leaf_0"]["w"], rtol=1e-6)


# -- setup names --------------------------------------------------------------------------


def test_setup_names_attributes_and_flattens_containers():
    class M(nn.Module):
        def setup(self):
            self.single = Leaf()
            self.layers = [Leaf(), Leaf()]
            self.table = {"a": [Leaf()], "b": Leaf()}
            self.mixed = (Leaf(), {"z": Leaf()})
            self.explicit = [Leaf(name="bar"), Leaf()]
            self.plain = [1, 2]
            self.plain_dict = {"k": [3]}

        def __call__(self, x):
            for leaf in (
                self.single, *self.layers, self.table["a"][0], self.table["b"], self.mixed[0],
                self.mixed[1]["z"], *self.explicit,
            ):  # fmt: skip
                x = leaf(x)
            return x

        def containers(self):
            return self.layers, self.table, self.mixed, self.plain, self.plain_dict

    variables = M().init(KEY, 1.0)
    assert names(variables) == [
        "bar",
        "explicit_1",
        "layers_0",
        "layers_1",
        "mixed_0",
        "mixed_1_z",
        "single",
        "table_a_0",
        "table_b",
    ]
    layers, table, mixed, plain, plain_dict = M().apply(variables, method="containers")
    # Lists become tuples and dicts FrozenDicts, modules or not.
    assert type(layers) is tuple and type(plain) is tuple and plain == (1, 2)
    assert type(table) is FrozenDict and type(table["a"]) is tuple
    assert type(mixed) is tuple and type(mixed[1]) is FrozenDict
    assert type(plain_dict) is FrozenDict and plain_dict["k"] == (3,)
    assert [leaf.name for leaf in layers] == ["layers_0", "layers_1"]


def test_setup_modules_are_bound_on_assignment():
    class M(nn.Module):
        def setup(self):
            leaf = Leaf()
            assert leaf.scope is None  # not bound until assigned
            self.leaf = leaf
            assert self.leaf.name == "leaf" and self.leaf.scope is not None
            assert self.leaf.parent is self

        def __call__(self, x):
            return self.leaf(x)

    assert names(M().init(KEY, 1.0)) == ["leaf"]


# -- adoption and sharing -------------------------------------------------------------------


class Wrap(nn.Module):
    inner: nn.Module

    @nn.compact
    def __call__(self, x):
        return self.inner(x)


class Chain(nn.Module):
    layers: tuple

    @nn.compact
    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


class Table(nn.Module):
    mods: dict

    @nn.compact
    def __call__(self, x):
        return self.mods["a"](x) + self.mods["b"][0](x)


def test_field_modules_are_adopted_under_the_field_name():
    assert tree(Wrap(Leaf()).init(KEY, 1.0)) == {"params": {"inner": {"w": None}}}
    # A name given to an orphan is replaced by the field's.
    assert tree(Wrap(Leaf(name="foo")).init(KEY, 1.0)) == {"params": {"inner": {"w": None}}}
    assert names(Table({"a": Leaf(), "b": [Leaf()]}).init(KEY, 1.0)) == ["mods_a", "mods_b_0"]


@pytest.fixture
def preserve_adopted_names():
    before = config.flaxen_preserve_adopted_names
    config.update("flaxen_preserve_adopted_names", True)
    yield
    config.update("flaxen_preserve_adopted_names", before)


def test_preserve_adopted_names_flag(preserve_adopted_names):
    assert names(Wrap(Leaf(name="foo")).init(KEY, 1.0)) == ["foo"]
    assert names(Wrap(Leaf()).init(KEY, 1.0)) == ["inner"]


def test_an_instance_passed_twice_stays_one_module():
    shared = Leaf()
    variables = Chain((Leaf(), shared, shared, Leaf())).init(KEY, 2.0)
    assert names(variables) == ["layers_0", "layers_1", "layers_3"]
    out = Chain((Leaf(), shared, shared, Leaf())).apply(variables, 2.0)
    p = variables["params"]
    expected = 2.0 * p["layers_0"]["w"] * p["layers_1"]["w"] ** 2 * p["layers_3"]["w"]
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_adoption_leaves_the_original_untouched():
    inner = Leaf()
    wrap = Wrap(inner)
    wrap.init(KEY, 1.0)
    assert inner.scope is None and inner.parent is None and inner.name is None
    assert wrap.inner is inner
    assert wrap == Wrap(Leaf())


def test_sharing_a_compact_submodule_with_a_wrapper():
    class Sharing(nn.Module):
        @nn.compact
        def __call__(self, x):
            d = Leaf()
            return Wrap(d)(x), d(x), Wrap(Leaf())(x)

    (a, b, c), variables = Sharing().init_with_output(KEY, 1.0)
    # Both leaves belong to Sharing (they were built in its compact method).
    assert tree(variables) == {"params": {"Leaf_0": {"w": None}, "Leaf_1": {"w": None}}}
    assert a == b == variables["params"]["Leaf_0"]["w"]
    assert c == variables["params"]["Leaf_1"]["w"]


def test_a_setup_submodule_passed_to_another_submodule_is_shared():
    class P(nn.Module):
        def setup(self):
            self.leaf = Leaf()
            self.wrap = Wrap(self.leaf)

        def __call__(self, x):
            return self.wrap(x), self.leaf(x)

    (a, b), variables = P().init_with_output(KEY, 1.0)
    assert tree(variables) == {"params": {"leaf": {"w": None}}}
    assert a == b


def test_an_unassigned_setup_module_passed_to_another_is_adopted():
    class P(nn.Module):
        def setup(self):
            self.wrap = Wrap(Leaf())

        def __call__(self, x):
            return self.wrap(x)

    assert tree(P().init(KEY, 1.0)) == {"params": {"wrap": {"inner": {"w": None}}}}


def test_an_orphan_passed_to_two_wrappers_in_compact_is_shared():
    class P(nn.Module):
        @nn.compact
        def __call__(self, x):
            d = Leaf(parent=None)
            return Wrap(d)(x) + Wrap(d)(x)

    assert tree(P().init(KEY, 1.0)) == {"params": {"Wrap_0": {"inner": {"w": None}}}}


class Pair(nn.Module):
    a: nn.Module
    b: nn.Module

    def __call__(self, x):
        return self.a(x) + self.b(x)


class Items(nn.Module):
    items: list

    def __call__(self, x):
        return sum(item(x) for item in self.items)


def test_an_orphan_is_adopted_once_per_tree_by_its_first_adopter():
    leaf = Leaf()
    model = Pair(Wrap(leaf), Wrap(leaf))
    variables = model.init(KEY, 1.0)
    assert tree(variables) == {"params": {"a": {"inner": {"w": None}}}}
    w = variables["params"]["a"]["inner"]["w"]
    assert model.apply(variables, 2.0) == 2 * (2.0 * w)
    # Every init adopts afresh: the orphan is not tied to an earlier tree.
    other = model.init(jax.random.key(1), 1.0)
    assert tree(other) == tree(variables) and other["params"]["a"]["inner"]["w"] != w
    bound = model.bind(variables)
    assert bound.b.inner is bound.a.inner and bound.b.inner.path == ("a", "inner")
    assert leaf.scope is None and leaf.parent is None and leaf.name is None

    # The same in setup: the orphan is shared by everything it is handed to.
    class Twice(nn.Module):
        def setup(self):
            orphan = Leaf(parent=None)
            self.x = orphan
            self.w = Wrap(orphan)

        def __call__(self, x):
            return self.x(x) + self.w(x)

    assert tree(Twice().init(KEY, 1.0)) == {"params": {"x": {"w": None}}}


def test_field_modules_are_adopted_field_by_field():
    # A field's module adopts its own fields before the next field is adopted...
    leaf = Leaf()
    assert tree(Pair(Wrap(leaf), leaf).init(KEY, 1.0)) == {"params": {"a": {"inner": {"w": None}}}}
    assert tree(Pair(leaf, Wrap(leaf)).init(KEY, 1.0)) == {"params": {"a": {"w": None}}}
    # ...but the modules of one field are all named first.
    assert tree(Items([Wrap(leaf), leaf]).init(KEY, 1.0)) == {"params": {"items_1": {"w": None}}}


def test_setup_modules_are_adopted_when_their_adopter_is_bound():
    class PassedFirst(nn.Module):
        def setup(self):
            leaf = Leaf()
            self.a = Wrap(leaf)  # binds a, which adopts leaf as a/inner
            self.leaf = leaf

        def __call__(self, x):
            return self.leaf(x) + self.a(x)

    class AssignedFirst(nn.Module):
        def setup(self):
            leaf = Leaf()
            wrap = Wrap(leaf)
            self.leaf = leaf  # named here: wrap finds it bound and shares it
            self.a = wrap

        def __call__(self, x):
            return self.a(x) + self.leaf(x)

    class OneAssignment(nn.Module):
        def setup(self):
            leaf = Leaf()
            self.a = [Wrap(leaf), leaf]  # both named before a_0 adopts

        def __call__(self, x):
            return self.a[0](x) + self.a[1](x)

    assert tree(PassedFirst().init(KEY, 1.0)) == {"params": {"a": {"inner": {"w": None}}}}
    assert tree(AssignedFirst().init(KEY, 1.0)) == {"params": {"leaf": {"w": None}}}
    assert tree(OneAssignment().init(KEY, 1.0)) == {"params": {"a_1": {"w": None}}}


def test_field_modules_are_bound_before_setup_runs():
    # The transfer-learning guide reaches a field module through a lambda:
    # no method of the bound model (so no setup) runs first.
    backbone = Leaf()
    backbone_variables = backbone.init(KEY, 1.0)
    model = Wrap(backbone)
    variables = {"params": {"inner": backbone_variables["params"]}}
    same = model.apply(variables, 3.0, method=lambda m, x: m.inner(x))
    assert same == backbone.apply(backbone_variables, 3.0)
    bound = model.bind(variables)
    assert bound.inner.path == ("inner",) and bound.inner.parent is bound


def test_a_detached_module_reserves_no_name():
    # The lifting design note: MLP(parent=None) is used through init/apply only.
    class Manual(nn.Module):
        @nn.compact
        def __call__(self, xs):
            leaf = Leaf(parent=None)
            init_fn = lambda rng, xs: jax.vmap(leaf.init)(jax.random.split(rng, xs.shape[0]), xs)[
                "params"
            ]
            params = self.param("leaf", init_fn, xs)
            return jax.vmap(leaf.apply)({"params": params}, xs) + Leaf()(xs)

    variables = Manual().init(KEY, jnp.ones(3))
    assert jax.tree_util.tree_map(jnp.shape, variables) == {
        "params": {"Leaf_0": {"w": ()}, "leaf": {"w": (3,)}}
    }


# -- names decide the keys -------------------------------------------------------------------


def _fold_value(items):
    digest = hashlib.sha1()
    for item in items:
        digest.update(
            item.encode() if isinstance(item, str) else item.to_bytes((item.bit_length() + 7) // 8)
        )
    return int.from_bytes(digest.digest()[:4], "big")


def test_parameter_keys_follow_the_module_path():
    class Inner(nn.Module):
        @nn.compact
        def __call__(self, x):
            return Leaf()(x) + Leaf(name="named")(x)

    class Outer(nn.Module):
        def setup(self):
            self.block = Inner()

        def __call__(self, x):
            return self.block(x)

    variables = Outer().init(KEY, 1.0)["params"]["block"]
    for name in ("Leaf_0", "named"):
        key = jax.random.fold_in(KEY, _fold_value(("block", name, 1)))
        np.testing.assert_array_equal(variables[name]["w"], jax.nn.initializers.normal()(key, ()))
