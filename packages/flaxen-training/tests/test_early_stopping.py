"""EarlyStopping: improvement, patience, reset, pytree and state dict."""

import dataclasses
import math

import jax
import jax.numpy as jnp
import pytest

from flaxen import serialization, struct
from flaxen.training import early_stopping
from flaxen.training.early_stopping import EarlyStopping


def fields(es):
    return (es.best_metric, es.patience_count, es.should_stop, es.has_improved)


def test_defaults_and_field_order():
    assert early_stopping.EarlyStopping is EarlyStopping
    assert issubclass(EarlyStopping, struct.PyTreeNode)
    es = EarlyStopping()
    assert [f.name for f in dataclasses.fields(es)] == [
        "min_delta", "patience", "best_metric", "patience_count", "should_stop", "has_improved",
    ]  # fmt: skip
    assert (es.min_delta, es.patience) == (0, 0)
    assert fields(es) == (math.inf, 0, False, False)


def test_sequence_with_min_delta_and_patience():
    es = EarlyStopping(min_delta=0.1, patience=1)
    expected = [
        (1.0, (1.0, 0, False, True)),  # the first metric always improves
        (0.95, (1.0, 1, False, False)),
        (0.9, (1.0, 2, True, False)),  # 1.0 - 0.9 is not > 0.1; patience 1 exceeded
        (0.85, (0.85, 0, True, True)),  # an improvement does not clear should_stop
        (0.7, (0.7, 0, True, True)),
        (0.7, (0.7, 1, True, False)),
    ]
    for metric, state in expected:
        es = es.update(metric)
        assert fields(es) == state, metric
    es = es.reset()
    assert fields(es) == (math.inf, 0, False, False)
    assert (es.min_delta, es.patience) == (0.1, 1)


def test_improvement_is_a_strict_margin_computed_as_best_minus_metric():
    # best - metric > min_delta, evaluated exactly that way in floating point.
    assert not EarlyStopping(min_delta=0.5, best_metric=1.0).update(0.5).has_improved
    assert EarlyStopping(min_delta=0.5, best_metric=1.0).update(0.4999).has_improved
    assert not EarlyStopping(best_metric=1.0).update(1.0).has_improved
    best, metric, delta = 0.3, 0.2, 0.1  # 0.3 - 0.2 == 0.09999999999999998
    assert (best - metric > delta) is EarlyStopping(min_delta=delta, best_metric=best).update(
        metric
    ).has_improved
    # A negative min_delta accepts a worse metric.
    assert EarlyStopping(min_delta=-1, best_metric=1.0).update(1.5).best_metric == 1.5


@pytest.mark.parametrize("patience", [0, 1, 2, 5])
def test_should_stop_after_more_than_patience_updates_without_improvement(patience):
    es = EarlyStopping(patience=patience).update(1.0)
    for count in range(1, patience + 3):
        es = es.update(1.0)
        assert es.patience_count == count
        assert es.should_stop == (count > patience)


def test_should_stop_is_sticky_until_reset():
    es = EarlyStopping(patience=10, should_stop=True).update(1).update(2)
    assert es.should_stop and es.patience_count == 1
    assert not es.reset().should_stop


def test_infinite_best_metric_always_improves():
    assert EarlyStopping(best_metric=-math.inf).update(5.0).has_improved
    es = EarlyStopping().update(math.inf)
    assert es.has_improved and es.best_metric == math.inf
    # A NaN becomes the best metric and nothing improves on it afterwards.
    es = EarlyStopping().update(math.nan)
    assert math.isnan(es.best_metric) and es.has_improved
    assert not es.update(0.0).has_improved


def test_array_metrics_are_kept_as_given():
    es = EarlyStopping().update(jnp.array(2.0))
    assert isinstance(es.best_metric, jax.Array)
    assert es.has_improved is True
    es = es.update(jnp.array(3.0))
    assert (es.patience_count, es.should_stop, es.has_improved) == (1, True, False)
    assert EarlyStopping(patience=1).update(2).update(3).best_metric == 2


def test_update_needs_concrete_values():
    # update branches in Python: it cannot be traced.
    with pytest.raises(jax.errors.ConcretizationTypeError):
        jax.jit(lambda es, m: es.update(m))(EarlyStopping(min_delta=0.1, patience=1), 1.0)


def test_is_a_pytree_of_all_fields_and_serializes():
    es = EarlyStopping(min_delta=0.1, patience=1).update(0.5).update(0.45)
    assert jax.tree_util.tree_leaves(es) == [0.1, 1, 0.5, 1, False, False]
    state = serialization.to_state_dict(es)
    assert state == {
        "min_delta": 0.1, "patience": 1, "best_metric": 0.5, "patience_count": 1,
        "should_stop": False, "has_improved": False,
    }  # fmt: skip
    restored = serialization.from_bytes(EarlyStopping(), serialization.to_bytes(es))
    assert fields(restored) == fields(es)
    assert restored == es
