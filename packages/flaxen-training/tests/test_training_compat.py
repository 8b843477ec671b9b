"""flaxen.training against flax.training, run as a black-box oracle (``nox -s compat``)."""

import dataclasses
import inspect
import logging
import math
import pkgutil

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

pytestmark = pytest.mark.compat

flax_training = pytest.importorskip("flax.training")
flax_nn = pytest.importorskip("flax.linen")
flax_serialization = pytest.importorskip("flax.serialization")
flax_core = pytest.importorskip("flax.core")
flax_common = pytest.importorskip("flax.training.common_utils")
flax_dynamic_scale = pytest.importorskip("flax.training.dynamic_scale")
flax_early_stopping = pytest.importorskip("flax.training.early_stopping")
flax_lr = pytest.importorskip("flax.training.lr_schedule")
flax_train_state = pytest.importorskip("flax.training.train_state")
flax_freeze = flax_core.freeze

import flaxen.training  # noqa: E402
from flaxen import serialization  # noqa: E402
from flaxen.core import freeze  # noqa: E402
from flaxen.core.meta import Partitioned  # noqa: E402
from flaxen.training import (  # noqa: E402
    common_utils,
    dynamic_scale,
    early_stopping,
    lr_schedule,
    train_state,
)


@pytest.fixture(autouse=True)
def _quiet_schedule_warnings():
    # Both libraries log a deprecation warning per schedule; keep test output readable.
    logging.disable(logging.WARNING)
    yield
    logging.disable(logging.NOTSET)


def same_array(a, b):
    a, b = jnp.asarray(a), jnp.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype, (a, b)
    assert a.weak_type == b.weak_type, (a, b)
    # float64 copies: NaNs of bfloat16 arrays compare equal only once converted.
    np.testing.assert_array_equal(
        np.asarray(a).astype(np.float64), np.asarray(b).astype(np.float64)
    )


def same_tree(a, b):
    """Same leaves (bitwise, dtypes, weak types) at the same key paths."""
    leaves_a, _ = jax.tree_util.tree_flatten_with_path(a)
    leaves_b, _ = jax.tree_util.tree_flatten_with_path(b)
    assert [jax.tree_util.keystr(p) for p, _ in leaves_a] == [
        jax.tree_util.keystr(p) for p, _ in leaves_b
    ]
    for (_, x), (_, y) in zip(leaves_a, leaves_b):
        if isinstance(x, (int, float, bool)) and isinstance(y, (int, float, bool)):
            assert type(x) is type(y) and (x == y or (math.isnan(x) and math.isnan(y)))
        else:
            same_array(x, y)


def test_module_list():
    ours = {m.name for m in pkgutil.iter_modules(flaxen.training.__path__)}
    theirs = {m.name for m in pkgutil.iter_modules(flax_training.__path__)}
    assert {n for n in ours if not n.startswith("_")} == {
        n for n in theirs if not n.startswith("_")
    }


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (train_state.TrainState, flax_train_state.TrainState),
        (early_stopping.EarlyStopping, flax_early_stopping.EarlyStopping),
        (dynamic_scale.DynamicScale, flax_dynamic_scale.DynamicScale),
    ],
)
def test_dataclass_fields(ours, theirs):
    def describe(cls):
        return [
            (f.name, f.default, f.metadata.get("pytree_node", True), f.init, f.kw_only)
            for f in dataclasses.fields(cls)
        ]

    assert describe(ours) == describe(theirs)
    public = {n for n in dir(theirs) if not n.startswith("_")}
    assert public <= set(dir(ours))
    for name in public:
        member = getattr(theirs, name)
        if callable(member) and not isinstance(member, type):
            ours_params = list(inspect.signature(getattr(ours, name)).parameters)
            assert ours_params == list(inspect.signature(member).parameters), name


@pytest.mark.parametrize(
    "module_pair",
    [
        (common_utils, flax_common),
        (lr_schedule, flax_lr),
    ],
)
def test_function_signatures(module_pair):
    ours, theirs = module_pair
    for name in [n for n in dir(theirs) if n.startswith("create_") or n in ours.__all__]:
        fn = getattr(theirs, name)
        if inspect.isfunction(fn):
            theirs_sig = inspect.signature(fn)
            ours_sig = inspect.signature(getattr(ours, name))
            assert [(p.name, p.default) for p in ours_sig.parameters.values()] == [
                (p.name, p.default) for p in theirs_sig.parameters.values()
            ], name


# -- TrainState ------------------------------------------------------------------------


def params_tree(seed):
    rng = np.random.RandomState(seed)
    return {
        "Dense_0": {"kernel": rng.randn(3, 4).astype(np.float32), "bias": np.zeros(4, np.float32)},
        "Dense_1": {"kernel": rng.randn(4, 2).astype(np.float32)},
    }


