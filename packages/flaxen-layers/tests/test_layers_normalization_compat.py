"""Normalization layers of flaxen.linen against flax.linen, run as a black-box oracle.

The same model code runs through both libraries: variable trees (names,
nesting, shapes, dtypes) and initial values must agree bit for bit, and the
outputs and updated collections for the same variables too, eagerly and
under ``jit``. Skipped when flax is not installed (``nox -s compat``).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytestmark = pytest.mark.compat
flax = pytest.importorskip("flax")

import flax.linen as flax_nn  # noqa: E402

from flaxen import linen as flaxen_nn  # noqa: E402

KEY = jax.random.key(0)


def _leaves(tree):
    return jax.tree_util.tree_flatten_with_path(tree)


def assert_same(expected, actual):
    """Same tree structure, dtypes, shapes and bits."""
    exp_leaves, exp_def = _leaves(expected)
    act_leaves, act_def = _leaves(actual)
    assert [jax.tree_util.keystr(p) for p, _ in act_leaves] == [
        jax.tree_util.keystr(p) for p, _ in exp_leaves
    ]
    assert act_def.num_leaves == exp_def.num_leaves
    for (path, exp), (_, act) in zip(exp_leaves, act_leaves, strict=True):
        e, a = np.asarray(exp), np.asarray(act)
        assert a.dtype == e.dtype, jax.tree_util.keystr(path)
        assert a.shape == e.shape, jax.tree_util.keystr(path)
        np.testing.assert_array_equal(a, e, err_msg=jax.tree_util.keystr(path))


def _as_dict(tree):
    # flax returns plain dicts; normalise any FrozenDict-like mapping.
    if hasattr(tree, "items"):
        return {k: _as_dict(v) for k, v in tree.items()}
    if isinstance(tree, tuple):
        return tuple(_as_dict(v) for v in tree)
    return tree


def check(build, *args, init_kwargs=None, apply_kwargs=None, mutable=False, jit=True):
    """Runs ``build(nn)`` through both libraries and compares everything."""
    init_kwargs = init_kwargs or {}
    apply_kwargs = apply_kwargs or {}
    flax_model, flaxen_model = build(flax_nn), build(flaxen_nn)
    expected_vars = flax_model.init(KEY, *args, **init_kwargs)
    actual_vars = flaxen_model.init(KEY, *args, **init_kwargs)
    assert_same(_as_dict(expected_vars), _as_dict(actual_vars))

    def run(model, variables, *args):
        return model.apply(variables, *args, mutable=mutable, **apply_kwargs)

    expected = run(flax_model, expected_vars, *args)
    actual = run(flaxen_model, expected_vars, *args)
    assert_same(_as_dict(expected), _as_dict(actual))
    if jit:
        expected = jax.jit(functools.partial(run, flax_model))(expected_vars, *args)
        actual = jax.jit(functools.partial(run, flaxen_model))(expected_vars, *args)
        assert_same(_as_dict(expected), _as_dict(actual))
    return expected_vars


def x_of(shape, dtype=jnp.float32, seed=1):
    return jax.random.normal(jax.random.key(seed), shape).astype(dtype)


X = x_of((2, 3, 4))
BF16 = x_of((2, 3, 4), jnp.bfloat16)
CASES = {
    "layer_norm": (lambda nn: nn.LayerNorm(), X),
    "layer_norm_bf16_input": (lambda nn: nn.LayerNorm(), BF16),
    "layer_norm_no_f32_reductions": (
        lambda nn: nn.LayerNorm(force_float32_reductions=False),
        BF16,
    ),
    "layer_norm_dtype_bf16": (
        lambda nn: nn.LayerNorm(dtype=jnp.bfloat16, param_dtype=jnp.bfloat16),
        X,
    ),
    "layer_norm_slow_variance": (lambda nn: nn.LayerNorm(use_fast_variance=False), X),
    "layer_norm_axes": (
        lambda nn: nn.LayerNorm(reduction_axes=(1, 2), feature_axes=(-1, 1)),
        X,
    ),
    "layer_norm_no_affine": (lambda nn: nn.LayerNorm(use_bias=False, use_scale=False), X),
    "layer_norm_inits": (
        lambda nn: nn.LayerNorm(
            scale_init=nn.initializers.normal(), bias_init=nn.initializers.uniform()
        ),
        X,
    ),
    "layer_norm_int_input": (lambda nn: nn.LayerNorm(), jnp.arange(24).reshape(2, 3, 4)),
    "layer_norm_complex": (lambda nn: nn.LayerNorm(), X.astype(jnp.complex64) * (1 + 2j)),
    "rms_norm": (lambda nn: nn.RMSNorm(), X),
    "rms_norm_bf16": (lambda nn: nn.RMSNorm(), BF16),
    "rms_norm_axes": (
        lambda nn: nn.RMSNorm(reduction_axes=(1, 2), feature_axes=0, epsilon=1e-3),
        X,
    ),
    "rms_norm_no_scale_f16": (
        lambda nn: nn.RMSNorm(use_scale=False, force_float32_reductions=False),
        X.astype(jnp.float16),
    ),
    "group_norm": (lambda nn: nn.GroupNorm(num_groups=2), x_of((2, 3, 5, 6))),
    "group_norm_group_size": (
        lambda nn: nn.GroupNorm(num_groups=None, group_size=3),
        x_of((2, 3, 5, 6)),
    ),
    "group_norm_reduction_axes": (
        lambda nn: nn.GroupNorm(num_groups=3, reduction_axes=(0, 3)),
        x_of((2, 3, 5, 6)),
    ),
    "group_norm_last_axis_only": (
        lambda nn: nn.GroupNorm(num_groups=3, reduction_axes=-1),
        x_of((2, 3, 5, 6)),
    ),
    "group_norm_1d": (lambda nn: nn.GroupNorm(num_groups=3), x_of((6,))),
    "group_norm_bf16": (
        lambda nn: nn.GroupNorm(num_groups=3, dtype=jnp.bfloat16),
        x_of((2, 5, 6)),
    ),
    "group_norm_slow_variance": (
        lambda nn: nn.GroupNorm(num_groups=3, use_fast_variance=False),
        x_of((2, 5, 6)),
    ),
    "instance_norm": (lambda nn: nn.InstanceNorm(), x_of((2, 3, 5, 6))),
    "instance_norm_feature_axes": (
        lambda nn: nn.InstanceNorm(feature_axes=(1, -1)),
        x_of((2, 3, 5, 6)),
    ),
    "instance_norm_no_affine": (
        lambda nn: nn.InstanceNorm(use_bias=False, use_scale=False),
        x_of((2, 3, 5, 6)),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_stateless_norms(name):
    build, x = CASES[name]
    check(build, x)


MASKED = {
    "layer_norm": lambda nn: nn.LayerNorm(),
    "layer_norm_slow": lambda nn: nn.LayerNorm(use_fast_variance=False),
    "rms_norm": lambda nn: nn.RMSNorm(),
    "group_norm": lambda nn: nn.GroupNorm(num_groups=2),
    "instance_norm": lambda nn: nn.InstanceNorm(),
    "batch_norm": lambda nn: nn.BatchNorm(use_running_average=False),
}


@pytest.mark.parametrize("name", sorted(MASKED))
def test_masks(name):
    x = x_of((2, 3, 4))
    mask = jax.random.bernoulli(jax.random.key(7), 0.7, x.shape)
    check(
        MASKED[name], x, apply_kwargs={"mask": mask}, init_kwargs={"mask": mask},
        mutable=["batch_stats"] if name == "batch_norm" else False,
    )  # fmt: skip


BATCH_NORMS = {
    "train": (lambda nn: nn.BatchNorm(use_running_average=False), {}),
    "train_call_arg": (lambda nn: nn.BatchNorm(), {"use_running_average": False}),
    "eval": (lambda nn: nn.BatchNorm(use_running_average=True), {}),
    "eval_call_arg": (lambda nn: nn.BatchNorm(), {"use_running_average": True}),
    "momentum_axes": (
        lambda nn: nn.BatchNorm(use_running_average=False, axis=(0, 1), momentum=0.8),
        {},
    ),
    "slow_variance_eps": (
        lambda nn: nn.BatchNorm(use_running_average=False, use_fast_variance=False, epsilon=1e-3),
        {},
    ),
    "bf16_params": (
        lambda nn: nn.BatchNorm(use_running_average=False, param_dtype=jnp.bfloat16),
        {},
    ),
    "no_affine_dtype": (
        lambda nn: nn.BatchNorm(
            use_running_average=False, use_bias=False, use_scale=False, dtype=jnp.float16
        ),
        {},
    ),
    "inits": (
        lambda nn: nn.BatchNorm(
            use_running_average=False,
            scale_init=nn.initializers.normal(),
            bias_init=nn.initializers.normal(),
        ),
        {},
    ),
}


@pytest.mark.parametrize("name", sorted(BATCH_NORMS))
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_batch_norm(name, dtype):
    build, kwargs = BATCH_NORMS[name]
    x = x_of((4, 3, 5), dtype)
    variables = check(build, x, init_kwargs=kwargs, apply_kwargs=kwargs, mutable=["batch_stats"])
    # Running averages that are not the initial zeros/ones.
    stats = jax.tree_util.tree_map(lambda a: a + 0.5, variables["batch_stats"])
    check_with = dict(variables, batch_stats=stats)
    flax_out = build(flax_nn).apply(check_with, x, mutable=["batch_stats"], **kwargs)
    flaxen_out = build(flaxen_nn).apply(check_with, x, mutable=["batch_stats"], **kwargs)
    assert_same(_as_dict(flax_out), _as_dict(flaxen_out))


def _mapped(nn, build, x, mask=None, **kwargs):
    """Init and train-mode apply inside ``vmap(axis_name='batch')``."""
    model = build(nn)

    def init(x):
        return model.init(KEY, x, **kwargs)

    variables = jax.vmap(init, axis_name="batch")(x)
    variables = jax.tree_util.tree_map(lambda a: a[0], variables)

    def apply(x, mask):
        extra = {} if mask is None else {"mask": mask}
        return model.apply(variables, x, mutable=True, **kwargs, **extra)

    return variables, jax.vmap(apply, axis_name="batch")(x, mask)


CROSS_DEVICE = {
    "batch_norm": lambda nn: nn.BatchNorm(use_running_average=False, axis_name="batch"),
    "batch_norm_slow": lambda nn: nn.BatchNorm(
        use_running_average=False, axis_name="batch", use_fast_variance=False
    ),
    "layer_norm": lambda nn: nn.LayerNorm(axis_name="batch"),
    "rms_norm": lambda nn: nn.RMSNorm(axis_name="batch"),
    "group_norm": lambda nn: nn.GroupNorm(num_groups=2, axis_name="batch"),
    "instance_norm": lambda nn: nn.InstanceNorm(axis_name="batch"),
}


@pytest.mark.parametrize("name", sorted(CROSS_DEVICE))
@pytest.mark.parametrize("masked", [False, True])
def test_cross_device_statistics(name, masked):
    x = x_of((3, 2, 4, 4))
    mask = jax.random.bernoulli(jax.random.key(3), 0.8, x.shape) if masked else None
    build = CROSS_DEVICE[name]
    assert_same(
        _as_dict(_mapped(flax_nn, build, x, mask)), _as_dict(_mapped(flaxen_nn, build, x, mask))
    )


def test_batch_norm_pmap_axis_index_groups():
    if jax.device_count() < 4:
        pytest.skip("needs 4 devices")
    x = x_of((4, 3, 5))

    def run(nn):
        model = nn.BatchNorm(
            use_running_average=False, axis_name="d", axis_index_groups=[[0, 1], [2, 3]]
        )
        variables = model.init(KEY, x[0])
        return jax.pmap(
            lambda x: model.apply(variables, x, mutable=["batch_stats"]),
            axis_name="d",
            devices=jax.devices()[:4],
        )(x)

    assert_same(_as_dict(run(flax_nn)), _as_dict(run(flaxen_nn)))


ERRORS = {
    "group_norm_neither": (lambda nn: nn.GroupNorm(num_groups=None), (2, 4)),
    "group_norm_both": (lambda nn: nn.GroupNorm(num_groups=2, group_size=2), (2, 4)),
    "group_norm_groups": (lambda nn: nn.GroupNorm(num_groups=3), (2, 4)),
    "group_norm_zero_groups": (lambda nn: nn.GroupNorm(num_groups=0), (2, 4)),
    "group_norm_size": (lambda nn: nn.GroupNorm(num_groups=None, group_size=3), (2, 4)),
    "group_norm_zero_size": (lambda nn: nn.GroupNorm(num_groups=None, group_size=0), (2, 4)),
    "group_norm_axes": (lambda nn: nn.GroupNorm(num_groups=2, reduction_axes=(1,)), (2, 4, 4)),
    "instance_norm_batch_axis": (lambda nn: nn.InstanceNorm(feature_axes=0), (2, 4)),
    "instance_norm_1d": (lambda nn: nn.InstanceNorm(), (4,)),
    "batch_norm_no_mode": (lambda nn: nn.BatchNorm(), (2, 4)),
    "batch_norm_both_modes": (lambda nn: nn.BatchNorm(use_running_average=True), (2, 4)),
}


def _error(fn):
    try:
        fn()
    except Exception as e:  # the oracle's class is what we compare
        return type(e), str(e)
    raise AssertionError("no error")


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_errors(name):
    build, shape = ERRORS[name]
    kwargs = {"use_running_average": False} if name == "batch_norm_both_modes" else {}
    x = jnp.ones(shape)
    flax_cls, flax_msg = _error(lambda: build(flax_nn).init(KEY, x, **kwargs))
    flaxen_cls, flaxen_msg = _error(lambda: build(flaxen_nn).init(KEY, x, **kwargs))
    assert issubclass(flaxen_cls, flax_cls.__mro__[0]) or flaxen_cls.__name__ == flax_cls.__name__
    if not name.startswith("batch_norm"):  # merge_param's wording is flaxen.linen's
        assert flaxen_msg == flax_msg


def test_dataclass_fields_match():
    import dataclasses

    for name in (
        "BatchNorm", "LayerNorm", "RMSNorm", "GroupNorm", "InstanceNorm", "SpectralNorm",
        "WeightNorm",
    ):  # fmt: skip
        # ``parent`` and ``name`` belong to the Module system, not to the layer.
        flax_fields = [
            (f.name, f.kw_only)
            for f in dataclasses.fields(getattr(flax_nn, name))
            if f.name not in ("parent", "name")
        ]
        flaxen_fields = [
            (f.name, f.kw_only)
            for f in dataclasses.fields(getattr(flaxen_nn, name))
            if f.name not in ("parent", "name")
        ]
        assert flaxen_fields == flax_fields, name
        for f_flax, f_ours in zip(
            dataclasses.fields(getattr(flax_nn, name)),
            dataclasses.fields(getattr(flaxen_nn, name)),
            strict=True,
        ):
            if f_flax.name in ("parent", "name"):
                continue
            if f_flax.default is not dataclasses.MISSING:
                assert f_ours.default == f_flax.default, (name, f_flax.name)
