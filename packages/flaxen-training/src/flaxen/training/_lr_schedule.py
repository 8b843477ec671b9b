"""Learning rate schedules of the Flax image classification examples.

Effectively deprecated (FLIP #1009) in favour of Optax schedules, e.g.
``optax.warmup_cosine_decay_schedule``; kept for code ported from Flax. The
numerics are those of ``flax.training.lr_schedule``, operation for operation,
so a ported training run sees bit-identical learning rates.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np

# Logged under the public module's name, like every message of the schedules.
_logger = logging.getLogger("flaxen.training.lr_schedule")

_DEPRECATION = (
    "Learning rate schedules in ``flaxen.training`` are effectively deprecated in favor of"
    " Optax schedules. Please refer to"
    " https://optax.readthedocs.io/en/latest/api.html#optimizer-schedules for alternatives."
)

Schedule = Callable[[Any], Any]


def _warmup_factor(step: Any, warmup_length: float, steps_per_epoch: int) -> Any:
    # Linear ramp from 0 to 1 over the first ``warmup_length`` epochs. The
    # division order matters for the last bit of float32 results; dividing by a
    # Python float keeps the result weakly typed even for integer arguments.
    return jnp.minimum(1.0, step / float(warmup_length) / steps_per_epoch)


def create_constant_learning_rate_schedule(
    base_learning_rate: float, steps_per_epoch: int, warmup_length: float = 0.0
) -> Schedule:
    """Create a constant learning rate schedule with optional warmup.

    Holds the learning rate constant. The optional warmup (as in
    https://arxiv.org/abs/1706.02677, for training with large mini-batches)
    multiplies it by a factor that ramps linearly from 0 to 1 over the first
    ``warmup_length`` epochs. Prefer Optax schedules in new code.

    Args:
        base_learning_rate: the base learning rate.
        steps_per_epoch: the number of iterations per epoch.
        warmup_length: if > 0, the learning rate is modulated by a warmup
            factor that ramps up linearly from 0 to 1 over the first
            ``warmup_length`` epochs.

    Returns:
        Function ``f(step) -> lr`` that computes the learning rate for a given
        step.

    Example:

        >>> from flaxen.training import lr_schedule
        >>> fn = lr_schedule.create_constant_learning_rate_schedule(0.1, 10, warmup_length=2)
        >>> fn(5), fn(20), fn(100)
        (Array(0.025, dtype=float32, weak_type=True), Array(0.1, dtype=float32, weak_type=True),
         Array(0.1, dtype=float32, weak_type=True))
    """
    _logger.warning(_DEPRECATION)

    def learning_rate_fn(step: Any) -> Any:
        lr = base_learning_rate
        if warmup_length > 0.0:
            lr = lr * _warmup_factor(step, warmup_length, steps_per_epoch)
        return lr

    return learning_rate_fn


def _piecewise_constant(boundaries: np.ndarray, values: np.ndarray, t: Any) -> Any:
    # ``values[i]`` applies after ``i`` boundaries have been passed (strictly).
    index = jnp.sum(t > boundaries)
    return jnp.take(values, index)


def create_stepped_learning_rate_schedule(
    base_learning_rate: float,
    steps_per_epoch: int,
    lr_sched_steps: Sequence[Sequence[float]],
    warmup_length: float = 0.0,
) -> Schedule:
    """Create a stepped learning rate schedule with optional warmup.

    A stepped learning rate schedule decreases the learning rate by specified
    amounts at specified epochs. The steps are given as the ``lr_sched_steps``
    parameter. A common ImageNet schedule decays the learning rate by a factor
    of 0.1 at epochs 30, 60 and 80. This would be specified as::

        [
          [30, 0.1],
          [60, 0.01],
          [80, 0.001]
        ]

    A step takes effect once its epoch is passed: the learning rate at step
    ``s`` uses the factor of the last ``[epoch, factor]`` whose boundary,
    ``epoch * steps_per_epoch`` rounded to a whole step (half to even), is
    ``< s``. The optional warmup is as in
    :func:`create_constant_learning_rate_schedule`. Prefer Optax schedules
    (``optax.piecewise_constant_schedule``) in new code.

    Args:
        base_learning_rate: the base learning rate.
        steps_per_epoch: the number of iterations per epoch.
        lr_sched_steps: the schedule as a list of steps, each of which is a
            ``[epoch, lr_factor]`` pair; the step occurs at epoch ``epoch`` and
            sets the learning rate to ``base_learning_rate * lr_factor``.
        warmup_length: if > 0, the learning rate is modulated by a warmup
            factor that ramps up linearly from 0 to 1 over the first
            ``warmup_length`` epochs.

    Returns:
        Function ``f(step) -> lr`` that computes the learning rate for a given
        (scalar) step.

    Example:

        >>> from flaxen.training import lr_schedule
        >>> fn = lr_schedule.create_stepped_learning_rate_schedule(
        ...     1.0, 10, [[3, 0.1], [6, 0.01]])
        >>> [float(fn(step)) for step in (0, 30, 31, 60, 61)]
        [1.0, 1.0, 0.10000000149011612, 0.10000000149011612, 0.009999999776482582]
    """
    _logger.warning(_DEPRECATION)
    # Boundaries are whole steps: epoch * steps_per_epoch rounded half to even.
    boundaries = np.round(np.array([epoch for epoch, _ in lr_sched_steps]) * steps_per_epoch)
    boundaries = boundaries.astype(int)
    # The products are taken in float64, before the cast to float32.
    values = np.array([base_learning_rate] + [base_learning_rate * f for _, f in lr_sched_steps])

    def learning_rate_fn(step: Any) -> Any:
        lr = _piecewise_constant(boundaries, values, step)
        if warmup_length > 0.0:
            lr = lr * _warmup_factor(step, warmup_length, steps_per_epoch)
        return lr

    return learning_rate_fn


def create_cosine_learning_rate_schedule(
    base_learning_rate: float,
    steps_per_epoch: int,
    halfcos_epochs: float,
    warmup_length: float = 0.0,
) -> Schedule:
    """Create a cosine learning rate schedule with optional warmup.

    A cosine learning rate schedule modulates the learning rate with half a
    cosine wave, gradually scaling it to 0 at the end of training:
    ``base_learning_rate * 0.5 * (1 + cos(pi * step / (halfcos_epochs *
    steps_per_epoch)))``. The optional warmup is as in
    :func:`create_constant_learning_rate_schedule`. Prefer Optax schedules
    (``optax.warmup_cosine_decay_schedule``) in new code.

    Args:
        base_learning_rate: the base learning rate.
        steps_per_epoch: the number of iterations per epoch.
        halfcos_epochs: the number of epochs to complete half a cosine wave;
            normally the number of epochs used for training.
        warmup_length: if > 0, the learning rate is modulated by a warmup
            factor that ramps up linearly from 0 to 1 over the first
            ``warmup_length`` epochs.

    Returns:
        Function ``f(step) -> lr`` that computes the learning rate for a given
        step.

    Example:

        >>> from flaxen.training import lr_schedule
        >>> fn = lr_schedule.create_cosine_learning_rate_schedule(0.1, 10, 5)
        >>> fn(0), fn(25), fn(50)
        (Array(0.1, dtype=float32, weak_type=True), Array(0.05, dtype=float32, weak_type=True),
         Array(0., dtype=float32, weak_type=True))
    """
    _logger.warning(_DEPRECATION)
    halfwavelength_steps = halfcos_epochs * steps_per_epoch

    def learning_rate_fn(step: Any) -> Any:
        lr = base_learning_rate * 0.5 * (1.0 + jnp.cos(jnp.pi * step / halfwavelength_steps))
        if warmup_length > 0.0:
            lr = lr * _warmup_factor(step, warmup_length, steps_per_epoch)
        return lr

    return learning_rate_fn
