"""Conformance cases of the normalization layers."""

from __future__ import annotations

from ._case import LayerCase, normal

_X = normal(4, 3, 6)
_TRAIN = {"use_running_average": False}


def _dense(nn):
    return nn.Dense(3)


def _conv(nn):
    return nn.Conv(3, (2,))


CASES = (
    LayerCase("LayerNorm/default", lambda nn: nn.LayerNorm(), _X),
    LayerCase(
        "LayerNorm/axes_slow_variance",
        lambda nn: nn.LayerNorm(reduction_axes=(1, 2), feature_axes=(-1,), use_fast_variance=False),
        _X,
    ),
    LayerCase("RMSNorm/default", lambda nn: nn.RMSNorm(), _X),
    LayerCase("GroupNorm/groups", lambda nn: nn.GroupNorm(num_groups=2), normal(2, 3, 4, 6)),
    LayerCase(
        "GroupNorm/group_size",
        lambda nn: nn.GroupNorm(num_groups=None, group_size=3, use_scale=False),
        _X,
    ),
    LayerCase(
        "InstanceNorm/feature_axes", lambda nn: nn.InstanceNorm(feature_axes=(1, -1)), _X,
    ),
    LayerCase(
        "BatchNorm/train",
        lambda nn: nn.BatchNorm(momentum=0.9),
        normal(8, 3, scale=2.0),
        call_kwargs=_TRAIN,
        mutable=("batch_stats",),
        vmap=False,  # batch statistics mix the examples
    ),
    LayerCase(
        "BatchNorm/train_axes_slow_variance",
        lambda nn: nn.BatchNorm(use_running_average=False, axis=(1, 2), use_fast_variance=False),
        _X,
        mutable=("batch_stats",),
        vmap=False,
    ),
    LayerCase(
        "BatchNorm/eval", lambda nn: nn.BatchNorm(use_running_average=True, epsilon=1e-3), _X,
    ),
    LayerCase(
        "SpectralNorm/dense",
        lambda nn: nn.SpectralNorm(_dense(nn), n_steps=2),
        normal(2, 5),
        call_kwargs={"update_stats": True},
        mutable=("batch_stats",),
        dtype_fields=(),  # the wrapped layer keeps its own dtypes
    ),
    LayerCase(
        "SpectralNorm/conv_no_update",
        lambda nn: nn.SpectralNorm(_conv(nn), collection_name="spectral"),
        normal(2, 5, 4),
        call_kwargs={"update_stats": False},
        dtype_fields=(),
    ),
    LayerCase(
        "WeightNorm/conv_all_variables",
        lambda nn: nn.WeightNorm(_conv(nn), variable_filter=None, feature_axes=None),
        normal(2, 5, 4),
        dtype_fields=(),
    ),
)  # fmt: skip