TXS = [
    lambda: optax.sgd(0.1, momentum=0.9),
    lambda: optax.adam(1e-2),
    lambda: optax.adamw(1e-2, weight_decay=0.1),
    lambda: optax.chain(optax.clip_by_global_norm(0.5), optax.scale_by_adam(), optax.scale(-0.1)),
]


@pytest.mark.parametrize("make_tx", TXS)
@pytest.mark.parametrize("frozen", [False, True])
def test_train_state_updates_are_bitwise_identical(make_tx, frozen):
    tx = make_tx()
    params = params_tree(0)
    ours = train_state.TrainState.create(
        apply_fn=None, params=freeze(params) if frozen else params, tx=tx
    )
    theirs = flax_train_state.TrainState.create(
        apply_fn=None, params=flax_freeze(params) if frozen else params, tx=tx
    )
    same_tree(ours.opt_state, theirs.opt_state)
    # One jitted function per library: jax may treat the two TrainState treedefs
    # (same name, same fields) as equal and reuse one's output structure.
    ours_step = jax.jit(lambda s, g: s.apply_gradients(grads=g))
    theirs_step = jax.jit(lambda s, g: s.apply_gradients(grads=g))
    for i in range(4):
        grads = params_tree(i + 1)
        ours = ours_step(ours, freeze(grads) if frozen else grads)
        theirs = theirs_step(theirs, flax_freeze(grads) if frozen else grads)
        same_tree(ours.params, theirs.params)
        same_tree(ours.opt_state, theirs.opt_state)
        same_array(ours.step, theirs.step)
    assert type(ours.params).__name__ == type(theirs.params).__name__
    assert type(ours) is train_state.TrainState
    assert type(theirs) is flax_train_state.TrainState
    assert (
        serialization.to_state_dict(ours).keys() == flax_serialization.to_state_dict(theirs).keys()
    )


def test_train_state_eager_step_is_a_python_int():
    tx = optax.sgd(0.1)
    ours = train_state.TrainState.create(apply_fn=None, params=params_tree(0), tx=tx)
    theirs = flax_train_state.TrainState.create(apply_fn=None, params=params_tree(0), tx=tx)
    ours = ours.apply_gradients(grads=params_tree(1))
    theirs = theirs.apply_gradients(grads=params_tree(1))
    assert type(ours.step) is type(theirs.step) and ours.step == theirs.step


def test_train_state_with_boxed_params():
    def boxed(box, seed):
        tree = params_tree(seed)
        return {
            "kernel": box(tree["Dense_0"]["kernel"], names=("in", "out")),
            "bias": tree["Dense_0"]["bias"],
        }

    tx = optax.adam(0.1)
    ours = train_state.TrainState.create(apply_fn=None, params=boxed(Partitioned, 0), tx=tx)
    theirs = flax_train_state.TrainState.create(
        apply_fn=None, params=boxed(flax_nn.Partitioned, 0), tx=tx
    )
    for i in range(2):
        ours = ours.apply_gradients(grads=boxed(Partitioned, i + 1))
        theirs = theirs.apply_gradients(grads=boxed(flax_nn.Partitioned, i + 1))
    same_array(ours.params["kernel"].value, theirs.params["kernel"].value)
    assert ours.params["kernel"].names == theirs.params["kernel"].names
    same_array(ours.opt_state[0].nu["kernel"].value, theirs.opt_state[0].nu["kernel"].value)


@pytest.mark.parametrize("frozen", [False, True])
def test_train_state_overwrite_with_gradient(frozen):
    key = flax_train_state.OVERWRITE_WITH_GRADIENT
    assert key == train_state.OVERWRITE_WITH_GRADIENT

    def tree(seed, fz):
        value = {"params": params_tree(seed), "other": {"x": np.ones(2, np.float32)},
                 key: {"scale": np.full(2, seed, np.float32)}}  # fmt: skip
        return fz(value) if frozen else value

    tx = optax.adam(0.1)
    ours = train_state.TrainState.create(apply_fn=None, params=tree(0, freeze), tx=tx)
    theirs = flax_train_state.TrainState.create(apply_fn=None, params=tree(0, flax_freeze), tx=tx)
    same_tree(ours.opt_state, theirs.opt_state)
    ours = ours.apply_gradients(grads=tree(5, freeze))
    theirs = theirs.apply_gradients(grads=tree(5, flax_freeze))
    assert type(ours.params) is type(theirs.params) is dict
    assert list(ours.params) == list(theirs.params)
    same_tree(
        jax.tree_util.tree_map(np.asarray, serialization.to_state_dict(ours.params)),
        jax.tree_util.tree_map(np.asarray, flax_serialization.to_state_dict(theirs.params)),
    )


