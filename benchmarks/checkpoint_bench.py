"""Checkpoint throughput: flaxen's backends next to Flax's and next to the raw disk.

Saves and restores a parameter tree of about ``--size-mb`` megabytes (random
float32 kernels and biases, as jax arrays) with

* ``raw``: ``numpy.tofile`` of the same bytes into one file, plus fsync, and
  ``numpy.fromfile`` back: what the disk gives;
* ``flaxen-msgpack`` / ``flaxen-orbax``: ``flaxen.checkpoint.save_checkpoint``
  / ``restore_checkpoint`` with each backend (atomic commit and checksums
  included);
* ``flax-msgpack`` / ``flax-orbax``: ``flax.training.checkpoints`` with
  ``flax_use_orbax_checkpointing`` off / on, when flax is importable.

Every save ends with the data on stable storage (each contender fsyncs;
Flax's msgpack path does not, so it gets an fsync of its file added, in its
favour of fairness). Before every restore the checkpoint's files are evicted
from the page cache (``posix_fadvise(DONTNEED)``), so restores read the disk.
Contenders run round-robin, ``--repeat`` rounds, each run in a fresh
directory; the median and the best run are reported, in MB/s of array bytes
(1 MB = 10**6 bytes). On a shared machine the best run is the least disturbed.

    python benchmarks/checkpoint_bench.py --size-mb 400 --json /tmp/ckpt_bench.json

``main(argv)`` returns the exit status, so a nox session can call it.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np


def make_tree(size_mb: float, seed: int = 0) -> dict[str, Any]:
    """Dense layers of 1024 x 2048 float32 kernels (8 MiB) until ``size_mb`` is reached."""
    import jax

    rng = np.random.default_rng(seed)
    tree: dict[str, Any] = {}
    total = 0
    i = 0
    while total < size_mb * 1e6:
        kernel = rng.standard_normal((1024, 2048), dtype=np.float32)
        bias = rng.standard_normal((2048,), dtype=np.float32)
        tree[f"Dense_{i}"] = {"kernel": jax.device_put(kernel), "bias": jax.device_put(bias)}
        total += kernel.nbytes + bias.nbytes
        i += 1
    return {"params": tree}


def tree_bytes(tree: Any) -> int:
    import jax

    return sum(int(x.nbytes) for x in jax.tree_util.tree_leaves(tree))


def evict(path: str) -> None:
    """Drops ``path``'s files from the page cache so the next read hits the disk."""
    paths = [path]
    if os.path.isdir(path):
        paths = [os.path.join(r, f) for r, _, fs in os.walk(path) for f in fs]
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    import logging
    import warnings

    logging.getLogger("absl").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# -- contenders: each returns (save(dir) -> path, restore(dir) -> tree) ----------------


def raw_contender(tree: Any) -> tuple[Callable[[str], str], Callable[[str], Any]]:
    import jax

    leaves = [np.asarray(x) for x in jax.tree_util.tree_leaves(tree)]

    def save(d: str) -> str:
        path = os.path.join(d, "raw.bin")
        with open(path, "wb") as f:
            for leaf in leaves:
                leaf.tofile(f)
            f.flush()
            os.fsync(f.fileno())
        return path

    def restore(d: str) -> Any:
        return np.fromfile(os.path.join(d, "raw.bin"), dtype=np.uint8)

    return save, restore


def flaxen_contender(tree: Any, backend: str) -> tuple[Callable, Callable]:
    from flaxen.checkpoint import restore_checkpoint, save_checkpoint

    def save(d: str) -> str:
        return save_checkpoint(d, tree, 1, backend=backend)

    def restore(d: str) -> Any:
        return restore_checkpoint(d, None)

    return save, restore


def flax_contender(tree: Any, use_orbax: bool) -> tuple[Callable, Callable]:
    import flax
    from flax.training import checkpoints

    def save(d: str) -> str:
        flax.config.update("flax_use_orbax_checkpointing", use_orbax)
        path = checkpoints.save_checkpoint(d, tree, 1)
        if not use_orbax:
            _fsync(path)  # Flax does not fsync its msgpack file; count what durability costs
        return path

    def restore(d: str) -> Any:
        flax.config.update("flax_use_orbax_checkpointing", use_orbax)
        return checkpoints.restore_checkpoint(d, None)

    return save, restore


def flax_available() -> bool:
    try:
        import flax.training.checkpoints  # noqa: F401
    except ImportError:
        return False
    return True


def run_once(contender: tuple[Callable, Callable], d: str) -> tuple[float, float]:
    """One save (durable) and one cold restore in the fresh directory ``d``."""
    save, restore = contender
    os.makedirs(d)
    gc.collect()
    start = time.perf_counter()
    path = save(d)
    saved = time.perf_counter() - start
    evict(path)
    gc.collect()
    start = time.perf_counter()
    restored = restore(d)
    loaded = time.perf_counter() - start
    del restored
    shutil.rmtree(d)
    return saved, loaded


