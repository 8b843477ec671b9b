"""Recurrent layers: cells against plain-jax formulas, RNN/Bidirectional against a Python loop.

The references below are written from the cells' documented equations and
take the parameters the layers created, so a wrong gate, projection name,
bias placement, carry order or time bookkeeping shows up as a numeric
mismatch.
"""

import dataclasses
import doctest
import functools
import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from flaxen import linen as nn
from flaxen.linen.recurrent import flip_sequences as _flip_sequences

KEY = jax.random.key


def sigmoid(x):
    return 1.0 / (1.0 + jnp.exp(-x))


def dense(p, x):
    y = x @ p["kernel"]
    return y + p["bias"].reshape((1,) * (y.ndim - 1) + (-1,)) if "bias" in p else y


# -- plain-jax cell references --------------------------------------------------------


def lstm_ref(p, carry, x):
    c, h = carry
    pre = {g: dense(p["i" + g], x) + dense(p["h" + g], h) for g in "ifgo"}
    i, f, o = sigmoid(pre["i"]), sigmoid(pre["f"]), sigmoid(pre["o"])
    g = jnp.tanh(pre["g"])
    new_c = f * c + i * g
    new_h = o * jnp.tanh(new_c)
    return (new_c, new_h), new_h


def gru_ref(p, h, x):
    r = sigmoid(dense(p["ir"], x) + dense(p["hr"], h))
    z = sigmoid(dense(p["iz"], x) + dense(p["hz"], h))
    n = jnp.tanh(dense(p["in"], x) + r * dense(p["hn"], h))
    new_h = (1 - z) * n + z * h
    return new_h, new_h


def mgu_ref(p, h, x, reset_gate=True):
    f = sigmoid(dense(p["if"], x) + dense(p["hf"], h))
    hidden = dense(p["hn"], h)
    n = jnp.tanh(dense(p["in"], x) + (f * hidden if reset_gate else hidden))
    new_h = (1 - f) * n + f * h
    return new_h, new_h


def simple_ref(p, h, x, residual=False):
    pre = dense(p["i"], x) + dense(p["h"], h)
    new_h = jnp.tanh(pre + h if residual else pre)
    return new_h, new_h


def conv_ref(p, x):
    n = p["kernel"].ndim - 2
    spatial = "HWD"[:n]
    y = lax.conv_general_dilated(
        x, p["kernel"], (1,) * n, "SAME",
        dimension_numbers=(f"N{spatial}C", f"{spatial}IO", f"N{spatial}C"),
    )  # fmt: skip
    return y + p["bias"].reshape((1,) * (y.ndim - 1) + (-1,))


def conv_lstm_ref(p, carry, x):
    c, h = carry
    gates = conv_ref(p["ih"], x) + conv_ref(p["hh"], h)
    i, g, f, o = jnp.split(gates, 4, axis=-1)
    new_c = sigmoid(f + 1.0) * c + sigmoid(i) * jnp.tanh(g)
    new_h = sigmoid(o) * jnp.tanh(new_c)
    return (new_c, new_h), new_h


NORMAL = jax.nn.initializers.normal(0.5)

# name -> (cell factory, reference step, per-step input shape)
CELLS = {
    "lstm": (lambda **kw: nn.LSTMCell(4, **kw), lstm_ref, (2, 3)),
    "optimized_lstm": (lambda **kw: nn.OptimizedLSTMCell(4, **kw), lstm_ref, (2, 3)),
    "gru": (lambda **kw: nn.GRUCell(4, **kw), gru_ref, (2, 3)),
    "mgu": (lambda **kw: nn.MGUCell(4, **kw), mgu_ref, (2, 3)),
    "mgu_no_reset": (
        lambda **kw: nn.MGUCell(4, reset_gate=False, **kw),
        lambda p, h, x: mgu_ref(p, h, x, reset_gate=False),
        (2, 3),
    ),
    "simple": (lambda **kw: nn.SimpleCell(4, **kw), simple_ref, (2, 3)),
    "simple_residual": (
        lambda **kw: nn.SimpleCell(4, residual=True, **kw),
        lambda p, h, x: simple_ref(p, h, x, residual=True),
        (2, 3),
    ),
    # The sizes of the ConvLSTMCell docstring example: the compilations are shared.
    "conv_lstm": (lambda **kw: nn.ConvLSTMCell(4, (3, 3), **kw), conv_lstm_ref, (2, 4, 4, 3)),
}  # fmt: skip

# The bias initializers of each cell's fields, as random ones so placement shows.
BIAS_FIELDS = {
    "lstm": {"bias_init": NORMAL},
    "optimized_lstm": {"bias_init": NORMAL},
    "gru": {"bias_init": NORMAL},
    "mgu": {"forget_bias_init": NORMAL, "activation_bias_init": jax.nn.initializers.uniform()},
    "mgu_no_reset": {"forget_bias_init": NORMAL},
    "simple": {"bias_init": NORMAL},
    "simple_residual": {"bias_init": NORMAL},
    "conv_lstm": {},
}


