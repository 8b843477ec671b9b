"""``Embed``: a learned lookup table from integer ids to vectors."""

from __future__ import annotations

import jax.numpy as jnp

from flaxen.linen import Module

from . import initializers
from ._dtypes import promote_dtype
from ._typing import Array, Dtype, Initializer, PromoteDtypeFn

#: The default ``embedding_init``: variance scaling over the feature axis (normal, fan-in).
default_embed_init = initializers.variance_scaling(1.0, "fan_in", "normal", out_axis=0)


class Embed(Module):
    """Embedding Module: maps integers in ``[0, num_embeddings)`` to ``features``-vectors.

    The ``embedding`` matrix has shape ``(num_embeddings, features)``; calling
    the layer indexes it with the (integer) inputs. Negative indices count
    from the end; indices ``>= num_embeddings`` give ``nan``. With
    ``num_embeddings == 1`` the single row is broadcast to the input's shape.
    :meth:`attend` multiplies queries with the embedding matrix (weight
    sharing between an input embedding and output logits).

    >>> import jax, jax.numpy as jnp
    >>> from flaxen import linen as nn
    >>> layer = nn.Embed(num_embeddings=5, features=3)
    >>> indices = jnp.array([[0, 1, 2], [-1, -2, -3]])
    >>> variables = layer.init(jax.random.key(0), indices)
    >>> jax.tree_util.tree_map(jnp.shape, variables)
    {'params': {'embedding': (5, 3)}}
    >>> out = layer.apply(variables, indices)
    >>> out.shape
    (2, 3, 3)
    >>> bool((out[1, 0] == variables['params']['embedding'][4]).all())
    True
    >>> layer.apply(variables, jnp.ones((2, 3)), method=layer.attend).shape
    (2, 5)

    Attributes:
      num_embeddings: number of embeddings / vocab size.
      features: number of feature dimensions for each embedding.
      dtype: the dtype of the embedding vectors (default: same as embedding).
      param_dtype: the dtype passed to parameter initializers (default: float32).
      embedding_init: embedding initializer.
      promote_dtype: called as ``promote_dtype(embedding, dtype=dtype,
        inexact=False)`` in ``__call__`` and ``promote_dtype(query, embedding,
        dtype=dtype)`` in ``attend``.
    """

    num_embeddings: int
    features: int
    dtype: Dtype | None = None
    param_dtype: Dtype = jnp.float32
    embedding_init: Initializer = default_embed_init
    promote_dtype: PromoteDtypeFn = promote_dtype

    def setup(self) -> None:
        # In setup (not compact) so that ``attend`` works without ``__call__``.
        self.embedding = self.param(
            "embedding",
            self.embedding_init,
            (self.num_embeddings, self.features),
            self.param_dtype,
        )

    def __call__(self, inputs: Array) -> Array:
        """Embeds the inputs along the last dimension.

        Args:
          inputs: input data; all dimensions are batch dimensions. Must be integers.

        Returns:
          The embedded input: ``inputs.shape + (features,)``.

        Raises:
          ValueError: the inputs are not integers.
        """
        if not jnp.issubdtype(inputs.dtype, jnp.integer):
            raise ValueError("Input type must be an integer or unsigned integer.")
        (embedding,) = self.promote_dtype(self.embedding, dtype=self.dtype, inexact=False)
        if self.num_embeddings == 1:
            return jnp.broadcast_to(embedding, (*inputs.shape, self.features))
        return jnp.take(embedding, inputs, axis=0)

    def attend(self, query: Array) -> Array:
        """Attends over the embedding using a query array.

        Args:
          query: array whose last dimension equals ``features``.

        Returns:
          An array with final dimension ``num_embeddings``: the batched inner
          products of the query vectors with each embedding. Commonly used
          for weight sharing between embeddings and the logit transform in NLP
          models.
        """
        query, embedding = self.promote_dtype(query, self.embedding, dtype=self.dtype)
        return jnp.dot(query, embedding.T)
