"""Early stopping: stop training once a metric stops improving."""

import math
from typing import Any, Self

from flaxen import struct


class EarlyStopping(struct.PyTreeNode):
    """Early stopping to avoid overfitting during training.

    The metric is one to minimize (a loss). An update *improves* when it is
    more than ``min_delta`` below the best value seen so far (the first
    update always improves). After more than ``patience`` updates in a row
    without improvement, ``should_stop`` becomes ``True`` and stays so until
    :meth:`reset`.

    The following example stops training early if the difference between
    losses recorded in the current epoch and previous epoch is less than 1e-3
    consecutively for 2 times::

        early_stop = EarlyStopping(min_delta=1e-3, patience=2)
        for epoch in range(1, num_epochs + 1):
            rng, input_rng = jax.random.split(rng)
            state, train_metrics = train_epoch(state, train_ds, batch_size, epoch, input_rng)
            early_stop = early_stop.update(train_metrics['loss'])
            if early_stop.should_stop:
                print('Met early stopping criteria, breaking...')
                break

    :meth:`update` compares the metric in Python, so it runs outside ``jax.jit``;
    the object is a pytree of all its fields, so it can be checkpointed with
    the rest of the training state.

    Attributes:
        min_delta: minimum delta between updates to be considered an
            improvement.
        patience: number of steps of no improvement before stopping.
        best_metric: current best metric value.
        patience_count: number of steps since last improving update.
        should_stop: whether the training loop should stop to avoid
            overfitting.
        has_improved: whether the last :meth:`update` improved on the best
            metric by more than ``min_delta``.

    Example:

        >>> from flaxen.training.early_stopping import EarlyStopping
        >>> early_stop = EarlyStopping(min_delta=0.1, patience=1)
        >>> for loss in [1.0, 0.8, 0.75, 0.72]:
        ...     early_stop = early_stop.update(loss)
        ...     print(loss, early_stop.has_improved, early_stop.should_stop)
        1.0 True False
        0.8 True False
        0.75 False False
        0.72 False True
    """

    min_delta: float = 0
    patience: int = 0
    best_metric: float = float("inf")
    patience_count: int = 0
    should_stop: bool = False
    has_improved: bool = False

    def reset(self) -> Self:
        """Returns a copy with the best metric, patience and flags cleared."""
        return self.replace(
            best_metric=float("inf"),
            patience_count=0,
            should_stop=False,
            has_improved=False,
        )

    def update(self, metric: Any) -> Self:
        """Update the state based on metric.

        Args:
            metric: the new value of the metric to minimize (a Python number
                or a concrete scalar array).

        Returns:
            The updated ``EarlyStopping``: ``has_improved`` says whether
            ``metric`` improved on ``best_metric`` by more than
            ``min_delta``, and ``should_stop`` whether the patience ran out.
        """
        if math.isinf(self.best_metric) or self.best_metric - metric > self.min_delta:
            return self.replace(best_metric=metric, patience_count=0, has_improved=True)
        patience_count = self.patience_count + 1
        return self.replace(
            patience_count=patience_count,
            should_stop=self.should_stop or patience_count > self.patience,
            has_improved=False,
        )
