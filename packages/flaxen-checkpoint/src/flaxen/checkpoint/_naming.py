"""Names inside a checkpoint directory, shared with Flax.

A checkpoint of step ``s`` is ``<ckpt_dir>/<prefix><s>`` (``str(s)``, so
``checkpoint_3`` and ``checkpoint_1.5``): a file for single-file formats
(msgpack), a directory for the others (Orbax). Everything flaxen writes
besides checkpoints starts with a dot, so neither Flax nor flaxen ever takes
it for a checkpoint:

* ``.<name>.flaxen-tmp-<pid>-<hex>``: a checkpoint being written;
* ``.<name>.flaxen-trash-<hex>``: a checkpoint being deleted;
* ``.<name>.flaxen-manifest.json``: the manifest of a single-file checkpoint
  (a directory checkpoint holds its manifest inside, see ``_integrity``).

Flax's own temporary file, ``<prefix>tmp``, is ignored too and removed by the
next save, as Flax does.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterable
from typing import Any

SIGNED_FLOAT_RE = re.compile(r"([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)")
UNSIGNED_FLOAT_RE = re.compile(r"[-+]?((?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)")
_STEP_RE = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")

TMP_MARK = ".flaxen-tmp-"
TRASH_MARK = ".flaxen-trash-"
SIDECAR_SUFFIX = ".flaxen-manifest.json"
#: Name of the manifest inside a directory checkpoint.
MANIFEST_NAME = ".flaxen-manifest.json"
#: Directories next to a checkpoint that belong to it (Flax's multiprocess arrays).
MPA_POSTFIX = "_gda"


def natural_sort(file_list: Iterable[str], signed: bool = True) -> list[str]:
    """Natural sort of file names: the numbers in them compare as numbers.

    Args:
      file_list: names to sort.
      signed: whether a ``-``/``+`` before a number is its sign; with
        ``False`` the sign is ignored.

    Returns:
      The sorted names.

    >>> natural_sort(['ckpt_10', 'ckpt_9', 'ckpt_1e5', 'ckpt_-1.0'])
    ['ckpt_-1.0', 'ckpt_9', 'ckpt_10', 'ckpt_1e5']
    >>> natural_sort(['ckpt_0.01', 'ckpt_0.1', 'ckpt_0.001'])[-1]
    'ckpt_0.1'
    """
    regex = SIGNED_FLOAT_RE if signed else UNSIGNED_FLOAT_RE

    def key(name: str) -> list[Any]:
        # re.split with one capturing group alternates text and number, text first.
        return [float(part) if i % 2 else part for i, part in enumerate(regex.split(name))]

    return sorted(file_list, key=key)


def checkpoint_name(step: Any, prefix: str) -> str:
    return f"{prefix}{step}"


def checkpoint_path(ckpt_dir: str, step: Any, prefix: str) -> str:
    return os.path.join(ckpt_dir, checkpoint_name(step, prefix))


def step_suffix(name: str, prefix: str) -> str | None:
    """The step part of a checkpoint name, or None when ``name`` is not one."""
    if not name.startswith(prefix):
        return None
    suffix = name[len(prefix) :]
    if not _STEP_RE.fullmatch(suffix):
        return None
    return suffix


def listdir(ckpt_dir: str) -> list[str]:
    try:
        return os.listdir(ckpt_dir)
    except (FileNotFoundError, NotADirectoryError):
        return []


def checkpoint_names(ckpt_dir: str, prefix: str) -> list[str]:
    """Names of the checkpoints in ``ckpt_dir``, oldest first.

    Only ``<prefix><number>`` counts: temporary and trash entries, Flax's
    ``<prefix>tmp``, its ``<name>_gda`` array directories and stray files
    such as ``<prefix>foo`` are not checkpoints (Flax would pick the last one
    as the latest and then fail to read it).
    """
    names = [n for n in listdir(ckpt_dir) if step_suffix(n, prefix) is not None]
    return natural_sort(names)


def step_value(name: str, prefix: str) -> float:
    suffix = step_suffix(name, prefix)
    assert suffix is not None
    return float(suffix)


def sidecar_path(path: str) -> str:
    """The manifest file of the single-file checkpoint ``path``."""
    head, tail = os.path.split(path)
    return os.path.join(head, f".{tail}{SIDECAR_SUFFIX}")


def tmp_path(path: str) -> str:
    """A fresh name, next to ``path``, to write its replacement under."""
    head, tail = os.path.split(path)
    return os.path.join(head, f".{tail}{TMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:12]}")


def shared_tmp_path(path: str) -> str:
    """A temporary name every process of a multi-process save agrees on."""
    head, tail = os.path.split(path)
    return os.path.join(head, f".{tail}{TMP_MARK}shared")


def trash_path(path: str) -> str:
    head, tail = os.path.split(path)
    return os.path.join(head, f".{tail}{TRASH_MARK}{uuid.uuid4().hex[:12]}")


def is_leftover(name: str, prefix: str) -> bool:
    """Whether ``name`` is debris of an interrupted save or delete of ``prefix`` checkpoints."""
    if name == f"{prefix}tmp":
        return True
    if not name.startswith("." + prefix):
        return False
    return TMP_MARK in name or TRASH_MARK in name


def orphan_sidecars(ckpt_dir: str, names: list[str], prefix: str) -> list[str]:
    """Sidecar manifests whose checkpoint file is gone."""
    present = set(names)
    orphans = []
    for name in listdir(ckpt_dir):
        if name.startswith("." + prefix) and name.endswith(SIDECAR_SUFFIX):
            data = name[1 : -len(SIDECAR_SUFFIX)]
            if data not in present:
                orphans.append(os.path.join(ckpt_dir, name))
    return orphans
