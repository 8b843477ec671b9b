"""The conformance table against Flax: every compat-enabled LayerCase, bit for bit.

Variables from ``init`` (names, nesting, shapes, dtypes, values) must be
identical; outputs for the same variables must agree within the case's
``compat_rtol``/``compat_atol`` (0 by default: bitwise), eagerly and under
jit. Skipped when flax is not installed (``nox -s compat``).
"""

import pytest

pytestmark = pytest.mark.compat
pytest.importorskip("flax")

import flax.linen as flax_nn  # noqa: E402

from flaxen import linen as nn  # noqa: E402
from flaxen.layers import testing  # noqa: E402

CASES = [case for case in testing.all_cases() if case.compat]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_same_as_flax(case):
    testing.check_against_oracle(case, nn, flax_nn)
