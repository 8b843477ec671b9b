"""Conformance cases of this package's layers, for ``flaxen.layers.testing``.

>>> from flaxen import linen as nn
>>> from flaxen.layers import testing
>>> from flaxen_example_layer.cases import CASES
>>> for case in CASES:
...     testing.check_layer(case, nn)
"""

from flaxen.layers.testing import LayerCase, normal

#: Not run against flax (it has no such layer); the dtype variants need
#: dtype fields, which ScaledDense does not have.
CASES = (
    LayerCase(
        "ScaledDense/default",
        lambda nn: nn.ScaledDense(3),
        normal(2, 4),
        covers=("ScaledDense",),
        compat=False,
        dtype_fields=(),
    ),
)
