"""Conformance cases of the stochastic layers (Dropout)."""

from __future__ import annotations

from ._case import LayerCase, normal

_TRAIN = {"deterministic": False}
# Under x64 the Bernoulli draw samples float64 uniforms: other masks (as in Flax).
_NO_X64 = {"float64": False}

CASES = (
    LayerCase(
        "Dropout/train",
        lambda nn: nn.Dropout(0.3),
        normal(4, 3, 5),
        call_kwargs=_TRAIN,
        init_rngs=("params", "dropout"),
        apply_rngs=("dropout",),
        vmap=False,  # one key for the whole batch: per-example masks would differ
        **_NO_X64,
    ),
    LayerCase(
        "Dropout/broadcast_dims",
        lambda nn: nn.Dropout(0.5, broadcast_dims=(-1,), rng_collection="noise"),
        normal(4, 3, 5),
        call_kwargs=_TRAIN,
        init_rngs=("params", "noise"),
        apply_rngs=("noise",),
        vmap=False,
        **_NO_X64,
    ),
    LayerCase(
        "Dropout/deterministic", lambda nn: nn.Dropout(0.5, deterministic=True), normal(4, 3, 5),
    ),
)  # fmt: skip
