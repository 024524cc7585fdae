"""JSON and atomic file writes: the lowest layer, used by every package that writes files.

Every write that a resume reads goes through :func:`atomic_write_bytes` (a temporary file in
the same folder, flushed and fsync'ed, then renamed over the target), so a kill at any
moment leaves either the old file or the new one, never a half-written one.

:func:`write_json` writes strict JSON: a NaN or infinite float (a Python float, a numpy
scalar, or inside a numpy array, a list or a dict, at any depth) is written as ``null``
(e.g. the spread of a single seed), never as the bare ``NaN`` / ``Infinity`` that strict
parsers reject. Reading such a file back gives None where the value was not finite.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

__all__ = ["write_json", "read_json", "atomic_write_bytes", "atomic_write_text", "to_jsonable", "finite_json"]


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


def finite_json(o):
    """``o`` with numpy scalars and arrays as plain values and every NaN / infinite float as
    None, in nested dicts, lists and tuples (tuples become lists, as JSON writes them)."""
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, (str, int, bool)) or o is None:
        return o
    if isinstance(o, dict):
        return {k: finite_json(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [finite_json(v) for v in o]
    import numpy as np

    if isinstance(o, (np.generic, np.ndarray)):
        return finite_json(o.tolist() if isinstance(o, np.ndarray) else o.item())
    return o


def write_json(path: str | Path, obj, indent: int = 2) -> Path:
    """Atomic strict-JSON write (a crash never leaves a half-written file; NaN / Inf -> null)."""
    text = json.dumps(finite_json(obj), indent=indent, default=_strict_default, allow_nan=False)
    return atomic_write_text(path, text + "\n")


def _strict_default(o):
    return finite_json(to_jsonable(o))


def read_json(path: str | Path, default=None):
    """The JSON in ``path``, or ``default`` when the file does not exist."""
    path = Path(path)
    if not path.exists():
        return default
    return json.loads(path.read_text(encoding="utf-8"))
