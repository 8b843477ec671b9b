"""The conformance test kit of flaxen layers: ``flaxen.layers.testing``.

A :class:`LayerCase` describes one layer configuration: how to build it from
a Linen namespace, its inputs, and which checks apply. The checks run a case
with a namespace (``flaxen.linen``, or ``flax.linen`` as an oracle):
:func:`check_layer` runs init/apply, ``jit``, ``vmap``, ``grad``, float64
and bfloat16; :func:`check_against_oracle` compares with another
implementation bit for bit. :func:`all_cases` is the table of the stock
layers, collected from this package's ``_cases_*`` modules.

Third-party layer packages can test their layers the same way:

>>> from flaxen import linen as nn
>>> from flaxen.layers import testing
>>> class Scale(nn.Module):
...   @nn.compact
...   def __call__(self, x):
...     return x * self.param('scale', nn.initializers.ones, ())
>>> case = testing.LayerCase('Scale/default', lambda nn: Scale(), testing.normal(2, 3),
...                          covers=('Scale',))
>>> testing.check_layer(case, nn)

and, in a pytest suite, one test per case and check:

.. code-block:: python

    @pytest.mark.parametrize("case", MY_CASES, ids=lambda c: c.name)
    @pytest.mark.parametrize("check", list(testing.CHECKS))
    def test_conformance(case, check):
        if check not in testing.enabled_checks(case):
            pytest.skip(f"{check} does not apply")
        testing.CHECKS[check](case, nn)
"""

from ._case import LayerCase as LayerCase
from ._case import args as args
from ._case import function_case as function_case
from ._case import function_layer as function_layer
from ._case import integers as integers
from ._case import normal as normal
from ._checks import CHECKS as CHECKS
from ._checks import apply_fn as apply_fn
from ._checks import check_against_oracle as check_against_oracle
from ._checks import check_bfloat16 as check_bfloat16
from ._checks import check_float64 as check_float64
from ._checks import check_grad as check_grad
from ._checks import check_init_apply as check_init_apply
from ._checks import check_jit as check_jit
from ._checks import check_layer as check_layer
from ._checks import check_vmap as check_vmap
from ._checks import enabled_checks as enabled_checks
from ._checks import init as init
from ._checks import with_dtype as with_dtype
from ._compare import assert_trees_equal as assert_trees_equal
from ._registry import all_cases as all_cases
from ._registry import cases_for as cases_for
from ._registry import covered_names as covered_names
