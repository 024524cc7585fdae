"""The project's own ``.npz`` motion sets (:meth:`MotionSet.save` / :meth:`MotionSet.load`).

Reading also runs :func:`~infagenc.data.preprocess.check_samples`, so a set saved with bad
samples (NaN/Inf, all-zero frames, too short) is reported like any other format.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

from ..motionset import MotionSet
from ..preprocess import check_samples

__all__ = ["read_npz", "write_npz", "claims_npz"]


def claims_npz(path: Path) -> bool:
    if not (path.is_file() and path.suffix == ".npz"):
        return False
    try:
        with zipfile.ZipFile(path) as z:
            return "meta.npy" in z.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def read_npz(path: str | Path, *, on_bad: str = "error", min_length: int = 1) -> MotionSet:
    """Load a saved set and check its samples."""
    return check_samples(MotionSet.load(path), on_bad=on_bad, min_length=min_length, file=str(path))


def write_npz(ms: MotionSet, path: str | Path) -> Path:
    return ms.save(path)
