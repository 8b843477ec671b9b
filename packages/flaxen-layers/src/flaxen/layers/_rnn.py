"""``RNN``: a cell scanned over the time axis of a sequence with ``nn.scan``.

The cell's parameters are broadcast over time (one set shared by every step,
``variable_broadcast='params'``) unless the scan options say otherwise. With
``seq_lengths``, every step still runs; padding only changes which carry is
returned (the one after each sequence's last valid element) and how
sequences are reversed (padding stays at the end).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from flaxen import linen
from flaxen.core import FrozenDict
from flaxen.core.scope import CollectionFilter, PRNGSequenceFilter
from flaxen.linen import Module

from ._cell_base import RNNCellBase

Array = jax.Array
Carry = Any
Output = Any


def _step(cell: Any, carry: Carry, x: Any) -> tuple[Carry, Output]:
    return cell(carry, x)


def _step_keeping_carries(cell: Any, carry: Carry, x: Any) -> tuple[Carry, Any]:
    carry, y = cell(carry, x)
    return carry, (carry, y)


class RNN(Module):
    """Applies any :class:`RNNCellBase` instance over a sequence, using :func:`flaxen.linen.scan`.

    >>> import jax, jax.numpy as jnp
    >>> from flaxen import linen as nn
    >>> x = jnp.ones((2, 5, 3))  # (batch, time, features)
    >>> lstm = nn.RNN(nn.LSTMCell(4))
    >>> variables = lstm.init(jax.random.key(0), x)
    >>> y = lstm.apply(variables, x)
    >>> y.shape  # (batch, time, cell_size)
    (2, 5, 4)

    The cell's ``initialize_carry`` is called with the shape of one time step
    of the input, and the cell's ``num_feature_axes`` says which trailing axes
    are features: for :class:`ConvLSTMCell` with a 2D kernel they are
    ``(height, width, channels)``, so inputs are ``(*batch, time, height,
    width, channels)``:

    >>> x = jnp.ones((2, 5, 4, 4, 3))  # (batch, time, height, width, features)
    >>> conv_lstm = nn.RNN(nn.ConvLSTMCell(4, kernel_size=(3, 3)))
    >>> jax.eval_shape(conv_lstm.init_with_output, jax.random.key(0), x)[0].shape
    (2, 5, 4, 4, 4)

    With ``time_major=True`` the time axis comes first (``(time, *batch,
    *features)``):

    >>> x = jnp.ones((5, 2, 3))  # (time, batch, features)
    >>> lstm = nn.RNN(nn.LSTMCell(4), time_major=True)
    >>> variables = lstm.init(jax.random.key(0), x)
    >>> lstm.apply(variables, x).shape  # (time, batch, cell_size)
    (5, 2, 4)

    With ``return_carry=True`` the final carry is returned too:

    >>> x = jnp.ones((2, 5, 3))
    >>> lstm = nn.RNN(nn.LSTMCell(4), return_carry=True)
    >>> variables = lstm.init(jax.random.key(0), x)
    >>> carry, y = lstm.apply(variables, x)
    >>> jax.tree_util.tree_map(jnp.shape, carry)  # ((batch, cell_size), (batch, cell_size))
    ((2, 4), (2, 4))
    >>> y.shape  # (batch, time, cell_size)
    (2, 5, 4)

    For variable length sequences pass ``seq_lengths``, an integer array of
    shape ``(*batch)``. The outputs at padding positions are NOT zeroed out;
    the returned carry is the state after the last valid element of each
    sequence:

    >>> carry, y = lstm.apply(variables, x, seq_lengths=jnp.array([3, 5]))
    >>> bool(jnp.allclose(carry[1], jnp.stack([y[0, 2], y[1, 4]])))
    True

    The scan options have defaults suited to cells like :class:`LSTMCell`
    and :class:`GRUCell` and are forwarded to ``nn.scan``:

    >>> lstm = nn.RNN(
    ...   nn.LSTMCell(4),
    ...   unroll=1, variable_axes={}, variable_broadcast='params',
    ...   variable_carry=False, split_rngs={'params': False})

    Attributes:
      cell: an instance of :class:`RNNCellBase`.
      time_major: if ``time_major=False`` (default) it will expect inputs with
        shape ``(*batch, time, *features)``, else it will expect inputs with shape
        ``(time, *batch, *features)``.
      return_carry: if ``return_carry=False`` (default) only the output sequence
        is returned, else it will return a tuple of the final carry and the output
        sequence.
      reverse: if ``reverse=False`` (default) the sequence is processed from left
        to right and returned in the original order, else it will be processed
        from right to left, and returned in reverse order. If ``seq_lengths`` is
        passed, padding will always remain at the end of the sequence.
      keep_order: if ``keep_order=True``, when ``reverse=True`` the output will be
        reversed back to the original order after processing, this is useful to
        align sequences in bidirectional RNNs. If ``keep_order=False`` (default),
        the output will remain in the order specified by ``reverse``.
      unroll: how many scan iterations to unroll within a single iteration of a
        loop, defaults to 1. This argument will be passed to ``nn.scan``.
      variable_axes: a dictionary mapping each collection to either an integer
        ``i`` (meaning we scan over dimension ``i``) or ``None`` (replicate rather
        than scan). This argument is forwarded to ``nn.scan``.
      variable_broadcast: Specifies the broadcasted variable collections. A
        broadcasted variable should not depend on any computation that cannot be
        lifted out of the loop. This is typically used to define shared parameters
        inside the fn. This argument is forwarded to ``nn.scan``.
      variable_carry: Specifies the variable collections that are carried through
        the loop. Mutations to these variables are carried to the next iteration
        and will be preserved when the scan finishes. This argument is forwarded
        to ``nn.scan``.
      split_rngs: a mapping from PRNGSequenceFilter to bool specifying whether a
        collection's PRNG key should be split such that its values are different
        at each step, or replicated such that its values remain the same at each
        step. This argument is forwarded to ``nn.scan``.
    """

    cell: RNNCellBase
    time_major: bool = False
    return_carry: bool = False
    reverse: bool = False
    keep_order: bool = False
    unroll: int = 1
    variable_axes: Mapping[CollectionFilter, Any] = FrozenDict()
    variable_broadcast: CollectionFilter = "params"
    variable_carry: CollectionFilter = False
    split_rngs: Mapping[PRNGSequenceFilter, bool] = FrozenDict({"params": False})

    def __call__(
        self,
        inputs: Array,
        *,
        initial_carry: Carry | None = None,
        init_key: Array | None = None,
        seq_lengths: Array | None = None,
        return_carry: bool | None = None,
        time_major: bool | None = None,
        reverse: bool | None = None,
        keep_order: bool | None = None,
    ) -> Output | tuple[Carry, Output]:
        """Applies the RNN to the inputs.

        ``__call__`` allows you to optionally override some attributes like
        ``return_carry`` and ``time_major`` defined in the constructor.

        Args:
          inputs: the input sequence.
          initial_carry: the initial carry, if not provided it will be initialized
            using the cell's :meth:`RNNCellBase.initialize_carry` method.
          init_key: a PRNG key used to initialize the carry, if not provided
            ``jax.random.key(0)`` will be used. Most cells will ignore this
            argument.
          seq_lengths: an optional integer array of shape ``(*batch)`` indicating
            the length of each sequence, elements whose index in the time dimension
            is greater than the corresponding length will be considered padding and
            will be ignored.
          return_carry: if ``return_carry=False`` (default) only the output sequence
            is returned, else it will return a tuple of the final carry and the
            output sequence.
          time_major: if ``time_major=False`` (default) it will expect inputs with
            shape ``(*batch, time, *features)``, else it will expect inputs with
            shape ``(time, *batch, *features)``.
          reverse: overrides the ``reverse`` attribute, if ``reverse=False``
            (default) the sequence is processed from left to right and returned in
            the original order, else it will be processed from right to left, and
            returned in reverse order. If ``seq_lengths`` is passed, padding will
            always remain at the end of the sequence.
          keep_order: overrides the ``keep_order`` attribute, if ``keep_order=True``,
            when ``reverse=True`` the output will be reversed back to the original
            order after processing, this is useful to align sequences in
            bidirectional RNNs. If ``keep_order=False`` (default), the output will
            remain in the order specified by ``reverse``.

        Returns:
          if ``return_carry=False`` (default) only the output sequence is returned,
          else it will return a tuple of the final carry and the output sequence.
        """
        if return_carry is None:
            return_carry = self.return_carry
        if time_major is None:
            time_major = self.time_major
        if reverse is None:
            reverse = self.reverse
        if keep_order is None:
            keep_order = self.keep_order

        cell = self.cell
        ndim = inputs.ndim
        feature_axes = cell.num_feature_axes
        num_batch_dims = ndim - feature_axes - 1
        if num_batch_dims < 0:
            raise IndexError(
                f"RNN got inputs of shape {inputs.shape}, but {type(cell).__name__} needs a"
                f" time axis and {feature_axes} feature axis(es): pass inputs of shape"
                " (*batch, time, *features), or (time, *batch, *features) with"
                " time_major=True."
            )
        time_axis = 0 if time_major else num_batch_dims

        if reverse:
            inputs = flip_sequences(inputs, seq_lengths, num_batch_dims, time_major)

        if initial_carry is None:
            if init_key is None:
                init_key = jax.random.key(0)
            shape = inputs.shape
            initial_carry = cell.initialize_carry(
                init_key, shape[:time_axis] + shape[time_axis + 1 :]
            )

        keep_carries = seq_lengths is not None and return_carry
        scanned = linen.scan(
            _step_keeping_carries if keep_carries else _step,
            variable_axes=self.variable_axes,
            variable_broadcast=self.variable_broadcast,
            variable_carry=self.variable_carry,
            split_rngs=self.split_rngs,
            in_axes=time_axis,
            out_axes=(0, time_axis) if keep_carries else time_axis,
            unroll=self.unroll,
        )
        carry, outputs = scanned(cell, initial_carry, inputs)
        if keep_carries:
            carries, outputs = outputs
            carry = _select_last_carry(carries, seq_lengths, num_batch_dims)

        if reverse and keep_order:
            outputs = jax.tree_util.tree_map(
                lambda y: flip_sequences(y, seq_lengths, num_batch_dims, time_major), outputs
            )

        if return_carry:
            return carry, outputs
        return outputs


def flip_sequences(
    inputs: Array, seq_lengths: Array | None, num_batch_dims: int, time_major: bool
) -> Array:
    """Flips a sequence of inputs along the time axis.

    This function can be used to prepare inputs for the reverse direction of a
    bidirectional LSTM. It solves the issue that, when naively flipping multiple
    padded sequences stored in a matrix, the first elements would be padding
    values for those sequences that were padded. This function keeps the padding
    at the end, while flipping the rest of the elements.

    >>> import jax.numpy as jnp
    >>> from flaxen.linen.recurrent import flip_sequences
    >>> inputs = jnp.array([[1, 0, 0], [2, 3, 0], [4, 5, 6]])
    >>> flip_sequences(inputs, jnp.array([1, 2, 3]), num_batch_dims=1, time_major=False)
    Array([[1, 0, 0],
           [3, 2, 0],
           [6, 5, 4]], dtype=int32)

    Args:
      inputs: an array of shape ``(*batch, time, ...)`` (or ``(time, *batch,
        ...)`` when ``time_major``).
      seq_lengths: the length of each sequence, of shape ``(*batch)``; None
        means every sequence fills the whole time axis.
      num_batch_dims: the number of batch axes.
      time_major: whether the time axis comes first.

    Returns:
      An array with the flipped inputs.
    """
    time_axis = 0 if time_major else num_batch_dims
    max_steps = inputs.shape[time_axis]
    if seq_lengths is None:
        return lax.rev(inputs, (time_axis,))
    seq_lengths = jnp.expand_dims(seq_lengths, axis=time_axis)
    # Position t of a sequence of length L reads element (L - 1 - t) mod T: the
    # valid part is reversed and the padding, reversed too, stays at the end.
    idxs = jnp.arange(max_steps - 1, -1, -1)
    if time_major:
        idxs = jnp.reshape(idxs, (max_steps,) + (1,) * num_batch_dims)
    else:
        idxs = jnp.reshape(idxs, (1,) * num_batch_dims + (max_steps,))
    idxs = (idxs + seq_lengths) % max_steps
    idxs = jnp.reshape(idxs, idxs.shape + (1,) * (inputs.ndim - idxs.ndim))
    return jnp.take_along_axis(inputs, idxs, axis=time_axis)


def _select_last_carry(carries: Any, seq_lengths: Array, num_batch_dims: int) -> Any:
    """The carry after each sequence's last valid step, from the time-major history."""
    last_idx = seq_lengths - 1
    if num_batch_dims == 0:
        return jax.tree_util.tree_map(lambda x: x[last_idx], carries)

    def select(x: Array) -> Array:
        batch_shape = x.shape[1 : 1 + num_batch_dims]
        if num_batch_dims == 1:
            return x[last_idx, jnp.arange(batch_shape[0])]
        batch_idx = tuple(
            lax.broadcasted_iota(jnp.int32, batch_shape, axis) for axis in range(num_batch_dims)
        )
        return x[(last_idx, *batch_idx)]

    return jax.tree_util.tree_map(select, carries)
