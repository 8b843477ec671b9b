"""Checksums: damaged checkpoints are a clear error (or a fallback), never a wrong tree."""

import json
import os
import pathlib
import warnings

import numpy as np
import pytest

from flaxen import serialization
from flaxen.checkpoint import (
    CheckpointFallbackWarning,
    CorruptedCheckpointError,
    UnknownCheckpointFormatError,
    read_file,
    restore_checkpoint,
    save_checkpoint,
    write_file,
)
from flaxen.checkpoint._checksums import ALGORITHM_ENV

from .conftest import requires_orbax

pytestmark = pytest.mark.usefixtures("msgpack_default")

WEIGHTS = np.arange(50_000, dtype=np.float32)


def flip_byte(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x01]))


def test_a_flipped_bit_in_array_data_is_detected(tmp_path):
    path = save_checkpoint(tmp_path, {"w": WEIGHTS}, 1)
    size = os.path.getsize(path)
    flip_byte(path, size - 1000)  # inside the array bytes: msgpack alone cannot notice
    with pytest.raises(CorruptedCheckpointError) as info:
        restore_checkpoint(tmp_path, None, step=1)
    assert info.value.path == path
    assert str(info.value).startswith(f'Checkpoint file "{path}" is corrupted: bytes 0..{size}')
    assert "have pagesum128" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_a_truncated_file_is_detected_before_parsing(tmp_path):
    path = save_checkpoint(tmp_path, {"w": WEIGHTS}, 1)
    size = os.path.getsize(path)
    os.truncate(path, size // 2)
    with pytest.raises(CorruptedCheckpointError, match=f"it has {size // 2} bytes, {size} were"):
        restore_checkpoint(tmp_path, None, step=1)


def test_latest_falls_back_to_the_newest_intact_step_with_a_warning(tmp_path):
    for step in (1, 2, 3):
        save_checkpoint(tmp_path, {"w": WEIGHTS + step}, step, keep=3)
    os.truncate(tmp_path / "checkpoint_3", 100)
    flip_byte(tmp_path / "checkpoint_2", 5000)
    with pytest.warns(CheckpointFallbackWarning) as record:
        restored = restore_checkpoint(tmp_path, None)
    np.testing.assert_array_equal(restored["w"], WEIGHTS + 1)
    (message,) = [str(w.message) for w in record]
    assert message.startswith(f"Restored {tmp_path / 'checkpoint_1'} instead of the latest")
    assert str(tmp_path / "checkpoint_3") in message and str(tmp_path / "checkpoint_2") in message
    # An explicit step is never replaced by another one.
    with pytest.raises(CorruptedCheckpointError):
        restore_checkpoint(tmp_path, None, step=3)


def test_latest_raises_when_every_step_is_damaged(tmp_path):
    for step in (1, 2):
        save_checkpoint(tmp_path, {"w": WEIGHTS}, step, keep=2)
        os.truncate(tmp_path / f"checkpoint_{step}", 10)
    with pytest.raises(CorruptedCheckpointError) as info:
        restore_checkpoint(tmp_path, None)
    assert info.value.path == str(tmp_path / "checkpoint_2")


def test_the_next_save_is_unaffected_by_a_damaged_checkpoint(tmp_path):
    save_checkpoint(tmp_path, {"w": WEIGHTS}, 1)
    os.truncate(tmp_path / "checkpoint_1", 10)
    save_checkpoint(tmp_path, {"w": WEIGHTS}, 2)
    np.testing.assert_array_equal(restore_checkpoint(tmp_path, None)["w"], WEIGHTS)


def test_without_a_manifest_the_format_is_still_checked(tmp_path):
    # A Flax-written checkpoint has no manifest: a truncated one still fails
    # clearly, through the msgpack structure.
    (tmp_path / "checkpoint_1").write_bytes(serialization.to_bytes({"w": WEIGHTS})[:-10])
    (tmp_path / "checkpoint_0").write_bytes(serialization.to_bytes({"w": WEIGHTS}))
    with pytest.raises(CorruptedCheckpointError) as info:
        restore_checkpoint(tmp_path, None, step=1)
    assert "truncated input" in str(info.value)
    with pytest.warns(CheckpointFallbackWarning):
        restored = restore_checkpoint(tmp_path, None)
    np.testing.assert_array_equal(restored["w"], WEIGHTS)


def test_an_unreadable_manifest_names_itself(tmp_path):
    save_checkpoint(tmp_path, {"w": WEIGHTS}, 1)
    manifest = tmp_path / ".checkpoint_1.flaxen-manifest.json"
    manifest.write_text("{not json")
    with pytest.raises(CorruptedCheckpointError) as info:
        restore_checkpoint(tmp_path, None, step=1)
    assert info.value.path == str(manifest)
    assert "its manifest is unreadable" in str(info.value)


def test_a_manifest_naming_an_uninstalled_backend(tmp_path):
    save_checkpoint(tmp_path, {"w": WEIGHTS}, 1)
    manifest = tmp_path / ".checkpoint_1.flaxen-manifest.json"
    data = json.loads(manifest.read_text())
    data["backend"] = "zarr9"
    manifest.write_text(json.dumps(data))
    with pytest.raises(UnknownCheckpointFormatError) as info:
        restore_checkpoint(tmp_path, None, step=1)
    assert 'written by the "zarr9" backend, which is not installed' in str(info.value)


@pytest.mark.parametrize("algorithm", ["sha256", "blake2b", "sha1", "crc32"])
def test_other_checksum_algorithms(tmp_path, monkeypatch, algorithm):
    monkeypatch.setenv(ALGORITHM_ENV, algorithm)
    path = save_checkpoint(tmp_path, {"w": WEIGHTS}, 1)
    data = json.loads((tmp_path / ".checkpoint_1.flaxen-manifest.json").read_text())
    assert data["algorithm"] == algorithm
    monkeypatch.delenv(ALGORITHM_ENV)
    np.testing.assert_array_equal(restore_checkpoint(tmp_path, None)["w"], WEIGHTS)
    flip_byte(path, 300)
    with pytest.raises(CorruptedCheckpointError, match=f"have {algorithm}"):
        restore_checkpoint(tmp_path, None, step=1)


def test_unknown_checksum_algorithm_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv(ALGORITHM_ENV, "md4")
    with pytest.raises(ValueError, match="FLAXEN_CHECKPOINT_CHECKSUM='md4' is not a known"):
        save_checkpoint(tmp_path, {"w": WEIGHTS}, 1)


def test_blocks_follow_the_written_buffers(tmp_path, monkeypatch):
    from flaxen.checkpoint import _integrity

    monkeypatch.setattr(_integrity, "BLOCK_SIZE", 4096)
    monkeypatch.setattr(_integrity, "SMALL", 1024)
    path = save_checkpoint(tmp_path, {"w": WEIGHTS}, 1)
    data = json.loads((tmp_path / ".checkpoint_1.flaxen-manifest.json").read_text())
    blocks = data["files"][""]["blocks"]
    size = os.path.getsize(path)
    header = size - WEIGHTS.nbytes  # the msgpack structure before the array's bytes
    # The structure is one block; the array is hashed from its own buffer in
    # 4096-byte blocks: no block straddles the two, nothing was copied.
    assert [length for length, _ in blocks] == [header] + [4096] * 48 + [3392]
    assert data["algorithm"] == "pagesum128"
    flip_byte(path, header + 3 * 4096 + 7)
    start = header + 3 * 4096
    with pytest.raises(CorruptedCheckpointError, match=rf"bytes {start}\.\.{start + 4096} have"):
        restore_checkpoint(tmp_path, None, step=1)


def test_serial_verification(tmp_path):
    path = save_checkpoint(tmp_path, {"w": WEIGHTS}, 1)
    np.testing.assert_array_equal(restore_checkpoint(tmp_path, None, parallel=False)["w"], WEIGHTS)
    flip_byte(path, 1000)
    with pytest.raises(CorruptedCheckpointError):
        restore_checkpoint(tmp_path, None, parallel=False)


class TwoFiles:
    """A directory backend: one file through write_file, one written by hand."""

    name = "twofiles"
    single_file = False

    def save(self, path, state):
        write_file(os.path.join(path, "tree.msgpack"), serialization.msgpack_serialize(state))
        with open(os.path.join(path, "note.txt"), "w") as f:
            f.write("written without write_file")

    def restore(self, path, target):
        return serialization.msgpack_restore(read_file(os.path.join(path, "tree.msgpack")))

    def recognizes(self, path):
        return os.path.exists(os.path.join(path, "tree.msgpack"))


def test_files_a_backend_writes_by_hand_are_checksummed_too(tmp_path):
    path = save_checkpoint(tmp_path, {"w": WEIGHTS}, 1, backend=TwoFiles())
    manifest = json.loads(pathlib.Path(path, ".flaxen-manifest.json").read_text())
    assert manifest["backend"] == "twofiles"
    assert sorted(manifest["files"]) == ["note.txt", "tree.msgpack"]
    backend = TwoFiles()
    restored = restore_checkpoint(tmp_path, None, backend=backend)
    np.testing.assert_array_equal(restored["w"], WEIGHTS)
    pathlib.Path(path, "note.txt").write_text("written without write_filf")
    with pytest.raises(CorruptedCheckpointError) as info:
        restore_checkpoint(tmp_path, None, backend=backend)
    assert info.value.path == os.path.join(path, "note.txt")
    os.remove(os.path.join(path, "note.txt"))
    with pytest.raises(CorruptedCheckpointError, match="the file is missing"):
        restore_checkpoint(tmp_path, None, backend=backend)


def test_write_and_read_file_outside_a_checkpoint(tmp_path):
    path = tmp_path / "f"
    write_file(path, [b"ab", bytearray(b"cd"), memoryview(np.arange(2, dtype=np.uint8))])
    assert read_file(path) == b"abcd\x00\x01"
    with pytest.raises(FileExistsError):
        write_file(path, b"again")


@requires_orbax
def test_damaged_orbax_checkpoint_is_detected(tmp_path):
    path = save_checkpoint(tmp_path, {"w": WEIGHTS, "b": np.ones(3)}, 1, backend="orbax")
    manifest = json.loads(pathlib.Path(path, ".flaxen-manifest.json").read_text())
    assert manifest["backend"] == "orbax"
    biggest = max(manifest["files"], key=lambda f: manifest["files"][f]["size"])
    flip_byte(os.path.join(path, biggest), manifest["files"][biggest]["size"] // 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # whatever orbax says about the damaged data
        with pytest.raises(CorruptedCheckpointError) as info:
            restore_checkpoint(tmp_path, None, step=1)
    assert info.value.path == os.path.join(path, biggest)
