"""Recurrent layers of flaxen.linen against flax.linen, run as a black-box oracle.

The same model code runs through both libraries: the variable trees (names,
nesting, shapes, dtypes) and initial values must be identical bit for bit,
and so must the outputs for the same variables, since the op sequences are
the same. Skipped when flax is not installed (``nox -s compat``).
"""

import dataclasses
import functools
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytestmark = pytest.mark.compat
flax = pytest.importorskip("flax")

import flax.linen as flax_nn  # noqa: E402
from flax.linen import recurrent as flax_recurrent  # noqa: E402

from flaxen import linen as flaxen_nn  # noqa: E402
from flaxen.linen import recurrent as flaxen_recurrent  # noqa: E402

KEY = jax.random.key
XS = jax.random.normal(KEY(1), (2, 5, 3))
LENGTHS = jnp.array([3, 5])


def assert_same(actual, expected):
    """Same tree, dtypes and bits."""
    assert jax.tree_util.tree_structure(actual) == jax.tree_util.tree_structure(expected)
    for a, e in zip(jax.tree_util.tree_leaves(actual), jax.tree_util.tree_leaves(expected)):
        assert a.shape == e.shape and a.dtype == e.dtype, (a.shape, a.dtype, e.shape, e.dtype)
        np.testing.assert_array_equal(np.asarray(a), np.asarray(e))


def run_both(build, inputs, **call_kwargs):
    """``(init variables, jitted apply output)`` of ``build(nn)`` for flaxen and flax."""
    results = []
    for nn in (flaxen_nn, flax_nn):
        module = build(nn)
        variables = module.init(KEY(0), inputs)
        apply = jax.jit(functools.partial(module.apply, **call_kwargs))
        results.append((variables, apply(variables, inputs)))
    return results


def normal(nn):
    return nn.initializers.normal(0.5)


CELLS = {
    "lstm": lambda nn, **kw: nn.LSTMCell(4, **kw),
    "optimized_lstm": lambda nn, **kw: nn.OptimizedLSTMCell(4, **kw),
    "gru": lambda nn, **kw: nn.GRUCell(4, **kw),
    "mgu": lambda nn, **kw: nn.MGUCell(4, **kw),
    "mgu_no_reset": lambda nn, **kw: nn.MGUCell(4, reset_gate=False, **kw),
    "simple": lambda nn, **kw: nn.SimpleCell(4, **kw),
    "simple_residual": lambda nn, **kw: nn.SimpleCell(4, residual=True, **kw),
}

# name -> (build(nn, make_cell), call kwargs)
SCENARIOS = {
    "plain": (lambda nn, cell: nn.RNN(cell()), {}),
    "lengths_carry_init_key": (
        lambda nn, cell: nn.RNN(cell(), return_carry=True),
        {"seq_lengths": LENGTHS, "init_key": KEY(5)},
    ),
    "reverse_keep_order_lengths": (
        lambda nn, cell: nn.RNN(cell(), return_carry=True, reverse=True, keep_order=True),
        {"seq_lengths": LENGTHS},
    ),
    "reverse": (lambda nn, cell: nn.RNN(cell(), reverse=True), {}),
    "time_major": (lambda nn, cell: nn.RNN(cell(), time_major=True, return_carry=True), {}),
    "bidirectional": (
        lambda nn, cell: nn.Bidirectional(nn.RNN(cell()), nn.RNN(cell()), return_carry=True),
        {"seq_lengths": LENGTHS},
    ),
}


# Every scenario for two cells, two scenarios for the others (compiling is the slow part).
PAIRS = [(cell, scenario) for cell in ("lstm", "gru") for scenario in sorted(SCENARIOS)] + [
    (cell, scenario)
    for cell in sorted(set(CELLS) - {"lstm", "gru"})
    for scenario in ("plain", "reverse_keep_order_lengths")
]


