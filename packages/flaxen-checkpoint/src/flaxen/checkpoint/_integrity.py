"""Checksumming checkpoint files so that it hides behind the I/O.

Blocks are hashed on a small thread pool while the data is written
(:func:`write_file`: each buffer handed in is cut into blocks of at most
16 MiB, small buffers are gathered into one block, so nothing large is ever
copied to be hashed) or while it is read (:func:`read_file`: the blocks are
read again with ``pread`` on the pool and hashed while this thread reads
the file; both come from the same page cache). numpy, zlib and hashlib all
release the GIL on large buffers, so the hashing overlaps the disk I/O.

Backends that write through :func:`write_file` and read through
:func:`read_file` get this for free. Files a backend writes by other means
(Orbax writes through TensorStore) are hashed after the backend returns, and
verified after it reads them, before the tree is handed back.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import contextvars
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

from flaxen.errors import CorruptedCheckpointError

from . import _fsutil, _naming
from ._checksums import ALGORITHMS, default_algorithm
from ._manifest import FileRecord, Manifest
from ._manifest import manifest_path as manifest_path
from ._manifest import read_manifest as read_manifest

#: Largest block; hashed as one job.
BLOCK_SIZE = 16 * 2**20
#: Buffers smaller than this are gathered (copied) into one block.
SMALL = 2**20

_pool: concurrent.futures.ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def pool() -> concurrent.futures.ThreadPoolExecutor:
    """The process-wide hashing/reading pool (created on first use)."""
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                # Each worker keeps one 16 MiB read buffer: at most 64 MiB.
                workers = max(2, min(4, os.cpu_count() or 2))
                _pool = concurrent.futures.ThreadPoolExecutor(
                    workers, thread_name_prefix="flaxen-checkpoint-io"
                )
    return _pool


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
    """Cuts a stream of buffers into blocks and hashes each on the pool."""

    def __init__(self, algorithm: str) -> None:
        self._digest = ALGORITHMS[algorithm]
        self._small = bytearray()
        self._jobs: list[tuple[int, concurrent.futures.Future[str]]] = []
        self.size = 0

    def feed(self, view: memoryview) -> None:
        self.size += view.nbytes
        if view.nbytes < SMALL:
            self._small += view
            if len(self._small) >= SMALL:
                self._flush_small()
            return
        self._flush_small()
        for start in range(0, view.nbytes, BLOCK_SIZE):
            self._submit(view[start : start + BLOCK_SIZE])

    def _flush_small(self) -> None:
        if self._small:
            block, self._small = self._small, bytearray()
            self._submit(memoryview(block))

    def _submit(self, block: memoryview) -> None:
        self._jobs.append((block.nbytes, pool().submit(self._digest, block)))

    def finish(self) -> FileRecord:
        self._flush_small()
        if not self._jobs:
            self._submit(memoryview(b""))
        return FileRecord(self.size, [(n, f.result()) for n, f in self._jobs])


_local = threading.local()


def _block_buffer(size: int) -> memoryview:
    """A reusable per-thread read buffer (fresh allocations page-fault on every block)."""
    buf = getattr(_local, "buf", None)
    if buf is None or len(buf) < size:
        buf = _local.buf = bytearray(max(size, BLOCK_SIZE))
    return memoryview(buf)


def _start_digest(
    path: str, algorithm: str, plan: list[tuple[int, int]] | None = None
) -> Callable[[], FileRecord]:
    """Starts hashing a file's blocks on the pool (each read with pread); returns a waiter.

    ``plan`` lists the ``(offset, length)`` of the blocks (by default 16 MiB
    blocks). Blocks are submitted from the calling thread, never from a
    pool worker, so the pool cannot deadlock on itself.
    """
    digest = ALGORITHMS[algorithm]
    size = os.path.getsize(path)
    if plan is None:
        plan = [(o, min(BLOCK_SIZE, size - o)) for o in range(0, size, BLOCK_SIZE)] or [(0, 0)]
    fd = os.open(path, os.O_RDONLY)

    def block(offset: int, length: int) -> tuple[int, str]:
        view = _block_buffer(length)[:length]
        n = os.preadv(fd, [view], offset) if length else 0
        return n, digest(view[:n])

    try:
        futures = [pool().submit(block, offset, length) for offset, length in plan]
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


def _digest_file(path: str, algorithm: str) -> FileRecord:
    """Checksums of a file on disk in 16 MiB blocks, read and hashed in parallel."""
    return _start_digest(path, algorithm)()


def _compare(path: str, found: FileRecord, record: FileRecord, algorithm: str) -> None:
    if found.size != record.size:
        raise CorruptedCheckpointError(
            path, f"it has {found.size} bytes, {record.size} were written"
        )
    for (offset, length, want), (_, got) in zip(record.offsets(), found.blocks):
        if got != want:
            raise CorruptedCheckpointError(
                path,
                f"bytes {offset}..{offset + length} have {algorithm} {got}, {want} was written",
            )


# -- sessions: what a backend's writes and reads are checked against ---------------


class SaveSession:
    """Collects the checksums of the files a backend writes under ``root``."""

    def __init__(self, root: str, backend: str) -> None:
        self.root = root
        self.manifest = Manifest(backend, default_algorithm())
        self._lock = threading.Lock()

    def record(self, path: str, record: FileRecord) -> None:
        with self._lock:
            self.manifest.files[_relpath(self.root, path)] = record

    def complete(self) -> Manifest:
        """Hashes the files the backend wrote by other means than ``write_file``."""
        manifest = self.manifest
        waiters = {
            rel: _start_digest(_abspath(self.root, rel), manifest.algorithm)
            for rel in list_files(self.root)
            if rel not in manifest.files
        }
        for rel, wait in waiters.items():
            manifest.files[rel] = wait()
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

    def expected(self, path: str) -> FileRecord | None:
        """The recorded checksums of ``path``, if it has any."""
        if self.manifest is None:
            return None
        return self.manifest.files.get(_relpath(self.root, path))

    def start(self, path: str) -> Callable[[], None] | None:
        """Starts verifying ``path`` from disk on the pool; the waiter raises on damage."""
        record = self.expected(path)
        if record is None:
            return None
        assert self.manifest is not None
        algorithm = self.manifest.algorithm
        if os.path.getsize(path) != record.size:
            raise CorruptedCheckpointError(
                path, f"it has {os.path.getsize(path)} bytes, {record.size} were written"
            )
        plan = [(offset, length) for offset, length, _ in record.offsets()]
        if not self.parallel:
            _compare(path, _verify_serially(path, algorithm, plan), record, algorithm)
            self.verified.add(_relpath(self.root, path))
            return lambda: None
        wait = _start_digest(path, algorithm, plan)

        def finish() -> None:
            _compare(path, wait(), record, algorithm)
            self.verified.add(_relpath(self.root, path))

        return finish

    def verify_rest(self) -> None:
        """Verifies the files the backend did not read through ``read_file``."""
        if self.manifest is None:
            return
        waiters = []
        for rel in self.manifest.files:
            if rel in self.verified:
                continue
            path = _abspath(self.root, rel)
            if not os.path.exists(path):
                raise CorruptedCheckpointError(path, "the file is missing")
            finish = self.start(path)
            if finish is not None:
                waiters.append(finish)
        for finish in waiters:
            finish()


def _verify_serially(path: str, algorithm: str, plan: list[tuple[int, int]]) -> FileRecord:
    digest = ALGORITHMS[algorithm]
    size = os.path.getsize(path)
    with open(path, "rb", buffering=0) as f:
        blocks = []
        for offset, length in plan:
            f.seek(offset)
            data = f.read(length)
            blocks.append((len(data), digest(memoryview(data))))
    return FileRecord(size, blocks)


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


def _as_views(data: Any) -> list[memoryview]:
    try:
        return [memoryview(data).cast("B")]
    except TypeError:
        return [memoryview(part).cast("B") for part in data]


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
    hasher = None if session is None else _BlockHasher(session.manifest.algorithm)
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
    checkpoint was written (blocks hashed in parallel while the file is read)
    and a mismatch raises :class:`~flaxen.checkpoint.CorruptedCheckpointError`
    naming the file.

    Args:
      path: the file to read.

    Returns:
      Its content.
    """
    path = os.fspath(path)
    session = _RESTORE.get()
    finish = None if session is None else session.start(path)
    with open(path, "rb", buffering=0) as f:
        data = f.readall()
    if finish is not None:
        finish()
    return data
