"""Durable file-system operations: fsync, atomic rename, crash-safe delete.

Also the named pause points the crash tests use: with
``FLAXEN_CHECKPOINT_TEST_PAUSE=<point>[,<point>...]`` in the environment, a
save that reaches one of the points appends its name to the file named by
``FLAXEN_CHECKPOINT_TEST_MARKER`` and sleeps, so that a test can SIGKILL the
process exactly there. Unset, a pause point costs one dictionary lookup.
"""

from __future__ import annotations

import errno
import os
import shutil
import time

from flaxen.errors import AlreadyExistsError

from . import _naming

PAUSE_ENV = "FLAXEN_CHECKPOINT_TEST_PAUSE"
MARKER_ENV = "FLAXEN_CHECKPOINT_TEST_MARKER"


def pause_point(name: str) -> None:
    """Stops here for the crash tests when ``FLAXEN_CHECKPOINT_TEST_PAUSE`` names ``name``."""
    spec = os.environ.get(PAUSE_ENV)
    if not spec or name not in spec.split(","):
        return
    marker = os.environ.get(MARKER_ENV)
    if marker:
        with open(marker, "a") as f:
            f.write(name + "\n")
            f.flush()
            os.fsync(f.fileno())
    time.sleep(3600)


def fsync_path(path: str) -> None:
    """Flushes a file or directory to stable storage."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as error:  # some file systems cannot fsync directories
        if error.errno not in (errno.EINVAL, errno.EBADF, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def fsync_tree(path: str) -> None:
    """fsyncs every file and directory under ``path`` (``path`` included)."""
    if not os.path.isdir(path):
        fsync_path(path)
        return
    for root, _, files in os.walk(path, topdown=False):
        for name in files:
            fsync_path(os.path.join(root, name))
        fsync_path(root)


def write_all(fd: int, data: memoryview) -> None:
    """``os.write`` until every byte of ``data`` is written."""
    while data.nbytes:
        written = os.write(fd, data)
        data = data[written:]


def write_small_file(path: str, data: bytes) -> None:
    """Writes, fsyncs and closes a new file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        write_all(fd, memoryview(data))
        os.fsync(fd)
    finally:
        os.close(fd)


def commit_rename(src: str, dst: str, overwrite: bool) -> None:
    """Moves the finished ``src`` to ``dst`` atomically, then makes the move durable.

    A file replaces an existing ``dst`` file in one step. A directory cannot
    replace a non-empty one, so an existing ``dst`` directory is moved to a
    trash name first and deleted after the new one is in place: a crash in
    between loses that step's old version, never an earlier step.

    Raises:
      AlreadyExistsError: ``dst`` exists and ``overwrite`` is False.
    """
    parent = os.path.dirname(dst) or "."
    exists = os.path.lexists(dst)
    if exists and not overwrite:
        raise AlreadyExistsError(dst)
    trash = None
    if exists and (os.path.isdir(dst) or os.path.isdir(src)):
        trash = _naming.trash_path(dst)
        os.rename(dst, trash)
    if os.path.isdir(src) or not exists:
        _rename_no_replace(src, dst)
    else:
        os.replace(src, dst)
    fsync_path(parent)
    if trash is not None:
        remove(trash)


def _rename_no_replace(src: str, dst: str) -> None:
    if os.path.isdir(src):
        try:
            os.rename(src, dst)  # fails on a non-empty dst directory
        except OSError as error:
            if error.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
                raise AlreadyExistsError(dst) from error
            raise
        return
    try:
        os.link(src, dst)  # atomic and never replaces an existing dst
    except FileExistsError as error:
        raise AlreadyExistsError(dst) from error
    except OSError:  # no hard links on this file system
        if os.path.lexists(dst):
            raise AlreadyExistsError(dst) from None
        os.rename(src, dst)
        return
    os.unlink(src)


def remove(path: str) -> None:
    """Deletes a file or directory tree; missing paths are fine."""
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=False)
        else:
            os.unlink(path)
    except FileNotFoundError:
        pass


def remove_checkpoint(path: str) -> None:
    """Deletes a checkpoint so that a crash never leaves a half-deleted one in view.

    The checkpoint is renamed to a hidden trash name first (atomic); the slow
    recursive delete happens under that name. Its sidecar manifest (if any)
    goes after the data, so a checkpoint is never left without its manifest.
    """
    if os.path.isdir(path):
        trash = _naming.trash_path(path)
        try:
            os.rename(path, trash)
        except FileNotFoundError:
            pass
        else:
            remove(trash)
    else:
        remove(path)
    remove(_naming.sidecar_path(path))
    remove(path + _naming.MPA_POSTFIX)
