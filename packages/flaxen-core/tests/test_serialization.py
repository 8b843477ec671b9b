"""flaxen.serialization state dicts: to/from_state_dict, the registry, current_path."""

import collections
import threading

import numpy as np
import pytest

from flaxen import serialization
from flaxen.errors import SerializationHandlerExistsError, StateDictMismatchError

NT = collections.namedtuple("NT", ["p", "q"])


class Recorder:
    """A registered type whose restore handler records the current path."""

    paths: list = []


serialization.register_serialization_state(
    Recorder,
    lambda x: {},
    lambda x, state: Recorder.paths.append(serialization.current_path()) or x,
)


@pytest.fixture(autouse=True)
def _clear_paths():
    Recorder.paths.clear()


# --- to_state_dict ---------------------------------------------------------------------


def test_to_state_dict_containers():
    assert serialization.to_state_dict({"a": [1, (2, 3)], 5: None}) == {
        "a": {"0": 1, "1": {"0": 2, "1": 3}},
        "5": None,
    }
    assert serialization.to_state_dict([]) == {}
    assert serialization.to_state_dict(()) == {}
    assert serialization.to_state_dict(NT(1, [2])) == {"p": 1, "q": {"0": 2}}
    state = serialization.to_state_dict({"b": 1, "a": 2})
    assert list(state) == ["b", "a"]


def test_to_state_dict_leaves_are_returned_as_is():
    leaf = np.ones(2)
    for value in (1, 1.5, "x", None, b"x", 1j, np.float32(1), {1, 2}):
        assert serialization.to_state_dict(value) is value
    assert serialization.to_state_dict(leaf) is leaf
    assert serialization.to_state_dict({"w": leaf})["w"] is leaf


def test_dict_subclasses_are_not_registered():
    class Sub(dict):
        pass

    value = Sub(a=1)
    assert serialization.to_state_dict(value) is value
    assert not serialization.is_serializable(value)


# --- from_state_dict ---------------------------------------------------------------------


def test_from_state_dict_containers():
    restored = serialization.from_state_dict(
        {"a": [0, (0, 0)], 5: None}, {"a": {"0": 1, "1": {"0": 2, "1": 3}}, "5": None}
    )
    assert restored == {"a": [1, (2, 3)], 5: None}
    assert type(restored["a"][1]) is tuple
    restored = serialization.from_state_dict(NT(0, [0]), {"p": 5, "q": {"0": 6}})
    assert restored == NT(5, [6])
    assert type(restored) is NT


def test_from_state_dict_uses_the_target_order_and_ignores_extra_dict_keys():
    restored = serialization.from_state_dict({"b": 1, "a": 2}, {"a": 5, "b": 6, "c": 7})
    assert restored == {"b": 6, "a": 5}
    assert list(restored) == ["b", "a"]


def test_from_state_dict_unregistered_targets_take_the_state():
    assert serialization.from_state_dict(None, {"a": 1}) == {"a": 1}
    assert serialization.from_state_dict(1, 2) == 2
    state = np.zeros(3)
    assert serialization.from_state_dict(np.ones(2), state) is state


def test_missing_dict_keys():
    with pytest.raises(StateDictMismatchError) as info:
        serialization.from_state_dict({"a": 1, "b": {"c": 2}}, {"a": 3, "b": {}})
    assert info.value.detail == (
        "The target dict keys and state dict keys do not match, target dict contains keys"
        " {'c'} which are not present in state dict at path ./b"
    )
    assert isinstance(info.value, ValueError)
    assert str(info.value).startswith(info.value.detail + "; restore into a target")
    with pytest.raises(StateDictMismatchError) as info:
        serialization.from_state_dict({"b": 1, "a": 2, "c": 3}, {"b": 1}, name="root")
    assert info.value.detail == (
        "The target dict keys and state dict keys do not match, target dict contains keys"
        " {'a', 'c'} which are not present in state dict at path root"
    )


def test_non_string_keys_are_looked_up_as_strings():
    assert serialization.from_state_dict({1: 2}, {"1": 3}) == {1: 3}
    with pytest.raises(StateDictMismatchError, match=r"contains keys \{'1'\}"):
        serialization.from_state_dict({1: 2}, {1: 3})


def test_list_and_tuple_size_mismatch():
    with pytest.raises(StateDictMismatchError) as info:
        serialization.from_state_dict([1, [2, 3]], {"0": 5, "1": {"0": 6}})
    assert info.value.detail == (
        "The size of the list and the state dict do not match, got 2 and 1 at path ./1"
    )
    with pytest.raises(StateDictMismatchError) as info:
        serialization.from_state_dict((1, (2, 3)), {"0": 5, "1": {"0": 6, "1": 7, "2": 8}})
    assert info.value.detail == (
        "The size of the list and the state dict do not match, got 2 and 3 at path ./1"
    )
    with pytest.raises(StateDictMismatchError, match=r"lacks \{'1'\} at path \."):
        serialization.from_state_dict([1, 2], {"0": 5, "x": 6})


