"""``Bidirectional``: two RNNs over the same sequence, one of them backwards."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import jax
import jax.numpy as jnp

from flaxen.linen import Module

Array = jax.Array
Carry = Any
Output = Any


class RNNBase(Protocol):
    """What :class:`Bidirectional` needs of each direction: an ``RNN``-like call."""

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
    ) -> Output | tuple[Carry, Output]: ...


def _concatenate(a: Array, b: Array) -> Array:
    """Concatenates two arrays along the last dimension."""
    return jnp.concatenate([a, b], axis=-1)


class Bidirectional(Module):
    """Processes the input in both directions and merges the results.

    The forward RNN reads the sequence left to right; the backward RNN reads
    it right to left (``reverse=True``) and its outputs are put back in the
    original order (``keep_order=True``), so step ``t`` of both lines up.
    ``merge_fn`` combines the two outputs (default: concatenation of the
    features).

    >>> import jax, jax.numpy as jnp
    >>> from flaxen import linen as nn
    >>> layer = nn.Bidirectional(nn.RNN(nn.GRUCell(4)), nn.RNN(nn.GRUCell(4)))
    >>> x = jnp.ones((2, 5, 3))
    >>> variables = layer.init(jax.random.key(0), x)
    >>> layer.apply(variables, x).shape
    (2, 5, 8)
    >>> sorted(variables['params'])
    ['backward_rnn', 'forward_rnn']

    Attributes:
      forward_rnn: the RNN run left to right.
      backward_rnn: the RNN run right to left.
      merge_fn: combines the outputs of both directions, per leaf of the
        output tree.
      time_major: whether the time axis comes first in the inputs.
      return_carry: whether to return ``((forward_carry, backward_carry),
        outputs)`` instead of the outputs alone.
    """

    forward_rnn: RNNBase
    backward_rnn: RNNBase
    merge_fn: Callable[[Array, Array], Array] = _concatenate
    time_major: bool = False
    return_carry: bool = False

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
        """Runs both RNNs over ``inputs`` and merges their outputs.

        Args:
          inputs: the input sequence.
          initial_carry: ``(forward_carry, backward_carry)``; by default each RNN
            initializes its own.
          init_key: a key for the initial carries, split in two (one per
            direction); by default each RNN uses its own default.
          seq_lengths: optional lengths of the sequences, shape ``(*batch)``.
          return_carry: overrides the ``return_carry`` attribute.
          time_major: overrides the ``time_major`` attribute.
          reverse: ignored (the directions are fixed).
          keep_order: ignored (the backward outputs always keep the order).

        Returns:
          The merged outputs, or ``((forward_carry, backward_carry), outputs)``
          when ``return_carry``.
        """
        del reverse, keep_order
        if time_major is None:
            time_major = self.time_major
        if return_carry is None:
            return_carry = self.return_carry
        if init_key is not None:
            key_forward, key_backward = jax.random.split(init_key)
        else:
            key_forward = key_backward = None
        if initial_carry is not None:
            carry_forward, carry_backward = initial_carry
        else:
            carry_forward = carry_backward = None

        carry_forward, outputs_forward = self.forward_rnn(
            inputs, initial_carry=carry_forward, init_key=key_forward,
            seq_lengths=seq_lengths, return_carry=True, time_major=time_major,
            reverse=False,
        )  # fmt: skip
        carry_backward, outputs_backward = self.backward_rnn(
            inputs, initial_carry=carry_backward, init_key=key_backward,
            seq_lengths=seq_lengths, return_carry=True, time_major=time_major,
            reverse=True, keep_order=True,
        )  # fmt: skip
        outputs = jax.tree_util.tree_map(self.merge_fn, outputs_forward, outputs_backward)
        if return_carry:
            return (carry_forward, carry_backward), outputs
        return outputs
