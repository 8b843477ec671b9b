"""The doc examples of test_linen_doc_examples.py, run with flax and with flaxen.

Whatever an example returns (variables, outputs, the values the docs print)
must agree bit for bit: same tree, same dtypes, same values.
"""

import importlib.util
import pathlib
import sys

import jax
import numpy as np
import pytest

pytestmark = pytest.mark.compat
flax = pytest.importorskip("flax")

import flax.linen as flax_nn  # noqa: E402

from flaxen import linen as flaxen_nn  # noqa: E402

_spec = importlib.util.spec_from_file_location(
    "_linen_doc_examples", pathlib.Path(__file__).with_name("test_linen_doc_examples.py")
)
examples = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = examples  # dataclasses look their module up while classes are built
_spec.loader.exec_module(examples)

# flax 0.12.8 does not forward keyword arguments through nn.vmap, so the design
# note's LinenStatefulVmapMLP (``VmapMLP(...)(xs, train=train)``) fails there.
FLAX_CANNOT_RUN = {"lifted_vmap_batchnorm"}


def _normalize(tree):
    def leaf(x):
        if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            return np.asarray(jax.random.key_data(x))
        return x

    return jax.tree_util.tree_flatten_with_path(jax.tree_util.tree_map(leaf, tree))


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(
            name,
            marks=pytest.mark.xfail(strict=True, reason=examples.KNOWN_FAILURES[name]),
        )
        if name in examples.KNOWN_FAILURES
        else name
        for name in sorted(set(examples.EXAMPLES) - FLAX_CANNOT_RUN)
    ],
)
def test_doc_example_matches_flax(name):
    expected, expected_def = _normalize(examples._run(name, flax_nn))
    actual, actual_def = _normalize(examples._run(name, flaxen_nn))
    assert str(actual_def) == str(expected_def)
    for (path, want), (_, got) in zip(expected, actual):
        want_arr, got_arr = np.asarray(want), np.asarray(got)
        assert got_arr.dtype == want_arr.dtype, jax.tree_util.keystr(path)
        np.testing.assert_array_equal(got_arr, want_arr, err_msg=jax.tree_util.keystr(path))


def test_flax_does_not_forward_keyword_arguments_through_vmap():
    # Documents FLAX_CANNOT_RUN: if flax starts forwarding them, compare the example too.
    with (
        pytest.warns(RuntimeWarning, match='kwargs are not supported in vmap, so "train"'),
        pytest.raises(TypeError, match="train"),
    ):
        examples._run("lifted_vmap_batchnorm", flax_nn)
