"""Lifted transforms of Module classes, methods and functions: vmap, scan, jit, remat,
remat_scan, map_variables, fold_rngs, add_metadata_axis.

Values are checked against the same maths written with plain JAX (jax.vmap,
Python loops over the stacked parameters, ...), keys against the derivation
of spec/rng-and-naming.md.
"""

import functools
import hashlib
from collections.abc import Callable, Iterable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flaxen import linen as nn
from flaxen import struct
from flaxen.errors import PartitioningUnspecifiedError

KEY = jax.random.key(0)


class Dense(nn.Module):
    features: int = 3
    use_bias: bool = True

    @nn.compact
    def __call__(self, x):
        kernel = self.param("kernel", jax.nn.initializers.normal(), (x.shape[-1], self.features))
        if not self.use_bias:
            return x @ kernel
        bias = self.param("bias", jax.nn.initializers.normal(), (self.features,))
        return x @ kernel + bias.reshape((1,) * (x.ndim - 1) + (-1,))


def dense(p, x):
    y = x @ p["kernel"]
    return y + p["bias"].reshape((1,) * (x.ndim - 1) + (-1,)) if "bias" in p else y


def shapes(tree):
    return jax.tree_util.tree_map(jnp.shape, tree)


def close(a, b, rtol=1e-5):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=1e-6)