def allclose(actual, expected, rtol=1e-5, atol=1e-6):
    jax.tree_util.tree_map(
        lambda a, e: np.testing.assert_allclose(np.asarray(a), np.asarray(e), rtol, atol),
        actual, expected,
    )  # fmt: skip


def shapes(tree):
    return jax.tree_util.tree_map(jnp.shape, tree)


def init_shapes(module, *args):
    """The variable shapes ``module.init`` would create, without running (or compiling) it."""
    return shapes(jax.eval_shape(module.init, KEY(0), *args))


@functools.cache
def _jitted_apply(module, static):
    return jax.jit(lambda v, a, d: module.apply(v, *a, **d, **dict(static)))


def jit_apply(module, variables, *args, **kwargs):
    """``module.apply`` compiled as one program, once per (equal) module and flags.

    Run eagerly, every op would compile on its own.
    """
    static = tuple(sorted((k, v) for k, v in kwargs.items() if isinstance(v, bool)))
    dynamic = {k: v for k, v in kwargs.items() if not isinstance(v, bool)}
    try:
        jitted = _jitted_apply(module, static)
    except TypeError:  # an unhashable attribute (a dict): no reuse
        jitted = _jitted_apply.__wrapped__(module, static)
    return jitted(variables, args, dynamic)


# One set of sizes throughout: every new shape is a new compilation.
def rand(shape, seed=0, dtype=jnp.float32):
    """Random values from numpy: ``jax.random`` would compile once per shape."""
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape), dtype)


def rand_like(tree, seed=0):
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return treedef.unflatten([rand(x.shape, seed + i, x.dtype) for i, x in enumerate(leaves)])


XS = rand((2, 5, 3))  # (batch, time, features)


# -- the dataclass surface -------------------------------------------------------------

_GATED = [
    "features", "gate_fn", "activation_fn", "kernel_init", "recurrent_kernel_init", "bias_init",
    "dtype", "param_dtype", "carry_init",
]  # fmt: skip
FIELDS = {
    nn.LSTMCell: _GATED,
    nn.OptimizedLSTMCell: _GATED,
    nn.GRUCell: _GATED,
    nn.MGUCell: [
        "features", "gate_fn", "activation_fn", "kernel_init", "recurrent_kernel_init",
        "forget_bias_init", "activation_bias_init", "dtype", "param_dtype", "carry_init",
        "reset_gate",
    ],
    nn.SimpleCell: [
        "features", "activation_fn", "kernel_init", "recurrent_kernel_init", "bias_init",
        "dtype", "param_dtype", "carry_init", "residual",
    ],
    nn.ConvLSTMCell: [
        "features", "kernel_size", "strides", "padding", "use_bias", "dtype", "param_dtype",
        "carry_init",
    ],
    nn.RNN: [
        "cell", "time_major", "return_carry", "reverse", "keep_order", "unroll",
        "variable_axes", "variable_broadcast", "variable_carry", "split_rngs",
    ],
    nn.Bidirectional: ["forward_rnn", "backward_rnn", "merge_fn", "time_major", "return_carry"],
    nn.RNNCellBase: [],
}  # fmt: skip


@pytest.mark.parametrize("cls", list(FIELDS), ids=lambda c: c.__name__)
def test_fields_in_flax_order(cls):
    fields = dataclasses.fields(cls)
    assert [f.name for f in fields if not f.kw_only] == FIELDS[cls]
    assert {f.name for f in fields if f.kw_only} == {"parent", "name"}


def test_field_defaults():
    cell = nn.LSTMCell(3)
    assert cell.gate_fn is jax.nn.sigmoid and cell.activation_fn is jnp.tanh
    assert cell.bias_init is jax.nn.initializers.zeros
    assert cell.carry_init is jax.nn.initializers.zeros
    assert cell.dtype is None and cell.param_dtype == jnp.float32
    mgu = nn.MGUCell(3)
    assert mgu.forget_bias_init is jax.nn.initializers.ones
    assert mgu.activation_bias_init is jax.nn.initializers.zeros and mgu.reset_gate is True
    assert nn.SimpleCell(3).residual is False
    conv = nn.ConvLSTMCell(3, (2, 2))
    assert (conv.strides, conv.padding, conv.use_bias) == (None, "SAME", True)
    rnn = nn.RNN(nn.GRUCell(3))
    assert (rnn.time_major, rnn.return_carry, rnn.reverse, rnn.keep_order, rnn.unroll) == (
        False, False, False, False, 1,
    )  # fmt: skip
    assert dict(rnn.variable_axes) == {} and rnn.variable_broadcast == "params"
    assert rnn.variable_carry is False and dict(rnn.split_rngs) == {"params": False}
    bi = nn.Bidirectional(rnn, rnn)
    assert bi.merge_fn(jnp.ones((1, 2)), jnp.zeros((1, 3))).tolist() == [[1, 1, 0, 0, 0]]
    # Positional construction, as in Flax.
    assert nn.ConvLSTMCell(4, (3, 3), (1, 1), "VALID").padding == "VALID"


