"""flaxen-core's own plugin: the ``flaxen plugins`` command."""

from __future__ import annotations

import argparse
import json

from flaxen.plugins import get_registry, hookimpl

from ._table import render_table


class PluginsCommand:
    """``flaxen plugins``: every plugin, its version, what it registered."""

    help = "List installed flaxen plugins, what each registered, and failures."

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print JSON instead of a table.")

    def run(self, args: argparse.Namespace) -> int:
        plugins = get_registry().plugins
        if args.json:
            print(
                json.dumps(
                    [
                        {
                            "name": p.name,
                            "distribution": p.distribution,
                            "version": p.version,
                            "module": p.module,
                            "status": p.status,
                            "registered": {k: list(v) for k, v in p.registered.items()},
                            "error": p.error,
                        }
                        for p in plugins
                    ],
                    indent=2,
                )
            )
        else:
            rows = []
            for p in plugins:
                if p.status == "loaded":
                    what = (
                        "\n".join(
                            f"{category}: {', '.join(names)}"
                            for category, names in p.registered.items()
                        )
                        or "(nothing)"
                    )
                elif p.status == "failed":
                    what = f"FAILED: {p.error}"
                else:
                    what = "disabled (FLAXEN_DISABLE_PLUGINS)"
                rows.append([p.name, p.distribution, p.version, p.status, what])
            render_table(
                "flaxen plugins",
                ["plugin", "distribution", "version", "status", "registered"],
                rows,
            )
        return 1 if any(p.status == "failed" for p in plugins) else 0


@hookimpl
def flaxen_cli_commands(register):
    register("plugins", PluginsCommand())