def fold_value(items):
    """H(items) of spec/rng-and-naming.md."""
    digest = hashlib.sha1()
    for item in items:
        data = (
            item.encode() if isinstance(item, str) else item.to_bytes((item.bit_length() + 7) // 8)
        )
        digest.update(data)
    return int.from_bytes(digest.digest()[:4], "big")


def key_data(key):
    return np.asarray(jax.random.key_data(key))


# -- classes ------------------------------------------------------------------------------


def test_transformed_classes_are_named_subclasses():
    cases = {
        "VmapDense": nn.vmap(Dense),
        "ScanDense": nn.scan(Dense),
        "JitDense": nn.jit(Dense),
        "CheckpointDense": nn.remat(Dense),
        "Map_variablesDense": nn.map_variables(Dense),
        "Remat_scanDense": nn.remat_scan(Dense, lengths=(2,)),
        "Fold_rngsDense": nn.fold_rngs(Dense),
    }
    for name, cls in cases.items():
        assert cls.__name__ == name and issubclass(cls, Dense)
    assert nn.checkpoint(Dense).__name__ == "CheckpointDense"
    assert nn.remat is nn.checkpoint


def test_instances_of_transformed_classes_get_their_class_names():
    class M(nn.Module):
        @nn.compact
        def __call__(self, x):
            nn.vmap(Dense, variable_axes={"params": 0}, split_rngs={"params": True})(2)(x)
            nn.remat(Dense)(2)(x[0])
            nn.jit(Dense)(2)(x[0])
            nn.remat(Dense)(2)(x[0])
            return x

    variables = M().init(KEY, jnp.ones((2, 1, 2)))
    assert sorted(variables["params"]) == [
        "CheckpointDense_0",
        "CheckpointDense_1",
        "JitDense_0",
        "VmapDense_0",
    ]


def test_add_metadata_axis_class_name():
    # One map_variables per collection, as in Flax (so the instances, and the
    # variable paths, are Map_variables<Target>_<i>).
    cls = nn.add_metadata_axis(Dense, variable_axes={"params": 0})
    assert cls.__name__ == "Map_variablesDense" and issubclass(cls, Dense)
    two = nn.add_metadata_axis(Dense, variable_axes={"params": 0, "stats": 1})
    assert two.__name__ == "Map_variablesMap_variablesDense"
    assert nn.add_metadata_axis(Dense, variable_axes={}) is Dense

    class M(nn.Module):
        @nn.compact
        def __call__(self, x):
            return cls()(x)

    assert list(M().init(KEY, jnp.ones((1, 2)))["params"]) == ["Map_variablesDense_0"]


# -- vmap ---------------------------------------------------------------------------------


def test_vmap_with_mapped_params():
    BatchDense = nn.vmap(
        Dense, in_axes=0, out_axes=0, variable_axes={"params": 0}, split_rngs={"params": True}
    )
    x = jnp.linspace(-1, 1, 12).reshape(4, 3)
    y, variables = BatchDense(2).init_with_output(KEY, x)
    p = variables["params"]
    assert shapes(p) == {"bias": (4, 2), "kernel": (4, 3, 2)}
    close(y, jax.vmap(dense)(p, x))
    close(BatchDense(2).apply(variables, x * 2), jax.vmap(dense)(p, x * 2))
    # Split keys: every element is initialized from its own split of the root key.
    keys = jax.random.split(KEY, 4)
    for i in range(4):
        expected = jax.nn.initializers.normal()(
            jax.random.fold_in(keys[i], fold_value((1,))), (3, 2)
        )
        np.testing.assert_array_equal(p["kernel"][i], expected)
    assert not np.array_equal(p["kernel"][0], p["kernel"][1])


def test_vmap_with_shared_params():
    BatchDense = nn.vmap(Dense, variable_axes={"params": None}, split_rngs={"params": False})
    x = jnp.linspace(-1, 1, 12).reshape(4, 1, 3)
    y, variables = BatchDense(2).init_with_output(KEY, x)
    p = variables["params"]
    assert shapes(p) == {"bias": (2,), "kernel": (3, 2)}
    close(y, dense(p, x))


def test_vmap_in_axes_out_axes_and_axis_name():
    class Center(nn.Module):
        @nn.compact
        def __call__(self, x, offset):
            mean = jax.lax.pmean(x, "batch")
            return x - mean + offset

    V = nn.vmap(Center, in_axes=(1, None), out_axes=1, axis_name="batch")
    x = jnp.arange(6.0).reshape(2, 3)
    y = V().apply({}, x, 10.0)
    close(y, x - x.mean(axis=1, keepdims=True) + 10.0)


def test_vmap_axis_size_without_mapped_inputs():
    class Draw(nn.Module):
        @nn.compact
        def __call__(self):
            return jax.random.uniform(self.make_rng("noise"), ())

    V = nn.vmap(Draw, axis_size=3, split_rngs={"noise": True})
    out = V().apply({}, rngs={"noise": KEY})
    assert out.shape == (3,) and len(set(np.asarray(out).tolist())) == 3
    same = nn.vmap(Draw, axis_size=3, split_rngs={"noise": False})().apply({}, rngs={"noise": KEY})
    assert len(set(np.asarray(same).tolist())) == 1


class RunningMean(nn.Module):
    """A BatchNorm-like layer: normalizes with, and updates, a running mean."""

    momentum: float = 0.5

    @nn.compact
    def __call__(self, x, train):
        ra = self.variable("batch_stats", "mean", jnp.zeros, x.shape[-1:])
        scale = self.param("scale", jax.nn.initializers.ones, x.shape[-1:])
        if train:
            mean = x.mean(axis=0)
            if not self.is_initializing():
                ra.value = self.momentum * ra.value + (1 - self.momentum) * mean
        else:
            mean = ra.value
        return (x - mean[None]) * scale[None]


def test_vmap_with_mapped_mutable_state():
    V = nn.vmap(
        RunningMean,
        variable_axes={"params": 0, "batch_stats": 0},
        split_rngs={"params": True},
        in_axes=(0, None),
    )
    xs = jnp.arange(24.0).reshape(2, 4, 3)
    variables = V().init(KEY, xs, True)
    assert shapes(variables) == {"batch_stats": {"mean": (2, 3)}, "params": {"scale": (2, 3)}}
    y, state = V().apply(variables, xs, True, mutable=["batch_stats"])
    close(state["batch_stats"]["mean"], 0.5 * xs.mean(axis=1))
    close(y, xs - xs.mean(axis=1, keepdims=True))
    y = V().apply({**variables, **state}, xs, False)
    close(y, xs - 0.5 * xs.mean(axis=1, keepdims=True))


def test_vmap_methods_and_method_decorator():
    class Two(nn.Module):
        def setup(self):
            self.w = self.param("w", jax.nn.initializers.normal(), (2,))

        def __call__(self, x):
            return x * self.w

        def shift(self, x):
            return x + self.w

    V = nn.vmap(
        Two, variable_axes={"params": 0}, split_rngs={"params": True}, methods=["__call__", "shift"]
    )
    x = jnp.ones((3, 2))
    variables = V().init(KEY, x)
    w = variables["params"]["w"]
    assert w.shape == (3, 2)
    close(V().apply(variables, x, method="shift"), x + w)
    close(V().apply(variables, x), x * w)

    class Decorated(nn.Module):
        @functools.partial(nn.vmap, variable_axes={"params": 0}, split_rngs={"params": True})
        @nn.compact
        def __call__(self, x):
            return x * self.param("w", jax.nn.initializers.normal(), (2,))

    variables = Decorated().init(KEY, x)
    assert shapes(variables) == {"params": {"w": (3, 2)}}
    close(Decorated().apply(variables, x), x * variables["params"]["w"])


def test_vmap_of_a_function_taking_a_module():
    class BatchDense(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.vmap(
                lambda mdl, x: mdl(x), variable_axes={"params": 0}, split_rngs={"params": True}
            )(Dense(3), x)

    x = jnp.ones((2, 4))
    y, variables = BatchDense().init_with_output(KEY, x)
    p = variables["params"]["Dense_0"]
    assert shapes(p) == {"bias": (2, 3), "kernel": (2, 4, 3)}
    close(y, jax.vmap(dense)(p, x))


class Partial(struct.PyTreeNode):
    fn: Callable = struct.field(pytree_node=False)
    args: Iterable[Any]

    def __call__(self, *args, **kwargs):
        return self.fn(*(tuple(self.args) + args), **kwargs)


def test_vmap_of_a_method_with_a_module_in_a_pytree_closure():
    # The "practical consequences" example of the Module lifecycle design note.
    class Foo(nn.Module):
        @nn.compact
        def __call__(self, x):
            d = Dense(x.shape[-1])
            fn = lambda mdl, x: mdl(x) + 1
            vmap_inner = nn.vmap(
                Foo.inner, in_axes=0, variable_axes={"params": 0}, split_rngs={"params": True}
            )
            return vmap_inner(self, x, Partial(fn, [d]))

        def inner(self, x, fn):
            for _ in range(3):
                x = fn(x)
            return x

    x = jnp.ones((2, 3))
    y, variables = Foo().init_with_output(KEY, x)
    p = variables["params"]["Dense_0"]
    assert shapes(p) == {"bias": (2, 3), "kernel": (2, 3, 3)}

    def expected(p, x):
        for _ in range(3):
            x = dense(p, x) + 1
        return x

    close(y, jax.vmap(expected)(p, x))


class Scale(nn.Module):
    @nn.compact
    def __call__(self, x):
        return x * self.param("w", jax.nn.initializers.normal(), (x.shape[-1],))


class Hold(nn.Module):
    inner: nn.Module

    def __call__(self, x):
        return self.inner(x)


VMAP_PARAMS = dict(variable_axes={"params": 0}, split_rngs={"params": True})


def _lifted_module_cases():
    """Bound modules reaching a lifted transform: their variables are lifted with it."""

    class FieldOfLiftedClass(nn.Module):  # a shared Scale_0 in a vmapped class's field
        @nn.compact
        def __call__(self, x):
            return nn.vmap(Hold, **VMAP_PARAMS)(Scale())(x)

    class FieldInSetup(nn.Module):  # a module built in setup, adopted by the vmapped class
        def setup(self):
            self.v = nn.vmap(Hold, **VMAP_PARAMS)(Scale())

        def __call__(self, x):
            return self.v(x)

    class Argument(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.vmap(lambda mdl, x, d: d(x), **VMAP_PARAMS)(self, x, Scale())

    class InContainers(nn.Module):
        @nn.compact
        def __call__(self, x):
            fn = nn.vmap(lambda mdl, x, ms: ms["a"][0](x) + ms["a"][1](x), **VMAP_PARAMS)
            return fn(self, x, {"a": [Scale(), Scale()]})

    class SetupArgument(nn.Module):
        def setup(self):
            self.d = Scale()

        def __call__(self, x):
            return nn.vmap(lambda mdl, x, d: d(x), **VMAP_PARAMS)(self, x, self.d)

    return {
        "field-of-lifted-class": (FieldOfLiftedClass, {"Scale_0": {"w": (2, 3)}}),
        "field-in-setup": (FieldInSetup, {"v": {"inner": {"w": (2, 3)}}}),
        "argument": (Argument, {"Scale_0": {"w": (2, 3)}}),
        "in-containers": (InContainers, {"Scale_0": {"w": (2, 3)}, "Scale_1": {"w": (2, 3)}}),
        "setup-argument": (SetupArgument, {"d": {"w": (2, 3)}}),
    }


@pytest.mark.parametrize("case", sorted(_lifted_module_cases()))
def test_vmap_lifts_the_bound_modules_it_reaches(case):
    model, expected = _lifted_module_cases()[case]
    x = jnp.linspace(-1, 1, 6).reshape(2, 3)
    y, variables = model().init_with_output(KEY, x)
    assert shapes(variables["params"]) == expected
    ws = jax.tree_util.tree_leaves(variables["params"])
    close(y, sum(x * w for w in ws))  # each row scaled by its own row of weights
    assert not np.array_equal(ws[0][0], ws[0][1])  # split keys
    close(model().apply(variables, 2 * x), 2 * y)


@pytest.mark.parametrize("transform", ["jit", "remat", "scan"])
def test_module_arguments_of_other_transforms(transform):
    class Foo(nn.Module):
        @nn.compact
        def __call__(self, x):
            d = Scale()
            if transform == "scan":
                body = nn.scan(
                    lambda mdl, c, d: (d(c), None),
                    variable_broadcast="params",
                    split_rngs={"params": False},
                    length=2,
                )
                return body(self, x, d)[0]
            lifted = {"jit": nn.jit, "remat": nn.remat}[transform]
            return lifted(lambda mdl, x, d: d(x))(self, x, d)

    x = jnp.linspace(-1, 1, 3)
    y, variables = Foo().init_with_output(KEY, x)
    assert shapes(variables) == {"params": {"Scale_0": {"w": (3,)}}}
    w = variables["params"]["Scale_0"]["w"]
    close(y, x * w * w if transform == "scan" else x * w)
    close(Foo().apply(variables, x), y)


def test_vmap_metadata_gets_the_partition_name():
    class PDense(nn.Module):
        @nn.compact
        def __call__(self, x):
            init = nn.with_partitioning(jax.nn.initializers.ones, ("in", "out"))
            return x @ self.param("w", init, (x.shape[-1], 3))

    V = nn.vmap(
        PDense,
        variable_axes={"params": 0},
        split_rngs={"params": True},
        metadata_params={nn.PARTITION_NAME: "batch"},
    )
    variables = V().init(KEY, jnp.ones((4, 2)))
    box = variables["params"]["w"]
    assert isinstance(box, nn.Partitioned)
    assert box.names == ("batch", "in", "out") and box.value.shape == (4, 2, 3)
    close(V().apply(variables, jnp.ones((4, 2))), jnp.full((4, 3), 2.0))

    V1 = nn.vmap(PDense, variable_axes={"params": 1}, split_rngs={"params": True})
    with pytest.raises(PartitioningUnspecifiedError, match='"partition_name" is not specified'):
        V1().init(KEY, jnp.ones((4, 2)))


# -- scan ---------------------------------------------------------------------------------


class Cell(nn.Module):
    @nn.compact
    def __call__(self, carry, x):
        h = jnp.tanh(Dense(carry.shape[-1])(carry) + x)
        return h, h * 2


def cell(p, carry, x):
    h = jnp.tanh(dense(p, carry) + x)
    return h, h * 2


def test_scan_with_per_step_params():
    S = nn.scan(Cell, variable_axes={"params": 0}, split_rngs={"params": True}, length=4)
    carry, xs = jnp.ones(3) * 0.1, jnp.linspace(0, 1, 12).reshape(4, 3)
    (c, ys), variables = S().init_with_output(KEY, carry, xs)
    p = variables["params"]["Dense_0"]
    assert shapes(p) == {"bias": (4, 3), "kernel": (4, 3, 3)}
    expected_ys = []
    c_ref = carry
    for i in range(4):
        c_ref, y = cell(jax.tree_util.tree_map(lambda a: a[i], p), c_ref, xs[i])
        expected_ys.append(y)
    close(c, c_ref)
    close(ys, jnp.stack(expected_ys))
    assert not np.array_equal(p["kernel"][0], p["kernel"][1])


def test_scan_with_broadcast_params_reverse_and_axes():
    S = nn.scan(
        Cell,
        variable_broadcast="params",
        split_rngs={"params": False},
        in_axes=1,
        out_axes=1,
        reverse=True,
    )
    carry, xs = jnp.ones(3) * 0.1, jnp.linspace(0, 1, 12).reshape(3, 4)
    (c, ys), variables = S().init_with_output(KEY, carry, xs)
    p = variables["params"]["Dense_0"]
    assert shapes(p) == {"bias": (3,), "kernel": (3, 3)}
    c_ref, expected = carry, [None] * 4
    for i in reversed(range(4)):
        c_ref, expected[i] = cell(p, c_ref, xs[:, i])
    close(c, c_ref)
    close(ys, jnp.stack(expected, axis=1))
    (c2, _) = S().apply(variables, carry, xs)
    close(c2, c_ref)


def test_scan_broadcast_input():
    class AddBias(nn.Module):
        @nn.compact
        def __call__(self, carry, x, bias):
            return carry + x + bias, carry

    S = nn.scan(AddBias, in_axes=(0, nn.broadcast), length=3)
    c, ys = S().apply({}, 0.0, jnp.arange(3.0), 10.0)
    assert c == 0 + 1 + 2 + 30
    close(ys, [0.0, 10.0, 21.0])


def test_scan_with_carried_state():
    class Count(nn.Module):
        @nn.compact
        def __call__(self, c, x):
            n = self.variable("state", "n", lambda: jnp.zeros((), jnp.int32))
            n.value += 1
            return c + x, n.value

    # Carried variables keep their structure: they exist before the scan.
    S = nn.scan(Count, variable_carry="state", length=5)
    variables = {"state": {"n": jnp.zeros((), jnp.int32)}}
    (c, ns), state = S().apply(variables, 0.0, jnp.ones(5), mutable="state")
    assert c == 5.0
    np.testing.assert_array_equal(ns, [1, 2, 3, 4, 5])
    assert state["state"]["n"] == 5
    (_, ns), state = S().apply(state, 0.0, jnp.ones(5), mutable="state")
    np.testing.assert_array_equal(ns, [6, 7, 8, 9, 10])


def test_scan_of_layers_without_xs():
    # The ResidualMLP example of nn.scan's docs.
    class ResidualMLPBlock(nn.Module):
        @nn.compact
        def __call__(self, x, _):
            h = jax.nn.relu(Dense(2)(x))
            return x + h, None

    class ResidualMLP(nn.Module):
        n_layers: int = 4

        @nn.compact
        def __call__(self, x):
            ScanMLP = nn.scan(
                ResidualMLPBlock,
                variable_axes={"params": 0},
                variable_broadcast=False,
                split_rngs={"params": True},
                length=self.n_layers,
            )
            x, _ = ScanMLP()(x, None)
            return x

    x = jnp.ones((1, 2))
    y, variables = ResidualMLP(n_layers=4).init_with_output(KEY, x)
    p = variables["params"]["ScanResidualMLPBlock_0"]["Dense_0"]
    assert shapes(p) == {"bias": (4, 2), "kernel": (4, 2, 2)}
    ref = x
    for i in range(4):
        ref = ref + jax.nn.relu(dense(jax.tree_util.tree_map(lambda a: a[i], p), ref))
    close(y, ref)


def test_scan_of_a_function_and_as_a_method_decorator():
    class FnScan(nn.Module):
        @nn.compact
        def __call__(self, carry, xs):
            body = nn.scan(
                lambda cell, c, x: cell(c, x),
                variable_broadcast="params",
                split_rngs={"params": False},
            )
            return body(Cell(), carry, xs)

    class Decorated(nn.Module):
        @functools.partial(nn.scan, variable_broadcast="params", split_rngs={"params": False})
        @nn.compact
        def __call__(self, carry, x):
            h = jnp.tanh(Dense(carry.shape[-1])(carry) + x)
            return h, h * 2

    carry, xs = jnp.ones(3) * 0.1, jnp.linspace(0, 1, 6).reshape(2, 3)
    for model, path in [(FnScan(), ("Cell_0", "Dense_0")), (Decorated(), ("Dense_0",))]:
        (c, ys), variables = model.init_with_output(KEY, carry, xs)
        p = variables["params"]
        for name in path:
            p = p[name]
        c_ref, ref = carry, []
        for i in range(2):
            c_ref, y = cell(p, c_ref, xs[i])
            ref.append(y)
        close(c, c_ref)
        close(ys, jnp.stack(ref))


def test_scan_metadata_gets_the_partition_name():
    class PCell(nn.Module):
        @nn.compact
        def __call__(self, c, x):
            init = nn.with_partitioning(jax.nn.initializers.ones, ("h",))
            return c * self.param("w", init, (c.shape[-1],)) + x, c

    S = nn.scan(
        PCell,
        variable_axes={"params": 0},
        split_rngs={"params": True},
        length=5,
        metadata_params={nn.PARTITION_NAME: "layers"},
    )
    variables = S().init(KEY, jnp.ones(2), jnp.ones((5, 2)))
    box = variables["params"]["w"]
    assert isinstance(box, nn.Partitioned)
    assert box.names == ("layers", "h") and box.value.shape == (5, 2)


# -- jit ----------------------------------------------------------------------------------


def test_jit_matches_the_unjitted_module_on_the_same_variables():
    x = jnp.linspace(-1, 1, 6).reshape(2, 3)
    variables = nn.jit(Dense)(4).init(KEY, x)
    close(nn.jit(Dense)(4).apply(variables, x), dense(variables["params"], x))
    close(Dense(4).apply(variables, x), dense(variables["params"], x))


def test_jit_draws_different_keys_than_the_plain_module():
    x = jnp.ones((1, 3))
    jitted = nn.jit(Dense)(4).init(KEY, x)
    plain = Dense(4).init(KEY, x)
    assert not np.array_equal(jitted["params"]["kernel"], plain["params"]["kernel"])


def test_jit_traces_once_per_attributes_and_shapes():
    traces = []

    class Traced(nn.Module):
        scale: float = 1.0

        @nn.compact
        def __call__(self, x):
            traces.append(1)
            return x * self.param("w", jax.nn.initializers.ones, ()) * self.scale

    J = nn.jit(Traced)

    class Model(nn.Module):
        scale: float = 1.0

        @nn.compact
        def __call__(self, x):
            return J(self.scale)(x)

    x = jnp.ones(2)
    variables = Model().init(KEY, x)
    assert len(traces) == 1
    for _ in range(3):
        close(Model().apply(variables, x), x)
    assert len(traces) == 2  # one trace for init, one for all the applies
    close(Model(2.0).apply(variables, x), 2 * x)
    assert len(traces) == 3  # other attributes: a new trace
    Model().apply(variables, jnp.ones(3))
    assert len(traces) == 4  # other shapes: a new trace


def test_jit_as_a_method_decorator_and_with_methods():
    traces = []

    class Decorated(nn.Module):
        @nn.jit
        @nn.compact
        def __call__(self, x):
            traces.append(1)
            return x * self.param("w", jax.nn.initializers.ones, ())

    variables = Decorated().init(KEY, jnp.ones(2))
    for _ in range(3):
        Decorated().apply(variables, jnp.ones(2))
    assert len(traces) == 2

    class Two(nn.Module):
        def setup(self):
            self.w = self.param("w", jax.nn.initializers.ones, ())

        def __call__(self, x):
            return x * self.w

        def shift(self, x):
            return x + self.w

    J = nn.jit(Two, methods=["__call__", "shift"])
    variables = J().init(KEY, 1.0)
    assert J().apply(variables, 2.0, method="shift") == 3.0
    assert J().apply(variables, 2.0) == 2.0


def test_jit_static_argnums_count_the_module_as_zero():
    traces = []

    class Repeat(nn.Module):
        @nn.compact
        def __call__(self, x, n):
            traces.append(n)
            for _ in range(n):  # needs a concrete n
                x = x + 1
            return x

    J = nn.jit(Repeat, static_argnums=2)
    close(J().apply({}, jnp.ones(2), 3), jnp.full(2, 4.0))
    close(J().apply({}, jnp.ones(2), 3), jnp.full(2, 4.0))
    close(J().apply({}, jnp.ones(2), 4), jnp.full(2, 5.0))
    assert traces == [3, 4]

    class Named(nn.Module):
        @nn.compact
        def __call__(self, x, n=1):
            return x + n if isinstance(n, int) else x

    assert nn.jit(Named, static_argnames="n")().apply({}, 1.0, n=3) == 4.0


def test_jit_lifts_mutable_state_and_rngs():
    class Noise(nn.Module):
        @nn.compact
        def __call__(self, x):
            count = self.variable("state", "count", lambda: 0)
            count.value += 1
            return x + jax.random.normal(self.make_rng("noise"), x.shape)

    J = nn.jit(Noise)
    x = jnp.zeros(2)
    variables = J().init({"params": KEY, "noise": KEY}, x)
    out, state = J().apply(variables, x, rngs={"noise": KEY}, mutable="state")
    assert state["state"]["count"] == 2
    out2, _ = J().apply(variables, x, rngs={"noise": jax.random.key(1)}, mutable="state")
    assert not np.array_equal(out, out2)


# -- remat ----------------------------------------------------------------------------------


class MLP(nn.Module):
    @nn.compact
    def __call__(self, x):
        h = jax.nn.relu(Dense(4)(x))
        return Dense(2)(h)


def mlp(p, x):
    return dense(p["Dense_1"], jax.nn.relu(dense(p["Dense_0"], x)))


def test_remat_gives_the_same_values_and_gradients():
    x = jnp.linspace(-1, 1, 6).reshape(2, 3)
    R = nn.remat(MLP)
    variables = R().init(KEY, x)
    plain = MLP().init(KEY, x)
    # remat adds nothing to the keys: same parameters as the plain module.
    np.testing.assert_array_equal(
        variables["params"]["Dense_0"]["kernel"], plain["params"]["Dense_0"]["kernel"]
    )
    close(R().apply(variables, x), mlp(variables["params"], x))
    grads = jax.grad(lambda v: R().apply(v, x).sum())(variables)
    expected = jax.grad(lambda p: mlp(p, x).sum())(variables["params"])
    jax.tree_util.tree_map(close, grads["params"], expected)


def test_checkpoint_as_a_method_decorator():
    class CheckpointedMLP(nn.Module):
        @nn.checkpoint
        @nn.compact
        def __call__(self, x):
            h = jax.nn.relu(Dense(4)(x))
            return Dense(2)(h)

    x = jnp.ones((1, 3))
    variables = CheckpointedMLP().init(KEY, x)
    assert sorted(variables["params"]) == ["Dense_0", "Dense_1"]
    close(CheckpointedMLP().apply(variables, x), mlp(variables["params"], x))
    jaxpr = str(jax.make_jaxpr(jax.grad(lambda v: CheckpointedMLP().apply(v, x).sum()))(variables))
    assert "remat" in jaxpr or "checkpoint" in jaxpr


def test_remat_static_argnums_count_the_module_as_zero():
    class Branch(nn.Module):
        @nn.compact
        def __call__(self, x, use_relu):
            x = Dense(2)(x)
            return jax.nn.relu(x) if use_relu else x  # needs a concrete flag

    R = nn.remat(Branch, static_argnums=(2,))
    x = jnp.linspace(-1, 1, 6).reshape(2, 3)
    variables = R().init(KEY, x, True)
    p = variables["params"]["Dense_0"]
    close(R().apply(variables, x, True), jax.nn.relu(dense(p, x)))
    close(R().apply(variables, x, False), dense(p, x))
    grads = jax.grad(lambda v: R().apply(v, x, False).sum())(variables)
    close(grads["params"]["Dense_0"]["bias"], jnp.full(2, 2.0))


def test_lazy_init_through_remat():
    class Scale(nn.Module):
        @nn.compact
        def __call__(self, x):
            return x * self.param("w", jax.nn.initializers.ones, (x.shape[-1],))[None]

    spec = jax.ShapeDtypeStruct((2, 3), jnp.float32)
    variables = nn.remat(Scale)().lazy_init(KEY, spec)
    assert shapes(variables) == {"params": {"w": (3,)}}


def test_remat_policy_and_methods():
    class Two(nn.Module):
        def setup(self):
            self.dense = Dense(2)

        def __call__(self, x):
            return self.dense(x)

        def twice(self, x):
            return self.dense(self.dense(x))

    R = nn.remat(
        Two, policy=jax.checkpoint_policies.nothing_saveable, methods=["__call__", "twice"]
    )
    x = jnp.ones((1, 2))
    variables = R().init(KEY, x)
    p = variables["params"]["dense"]
    close(R().apply(variables, x, method="twice"), dense(p, dense(p, x)))


# -- remat_scan ------------------------------------------------------------------------------


def test_remat_scan_stacks_the_layers():
    class Block(nn.Module):
        @nn.compact
        def __call__(self, x):
            return jnp.tanh(Dense(x.shape[-1])(x))

    class BigModel(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.remat_scan(Block, lengths=(2, 3))(name="stack")(x)

    x = jnp.linspace(-1, 1, 4).reshape(1, 4)
    y, variables = BigModel().init_with_output(KEY, x)
    p = variables["params"]["stack"]["Dense_0"]
    assert shapes(p) == {"bias": (2, 3, 4), "kernel": (2, 3, 4, 4)}
    ref = x
    for i in range(2):
        for j in range(3):
            ref = jnp.tanh(dense(jax.tree_util.tree_map(lambda a: a[i, j], p), ref))
    close(y, ref)
    grads = jax.grad(lambda v: BigModel().apply(v, x).sum())(variables)
    assert shapes(grads) == shapes(variables)


# -- map_variables -----------------------------------------------------------------------------


class CausalDense(nn.Module):
    features: int

    def apply_mask(self, variables):
        return (
            jax.tree_util.tree_map(jnp.triu, variables) if not self.is_initializing() else variables
        )

    def setup(self):
        masked = nn.map_variables(Dense, "params", self.apply_mask, init=self.is_initializing())
        self.dense = masked(features=self.features, use_bias=False)

    def __call__(self, x):
        return self.dense(x)


def test_map_variables_masks_weights():
    x = jnp.linspace(-1, 1, 5).reshape(1, 5)
    variables = CausalDense(5).init(KEY, x)
    kernel = variables["params"]["dense"]["kernel"]
    assert kernel.shape == (5, 5)
    assert not np.array_equal(kernel, jnp.triu(kernel))  # stored unmasked
    close(CausalDense(5).apply(variables, x), x @ jnp.triu(kernel))


def test_map_variables_trans_in_and_out_with_mutable_collections():
    class Accumulate(nn.Module):
        @nn.compact
        def __call__(self, x):
            v = self.variable("state", "v", lambda: jnp.ones(()))
            before = v.value
            v.value = before + x
            return before, v.value

    M = nn.map_variables(
        Accumulate,
        "state",
        trans_in_fn=lambda vs: jax.tree_util.tree_map(lambda a: a * 10, vs),
        trans_out_fn=lambda vs: jax.tree_util.tree_map(lambda a: a / 10, vs),
        mutable=True,
    )
    # init: created inside (nothing to map in), stored through trans_out_fn.
    out, variables = M().init_with_output(KEY, 1.0)
    assert out == (1.0, 2.0)
    assert variables["state"]["v"] == pytest.approx(0.2)
    # apply: the module sees trans_in_fn's values; writes go back through trans_out_fn.
    out, state = M().apply({"state": {"v": 0.2}}, 1.0, mutable="state")
    assert out == (pytest.approx(2.0), pytest.approx(3.0))
    assert state["state"]["v"] == pytest.approx(0.3)


# -- fold_rngs and add_metadata_axis -------------------------------------------------------------


class Draws(nn.Module):
    @nn.compact
    def __call__(self):
        return self.make_rng("dropout"), self.make_rng("dropout")


def test_fold_rngs_re_roots_streams_like_jit():
    class Plain(nn.Module):
        @nn.compact
        def __call__(self):
            return Draws(name="r")()

    class Folded(nn.Module):
        @nn.compact
        def __call__(self):
            return nn.fold_rngs(Draws)(name="r")()

    class Jitted(nn.Module):
        @nn.compact
        def __call__(self):
            return nn.jit(Draws)(name="r")()

    rngs = {"dropout": KEY}
    plain, folded, jitted = (m().apply({}, rngs=rngs) for m in (Plain, Folded, Jitted))
    for a, b in zip(folded, jitted):
        np.testing.assert_array_equal(key_data(a), key_data(b))
    assert not np.array_equal(key_data(folded[0]), key_data(plain[0]))
    assert not np.array_equal(key_data(folded[0]), key_data(folded[1]))
    # The new root is the transformed module's own draw; the path restarts empty and the
    # stream's counter (shared with the outer scope, which just used 1) goes on.
    root = jax.random.fold_in(KEY, fold_value(("r", 1)))
    for draw, counter in zip(folded, (2, 3)):
        expected = jax.random.fold_in(root, fold_value((counter,)))
        np.testing.assert_array_equal(key_data(draw), key_data(expected))


def test_add_metadata_axis_adds_the_axis_name_only():
    class PDense(nn.Module):
        @nn.compact
        def __call__(self, x):
            init = nn.with_partitioning(jax.nn.initializers.ones, ("in", "out"))
            return x @ self.param("w", init, (x.shape[-1], 3))

    A = nn.add_metadata_axis(
        PDense, variable_axes={"params": 0}, metadata_params={nn.PARTITION_NAME: "stack"}
    )

    class M(nn.Module):
        @nn.compact
        def __call__(self, x):
            return A(name="blk")(x)

    x = jnp.ones((4, 2))
    y, variables = M().init_with_output(KEY, x)
    box = variables["params"]["blk"]["w"]
    assert box.names == ("stack", "in", "out")
    assert box.value.shape == (2, 3)  # the values keep their shape
    close(y, jnp.full((4, 3), 2.0))
    close(M().apply(variables, x), y)


def test_add_metadata_axis_per_collection_and_none():
    class Both(nn.Module):
        @nn.compact
        def __call__(self, x):
            w = self.param("w", nn.with_partitioning(jax.nn.initializers.ones, ("a",)), (2,))
            m = self.variable("stats", "m", nn.with_partitioning(jnp.zeros, ("c",)), (2,))
            return x * w + m.value

    def boxes(variable_axes):
        cls = nn.add_metadata_axis(
            Both, variable_axes=variable_axes, metadata_params={nn.PARTITION_NAME: "b"}
        )
        variables = cls(name="both").init(KEY, jnp.ones(2))
        return variables["params"]["w"].names, variables["stats"]["m"].names

    assert boxes({"params": 0, "stats": 1}) == (("b", "a"), ("c", "b"))
    assert boxes({"stats": 0}) == (("a",), ("b", "c"))
    # An axis of None keeps the metadata as it is.
    assert boxes({"params": None}) == (("a",), ("c",))