def test_default_initializers_draw_lecun_normal_and_orthogonal():
    cell = nn.GRUCell(4)
    key = KEY(3)
    kernel = cell.kernel_init(key, (3, 4), jnp.float32)
    np.testing.assert_array_equal(kernel, jax.nn.initializers.lecun_normal()(key, (3, 4)))
    recurrent = cell.recurrent_kernel_init(key, (4, 4), jnp.float32)
    np.testing.assert_array_equal(recurrent, jax.nn.initializers.orthogonal()(key, (4, 4)))


def test_cell_base_is_abstract():
    base = nn.RNNCellBase()
    with pytest.raises(NotImplementedError):
        base.initialize_carry(KEY(0), (2, 3))
    with pytest.raises(NotImplementedError):
        _ = base.num_feature_axes


# -- cells --------------------------------------------------------------------------


def test_variable_trees():
    x = jnp.ones((2, 3))
    expected = {
        "lstm": {
            **{f"i{g}": {"kernel": (3, 4)} for g in "ifgo"},
            **{f"h{g}": {"kernel": (4, 4), "bias": (4,)} for g in "ifgo"},
        },
        "gru": {
            "ir": {"kernel": (3, 4), "bias": (4,)}, "iz": {"kernel": (3, 4), "bias": (4,)},
            "in": {"kernel": (3, 4), "bias": (4,)}, "hr": {"kernel": (4, 4)},
            "hz": {"kernel": (4, 4)}, "hn": {"kernel": (4, 4), "bias": (4,)},
        },
        "mgu": {
            "if": {"kernel": (3, 4), "bias": (4,)}, "in": {"kernel": (3, 4), "bias": (4,)},
            "hf": {"kernel": (4, 4)}, "hn": {"kernel": (4, 4), "bias": (4,)},
        },
        "mgu_no_reset": {
            "if": {"kernel": (3, 4), "bias": (4,)}, "in": {"kernel": (3, 4), "bias": (4,)},
            "hf": {"kernel": (4, 4)}, "hn": {"kernel": (4, 4)},
        },
        "simple": {"i": {"kernel": (3, 4), "bias": (4,)}, "h": {"kernel": (4, 4)}},
    }  # fmt: skip
    expected["optimized_lstm"] = expected["lstm"]
    expected["simple_residual"] = expected["simple"]
    for name, tree in expected.items():
        cell = CELLS[name][0]()
        carry = cell.initialize_carry(KEY(0), x.shape)
        params = jax.eval_shape(cell.init, KEY(1), carry, x)["params"]
        assert shapes(params) == tree, name
        assert {a.dtype for a in jax.tree_util.tree_leaves(params)} == {jnp.dtype("float32")}
    cell = nn.ConvLSTMCell(3, (3, 2))
    xc = jnp.ones((2, 4, 4, 2))
    params = init_shapes(cell, cell.initialize_carry(KEY(0), xc.shape), xc)["params"]
    conv_tree = {
        "ih": {"kernel": (3, 2, 2, 12), "bias": (12,)},
        "hh": {"kernel": (3, 2, 3, 12), "bias": (12,)},
    }
    assert params == conv_tree
    no_bias = nn.ConvLSTMCell(3, (3, 2), use_bias=False)
    params = init_shapes(no_bias, no_bias.initialize_carry(KEY(0), xc.shape), xc)["params"]
    assert params == {"ih": {"kernel": (3, 2, 2, 12)}, "hh": {"kernel": (3, 2, 3, 12)}}
    # An RNN passes the cell one time step: (batch, height, width, features).
    rnn_params = init_shapes(nn.RNN(cell), jnp.ones((2, 5, 4, 4, 2)))["params"]
    assert rnn_params == {"cell": conv_tree}


def test_gate_parameters_created_in_flax_order():
    x = jnp.ones((2, 3))
    for cell, order in [
        (nn.LSTMCell(4), ["ii", "hi", "if", "hf", "ig", "hg", "io", "ho"]),
        (nn.OptimizedLSTMCell(4), ["ii", "hi", "if", "hf", "ig", "hg", "io", "ho"]),
        (nn.GRUCell(4), ["ir", "hr", "iz", "hz", "in", "hn"]),
        (nn.MGUCell(4), ["if", "hf", "hn", "in"]),
        (nn.SimpleCell(4), ["i", "h"]),
    ]:
        carry = cell.initialize_carry(KEY(0), x.shape)
        assert list(cell.module_paths(KEY(1), carry, x)) == ["", *order]


