"""Entry point of the ``flaxen`` executable."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from flaxen.plugins import get_registry


def _parser() -> tuple[argparse.ArgumentParser, dict[str, object]]:
    parser = argparse.ArgumentParser(
        prog="flaxen", description="flaxen: a neural-network library for JAX."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    registry = get_registry()
    commands = {}
    for name in registry.names("cli_commands"):
        command = registry.lookup("cli_commands", name)
        sub = subparsers.add_parser(name, help=command.help, description=command.help)
        command.configure(sub)
        commands[name] = command
    return parser, commands


def main(argv: Sequence[str] | None = None) -> int:
    """Runs ``flaxen`` with ``argv`` (default: the process arguments)."""
    parser, commands = _parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    if args.command is None:
        parser.print_help()
        return 2
    return int(commands[args.command].run(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
