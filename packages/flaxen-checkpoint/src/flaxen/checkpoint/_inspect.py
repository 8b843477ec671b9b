"""``flaxen checkpoint inspect DIR``: what a checkpoint directory holds."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, TextIO

import numpy as np

from flaxen.errors import CorruptedCheckpointError, UnknownCheckpointFormatError

from . import _backends, _integrity, _naming, _restore


def human_size(n: int | None) -> str:
    """``1536`` -> ``'1.5 KiB'``.

    >>> human_size(512), human_size(1536), human_size(3 * 2**30)
    ('512 B', '1.5 KiB', '3.0 GiB')
    """
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _disk_size(path: str) -> int:
    if not os.path.isdir(path):
        return os.path.getsize(path)
    return sum(
        os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(path) for f in files
    )


def tree_rows(state: Any) -> list[dict[str, Any]]:
    """One row per leaf of a restored state dict: name, shape, dtype, bytes."""
    rows: list[dict[str, Any]] = []

    def walk(node: Any, name: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{name}/{key}" if name else str(key))
            if not node:
                rows.append({"name": name or "/", "shape": None, "dtype": "{}", "bytes": 0})
        elif isinstance(node, list | tuple):
            for i, value in enumerate(node):
                walk(value, f"{name}/{i}" if name else str(i))
        elif hasattr(node, "shape") and hasattr(node, "dtype"):
            dtype = np.dtype(node.dtype)
            nbytes = int(np.prod(node.shape, dtype=np.int64)) * dtype.itemsize
            rows.append(
                {"name": name, "shape": list(node.shape), "dtype": dtype.name, "bytes": nbytes}
            )
        else:
            rows.append({"name": name, "shape": None, "dtype": type(node).__name__, "bytes": None})

    walk(state, "")
    return rows


def _describe_checkpoint(path: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"path": path, "bytes_on_disk": _disk_size(path)}
    try:
        manifest = _integrity.read_manifest(path)
        backend = _backends.detect(path, manifest)
        entry["format"] = _backends.describe(backend)
        entry["manifest"] = manifest is not None
    except (CorruptedCheckpointError, UnknownCheckpointFormatError) as error:
        entry["format"] = "?"
        entry["manifest"] = None
        entry["error"] = str(error.message)
    return entry


def inspect_directory(
    path: str, prefix: str = "checkpoint_", step: str | None = None
) -> dict[str, Any]:
    """Everything ``flaxen checkpoint inspect`` shows, as plain data."""
    report: dict[str, Any] = {"directory": path, "prefix": prefix, "checkpoints": []}
    if _restore.is_checkpoint_dir(path) or os.path.isfile(path):
        chosen = path
        entry = _describe_checkpoint(path)
        entry["step"] = None
        report["checkpoints"].append(entry)
    else:
        names = _naming.checkpoint_names(path, prefix)
        for name in names:
            entry = _describe_checkpoint(os.path.join(path, name))
            entry["step"] = _naming.step_suffix(name, prefix)
            report["checkpoints"].append(entry)
        if not names:
            return report
        chosen = os.path.join(path, names[-1] if step is None else f"{prefix}{step}")
    report["shown"] = chosen
    try:
        state = _restore.restore_path(chosen, None)
    except (CorruptedCheckpointError, UnknownCheckpointFormatError, FileNotFoundError) as error:
        report["error"] = str(getattr(error, "message", error))
        return report
    report["tree"] = tree_rows(state)
    return report


def render(report: dict[str, Any], file: TextIO) -> None:
    from flaxen.cli import render_table

    rows = []
    for c in report["checkpoints"]:
        if c["manifest"] is None:
            checked = "unreadable"
        else:
            checked = "checksums" if c["manifest"] else "format only"
        rows.append(
            [
                "-" if c["step"] is None else str(c["step"]),
                c["format"],
                human_size(c["bytes_on_disk"]),
                checked,
                c["path"] if "error" not in c else f"{c['path']}\n{c['error']}",
            ]
        )
    render_table(
        f"checkpoints in {report['directory']}",
        ["step", "format", "size", "integrity", "path"],
        rows,
        file=file,
    )
    if "shown" not in report:
        return
    if "error" in report:
        print(f"{report['shown']}: {report['error']}", file=file)
        return
    tree = report["tree"]
    render_table(
        f"tree of {report['shown']}",
        ["name", "shape", "dtype", "size"],
        [
            [
                r["name"],
                "-" if r["shape"] is None else str(tuple(r["shape"])),
                r["dtype"],
                human_size(r["bytes"]),
            ]
            for r in tree
        ],
        file=file,
    )
    total = sum(r["bytes"] or 0 for r in tree)
    arrays = sum(1 for r in tree if r["shape"] is not None)
    print(f"{len(tree)} leaves, {arrays} arrays, {human_size(total)} of array data", file=file)


class CheckpointCommand:
    """``flaxen checkpoint inspect DIR``: steps, formats and the tree of a checkpoint."""

    help = "Inspect checkpoints: steps present, format, and the tree of names, shapes, dtypes."

    def configure(self, parser: argparse.ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="checkpoint_action", metavar="ACTION")
        inspect = actions.add_parser(
            "inspect",
            help="List the checkpoints of a directory and show the tree of one.",
            description="List the checkpoints of a directory (step, format, size, whether"
            " checksums protect it) and show the tree of the latest one (or --step).",
        )
        inspect.add_argument("path", help="a checkpoint directory, or a single checkpoint")
        inspect.add_argument("--prefix", default="checkpoint_", help="checkpoint name prefix")
        inspect.add_argument("--step", default=None, help="the step to show (default: latest)")
        inspect.add_argument("--json", action="store_true", help="print JSON instead of tables")

    def run(self, args: argparse.Namespace, file: TextIO | None = None) -> int:
        out = sys.stdout if file is None else file
        if getattr(args, "checkpoint_action", None) != "inspect":
            print("usage: flaxen checkpoint inspect DIR [--prefix P] [--step S] [--json]", file=out)
            return 2
        if not os.path.exists(args.path):
            print(f"flaxen checkpoint inspect: {args.path} does not exist", file=out)
            return 2
        report = inspect_directory(args.path, args.prefix, args.step)
        if args.json:
            print(json.dumps(report, indent=2), file=out)
        else:
            render(report, out)
        damaged = "error" in report or any("error" in c for c in report["checkpoints"])
        return 1 if damaged else 0
