"""Protocols for the objects plugins register."""

from __future__ import annotations

import argparse
import os
from typing import Any, Protocol, runtime_checkable

PathLike = str | os.PathLike[str]


@runtime_checkable
class CheckpointBackend(Protocol):
    """A checkpoint storage format, registered through the backends hook.

    flaxen-checkpoint owns directory layout, atomicity and step bookkeeping;
    a backend only turns a pytree into files inside a directory it is given
    and back.
    """

    #: Short name users select the backend by, e.g. ``'msgpack'``.
    name: str

    def save(self, directory: PathLike, state: Any) -> None:
        """Writes ``state`` (a pytree) into the existing, empty ``directory``."""
        ...

    def restore(self, directory: PathLike, target: Any | None) -> Any:
        """Reads the pytree back; into ``target``'s structure when given."""
        ...

    def recognizes(self, directory: PathLike) -> bool:
        """Whether ``directory`` holds a checkpoint written by this backend."""
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
