"""Every error flaxen raises, one class per failure.

Each error subclasses :class:`FlaxenError` and, where one fits, the matching
built-in (``ValueError``, ``TypeError``, ``KeyError``, ...), so existing
``except`` clauses keep working. Messages say what happened, why, and how to
fix it, and end with a link to the error's entry in the docs. The class names
and constructor arguments are those of ``flax.errors``; ``FlaxError`` is an
alias of :class:`FlaxenError` for ported code.

>>> from flaxen.errors import ScopeParamNotFoundError
>>> error = ScopeParamNotFoundError("kernel", "/Dense_0")
>>> isinstance(error, KeyError), error.param_name
(True, 'kernel')
>>> str(error).startswith('Could not find parameter named "kernel" in scope "/Dense_0".')
True
"""

from ._base import FlaxenError as FlaxenError
from ._base import FlaxenWarning as FlaxenWarning

# Binding Modules to variables
from ._binding import ApplyModuleInvalidMethodError as ApplyModuleInvalidMethodError
from ._binding import CallCompactUnboundModuleError as CallCompactUnboundModuleError
from ._binding import CallSetupUnboundModuleError as CallSetupUnboundModuleError
from ._binding import CallShareScopeOnUnboundModuleError as CallShareScopeOnUnboundModuleError
from ._binding import CallUnbindOnUnboundModuleError as CallUnbindOnUnboundModuleError
from ._binding import InvalidInstanceModuleError as InvalidInstanceModuleError

# Checkpointing
from ._checkpoint import AlreadyExistsError as AlreadyExistsError

# Checkpointing (flaxen additions, raised by flaxen-checkpoint)
from ._checkpoint import CheckpointFallbackWarning as CheckpointFallbackWarning
from ._checkpoint import CheckpointNotFoundError as CheckpointNotFoundError
from ._checkpoint import CorruptedCheckpointError as CorruptedCheckpointError
from ._checkpoint import InvalidCheckpointError as InvalidCheckpointError
from ._checkpoint import MPACheckpointingRequiredError as MPACheckpointingRequiredError
from ._checkpoint import MPARestoreDataCorruptedError as MPARestoreDataCorruptedError
from ._checkpoint import MPARestoreTargetRequiredError as MPARestoreTargetRequiredError
from ._checkpoint import UnknownCheckpointBackendError as UnknownCheckpointBackendError
from ._checkpoint import UnknownCheckpointFormatError as UnknownCheckpointFormatError

# Multi-device helpers of flaxen.jax_utils (flaxen additions)
from ._jax_utils import InconsistentBatchSizesError as InconsistentBatchSizesError
from ._jax_utils import IndivisibleBatchError as IndivisibleBatchError
from ._jax_utils import ScalarBatchLeafError as ScalarBatchLeafError

# Module definitions
from ._module import AssignSubModuleError as AssignSubModuleError
from ._module import DescriptorAttributeError as DescriptorAttributeError
from ._module import IncorrectPostInitOverrideError as IncorrectPostInitOverrideError
from ._module import MultipleMethodsCompactError as MultipleMethodsCompactError
from ._module import NameInUseError as NameInUseError
from ._module import ReservedModuleAttributeError as ReservedModuleAttributeError
from ._module import SetAttributeFrozenModuleError as SetAttributeFrozenModuleError
from ._module import SetAttributeInModuleSetupError as SetAttributeInModuleSetupError

# Partitioning
from ._partitioning import PartitioningUnspecifiedError as PartitioningUnspecifiedError

# Plugins (flaxen additions)
from ._plugins import MissingPackageError as MissingPackageError
from ._plugins import PluginConflictError as PluginConflictError
from ._plugins import PluginLoadError as PluginLoadError
from ._plugins import PluginWarning as PluginWarning

# Scopes and variables
from ._scope import (
    ApplyScopeInvalidVariablesStructureError as ApplyScopeInvalidVariablesStructureError,
)
from ._scope import ApplyScopeInvalidVariablesTypeError as ApplyScopeInvalidVariablesTypeError
from ._scope import ImmutableVariableError as ImmutableVariableError
from ._scope import InvalidFilterError as InvalidFilterError
from ._scope import InvalidRngError as InvalidRngError
from ._scope import InvalidScopeError as InvalidScopeError
from ._scope import LazyInitError as LazyInitError
from ._scope import ModifyScopeVariableError as ModifyScopeVariableError
from ._scope import ScopeCollectionNotFound as ScopeCollectionNotFound
from ._scope import ScopeParamNotFoundError as ScopeParamNotFoundError
from ._scope import ScopeParamShapeError as ScopeParamShapeError
from ._scope import ScopeVariableNotFoundError as ScopeVariableNotFoundError

# Serialization
from ._serialization import MsgpackRestoreError as MsgpackRestoreError
from ._serialization import MsgpackSerializeError as MsgpackSerializeError
from ._serialization import SerializationHandlerExistsError as SerializationHandlerExistsError
from ._serialization import StateDictMismatchError as StateDictMismatchError

# Logical axis partitioning (flaxen.spmd; flaxen additions)
from ._spmd import DuplicateLogicalAxisError as DuplicateLogicalAxisError
from ._spmd import InvalidLogicalAxisRulesError as InvalidLogicalAxisRulesError
from ._spmd import ShardingRankMismatchError as ShardingRankMismatchError
from ._spmd import UnknownMeshAxisError as UnknownMeshAxisError
from ._spmd import UnmatchedLogicalAxisError as UnmatchedLogicalAxisError

# Lifted control flow and scan (flaxen additions)
from ._transforms import BranchStructureError as BranchStructureError

# Transforms
from ._transforms import JaxTransformError as JaxTransformError
from ._transforms import ScanBroadcastError as ScanBroadcastError
from ._transforms import ScanCarryStructureError as ScanCarryStructureError
from ._transforms import TraceContextError as TraceContextError
from ._transforms import TransformedMethodReturnValueError as TransformedMethodReturnValueError
from ._transforms import TransformTargetError as TransformTargetError

# Traversals
from ._traversal import CursorFindError as CursorFindError
from ._traversal import TraverseTreeError as TraverseTreeError

FlaxError = FlaxenError
"""Flax's name for :class:`FlaxenError`, kept so ported ``except`` clauses work."""


def _public_module() -> None:
    # Tracebacks, reprs and pickles name the public path (flaxen.errors.X),
    # not the private module that happens to define the class.
    for value in list(globals().values()):
        if isinstance(value, type) and value.__module__.startswith(__name__ + "._"):
            value.__module__ = __name__


_public_module()
del _public_module
