"""Learning rate schedules against their formulas, evaluated in numpy."""

import logging
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flaxen.training import lr_schedule

STEPS = [0, 1, 5, 9, 10, 11, 29, 30, 31, 59, 60, 61, 79, 80, 81, 150, 1000]


def f32(x):
    return np.float32(x)


def warmup_np(step, warmup_length, steps_per_epoch):
    # Evaluated in float32, in the schedules' operation order.
    return np.minimum(f32(1.0), f32(step) / f32(warmup_length) / f32(steps_per_epoch))


def test_public_names():
    assert {n for n in dir(lr_schedule) if not n.startswith("_")} >= {
        "create_constant_learning_rate_schedule",
        "create_stepped_learning_rate_schedule",
        "create_cosine_learning_rate_schedule",
    }


def test_constant_without_warmup_returns_the_base_rate_itself():
    fn = lr_schedule.create_constant_learning_rate_schedule(0.1, 10)
    assert fn(0) == 0.1 and type(fn(0)) is float
    assert fn(jnp.array(1234)) == 0.1


@pytest.mark.parametrize("warmup_length", [1.0, 2.0, 0.37, 2])
def test_constant_with_warmup(warmup_length):
    base, spe = 0.3, 13
    fn = lr_schedule.create_constant_learning_rate_schedule(base, spe, warmup_length=warmup_length)
    for step in STEPS:
        lr = fn(jnp.int32(step))
        # Weakly typed whatever the type of warmup_length.
        assert lr.dtype == jnp.float32 and lr.weak_type
        assert lr == f32(base) * warmup_np(step, warmup_length, spe), step
    # Python steps are weakly typed, and the warmup reaches 1 exactly.
    out = fn(10_000)
    assert out.weak_type and float(out) == pytest.approx(base)
    assert float(fn(0)) == 0.0


def test_stepped_schedule_steps_after_each_boundary():
    base, spe = 0.1, 10
    steps = [[3, 0.1], [6, 0.01], [8, 0.001]]
    fn = lr_schedule.create_stepped_learning_rate_schedule(base, spe, steps)
    expected = {
        0: base,
        29: base,
        30: base,
        31: base * 0.1,
        60: base * 0.1,
        61: base * 0.01,
        80: base * 0.01,
        81: base * 0.001,
        1000: base * 0.001,
    }
    for step, value in expected.items():
        lr = fn(step)
        assert lr.dtype == jnp.float32 and not lr.weak_type
        # The factors multiply the base rate in float64, before the cast.
        assert lr == f32(value), step
    assert fn(35.5) == f32(base * 0.1)


def test_stepped_schedule_with_warmup_and_fractional_epochs():
    base, spe, warmup = 0.7, 7, 1.5
    sched = [[1, 0.5], [3.5, 0.1], [7, 0.013]]
    fn = lr_schedule.create_stepped_learning_rate_schedule(base, spe, sched, warmup_length=warmup)
    boundaries = np.array([7, 24, 49])  # 7, 24.5 and 49 rounded half to even
    values = np.array([base] + [base * f for _, f in sched], np.float32)
    for step in [*(jnp.int32(s) for s in STEPS), 24, 24.5, 25]:
        lr = fn(step)
        expected = values[np.sum(step > boundaries)] * warmup_np(step, warmup, spe)
        assert lr == expected, step


def test_stepped_schedule_boundaries_are_rounded_to_whole_steps():
    def decayed(epoch, spe, step):
        fn = lr_schedule.create_stepped_learning_rate_schedule(1.0, spe, [[epoch, 0.5]])
        return float(fn(step)) == 0.5

    # 3.7 * 7 = 25.9 -> 26; 2.25 * 2 = 4.5 -> 4; 2.75 * 2 = 5.5 -> 6.
    assert [decayed(3.7, 7, s) for s in (25.95, 26, 26.5)] == [False, False, True]
    assert [decayed(2.25, 2, s) for s in (4, 4.2)] == [False, True]
    assert [decayed(2.75, 2, s) for s in (5.7, 6, 6.2)] == [False, False, True]


def test_stepped_schedule_edge_cases():
    assert float(lr_schedule.create_stepped_learning_rate_schedule(0.1, 10, [])(50)) == f32(0.1)
    # A step at epoch 0 applies from the first step on, not at step 0.
    fn = lr_schedule.create_stepped_learning_rate_schedule(1.0, 10, [(0, 0.5)])
    assert (float(fn(0)), float(fn(1))) == (1.0, 0.5)
    # Steps are counted, not sorted: an unsorted list indexes by count.
    fn = lr_schedule.create_stepped_learning_rate_schedule(1.0, 10, [[5, 0.1], [2, 0.5]])
    assert [float(fn(s)) for s in (15, 25, 60)] == [1.0, f32(0.1), 0.5]


@pytest.mark.parametrize("warmup_length", [0.0, 1.0, 0.37])
def test_cosine_schedule(warmup_length):
    base, spe, half = 0.1, 10, 5
    fn = lr_schedule.create_cosine_learning_rate_schedule(base, spe, half, warmup_length)
    for step in STEPS:
        lr = fn(jnp.int32(step))
        cos = np.cos(f32(np.pi) * f32(step) / f32(half * spe), dtype=np.float32)
        expected = f32(base * 0.5) * (f32(1.0) + cos)
        if warmup_length:
            expected = expected * warmup_np(step, warmup_length, spe)
        # XLA's float32 cosine may differ from numpy's in the last bit.
        np.testing.assert_allclose(lr, expected, rtol=2e-6, atol=1e-9, err_msg=str(step))
    # Half a wave reaches 0 at halfcos_epochs, a full wave is back at the base.
    assert abs(float(fn(half * spe))) < 1e-8
    assert float(fn(2 * half * spe)) == pytest.approx(base)
    assert float(fn(half * spe / 2)) == pytest.approx(base / 2)


def test_cosine_schedule_in_float64_python_for_python_steps():
    fn = lr_schedule.create_cosine_learning_rate_schedule(0.1, 10, 5)
    out = fn(12)
    assert out.weak_type
    assert out == f32(0.1 * 0.5 * (1 + math.cos(math.pi * 12 / 50)))


def test_schedules_trace_under_jit_and_drive_optax():
    import optax

    fn = lr_schedule.create_cosine_learning_rate_schedule(0.1, 10, 5, warmup_length=1)
    jitted = jax.jit(fn)
    for step in (0, 3, 10, 27):
        assert jitted(step) == fn(jnp.asarray(step))
    tx = optax.sgd(fn)
    params = jnp.ones(2)
    state = tx.init(params)
    updates, state = tx.update(jnp.ones(2), state)
    np.testing.assert_array_equal(updates, jnp.zeros(2))  # the warmup starts at 0


@pytest.mark.parametrize(
    "make",
    [
        lambda: lr_schedule.create_constant_learning_rate_schedule(0.1, 10),
        lambda: lr_schedule.create_stepped_learning_rate_schedule(0.1, 10, [[1, 0.1]]),
        lambda: lr_schedule.create_cosine_learning_rate_schedule(0.1, 10, 5),
    ],
)
def test_creating_a_schedule_logs_the_deprecation(make, caplog):
    with caplog.at_level(logging.WARNING, logger="flaxen.training.lr_schedule"):
        make()
    (record,) = caplog.records
    assert record.name == "flaxen.training.lr_schedule"
    assert "deprecated in favor of Optax schedules" in record.getMessage()
