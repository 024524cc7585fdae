"""The size limit on arrays that a data file makes the readers allocate.

A file can declare sizes it does not hold (a pickle's array shape, a text file's frame
count); a reader checks every such size against :func:`max_array_bytes` *before* it
allocates, and refuses a larger one with a :class:`~infagenc.data.errors.DataError` that
names the file and says how to raise the limit.

The limit, in bytes, is the first of:

1. the module-level setting :data:`MAX_ARRAY_BYTES` (``infagenc.data.limits.MAX_ARRAY_BYTES
   = 8 * 2**30``), when it is not None;
2. the environment variable ``INFAGENC_MAX_ARRAY_BYTES`` (a number of bytes, optionally
   with a suffix K, M, G or T: powers of 1024, e.g. ``16G``);
3. a quarter (:data:`DEFAULT_FRACTION`) of the memory available now (``MemAvailable`` of
   ``/proc/meminfo``; else the available physical pages from ``os.sysconf``; else
   :data:`FALLBACK_BYTES` = 2 GiB).

The limit applies to one allocation (an array, one sequence's buffer, a padded set, a file
read whole), not to the total a reader holds.
"""
from __future__ import annotations

import os
import re

from .errors import DataError

__all__ = ["MAX_ARRAY_BYTES", "ENV_VAR", "DEFAULT_FRACTION", "FALLBACK_BYTES", "max_array_bytes",
           "check_bytes", "available_memory", "format_bytes"]

MAX_ARRAY_BYTES: int | None = None
ENV_VAR = "INFAGENC_MAX_ARRAY_BYTES"
DEFAULT_FRACTION = 0.25
FALLBACK_BYTES = 2 * 2**30
_SUFFIX = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def available_memory() -> int | None:
    """Bytes of memory available now, or None when the system does not say."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def _parse(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*([KMGT]?)i?B?\s*", text, re.IGNORECASE)
    if m is None:
        raise ValueError(f"{ENV_VAR}={text!r}: expected a number of bytes, e.g. 8000000000 or 8G")
    return int(float(m.group(1)) * _SUFFIX[m.group(2).upper()])


def max_array_bytes() -> int:
    """The current limit in bytes (see the module docstring)."""
    if MAX_ARRAY_BYTES is not None:
        return int(MAX_ARRAY_BYTES)
    env = os.environ.get(ENV_VAR)
    if env is not None and env.strip():
        return _parse(env)
    avail = available_memory()
    return int(avail * DEFAULT_FRACTION) if avail else FALLBACK_BYTES


def format_bytes(n: int | float) -> str:
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover


def _source_of_limit() -> str:
    if MAX_ARRAY_BYTES is not None:
        return "infagenc.data.limits.MAX_ARRAY_BYTES"
    if os.environ.get(ENV_VAR, "").strip():
        return f"${ENV_VAR}"
    return f"{DEFAULT_FRACTION:g} of the available memory"


def check_bytes(nbytes: int, what: str, *, file: str | None = None, sample: str | None = None,
                limit: int | None = None) -> None:
    """Raise a DataError when allocating ``nbytes`` for ``what`` would pass the limit."""
    limit = max_array_bytes() if limit is None else limit
    if nbytes > limit:
        raise DataError(
            f"{what} needs {format_bytes(nbytes)} ({nbytes} bytes), over the limit of {format_bytes(limit)} "
            f"({_source_of_limit()}); nothing was allocated. If the file is genuine, raise the limit: "
            f"{ENV_VAR}=<bytes> (e.g. {ENV_VAR}=64G) or infagenc.data.limits.MAX_ARRAY_BYTES",
            file=file, sample=sample)


def check_npz(z, path: str) -> None:
    """Check every array of an open ``np.load`` archive before it is read: its declared size
    against the limit and against the bytes the archive holds for it (numpy allocates the
    declared size before it reads)."""
    import numpy as np
    from numpy.lib import format as npformat

    limit = max_array_bytes()
    for info in z.zip.infolist():
        if not info.filename.endswith(".npy"):
            continue
        try:
            with z.zip.open(info) as f:
                version = npformat.read_magic(f)
                header = {(1, 0): npformat.read_array_header_1_0, (2, 0): npformat.read_array_header_2_0}
                if version not in header:
                    continue  # numpy writes 1.0 (2.0 for huge headers); a newer one is left to numpy
                shape, _, dtype = header[version](f)
        except Exception as e:  # noqa: BLE001 - a corrupt header of any kind
            raise DataError(f"corrupt array header of {info.filename} ({type(e).__name__}: {e})", file=path) from None
        nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
        check_bytes(nbytes, f"the array {info.filename[:-4]!r} of shape {shape}", file=path, limit=limit)
        if not dtype.hasobject and nbytes > info.file_size:
            raise DataError(f"corrupt or truncated array data: {info.filename[:-4]!r} declares {nbytes} bytes, "
                            f"the archive holds {info.file_size}", file=path)
