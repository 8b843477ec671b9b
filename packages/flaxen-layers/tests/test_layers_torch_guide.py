"""The guide "Convert PyTorch models to Flax", as a test.

Each section's code runs with flaxen (``from flaxen import linen as nn``)
and is checked against PyTorch, as in the guide, when torch is installed
(``pip install torch==2.13.0``), and always against a NumPy implementation
of PyTorch's computation (NCHW layouts, ``[outC, inC, kH, kW]`` kernels)
with weights drawn like PyTorch's defaults.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import random

from flaxen import linen as nn

REFERENCES = ["numpy", "torch"]


@pytest.fixture(params=REFERENCES)
def ref(request):
    if request.param == "torch":
        torch = pytest.importorskip("torch")
        torch.manual_seed(0)
        return TorchRef(torch)
    return NumpyRef()


class TorchRef:
    """The guide's PyTorch modules; weights as numpy arrays, forward on numpy inputs."""

    def __init__(self, torch):
        self.torch = torch

    def linear(self, in_features, out_features):
        t_fc = self.torch.nn.Linear(in_features=in_features, out_features=out_features)
        weights = {
            "weight": t_fc.weight.detach().cpu().numpy(),
            "bias": t_fc.bias.detach().cpu().numpy(),
        }
        return weights, lambda x: t_fc(self.torch.from_numpy(x)).detach().cpu().numpy()

    def conv2d(self, in_channels, out_channels, kernel_size):
        t_conv = self.torch.nn.Conv2d(
            in_channels=in_channels,
            out_channels=out_channels,
            kernel_size=kernel_size,
            padding="valid",
        )
        weights = {
            "weight": t_conv.weight.detach().cpu().numpy(),
            "bias": t_conv.bias.detach().cpu().numpy(),
        }
        return weights, lambda x: t_conv(self.torch.from_numpy(x)).detach().cpu().numpy()

    def batch_norm2d_eval(self, num_features):
        t_bn = self.torch.nn.BatchNorm2d(num_features=num_features, momentum=0.1)
        t_bn.eval()
        weights = {
            "weight": t_bn.weight.detach().cpu().numpy(),
            "bias": t_bn.bias.detach().cpu().numpy(),
            "running_mean": t_bn.running_mean.detach().cpu().numpy(),
            "running_var": t_bn.running_var.detach().cpu().numpy(),
        }
        return weights, lambda x: t_bn(self.torch.from_numpy(x)).detach().cpu().numpy()

    def avg_pool2d_exclude_pad(self, kernel_size, stride, padding):
        t_pool = self.torch.nn.AvgPool2d(
            kernel_size=kernel_size, stride=stride, padding=padding, count_include_pad=False
        )
        return lambda x: t_pool(self.torch.from_numpy(x)).detach().cpu().numpy()


