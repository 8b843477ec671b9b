"""flaxen.errors: every class of the catalog, its message, base classes and pickling."""

import errno
import inspect
import pickle
import warnings

import cloudpickle
import pytest

from flaxen import errors
from flaxen.errors import FlaxenError
from flaxen.errors._base import docs_link


class _Cursor:
    def __init__(self, path):
        self._path = path


def _no_op(module):
    return module


# name -> (constructor args, built-in base, fragments the message must contain,
#          attributes the error must expose)
CASES = {
    "AlreadyExistsError": (
        ("/ckpt/file",),
        FileExistsError,
        ['"/ckpt/file"', "overwrite=True"],
        {"path": "/ckpt/file", "filename": "/ckpt/file", "errno": errno.EEXIST},
    ),
    "ApplyModuleInvalidMethodError": (
        (len,),
        TypeError,
        ["apply()", str(len), "not a valid function"],
        {"method": len},
    ),
    "ApplyScopeInvalidVariablesStructureError": (
        ({"params": {"params": {}}},),
        ValueError,
        ['{"params": {"params": ...}}', 'variables["params"]'],
        {"variables": {"params": {"params": {}}}},
    ),
    "ApplyScopeInvalidVariablesTypeError": (
        (),
        TypeError,
        ["dict of variable collections", "{'params': params}"],
        {},
    ),
    "AssignSubModuleError": (
        ("Conv",),
        RuntimeError,
        ["Submodule Conv", "`setup()`", "`@compact`"],
        {"cls": "Conv"},
    ),
    "CallCompactUnboundModuleError": (
        (),
        RuntimeError,
        ["unbound", "apply(", "init(", "bind("],
        {},
    ),
    "CallSetupUnboundModuleError": ((), RuntimeError, ["setup()", "unbound", "nn.apply"], {}),
    "CallShareScopeOnUnboundModuleError": ((), RuntimeError, ["`share_scope`", "unbound"], {}),
    "CallUnbindOnUnboundModuleError": ((), RuntimeError, ["`unbind()`", "bind()"], {}),
    "CursorFindError": (
        (_Cursor(".a.b"), _Cursor(".c")),
        LookupError,
        ["More than one object", ".a.b and .c", "find_all()"],
        {},
    ),
    "DescriptorAttributeError": ((), Exception, ["property", "non-existent attribute"], {}),
    "ImmutableVariableError": (
        ("Cannot update 'mean': batch_stats is frozen.",),
        ValueError,
        ["Cannot update 'mean': batch_stats is frozen."],
        {},
    ),
    "IncorrectPostInitOverrideError": ((), RuntimeError, ["super().__post_init__()"], {}),
    "InvalidCheckpointError": (
        ("/ckpts/checkpoint_3", 3),
        ValueError,
        ["outdated checkpoint", 'step: "3"', '"/ckpts/checkpoint_3"', "overwrite=True"],
        {"path": "/ckpts/checkpoint_3", "step": 3},
    ),
    "InvalidFilterError": (
        (3.5,),
        TypeError,
        ['"3.5"', "DenyList"],
        {"filter_like": 3.5},
    ),
    "InvalidInstanceModuleError": (
        (),
        TypeError,
        ["instance of the Module class", "MyModule().init"],
        {},
    ),
    "InvalidRngError": (
        ("Dense_0 needs PRNG for 'dropout'",),
        ValueError,
        ["Dense_0 needs PRNG for 'dropout'"],
        {"msg": "Dense_0 needs PRNG for 'dropout'"},
    ),
    "InvalidScopeError": (("root",), RuntimeError, ['"root"', "no longer valid"], {}),
    "JaxTransformError": ((), RuntimeError, ["Jax transforms", "nn.vmap"], {}),
    "LazyInitError": (
        ((8, 4),),
        ValueError,
        ["(shape: (8, 4))", "jax.ShapeDtypeStruct"],
        {"partial_val": (8, 4)},
    ),
    "MPACheckpointingRequiredError": (
        ("/ckpts", 7),
        ValueError,
        ['step: "7"', 'path: "/ckpts"', "multiprocess array", 'backend="orbax"'],
        {"path": "/ckpts", "step": 7},
    ),
    "MPARestoreDataCorruptedError": (
        (7, "/ckpts/gda"),
        ValueError,
        ['step: "7"', '"/ckpts/gda"', '"commit_success.txt"'],
        {"path": "/ckpts/gda", "step": 7},
    ),
    "MPARestoreTargetRequiredError": (
        ("/ckpts", 7, "params/kernel"),
        ValueError,
        ['step: "7"', '"/ckpts"', "allow_partial_mpa_restoration=True", "params/kernel"],
        {"path": "/ckpts", "step": 7, "key": "params/kernel"},
    ),
    "ModifyScopeVariableError": (
        ("batch_stats", "mean", "/BatchNorm_0"),
        ValueError,
        ['"mean"', '"/BatchNorm_0"', '"batch_stats" is immutable', "mutable=['batch_stats']"],
        {"col": "batch_stats", "variable_name": "mean", "scope_path": "/BatchNorm_0"},
    ),
    "MultipleMethodsCompactError": ((), TypeError, ["@compact", "setup()"], {}),
    "NameInUseError": (
        ("param", "bar", "Foo"),
        ValueError,
        ['param "bar"', "Module Foo", "Name in use"],
        {"key_type": "param", "value": "bar", "module_name": "Foo"},
    ),
    "PartitioningUnspecifiedError": (
        ("kernel",),
        ValueError,
        ['"partition_name"', "metadata_params", "kernel", "nn.PARTITION_NAME"],
        {"target": "kernel"},
    ),
    "ReservedModuleAttributeError": (
        ({"parent": int},),
        TypeError,
        ["`parent` and `name` are reserved", str({"parent": int})],
        {"annotations": {"parent": int}},
    ),
    "ScopeCollectionNotFound": (
        ("batch_stats", "mean", "/BatchNorm_0"),
        KeyError,
        ['"mean"', 'collection "batch_stats"', '"/BatchNorm_0"', "empty"],
        {"col_name": "batch_stats", "var_name": "mean", "scope_path": "/BatchNorm_0"},
    ),
    "ScopeParamNotFoundError": (
        ("embed", "/Embed_0"),
        KeyError,
        ['parameter named "embed" in scope "/Embed_0"'],
        {"param_name": "embed", "scope_path": "/Embed_0"},
    ),
    "ScopeParamShapeError": (
        ("kernel", "/Dense_0", (5, 8), (1, 8)),
        ValueError,
        ['"kernel"', '"/Dense_0"', "shape (1, 8)", "shape (5, 8)"],
        {"value_shape": (5, 8), "init_shape": (1, 8)},
    ),
    "ScopeVariableNotFoundError": (
        ("mean", "batch_stats", "/BatchNorm_0"),
        KeyError,
        ['"mean"', '"batch_stats"', '"/BatchNorm_0"', "mutable=['batch_stats']"],
        {"name": "mean", "col": "batch_stats", "scope_path": "/BatchNorm_0"},
    ),
    "SetAttributeFrozenModuleError": (
        ("SomeModule", "num_features", 10),
        AttributeError,
        ["num_features=10", "SomeModule", "frozen", "setup"],
        {"module_cls": "SomeModule", "attr_name": "num_features", "attr_val": 10},
    ),
    "SetAttributeInModuleSetupError": ((), AttributeError, ["frozen", "setup()"], {}),
    "TraceContextError": (
        ("Cannot use a scope from an outer jax.jit.",),
        RuntimeError,
        ["Cannot use a scope from an outer jax.jit."],
        {},
    ),
    "TransformTargetError": (
        ("Dense(features=3)",),
        TypeError,
        ["Module classes", "Dense(features=3)"],
        {"target": "Dense(features=3)"},
    ),
    "TransformedMethodReturnValueError": (
        ("__call__",),
        TypeError,
        ["method __call__", "cannot return Modules or Variables"],
        {"name": "__call__"},
    ),
    "TraverseTreeError": (
        (_no_op, _no_op),
        ValueError,
        ["update_fn and cond_fn are not None", "Exactly one"],
        {"update_fn": _no_op, "cond_fn": _no_op},
    ),
    # flaxen additions
    "MsgpackRestoreError": (
        ("truncated input at byte 12",),
        ValueError,
        ["Cannot restore msgpack data: truncated input at byte 12"],
        {"reason": "truncated input at byte 12"},
    ),
    "MsgpackSerializeError": (
        ("cannot write a tuple",),
        TypeError,
        ["cannot write a tuple"],
        {"reason": "cannot write a tuple"},
    ),
    "SerializationHandlerExistsError": (
        ("MyType",),
        ValueError,
        ['"MyType"', "override=True"],
        {"type_name": "MyType"},
    ),
    "StateDictMismatchError": (
        ("missing key 'b' at /params",),
        ValueError,
        ["missing key 'b' at /params", "same structure"],
        {"detail": "missing key 'b' at /params"},
    ),
    "BranchStructureError": (
        ("switch", "branch 0 and 1 outputs must have the same pytree structure"),
        TypeError,
        [
            "The branches of lifted switch must create and update variables",
            "run every branch once at initialization",
            "JAX reported: branch 0 and 1 outputs must have the same pytree structure",
        ],
        {
            "transform": "switch",
            "detail": "branch 0 and 1 outputs must have the same pytree structure",
        },
    ),
    "ScanBroadcastError": (
        (["params/w", "params/Dense_0/kernel"],),
        ValueError,
        [
            "must not depend on the carry, the scanned inputs or split RNG streams,"
            " but params/w, params/Dense_0/kernel do",
            "split_rngs={'params': False}",
            "variable_axes",
        ],
        {"paths": ("params/w", "params/Dense_0/kernel")},
    ),
    "ScanCarryStructureError": (
        (["counter/i"], ["counter/j"]),
        TypeError,
        [
            "The scan body created counter/i and removed counter/j.",
            "cannot be created inside the scan body",
            "Initialize them before the scan",
        ],
        {"created": ("counter/i",), "removed": ("counter/j",)},
    ),
    "InconsistentBatchSizesError": (
        ({5, 3},),
        AssertionError,
        ["Inconsistent batch-sizes: {3, 5}.", "static_argnums or static_argnames"],
        {"batch_sizes": (3, 5)},
    ),
    "IndivisibleBatchError": (
        ("batch['image']", (5, 2), 8),
        ValueError,
        [
            "over 8 devices, but batch['image'] has shape (5, 2): 5 is not a multiple of 8.",
            "(num_devices, per_device_batch, ...)",
            "devices=",
        ],
        {"path": "batch['image']", "shape": (5, 2), "num_devices": 8},
    ),
    "ScalarBatchLeafError": (
        ("batch['label']", 3.5),
        TypeError,
        ["but batch['label'] is a scalar: 3.5.", "leading dimension (one entry per device)"],
        {"path": "batch['label']", "value": 3.5},
    ),
    "CheckpointNotFoundError": (
        ("/ckpts/checkpoint_5", [1, 3]),
        ValueError,
        ["Matching checkpoint not found: /ckpts/checkpoint_5.", "directory: 1, 3.", "step="],
        {"path": "/ckpts/checkpoint_5", "available": (1, 3)},
    ),
    "CorruptedCheckpointError": (
        ("/ckpts/checkpoint_5", "it has 10 bytes, 20 were written"),
        ValueError,
        [
            'Checkpoint file "/ckpts/checkpoint_5" is corrupted: it has 10 bytes, 20 were',
            "restore_checkpoint(..., step=N)",
        ],
        {"path": "/ckpts/checkpoint_5", "reason": "it has 10 bytes, 20 were written"},
    ),
    "UnknownCheckpointBackendError": (
        ("zarr", ["msgpack", "orbax"]),
        LookupError,
        ["No checkpoint backend named 'zarr'", "(installed: msgpack, orbax)", "flaxen plugins"],
        {"name": "zarr", "available": ("msgpack", "orbax")},
    ),
    "UnknownCheckpointFormatError": (
        ("/ckpts/checkpoint_5", "orbax", ["msgpack"]),
        ValueError,
        [
            'Cannot restore checkpoint "/ckpts/checkpoint_5"',
            'written by the "orbax" backend, which is not installed',
            "(installed backends: msgpack)",
            "pip install flaxen-checkpoint[orbax]",
        ],
        {"path": "/ckpts/checkpoint_5", "backend": "orbax", "available": ("msgpack",)},
    ),
    "MissingPackageError": (
        ("Dense", "flaxen-layers"),
        ImportError,
        ["flaxen.linen.Dense", "pip install flaxen-layers"],
        {"distribution": "flaxen-layers"},
    ),
    "PluginConflictError": (
        ("linen_exports", "Dense", "a-dist", "b-dist"),
        ValueError,
        ['"Dense"', "linen_exports", "a-dist", "b-dist"],
        {"category": "linen_exports", "name": "Dense"},
    ),
    "PluginLoadError": (
        ("layers", "flaxen-layers", "0.1.0", "ImportError: boom"),
        ImportError,
        ['"layers"', "flaxen-layers 0.1.0", "ImportError: boom"],
        {"plugin": "layers", "version": "0.1.0"},
    ),
    "DuplicateLogicalAxisError": (
        (("embed",), ("embed", "embed")),
        ValueError,
        ["Dimensions ('embed',) occur more than once", "('embed', 'embed')", "'embed_out'"],
        {"duplicates": ("embed",), "array_dim_names": ("embed", "embed")},
    ),
    "InvalidLogicalAxisRulesError": (
        ({"batch": "data"},),
        ValueError,
        ["(logical_name, mesh_axes) pairs", "{'batch': 'data'}"],
        {"rules": {"batch": "data"}, "entry": None},
    ),
    "ShardingRankMismatchError": (
        (("data", None, None), (2, 4), ("batch", "embed", "mlp")),
        ValueError,
        ["3 entries", "rank 2 (shape (2, 4))", "('batch', 'embed', 'mlp')"],
        {"shape": (2, 4), "logical_names": ("batch", "embed", "mlp")},
    ),
    "UnknownMeshAxisError": (
        ("modle", ("data", "modle"), ("data", "model")),
        ValueError,
        ["'modle'", "('data', 'model')", "logical axis rules"],
        {"axis": "modle", "mesh_axis_names": ("data", "model")},
    ),
    "UnmatchedLogicalAxisError": (
        (("batch", "mlp"), ("mlp",), "no rule names 'mlp'"),
        ValueError,
        ["Axis names ('batch', 'mlp') did not match a rule: no rule names 'mlp'", "('mlp', None)"],
        {"unmatched": ("mlp",), "detail": "no rule names 'mlp'"},
    ),
}


