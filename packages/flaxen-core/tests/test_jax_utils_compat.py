"""flaxen.jax_utils against flax.jax_utils, run as a black-box oracle (``nox -s compat``)."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytestmark = pytest.mark.compat

flax_jax_utils = pytest.importorskip("flax.jax_utils")

from flaxen import jax_utils  # noqa: E402

N = 8


def describe(x):
    """Type, shape, dtype, weak type, values and sharding layout of a leaf."""
    if isinstance(x, jax.ShapeDtypeStruct):
        return ("shape", x.shape, x.dtype)
    if isinstance(x, (jax.Array, np.ndarray, np.generic)):
        sharding = getattr(x, "sharding", None)
        layout = None
        if sharding is not None and hasattr(sharding, "spec"):
            layout = (tuple(sharding.spec), sharding.mesh.axis_names, sharding.mesh.devices.shape)
        values = np.asarray(
            jax.random.key_data(x) if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) else x
        )
        return (type(x).__name__, x.shape, str(x.dtype), getattr(x, "weak_type", None),
                values.astype(np.float64).tolist(), layout)  # fmt: skip
    return ("python", type(x).__name__, x)


def same(a, b):
    paths_a = jax.tree_util.tree_flatten_with_path(a)[0]
    paths_b = jax.tree_util.tree_flatten_with_path(b)[0]
    assert [jax.tree_util.keystr(p) for p, _ in paths_a] == [
        jax.tree_util.keystr(p) for p, _ in paths_b
    ]
    for (_, x), (_, y) in zip(paths_a, paths_b):
        assert describe(x) == describe(y)


def outcome(fn):
    try:
        return ("ok", fn())
    except Exception as error:  # the comparison is the point
        builtin = next(c for c in type(error).__mro__ if c.__module__ == "builtins")
        return ("error", builtin)


def test_documented_functions_exist_with_flax_signatures():
    for name in ("partial_eval_by_shape", "replicate", "unreplicate", "prefetch_to_device",
                 "pmean", "pad_shard_unpad", "scan_in_dim"):  # fmt: skip
        theirs = inspect.signature(getattr(flax_jax_utils, name))
        ours = inspect.signature(getattr(jax_utils, name))
        assert [(p.name, p.kind, p.default) for p in ours.parameters.values()] == [
            (p.name, p.kind, p.default) for p in theirs.parameters.values()
        ], name


@pytest.mark.parametrize(
    "tree",
    [
        {"a": jnp.arange(3.0), "b": np.ones(2, np.int32), "c": 1.0, "d": 3, "e": True},
        {"k": jax.random.key(0), "n": None, "t": ()},
        np.float64(2.0),
        jnp.ones((2,), jnp.bfloat16),
    ],
)
def test_replicate_and_unreplicate(tree):
    ours, theirs = jax_utils.replicate(tree), flax_jax_utils.replicate(tree)
    same(ours, theirs)
    same(jax_utils.unreplicate(ours), flax_jax_utils.unreplicate(theirs))
    devices = jax.local_devices()[::-2]
    same(
        jax_utils.replicate(tree, devices=devices, axis_name="x"),
        flax_jax_utils.replicate(tree, devices=devices, axis_name="x"),
    )


def test_pmean():
    x = jnp.arange(N * 3).reshape(N, 3)
    for axis_name in ("i", ("i",)):
        ours = jax.pmap(lambda v: jax_utils.pmean({"a": v, "b": v * 2.5}, axis_name), axis_name="i")
        theirs = jax.pmap(
            lambda v: flax_jax_utils.pmean({"a": v, "b": v * 2.5}, axis_name), axis_name="i"
        )
        # Flax 0.12 deprecates its pmean in favour of jax.lax.pmean; flaxen's does not warn.
        with pytest.warns(DeprecationWarning, match="use jax.lax.pmean instead"):
            expected = theirs(x)
        same(ours(x), expected)


def test_prefetch_to_device():
    def run(lib, size, make):
        read = []

        def batches():
            for i in range(5):
                read.append(i)
                yield make(i)

        it = lib.prefetch_to_device(batches(), size)
        trace = [list(read)]
        out = []
        for batch in it:
            out.append(batch)
            trace.append(list(read))
        return trace, out

    for size in (1, 2, 0, None):
        for make in (
            lambda i: {"x": np.full((N, 2), i, np.float32), "y": [np.arange(2 * N)]},
            lambda i: jnp.full((N,), i),
        ):
            trace_a, out_a = run(jax_utils, size, make)
            trace_b, out_b = run(flax_jax_utils, size, make)
            assert trace_a == trace_b
            same(out_a, out_b)


@pytest.mark.parametrize("batch", [0, 1, 5, 8, 13, 16, 20])
@pytest.mark.parametrize("min_device_batch", [None, 0, 1, 3])
def test_pad_shard_unpad(batch, min_device_batch):
    def probe():
        seen = []

        def fn(p, x, z=None, y=None):
            seen.append((x, y))
            return {"x": x * 2, "y": y, "p": np.zeros((N, 1)) + p}

        return fn, seen

    ours_fn, ours_seen = probe()
    theirs_fn, theirs_seen = probe()
    x = np.arange(batch * 3, dtype=np.float32).reshape(batch, 3)
    y = jnp.arange(batch) % 2 == 0
    a = jax_utils.pad_shard_unpad(ours_fn)(1.5, x, y=y, min_device_batch=min_device_batch)
    b = flax_jax_utils.pad_shard_unpad(theirs_fn)(1.5, x, y=y, min_device_batch=min_device_batch)
    same(a, b)
    same(ours_seen, theirs_seen)
    static = {"static_argnums": (0, 2), "static_argnames": ("y",), "static_return": True}
    a = jax_utils.pad_shard_unpad(ours_fn, **static)(1.5, x, 7, y=y)
    b = flax_jax_utils.pad_shard_unpad(theirs_fn, **static)(1.5, x, 7, y=y)
    same(a, b)


def test_pad_shard_unpad_with_pmap():
    @jax.pmap
    def forward(w, x):
        return jnp.tanh(x @ w)

    w = jax_utils.replicate(jnp.arange(6.0).reshape(3, 2) / 10)
    x = np.random.RandomState(0).randn(13, 3).astype(np.float32)
    same(jax_utils.pad_shard_unpad(forward)(w, x), flax_jax_utils.pad_shard_unpad(forward)(w, x))


def test_pad_shard_unpad_error_builtins():
    for args in [(np.arange(5.0), np.ones((3, 2))), (3.0,)]:
        a = outcome(
            lambda args=args: jax_utils.pad_shard_unpad(lambda *a: a, static_argnums=())(*args)
        )
        b = outcome(
            lambda args=args: flax_jax_utils.pad_shard_unpad(lambda *a: a, static_argnums=())(*args)
        )
        # Flax asserts on inconsistent batch sizes; flaxen raises an error that
        # is both a ValueError and an AssertionError.
        if b == ("error", AssertionError):
            assert a == ("error", ValueError)
            with pytest.raises(AssertionError, match=r"^Inconsistent batch-sizes: \{3, 5\}"):
                jax_utils.pad_shard_unpad(lambda *a: a, static_argnums=())(*args)
            with pytest.raises(AssertionError, match=r"^Inconsistent batch-sizes: \{3, 5\}$"):
                flax_jax_utils.pad_shard_unpad(lambda *a: a, static_argnums=())(*args)
        else:
            assert a == b


@pytest.mark.parametrize(
    "batch",
    [np.ones((3, 2)), {"a": np.ones(N), "b": 1.0}, {"a": np.float32(1)}, [np.ones(2 * N + 1)]],
    ids=["indivisible", "python-scalar", "numpy-scalar", "indivisible-in-list"],
)
def test_prefetch_to_device_errors_are_caught_like_flax_s(batch):
    from flaxen.errors import FlaxenError

    with pytest.raises(Exception) as theirs:
        next(flax_jax_utils.prefetch_to_device(iter([batch]), 1))
    with pytest.raises(FlaxenError) as ours:
        next(jax_utils.prefetch_to_device(iter([batch]), 1))
    assert isinstance(ours.value, (TypeError, ValueError))
    builtin = next(c for c in type(theirs.value).__mro__ if c.__module__ == "builtins")
    assert isinstance(ours.value, builtin)


FUNCTIONS = [
    (
        lambda x, y, scale=1.0: {
            "shape": x.shape,
            "ones": jnp.ones(3) * scale,
            "dep": x + y,
            "z": jnp.zeros_like(x),
        },
        [(2, 3), ((2, 3), jnp.int32)],
        (),
        {"scale": 2.0},
    ),
    (lambda x, key: (jax.random.normal(key, (2,)), x.sum()), [(3,)], (jax.random.PRNGKey(0),), {}),
    (lambda x, y: (x, y * 2), [(2,)], (jnp.ones(2),), {}),
    (lambda x, y: (x, y * 2), [(2,)], (np.ones(2),), {}),
    (lambda x, y: (x, y * 2), [(2,)], (3,), {}),
    (lambda x, y: (x, y["a"] * 2), [(2,)], ({"a": jnp.ones(1)},), {}),
    (lambda x: jax.lax.cond(True, lambda: jnp.ones(2), lambda: jnp.zeros(2)), [(2,)], (), {}),
    (jax.jit(lambda a: (a, jnp.ones(2))), [(2,)], (), {}),
    (lambda x: [x.sum(), None, {}], [(2,)], (), {}),
    (lambda x: jnp.ones(x.shape[0]), [(4,)], (), {}),
    (lambda *a: a, [((2,), jnp.int8), ([2, 3], "float16"), (), np.array([2])], (), {}),
]


@pytest.mark.parametrize(("fn", "spec", "args", "kwargs"), FUNCTIONS)
def test_partial_eval_by_shape(fn, spec, args, kwargs):
    same(
        jax_utils.partial_eval_by_shape(fn, spec, *args, **kwargs),
        flax_jax_utils.partial_eval_by_shape(fn, spec, *args, **kwargs),
    )


@pytest.mark.parametrize(
    ("axis", "keepdims", "unroll"),
    [
        (0, False, 1), (1, False, 1), (2, False, 2), (-1, False, 1), ((1, 2), False, (1,)),
        ((2, 0), False, 3), ((0, 1, 2), False, (2, 1, 1)), (1, True, 1), ((0, 2), True, 1),
        ((2, 0), True, (2, 2)),
    ],
)  # fmt: skip
def test_scan_in_dim(axis, keepdims, unroll):
    xs = {"a": jnp.arange(24.0).reshape(2, 3, 4), "b": jnp.ones((2, 3, 4), jnp.int32)}

    def body(c, x):
        c = c * 1.5 + jnp.sum(x["a"]) + jnp.sum(x["b"])
        return c, {"y": x["a"] * 2 + c, "z": x["b"]}

    a = jax_utils.scan_in_dim(
        body, jnp.float32(0.0), xs, axis=axis, keepdims=keepdims, unroll=unroll
    )
    b = flax_jax_utils.scan_in_dim(
        body, jnp.float32(0.0), xs, axis=axis, keepdims=keepdims, unroll=unroll
    )
    same(a, b)
    text_a = str(jax.make_jaxpr(lambda xs: jax_utils.scan_in_dim(
        body, jnp.float32(0.0), xs, axis=axis, keepdims=keepdims, unroll=unroll))(xs))  # fmt: skip
    text_b = str(jax.make_jaxpr(lambda xs: flax_jax_utils.scan_in_dim(
        body, jnp.float32(0.0), xs, axis=axis, keepdims=keepdims, unroll=unroll))(xs))  # fmt: skip
    assert [line.split("unroll=")[1][:3] for line in text_a.splitlines() if "unroll=" in line] == [
        line.split("unroll=")[1][:3] for line in text_b.splitlines() if "unroll=" in line
    ]
