"""Checksums of checkpoint files: the manifest, and hashing that hides behind I/O.

Every checkpoint flaxen writes carries a manifest: for each of its files the
size and one checksum per fixed-size block (16 MiB). Blocks are hashed on a
small thread pool while the data is written (``write_file``) or read
(``read_file``); both zlib and hashlib release the GIL on large buffers, so
hashing overlaps the disk I/O instead of adding to it.

Backends that write through :func:`write_file` and read through
:func:`read_file` get this for free. Files a backend writes by other means
(Orbax writes through TensorStore) are hashed after the backend returns, and
verified after it reads them, before the tree is handed back.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import contextvars
import dataclasses
import hashlib
import json
import os
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from . import _fsutil, _naming
from ._errors import CorruptedCheckpointError

FORMAT = "flaxen-checkpoint-manifest"
VERSION = 1
BLOCK_SIZE = 16 * 2**20


def _crc32(views: Iterable[memoryview]) -> str:
    value = 0
    for view in views:
        value = zlib.crc32(view, value)
    return f"{value:08x}"


def _hashlib(name: str) -> Callable[[Iterable[memoryview]], str]:
    def digest(views: Iterable[memoryview]) -> str:
        h = hashlib.new(name)
        for view in views:
            h.update(view)
        return h.hexdigest()

    return digest


#: Checksum algorithms a manifest may name.
ALGORITHMS: dict[str, Callable[[Iterable[memoryview]], str]] = {
    "crc32": _crc32,
    "sha256": _hashlib("sha256"),
    "sha1": _hashlib("sha1"),
    "blake2b": _hashlib("blake2b"),
}
ALGORITHM_ENV = "FLAXEN_CHECKPOINT_CHECKSUM"
DEFAULT_ALGORITHM = "crc32"


def default_algorithm() -> str:
    name = os.environ.get(ALGORITHM_ENV, DEFAULT_ALGORITHM)
    if name not in ALGORITHMS:
        raise ValueError(
            f"{ALGORITHM_ENV}={name!r} is not a known checksum; use one of {sorted(ALGORITHMS)}."
        )
    return name


_pool: concurrent.futures.ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def pool() -> concurrent.futures.ThreadPoolExecutor:
    """The process-wide hashing/reading pool (created on first use)."""
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                workers = max(2, min(8, os.cpu_count() or 2))
                _pool = concurrent.futures.ThreadPoolExecutor(
                    workers, thread_name_prefix="flaxen-checkpoint-io"
                )
    return _pool


# -- the manifest ------------------------------------------------------------------


@dataclasses.dataclass
class FileRecord:
    size: int
    digests: list[str]


@dataclasses.dataclass
class Manifest:
    """What a checkpoint holds: its backend and each file's size and block checksums."""

    backend: str
    algorithm: str = DEFAULT_ALGORITHM
    block_size: int = BLOCK_SIZE
    files: dict[str, FileRecord] = dataclasses.field(default_factory=dict)
    #: '/'-joined state-dict keys of the arrays that spanned several processes.
    multiprocess_arrays: list[str] = dataclasses.field(default_factory=list)

    def to_json(self) -> bytes:
        data: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "backend": self.backend,
            "algorithm": self.algorithm,
            "block_size": self.block_size,
            "files": {
                name: {"size": record.size, "digests": record.digests}
                for name, record in sorted(self.files.items())
            },
        }
        if self.multiprocess_arrays:
            data["multiprocess_arrays"] = list(self.multiprocess_arrays)
        return json.dumps(data, indent=1).encode()

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
            files = {
                str(name): FileRecord(int(r["size"]), [str(d) for d in r["digests"]])
                for name, r in data["files"].items()
            }
            mpas = [str(k) for k in data.get("multiprocess_arrays", [])]
            return cls(str(data["backend"]), algorithm, int(data["block_size"]), files, mpas)
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


def _relpath(root: str, path: str) -> str:
    if os.path.abspath(path) == os.path.abspath(root):
        return ""
    return os.path.relpath(path, root).replace(os.sep, "/")


def _abspath(root: str, rel: str) -> str:
    return root if rel == "" else os.path.join(root, *rel.split("/"))


def list_files(root: str) -> list[str]:
    """Relative paths of every file of a checkpoint (its manifest excluded)."""
    if not os.path.isdir(root):
        return [""]
    found = []
    for dirpath, _, files in os.walk(root):
        for name in files:
            rel = _relpath(root, os.path.join(dirpath, name))
            if rel != _naming.MANIFEST_NAME:
                found.append(rel)
    return sorted(found)


# -- hashing -----------------------------------------------------------------------


