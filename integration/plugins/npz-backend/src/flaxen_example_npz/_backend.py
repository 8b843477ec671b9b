"""A checkpoint is a directory: ``arrays.npz`` (every array) and ``tree.json`` (the rest).

Written with ``flaxen.checkpoint.write_file`` and read with ``read_file``, so
flaxen checksums the files while they are written and verifies them while
they are read; flaxen also does the atomic rename, the fsyncs and the step
bookkeeping. The backend only maps a state dict to files and back.
"""

from __future__ import annotations

import io
import json
import os
from typing import Any

import numpy as np

from flaxen.checkpoint import read_file, write_file

ARRAYS = "arrays.npz"
TREE = "tree.json"


def _encode(node: Any, path: str, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(node, dict):
        return {"dict": {str(k): _encode(v, f"{path}/{k}", arrays) for k, v in node.items()}}
    if isinstance(node, list | tuple):
        return {"list": [_encode(v, f"{path}/{i}", arrays) for i, v in enumerate(node)]}
    if node is None or isinstance(node, bool | int | float | str):
        return {"value": node}
    if hasattr(node, "__array__"):
        key = f"a{len(arrays)}"
        arrays[key] = np.asarray(node)
        return {"array": key, "path": path}
    raise TypeError(f"the npz backend cannot save {type(node).__name__} at {path or '/'}")


def _decode(node: dict[str, Any], arrays: Any) -> Any:
    if "dict" in node:
        return {k: _decode(v, arrays) for k, v in node["dict"].items()}
    if "list" in node:
        return [_decode(v, arrays) for v in node["list"]]
    if "array" in node:
        return arrays[node["array"]]
    return node["value"]


class NpzBackend:
    """Saves a flaxen state dict as ``arrays.npz`` plus ``tree.json``."""

    name = "npz"
    single_file = False

    def save(self, path: str | os.PathLike[str], state: Any) -> None:
        arrays: dict[str, np.ndarray] = {}
        tree = _encode(state, "", arrays)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        write_file(os.path.join(path, ARRAYS), buffer.getbuffer())
        write_file(os.path.join(path, TREE), json.dumps(tree).encode())

    def restore(self, path: str | os.PathLike[str], target: Any | None) -> Any:
        tree = json.loads(read_file(os.path.join(path, TREE)))
        with np.load(io.BytesIO(read_file(os.path.join(path, ARRAYS)))) as arrays:
            return _decode(tree, {k: arrays[k] for k in arrays.files})

    def recognizes(self, path: str | os.PathLike[str]) -> bool:
        return os.path.isfile(os.path.join(path, ARRAYS)) and os.path.isfile(
            os.path.join(path, TREE)
        )


npz_backend = NpzBackend()
