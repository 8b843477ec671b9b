"""``flaxen.training.orbax_utils``: Orbax helpers, provided by flaxen-checkpoint.

Works like ``flax.training.orbax_utils``. The implementation lives in the
flaxen-checkpoint distribution (orbax-checkpoint itself comes with its
``[orbax]`` extra); importing this module without flaxen-checkpoint raises an
ImportError that says what to install.
"""

try:
    from flaxen.checkpoint.orbax_utils import is_multi_device_array as is_multi_device_array
    from flaxen.checkpoint.orbax_utils import restore_args_from_target as restore_args_from_target
    from flaxen.checkpoint.orbax_utils import save_args_from_target as save_args_from_target
except ImportError as error:  # pragma: no cover - exercised in a fresh environment
    if error.name not in (None, "flaxen.checkpoint", "flaxen.checkpoint.orbax_utils"):
        raise
    raise ImportError(
        "flaxen.training.orbax_utils is provided by the flaxen-checkpoint distribution,"
        " which is not installed: pip install 'flaxen-checkpoint[orbax]'",
        name="flaxen.checkpoint",
    ) from error
