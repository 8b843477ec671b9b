"""Single-state cells: ``GRUCell``, ``MGUCell`` and ``SimpleCell``.

Their carry is one array, the hidden state, drawn with the key given to
``initialize_carry`` itself. Projections are ``Dense`` submodules named after
the gate (``ir``/``hr``, ...), created in Flax's order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from flaxen.linen import compact, nowrap

from . import initializers
from ._cell_base import RNNCellBase, default_kernel_init
from ._initializers import Initializer
from .dtypes import Dtype
from .linear import Dense

Array = jax.Array


class GRUCell(RNNCellBase):
    r"""GRU cell.

    The mathematical definition of the cell is as follows

    .. math::
        \begin{array}{ll}
        r = \sigma(W_{ir} x + b_{ir} + W_{hr} h) \\
        z = \sigma(W_{iz} x + b_{iz} + W_{hz} h) \\
        n = \tanh(W_{in} x + b_{in} + r * (W_{hn} h + b_{hn})) \\
        h' = (1 - z) * n + z * h \\
        \end{array}

    where x is the input and h is the output of the previous time step.

    >>> import jax, jax.numpy as jnp
    >>> from flaxen import linen as nn
    >>> x = jax.random.normal(jax.random.key(0), (2, 3))
    >>> layer = nn.GRUCell(features=4)
    >>> carry = layer.initialize_carry(jax.random.key(1), x.shape)
    >>> variables = layer.init(jax.random.key(2), carry, x)
    >>> new_carry, out = layer.apply(variables, carry, x)
    >>> bool((new_carry == out).all()), out.shape
    (True, (2, 4))

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
      dtype: the dtype of the computation (default: None).
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
    def __call__(self, carry: Array, inputs: Array) -> tuple[Array, Array]:
        """Gated recurrent unit (GRU) cell.

        Args:
          carry: the hidden state of the GRU cell,
            initialized using ``GRUCell.initialize_carry``.
          inputs: an ndarray with the input for the current time step.
            All dimensions except the final are considered batch dimensions.

        Returns:
          A tuple with the new carry and the output.
        """
        h = carry
        features = h.shape[-1]
        dtype, param_dtype = self.dtype, self.param_dtype
        kernel_init, recurrent_init, bias_init = (
            self.kernel_init, self.recurrent_kernel_init, self.bias_init,
        )  # fmt: skip

        def dense_i(name: str) -> Array:
            return Dense(
                features, use_bias=True, kernel_init=kernel_init, bias_init=bias_init,
                dtype=dtype, param_dtype=param_dtype, name=name,
            )(inputs)  # fmt: skip

        def dense_h(name: str, use_bias: bool = False) -> Array:
            return Dense(
                features, use_bias=use_bias, kernel_init=recurrent_init, bias_init=bias_init,
                dtype=dtype, param_dtype=param_dtype, name=name,
            )(h)  # fmt: skip

        r = self.gate_fn(dense_i("ir") + dense_h("hr"))
        z = self.gate_fn(dense_i("iz") + dense_h("hz"))
        # The reset gate multiplies the hidden projection, bias included.
        n = self.activation_fn(dense_i("in") + r * dense_h("hn", use_bias=True))
        new_h = (1.0 - z) * n + z * h
        return new_h, new_h

    @nowrap
    def initialize_carry(self, rng: Array, input_shape: tuple[int, ...]) -> Array:
        """Initialize the RNN cell carry.

        Args:
          rng: random number generator passed to the init_fn.
          input_shape: a tuple providing the shape of the input to the cell.

        Returns:
          An initialized carry for the given RNN cell, of shape
          ``input_shape[:-1] + (features,)``.
        """
        return self.carry_init(rng, (*input_shape[:-1], self.features), self.param_dtype)

    @property
    def num_feature_axes(self) -> int:
        """Returns the number of feature axes of the RNN cell."""
        return 1