@pytest.mark.parametrize("name", sorted(CELLS))
def test_cell_matches_reference(name):
    make, ref, shape = CELLS[name]
    cell = make()
    x = rand(shape)
    # Random carries and parameters (biases included) of the layer's own shapes.
    carry = rand_like(
        jax.eval_shape(functools.partial(cell.initialize_carry, input_shape=shape), KEY(1)), 1
    )
    variables = rand_like(jax.eval_shape(cell.init, KEY(2), carry, x), 2)
    new_carry, out = jax.jit(cell.apply)(variables, carry, x)
    expected_carry, expected_out = jax.jit(ref)(variables["params"], carry, x)
    allclose(new_carry, expected_carry)
    allclose(out, expected_out)


def test_bias_initializers_go_to_the_documented_projections():
    x = jnp.ones((2, 3))
    fill = jax.nn.initializers.constant
    cell = nn.MGUCell(4, forget_bias_init=fill(2.0), activation_bias_init=fill(3.0))
    params = cell.init(KEY(1), cell.initialize_carry(KEY(0), x.shape), x)["params"]
    assert params["if"]["bias"].tolist() == [2.0] * 4
    assert params["in"]["bias"].tolist() == [3.0] * 4
    assert params["hn"]["bias"].tolist() == [3.0] * 4
    defaults = nn.MGUCell(4).init(KEY(1), jnp.zeros((2, 4)), x)["params"]
    assert defaults["if"]["bias"].tolist() == [1.0] * 4
    assert defaults["in"]["bias"].tolist() == [0.0] * 4


def test_optimized_lstm_shares_lstm_parameters_and_results():
    x = XS[:, 0]
    lstm = nn.LSTMCell(4, bias_init=NORMAL)
    opt = nn.OptimizedLSTMCell(4, bias_init=NORMAL)
    carry = lstm.initialize_carry(KEY(1), x.shape)
    variables = lstm.init(KEY(2), carry, x)
    jax.tree_util.tree_map(np.testing.assert_array_equal, opt.init(KEY(2), carry, x), variables)
    allclose(opt.apply(variables, carry, x), lstm.apply(variables, carry, x))


def test_cells_on_extra_batch_dims_and_unbatched_inputs():
    for name in ("optimized_lstm", "gru"):
        make, ref, _ = CELLS[name]
        cell = make()
        params = rnn_variables(name)["params"]["cell"]
        for x in (XS[:2, :3], XS[0, 0]):
            carry = cell.initialize_carry(KEY(1), x.shape)
            allclose(
                jax.jit(cell.apply)({"params": params}, carry, x),
                jax.jit(ref)(params, carry, x),
            )


def test_initialize_carry_shapes_dtypes_and_keys():
    key = KEY(7)
    k_c, k_h = jax.random.split(key)
    for cls in (nn.LSTMCell, nn.OptimizedLSTMCell):
        c, h = cls(4, carry_init=NORMAL, param_dtype=jnp.bfloat16).initialize_carry(key, (2, 7))
        assert c.shape == h.shape == (2, 4) and c.dtype == h.dtype == jnp.bfloat16
        np.testing.assert_array_equal(c, NORMAL(k_c, (2, 4), jnp.bfloat16))
        np.testing.assert_array_equal(h, NORMAL(k_h, (2, 4), jnp.bfloat16))
    for cls in (nn.GRUCell, nn.MGUCell, nn.SimpleCell):
        h = cls(4, carry_init=NORMAL).initialize_carry(key, (2, 7))
        np.testing.assert_array_equal(h, NORMAL(key, (2, 4), jnp.float32))
    conv_carry = nn.ConvLSTMCell(4, (3, 3)).initialize_carry(key, (2, 6, 5, 3))
    assert shapes(conv_carry) == ((2, 6, 5, 4), (2, 6, 5, 4))
    assert shapes(nn.LSTMCell(4).initialize_carry(key, (2, 4, 3))) == ((2, 4, 4), (2, 4, 4))
    zeros = nn.LSTMCell(4).initialize_carry(key, (3,))
    assert [z.tolist() for z in zeros] == [[0.0] * 4, [0.0] * 4]


def test_num_feature_axes():
    assert nn.LSTMCell(2).num_feature_axes == 1
    assert nn.OptimizedLSTMCell(2).num_feature_axes == 1
    assert nn.GRUCell(2).num_feature_axes == 1
    assert nn.MGUCell(2).num_feature_axes == 1
    assert nn.SimpleCell(2).num_feature_axes == 1
    assert nn.ConvLSTMCell(2, (3, 3)).num_feature_axes == 3
    assert nn.ConvLSTMCell(2, (3, 3, 3)).num_feature_axes == 4


def test_cell_dtypes():
    x = XS[:, 0]
    cell = nn.SimpleCell(4, dtype=jnp.bfloat16)
    carry = cell.initialize_carry(KEY(0), x.shape)
    variables = cell.init(KEY(1), carry, x)
    assert carry.dtype == jnp.float32
    assert {a.dtype for a in jax.tree_util.tree_leaves(variables)} == {jnp.dtype("float32")}
    assert cell.apply(variables, carry, x)[1].dtype == jnp.bfloat16
    # The float32 carry promotes the gated update back to float32.
    for cls in (nn.LSTMCell, nn.OptimizedLSTMCell, nn.GRUCell, nn.MGUCell):
        cell = cls(4, dtype=jnp.bfloat16)
        carry = cell.initialize_carry(KEY(0), x.shape)
        out = jax.eval_shape(cell.apply, jax.eval_shape(cell.init, KEY(1), carry, x), carry, x)[1]
        assert out.dtype == jnp.float32, cls


