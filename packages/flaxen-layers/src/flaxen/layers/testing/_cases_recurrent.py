"""Conformance cases of the recurrent layers: the cells, ``RNN`` and ``Bidirectional``.

A cell is called as ``cell(carry, x)``: its inputs are a carry (a pair for
the LSTM cells) and one time step. ``RNN`` cases run over ``(batch, time,
features)``. The RNN cases skip float64: the cell's carry is created in its
``param_dtype`` (float32), so float64 inputs would change the carry's dtype
inside the scan, in Flax as here.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp

from ._case import LayerCase, normal

_BATCH, _FEATURES, _HIDDEN = 2, 3, 4


def _cell_inputs(*carry_shapes: tuple[int, ...], x_shape: tuple[int, ...]) -> Any:
    """Inputs ``(carry, x)``; the carry is a tuple when several shapes are given."""

    def make(key: jax.Array) -> tuple[Any, ...]:
        keys = jax.random.split(key, len(carry_shapes) + 1)
        carry = tuple(jax.random.normal(k, s) for k, s in zip(keys, carry_shapes, strict=False))
        x = jax.random.normal(keys[-1], x_shape)
        return (carry if len(carry) > 1 else carry[0], x)

    return make


_HIDDEN_SHAPE = (_BATCH, _HIDDEN)
_X = (_BATCH, _FEATURES)
_PAIR = _cell_inputs(_HIDDEN_SHAPE, _HIDDEN_SHAPE, x_shape=_X)
_SINGLE = _cell_inputs(_HIDDEN_SHAPE, x_shape=_X)
_SEQUENCE = normal(_BATCH, 5, _FEATURES)


def _seq_lengths(key: jax.Array) -> dict[str, jax.Array]:
    return {"seq_lengths": jax.random.randint(key, (_BATCH,), 1, 6)}


@functools.cache
def _counter_cell(nn: Any) -> type:
    """A cell written against ``RNNCellBase`` only: a running sum of a projection."""

    class CounterCell(nn.RNNCellBase):
        features: int

        @nn.compact
        def __call__(self, carry: Any, x: Any) -> Any:
            carry = carry + nn.Dense(self.features, name="proj")(x)
            return carry, jnp.tanh(carry)

        @nn.nowrap
        def initialize_carry(self, rng: Any, input_shape: tuple[int, ...]) -> Any:
            return jnp.zeros((*input_shape[:-1], self.features))

        @property
        def num_feature_axes(self) -> int:
            return 1

    return CounterCell


CASES = (
    LayerCase("LSTMCell/default", lambda nn: nn.LSTMCell(_HIDDEN), _PAIR),
    LayerCase(
        "LSTMCell/random_biases",
        lambda nn: nn.LSTMCell(
            _HIDDEN, bias_init=nn.initializers.normal(), gate_fn=nn.hard_sigmoid
        ),
        _PAIR,
    ),
    LayerCase("OptimizedLSTMCell/default", lambda nn: nn.OptimizedLSTMCell(_HIDDEN), _PAIR),
    LayerCase("GRUCell/default", lambda nn: nn.GRUCell(_HIDDEN), _SINGLE),
    LayerCase("MGUCell/default", lambda nn: nn.MGUCell(_HIDDEN), _SINGLE),
    LayerCase("MGUCell/no_reset_gate", lambda nn: nn.MGUCell(_HIDDEN, reset_gate=False), _SINGLE),
    LayerCase("SimpleCell/residual", lambda nn: nn.SimpleCell(_HIDDEN, residual=True), _SINGLE),
    LayerCase(
        "ConvLSTMCell/default",
        lambda nn: nn.ConvLSTMCell(_HIDDEN, (3, 3)),
        _cell_inputs((_BATCH, 4, 4, _HIDDEN), (_BATCH, 4, 4, _HIDDEN), x_shape=(_BATCH, 4, 4, 2)),
    ),
    LayerCase("RNN/lstm", lambda nn: nn.RNN(nn.LSTMCell(_HIDDEN)), _SEQUENCE, float64=False),
    LayerCase(
        "RNN/gru_lengths_reversed_with_carry",
        lambda nn: nn.RNN(nn.GRUCell(_HIDDEN), reverse=True, keep_order=True, return_carry=True),
        _SEQUENCE,
        kwarg_inputs=_seq_lengths,
        float64=False,
    ),
    LayerCase(
        "Bidirectional/default",
        lambda nn: nn.Bidirectional(nn.RNN(nn.GRUCell(_HIDDEN)), nn.RNN(nn.SimpleCell(_HIDDEN))),
        _SEQUENCE,
        kwarg_inputs=_seq_lengths,
        float64=False,
    ),
    LayerCase(
        "RNNCellBase/custom_cell",
        lambda nn: nn.RNN(_counter_cell(nn)(_HIDDEN)),
        _SEQUENCE,
        covers=("RNNCellBase", "RNN"),
        float64=False,
    ),
)
