"""``Dropout``: randomly zeroes inputs while training."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax import lax

from flaxen.linen import Module, compact, merge_param

Array = jax.Array


class Dropout(Module):
    """Dropout (https://jmlr.org/papers/v15/srivastava14a.html).

    While training (``deterministic=False``) each input is zeroed with
    probability ``rate`` and the others are scaled by ``1 / (1 - rate)``, so
    the expected value is unchanged; with ``deterministic=True`` the inputs
    are returned as they are. The key comes from the ``'dropout'`` stream
    (``rng_collection``), so pass ``rngs={'dropout': key}`` to ``apply``:

    >>> import jax, jax.numpy as jnp
    >>> from flaxen import linen as nn
    >>> layer = nn.Dropout(rate=0.5)
    >>> x = jnp.ones((2, 4))
    >>> layer.apply({}, x, deterministic=True)
    Array([[1., 1., 1., 1.],
           [1., 1., 1., 1.]], dtype=float32)
    >>> y = layer.apply({}, x, deterministic=False, rngs={'dropout': jax.random.key(0)})
    >>> bool(jnp.all((y == 0) | (y == 2)))
    True

    Attributes:
      rate: the probability of dropping an input (not the keep rate).
      broadcast_dims: axes that share one mask value (e.g. ``(-2,)`` drops
        whole feature maps).
      deterministic: return the inputs unchanged; may be given here or when
        calling (exactly once).
      rng_collection: the PRNG stream the mask is drawn from.
    """

    rate: float
    broadcast_dims: Sequence[int] = ()
    deterministic: bool | None = None
    rng_collection: str = "dropout"

    @compact
    def __call__(
        self,
        inputs: Array,
        deterministic: bool | None = None,
        rng: Array | None = None,
    ) -> Array:
        """Applies dropout to ``inputs``.

        Args:
          inputs: the input.
          deterministic: return the inputs unchanged (if not given as an
            attribute).
          rng: a key for the mask; by default drawn from ``rng_collection``.

        Returns:
          The input with dropout applied.
        """
        deterministic = merge_param("deterministic", self.deterministic, deterministic)
        if self.rate == 0.0 or deterministic:
            return inputs
        # A keep probability of 0 would divide by zero: the answer is zeros.
        if self.rate == 1.0:
            return jnp.zeros_like(inputs)
        keep_prob = 1.0 - self.rate
        if rng is None:
            rng = self.make_rng(self.rng_collection)
        mask_shape = list(jnp.shape(inputs))
        for dim in self.broadcast_dims:
            mask_shape[dim] = 1
        mask = jax.random.bernoulli(rng, p=keep_prob, shape=mask_shape)
        mask = jnp.broadcast_to(mask, jnp.shape(inputs))
        return lax.select(mask, inputs / keep_prob, jnp.zeros_like(inputs))
