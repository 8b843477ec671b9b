"""Hiding flaxen's internal frames from tracebacks.

When an exception crosses a JAX API boundary (``jax.jit``, ``jax.grad``, or a
flaxen entry point such as ``Module.apply``), the frames of registered flaxen
internals are removed from the traceback, together with JAX's own, so the
last frame shown is the user's code. This follows JAX's
``jax_traceback_filtering`` option; the flag ``flaxen_filter_frames``
(environment ``FLAXEN_FILTER_FRAMES``, default on) decides whether internals
are hidden as they are registered.

>>> from flaxen import traceback_util
>>> traceback_util.show_flaxen_in_tracebacks()  # debugging flaxen itself
>>> traceback_util.hide_flaxen_in_tracebacks()  # back to the default

flaxen packages register their internal modules with
:func:`register_exclusion`.
"""

from ._exclusions import api_boundary as api_boundary
from ._exclusions import hidden_paths as hidden_paths
from ._exclusions import hide_flaxen_in_tracebacks as hide_flaxen_in_tracebacks
from ._exclusions import register_exclusion as register_exclusion
from ._exclusions import registered_paths as registered_paths
from ._exclusions import show_flaxen_in_tracebacks as show_flaxen_in_tracebacks

hide_flax_in_tracebacks = hide_flaxen_in_tracebacks
"""Flax's name for :func:`hide_flaxen_in_tracebacks`."""
show_flax_in_tracebacks = show_flaxen_in_tracebacks
"""Flax's name for :func:`show_flaxen_in_tracebacks`."""