def test_namedtuple_mismatch_and_legacy_format():
    with pytest.raises(StateDictMismatchError) as info:
        serialization.from_state_dict(NT(1, 2), {"p": 1})
    assert info.value.detail == (
        "The field names of the state dict and the named tuple do not match, got {'p'} and"
        " {'p', 'q'} at path ."
    )
    legacy = {"name": "NT", "fields": {"0": "q", "1": "p"}, "values": {"0": 5, "1": 6}}
    assert serialization.from_state_dict(NT(1, 2), legacy) == NT(p=6, q=5)
    broken = {"name": "NT", "fields": {"0": "p", "1": "q"}, "values": {"0": 5}}
    with pytest.raises(StateDictMismatchError, match="legacy namedtuple state dict of NT"):
        serialization.from_state_dict(NT(1, 2), broken)


@pytest.mark.parametrize("target", [{"a": 1}, [1], (1,), NT(1, 2)])
def test_state_that_is_not_a_mapping(target):
    with pytest.raises(StateDictMismatchError, match="Expected a state dict") as info:
        serialization.from_state_dict(target, 5)
    assert "got int at path ." in info.value.detail


# --- current_path ---------------------------------------------------------------------------


def test_current_path():
    assert serialization.current_path() == ""
    serialization.from_state_dict(Recorder(), {})
    serialization.from_state_dict({"a": [Recorder()]}, {"a": {"0": {}}})
    serialization.from_state_dict({"a": [Recorder()]}, {"a": {"0": {}}}, name="root")
    serialization.from_state_dict({1: (Recorder(),)}, {"1": {"0": {}}})
    serialization.from_state_dict(NT(Recorder(), 0), {"p": {}, "q": 0})
    assert Recorder.paths == [".", "./a/0", "root/a/0", "./1/0", "./p"]
    assert serialization.current_path() == ""


def test_current_path_is_reset_after_an_error():
    with pytest.raises(StateDictMismatchError):
        serialization.from_state_dict({"a": {"b": 1}}, {"a": {}})
    assert serialization.current_path() == ""


def test_current_path_is_per_thread():
    seen = []

    def restore_in_thread(x, state):
        thread = threading.Thread(target=lambda: seen.append(serialization.current_path()))
        thread.start()
        thread.join()
        seen.append(serialization.current_path())
        return x

    class Threaded:
        pass

    serialization.register_serialization_state(Threaded, lambda x: {}, restore_in_thread)
    serialization.from_state_dict({"k": Threaded()}, {"k": {}})
    assert seen == ["", "./k"]


def test_to_state_dict_does_not_record_paths():
    seen = []

    class Probe:
        pass

    serialization.register_serialization_state(
        Probe, lambda x: seen.append(serialization.current_path()) or {}, lambda x, s: x
    )
    serialization.to_state_dict({"a": [Probe()]})
    assert seen == [""]


# --- registry ---------------------------------------------------------------------------------


def test_register_custom_type():
    class Point:
        def __init__(self, x, y):
            self.x, self.y = x, y

    serialization.register_serialization_state(
        Point,
        lambda p: {"x": serialization.to_state_dict(p.x), "y": p.y},
        lambda p, s: Point(serialization.from_state_dict(p.x, s["x"], name="x"), s["y"]),
    )
    assert serialization.is_serializable(Point(1, 2))
    assert serialization.is_serializable(Point)
    assert serialization.to_state_dict({"pt": Point((1, 2), 3)}) == {
        "pt": {"x": {"0": 1, "1": 2}, "y": 3}
    }
    restored = serialization.from_state_dict(Point((0, 0), 0), {"x": {"0": 5, "1": 6}, "y": 7})
    assert (restored.x, restored.y) == ((5, 6), 7)
    data = serialization.to_bytes(Point([1.5], 2))
    restored = serialization.from_bytes(Point([0.0], 0), data)
    assert (restored.x, restored.y) == ([1.5], 2)


def test_register_twice_needs_override():
    class Thing:
        pass

    serialization.register_serialization_state(Thing, lambda x: {"v": 1}, lambda x, s: x)
    with pytest.raises(SerializationHandlerExistsError) as info:
        serialization.register_serialization_state(Thing, lambda x: {}, lambda x, s: x)
    assert str(info.value).startswith('a serialization handler for "Thing" is already registered')
    assert isinstance(info.value, ValueError)
    assert serialization.to_state_dict(Thing()) == {"v": 1}
    serialization.register_serialization_state(
        Thing, lambda x: {"v": 2}, lambda x, s: x, override=True
    )
    assert serialization.to_state_dict(Thing()) == {"v": 2}
    with pytest.raises(SerializationHandlerExistsError, match='"dict"'):
        serialization.register_serialization_state(dict, lambda x: {}, lambda x, s: x)


def test_is_serializable():
    assert serialization.is_serializable({})
    assert serialization.is_serializable(dict)
    assert serialization.is_serializable([])
    assert serialization.is_serializable(())
    assert not serialization.is_serializable(1)
    assert not serialization.is_serializable(None)
    assert not serialization.is_serializable(np.ones(1))
    # namedtuples are handled by their shape, not registered by type.
    assert not serialization.is_serializable(NT(1, 2))


def test_public_names():
    expected = {
        "MAX_CHUNK_SIZE",
        "current_path",
        "from_bytes",
        "from_state_dict",
        "is_serializable",
        "msgpack_restore",
        "msgpack_serialize",
        "register_serialization_state",
        "to_bytes",
        "to_state_dict",
    }
    assert expected <= set(dir(serialization))
    assert serialization.MAX_CHUNK_SIZE == 2**30


def test_doctests(run_doctests):
    assert run_doctests("flaxen.serialization") > 0
