"""What flaxen-checkpoint registers, convert_pre_linen, the training forwarding, doctests."""

import numpy as np
import pytest

from flaxen.checkpoint import MsgpackBackend, OrbaxBackend, convert_pre_linen, get_backend
from flaxen.core.frozen_dict import FrozenDict, freeze
from flaxen.plugins import CheckpointBackend, CliCommand, get_registry


def test_backends_and_command_are_registered_by_this_distribution():
    registry = get_registry()
    for name in ("msgpack", "orbax"):
        assert registry.provider("checkpoint_backends", name).distribution == "flaxen-checkpoint"
        backend = get_backend(name)
        assert isinstance(backend, CheckpointBackend) and backend.name == name
    assert isinstance(get_backend("msgpack"), MsgpackBackend) and get_backend("msgpack").single_file
    assert isinstance(get_backend("orbax"), OrbaxBackend) and not get_backend("orbax").single_file
    command = registry.lookup("cli_commands", "checkpoint")
    assert isinstance(command, CliCommand)
    assert registry.provider("cli_commands", "checkpoint").distribution == "flaxen-checkpoint"


def test_training_checkpoints_forward_to_this_package():
    pytest.importorskip("flaxen.training")
    import flaxen.checkpoint as ckpt
    from flaxen.training import checkpoints, orbax_utils

    for name in (
        "save_checkpoint",
        "save_checkpoint_multiprocess",
        "restore_checkpoint",
        "latest_checkpoint",
        "available_steps",
        "convert_pre_linen",
        "natural_sort",
        "AsyncManager",
    ):
        assert getattr(checkpoints, name) is getattr(ckpt, name)
    assert orbax_utils.save_args_from_target is ckpt.orbax_utils.save_args_from_target
    assert orbax_utils.restore_args_from_target is ckpt.orbax_utils.restore_args_from_target


CHECKPOINT_ERRORS = (
    "CheckpointFallbackWarning",
    "CheckpointNotFoundError",
    "CorruptedCheckpointError",
    "UnknownCheckpointBackendError",
    "UnknownCheckpointFormatError",
)


@pytest.mark.parametrize("name", CHECKPOINT_ERRORS)
def test_errors_are_flaxen_errors_re_exported(name):
    # One catalog: the classes live in flaxen.errors; flaxen.checkpoint keeps
    # its names for code that imports them from here.
    import flaxen.checkpoint as ckpt
    from flaxen import errors

    cls = getattr(ckpt, name)
    assert cls is getattr(errors, name)
    assert cls.__module__ == "flaxen.errors"
    assert issubclass(cls, errors.FlaxenWarning if name.endswith("Warning") else errors.FlaxenError)


def test_convert_pre_linen_renumbers_per_class_at_every_level():
    params = {
        "Conv_0": {"kernel": 1},
        "Dense_1": {"kernel": 2, "Dense_0": {"b": 1}, "Conv_3": {"x": 2}, "Dense_5": 5},
        "Conv_2": {"k": 3},
        "MyMod_7": {"w": 1},
        "foo": {"Dense_9": 1},
        "Dense_x": 1,
        "_3": 4,
    }
    assert convert_pre_linen(params) == {
        "Conv_0": {"kernel": 1},
        "Conv_1": {"k": 3},
        "Dense_0": {"Conv_0": {"x": 2}, "Dense_0": {"b": 1}, "Dense_1": 5, "kernel": 2},
        "Dense_x": 1,
        "MyMod_0": {"w": 1},
        "_0": 4,
        "foo": {"Dense_0": 1},
    }


def test_convert_pre_linen_orders_by_number_not_by_text():
    converted = convert_pre_linen(
        {"Dense_10": 10, "Dense_9": 9, "Dense_2": 2, "a_b_3": 1, "a_b_1": 0}
    )
    assert converted == {"Dense_0": 2, "Dense_1": 9, "Dense_2": 10, "a_b_0": 0, "a_b_1": 1}
    assert list(converted) == sorted(converted)


def test_convert_pre_linen_keeps_frozen_dicts_and_leaves():
    converted = convert_pre_linen(freeze({"a": {"D_1": np.ones(2)}}))
    assert isinstance(converted, FrozenDict) and isinstance(converted["a"], FrozenDict)
    assert list(converted["a"]) == ["D_0"]
    assert convert_pre_linen({}) == {}
    assert convert_pre_linen({"a": [1, {"Dense_3": 1}]}) == {"a": [1, {"Dense_3": 1}]}
    assert convert_pre_linen(5) == 5


@pytest.mark.usefixtures("msgpack_default")
def test_doctests(run_doctests):
    assert run_doctests("flaxen.checkpoint") >= 20
