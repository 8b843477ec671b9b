"""``tabulate`` and ``summarize``: the public entry points."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from flaxen.core import DenyList

from . import _table
from ._collect import collect
from ._rows import Table, build_table

_EMPTY: Mapping[str, Any] = MappingProxyType({})
#: By default ``init`` may create every collection but ``intermediates``.
DEFAULT_MUTABLE = DenyList("intermediates")
_INIT_KWARGS = ("method", "capture_intermediates")
#: Set to ``0`` to trace every Module call even when an identical one was
#: traced before (see :mod:`flaxen.tabulate._reuse`).
REUSE_ENV = "FLAXEN_TABULATE_REUSE"


def _reuse_default() -> bool:
    return os.environ.get(REUSE_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def summarize(
    module: Any,
    rngs: Any,
    *args: Any,
    depth: int | None = None,
    show_repeated: bool = False,
    mutable: Any = DEFAULT_MUTABLE,
    compute_flops: bool = False,
    compute_vjp_flops: bool = False,
    method: Callable[..., Any] | str | None = None,
    capture_intermediates: bool | Callable[..., bool] = False,
    reuse: bool | None = None,
    **kwargs: Any,
) -> Table:
    """The rows of ``module.tabulate`` as data: a :class:`Table` of :class:`Row` s.

    Runs ``module.init(rngs, *args, **kwargs)`` under ``jax.eval_shape``
    (nothing is computed or allocated unless FLOPs are asked for) and records
    each Module call.

    Args:
      module: the Module to summarize.
      rngs: the rngs for ``Module.init`` (a key or a dict of keys).
      *args: the inputs (arrays, or ``jax.ShapeDtypeStruct`` s).
      depth: how many submodule levels to show; a hidden submodule's
        variables count in the row of its shown ancestor. None: all.
      show_repeated: show every call of a Module, not only the first.
      mutable: the collections ``init`` may create (by default all but
        ``intermediates``).
      compute_flops: compile each call to get its FLOPs from XLA.
      compute_vjp_flops: compile each call's VJP to get its FLOPs.
      method: the method to summarize (default ``__call__``).
      capture_intermediates: passed to ``init``.
      reuse: replay a call identical to an earlier one (same class, fields,
        inputs) instead of tracing it again; by default on unless
        ``FLAXEN_TABULATE_REUSE=0``. See :mod:`flaxen.tabulate._reuse`.
      **kwargs: keyword arguments of the call.

    Returns:
      The :class:`Table` (rows in call order).

    >>> import jax, jax.numpy as jnp
    >>> from flaxen import linen as nn
    >>> from flaxen.tabulate import summarize
    >>> class Affine(nn.Module):
    ...   @nn.compact
    ...   def __call__(self, x):
    ...     return x @ self.param('w', jax.nn.initializers.ones, (x.shape[-1], 3))
    >>> table = summarize(Affine(), jax.random.key(0), jnp.ones((2, 4)))
    >>> [(row.path, type(row.module_copy).__name__) for row in table]
    [((), 'Affine')]
    >>> table[0].size_and_bytes(table.collections)
    {'params': (12, 48)}
    """
    init_kwargs = {"method": method, "capture_intermediates": capture_intermediates}
    calls, variables = collect(
        module, rngs, args, kwargs, mutable=mutable, init_kwargs=init_kwargs,
        compute_flops=compute_flops, compute_vjp_flops=compute_vjp_flops,
        reuse=_reuse_default() if reuse is None else reuse,
    )  # fmt: skip
    return build_table(module, calls, variables, depth, show_repeated)


def render(
    table: Table,
    *,
    compute_flops: bool = False,
    compute_vjp_flops: bool = False,
    console_kwargs: Mapping[str, Any] | None = None,
    table_kwargs: Mapping[str, Any] = _EMPTY,
    column_kwargs: Mapping[str, Any] = _EMPTY,
) -> str:
    """``table`` as the text ``Module.tabulate`` returns."""
    text = _table.render_text(
        table, compute_flops, compute_vjp_flops, console_kwargs, table_kwargs, column_kwargs
    )
    return "\n" + text + "\n"


def tabulate(
    module: Any,
    rngs: Any,
    depth: int | None = None,
    show_repeated: bool = False,
    mutable: Any = DEFAULT_MUTABLE,
    console_kwargs: Mapping[str, Any] | None = None,
    table_kwargs: Mapping[str, Any] = _EMPTY,
    column_kwargs: Mapping[str, Any] = _EMPTY,
    compute_flops: bool = False,
    compute_vjp_flops: bool = False,
    **kwargs: Any,
) -> Callable[..., str]:
    """A function of the inputs that returns a table summarizing ``module``.

    ``nn.tabulate(module, rngs, ...)(*args, **kwargs)`` is
    ``module.tabulate(rngs, *args, ...)``: a rich table with a row per
    Module call (path, class, inputs, outputs, FLOPs if asked, and one
    column per variable collection), totals, and the total parameter count.
    ``init`` runs under ``jax.eval_shape``: no FLOPs are spent and nothing is
    compiled unless ``compute_flops``/``compute_vjp_flops``.

    Args:
      module: the Module to summarize.
      rngs: the rngs for ``Module.init``.
      depth: how many submodule levels to show (None: all); a hidden
        submodule's variables count in its shown ancestor's row.
      show_repeated: show every call of a Module, not only the first.
      mutable: the collections ``init`` may create (default: all but
        ``intermediates``).
      console_kwargs: passed to ``rich.console.Console`` (e.g. ``{'width': 120}``);
        Flax's defaults ``force_terminal=True, force_jupyter=False`` apply.
      table_kwargs: passed to ``rich.table.Table``.
      column_kwargs: passed to ``rich.table.Table.add_column``.
      compute_flops: add a ``flops`` column (compiles each call).
      compute_vjp_flops: add a ``vjp_flops`` column (compiles each call's VJP).
      **kwargs: passed to ``Module.init`` (``method``, ...).

    Returns:
      ``fn(*args, **kwargs) -> str``; ``method`` and ``capture_intermediates``
      among its keyword arguments go to ``init`` too.

    >>> import jax, jax.numpy as jnp
    >>> from flaxen import linen as nn
    >>> class Dense(nn.Module):
    ...   features: int
    ...   @nn.compact
    ...   def __call__(self, x):
    ...     w = self.param('kernel', jax.nn.initializers.lecun_normal(),
    ...                    (x.shape[-1], self.features))
    ...     return x @ w
    >>> class Foo(nn.Module):
    ...   @nn.compact
    ...   def __call__(self, x):
    ...     h = Dense(4)(x)
    ...     return Dense(2)(h)
    >>> tabulate_fn = nn.tabulate(Foo(), jax.random.key(0),
    ...                           console_kwargs={'force_terminal': False})
    >>> print(tabulate_fn(jnp.ones((16, 9))))  # doctest: +NORMALIZE_WHITESPACE
    <BLANKLINE>
                                Foo Summary
    ┏━━━━━━━━━┳━━━━━━━━┳━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━┓
    ┃ path    ┃ module ┃ inputs        ┃ outputs       ┃ params               ┃
    ┡━━━━━━━━━╇━━━━━━━━╇━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━┩
    │         │ Foo    │ float32[16,9] │ float32[16,2] │                      │
    ├─────────┼────────┼───────────────┼───────────────┼──────────────────────┤
    │ Dense_0 │ Dense  │ float32[16,9] │ float32[16,4] │ kernel: float32[9,4] │
    │         │        │               │               │                      │
    │         │        │               │               │ 36 (144 B)           │
    ├─────────┼────────┼───────────────┼───────────────┼──────────────────────┤
    │ Dense_1 │ Dense  │ float32[16,4] │ float32[16,2] │ kernel: float32[4,2] │
    │         │        │               │               │                      │
    │         │        │               │               │ 8 (32 B)             │
    ├─────────┼────────┼───────────────┼───────────────┼──────────────────────┤
    │         │        │               │         Total │ 44 (176 B)           │
    └─────────┴────────┴───────────────┴───────────────┴──────────────────────┘
    <BLANKLINE>
                          Total Parameters: 44 (176 B)
    <BLANKLINE>
    <BLANKLINE>
    """
    options = dict(
        depth=depth, show_repeated=show_repeated, mutable=mutable,
        compute_flops=compute_flops, compute_vjp_flops=compute_vjp_flops,
    )  # fmt: skip

    def tabulate_fn(*args: Any, **call_kwargs: Any) -> str:
        init_kwargs = dict(kwargs)
        for name in _INIT_KWARGS:
            if name in call_kwargs:
                init_kwargs[name] = call_kwargs.pop(name)
        table = summarize(module, rngs, *args, **options, **init_kwargs, **call_kwargs)
        return render(
            table, compute_flops=compute_flops, compute_vjp_flops=compute_vjp_flops,
            console_kwargs=console_kwargs, table_kwargs=table_kwargs,
            column_kwargs=column_kwargs,
        )  # fmt: skip

    return tabulate_fn
