"""Recurrent layers: cells, ``RNN`` and ``Bidirectional`` (``flaxen.linen.recurrent``).

A cell (:class:`LSTMCell`, :class:`GRUCell`, ...) computes one time step,
``(carry, inputs) -> (carry, outputs)``; :class:`RNN` scans a cell over a
sequence with ``nn.scan``; :class:`Bidirectional` runs two RNNs, one of them
backwards, and merges their outputs.

>>> import jax, jax.numpy as jnp
>>> from flaxen import linen as nn
>>> model = nn.RNN(nn.GRUCell(features=4))
>>> x = jnp.ones((2, 5, 3))  # (batch, time, features)
>>> variables = model.init(jax.random.key(0), x)
>>> model.apply(variables, x).shape
(2, 5, 4)
"""

from ._bidirectional import Bidirectional as Bidirectional
from ._bidirectional import RNNBase as RNNBase
from ._cell_base import RNNCellBase as RNNCellBase
from ._cells_gated import GRUCell as GRUCell
from ._cells_gated import MGUCell as MGUCell
from ._cells_gated import SimpleCell as SimpleCell
from ._cells_lstm import ConvLSTMCell as ConvLSTMCell
from ._cells_lstm import DenseParams as DenseParams
from ._cells_lstm import LSTMCell as LSTMCell
from ._cells_lstm import OptimizedLSTMCell as OptimizedLSTMCell
from ._rnn import RNN as RNN
from ._rnn import flip_sequences as flip_sequences

__all__ = [
    "RNN",
    "Bidirectional",
    "ConvLSTMCell",
    "DenseParams",
    "GRUCell",
    "LSTMCell",
    "MGUCell",
    "OptimizedLSTMCell",
    "RNNBase",
    "RNNCellBase",
    "SimpleCell",
    "flip_sequences",
]
