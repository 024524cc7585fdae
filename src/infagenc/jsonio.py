"""JSON and atomic file writes: the lowest layer, used by every package that writes files.

Every write that a resume reads goes through :func:`atomic_write_bytes` (a temporary file in
the same folder, flushed and fsync'ed, then renamed over the target), so a kill at any
moment leaves either the old file or the new one, never a half-written one.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["write_json", "read_json", "atomic_write_bytes", "atomic_write_text", "to_jsonable"]


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file, fsync, rename); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def to_jsonable(o):
    """``json.dumps`` default: numpy scalars and arrays, paths."""
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")


def write_json(path: str | Path, obj, indent: int = 2) -> Path:
    """Atomic JSON write (a crash never leaves a half-written file)."""
    return atomic_write_text(path, json.dumps(obj, indent=indent, default=to_jsonable) + "\n")


def read_json(path: str | Path, default=None):
    """The JSON in ``path``, or ``default`` when the file does not exist."""
    path = Path(path)
    if not path.exists():
        return default
    return json.loads(path.read_text(encoding="utf-8"))