class _BlockHasher:
    """Cuts a byte stream into blocks and hashes each on the pool as it completes."""

    def __init__(self, algorithm: str, block_size: int) -> None:
        self._digest = ALGORITHMS[algorithm]
        self._block_size = block_size
        self._pending: list[memoryview] = []
        self._filled = 0
        self._futures: list[concurrent.futures.Future[str]] = []
        self.size = 0

    def feed(self, view: memoryview) -> None:
        while view.nbytes:
            room = self._block_size - self._filled
            piece, view = view[:room], view[room:]
            self._pending.append(piece)
            self._filled += piece.nbytes
            self.size += piece.nbytes
            if self._filled == self._block_size:
                self._submit()

    def _submit(self) -> None:
        self._futures.append(pool().submit(self._digest, self._pending))
        self._pending = []
        self._filled = 0

    def finish(self) -> FileRecord:
        if self._pending or not self._futures:
            self._submit()
        return FileRecord(self.size, [f.result() for f in self._futures])


def _as_views(data: Any) -> list[memoryview]:
    try:
        return [memoryview(data).cast("B")]
    except TypeError:
        return [memoryview(part).cast("B") for part in data]


_local = threading.local()


def _block_buffer(size: int) -> memoryview:
    """A reusable per-thread read buffer (fresh allocations page-fault on every block)."""
    buf = getattr(_local, "buf", None)
    if buf is None or len(buf) < size:
        buf = _local.buf = bytearray(size)
    return memoryview(buf)


def _start_digest(path: str, algorithm: str, block_size: int) -> Callable[[], FileRecord]:
    """Starts hashing a file's blocks on the pool (each read with pread); returns a waiter.

    Blocks are submitted from the calling thread, never from a pool worker,
    so the pool cannot deadlock on itself.
    """
    digest = ALGORITHMS[algorithm]
    size = os.path.getsize(path)
    fd = os.open(path, os.O_RDONLY)

    def block(offset: int) -> str:
        view = _block_buffer(block_size)
        n = os.preadv(fd, [view[:block_size]], offset)
        return digest([view[:n]])

    try:
        futures = [pool().submit(block, offset) for offset in range(0, size, block_size) or [0]]
    except BaseException:
        os.close(fd)
        raise

    def wait() -> FileRecord:
        try:
            return FileRecord(size, [f.result() for f in futures])
        finally:
            concurrent.futures.wait(futures)
            os.close(fd)

    return wait


def _digest_file(path: str, algorithm: str, block_size: int) -> FileRecord:
    """Checksums of a file on disk, its blocks read and hashed in parallel."""
    return _start_digest(path, algorithm, block_size)()


def _digest_buffer(data: memoryview, algorithm: str, block_size: int, parallel: bool) -> list[str]:
    digest = ALGORITHMS[algorithm]
    blocks = [data[i : i + block_size] for i in range(0, data.nbytes, block_size)] or [data]
    if parallel and len(blocks) > 1:
        return list(pool().map(lambda b: digest([b]), blocks))
    return [digest([b]) for b in blocks]


# -- sessions: what a backend's writes and reads are checked against ---------------


class SaveSession:
    """Collects the checksums of the files a backend writes under ``root``."""

    def __init__(self, root: str, backend: str) -> None:
        self.root = root
        self.manifest = Manifest(backend, default_algorithm(), BLOCK_SIZE)
        self._lock = threading.Lock()

    def record(self, path: str, record: FileRecord) -> None:
        with self._lock:
            self.manifest.files[_relpath(self.root, path)] = record

    def complete(self) -> Manifest:
        """Hashes the files the backend wrote by other means than ``write_file``."""
        manifest = self.manifest
        for rel in list_files(self.root):
            if rel not in manifest.files:
                manifest.files[rel] = _digest_file(
                    _abspath(self.root, rel), manifest.algorithm, manifest.block_size
                )
        return manifest


class RestoreSession:
    """Checks the files a backend reads under ``root`` against their manifest."""

    def __init__(self, root: str, manifest: Manifest | None, parallel: bool) -> None:
        self.root = root
        self.manifest = manifest
        self.parallel = parallel
        self.verified: set[str] = set()

    def check_sizes(self) -> None:
        """Cheap first pass: every file is present with its recorded size."""
        if self.manifest is None:
            return
        for rel, record in self.manifest.files.items():
            path = _abspath(self.root, rel)
            try:
                size = os.path.getsize(path)
            except FileNotFoundError:
                raise CorruptedCheckpointError(path, "the file is missing") from None
            if size != record.size:
                raise CorruptedCheckpointError(
                    path, f"it has {size} bytes, {record.size} were written"
                )

    def expects(self, path: str) -> bool:
        """Whether ``path`` has checksums to verify."""
        if self.manifest is None:
            return False
        return _relpath(self.root, path) in self.manifest.files

    def verify_record(self, path: str, size: int, found: FileRecord) -> None:
        """Compares checksums computed from the file with the manifest's."""
        assert self.manifest is not None
        rel = _relpath(self.root, path)
        record = self.manifest.files[rel]
        if size != record.size or found.size != record.size:
            raise CorruptedCheckpointError(path, f"it has {size} bytes, {record.size} were written")
        _compare(path, found.digests, record, self.manifest)
        self.verified.add(rel)

    def verify_buffer(self, path: str, data: memoryview) -> None:
        if self.manifest is None:
            return
        rel = _relpath(self.root, path)
        record = self.manifest.files.get(rel)
        if record is None:
            return
        m = self.manifest
        if data.nbytes != record.size:
            raise CorruptedCheckpointError(
                path, f"it has {data.nbytes} bytes, {record.size} were written"
            )
        digests = _digest_buffer(data, m.algorithm, m.block_size, self.parallel)
        _compare(path, digests, record, m)
        self.verified.add(rel)

    def verify_rest(self) -> None:
        """Verifies the files the backend did not read through ``read_file``."""
        if self.manifest is None:
            return
        m = self.manifest
        for rel, record in self.manifest.files.items():
            if rel in self.verified:
                continue
            path = _abspath(self.root, rel)
            try:
                found = _digest_file(path, m.algorithm, m.block_size)
            except FileNotFoundError:
                raise CorruptedCheckpointError(path, "the file is missing") from None
            if found.size != record.size:
                raise CorruptedCheckpointError(
                    path, f"it has {found.size} bytes, {record.size} were written"
                )
            _compare(path, found.digests, record, m)
            self.verified.add(rel)


