"""An example third-party checkpoint backend for flaxen: plain ``.npz`` files.

Installing this distribution makes ``save_checkpoint(..., backend="npz")``
available; ``restore_checkpoint`` finds the backend by itself (the
checkpoint's manifest names it). It is built and installed like any
third-party plugin, through the ``flaxen`` entry-point group.
"""

from ._backend import NpzBackend as NpzBackend