class NumpyRef:
    """The same computations in NumPy (float64), with PyTorch's default initial weights."""

    rng = np.random.default_rng(0)

    def _uniform(self, bound, shape):
        return self.rng.uniform(-bound, bound, shape).astype(np.float32)

    def linear(self, in_features, out_features):
        bound = 1 / np.sqrt(in_features)
        weights = {
            "weight": self._uniform(bound, (out_features, in_features)),
            "bias": self._uniform(bound, (out_features,)),
        }
        return weights, lambda x: x.astype(np.float64) @ weights["weight"].T + weights["bias"]

    def conv2d(self, in_channels, out_channels, kernel_size):
        bound = 1 / np.sqrt(in_channels * kernel_size * kernel_size)
        w = self._uniform(bound, (out_channels, in_channels, kernel_size, kernel_size))
        b = self._uniform(bound, (out_channels,))

        def forward(x):  # NCHW, 'valid', stride 1
            n, _, h, wd = x.shape
            oh, ow = h - kernel_size + 1, wd - kernel_size + 1
            out = np.zeros((n, out_channels, oh, ow))
            for i in range(kernel_size):
                for j in range(kernel_size):
                    patch = x[:, :, i : i + oh, j : j + ow].astype(np.float64)
                    out += np.einsum("nchw,oc->nohw", patch, w[:, :, i, j])
            return out + b[None, :, None, None]

        return {"weight": w, "bias": b}, forward

    def batch_norm2d_eval(self, num_features):
        weights = {
            "weight": np.ones(num_features, np.float32),
            "bias": np.zeros(num_features, np.float32),
            "running_mean": np.zeros(num_features, np.float32),
            "running_var": np.ones(num_features, np.float32),
        }

        def forward(x):
            shape = (1, num_features, 1, 1)
            mean = weights["running_mean"].reshape(shape)
            var = weights["running_var"].reshape(shape)
            normed = (x.astype(np.float64) - mean) / np.sqrt(var + 1e-5)
            return normed * weights["weight"].reshape(shape) + weights["bias"].reshape(shape)

        return weights, forward

    def avg_pool2d_exclude_pad(self, kernel_size, stride, padding):
        def forward(x):
            n, c, h, w = x.shape
            padded = np.pad(x.astype(np.float64), [(0, 0), (0, 0), (padding,) * 2, (padding,) * 2])
            counts = np.pad(np.ones((h, w)), [(padding,) * 2, (padding,) * 2])
            oh = (h + 2 * padding - kernel_size) // stride + 1
            ow = (w + 2 * padding - kernel_size) // stride + 1
            out = np.zeros((n, c, oh, ow))
            for i in range(oh):
                for j in range(ow):
                    rows = slice(i * stride, i * stride + kernel_size)
                    cols = slice(j * stride, j * stride + kernel_size)
                    out[:, :, i, j] = (
                        padded[:, :, rows, cols].sum((2, 3)) / counts[rows, cols].sum()
                    )
            return out

        return forward


def test_fc_layers(ref):
    weights, t_fc = ref.linear(3, 4)
    kernel = weights["weight"]
    bias = weights["bias"]

    # [outC, inC] -> [inC, outC]
    kernel = jnp.transpose(kernel, (1, 0))

    key = random.PRNGKey(0)
    x = random.normal(key, (1, 3))

    variables = {"params": {"kernel": kernel, "bias": bias}}
    j_fc = nn.Dense(features=4)
    j_out = j_fc.apply(variables, x)

    t_out = t_fc(np.array(x))

    np.testing.assert_almost_equal(j_out, t_out)


def test_convolutions(ref):
    weights, t_conv = ref.conv2d(3, 4, 2)
    kernel = weights["weight"]
    bias = weights["bias"]

    # [outC, inC, kH, kW] -> [kH, kW, inC, outC]
    kernel = jnp.transpose(kernel, (2, 3, 1, 0))

    key = random.PRNGKey(0)
    x = random.normal(key, (1, 6, 6, 3))

    variables = {"params": {"kernel": kernel, "bias": bias}}
    j_conv = nn.Conv(features=4, kernel_size=(2, 2), padding="valid")
    j_out = j_conv.apply(variables, x)

    # [N, H, W, C] -> [N, C, H, W]
    t_x = np.transpose(np.array(x), (0, 3, 1, 2))
    t_out = t_conv(t_x)
    # [N, C, H, W] -> [N, H, W, C]
    t_out = np.transpose(t_out, (0, 2, 3, 1))

    np.testing.assert_almost_equal(j_out, t_out, decimal=6)


