"""The manifest: what a checkpoint's files must look like when they are read back.

A small JSON document written with every checkpoint flaxen saves::

    {"format": "flaxen-checkpoint-manifest", "version": 1,
     "backend": "msgpack", "algorithm": "pagesum128",
     "files": {"": {"size": 400012345,
                    "blocks": [[12345, "9f...e1"], [8388608, "03...7a"], ...]}},
     "multiprocess_arrays": ["params/kernel"]}

``files`` maps each file (its path relative to the checkpoint; ``""`` for a
single-file checkpoint) to its size and the checksums of consecutive blocks
of it (each at most 16 MiB; a writer may cut blocks where its buffers end,
so that it never copies to hash). A directory checkpoint holds its manifest
as ``.flaxen-manifest.json`` inside; a single-file checkpoint has it next to
it as ``.<name>.flaxen-manifest.json``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from flaxen.errors import CorruptedCheckpointError

from . import _naming
from ._checksums import ALGORITHMS, DEFAULT_ALGORITHM

FORMAT = "flaxen-checkpoint-manifest"
VERSION = 1


@dataclasses.dataclass
class FileRecord:
    """A file's size and its blocks' ``(length, digest)``, in order."""

    size: int
    blocks: list[tuple[int, str]]

    def offsets(self) -> list[tuple[int, int, str]]:
        """``(offset, length, digest)`` of every block."""
        out = []
        offset = 0
        for length, digest in self.blocks:
            out.append((offset, length, digest))
            offset += length
        return out


@dataclasses.dataclass
class Manifest:
    """What a checkpoint holds: its backend and each file's size and block checksums."""

    backend: str
    algorithm: str = DEFAULT_ALGORITHM
    files: dict[str, FileRecord] = dataclasses.field(default_factory=dict)
    #: '/'-joined state-dict keys of the arrays that spanned several processes.
    multiprocess_arrays: list[str] = dataclasses.field(default_factory=list)

    def to_json(self) -> bytes:
        data: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "backend": self.backend,
            "algorithm": self.algorithm,
            "files": {
                name: {"size": record.size, "blocks": [list(b) for b in record.blocks]}
                for name, record in sorted(self.files.items())
            },
        }
        if self.multiprocess_arrays:
            data["multiprocess_arrays"] = list(self.multiprocess_arrays)
        return json.dumps(data, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes, where: str) -> Manifest:
        try:
            data = json.loads(raw)
            if data.get("format") != FORMAT:
                raise ValueError("not a flaxen checkpoint manifest")
            if data.get("version") != VERSION:
                raise ValueError(f"manifest version {data.get('version')!r} is not supported")
            algorithm = data["algorithm"]
            if algorithm not in ALGORITHMS:
                raise ValueError(f"unknown checksum algorithm {algorithm!r}")
            files = {}
            for name, r in data["files"].items():
                blocks = [(int(length), str(digest)) for length, digest in r["blocks"]]
                record = FileRecord(int(r["size"]), blocks)
                if sum(length for length, _ in blocks) != record.size:
                    raise ValueError(f"the blocks of {name!r} do not add up to its size")
                files[str(name)] = record
            mpas = [str(k) for k in data.get("multiprocess_arrays", [])]
            return cls(str(data["backend"]), algorithm, files, mpas)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise CorruptedCheckpointError(where, f"its manifest is unreadable ({error})") from None


def manifest_path(path: str) -> str:
    """Where the manifest of the checkpoint at ``path`` lives."""
    if os.path.isdir(path):
        return os.path.join(path, _naming.MANIFEST_NAME)
    return _naming.sidecar_path(path)


def read_manifest(path: str) -> Manifest | None:
    """The manifest of the checkpoint at ``path``; None when it has none (Flax wrote it)."""
    where = manifest_path(path)
    try:
        with open(where, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        return None
    return Manifest.from_json(raw, where)