def _error_classes():
    return sorted(
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, FlaxenError) and value is not FlaxenError
    )


def test_every_error_class_has_a_case():
    assert sorted(CASES) == _error_classes()


@pytest.mark.parametrize("name", sorted(CASES))
def test_message_base_classes_and_attributes(name):
    args, builtin, fragments, attributes = CASES[name]
    cls = getattr(errors, name)
    error = cls(*args)
    assert isinstance(error, FlaxenError)
    assert isinstance(error, builtin)
    assert issubclass(cls, builtin)
    text = str(error)
    for fragment in fragments:
        assert fragment in text, (fragment, text)
    for attribute, value in attributes.items():
        assert getattr(error, attribute) == value
    # Plain text, whatever the built-in (KeyError would repr() its argument).
    assert not text.startswith(("'", '"Could'))
    assert error.args == (text,)


@pytest.mark.parametrize("name", sorted(CASES))
def test_message_ends_with_its_docs_link(name):
    args = CASES[name][0]
    error = getattr(errors, name)(*args)
    link = f"https://flaxen.readthedocs.io/en/latest/api/errors.html#flaxen.errors.{name}"
    assert docs_link(name) == link
    assert str(error).endswith(f" ({link})")
    assert str(error) == f"{error.message} ({link})"


@pytest.mark.parametrize("name", sorted(CASES))
def test_raise_and_catch_by_builtin(name):
    args, builtin, _, _ = CASES[name]
    cls = getattr(errors, name)
    with pytest.raises(builtin) as info:
        raise cls(*args)
    assert type(info.value) is cls
    with pytest.raises(FlaxenError):
        raise cls(*args)


