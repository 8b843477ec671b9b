"""``SpectralNorm`` and ``WeightNorm``: wrappers that re-parametrize another layer's weights.

Both run the wrapped ``layer_instance`` under ``nn.map_variables``, so the
layer sees normalized weights while its own parameters stay where they
would be without the wrapper. The extra state of each weight lives in the
wrapper's scope under a flat name made of the layer's name and the weight's
path, e.g. ``'layer_instance/kernel/u'`` or ``'Dense_0/kernel/scale'``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from flaxen.linen import Module, compact, map_variables

from ._dtypes import Dtype, canonicalize_dtype
from ._initializers import Initializer
from ._norm_stats import canonicalize_axes

Array = jax.Array


def _l2_normalize(x: Array, axis: Any, eps: float) -> Array:
    return x * lax.rsqrt(jnp.sum(x * x, axis=axis, keepdims=True) + eps)


def _path_name(prefix: str | None, path: tuple[Any, ...]) -> str:
    # ``path`` starts with the collection; the name leaves it out.
    return "/".join([str(prefix), *(str(getattr(k, "key", k)) for k in path[1:])])


class SpectralNorm(Module):
    """Spectral normalization of a layer's weights (https://arxiv.org/abs/1802.05957).

    Every weight of ``layer_instance`` with more than one dimension is
    divided by its largest singular value, estimated by ``n_steps`` steps of
    power iteration (weights with more than two dimensions are first
    reshaped to ``(-1, shape[-1])``). The iteration vector ``u`` and the
    estimate ``sigma`` are kept in ``collection_name`` (``batch_stats`` by
    default) and updated when ``update_stats`` is True, which then requires
    that collection to be mutable.

    >>> import jax, jax.numpy as jnp
    >>> from flaxen import linen as nn
    >>> layer = nn.SpectralNorm(nn.Dense(3))
    >>> x = jnp.ones((2, 4))
    >>> variables = layer.init(jax.random.key(0), x, update_stats=True)
    >>> jax.tree_util.tree_map(jnp.shape, variables)['batch_stats']
    {'layer_instance/kernel/sigma': (), 'layer_instance/kernel/u': (1, 3)}
    >>> y, updates = layer.apply(variables, x, update_stats=True, mutable=['batch_stats'])
    >>> y.shape
    (2, 3)

    Attributes:
      layer_instance: the layer whose weights are normalized.
      n_steps: power-iteration steps per call (no normalization when < 1).
      epsilon: added under the square roots of the iteration's normalizations.
      dtype: the dtype of the normalized weights (default: unchanged).
      param_dtype: the dtype of the initial ``u`` and ``sigma``.
      error_on_non_matrix: raise instead of reshaping weights of more than two
        dimensions.
      collection_name: the collection holding ``u`` and ``sigma``.
    """

    layer_instance: Module
    n_steps: int = 1
    epsilon: float = 1e-12
    dtype: Dtype | None = None
    param_dtype: Dtype = jnp.float32
    error_on_non_matrix: bool = False
    collection_name: str = "batch_stats"

    @compact
    def __call__(self, *args: Any, update_stats: bool, **kwargs: Any) -> Any:
        """Calls ``layer_instance(*args, **kwargs)`` with spectrally normalized weights.

        Args:
          *args: positional arguments of the layer.
          update_stats: store the new ``u`` and ``sigma``.
          **kwargs: keyword arguments of the layer.

        Returns:
          The layer's output.
        """
        prefix = self.layer_instance.name

        def normalize_all(variables: Any) -> Any:
            return jax.tree_util.tree_map_with_path(
                lambda path, value: self._spectral_normalize(
                    _path_name(prefix, path), value, update_stats
                ),
                variables,
            )

        return map_variables(
            lambda layer: layer(*args, **kwargs),
            trans_in_fn=normalize_all,
            init=self.is_initializing(),
            mutable=True,
        )(self.layer_instance)

    def _spectral_normalize(self, name: str, value: Any, update_stats: bool) -> Array:
        value = jnp.asarray(value)
        shape = value.shape
        if value.ndim <= 1 or self.n_steps < 1:
            return value
        if value.ndim > 2:
            if self.error_on_non_matrix:
                raise ValueError(f"Input is {value.ndim}D but error_on_non_matrix is True")
            value = jnp.reshape(value, (-1, shape[-1]))

        def init_u() -> Array:
            key = self.make_rng("params")
            return jax.random.normal(key, (1, value.shape[-1]), self.param_dtype)

        u_var = self.variable(self.collection_name, name + "/u", init_u)
        sigma_var = self.variable(
            self.collection_name, name + "/sigma", jnp.ones, (), self.param_dtype
        )
        u = u_var.value
        v = None
        for _ in range(self.n_steps):
            v = _l2_normalize(jnp.matmul(u, jnp.transpose(value)), None, self.epsilon)
            u = _l2_normalize(jnp.matmul(v, value), None, self.epsilon)
        u = lax.stop_gradient(u)
        v = lax.stop_gradient(v)
        sigma = jnp.squeeze(jnp.matmul(jnp.matmul(v, value), jnp.transpose(u)), (0, 1))
        value = value / jnp.where(sigma != 0, sigma, 1)
        value = jnp.reshape(value, shape)
        if update_stats:
            u_var.value = u
            sigma_var.value = sigma
        return jnp.asarray(value, self.dtype)


class WeightNorm(Module):
    """Weight normalization of a layer's weights (https://arxiv.org/abs/1602.07868).

    Each selected weight ``w`` of ``layer_instance`` is replaced by
    ``scale * w / ||w||``, the norm taken over every axis but
    ``feature_axes``; ``scale`` is a parameter of this module named after the
    weight (``'layer_instance/kernel/scale'``). ``variable_filter`` selects
    the weights whose path (``'layer_instance/Dense_0/kernel'``) contains one
    of its strings; an empty or None filter selects every variable.

    >>> import jax, jax.numpy as jnp
    >>> from flaxen import linen as nn
    >>> layer = nn.WeightNorm(nn.Dense(3))
    >>> x = jnp.ones((2, 4))
    >>> variables = layer.init(jax.random.key(0), x)
    >>> jax.tree_util.tree_map(jnp.shape, variables)['params']
    {'layer_instance': {'bias': (3,), 'kernel': (4, 3)}, 'layer_instance/kernel/scale': (3,)}
    >>> layer.apply(variables, x).shape
    (2, 3)

    Attributes:
      layer_instance: the layer whose weights are normalized.
      epsilon: added to the squared norm before the square root.
      dtype: the dtype of the normalized weights (default: inferred from the
        weight and ``scale``).
      param_dtype: the dtype of ``scale``.
      use_scale: multiply by a learned ``scale`` (else the norm is fixed to 1).
      scale_init: initializer of ``scale``.
      feature_axes: the axes of each weight that keep separate norms (None:
        one norm for the whole weight).
      variable_filter: substrings selecting the weights to normalize.
    """

    layer_instance: Module
    epsilon: float = 1e-12
    dtype: Dtype | None = None
    param_dtype: Dtype = jnp.float32
    use_scale: bool = True
    scale_init: Initializer = jax.nn.initializers.ones
    feature_axes: int | Sequence[int] | None = -1
    variable_filter: Iterable[str] | None = dataclasses.field(default_factory=lambda: {"kernel"})

    @compact
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Calls ``layer_instance(*args, **kwargs)`` with weight-normalized weights.

        Args:
          *args: positional arguments of the layer.
          **kwargs: keyword arguments of the layer.

        Returns:
          The layer's output.
        """
        prefix = self.layer_instance.name

        def normalize_all(variables: Any) -> Any:
            return jax.tree_util.tree_map_with_path(
                lambda path, value: self._weight_normalize(_path_name(prefix, path), value),
                variables,
            )

        return map_variables(
            lambda layer: layer(*args, **kwargs),
            trans_in_fn=normalize_all,
            init=self.is_initializing(),
        )(self.layer_instance)

    def _weight_normalize(self, name: str, weight: Any) -> Array:
        value = jnp.asarray(weight)
        if self.variable_filter and not any(f in name for f in self.variable_filter):
            return value
        feature_axes = (
            () if self.feature_axes is None else canonicalize_axes(value.ndim, self.feature_axes)
        )
        reduction_axes = tuple(i for i in range(value.ndim) if i not in feature_axes)
        normalized = _l2_normalize(value, reduction_axes, self.epsilon)
        scale = None
        if self.use_scale:
            scale = self.param(
                name + "/scale",
                self.scale_init,
                tuple(value.shape[ax] for ax in feature_axes),
                self.param_dtype,
            )
            keepdims_shape = [1] * value.ndim
            for ax in feature_axes:
                keepdims_shape[ax] = value.shape[ax]
            normalized = normalized * jnp.reshape(scale, keepdims_shape)
        dtype = canonicalize_dtype(weight, scale, dtype=self.dtype)
        return jnp.asarray(normalized, dtype)