def test_optimized_lstm_computes_in_dtype():
    x = XS[:, 0]
    lstm = nn.LSTMCell(4, dtype=jnp.bfloat16)
    opt = nn.OptimizedLSTMCell(4, dtype=jnp.bfloat16)
    carry = lstm.initialize_carry(KEY(1), x.shape)
    variables = lstm.init(KEY(2), carry, x)
    allclose(opt.apply(variables, carry, x), lstm.apply(variables, carry, x), rtol=2e-2, atol=2e-2)


# -- flip_sequences -------------------------------------------------------------------


def flip_reference(x, lengths):
    """Batch-major ``x``: the first ``lengths.ndim`` axes are batch, then time."""
    x = np.asarray(x)
    out = x.copy()
    for b in np.ndindex(np.shape(lengths)):
        n = int(lengths[b])
        out[b] = np.concatenate([x[b][:n][::-1], x[b][n:][::-1]])
    return out


def test_flip_sequences():
    flip_sequences = jax.jit(_flip_sequences, static_argnames=("num_batch_dims", "time_major"))
    x = jnp.arange(2 * 5 * 3).reshape(2, 5, 3)
    lengths = jnp.array([2, 5])
    got = flip_sequences(x, lengths, num_batch_dims=1, time_major=False)
    np.testing.assert_array_equal(got, flip_reference(x, lengths))
    assert got[0, :, 0].tolist() == [3, 0, 12, 9, 6]
    tm = jnp.swapaxes(x, 0, 1)
    np.testing.assert_array_equal(
        flip_sequences(tm, lengths, num_batch_dims=1, time_major=True), jnp.swapaxes(got, 0, 1)
    )
    np.testing.assert_array_equal(
        flip_sequences(x, None, num_batch_dims=1, time_major=False), x[:, ::-1]
    )
    two = jnp.arange(2 * 3 * 4).reshape(2, 3, 4)
    lengths2 = jnp.array([[1, 4, 0], [2, 3, 4]])
    got2 = flip_sequences(two, lengths2, num_batch_dims=2, time_major=False)
    np.testing.assert_array_equal(got2, flip_reference(two, lengths2))
    # A length of 0 flips the whole sequence, as for a full one.
    assert got2[0, 2].tolist() == two[0, 2, ::-1].tolist()


# -- RNN ------------------------------------------------------------------------------


def scan_reference(step, carry, xs, length, reverse, keep_order):
    """One unbatched sequence ``xs`` (time first) run step by step."""
    steps = xs.shape[0]
    length = steps if length is None else length
    if reverse:
        order = [*range(length - 1, -1, -1), *range(steps - 1, length - 1, -1)]
    else:
        order = list(range(steps))
    outputs = [None] * steps
    carries = []
    for k, t in enumerate(order):
        carry, y = step(carry, xs[t])
        carries.append(carry)
        outputs[t if (reverse and keep_order) else k] = y
    return carries, jnp.stack(outputs)


def rnn_reference(step, carry, xs, seq_lengths, reverse, keep_order, return_carry):
    """Batch-major ``xs`` of shape (batch, time, ...), one batch axis."""
    finals, outs = [], []
    for b in range(xs.shape[0]):
        length = None if seq_lengths is None else int(seq_lengths[b])
        carry_b = jax.tree_util.tree_map(lambda c: c[b], carry)
        carries, out = scan_reference(step, carry_b, xs[b], length, reverse, keep_order)
        pick = -1 if length is None else length - 1
        finals.append(carries[pick])
        outs.append(out)
    final = jax.tree_util.tree_map(lambda *c: jnp.stack(c), *finals)
    outputs = jnp.stack(outs)
    return (final, outputs) if return_carry else outputs


_RNN_VARIABLES = {}


def rnn_variables(name):
    """Random variables of ``RNN(cell)``'s shapes for a cell of ``CELLS``, made once per cell.

    Random rather than initialized: ``init`` is checked elsewhere, and running
    it here would compile it for every cell.
    """
    if name not in _RNN_VARIABLES:
        shapes_ = jax.eval_shape(nn.RNN(CELLS[name][0]()).init, KEY(1), XS)
        _RNN_VARIABLES[name] = rand_like(shapes_, seed=10 * len(_RNN_VARIABLES))
    return _RNN_VARIABLES[name]


# (cell, time_major, seq_lengths, reverse, keep_order)
RNN_CASES = [
    ("lstm", False, False, False, False),
    ("lstm", True, False, True, False),
    ("lstm", False, True, True, True),
    ("lstm", True, True, False, False),
    ("gru", False, False, True, True),
    ("gru", True, True, True, True),
    ("gru", False, True, True, False),
    ("optimized_lstm", False, True, False, False),
    ("mgu", True, False, False, False),
    ("simple_residual", False, True, True, True),
]


