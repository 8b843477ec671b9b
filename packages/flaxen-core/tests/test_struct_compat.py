"""flaxen.struct against flax.struct: the same classes behave the same."""

import dataclasses
import inspect
from typing import Any

import jax
import numpy as np
import pytest

pytestmark = pytest.mark.compat

flax_struct = pytest.importorskip("flax.struct")
flax_serialization = pytest.importorskip("flax.serialization")

from flaxen import serialization, struct  # noqa: E402

LIBS = {"flax": (flax_struct, flax_serialization), "flaxen": (struct, serialization)}


def _outcome(fn):
    """What fn did: its result or the built-in error type and flax's part of the message."""
    try:
        return ("ok", fn())
    except Exception as error:  # the comparison is the point
        message = getattr(error, "detail", None) or str(error).split(" (https://")[0]
        builtin = next(c for c in type(error).__mro__ if c.__module__ == "builtins")
        if type(error).__module__.startswith("dataclasses"):
            builtin = type(error)
        return ("error", builtin.__name__, message)


def _classes(lib):
    st, _ = LIBS[lib]

    @st.dataclass
    class A:
        x: Any
        f: Any = st.field(pytree_node=False, default=None)
        y: int = 3

    class P(st.PyTreeNode):
        a: int
        b: int = st.field(pytree_node=False, default=2)

    class Q(P, kw_only=True):
        c: int = 5

    return A, P, Q


def _observe(lib):
    st, ser = LIBS[lib]
    A, P, Q = _classes(lib)
    a = A(np.arange(2), "meta")
    observations = {
        "repr": repr(a),
        "paths": repr(jax.tree_util.tree_flatten_with_path(a)[0]),
        "meta": jax.tree_util.tree_structure(A(1, "m")).node_data()[1],
        "replace": repr(a.replace(y=4)),
        "state": ser.to_state_dict(A(1, "m", 2)),
        "restore": repr(ser.from_state_dict(A(1, "m"), {"x": 5, "y": 6})),
        "missing": _outcome(lambda: ser.from_state_dict(a, {"x": 1})),
        "unknown": _outcome(lambda: ser.from_state_dict({"k": a}, {"k": {"x": 1, "y": 2, "z": 3}})),
        "bytes": ser.to_bytes(A(np.arange(3, dtype=np.int32), "m", 7)),
        "pytreenode": (repr(P(1)), jax.tree_util.tree_leaves(P(1))),
        "kw_only": (repr(Q(1, c=4)), str(inspect.signature(Q)), jax.tree_util.tree_leaves(Q(1))),
        "serializable": (ser.is_serializable(P(1)), ser.is_serializable(A)),
        "params": repr(A.__dataclass_params__),
        "twice": st.dataclass(A) is A,
        "field": (st.field().metadata, st.field(pytree_node=False, metadata={"m": 1}).metadata),
        "base": _outcome(st.PyTreeNode),
        "replace_doc": A.replace.__doc__,
    }

    class Sub(A):
        z: int = 0

    observations["sub_leaf"] = len(jax.tree_util.tree_leaves(Sub(1)))
    sub = st.dataclass(Sub)
    observations["sub"] = jax.tree_util.tree_leaves(sub(1, z=2))

    def frozen_std():
        @dataclasses.dataclass(frozen=True)
        class D:
            x: int

        return st.dataclass(D)

    observations["frozen_std"] = _outcome(frozen_std)

    def plain_std():
        @dataclasses.dataclass
        class E:
            x: int

        return st.dataclass(E)(1)

    observations["plain_std"] = _outcome(plain_std)

    def init_false():
        @st.dataclass
        class F:
            x: int
            z: int = dataclasses.field(init=False, default=5)

    observations["init_false"] = _outcome(init_false)
    return observations


def test_same_behavior():
    flax_obs = _observe("flax")
    flaxen_obs = _observe("flaxen")
    assert flaxen_obs.keys() == flax_obs.keys()
    for key in flax_obs:
        assert flaxen_obs[key] == flax_obs[key], key


def test_cross_restore_bytes():
    flax_a = _classes("flax")[0]
    flaxen_a = _classes("flaxen")[0]
    data = flax_serialization.to_bytes(flax_a({"w": np.ones(2, np.float32)}, "m", 1))
    restored = serialization.from_bytes(flaxen_a({"w": np.zeros(2, np.float32)}, "m", 0), data)
    np.testing.assert_array_equal(restored.x["w"], np.ones(2))
    assert restored.y == 1
    data = serialization.to_bytes(flaxen_a({"w": np.full(2, 3.0)}, "m", 4))
    restored = flax_serialization.from_bytes(flax_a({"w": np.zeros(2)}, "m", 0), data)
    np.testing.assert_array_equal(restored.x["w"], np.full(2, 3.0))
    assert restored.y == 4