# -- lr_schedule -----------------------------------------------------------------------


def step_values():
    ints = [0, 1, 2, 7, 13, 24, 25, 29, 30, 31, 99, 100, 101, 389, 390, 1000, 2999]
    return (
        ints
        + [0.5, 2.25, 24.5, 100.3]
        + [jnp.int32(s) for s in ints]
        + [np.int32(s) for s in ints[:6]]
        + [jnp.float32(s) for s in (0.5, 24.5)]
    )


@pytest.mark.parametrize("base", [0.1, 1.7, 0.0123])
@pytest.mark.parametrize("steps_per_epoch", [7, 13, 391])
@pytest.mark.parametrize("warmup_length", [0.0, 1.0, 0.37, 2])
def test_lr_schedules_are_bitwise_identical(base, steps_per_epoch, warmup_length):
    pairs = [
        (
            lr_schedule.create_constant_learning_rate_schedule(
                base, steps_per_epoch, warmup_length
            ),
            flax_lr.create_constant_learning_rate_schedule(base, steps_per_epoch, warmup_length),
        ),
        (
            lr_schedule.create_stepped_learning_rate_schedule(
                base, steps_per_epoch, [[1, 0.5], [3.5, 0.1], [7, 0.013]], warmup_length
            ),
            flax_lr.create_stepped_learning_rate_schedule(
                base, steps_per_epoch, [[1, 0.5], [3.5, 0.1], [7, 0.013]], warmup_length
            ),
        ),
    ]
    for half in (3, 5, 90):
        pairs.append(
            (
                lr_schedule.create_cosine_learning_rate_schedule(
                    base, steps_per_epoch, half, warmup_length
                ),
                flax_lr.create_cosine_learning_rate_schedule(
                    base, steps_per_epoch, half, warmup_length
                ),
            )
        )
    for ours, theirs in pairs:
        for step in step_values():
            a, b = ours(step), theirs(step)
            assert type(a) is type(b)
            if isinstance(a, float):
                assert a == b
            else:
                same_array(a, b)
        same_array(jax.jit(ours)(jnp.int32(17)), jax.jit(theirs)(jnp.int32(17)))


# -- EarlyStopping ---------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(20))
def test_early_stopping_trajectories(seed):
    rng = np.random.RandomState(seed)
    min_delta = float(rng.choice([0.0, 1e-3, 0.05, 0.1, -0.01]))
    patience = int(rng.randint(0, 4))
    ours = early_stopping.EarlyStopping(min_delta=min_delta, patience=patience)
    theirs = flax_early_stopping.EarlyStopping(min_delta=min_delta, patience=patience)
    metric = 1.0
    for i in range(30):
        metric = round(metric + float(rng.choice([-0.1, -0.05, -0.001, 0.0, 0.02])), 3)
        ours, theirs = ours.update(metric), theirs.update(metric)
        assert dataclasses.astuple(ours) == dataclasses.astuple(theirs), i
        if i == 20:
            ours, theirs = ours.reset(), theirs.reset()
    assert dataclasses.astuple(ours.reset()) == dataclasses.astuple(theirs.reset())


def test_early_stopping_edge_metrics():
    for metric in (math.inf, -math.inf, math.nan, 0.0):
        for best in (math.inf, -math.inf, 1.0):
            ours = early_stopping.EarlyStopping(best_metric=best).update(metric)
            theirs = flax_early_stopping.EarlyStopping(best_metric=best).update(metric)
            a, b = dataclasses.astuple(ours), dataclasses.astuple(theirs)
            assert len(a) == len(b)
            for x, y in zip(a, b):
                assert x == y or (math.isnan(x) and math.isnan(y))


# -- common_utils ----------------------------------------------------------------------


def test_common_utils_outputs():
    n = jax.local_device_count()
    xs = {"a": np.arange(4 * n * 3).reshape(4 * n, 3), "b": jnp.arange(2.0 * n)}
    same_tree(common_utils.shard(xs), flax_common.shard(xs))
    assert type(common_utils.shard(xs)["a"]) is type(flax_common.shard(xs)["a"])
    for key in (jax.random.PRNGKey(3), jax.random.key(3)):
        a, b = common_utils.shard_prng_key(key), flax_common.shard_prng_key(key)
        assert a.dtype == b.dtype and a.shape == b.shape
        same_array(jax.random.key_data(a), jax.random.key_data(b))
    forest = [{"a": 1, "b": np.ones(2)}, {"a": 2, "b": np.zeros(2)}]
    same_tree(common_utils.stack_forest(forest), flax_common.stack_forest(forest))
    step = jax.pmap(lambda x: {"loss": x.mean(), "raw": x})
    history = [step(jnp.arange(2.0 * n).reshape(n, 2) + i) for i in range(3)]
    same_tree(common_utils.get_metrics(history), flax_common.get_metrics(history))


