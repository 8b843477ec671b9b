"""The benchmark models, written once against an ``nn`` module.

``build(nn)`` returns the same four models for ``flax.linen`` and
``flaxen.linen``; :mod:`raw` holds the same computations as pure JAX
functions of explicit parameters (the floor for framework overhead).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

VOCAB = 1000
D_MODEL = 256
HEADS = 4
LAYERS = 12
SEQ = 64
MLP_DIM = 1024


@dataclasses.dataclass(frozen=True)
class Models:
    """The model classes built from one ``nn`` module."""

    MLP: type
    SmallMLP: type
    ResNet18: type
    Transformer: type
    ScanTransformer: type


def build(nn: Any) -> Models:
    """The benchmark models written against ``nn`` (flax.linen or flaxen.linen)."""

    class MLP(nn.Module):
        features: int = 256
        depth: int = 8

        @nn.compact
        def __call__(self, x):
            for _ in range(self.depth - 1):
                x = nn.relu(nn.Dense(self.features)(x))
            return nn.Dense(10)(x)

    class SmallMLP(nn.Module):
        @nn.compact
        def __call__(self, x):
            # One layer per statement: the outer constructor of a nested
            # expression runs first and would take the name Dense_0.
            x = nn.relu(nn.Dense(32)(x))
            return nn.Dense(10)(x)

    class ResNetBlock(nn.Module):
        filters: int
        strides: int = 1

        @nn.compact
        def __call__(self, x, train: bool = True):
            residual = x
            y = nn.Conv(self.filters, (3, 3), self.strides, padding="SAME", use_bias=False)(x)
            y = nn.BatchNorm(use_running_average=not train)(y)
            y = nn.relu(y)
            y = nn.Conv(self.filters, (3, 3), padding="SAME", use_bias=False)(y)
            y = nn.BatchNorm(use_running_average=not train, scale_init=nn.initializers.zeros)(y)
            if residual.shape != y.shape:
                residual = nn.Conv(self.filters, (1, 1), self.strides, use_bias=False)(residual)
                residual = nn.BatchNorm(use_running_average=not train)(residual)
            return nn.relu(residual + y)

    class ResNet18(nn.Module):
        num_classes: int = 10

        @nn.compact
        def __call__(self, x, train: bool = True):
            x = nn.Conv(64, (3, 3), padding="SAME", use_bias=False)(x)
            x = nn.relu(nn.BatchNorm(use_running_average=not train)(x))
            for stage, filters in enumerate((64, 128, 256, 512)):
                for block in range(2):
                    strides = 2 if stage > 0 and block == 0 else 1
                    x = ResNetBlock(filters, strides)(x, train)
            x = jnp.mean(x, axis=(1, 2))
            return nn.Dense(self.num_classes)(x)

    class DecoderBlock(nn.Module):
        @nn.compact
        def __call__(self, x, mask):
            y = nn.LayerNorm()(x)
            y = nn.MultiHeadDotProductAttention(num_heads=HEADS)(y, y, mask=mask)
            x = x + y
            y = nn.LayerNorm()(x)
            y = nn.gelu(nn.Dense(MLP_DIM)(y))
            y = nn.Dense(D_MODEL)(y)
            return x + y

    class ScannedBlock(nn.Module):
        @nn.compact
        def __call__(self, x, mask):
            return DecoderBlock()(x, mask), None

    class Transformer(nn.Module):
        @nn.compact
        def __call__(self, tokens):
            x = nn.Embed(VOCAB, D_MODEL)(tokens)
            x = x + self.param("pos", nn.initializers.normal(0.02), (SEQ, D_MODEL))
            mask = nn.make_causal_mask(tokens)
            for _ in range(LAYERS):
                x = DecoderBlock()(x, mask)
            return nn.Dense(VOCAB)(nn.LayerNorm()(x))

    class ScanTransformer(nn.Module):
        @nn.compact
        def __call__(self, tokens):
            x = nn.Embed(VOCAB, D_MODEL)(tokens)
            x = x + self.param("pos", nn.initializers.normal(0.02), (SEQ, D_MODEL))
            mask = nn.make_causal_mask(tokens)
            blocks = nn.scan(
                ScannedBlock,
                variable_axes={"params": 0},
                split_rngs={"params": True},
                in_axes=nn.broadcast,
                length=LAYERS,
            )
            x, _ = blocks()(x, mask)
            return nn.Dense(VOCAB)(nn.LayerNorm()(x))

    return Models(MLP, SmallMLP, ResNet18, Transformer, ScanTransformer)


def inputs() -> dict[str, Callable[[], Any]]:
    """Example inputs for each model."""
    return {
        "MLP": lambda: jnp.ones((32, 256)),
        "SmallMLP": lambda: jnp.ones((4, 16)),
        "ResNet18": lambda: jnp.ones((8, 32, 32, 3)),
        "Transformer": lambda: jnp.zeros((4, SEQ), jnp.int32),
        "ScanTransformer": lambda: jnp.zeros((4, SEQ), jnp.int32),
    }


# -- raw JAX: the same computations as pure functions of explicit parameters -----


def _dense(p: Any, x: jax.Array) -> jax.Array:
    y = jax.lax.dot_general(x, p["kernel"], (((x.ndim - 1,), (0,)), ((), ())))
    return y + jnp.reshape(p["bias"], (1,) * (y.ndim - 1) + (-1,)) if "bias" in p else y


def _layer_norm(p: Any, x: jax.Array, eps: float = 1e-6) -> jax.Array:
    mean = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.mean(jnp.square(x - mean), axis=-1, keepdims=True)
    return (x - mean) * jax.lax.rsqrt(var + eps) * p["scale"] + p["bias"]


def _bn_train(p: Any, x: jax.Array, eps: float) -> jax.Array:
    axes = tuple(range(x.ndim - 1))
    mean = jnp.mean(x, axis=axes)
    var = jnp.mean(jnp.square(x), axis=axes) - jnp.square(mean)
    y = (x - mean) * jax.lax.rsqrt(var + eps)
    return y * p["scale"] + p["bias"]


def _conv(p: Any, x: jax.Array, strides: int = 1) -> jax.Array:
    return jax.lax.conv_general_dilated(
        x, p["kernel"], (strides, strides), "SAME",
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
    )  # fmt: skip


def raw_mlp(params: Any, x: jax.Array) -> jax.Array:
    names = sorted(params, key=lambda n: int(n.split("_")[1]))
    for name in names[:-1]:
        x = jax.nn.relu(_dense(params[name], x))
    return _dense(params[names[-1]], x)


def raw_resnet(params: Any, x: jax.Array) -> jax.Array:
    x = jax.nn.relu(_bn_train(params["BatchNorm_0"], _conv(params["Conv_0"], x), 1e-5))
    index = 0
    for stage in range(4):
        for block in range(2):
            p = params[f"ResNetBlock_{index}"]
            strides = 2 if stage > 0 and block == 0 else 1
            y = jax.nn.relu(_bn_train(p["BatchNorm_0"], _conv(p["Conv_0"], x, strides), 1e-5))
            y = _bn_train(p["BatchNorm_1"], _conv(p["Conv_1"], y), 1e-5)
            if "Conv_2" in p:
                x = _bn_train(p["BatchNorm_2"], _conv(p["Conv_2"], x, strides), 1e-5)
            x = jax.nn.relu(x + y)
            index += 1
    return _dense(params["Dense_0"], jnp.mean(x, axis=(1, 2)))


def _attention(p: Any, x: jax.Array, mask: jax.Array) -> jax.Array:
    q = jnp.einsum("bld,dhk->blhk", x, p["query"]["kernel"]) + p["query"]["bias"]
    k = jnp.einsum("bld,dhk->blhk", x, p["key"]["kernel"]) + p["key"]["bias"]
    v = jnp.einsum("bld,dhk->blhk", x, p["value"]["kernel"]) + p["value"]["bias"]
    q = q / jnp.sqrt(q.shape[-1]).astype(q.dtype)
    logits = jnp.einsum("bqhd,bkhd->bhqk", q, k)
    logits = jnp.where(mask, logits, jnp.finfo(logits.dtype).min)
    weights = jax.nn.softmax(logits)
    out = jnp.einsum("bhqk,bkhd->bqhd", weights, v)
    return jnp.einsum("blhk,hkd->bld", out, p["out"]["kernel"]) + p["out"]["bias"]


def _block(p: Any, x: jax.Array, mask: jax.Array) -> jax.Array:
    x = x + _attention(p["MultiHeadDotProductAttention_0"], _layer_norm(p["LayerNorm_0"], x), mask)
    y = _layer_norm(p["LayerNorm_1"], x)
    return x + _dense(p["Dense_1"], jax.nn.gelu(_dense(p["Dense_0"], y)))


def raw_transformer(params: Any, tokens: jax.Array) -> jax.Array:
    x = jnp.take(params["Embed_0"]["embedding"], tokens, axis=0) + params["pos"]
    length = tokens.shape[-1]
    mask = (jnp.arange(length)[:, None] >= jnp.arange(length)[None, :])[None, None]
    for i in range(LAYERS):
        x = _block(params[f"DecoderBlock_{i}"], x, mask)
    return _dense(params["Dense_0"], _layer_norm(params["LayerNorm_0"], x))


def raw_scan_transformer(params: Any, tokens: jax.Array) -> jax.Array:
    x = jnp.take(params["Embed_0"]["embedding"], tokens, axis=0) + params["pos"]
    length = tokens.shape[-1]
    mask = (jnp.arange(length)[:, None] >= jnp.arange(length)[None, :])[None, None]

    def step(x, p):
        return _block(p["DecoderBlock_0"], x, mask), None

    x, _ = jax.lax.scan(step, x, params["ScanScannedBlock_0"])
    return _dense(params["Dense_0"], _layer_norm(params["LayerNorm_0"], x))


RAW_APPLY = {
    "MLP": raw_mlp,
    "SmallMLP": raw_mlp,
    "ResNet18": raw_resnet,
    "Transformer": raw_transformer,
    "ScanTransformer": raw_scan_transformer,
}


def _path_hash(*items: str | int) -> int:
    """The ``fold_in`` data Linen derives from a scope path and a draw counter."""
    digest = hashlib.sha1()
    for item in items:
        if isinstance(item, str):
            digest.update(item.encode())
        else:
            digest.update(item.to_bytes((item.bit_length() + 7) // 8, "big"))
    return int.from_bytes(digest.digest()[:4], "big")


def raw_mlp_init(key: jax.Array, x: jax.Array, features: int = 256, depth: int = 8) -> Any:
    """``MLP().init`` as plain JAX: the same key derivation, initializers and forward pass.

    The floor for ``eval_shape(init)``: what any framework must trace to give
    Linen's parameters bit for bit.
    """
    kernel_init = jax.nn.initializers.lecun_normal()
    params = {}
    fan_in = x.shape[-1]
    for i in range(depth):
        name, out = f"Dense_{i}", features if i < depth - 1 else 10
        params[name] = {
            "kernel": kernel_init(
                jax.random.fold_in(key, _path_hash(name, 1)), (fan_in, out), jnp.float32
            ),
            "bias": jax.nn.initializers.zeros(
                jax.random.fold_in(key, _path_hash(name, 2)), (out,), jnp.float32
            ),
        }
        fan_in = out
    raw_mlp(params, x)
    return {"params": params}
