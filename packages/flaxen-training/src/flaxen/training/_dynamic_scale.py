"""Dynamic loss scaling for mixed-precision gradients."""

import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from flaxen import struct


class DynamicScaleResult(NamedTuple):
    """What :meth:`DynamicScale.value_and_grad` returns.

    Attributes:
        dynamic_scale: the updated :class:`DynamicScale`.
        finite: whether every gradient is finite (a boolean scalar array).
        aux: the value of the function, or ``(value, aux)`` with ``has_aux``.
        grad: the gradients, unscaled.
    """

    dynamic_scale: "DynamicScale"
    finite: jax.Array | Any
    aux: Any
    grad: Any


class DynamicScale(struct.PyTreeNode):
    """Dynamic loss scaling for mixed precision gradients.

    For many models gradient computations in float16 result in numerical
    issues, because small or large gradients are flushed to zero or infinity.
    Dynamic loss scaling multiplies the loss by the largest factor for which
    the gradients do not overflow, which minimizes the risk of underflow.

    :meth:`value_and_grad` mimics ``jax.value_and_grad``: besides the value
    and the (unscaled) gradients it returns the updated ``DynamicScale`` and
    whether the gradients are finite. After ``growth_interval`` steps in a
    row with finite gradients the scale grows by ``growth_factor`` (up to the
    largest float32); after a step with non-finite gradients it shrinks by
    ``backoff_factor`` (down to ``minimum_scale``). Skip the update of a step
    whose gradients are not finite with ``jnp.where``, which (unlike a
    conditional) is efficient on accelerators.

    ``fin_steps`` and ``scale`` are pytree children, the other fields static,
    so a ``DynamicScale`` can be passed through ``jax.jit`` and kept in a
    train state.

    Attributes:
        growth_factor: how much to grow the scale after a period of finite
            gradients (default: 2.0).
        backoff_factor: how much to shrink the scale after a non-finite
            gradient (default: 0.5).
        growth_interval: after how many steps of finite gradients the scale
            should be increased (default: 2000).
        fin_steps: how many gradient steps in a row have been finite.
        scale: the current scale by which the loss is multiplied.
        minimum_scale: the minimum value that the scale can take (default:
            the smallest positive normal float32); ``None`` for no minimum.

    Example:

        >>> import jax, jax.numpy as jnp
        >>> from flaxen.training.dynamic_scale import DynamicScale
        >>> def loss_fn(p):
        ...     return jnp.asarray(p, jnp.float16) ** 2
        >>> p = jnp.array(1.0, jnp.float32)
        >>> dyn_scale = DynamicScale(growth_interval=10)
        >>> compute_grad = jax.jit(lambda ds, p: ds.value_and_grad(loss_fn)(p))
        >>> for _ in range(3):  # 65536 overflows float16: back off twice
        ...     dyn_scale, is_fin, loss, grad = compute_grad(dyn_scale, p)
        ...     p = p - jnp.where(is_fin, 0.01 * grad, 0.0)
        >>> float(dyn_scale.scale), bool(is_fin), float(grad)
        (16384.0, True, 2.0)
    """

    growth_factor: float = struct.field(pytree_node=False, default=2.0)
    backoff_factor: float = struct.field(pytree_node=False, default=0.5)
    growth_interval: int = struct.field(pytree_node=False, default=2000)
    fin_steps: int | jax.Array = 0
    scale: float | jax.Array = 65536.0
    minimum_scale: float | None = struct.field(
        pytree_node=False, default=jnp.finfo(jnp.float32).tiny
    )

    def value_and_grad(
        self,
        fun: Callable[..., Any],
        argnums: int | Sequence[int] = 0,
        has_aux: bool = False,
        axis_name: str | None = None,
    ) -> Callable[..., DynamicScaleResult]:
        """Wrapper around ``jax.value_and_grad``.

        Args:
            fun: function to be differentiated. Its arguments at positions
                specified by ``argnums`` should be arrays, scalars, or
                standard Python containers. It should return a scalar (which
                includes arrays with shape ``()`` but not arrays with shape
                ``(1,)`` etc.).
            argnums: integer or sequence of integers; which positional
                argument(s) to differentiate with respect to (default 0).
            has_aux: whether ``fun`` returns a pair where the first element is
                the output of the mathematical function to be differentiated
                and the second element is auxiliary data (default False).
            axis_name: if given, the gradients are averaged over this mapped
                axis (``jax.pmap``, ``shard_map``). Under SPMD ``jax.jit`` no
                manual synchronization is needed: XLA inserts the collectives.

        Returns:
            A function that takes the same positional arguments as ``fun`` and
            returns a :class:`DynamicScaleResult` ``(dynamic_scale, finite,
            aux, grad)``; ``aux`` is the value of ``fun`` (``(value, aux)``
            with ``has_aux``).
        """

        def grad_fn_wrapper(*args: Any) -> DynamicScaleResult:
            @functools.wraps(fun)
            def scaled_fun(*args: Any) -> tuple[Any, Any]:
                out = fun(*args)
                value, aux = out if has_aux else (out, None)
                # A Python-number scale (the default) is weakly typed: the loss
                # is scaled in its own dtype, where a float16 loss overflows.
                return value * self.scale, aux

            grad_fn = jax.value_and_grad(scaled_fun, argnums=argnums, has_aux=True)
            (scaled_value, aux), grad = grad_fn(*args)
            value = scaled_value / self.scale
            # Unscaled gradients, and the new scale, are float32 whatever the
            # dtypes of the parameters and of the scale.
            scale = jnp.asarray(self.scale, jnp.float32)
            grad = jax.tree_util.tree_map(lambda g: g / scale, grad)
            if axis_name is not None:
                grad = lax.pmean(grad, axis_name)

            finite = jnp.array(True)
            for g in jax.tree_util.tree_leaves(grad):
                finite &= jnp.all(lax.is_finite(g))

            # The new scale is computed from the scale as given (a Python float
            # multiplies in float64 before its cast), then is float32.
            grow = self.fin_steps == self.growth_interval
            fin_scale = jnp.where(
                grow & finite,
                jnp.minimum(self.scale * self.growth_factor, jnp.finfo(jnp.float32).max),
                self.scale,
            )
            inf_scale = self.scale * self.backoff_factor
            if self.minimum_scale is not None:
                inf_scale = jnp.maximum(inf_scale, self.minimum_scale)
            new_scale = jnp.where(finite, fin_scale, inf_scale)
            new_fin_steps = jnp.where(grow | ~finite, 0, self.fin_steps + 1)

            new_self = self.replace(fin_steps=new_fin_steps, scale=new_scale)
            return DynamicScaleResult(new_self, finite, (value, aux) if has_aux else value, grad)

        return grad_fn_wrapper
