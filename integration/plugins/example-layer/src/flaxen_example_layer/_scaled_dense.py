"""``ScaledDense``: a Dense layer followed by a learned per-feature scale."""

from flaxen import linen as nn


class ScaledDense(nn.Module):
    """``Dense(features)(x) * scale``, with ``scale`` learned per output feature.

    Attributes:
      features: the number of output features.
      scale_init: initializer of the scale (default: ones).
    """

    features: int
    scale_init: nn.initializers.Initializer = nn.initializers.ones_init()

    @nn.compact
    def __call__(self, x):
        y = nn.Dense(self.features)(x)
        scale = self.param("scale", self.scale_init, (self.features,), y.dtype)
        # Explicit broadcasting: works under jax_numpy_rank_promotion='raise'.
        return y * scale.reshape((1,) * (y.ndim - 1) + (-1,))