class MGUCell(RNNCellBase):
    r"""MGU cell (https://arxiv.org/pdf/1603.09420.pdf).

    The mathematical definition of the cell is as follows

    .. math::
        \begin{array}{ll}
        f = \sigma(W_{if} x + b_{if} + W_{hf} h) \\
        n = \tanh(W_{in} x + b_{in} + f * (W_{hn} h + b_{hn})) \\
        h' = (1 - f) * n + f * h \\
        \end{array}

    where x is the input and h is the output of the previous time step.

    If ``reset_gate`` is false, the above becomes

    .. math::
        \begin{array}{ll}
        f = \sigma(W_{if} x + b_{if} + W_{hf} h) \\
        n = \tanh(W_{in} x + b_{in} + W_{hn} h) \\
        h' = (1 - f) * n + f * h \\
        \end{array}

    >>> import jax, jax.numpy as jnp
    >>> from flaxen import linen as nn
    >>> x = jax.random.normal(jax.random.key(0), (2, 3))
    >>> layer = nn.MGUCell(features=4)
    >>> carry = layer.initialize_carry(jax.random.key(1), x.shape)
    >>> variables = layer.init(jax.random.key(2), carry, x)
    >>> new_carry, out = layer.apply(variables, carry, x)
    >>> variables['params']['if']['bias']
    Array([1., 1., 1., 1.], dtype=float32)

    Attributes:
      features: number of output features.
      gate_fn: activation function used for gates (default: sigmoid).
      activation_fn: activation function used for output and memory update
        (default: tanh).
      kernel_init: initializer function for the kernels that transform
        the input (default: lecun_normal).
      recurrent_kernel_init: initializer function for the kernels that transform
        the hidden state (default: initializers.orthogonal()).
      forget_bias_init: initializer for the bias parameters of the forget gate.
        The default is set to initializers.ones_init() because this prevents
        vanishing gradients. See https://proceedings.mlr.press/v37/jozefowicz15.pdf,
        section 2.2 for more details.
      activation_bias_init: initializer for the bias parameters of the activation
        output (default: initializers.zeros_init()).
      dtype: the dtype of the computation (default: None).
      param_dtype: the dtype passed to parameter initializers (default: float32).
      carry_init: initializer for the carry (default: initializers.zeros_init()).
      reset_gate: flag for applying reset gating.
    """

    features: int
    gate_fn: Callable[..., Any] = jax.nn.sigmoid
    activation_fn: Callable[..., Any] = jnp.tanh
    kernel_init: Initializer = default_kernel_init
    recurrent_kernel_init: Initializer = initializers.orthogonal()
    forget_bias_init: Initializer = initializers.ones_init()
    activation_bias_init: Initializer = initializers.zeros_init()
    dtype: Dtype | None = None
    param_dtype: Dtype = jnp.float32
    carry_init: Initializer = initializers.zeros_init()
    reset_gate: bool = True

    @compact
    def __call__(self, carry: Array, inputs: Array) -> tuple[Array, Array]:
        """Minimal gated unit (MGU) cell.

        Args:
          carry: the hidden state of the MGU cell,
            initialized using ``MGUCell.initialize_carry``.
          inputs: an ndarray with the input for the current time step.
            All dimensions except the final are considered batch dimensions.

        Returns:
          A tuple with the new carry and the output.
        """
        h = carry
        features = h.shape[-1]
        dtype, param_dtype = self.dtype, self.param_dtype
        kernel_init, recurrent_init = self.kernel_init, self.recurrent_kernel_init

        def dense_i(name: str, bias_init: Initializer) -> Array:
            return Dense(
                features, use_bias=True, kernel_init=kernel_init, bias_init=bias_init,
                dtype=dtype, param_dtype=param_dtype, name=name,
            )(inputs)  # fmt: skip

        def dense_h(name: str, use_bias: bool = False) -> Array:
            return Dense(
                features, use_bias=use_bias, kernel_init=recurrent_init,
                bias_init=self.activation_bias_init, dtype=dtype, param_dtype=param_dtype,
                name=name,
            )(h)  # fmt: skip

        f = self.gate_fn(dense_i("if", self.forget_bias_init) + dense_h("hf"))
        if self.reset_gate:
            hidden = dense_h("hn", use_bias=True) * f
        else:
            hidden = dense_h("hn")
        n = self.activation_fn(dense_i("in", self.activation_bias_init) + hidden)
        new_h = (1.0 - f) * n + f * h
        return new_h, new_h

    @nowrap
    def initialize_carry(self, rng: Array, input_shape: tuple[int, ...]) -> Array:
        """Initialize the RNN cell carry.

        Args:
          rng: random number generator passed to the init_fn.
          input_shape: a tuple providing the shape of the input to the cell.

        Returns:
          An initialized carry for the given RNN cell, of shape
          ``input_shape[:-1] + (features,)``.
        """
        return self.carry_init(rng, (*input_shape[:-1], self.features), self.param_dtype)

    @property
    def num_feature_axes(self) -> int:
        """Returns the number of feature axes of the RNN cell."""
        return 1