@pytest.mark.parametrize(("cell", "scenario"), PAIRS)
def test_rnn_scenarios_match_flax(cell, scenario):
    build, kwargs = SCENARIOS[scenario]

    def model(nn):
        return build(nn, lambda: CELLS[cell](nn, carry_init=normal(nn)))

    (variables, out), (flax_variables, flax_out) = run_both(model, XS, **kwargs)
    assert_same(variables, flax_variables)
    assert_same(out, flax_out)


@pytest.mark.parametrize(
    ("name", "build", "inputs", "kwargs"),
    [
        ("bfloat16", lambda nn: nn.RNN(nn.LSTMCell(4, dtype=jnp.bfloat16)), XS, {}),
        ("bfloat16_gru", lambda nn: nn.RNN(nn.GRUCell(4, dtype=jnp.bfloat16)), XS, {}),
        (
            "random_biases",
            lambda nn: nn.RNN(
                nn.MGUCell(4, forget_bias_init=normal(nn), activation_bias_init=normal(nn))
            ),
            XS,
            {},
        ),
        ("unroll", lambda nn: nn.RNN(nn.OptimizedLSTMCell(4), unroll=2), XS, {}),
        (
            "per_step_params",
            lambda nn: nn.RNN(
                nn.GRUCell(4),
                variable_axes={"params": 0},
                variable_broadcast=False,
                split_rngs={"params": True},
            ),
            XS,
            {},
        ),
        (
            "conv_lstm",
            lambda nn: nn.RNN(nn.ConvLSTMCell(3, (2, 2), carry_init=normal(nn))),
            jax.random.normal(KEY(2), (2, 3, 4, 4, 2)),
            {"init_key": KEY(3)},
        ),
        (
            "conv_lstm_valid_no_bias",
            lambda nn: nn.RNN(nn.ConvLSTMCell(3, (1, 1), padding="VALID", use_bias=False)),
            jax.random.normal(KEY(2), (2, 3, 4, 4, 2)),
            {},
        ),
        (
            "unbatched_lengths",
            lambda nn: nn.RNN(nn.GRUCell(4), return_carry=True),
            XS[0],
            {"seq_lengths": jnp.array(3)},
        ),
        (
            "two_batch_dims_reverse",
            lambda nn: nn.RNN(nn.LSTMCell(4)),
            jax.random.normal(KEY(2), (2, 3, 5, 3)),
            {"seq_lengths": jnp.array([[1, 2, 3], [4, 5, 0]]), "reverse": True},
        ),
        (
            "bidirectional_merge_time_major_init_key",
            lambda nn: nn.Bidirectional(
                nn.RNN(nn.GRUCell(4, carry_init=normal(nn))),
                nn.RNN(nn.LSTMCell(3, carry_init=normal(nn))),
                merge_fn=lambda a, b: a[..., :3] * b,
                time_major=True,
            ),
            XS,
            {"init_key": KEY(4)},
        ),
    ],
)
def test_configurations_match_flax(name, build, inputs, kwargs):
    (variables, out), (flax_variables, flax_out) = run_both(build, inputs, **kwargs)
    assert_same(variables, flax_variables)
    assert_same(out, flax_out)


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_cells_and_carries_match_flax(cell):
    x = jax.random.normal(KEY(2), (2, 3))
    results = []
    for nn in (flaxen_nn, flax_nn):
        if cell.startswith("mgu"):
            biases = {"forget_bias_init": normal(nn), "activation_bias_init": normal(nn)}
        else:
            biases = {"bias_init": normal(nn)}
        module = CELLS[cell](nn, carry_init=normal(nn), **biases)
        carry = module.initialize_carry(KEY(3), x.shape)
        variables = module.init(KEY(4), carry, x)
        results.append((carry, variables, module.apply(variables, carry, x)))
        assert module.num_feature_axes == 1
    assert_same(*results)