@pytest.mark.parametrize(("name", "time_major", "with_lengths", "reverse", "keep_order"), RNN_CASES)
def test_rnn_matches_loop(name, time_major, with_lengths, reverse, keep_order):
    make, ref, _ = CELLS[name]
    cell = make(carry_init=NORMAL)
    xs = XS
    seq_lengths = jnp.array([2, 5]) if with_lengths else None
    rnn = nn.RNN(cell, return_carry=True, time_major=time_major)
    inputs = jnp.swapaxes(xs, 0, 1) if time_major else xs
    variables = rnn_variables(name)
    carry, outputs = jit_apply(rnn,
        variables, inputs, seq_lengths=seq_lengths, reverse=reverse, keep_order=keep_order,
        init_key=KEY(9),
    )  # fmt: skip
    if time_major:
        outputs = jnp.swapaxes(outputs, 0, 1)
    carry0 = cell.initialize_carry(KEY(9), (2, 3))
    params = variables["params"]["cell"]
    expected = rnn_reference(
        lambda c, x: ref(params, c, x), carry0, xs, seq_lengths, reverse, keep_order, True
    )
    allclose((carry, outputs), expected)


def test_rnn_call_overrides_and_defaults():
    cell = nn.GRUCell(4, carry_init=NORMAL)
    xs = XS
    rnn = nn.RNN(cell)
    variables = rnn_variables("gru")
    params = variables["params"]["cell"]
    out = jit_apply(rnn, variables, xs)
    # Without init_key the carry is drawn with jax.random.key(0).
    expected = rnn_reference(
        lambda c, x: gru_ref(params, c, x), cell.initialize_carry(KEY(0), (2, 3)), xs,
        None, False, False, False,
    )  # fmt: skip
    allclose(out, expected)
    carry, out2 = jit_apply(rnn, variables, xs, return_carry=True)
    allclose(out2, out)
    allclose(carry, out[:, -1])
    reversed_rnn = nn.RNN(cell, reverse=True, keep_order=True, return_carry=True)
    allclose(
        jit_apply(reversed_rnn, variables, xs, reverse=False, keep_order=False, return_carry=False),
        out,
    )
    tm = nn.RNN(cell, time_major=True)
    allclose(jnp.swapaxes(jit_apply(tm, variables, jnp.swapaxes(xs, 0, 1)), 0, 1), out)
    allclose(jit_apply(tm, variables, xs, time_major=False), out)


def test_rnn_initial_carry():
    xs = XS
    rnn = nn.RNN(nn.LSTMCell(4), return_carry=True)
    variables = rnn_variables("lstm")
    start = (jnp.full((2, 4), 0.5), jnp.full((2, 4), -0.5))
    carry, out = jit_apply(rnn, variables, xs, initial_carry=start)
    params = variables["params"]["cell"]
    allclose(
        (carry, out),
        rnn_reference(lambda c, x: lstm_ref(params, c, x), start, xs, None, False, False, True),
    )


