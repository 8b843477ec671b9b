"""Combinators: Modules built from other Modules."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ._module import Module


class Sequential(Module):
    """Applies ``layers`` in order; each receives the previous one's output.

    A layer returning a tuple passes it as positional arguments to the next,
    a dict as keyword arguments. Layers are named ``layers_0``, ``layers_1``...

    Attributes:
      layers: the modules (or plain functions) to apply in sequence.

    >>> import jax, jax.numpy as jnp
    >>> from flaxen import linen as nn
    >>> class Scale(nn.Module):
    ...   @nn.compact
    ...   def __call__(self, x):
    ...     return x * self.param('s', jax.nn.initializers.ones, ())
    >>> model = nn.Sequential([Scale(), jax.nn.relu, Scale()])
    >>> variables = model.init(jax.random.key(0), jnp.ones(2))
    >>> sorted(variables['params'])
    ['layers_0', 'layers_2']
    """

    layers: Sequence[Callable[..., Any]]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not self.layers:
            raise ValueError(f"Empty Sequential module {self.name}.")
        outputs = self.layers[0](*args, **kwargs)
        for layer in self.layers[1:]:
            if isinstance(outputs, tuple):
                outputs = layer(*outputs)
            elif isinstance(outputs, dict):
                outputs = layer(**outputs)
            else:
                outputs = layer(outputs)
        return outputs
