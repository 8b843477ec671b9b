"""The hooks a flaxen plugin can implement.

A plugin is a module named by an entry point in the ``flaxen`` group. It
implements any of the hooks below as plain functions decorated with
:data:`flaxen.plugins.hookimpl`. Each hook receives a ``register`` callback and
calls it once per thing it contributes; nothing is returned.
"""

from __future__ import annotations

from typing import Any, Protocol

import pluggy

PROJECT_NAME = "flaxen"
ENTRY_POINT_GROUP = "flaxen"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


class Register(Protocol):
    """The callback handed to every hook: ``register(name, value)``.

    ``value`` is the object itself or a :func:`flaxen.plugins.lazy` reference,
    which is imported the first time the name is looked up.
    """

    def __call__(self, name: str, value: Any, /) -> None: ...


class FlaxenHookSpecs:
    """Hook specifications; a plugin implements any subset of them."""

    @hookspec
    def flaxen_linen_exports(self, register: Register) -> None:
        """Contribute names to the ``flaxen.linen`` namespace.

        Layers, functions and whole submodules (``initializers``,
        ``activation``) are registered here; ``nn.<name>`` and
        ``from flaxen.linen import <name>`` find them. A registered module is
        also importable as ``flaxen.linen.<name>``.
        """

    @hookspec
    def flaxen_lifted_transforms(self, register: Register) -> None:
        """Contribute lifted transforms (``vmap``, ``scan``, ...).

        Each is reachable as ``flaxen.linen.<name>`` like an export, and is
        listed separately so tools can tell transforms from layers.
        """

    @hookspec
    def flaxen_checkpoint_backends(self, register: Register) -> None:
        """Contribute checkpoint backends, selectable by name.

        A backend implements :class:`flaxen.plugins.CheckpointBackend`.
        """

    @hookspec
    def flaxen_cli_commands(self, register: Register) -> None:
        """Contribute ``flaxen <command>`` subcommands.

        A command implements :class:`flaxen.plugins.CliCommand`.
        """