@pytest.mark.parametrize(
    ("labels", "num_classes", "on", "off"),
    [
        (jnp.array([0, 2, 5]), 4, 1.0, 0.0),
        (jnp.array([[1], [2]]), 3, 5.0, -1.0),
        (np.array([1, 2]), 3, 1.0, 0.0),
        (jnp.array([1, 2]), 3, 2, 0),
        (jnp.array([1, -1]), 3, 1.0, 0.0),
        (jnp.array([1.7, 2.0]), 3, 1.0, 0.0),
        (jnp.array(1), 3, 1.0, 0.0),
        (jnp.array([1, 2]), 3, jnp.array([1.0, 2.0, 3.0]), 0.0),
        (jnp.array([1, 2], jnp.uint8), 3, True, False),
        (jnp.array([1, 2]), 0, 1.0, 0.0),
        (jnp.array([1, 2]), 3, jnp.float16(3), jnp.float16(1)),
    ],
)
def test_onehot(labels, num_classes, on, off):
    same_array(
        common_utils.onehot(labels, num_classes, on, off),
        flax_common.onehot(labels, num_classes, on, off),
    )


# -- DynamicScale ----------------------------------------------------------------------


def compare_dynamic_scale(kwargs, fun, *args, has_aux=False, argnums=0, jit=False):
    ours = dynamic_scale.DynamicScale(**kwargs)
    theirs = flax_dynamic_scale.DynamicScale(**kwargs)
    for _ in range(3):
        a_fn = ours.value_and_grad(fun, has_aux=has_aux, argnums=argnums)
        b_fn = theirs.value_and_grad(fun, has_aux=has_aux, argnums=argnums)
        if jit:
            a_fn, b_fn = jax.jit(a_fn), jax.jit(b_fn)
        a, b = a_fn(*args), b_fn(*args)
        assert type(a).__name__ == type(b).__name__ == "DynamicScaleResult"
        same_tree((a.finite, a.aux, a.grad), (b.finite, b.aux, b.grad))
        same_tree(
            (a.dynamic_scale.fin_steps, a.dynamic_scale.scale),
            (b.dynamic_scale.fin_steps, b.dynamic_scale.scale),
        )
        ours, theirs = a.dynamic_scale, b.dynamic_scale


# Both libraries cast a Python-float scale that overflows float16 (or, grown, float32)
# inside a jitted function, where NumPy warns about it.
@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"scale": 3.0},
        {"scale": 0.3, "growth_interval": 0, "growth_factor": 3.0},
        {"scale": 4.0, "growth_interval": 1},
        {"scale": 3e38, "growth_interval": 0},
        {"scale": 1e-38},
        {"scale": 4.0, "minimum_scale": None},
        {"scale": 4.0, "minimum_scale": 3.0, "backoff_factor": 0.3},
        {"fin_steps": 5, "growth_interval": 3, "scale": 2.0},
    ],
)
def test_dynamic_scale_is_bitwise_identical(kwargs, jit):
    p = jnp.asarray(np.random.RandomState(0).randn(3), jnp.float32)
    compare_dynamic_scale(kwargs, lambda p: jnp.sum(jnp.sin(p) * 1.7), p, jit=jit)
    compare_dynamic_scale(kwargs, lambda p: jnp.asarray(p, jnp.float16).sum() ** 2, p, jit=jit)
    compare_dynamic_scale(
        kwargs, lambda p: (p.astype(jnp.bfloat16) * 0.1).sum(), p.astype(jnp.bfloat16), jit=jit
    )
    compare_dynamic_scale(kwargs, lambda p: jnp.sum(p) * jnp.inf, p, jit=jit)
    compare_dynamic_scale(
        kwargs,
        lambda a, b: (jnp.sum(a * b), {"a": a}),
        p,
        p * 2,
        has_aux=True,
        argnums=(0, 1),
        jit=jit,
    )


def test_dynamic_scale_with_axis_name():
    n = jax.local_device_count()
    p = jnp.arange(float(n))[:, None] * jnp.ones((1, 2))

    def run(cls):
        def step(p):
            loss = lambda q: jnp.sum(q**2) * jnp.where(q[0] == n - 1, jnp.inf, 1.0)
            return cls().value_and_grad(loss, axis_name="i")(p)

        return jax.pmap(step, axis_name="i")(p)

    a, b = run(dynamic_scale.DynamicScale), run(flax_dynamic_scale.DynamicScale)
    same_tree((a.finite, a.aux, a.grad), (b.finite, b.aux, b.grad))
    same_tree(a.dynamic_scale.scale, b.dynamic_scale.scale)