@pytest.mark.parametrize(
    "dumps, loads", [(pickle.dumps, pickle.loads), (cloudpickle.dumps, pickle.loads)]
)
@pytest.mark.parametrize("name", sorted(CASES))
def test_pickle_round_trip(name, dumps, loads):
    args, _, _, attributes = CASES[name]
    error = getattr(errors, name)(*args)
    error.add_note("raised while testing")
    copy = loads(dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert copy.args == error.args
    assert copy.__notes__ == ["raised while testing"]
    for attribute in attributes:
        if attribute not in ("update_fn", "cond_fn", "method"):
            assert getattr(copy, attribute) == getattr(error, attribute)


def test_pickled_function_arguments_come_back_as_the_same_functions():
    error = errors.ApplyModuleInvalidMethodError(len)
    assert pickle.loads(pickle.dumps(error)).method is len
    error = errors.TraverseTreeError(_no_op, None)
    copy = pickle.loads(pickle.dumps(error))
    assert copy.update_fn is _no_op and copy.cond_fn is None


def test_pickle_keeps_attributes_set_after_construction():
    error = errors.ScopeParamNotFoundError("kernel", "/Dense_0")
    error.extra = {"hint": 1}
    assert pickle.loads(pickle.dumps(error)).extra == {"hint": 1}


def test_classes_are_reported_under_the_public_module():
    for name in _error_classes():
        cls = getattr(errors, name)
        assert cls.__module__ == "flaxen.errors"
        assert cls.__qualname__ == name
    assert "flaxen.errors.NameInUseError" in repr(errors.NameInUseError)


def test_flax_error_alias():
    assert errors.FlaxError is FlaxenError
    with pytest.raises(errors.FlaxError):
        raise errors.NameInUseError("param", "bar", "Foo")


def test_key_error_subclasses_read_as_plain_text():
    error = errors.ScopeParamNotFoundError("kernel", "/Dense_0")
    plain = KeyError("x")
    assert str(plain) == "'x'"  # what FlaxenError.__str__ avoids
    assert str(error).startswith('Could not find parameter named "kernel"')


def test_cursor_find_error_without_matches():
    error = errors.CursorFindError()
    assert str(error).startswith("No object found given the conditions of the cond_fn.")
    assert error.cursor is None and error.cursor2 is None
    # A single match is not an error of "more than one".
    assert str(errors.CursorFindError(_Cursor(".a"))).startswith("No object found")


def test_cursor_find_error_accepts_plain_paths():
    assert "'a' and 'b'" not in str(errors.CursorFindError("a", "b"))
    assert "paths: a and b" in str(errors.CursorFindError("a", "b"))


def test_traverse_tree_error_both_none():
    error = errors.TraverseTreeError(None, None)
    assert "Both update_fn and cond_fn are None" in str(error)


def test_checkpoint_errors_without_steps_or_backends():
    error = errors.CheckpointNotFoundError("/ckpts/checkpoint_5")
    assert error.available == ()
    assert "Steps present in the directory: none." in str(error)
    error = errors.UnknownCheckpointFormatError("/ckpts/x", None, [])
    assert "no installed checkpoint backend recognises its files (installed backends: none)" in (
        str(error)
    )
    assert "(installed: none)" in str(errors.UnknownCheckpointBackendError("x", ()))


def test_scan_errors_without_names():
    assert "but some broadcast variables do:" in str(errors.ScanBroadcastError(()))
    error = errors.ScanCarryStructureError((), ())
    assert str(error).startswith("The scan body changed the structure of the carried variables.")
    assert str(errors.ScanCarryStructureError(["c/x"])).startswith("The scan body created c/x.")


def test_batch_errors_keep_flax_s_built_ins_and_shorten_values():
    # Flax asserts on inconsistent batch sizes; flaxen's error is also a ValueError.
    assert issubclass(errors.InconsistentBatchSizesError, ValueError)
    error = errors.InconsistentBatchSizesError([])
    assert str(error).startswith("Inconsistent batch-sizes: set(). pad_shard_unpad found no")
    long = "x" * 200
    text = str(errors.ScalarBatchLeafError("batch", long))
    assert f"is a scalar: '{'x' * 76}.... Give each leaf" in text


def test_mpa_checkpointing_required_names_the_fix_flaxen_supports():
    # flaxen accepts gda_manager= only for Flax's signature and ignores it;
    # the message must not send users there.
    text = str(errors.MPACheckpointingRequiredError("/ckpts", 7))
    assert "gda_manager" not in text
    assert 'pass backend="orbax" (or an orbax_checkpointer) to the save call' in text


def test_warnings_are_flaxen_warnings_under_the_public_module():
    warning_classes = sorted(
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, Warning)
    )
    assert warning_classes == ["CheckpointFallbackWarning", "FlaxenWarning", "PluginWarning"]
    for name in warning_classes:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.FlaxenWarning)
        assert issubclass(cls, UserWarning)
        assert cls.__module__ == "flaxen.errors"
        assert len(cls.__doc__.strip()) > 40
    with pytest.warns(errors.FlaxenWarning, match="restored checkpoint_3"):
        warnings.warn("restored checkpoint_3", errors.CheckpointFallbackWarning, stacklevel=1)