def test_scan_options_with_dropout_and_sown_intermediates_match_flax():
    def build(nn):
        class NoisyCell(nn.RNNCellBase):
            features: int

            @nn.compact
            def __call__(self, carry, x):
                h = nn.Dense(self.features)(jnp.concatenate([carry, x], -1))
                h = nn.Dropout(0.5, deterministic=False)(h)
                self.sow("intermediates", "h", h)
                return h, 2 * h

            @nn.nowrap
            def initialize_carry(self, rng, input_shape):
                return jax.random.normal(rng, (*input_shape[:-1], self.features))

            @property
            def num_feature_axes(self):
                return 1

        return nn.RNN(
            NoisyCell(4),
            split_rngs={"params": False, "dropout": True},
            variable_axes={"intermediates": 1},
        )

    results = []
    for nn in (flaxen_nn, flax_nn):
        rnn = build(nn)
        variables = rnn.init({"params": KEY(1), "dropout": KEY(2)}, XS)
        out, state = rnn.apply(
            variables, XS, rngs={"dropout": KEY(3)}, mutable=["intermediates"], init_key=KEY(4)
        )
        results.append((variables, out, state))
    assert_same(*results)


def test_one_cell_shared_by_both_directions_matches_flax():
    def build(nn):
        cell = nn.GRUCell(4)
        return nn.Bidirectional(nn.RNN(cell), nn.RNN(cell))

    (variables, out), (flax_variables, flax_out) = run_both(build, XS)
    assert_same(variables, flax_variables)
    assert_same(out, flax_out)


def test_models_with_cells_built_inline_match_flax():
    """Cells made in a compact method belong to that method's module (not to the RNN)."""

    def build(nn):
        class Model(nn.Module):
            @nn.compact
            def __call__(self, x):
                x = nn.RNN(nn.LSTMCell(4), name="encoder")(x)
                cell = nn.GRUCell(3)
                return nn.Bidirectional(nn.RNN(cell), nn.RNN(nn.SimpleCell(3)))(x)

        return Model()

    (variables, out), (flax_variables, flax_out) = run_both(build, XS)
    assert_same(variables, flax_variables)
    assert_same(out, flax_out)


def test_scan_lstm_examples_of_the_transforms_guide_match_flax():
    def build(nn):
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
                    carry, y = cell(carry, x)
                    return carry, y

                scan = nn.scan(
                    body_fn, variable_broadcast="params", split_rngs={"params": False},
                    in_axes=1, out_axes=1,
                )  # fmt: skip
                carry = cell.initialize_carry(jax.random.key(0), x[:, 0].shape)
                carry, x = scan(cell, carry, x)
                return x

        return LSTM, FunctionalLSTM

    x = jnp.ones((4, 12, 7))
    results = []
    for nn in (flaxen_nn, flax_nn):
        lstm, functional = build(nn)
        y, variables = lstm(features=32).init_with_output(jax.random.key(0), x)
        functional_variables = functional(features=32).init(jax.random.key(0), x)
        functional_y = functional(features=32).apply(functional_variables, x)
        results.append((y, variables, functional_y, functional_variables))
    assert_same(*results)


def test_intermediates_and_module_paths_match_flax():
    x = jnp.ones((2, 3))
    results = []
    for nn in (flaxen_nn, flax_nn):
        rnn = nn.RNN(nn.LSTMCell(4))
        variables = rnn.init(KEY(0), XS)
        _, state = rnn.apply(variables, XS, capture_intermediates=True, mutable=["intermediates"])
        paths = {p: type(m).__name__ for p, m in rnn.module_paths(KEY(0), XS).items()}
        cell = nn.OptimizedLSTMCell(4)
        carry = cell.initialize_carry(KEY(0), x.shape)
        cell_variables = cell.init(KEY(0), carry, x)
        _, cell_state = cell.apply(
            cell_variables, carry, x, capture_intermediates=True, mutable=["intermediates"]
        )
        cell_paths = {p: type(m).__name__ for p, m in cell.module_paths(KEY(0), carry, x).items()}
        results.append((state, paths, cell_state, cell_paths))
    (state, paths, cell_state, cell_paths), expected = results
    assert_same(state, expected[0])
    assert paths == expected[1]
    assert_same(cell_state, expected[2])
    assert cell_paths == expected[3]
    assert list(cell_paths) == list(expected[3])