def _compare(path: str, digests: list[str], record: FileRecord, m: Manifest) -> None:
    for i, (got, want) in enumerate(zip(digests, record.digests)):
        if got != want:
            start = i * m.block_size
            raise CorruptedCheckpointError(
                path,
                f"bytes {start}..{min(start + m.block_size, record.size)} have {m.algorithm}"
                f" {got}, {want} was written",
            )
    if len(digests) != len(record.digests):
        raise CorruptedCheckpointError(path, "its block count does not match its manifest")


_SAVE: contextvars.ContextVar[SaveSession | None] = contextvars.ContextVar(
    "flaxen_checkpoint_save", default=None
)
_RESTORE: contextvars.ContextVar[RestoreSession | None] = contextvars.ContextVar(
    "flaxen_checkpoint_restore", default=None
)


@contextlib.contextmanager
def saving(session: SaveSession) -> Iterator[SaveSession]:
    token = _SAVE.set(session)
    try:
        yield session
    finally:
        _SAVE.reset(token)


@contextlib.contextmanager
def restoring(session: RestoreSession) -> Iterator[RestoreSession]:
    token = _RESTORE.set(session)
    try:
        yield session
    finally:
        _RESTORE.reset(token)


# -- the public I/O helpers for backends -------------------------------------------


def write_file(path: str | os.PathLike[str], data: Any) -> None:
    """Writes a new file of a checkpoint, checksummed while it is written.

    For backends: call it from ``CheckpointBackend.save`` for every file the
    checkpoint consists of. The data is written straight from the given
    buffers (no joining copy), fsynced, and its block checksums, computed on
    a background pool while the bytes go to disk, are recorded in the
    checkpoint's manifest. Outside a save it just writes the file durably.

    Args:
      path: the file to create (it must not exist).
      data: a bytes-like object, or an iterable of them written one after
        the other.

    >>> import os, tempfile
    >>> from flaxen.checkpoint import read_file, write_file
    >>> path = os.path.join(tempfile.mkdtemp(), "part")
    >>> write_file(path, [b"hello ", memoryview(b"world")])
    >>> read_file(path)
    b'hello world'
    """
    path = os.fspath(path)
    session = _SAVE.get()
    views = _as_views(data)
    hasher = None
    if session is not None:
        hasher = _BlockHasher(session.manifest.algorithm, session.manifest.block_size)
    half = sum(v.nbytes for v in views) // 2 if os.environ.get(_fsutil.PAUSE_ENV) else -1
    written = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        for view in views:
            if hasher is not None:
                hasher.feed(view)
            if 0 <= half - written < view.nbytes:
                # Crash tests stop a save with half of its bytes on disk.
                _fsutil.write_all(fd, view[: half - written])
                _fsutil.pause_point("mid_write")
                _fsutil.write_all(fd, view[half - written :])
            else:
                _fsutil.write_all(fd, view)
            written += view.nbytes
        os.fsync(fd)
    finally:
        os.close(fd)
    if hasher is not None and session is not None:
        session.record(path, hasher.finish())


def read_file(path: str | os.PathLike[str]) -> bytes:
    """Reads a whole file of a checkpoint, verified against its manifest.

    For backends: call it from ``CheckpointBackend.restore``. Inside a
    restore, the bytes are checked against the checksums recorded when the
    checkpoint was written (blocks hashed in parallel) and a mismatch raises
    :class:`~flaxen.checkpoint.CorruptedCheckpointError` naming the file.

    Args:
      path: the file to read.

    Returns:
      Its content.
    """
    path = os.fspath(path)
    session = _RESTORE.get()
    check = session is not None and session.expects(path)
    if check:
        # The checksums are computed from the file's blocks (pread on the
        # pool) while this thread reads the whole file: both come from the
        # same page cache, and the hashing hides behind the read.
        assert session is not None
        m = session.manifest
        assert m is not None
        pending = _start_digest(path, m.algorithm, m.block_size)
    with open(path, "rb", buffering=0) as f:
        data = f.readall()
    if check:
        assert session is not None
        session.verify_record(path, len(data), pending())
    return data