def summarize(saves: list[float], restores: list[float], nbytes: int) -> dict[str, Any]:
    mb = nbytes / 1e6
    return {
        "save_s": saves,
        "restore_s": restores,
        "save_mb_s": mb / statistics.median(saves),
        "restore_mb_s": mb / statistics.median(restores),
        "best_save_mb_s": mb / min(saves),
        "best_restore_mb_s": mb / min(restores),
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, default=400.0, help="tree size in MB")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement")
    parser.add_argument("--dir", default=None, help="where to write (default: a temp dir)")
    parser.add_argument("--json", default=None, help="write the results as JSON to this path")
    parser.add_argument(
        "--out", default=None, help="write checkpoint.json and checkpoint.md into this directory"
    )
    parser.add_argument(
        "--contenders",
        default="raw,flaxen-msgpack,flaxen-orbax,flax-msgpack,flax-orbax",
        help="comma-separated subset to run",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    tree = make_tree(args.size_mb)
    nbytes = tree_bytes(tree)
    wanted = [c.strip() for c in args.contenders.split(",") if c.strip()]
    have_flax = flax_available()
    builders: dict[str, Callable[[Any], tuple[Callable, Callable]]] = {
        "raw": raw_contender,
        "flaxen-msgpack": lambda t: flaxen_contender(t, "msgpack"),
        "flaxen-orbax": lambda t: flaxen_contender(t, "orbax"),
        "flax-msgpack": lambda t: flax_contender(t, use_orbax=False),
        "flax-orbax": lambda t: flax_contender(t, use_orbax=True),
    }
    root = tempfile.mkdtemp(prefix="flaxen-ckpt-bench-", dir=args.dir)
    results: dict[str, Any] = {}
    contenders = {}
    for name in wanted:
        if name.startswith("flax-") and not have_flax:
            results[name] = {"skipped": "flax is not installed"}
        else:
            contenders[name] = builders[name](tree)
    times: dict[str, tuple[list[float], list[float]]] = {n: ([], []) for n in contenders}
    try:
        with _quiet():
            # Round-robin: every contender once per round, so that a disk or a
            # machine that gets slower or faster over time affects all alike;
            # the order rotates so that no one always follows the same other.
            names = list(contenders)
            # One untimed run each on a small tree: imports and first-call
            # set-up (Orbax's especially) are not throughput.
            small = make_tree(1)
            for name in names:
                run_once(builders[name](small), os.path.join(root, f"{name}-warmup"))
            for round_ in range(args.repeat):
                shift = round_ % len(names)
                for name in names[shift:] + names[:shift]:
                    contender = contenders[name]
                    saved, loaded = run_once(contender, os.path.join(root, f"{name}-{round_}"))
                    times[name][0].append(saved)
                    times[name][1].append(loaded)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    for name, (saves, restores) in times.items():
        results[name] = r = summarize(saves, restores, nbytes)
        print(
            f"{name:15s} save {r['save_mb_s']:7.1f} MB/s (best {r['best_save_mb_s']:7.1f})"
            f"   restore {r['restore_mb_s']:7.1f} MB/s (best {r['best_restore_mb_s']:7.1f})",
            flush=True,
        )
    report: dict[str, Any] = {
        "size_mb": nbytes / 1e6,
        "repeat": args.repeat,
        "directory": args.dir or tempfile.gettempdir(),
        "python": sys.version.split()[0],
        "results": results,
    }
    raw = results.get("raw")
    if raw and "save_mb_s" in raw:
        report["fraction_of_raw"] = {
            name: {
                "save": r["save_mb_s"] / raw["save_mb_s"],
                "restore": r["restore_mb_s"] / raw["restore_mb_s"],
                "best_save": r["best_save_mb_s"] / raw["best_save_mb_s"],
                "best_restore": r["best_restore_mb_s"] / raw["best_restore_mb_s"],
            }
            for name, r in results.items()
            if "save_mb_s" in r
        }
        for name, f in report["fraction_of_raw"].items():
            print(
                f"{name:15s} of raw: save {100 * f['save']:4.0f}%"
                f" (best {100 * f['best_save']:4.0f}%)"
                f"  restore {100 * f['restore']:4.0f}%"
                f" (best {100 * f['best_restore']:4.0f}%)"
            )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "checkpoint.json"), "w") as f:
            json.dump(report, f, indent=2)
        with open(os.path.join(args.out, "checkpoint.md"), "w") as f:
            f.write(markdown(report))
    return 0


# (flaxen contender, what it is compared with, minimum ratio of save MB/s)
TARGETS = (
    ("flaxen-msgpack", "flax-msgpack", 5.0),
    ("flaxen-orbax", "flax-orbax", 2.0),
    ("flaxen-msgpack", "raw", 0.8),
    ("flaxen-orbax", "raw", 0.8),
)


def markdown(report: dict[str, Any]) -> str:
    """The report as a markdown table of medians plus the targets."""
    results = report["results"]
    lines = [
        f"{report['size_mb']:.0f} MB tree, {report['repeat']} interleaved rounds, medians"
        " (best in parentheses); every save ends with an fsync",
        "",
        "| contender | save MB/s | restore MB/s |",
        "|---|---|---|",
    ]
    for name, r in results.items():
        if "save_mb_s" not in r:
            lines.append(f"| {name} | {r.get('skipped', '-')} | |")
            continue
        lines.append(
            f"| {name} | {r['save_mb_s']:.0f} ({r['best_save_mb_s']:.0f})"
            f" | {r['restore_mb_s']:.0f} ({r['best_restore_mb_s']:.0f}) |"
        )
    lines += ["", "| target | save ratio | restore ratio | met (save) |", "|---|---|---|---|"]
    for ours, theirs, minimum in TARGETS:
        a, b = results.get(ours, {}), results.get(theirs, {})
        if "save_mb_s" not in a or "save_mb_s" not in b:
            continue
        save = a["save_mb_s"] / b["save_mb_s"]
        restore = a["restore_mb_s"] / b["restore_mb_s"]
        met = "yes" if save >= minimum else "**no**"
        lines.append(f"| {ours} / {theirs} >= {minimum:g} | {save:.2f} | {restore:.2f} | {met} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
