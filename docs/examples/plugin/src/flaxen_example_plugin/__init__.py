"""The example plugin of the flaxen docs ("Writing a plugin").

Installing it adds ``nn.Affine`` (a layer), ``nn.ensemble`` (a lifted
transform) and the ``"npz"`` checkpoint backend, without any code importing
this package.
"""

from ._backend import FlatNpzBackend as FlatNpzBackend
from ._ensemble import ensemble as ensemble
from ._layer import Affine as Affine