class JModel(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.Conv(features=4, kernel_size=(2, 2), padding="valid", name="conv")(x)
        # [N, H, W, C] -> [N, C, H, W]
        x = jnp.transpose(x, (0, 3, 1, 2))
        x = jnp.reshape(x, (x.shape[0], -1))
        x = nn.Dense(features=2, name="fc")(x)
        return x


def test_convolutions_and_fc_layers(ref):
    conv_weights, t_conv = ref.conv2d(3, 4, 2)
    fc_weights, t_fc = ref.linear(100, 2)

    def t_model(x):  # TModel.forward: conv, flatten NCHW, fc
        x = t_conv(x)
        x = x.reshape(x.shape[0], -1)
        return t_fc(x.astype(np.float32))

    j_model = JModel()

    # [outC, inC, kH, kW] -> [kH, kW, inC, outC]
    conv_kernel = jnp.transpose(conv_weights["weight"], (2, 3, 1, 0))
    # [outC, inC] -> [inC, outC]
    fc_kernel = jnp.transpose(fc_weights["weight"], (1, 0))

    variables = {
        "params": {
            "conv": {"kernel": conv_kernel, "bias": conv_weights["bias"]},
            "fc": {"kernel": fc_kernel, "bias": fc_weights["bias"]},
        }
    }

    key = random.PRNGKey(0)
    x = random.normal(key, (1, 6, 6, 3))

    j_out = j_model.apply(variables, x)

    # [N, H, W, C] -> [N, C, H, W]
    t_x = np.transpose(np.array(x), (0, 3, 1, 2))
    t_out = t_model(t_x)

    np.testing.assert_almost_equal(j_out, t_out, decimal=6)
    # The variable tree the guide fills is the one JModel creates.
    created = j_model.init(key, x)
    assert jax.tree_util.tree_map(jnp.shape, created) == jax.tree_util.tree_map(
        jnp.shape, variables
    )


def test_batch_norm(ref):
    weights, t_bn = ref.batch_norm2d_eval(3)

    variables = {
        "params": {"scale": weights["weight"], "bias": weights["bias"]},
        "batch_stats": {"mean": weights["running_mean"], "var": weights["running_var"]},
    }

    key = random.PRNGKey(0)
    x = random.normal(key, (1, 6, 6, 3))

    j_bn = nn.BatchNorm(momentum=0.9, use_running_average=True)

    j_out = j_bn.apply(variables, x)

    # [N, H, W, C] -> [N, C, H, W]
    t_x = np.transpose(np.array(x), (0, 3, 1, 2))
    t_out = t_bn(t_x)
    # [N, C, H, W] -> [N, H, W, C]
    t_out = np.transpose(t_out, (0, 2, 3, 1))

    # The guide asserts 7 decimals; with jax 0.10 Flax's BatchNorm (to which
    # flaxen's is bit-identical) is off by up to 2.4e-7 from PyTorch here,
    # because it multiplies by rsqrt(var + eps) rather than dividing by sqrt.
    np.testing.assert_almost_equal(j_out, t_out, decimal=6)


def guide_avg_pool(inputs, window_shape, strides=None, padding="VALID"):
    """Pools the input by taking the average over a window.

    In comparison to nn.avg_pool(), this pooling operation does not
    consider the padded zero's for the average computation.
    """
    assert len(window_shape) == 2

    y = nn.pool(inputs, 0.0, jax.lax.add, window_shape, strides, padding)
    counts = nn.pool(jnp.ones_like(inputs), 0.0, jax.lax.add, window_shape, strides, padding)
    y = y / counts
    return y


def test_average_pooling(ref):
    key = random.PRNGKey(0)
    x = random.normal(key, (1, 6, 6, 3))

    j_out = guide_avg_pool(x, window_shape=(2, 2), strides=(1, 1), padding=((1, 1), (1, 1)))
    t_pool = ref.avg_pool2d_exclude_pad(kernel_size=2, stride=1, padding=1)

    # [N, H, W, C] -> [N, C, H, W]
    t_x = np.transpose(np.array(x), (0, 3, 1, 2))
    t_out = t_pool(t_x)
    # [N, C, H, W] -> [N, H, W, C]
    t_out = np.transpose(t_out, (0, 2, 3, 1))

    np.testing.assert_almost_equal(j_out, t_out)
    # flaxen's avg_pool does the same with count_include_pad=False.
    np.testing.assert_array_equal(
        nn.avg_pool(x, (2, 2), strides=(1, 1), padding=((1, 1), (1, 1)), count_include_pad=False),
        j_out,
    )