def test_mpa_restore_target_required_without_key():
    error = errors.MPARestoreTargetRequiredError("/ckpts", 1)
    assert error.key is None
    assert "The array is at" not in str(error)


def test_set_attribute_frozen_module_error_names_the_attribute_and_class():
    class SomeModule:
        pass

    error = errors.SetAttributeFrozenModuleError(SomeModule, "features", "x")
    assert error.name == "features"  # AttributeError.name
    assert "features='x' for Module of type SomeModule" in str(error)
    assert error.module_cls is SomeModule


def test_already_exists_error_is_an_os_error():
    error = errors.AlreadyExistsError("/tmp/f")
    assert isinstance(error, OSError)
    assert error.strerror
    assert str(error).startswith('Trying overwrite an existing file: "/tmp/f".')


def test_constructor_signatures_are_flax_s():
    # Parameter names are part of the API (errors are built with keywords too).
    signatures = {
        name: tuple(inspect.signature(getattr(errors, name)).parameters) for name in CASES
    }
    assert signatures["ScopeParamShapeError"] == (
        "param_name",
        "scope_path",
        "value_shape",
        "init_shape",
    )
    assert signatures["MPARestoreTargetRequiredError"] == ("path", "step", "key")
    assert signatures["MPARestoreDataCorruptedError"] == ("step", "path")
    assert signatures["CursorFindError"] == ("cursor", "cursor2")
    error = errors.ScopeParamShapeError(
        param_name="k", scope_path="/", value_shape=(1,), init_shape=(2,)
    )
    assert pickle.loads(pickle.dumps(error)).init_shape == (2,)


def test_docstrings_say_what_and_how():
    for name in _error_classes():
        doc = getattr(errors, name).__doc__
        assert doc and len(doc.strip()) > 40, name


def test_doctests(run_doctests):
    assert run_doctests("flaxen.errors") > 0


def test_base_error_pickles_and_has_flax_s_signature():
    assert list(inspect.signature(FlaxenError).parameters) == ["message"]
    error = FlaxenError("something broke")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is FlaxenError
    assert str(copy) == str(error) == f"something broke ({docs_link('FlaxenError')})"
