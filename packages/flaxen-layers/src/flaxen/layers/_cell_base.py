"""The recurrent cell protocol: ``RNNCellBase`` and what the stock cells share.

A cell maps ``(carry, inputs) -> (new_carry, outputs)`` for one time step.
Besides ``__call__`` it answers two questions that :class:`~flaxen.layers.recurrent.RNN`
asks before scanning it over a sequence: what the initial carry looks like
for a given (per-step) input shape (:meth:`RNNCellBase.initialize_carry`), and
how many trailing axes of an input are features rather than batch or time
(:attr:`RNNCellBase.num_feature_axes`).
"""

from __future__ import annotations

from typing import Any

import jax

from flaxen.linen import Module, nowrap

from .linear import default_kernel_init as default_kernel_init


class RNNCellBase(Module):
    """RNN cell base class.

    Subclasses implement ``__call__(carry, inputs) -> (carry, outputs)``,
    :meth:`initialize_carry` and :attr:`num_feature_axes`.

    >>> import jax, jax.numpy as jnp
    >>> from flaxen import linen as nn
    >>> class Accumulate(nn.RNNCellBase):
    ...   def __call__(self, carry, x):
    ...     carry = carry + x
    ...     return carry, carry
    ...   @nn.nowrap
    ...   def initialize_carry(self, rng, input_shape):
    ...     return jnp.zeros(input_shape)
    ...   @property
    ...   def num_feature_axes(self):
    ...     return 1
    >>> nn.RNN(Accumulate()).apply({}, jnp.ones((1, 3, 2)))[0, :, 0]
    Array([1., 2., 3.], dtype=float32)
    """

    @nowrap
    def initialize_carry(self, rng: jax.Array, input_shape: tuple[int, ...]) -> Any:
        """Initialize the RNN cell carry.

        Args:
          rng: random number generator passed to the init_fn.
          input_shape: a tuple providing the shape of the input to the cell.

        Returns:
          An initialized carry for the given RNN cell.
        """
        raise NotImplementedError

    @property
    def num_feature_axes(self) -> int:
        """Returns the number of feature axes of the RNN cell."""
        raise NotImplementedError


def lstm_carry(
    carry_init: Any, rng: jax.Array, shape: tuple[int, ...], dtype: Any
) -> tuple[jax.Array, jax.Array]:
    """The ``(memory, hidden)`` pair, drawn with the two halves of ``split(rng)``."""
    if carry_init is jax.nn.initializers.zeros or carry_init is jax.nn.initializers.ones:
        # The usual zeros: the split would be traced (and discarded) on every call.
        value = carry_init(rng, shape, dtype)
        return value, value
    key_c, key_h = jax.random.split(rng)
    return carry_init(key_c, shape, dtype), carry_init(key_h, shape, dtype)
