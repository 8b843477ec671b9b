"""LSTM cells: ``LSTMCell``, ``OptimizedLSTMCell`` (and its ``DenseParams``), ``ConvLSTMCell``.

The gate projections are submodules named after the gate (``ii``/``hi`` for
the input gate's input and hidden projections, then ``if``/``hf``,
``ig``/``hg``, ``io``/``ho``), created in that order, so variable trees and
initial values match Flax's. Only the hidden projections have a bias.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from flaxen.linen import Module, compact, nowrap

from . import _lax_ops, initializers, linear
from ._cell_base import RNNCellBase, default_kernel_init, lstm_carry
from ._initializers import Initializer
from .dtypes import Dtype, promote_dtype
from .linear import Dense

Array = jax.Array
LSTMCarry = tuple[Array, Array]

_GATES = ("i", "f", "g", "o")


class LSTMCell(RNNCellBase):
    r"""LSTM cell.

    The mathematical definition of the cell is as follows

    .. math::
        \begin{array}{ll}
        i = \sigma(W_{ii} x + W_{hi} h + b_{hi}) \\
        f = \sigma(W_{if} x + W_{hf} h + b_{hf}) \\
        g = \tanh(W_{ig} x + W_{hg} h + b_{hg}) \\
        o = \sigma(W_{io} x + W_{ho} h + b_{ho}) \\
        c' = f * c + i * g \\
        h' = o * \tanh(c') \\
        \end{array}

    where x is the input, h is the output of the previous time step, and c is
    the memory.

    >>> import jax, jax.numpy as jnp
    >>> from flaxen import linen as nn
    >>> x = jax.random.normal(jax.random.key(0), (2, 3))
    >>> layer = nn.LSTMCell(features=4)
    >>> carry = layer.initialize_carry(jax.random.key(1), x.shape)
    >>> variables = layer.init(jax.random.key(2), carry, x)
    >>> (c, h), out = layer.apply(variables, carry, x)
    >>> c.shape, h.shape, out.shape
    ((2, 4), (2, 4), (2, 4))

    Attributes:
      features: number of output features.
      gate_fn: activation function used for gates (default: sigmoid).
      activation_fn: activation function used for output and memory update
        (default: tanh).
      kernel_init: initializer function for the kernels that transform
        the input (default: lecun_normal).
      recurrent_kernel_init: initializer function for the kernels that transform
        the hidden state (default: initializers.orthogonal()).
      bias_init: initializer for the bias parameters (default: initializers.zeros_init()).
      dtype: the dtype of the computation (default: infer from inputs and params).
      param_dtype: the dtype passed to parameter initializers (default: float32).
      carry_init: initializer for the carry (default: initializers.zeros_init()).
    """

    features: int
    gate_fn: Callable[..., Any] = jax.nn.sigmoid
    activation_fn: Callable[..., Any] = jnp.tanh
    kernel_init: Initializer = default_kernel_init
    recurrent_kernel_init: Initializer = initializers.orthogonal()
    bias_init: Initializer = initializers.zeros_init()
    dtype: Dtype | None = None
    param_dtype: Dtype = jnp.float32
    carry_init: Initializer = initializers.zeros_init()

    @compact
    def __call__(self, carry: LSTMCarry, inputs: Array) -> tuple[LSTMCarry, Array]:
        """A long short-term memory (LSTM) cell.

        Args:
          carry: the hidden state of the LSTM cell,
            initialized using ``LSTMCell.initialize_carry``.
          inputs: an ndarray with the input for the current time step.
            All dimensions except the final are considered batch dimensions.

        Returns:
          A tuple with the new carry and the output.
        """
        c, h = carry
        features = h.shape[-1]
        kernel_init, recurrent_init, bias_init = (
            self.kernel_init, self.recurrent_kernel_init, self.bias_init,
        )  # fmt: skip
        dtype, param_dtype = self.dtype, self.param_dtype
        gate_fn, activation_fn = self.gate_fn, self.activation_fn

        def gate(name: str, fn: Callable[..., Any]) -> Array:
            x_part = Dense(
                features, use_bias=False, kernel_init=kernel_init, dtype=dtype,
                param_dtype=param_dtype, name=f"i{name}",
            )(inputs)  # fmt: skip
            h_part = Dense(
                features, use_bias=True, kernel_init=recurrent_init, bias_init=bias_init,
                dtype=dtype, param_dtype=param_dtype, name=f"h{name}",
            )(h)  # fmt: skip
            return fn(x_part + h_part)

        i = gate("i", gate_fn)
        f = gate("f", gate_fn)
        g = gate("g", activation_fn)
        o = gate("o", gate_fn)
        new_c = f * c + i * g
        new_h = o * activation_fn(new_c)
        return (new_c, new_h), new_h

    @nowrap
    def initialize_carry(self, rng: Array, input_shape: tuple[int, ...]) -> LSTMCarry:
        """Initialize the RNN cell carry.

        Args:
          rng: random number generator passed to the init_fn.
          input_shape: a tuple providing the shape of the input to the cell.

        Returns:
          An initialized carry for the given RNN cell: ``(memory, hidden)``,
          each of shape ``input_shape[:-1] + (features,)``.
        """
        shape = (*input_shape[:-1], self.features)
        return lstm_carry(self.carry_init, rng, shape, self.param_dtype)

    @property
    def num_feature_axes(self) -> int:
        """Returns the number of feature axes of the RNN cell."""
        return 1


class DenseParams(Module):
    """Dummy module for creating parameters matching ``flax.linen.Dense``.

    Its ``__call__`` creates (or reads) ``kernel`` and ``bias`` like a
    ``Dense`` of the same features would and returns them, unapplied:
    ``(kernel, bias)``, with ``bias`` None when ``use_bias`` is False.
    """

    features: int
    use_bias: bool = True
    param_dtype: Dtype = jnp.float32
    precision: Any = None
    kernel_init: Initializer = default_kernel_init
    bias_init: Initializer = initializers.zeros_init()

    @compact
    def __call__(self, inputs: Array) -> tuple[Array, Array | None]:
        kernel = self.param(
            "kernel", self.kernel_init, (inputs.shape[-1], self.features), self.param_dtype
        )
        bias = None
        if self.use_bias:
            bias = self.param("bias", self.bias_init, (self.features,), self.param_dtype)
        return kernel, bias


class OptimizedLSTMCell(RNNCellBase):
    r"""More efficient LSTM Cell that concatenates state components before matmul.

    The parameters are compatible with ``LSTMCell``. Note that this cell is often
    faster than ``LSTMCell`` as long as the hidden size is roughly <= 2048 units.

    The mathematical definition of the cell is the same as ``LSTMCell`` and as
    follows

    .. math::
        \begin{array}{ll}
        i = \sigma(W_{ii} x + W_{hi} h + b_{hi}) \\
        f = \sigma(W_{if} x + W_{hf} h + b_{hf}) \\
        g = \tanh(W_{ig} x + W_{hg} h + b_{hg}) \\
        o = \sigma(W_{io} x + W_{ho} h + b_{ho}) \\
        c' = f * c + i * g \\
        h' = o * \tanh(c') \\
        \end{array}

    where x is the input, h is the output of the previous time step, and c is
    the memory.

    >>> import jax, jax.numpy as jnp
    >>> from flaxen import linen as nn
    >>> x = jax.random.normal(jax.random.key(0), (2, 3))
    >>> layer = nn.OptimizedLSTMCell(features=4)
    >>> carry = layer.initialize_carry(jax.random.key(1), x.shape)
    >>> variables = layer.init(jax.random.key(2), carry, x)
    >>> new_carry, out = layer.apply(variables, carry, x)
    >>> out.shape
    (2, 4)

    Attributes:
      features: number of output features.
      gate_fn: activation function used for gates (default: sigmoid).
      activation_fn: activation function used for output and memory update
        (default: tanh).
      kernel_init: initializer function for the kernels that transform
        the input (default: lecun_normal).
      recurrent_kernel_init: initializer function for the kernels that transform
        the hidden state (default: initializers.orthogonal()).
      bias_init: initializer for the bias parameters (default: initializers.zeros_init()).
      dtype: the dtype of the computation (default: infer from inputs and params).
      param_dtype: the dtype passed to parameter initializers (default: float32).
      carry_init: initializer for the carry (default: initializers.zeros_init()).
    """

    features: int
    gate_fn: Callable[..., Any] = jax.nn.sigmoid
    activation_fn: Callable[..., Any] = jnp.tanh
    kernel_init: Initializer = default_kernel_init
    recurrent_kernel_init: Initializer = initializers.orthogonal()
    bias_init: Initializer = initializers.zeros_init()
    dtype: Dtype | None = None
    param_dtype: Dtype = jnp.float32
    carry_init: Initializer = initializers.zeros_init()

    @compact
    def __call__(self, carry: LSTMCarry, inputs: Array) -> tuple[LSTMCarry, Array]:
        """An optimized long short-term memory (LSTM) cell.

        Args:
          carry: the hidden state of the LSTM cell, initialized using
            ``LSTMCell.initialize_carry``.
          inputs: an ndarray with the input for the current time step. All
            dimensions except the final are considered batch dimensions.

        Returns:
          A tuple with the new carry and the output.
        """
        c, h = carry
        features = h.shape[-1]
        input_kw = {"use_bias": False, "kernel_init": self.kernel_init}
        hidden_kw = {"kernel_init": self.recurrent_kernel_init, "bias_init": self.bias_init}
        param_dtype = self.param_dtype
        input_params = []
        hidden_params = []
        for name in _GATES:
            dense = DenseParams(features, param_dtype=param_dtype, name=f"i{name}", **input_kw)
            input_params.append(dense(inputs))
            dense = DenseParams(features, param_dtype=param_dtype, name=f"h{name}", **hidden_kw)
            hidden_params.append(dense(h))
        # One matmul per side instead of four; the hidden side first, as in Flax.
        hidden = _concat_dense(h, hidden_params, self.dtype)
        projected = _concat_dense(inputs, input_params, self.dtype)
        gate_fn = self.gate_fn
        i = gate_fn(hidden[0] + projected[0])
        f = gate_fn(hidden[1] + projected[1])
        g = self.activation_fn(hidden[2] + projected[2])
        o = gate_fn(hidden[3] + projected[3])
        new_c = f * c + i * g
        new_h = o * self.activation_fn(new_c)
        return (new_c, new_h), new_h

    @nowrap
    def initialize_carry(self, rng: Array, input_shape: tuple[int, ...]) -> LSTMCarry:
        """Initialize the RNN cell carry.

        Args:
          rng: random number generator passed to the init_fn.
          input_shape: a tuple providing the shape of the input to the cell.

        Returns:
          An initialized carry for the given RNN cell: ``(memory, hidden)``,
          each of shape ``input_shape[:-1] + (features,)``.
        """
        shape = (*input_shape[:-1], self.features)
        return lstm_carry(self.carry_init, rng, shape, self.param_dtype)

    @property
    def num_feature_axes(self) -> int:
        """Returns the number of feature axes of the RNN cell."""
        return 1


def _concat_dense(
    x: Array, params: list[tuple[Array, Array | None]], dtype: Dtype | None
) -> list[Array]:
    """``x`` times the four kernels side by side (plus biases), split back per gate."""
    kernel = jnp.concatenate([k for k, _ in params], axis=-1)
    if params[0][1] is None:
        x, kernel = promote_dtype(x, kernel, dtype=dtype)
        bias = None
    else:
        bias = jnp.concatenate([b for _, b in params], axis=-1)
        x, kernel, bias = promote_dtype(x, kernel, bias, dtype=dtype)
    y = lax.dot_general(
        x, kernel, (((x.ndim - 1,), (0,)), ((), ())), preferred_element_type=kernel.dtype
    )
    if bias is not None:
        y = _lax_ops.add_bias(y, bias, (1,) * (y.ndim - 1) + bias.shape)
    return jnp.split(y, len(params), axis=-1)


class ConvLSTMCell(RNNCellBase):
    r"""A convolutional LSTM cell.

    The implementation is based on xingjian2015convolutional.
    Given x_t and the previous state (h_{t-1}, c_{t-1})
    the core computes

    .. math::
       \begin{array}{ll}
       i_t = \sigma(W_{ii} * x_t + W_{hi} * h_{t-1} + b_i) \\
       f_t = \sigma(W_{if} * x_t + W_{hf} * h_{t-1} + b_f) \\
       g_t = \tanh(W_{ig} * x_t + W_{hg} * h_{t-1} + b_g) \\
       o_t = \sigma(W_{io} * x_t + W_{ho} * h_{t-1} + b_o) \\
       c_t = f_t c_{t-1} + i_t g_t \\
       h_t = o_t \tanh(c_t)
       \end{array}

    where * denotes the convolution operator; i_t, f_t, o_t are input, forget
    and output gate activations, and g_t is a vector of cell updates. The four
    gates come from two convolutions, ``ih`` (of the input) and ``hh`` (of the
    hidden state), each with ``4 * features`` filters.

    .. note::
      Forget gate initialization: following jozefowicz2015empirical, 1.0 is
      added to the forget gate's pre-activation to reduce forgetting at the
      beginning of training.

    >>> import jax, jax.numpy as jnp
    >>> from flaxen import linen as nn
    >>> x = jnp.ones((2, 4, 4, 3))  # (batch, height, width, features)
    >>> layer = nn.ConvLSTMCell(features=4, kernel_size=(3, 3))
    >>> carry = layer.initialize_carry(jax.random.key(1), x.shape)
    >>> variables = jax.jit(layer.init)(jax.random.key(2), carry, x)
    >>> new_carry, out = jax.jit(layer.apply)(variables, carry, x)
    >>> out.shape
    (2, 4, 4, 4)

    Attributes:
      features: number of convolution filters.
      kernel_size: shape of the convolutional kernel.
      strides: a sequence of ``n`` integers, representing the inter-window
        strides.
      padding: either the string ``'SAME'``, the string ``'VALID'``, or a sequence
        of ``n`` ``(low, high)`` integer pairs that give the padding to apply before
        and after each spatial dimension.
      use_bias: whether to add a bias to the output (default: True).
      dtype: the dtype of the computation (default: None).
      param_dtype: the dtype passed to parameter initializers (default: float32).
      carry_init: initializer for the carry (default: initializers.zeros_init()).
    """

    features: int
    kernel_size: Sequence[int]
    strides: Sequence[int] | None = None
    padding: str | Sequence[tuple[int, int]] = "SAME"
    use_bias: bool = True
    dtype: Dtype | None = None
    param_dtype: Dtype = jnp.float32
    carry_init: Initializer = initializers.zeros_init()

    @compact
    def __call__(self, carry: LSTMCarry, inputs: Array) -> tuple[LSTMCarry, Array]:
        """Constructs a convolutional LSTM.

        Args:
          carry: the hidden state of the ConvLSTM cell,
            initialized using ``ConvLSTMCell.initialize_carry``.
          inputs: input data with dimensions (batch, spatial_dims..., features).

        Returns:
          A tuple with the new carry and the output.
        """
        c, h = carry
        settings = dict(
            features=4 * self.features, kernel_size=self.kernel_size, strides=self.strides,
            padding=self.padding, use_bias=self.use_bias, dtype=self.dtype,
            param_dtype=self.param_dtype,
        )  # fmt: skip
        conv = linear.Conv
        gates = conv(**settings, name="ih")(inputs) + conv(**settings, name="hh")(h)
        i, g, f, o = jnp.split(gates, indices_or_sections=4, axis=-1)
        f = jax.nn.sigmoid(f + 1)
        new_c = f * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        new_h = jax.nn.sigmoid(o) * jnp.tanh(new_c)
        return (new_c, new_h), new_h

    @nowrap
    def initialize_carry(self, rng: Array, input_shape: tuple[int, ...]) -> LSTMCarry:
        """Initialize the RNN cell carry.

        Args:
          rng: random number generator passed to the init_fn.
          input_shape: a tuple providing the shape of the input to the cell.

        Returns:
          An initialized carry for the given RNN cell: ``(memory, hidden)``,
          each of shape ``input_shape[:-1] + (features,)``.
        """
        shape = (*input_shape[:-1], self.features)
        return lstm_carry(self.carry_init, rng, shape, self.param_dtype)

    @property
    def num_feature_axes(self) -> int:
        """Returns the number of feature axes of the RNN cell."""
        return len(self.kernel_size) + 1
