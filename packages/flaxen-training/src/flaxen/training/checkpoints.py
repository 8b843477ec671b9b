"""``flaxen.training.checkpoints``: Flax's checkpoint API, provided by flaxen-checkpoint.

``from flaxen.training import checkpoints`` works like
``from flax.training import checkpoints``. The implementation lives in the
flaxen-checkpoint distribution, which flaxen-training does not depend on:
importing this module without it installed raises an ImportError that says
what to install.
"""

try:
    from flaxen.checkpoint import AsyncManager as AsyncManager
    from flaxen.checkpoint import CheckpointFallbackWarning as CheckpointFallbackWarning
    from flaxen.checkpoint import CheckpointNotFoundError as CheckpointNotFoundError
    from flaxen.checkpoint import CorruptedCheckpointError as CorruptedCheckpointError
    from flaxen.checkpoint import available_steps as available_steps
    from flaxen.checkpoint import convert_pre_linen as convert_pre_linen
    from flaxen.checkpoint import latest_checkpoint as latest_checkpoint
    from flaxen.checkpoint import natural_sort as natural_sort
    from flaxen.checkpoint import restore_checkpoint as restore_checkpoint
    from flaxen.checkpoint import save_checkpoint as save_checkpoint
    from flaxen.checkpoint import save_checkpoint_multiprocess as save_checkpoint_multiprocess
except ImportError as error:  # pragma: no cover - exercised in a fresh environment
    if error.name not in (None, "flaxen.checkpoint"):
        raise
    raise ImportError(
        "flaxen.training.checkpoints is provided by the flaxen-checkpoint distribution,"
        " which is not installed: pip install flaxen-checkpoint",
        name="flaxen.checkpoint",
    ) from error
