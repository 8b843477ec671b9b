"""flaxen.errors against flax.errors: same class names, same constructors."""

import inspect

import pytest

pytestmark = pytest.mark.compat

flax_errors = pytest.importorskip("flax.errors")

from flaxen import errors  # noqa: E402

# Classes flaxen has and Flax has not; a new one must be listed here.
FLAXEN_ADDITIONS = {
    "FlaxenError",
    "FlaxenWarning",
    "MissingPackageError",
    "PluginConflictError",
    "PluginLoadError",
    "PluginWarning",
    "CheckpointFallbackWarning",
    "CheckpointNotFoundError",
    "CorruptedCheckpointError",
    "UnknownCheckpointBackendError",
    "UnknownCheckpointFormatError",
    "BranchStructureError",
    "ScanBroadcastError",
    "ScanCarryStructureError",
    "InconsistentBatchSizesError",
    "IndivisibleBatchError",
    "ScalarBatchLeafError",
    "MsgpackRestoreError",
    "MsgpackSerializeError",
    "SerializationHandlerExistsError",
    "StateDictMismatchError",
    "DuplicateLogicalAxisError",
    "InvalidLogicalAxisRulesError",
    "ShardingRankMismatchError",
    "UnknownMeshAxisError",
    "UnmatchedLogicalAxisError",
}


def _public_classes(module):
    return {
        name
        for name in dir(module)
        if name[0].isupper() and isinstance(getattr(module, name), type)
    }


def test_same_class_names():
    assert _public_classes(errors) - FLAXEN_ADDITIONS == _public_classes(flax_errors)


@pytest.mark.parametrize("name", sorted(_public_classes(flax_errors)))
def test_same_constructor_signature(name):
    ours = inspect.signature(getattr(errors, name))
    theirs = inspect.signature(getattr(flax_errors, name))
    assert [(p.name, p.kind, p.default) for p in ours.parameters.values()] == [
        (p.name, p.kind, p.default) for p in theirs.parameters.values()
    ]


def _args(name):
    params = inspect.signature(getattr(flax_errors, name)).parameters
    return [f"<{p}>" for p in params if p not in ("cursor", "cursor2")]


@pytest.mark.parametrize("name", sorted(_public_classes(flax_errors) - {"FlaxError"}))
def test_both_messages_mention_every_argument(name):
    args = _args(name)
    theirs = str(getattr(flax_errors, name)(*args))
    ours = str(getattr(errors, name)(*args))
    for arg in args:
        if arg in theirs:
            assert arg in ours, (arg, ours)