class SimpleCell(RNNCellBase):
    r"""Simple cell.

    The mathematical definition of the cell is as follows

    .. math::
        \begin{array}{ll}
        h' = \tanh(W_i x + b_i + W_h h)
        \end{array}

    where x is the input and h is the output of the previous time step.

    If `residual` is `True`,

    .. math::
        \begin{array}{ll}
        h' = \tanh(W_i x + b_i + W_h h + h)
        \end{array}

    >>> import jax, jax.numpy as jnp
    >>> from flaxen import linen as nn
    >>> x = jax.random.normal(jax.random.key(0), (2, 3))
    >>> layer = nn.SimpleCell(features=4)
    >>> carry = layer.initialize_carry(jax.random.key(1), x.shape)
    >>> variables = layer.init(jax.random.key(2), carry, x)
    >>> new_carry, out = layer.apply(variables, carry, x)
    >>> sorted(variables['params'])
    ['h', 'i']

    Attributes:
      features: number of output features.
      activation_fn: activation function used for output and memory update
        (default: tanh).
      kernel_init: initializer function for the kernels that transform
        the input (default: lecun_normal).
      recurrent_kernel_init: initializer function for the kernels that transform
        the hidden state (default: initializers.orthogonal()).
      bias_init: initializer for the bias parameters (default: initializers.zeros_init()).
      dtype: the dtype of the computation (default: None).
      param_dtype: the dtype passed to parameter initializers (default: float32).
      carry_init: initializer for the carry (default: initializers.zeros_init()).
      residual: pre-activation residual connection (https://arxiv.org/abs/1801.06105).
    """

    features: int
    activation_fn: Callable[..., Any] = jnp.tanh
    kernel_init: Initializer = default_kernel_init
    recurrent_kernel_init: Initializer = initializers.orthogonal()
    bias_init: Initializer = initializers.zeros_init()
    dtype: Dtype | None = None
    param_dtype: Dtype = jnp.float32
    carry_init: Initializer = initializers.zeros_init()
    residual: bool = False

    @compact
    def __call__(self, carry: Array, inputs: Array) -> tuple[Array, Array]:
        """Simple cell.

        Args:
          carry: the hidden state of the Simple cell,
            initialized using ``SimpleCell.initialize_carry``.
          inputs: an ndarray with the input for the current time step.
            All dimensions except the final are considered batch dimensions.

        Returns:
          A tuple with the new carry and the output.
        """
        h = carry
        features = h.shape[-1]
        x_part = Dense(
            features, use_bias=True, kernel_init=self.kernel_init, bias_init=self.bias_init,
            dtype=self.dtype, param_dtype=self.param_dtype, name="i",
        )(inputs)  # fmt: skip
        h_part = Dense(
            features, use_bias=False, kernel_init=self.recurrent_kernel_init,
            dtype=self.dtype, param_dtype=self.param_dtype, name="h",
        )(h)  # fmt: skip
        pre = x_part + h_part
        if self.residual:
            pre = pre + h
        new_h = self.activation_fn(pre)
        return new_h, new_h

    @nowrap
    def initialize_carry(self, rng: Array, input_shape: tuple[int, ...]) -> Array:
        """Initialize the RNN cell carry.

        Args:
          rng: random number generator passed to the init_fn.
          input_shape: a tuple providing the shape of the input to the cell.

        Returns:
          An initialized carry for the given RNN cell, of shape
          ``input_shape[:-1] + (features,)``.
        """
        return self.carry_init(rng, (*input_shape[:-1], self.features), self.param_dtype)

    @property
    def num_feature_axes(self) -> int:
        """Returns the number of feature axes of the RNN cell."""
        return 1
