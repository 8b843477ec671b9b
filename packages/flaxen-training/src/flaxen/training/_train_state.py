"""TrainState: step, parameters, optimizer and its state in one pytree."""

from collections.abc import Callable
from typing import Any, Self

import jax
import optax

from flaxen import struct
from flaxen.core.frozen_dict import FrozenDict

OVERWRITE_WITH_GRADIENT = "_overwrite_with_gradient"
"""Key of a ``params`` collection that is replaced by its gradient, not optimized.

When the gradients passed to :meth:`TrainState.apply_gradients` (and the
``params`` given to :meth:`TrainState.create`) hold this key, the optimizer
only sees their ``'params'`` entry, and the new parameters are
``{'params': <optimized>, OVERWRITE_WITH_GRADIENT: <its gradient>}``. Layers
that keep running statistics in their "gradient" (FP8 scaling factors, for
example) use it.
"""


def _has_overwrite(tree: Any) -> bool:
    # Only mappings can hold the key; arrays (whose ``in`` compares values)
    # and other leaves are plain parameter trees.
    return hasattr(tree, "keys") and OVERWRITE_WITH_GRADIENT in tree


class TrainState(struct.PyTreeNode):
    """Simple train state for the common case with a single Optax optimizer.

    Synopsis::

        state = TrainState.create(
            apply_fn=model.apply,
            params=variables['params'],
            tx=tx)
        grad_fn = jax.grad(make_loss_fn(state.apply_fn))
        for batch in data:
            grads = grad_fn(state.params, batch)
            state = state.apply_gradients(grads=grads)

    ``TrainState`` is a :class:`flaxen.struct.PyTreeNode`: ``step``,
    ``params`` and ``opt_state`` are pytree children (traced under ``jax.jit``,
    mapped by ``jax.pmap``, saved in checkpoints), while ``apply_fn`` and
    ``tx`` are static fields. Extend it by subclassing, e.g. to carry more
    variable collections::

        class TrainState(train_state.TrainState):
            batch_stats: Any

        state = TrainState.create(apply_fn=..., params=..., tx=..., batch_stats=...)

    For more exotic use cases (e.g. multiple optimizers) it is probably best
    to fork the class and modify it.

    Attributes:
        step: counter that starts at 0 and is incremented by every call to
            :meth:`apply_gradients`.
        apply_fn: usually ``model.apply``; kept here so the training step
            takes a single ``state`` argument.
        params: the parameters to be updated by ``tx`` and used by ``apply_fn``.
        tx: an Optax gradient transformation.
        opt_state: the state of ``tx``.

    Example:

        >>> import jax, jax.numpy as jnp, optax
        >>> from flaxen.training import train_state
        >>> def apply_fn(variables, x):
        ...     return x @ variables['params']['w']
        >>> state = train_state.TrainState.create(
        ...     apply_fn=apply_fn, params={'w': jnp.ones((2, 1))}, tx=optax.sgd(0.1))
        >>> @jax.jit
        ... def train_step(state, x, y):
        ...     def loss_fn(params):
        ...         return jnp.mean((state.apply_fn({'params': params}, x) - y) ** 2)
        ...     grads = jax.grad(loss_fn)(state.params)
        ...     return state.apply_gradients(grads=grads)
        >>> state = train_step(state, jnp.ones((4, 2)), jnp.zeros((4, 1)))
        >>> state.step
        Array(1, dtype=int32, weak_type=True)
        >>> state.params['w'].ravel()
        Array([0.6, 0.6], dtype=float32)
    """

    step: int | jax.Array
    apply_fn: Callable[..., Any] = struct.field(pytree_node=False)
    params: FrozenDict[str, Any] = struct.field(pytree_node=True)
    tx: optax.GradientTransformation = struct.field(pytree_node=False)
    opt_state: optax.OptState = struct.field(pytree_node=True)

    def apply_gradients(self, *, grads: Any, **kwargs: Any) -> Self:
        """Updates ``step``, ``params``, ``opt_state`` and ``**kwargs`` in return value.

        Internally calls ``self.tx.update(grads, self.opt_state, self.params)``
        followed by :func:`optax.apply_updates`.

        Args:
            grads: gradients that have the same pytree structure as ``.params``.
            **kwargs: additional dataclass attributes that should be
                ``.replace()``-ed, e.g. ``batch_stats=new_batch_stats``.

        Returns:
            An updated instance of ``self`` with ``step`` incremented by one,
            ``params`` and ``opt_state`` updated by applying ``grads``, and
            additional attributes replaced as specified by ``kwargs``.
        """
        overwrite = _has_overwrite(grads)
        if overwrite:
            grads_with_opt = grads["params"]
            params_with_opt = self.params["params"]
        else:
            grads_with_opt = grads
            params_with_opt = self.params

        updates, new_opt_state = self.tx.update(grads_with_opt, self.opt_state, params_with_opt)
        new_params_with_opt = optax.apply_updates(params_with_opt, updates)

        if overwrite:
            new_params = {
                "params": new_params_with_opt,
                OVERWRITE_WITH_GRADIENT: grads[OVERWRITE_WITH_GRADIENT],
            }
        else:
            new_params = new_params_with_opt
        return self.replace(
            step=self.step + 1,
            params=new_params,
            opt_state=new_opt_state,
            **kwargs,
        )

    @classmethod
    def create(
        cls,
        *,
        apply_fn: Callable[..., Any],
        params: Any,
        tx: optax.GradientTransformation,
        **kwargs: Any,
    ) -> Self:
        """Creates a new instance with ``step=0`` and initialized ``opt_state``.

        Args:
            apply_fn: usually ``model.apply``.
            params: the parameters to optimize.
            tx: an Optax gradient transformation; ``opt_state`` is
                ``tx.init(params)``.
            **kwargs: values of the fields a subclass adds.

        Returns:
            The new train state.
        """
        params_with_opt = params["params"] if _has_overwrite(params) else params
        opt_state = tx.init(params_with_opt)
        return cls(
            step=0,
            apply_fn=apply_fn,
            params=params,
            tx=tx,
            opt_state=opt_state,
            **kwargs,
        )
