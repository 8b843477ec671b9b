"""The flaxen-checkpoint plugin: what this distribution registers with flaxen.

Registered through the same entry-point group and hooks a third-party package
uses (see ``flaxen.plugins``): the ``msgpack`` and ``orbax`` checkpoint
backends and the ``flaxen checkpoint`` command. Nothing here imports
orbax-checkpoint: the orbax backend imports it on its first save or restore.
"""

from flaxen.plugins import hookimpl, lazy


@hookimpl
def flaxen_checkpoint_backends(register):
    register("msgpack", lazy("flaxen.checkpoint._msgpack_backend:msgpack_backend"))
    register("orbax", lazy("flaxen.checkpoint._orbax_backend:orbax_backend"))


@hookimpl
def flaxen_cli_commands(register):
    register("checkpoint", lazy("flaxen.checkpoint._plugin:command"))


def __getattr__(name):
    if name == "command":
        from ._inspect import CheckpointCommand

        return CheckpointCommand()
    raise AttributeError(name)
