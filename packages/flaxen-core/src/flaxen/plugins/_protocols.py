"""Protocols for the objects plugins register."""

from __future__ import annotations

import argparse
import os
from typing import Any, Protocol, runtime_checkable

PathLike = str | os.PathLike[str]


@runtime_checkable
class CheckpointBackend(Protocol):
    """A checkpoint storage format, registered through the backends hook.

    flaxen-checkpoint owns directory layout, atomicity, integrity and step
    bookkeeping; a backend only turns a state dict into files at a path it is
    given and back. The path is a hidden temporary name that is renamed into
    place once the backend returned, every file fsynced and a manifest of
    checksums written, so a backend needs no atomicity of its own.

    The state is what ``flaxen.serialization.to_state_dict`` makes of the
    target: nested dicts with string keys whose leaves are numpy or jax
    arrays, numpy scalars, Python numbers, strings and ``None``. A backend
    with a true ``saves_pytree`` attribute (optional) gets the target pytree
    itself instead, and its target on restore is the target pytree too
    (Orbax: Flax saves that way).

    Backends that write with ``flaxen.checkpoint.write_file`` and read with
    ``flaxen.checkpoint.read_file`` get their checksums computed while the
    bytes are written and verified while they are read; files written any
    other way are hashed after ``save`` and verified after ``restore``.
    """

    #: Short name users select the backend by, e.g. ``'msgpack'``.
    name: str

    #: True: a checkpoint is one file at the path (``save`` creates it).
    #: False: a directory (``save`` gets it existing and empty).
    single_file: bool

    def save(self, path: PathLike, state: Any) -> None:
        """Writes ``state`` (a state dict) to ``path``.

        With ``single_file`` the file ``path`` does not exist yet; otherwise
        ``path`` is an existing, empty directory to fill.
        """
        ...

    def restore(self, path: PathLike, target: Any | None) -> Any:
        """Reads the state dict back.

        ``target`` is the state dict of the restore target (its arrays carry
        the wanted shardings), or None for a raw restore; flaxen-checkpoint
        rebuilds the target's objects from the returned state dict.
        """
        ...

    def recognizes(self, path: PathLike) -> bool:
        """Whether ``path`` holds a checkpoint written by this backend.

        Asked only for checkpoints without a flaxen manifest (those name
        their backend), and only of backends whose ``single_file`` matches
        whether ``path`` is a file. Must not import heavy dependencies.
        """
        ...


@runtime_checkable
class CliCommand(Protocol):
    """A ``flaxen <name>`` subcommand, registered through the CLI hook."""

    #: One line shown by ``flaxen --help``.
    help: str

    def configure(self, parser: argparse.ArgumentParser) -> None:
        """Adds the command's arguments to its subparser."""
        ...

    def run(self, args: argparse.Namespace) -> int:
        """Runs the command; returns the process exit status."""
        ...