def test_flip_sequences_matches_flax():
    x = jnp.arange(2 * 3 * 5 * 2).reshape(2, 3, 5, 2)
    lengths = jnp.array([[1, 5, 3], [0, 2, 4]])
    for time_major in (False, True):
        inputs = jnp.moveaxis(x, 2, 0) if time_major else x
        for seq in (lengths, None):
            assert_same(
                flaxen_recurrent.flip_sequences(inputs, seq, 2, time_major),
                flax_recurrent.flip_sequences(inputs, seq, 2, time_major),
            )


# -- the API surface -----------------------------------------------------------------------

CLASSES = [
    "RNNCellBase", "LSTMCell", "OptimizedLSTMCell", "GRUCell", "MGUCell", "SimpleCell",
    "ConvLSTMCell", "RNN", "Bidirectional",
]  # fmt: skip


def _fields(cls):
    return [
        (f.name, f.default if not callable(f.default) else "<callable>")
        for f in dataclasses.fields(cls)
        if f.name not in ("parent", "name")
    ]


@pytest.mark.parametrize("name", CLASSES)
def test_fields_match_flax(name):
    ours, theirs = getattr(flaxen_nn, name), getattr(flax_nn, name)
    assert _fields(ours) == _fields(theirs)
    assert [c.__name__ for c in ours.__mro__[:2]] == [c.__name__ for c in theirs.__mro__[:2]]


@pytest.mark.parametrize("name", ["LSTMCell", "GRUCell", "MGUCell", "SimpleCell"])
def test_default_functions_match_flax(name):
    ours, theirs = getattr(flaxen_nn, name)(3), getattr(flax_nn, name)(3)
    for field in ("gate_fn", "activation_fn"):
        if hasattr(theirs, field):
            assert getattr(ours, field) is getattr(theirs, field)
    for field in (
        "kernel_init", "recurrent_kernel_init", "bias_init", "carry_init", "forget_bias_init",
        "activation_bias_init",
    ):  # fmt: skip
        if hasattr(theirs, field):
            shape = (4, 4)
            assert_same(
                getattr(ours, field)(KEY(7), shape, jnp.float32),
                getattr(theirs, field)(KEY(7), shape, jnp.float32),
            )


@pytest.mark.parametrize("name", ["RNN", "Bidirectional"])
def test_call_signatures_match_flax(name):
    def params(cls):
        return [
            (p.name, p.kind, p.default) for p in inspect.signature(cls.__call__).parameters.values()
        ]

    assert params(getattr(flaxen_nn, name)) == params(getattr(flax_nn, name))


def test_initialize_carry_signature_and_dense_params_match_flax():
    def params(fn):
        return [p.name for p in inspect.signature(fn).parameters.values()]

    for name in CLASSES[:7]:
        ours = getattr(flaxen_nn, name).initialize_carry
        assert params(ours) == params(getattr(flax_nn, name).initialize_carry)
    assert _fields(flaxen_recurrent.DenseParams) == _fields(flax_recurrent.DenseParams)
    assert params(flaxen_recurrent.flip_sequences) == params(flax_recurrent.flip_sequences)


def _error(fn):
    try:
        fn()
    except Exception as error:  # the class is what is compared
        return type(error)
    return None


def test_errors_match_flax():
    for label, make in {
        "no time axis": lambda nn: nn.RNN(nn.GRUCell(3)).init(KEY(0), jnp.ones((4,))),
        "abstract carry": lambda nn: nn.RNNCellBase().initialize_carry(KEY(0), (2, 3)),
        "abstract feature axes": lambda nn: nn.RNNCellBase().num_feature_axes,
        "carry dtype changes in the scan": lambda nn: nn.RNN(
            nn.SimpleCell(4, dtype=jnp.bfloat16)
        ).init(KEY(0), XS),
    }.items():
        ours, theirs = _error(lambda: make(flaxen_nn)), _error(lambda: make(flax_nn))
        assert theirs is not None, label
        assert issubclass(ours, theirs), (label, ours, theirs)