def test_rnn_variable_tree_and_names():
    xs = XS
    variables = init_shapes(nn.RNN(nn.SimpleCell(4)), xs)
    assert variables == {
        "params": {"cell": {"i": {"kernel": (3, 4), "bias": (4,)}, "h": {"kernel": (4, 4)}}}
    }

    class Model(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.RNN(nn.SimpleCell(4), name="encoder")(x)
            return nn.RNN(nn.SimpleCell(2))(x)

    # A cell built inside a compact method belongs to that method's module.
    params = init_shapes(Model(), xs)["params"]
    assert sorted(params) == ["SimpleCell_0", "SimpleCell_1"]


def test_rnn_built_in_setup_adopts_its_cell():
    class Adopting(nn.Module):
        def setup(self):
            self.encoder = nn.RNN(nn.SimpleCell(4))

        def __call__(self, x):
            return self.encoder(x)

    params = init_shapes(Adopting(), XS)["params"]
    assert sorted(params) == ["encoder"] and sorted(params["encoder"]) == ["cell"]


def test_rnn_multiple_batch_dims_and_unbatched():
    cell = nn.GRUCell(4)
    xs = jnp.concatenate([XS, XS[::-1], XS[:, ::-1]]).reshape(2, 3, 5, 3)
    rnn = nn.RNN(cell, return_carry=True)
    variables = rnn_variables("gru")
    lengths = jnp.array([[1, 5, 3], [2, 4, 0]])
    carry, out = jit_apply(rnn, variables, xs, seq_lengths=lengths, reverse=True, keep_order=True)
    assert carry.shape == (2, 3, 4) and out.shape == (2, 3, 5, 4)
    flat_carry, flat_out = jit_apply(rnn,
        variables, xs.reshape(6, 5, 3), seq_lengths=lengths.reshape(6), reverse=True,
        keep_order=True,
    )  # fmt: skip
    allclose(carry.reshape(6, 4), flat_carry)
    allclose(out.reshape(6, 5, 4), flat_out)
    # A length of 0 selects the last carry, as negative indexing does.
    allclose(carry[1, 2], jit_apply(rnn, variables, xs[1, 2:3], reverse=True)[0][0])
    single_carry, single_out = jit_apply(rnn, variables, xs[0, 1], seq_lengths=jnp.array(3))
    allclose(single_out, jit_apply(rnn, variables, xs[0, 1:2])[1][0])
    allclose(single_carry, single_out[2])


def test_rnn_scan_options_pass_through():
    xs = XS[:2, :3]
    per_step = nn.RNN(
        nn.SimpleCell(4), variable_axes={"params": 0}, variable_broadcast=False,
        split_rngs={"params": True},
    )  # fmt: skip
    variables = jax.jit(per_step.init)(KEY(1), xs)
    kernel = variables["params"]["cell"]["i"]["kernel"]
    assert kernel.shape == (3, 3, 4)
    assert not np.array_equal(kernel[0], kernel[1])
    p = variables["params"]["cell"]
    h = jnp.zeros((2, 4))
    outs = []
    for t in range(3):
        h, y = simple_ref(jax.tree_util.tree_map(lambda a, t=t: a[t], p), h, xs[:, t])
        outs.append(y)
    allclose(jit_apply(per_step, variables, xs), jnp.stack(outs, 1))
    unrolled = nn.RNN(nn.SimpleCell(4), unroll=3)
    v = rnn_variables("simple")
    allclose(jit_apply(unrolled, v, XS), jit_apply(nn.RNN(nn.SimpleCell(4)), v, XS))


def test_rnn_rejects_inputs_without_time_axis():
    with pytest.raises(IndexError, match=r"inputs of shape \(4,\).*1 feature axis"):
        nn.RNN(nn.GRUCell(4)).init(KEY(0), jnp.ones((4,)))


def test_rnn_under_jit_vmap_and_grad():
    xs = XS
    rnn = nn.RNN(nn.LSTMCell(4))
    variables = rnn_variables("lstm")
    eager = rnn.apply(variables, xs)
    allclose(jax.jit(rnn.apply)(variables, xs), eager)
    vmapped = jax.jit(jax.vmap(rnn.apply, in_axes=(None, 0)))(variables, xs[:, None])
    allclose(vmapped, eager[:, None])

    def loss(params):
        return jnp.sum(rnn.apply({"params": params}, xs) ** 2)

    def loss_ref(params):
        step = functools.partial(lstm_ref, params["cell"])
        _, out = lax.scan(step, (jnp.zeros((2, 4)),) * 2, jnp.swapaxes(xs, 0, 1))
        return jnp.sum(out**2)

    grads = jax.jit(jax.grad(loss))(variables["params"])
    allclose(grads, jax.jit(jax.grad(loss_ref))(variables["params"]), rtol=1e-4, atol=1e-5)


# -- Bidirectional -----------------------------------------------------------------------


def test_bidirectional_matches_two_rnns():
    xs = XS
    lengths = jnp.array([5, 2])
    forward, backward = nn.RNN(nn.GRUCell(4)), nn.RNN(nn.LSTMCell(4))
    bi = nn.Bidirectional(forward, backward, return_carry=True)
    assert init_shapes(bi, xs)["params"] == {
        "forward_rnn": init_shapes(forward, xs)["params"],
        "backward_rnn": init_shapes(backward, xs)["params"],
    }
    variables = {"params": {
        "forward_rnn": rnn_variables("gru")["params"],
        "backward_rnn": rnn_variables("lstm")["params"],
    }}  # fmt: skip
    carry, out = jit_apply(bi, variables, xs, seq_lengths=lengths)
    pf = {"params": variables["params"]["forward_rnn"]}
    pb = {"params": variables["params"]["backward_rnn"]}
    cf, of = jit_apply(forward, pf, xs, seq_lengths=lengths, return_carry=True)
    cb, ob = jit_apply(
        backward, pb, xs, seq_lengths=lengths, return_carry=True, reverse=True, keep_order=True
    )
    allclose(carry, (cf, cb))
    allclose(out, jnp.concatenate([of, ob], -1))
    assert jit_apply(bi, variables, xs, return_carry=False).shape == (2, 5, 8)


def test_bidirectional_fixes_directions_and_time_major():
    xs = XS
    plain = nn.Bidirectional(nn.RNN(nn.GRUCell(4)), nn.RNN(nn.GRUCell(4)))
    gru = rnn_variables("gru")["params"]
    variables = {"params": {"forward_rnn": gru, "backward_rnn": gru}}
    expected = jit_apply(plain, variables, xs)
    odd = nn.Bidirectional(
        nn.RNN(nn.GRUCell(4), reverse=True, time_major=True, return_carry=True),
        nn.RNN(nn.GRUCell(4), keep_order=False, time_major=True),
    )
    allclose(jit_apply(odd, variables, xs), expected)
    allclose(jit_apply(plain, variables, xs, reverse=True, keep_order=False), expected)
    tm = nn.Bidirectional(nn.RNN(nn.GRUCell(4)), nn.RNN(nn.GRUCell(4)), time_major=True)
    allclose(jnp.swapaxes(jit_apply(tm, variables, jnp.swapaxes(xs, 0, 1)), 0, 1), expected)
    allclose(jit_apply(tm, variables, xs, time_major=False), expected)


def test_bidirectional_keys_carries_and_merge():
    def make():
        return nn.RNN(nn.GRUCell(4, carry_init=NORMAL))

    bi = nn.Bidirectional(make(), make(), merge_fn=lambda a, b: a - b)
    gru = {"params": rnn_variables("gru")["params"]}
    variables = {"params": {"forward_rnn": gru["params"], "backward_rnn": gru["params"]}}

    @jax.jit  # one program for all the cases
    def run(xs, key, start_f, start_b):
        def backward(**kwargs):
            return make().apply(gru, xs, reverse=True, keep_order=True, **kwargs)

        k_f, k_b = jax.random.split(key)
        return [
            # init_key is split between the directions.
            (
                bi.apply(variables, xs, init_key=key),
                make().apply(gru, xs, init_key=k_f) - backward(init_key=k_b),
            ),
            # Without init_key each direction uses the RNN default.
            (bi.apply(variables, xs), make().apply(gru, xs) - backward()),
            (
                bi.apply(variables, xs, initial_carry=(start_f, start_b)),
                make().apply(gru, xs, initial_carry=start_f) - backward(initial_carry=start_b),
            ),
        ]

    for actual, expected in run(XS, KEY(6), jnp.ones((2, 4)), -jnp.ones((2, 4))):
        allclose(actual, expected)


def test_bidirectional_merges_output_trees():
    class PairCell(nn.RNNCellBase):
        features: int

        @nn.compact
        def __call__(self, carry, x):
            h = nn.Dense(self.features)(jnp.concatenate([carry, x], -1))
            return h, (h, 2 * h)

        @nn.nowrap
        def initialize_carry(self, rng, input_shape):
            return jnp.zeros((*input_shape[:-1], self.features))

        @property
        def num_feature_axes(self):
            return 1

    bi = nn.Bidirectional(nn.RNN(PairCell(2)), nn.RNN(PairCell(4)))
    out, _ = jax.eval_shape(bi.init_with_output, KEY(0), XS)
    assert shapes(out) == ((2, 5, 6), (2, 5, 6))


# -- documentation examples -------------------------------------------------------------


def test_scan_lstm_examples_from_the_transforms_guide():
    class LSTM(nn.Module):
        features: int

        @nn.compact
        def __call__(self, x):
            scan_lstm = nn.scan(
                nn.LSTMCell, variable_broadcast="params", split_rngs={"params": False},
                in_axes=1, out_axes=1,
            )  # fmt: skip
            lstm = scan_lstm(self.features)
            carry = lstm.initialize_carry(jax.random.key(0), x[:, 0].shape)
            carry, x = lstm(carry, x)
            return x

    class FunctionalLSTM(nn.Module):
        features: int

        @nn.compact
        def __call__(self, x):
            cell = nn.LSTMCell(self.features)

            def body_fn(cell, carry, x):
                return cell(carry, x)

            scan = nn.scan(
                body_fn, variable_broadcast="params", split_rngs={"params": False},
                in_axes=1, out_axes=1,
            )  # fmt: skip
            carry = cell.initialize_carry(jax.random.key(0), x[:, 0].shape)
            carry, x = scan(cell, carry, x)
            return x

    x = XS
    y, variables = LSTM(features=4).init_with_output(jax.random.key(0), x)
    assert shapes(variables)["params"]["ScanLSTMCell_0"]["ii"] == {"kernel": (3, 4)}
    params = variables["params"]["ScanLSTMCell_0"]
    expected = rnn_reference(
        lambda c, xt: lstm_ref(params, c, xt), (jnp.zeros((2, 4)),) * 2, x, None, False, False,
        False,
    )  # fmt: skip
    allclose(y, expected)
    functional = FunctionalLSTM(features=4)
    assert init_shapes(functional, x)["params"]["LSTMCell_0"] == shapes(params)
    allclose(functional.apply({"params": {"LSTMCell_0": params}}, x), y)


_DOC_MODULES = (
    "flaxen.layers.recurrent", "flaxen.layers._cell_base", "flaxen.layers._cells_lstm",
    "flaxen.layers._cells_gated", "flaxen.layers._rnn", "flaxen.layers._bidirectional",
)  # fmt: skip


@pytest.mark.parametrize("module_name", _DOC_MODULES)
def test_doctests(module_name):
    module = importlib.import_module(module_name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, module_name):
        if test.examples and test.name.startswith(module_name):
            runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
