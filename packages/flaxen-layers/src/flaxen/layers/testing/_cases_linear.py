"""Conformance cases of the linear layers (Dense, DenseGeneral, Conv*, Embed, Einsum)."""

from __future__ import annotations

import jax.numpy as jnp

from ._case import LayerCase, integers, normal

CASES = (
    LayerCase("Dense/default", lambda nn: nn.Dense(4), normal(2, 3)),
    LayerCase("Dense/no_bias", lambda nn: nn.Dense(4, use_bias=False), normal(2, 3)),
    LayerCase("Dense/rank3", lambda nn: nn.Dense(4, precision="highest"), normal(2, 5, 3)),
    LayerCase(
        "Dense/partitioned",
        lambda nn: nn.Dense(
            4, kernel_init=nn.with_partitioning(nn.initializers.lecun_normal(), (None, "model"))
        ),
        normal(2, 3),
    ),
    LayerCase("DenseGeneral/default", lambda nn: nn.DenseGeneral(4), normal(2, 3)),
    LayerCase(
        "DenseGeneral/two_axes",
        lambda nn: nn.DenseGeneral((2, 3), axis=(-2, -1)),
        normal(2, 4, 5),
    ),
    LayerCase(
        "DenseGeneral/batch_dims",
        lambda nn: nn.DenseGeneral(3, axis=-1, batch_dims=(0,)),
        normal(2, 4, 5),
        vmap=False,  # batch_dims gives every example its own kernel slice
    ),
    LayerCase(
        "DenseGeneral/middle_axis_no_bias",
        lambda nn: nn.DenseGeneral((2, 2), axis=1, use_bias=False),
        normal(2, 4, 5),
    ),
    LayerCase("Conv/same", lambda nn: nn.Conv(4, (3,)), normal(2, 6, 3)),
    LayerCase("Conv/valid_2d", lambda nn: nn.Conv(4, (3, 2), padding="VALID"), normal(2, 5, 4, 3)),
    LayerCase("Conv/circular", lambda nn: nn.Conv(4, (4,), padding="CIRCULAR"), normal(2, 6, 3)),
    LayerCase(
        "Conv/causal_dilated",
        lambda nn: nn.Conv(4, (3,), padding="CAUSAL", kernel_dilation=2),
        normal(2, 7, 3),
    ),
    LayerCase(
        "Conv/explicit_pads_strided",
        lambda nn: nn.Conv(4, (3, 3), strides=(2, 1), padding=((1, 2), 1)),
        normal(2, 5, 5, 2),
    ),
    LayerCase(
        "Conv/int_padding_input_dilation",
        lambda nn: nn.Conv(2, (3,), padding=1, input_dilation=2),
        normal(2, 5, 3),
    ),
    LayerCase(
        "Conv/groups_no_bias",
        lambda nn: nn.Conv(4, (3,), feature_group_count=2, use_bias=False),
        normal(2, 6, 4),
    ),
    LayerCase(
        "Conv/mask",
        lambda nn: nn.Conv(3, (3,), mask=jnp.ones((3, 2, 3)).at[2].set(0.0)),
        normal(2, 6, 2),
    ),
    LayerCase("Conv/unbatched", lambda nn: nn.Conv(3, (3,)), normal(6, 2), vmap=False),
    LayerCase("Conv/two_batch_axes", lambda nn: nn.Conv(3, (2,)), normal(2, 3, 5, 2)),
    LayerCase("ConvLocal/same", lambda nn: nn.ConvLocal(3, (3,)), normal(2, 5, 2)),
    LayerCase(
        "ConvLocal/valid_2d_strided",
        lambda nn: nn.ConvLocal(3, (2, 2), strides=2, padding="VALID"),
        normal(2, 4, 4, 2),
    ),
    LayerCase("ConvTranspose/same", lambda nn: nn.ConvTranspose(3, (3,)), normal(2, 5, 2)),
    LayerCase(
        "ConvTranspose/strided_valid",
        lambda nn: nn.ConvTranspose(3, (3, 2), strides=(2, 2), padding="VALID"),
        normal(2, 3, 3, 2),
    ),
    LayerCase(
        "ConvTranspose/circular",
        lambda nn: nn.ConvTranspose(3, (4,), strides=(2,), padding="CIRCULAR"),
        normal(2, 5, 2),
    ),
    LayerCase(
        "ConvTranspose/circular_transpose_kernel",
        lambda nn: nn.ConvTranspose(
            3, (3,), strides=(2,), padding="CIRCULAR", transpose_kernel=True
        ),
        normal(2, 5, 2),
    ),
    LayerCase(
        "ConvTranspose/mask_dilated",
        lambda nn: nn.ConvTranspose(3, (3,), kernel_dilation=(2,), mask=jnp.ones((3, 2, 3))),
        normal(2, 5, 2),
    ),
    LayerCase("Embed/lookup", lambda nn: nn.Embed(7, 4), integers(2, 3, high=7)),
    LayerCase("Embed/single_row", lambda nn: nn.Embed(1, 4), integers(2, 3, high=1)),
    LayerCase(
        "Embed/attend",
        lambda nn: nn.Embed(7, 4),
        normal(2, 4),
        method="attend",
    ),
    LayerCase("Einsum/matmul", lambda nn: nn.Einsum((3, 4), "abc,cd->abd"), normal(2, 5, 3)),
    LayerCase(
        "Einsum/two_output_axes",
        lambda nn: nn.Einsum((3, 4, 2), "abc,cde->abed"),
        normal(2, 5, 3),
    ),
    LayerCase(
        "Einsum/ellipsis_call_arg",
        lambda nn: nn.Einsum((3, 4)),
        normal(2, 5, 3),
        call_kwargs={"einsum_str": "...c,cd->...d"},
    ),
)
