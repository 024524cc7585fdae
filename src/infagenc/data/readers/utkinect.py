"""UTKinect-Action3D: ``joints_sXX_eYY.txt`` files + ``actionLabel.txt``.

* ``joints_sXX_eYY.txt``: one row per frame = frame id + 60 numbers (20 Kinect-v1 joints
  x y z, metres; layout ``kinect20``).
* ``actionLabel.txt``: for each take a line ``sXX_eYY`` followed by ``action: first last``
  lines (frame ids, inclusive). A segment is every row whose frame id lies in the range.

Choices where the dataset is silent:

* frame ids can repeat: the first row of each id is kept, later rows with the same id
  are dropped and counted in ``notes``;
* ``action: NaN NaN``: the segment does not exist in the recording; it is recorded as an
  :class:`~infagenc.data.errors.Exclusion` (in both ``on_bad`` modes: nothing is wrong
  with the data, the segment just is not there);
* class order: the order of first appearance in the label file (walk, sitDown, standUp,
  pickUp, carry, throw, push, pull, waveHands, clapHands), unless ``class_names`` is given;
* subject = ``sXX``; sample name = ``sXX_eYY/action``;
* the frame rate varies (about 15-30 fps) and is left as None;
* a label range reaching beyond the frame ids of the joints file is clipped to the frames
  there, and ``notes`` count and show such ranges; a range with no frame id in the file is a
  bad sample;
* ``gaps`` / ``max_gap``: all-zero frames in a segment (:mod:`infagenc.data.gaps`);
* ``labels_file``: ``actionLabel_modified.txt`` (corrected ranges shipped with some copies)
  can be chosen instead of the default ``actionLabel.txt``.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from ...skeleton.layouts import get_layout
from ..errors import DataError
from ..gaps import DEFAULT_MAX_GAP
from ..motionset import MotionSet
from ._common import SampleCollector, parse_floats

__all__ = ["read_utkinect", "claims_utkinect"]

_TAKE = re.compile(r"^s(\d+)_e(\d+)$")
_RANGE = re.compile(r"^\s*([A-Za-z_][\w]*)\s*:\s*(\S+)\s+(\S+)\s*$")
_JOINTS = 20


def claims_utkinect(path: Path) -> bool:
    return path.is_dir() and (path / "actionLabel.txt").is_file() and any(path.glob("joints_s*_e*.txt"))


def _parse_labels(path: Path) -> list[tuple[str, str, str, str]]:
    """[(take, action, first, last)] in file order (first/last as text: may be NaN)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DataError("no such label file", file=str(path)) from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read label file ({e})", file=str(path)) from None
    out, take = [], None
    for k, line in enumerate(lines, 1):
        s = line.strip()
        if not s:
            continue
        if _TAKE.match(s):
            take = s
            continue
        m = _RANGE.match(s)
        if m is None or take is None:
            raise DataError(f"line {k}: expected 'sXX_eYY' or 'action: first last', got {s!r}", file=str(path))
        out.append((take, m.group(1), m.group(2), m.group(3)))
    if not out:
        raise DataError("no labelled segments", file=str(path))
    return out


def _read_joints(path: Path, take: str) -> tuple[np.ndarray, np.ndarray, int]:
    """(frame ids (F,), joints (F, 20, 3), number of repeated-id rows dropped)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError("joints file missing", file=str(path), sample=take) from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read joints file ({e})", file=str(path), sample=take) from None
    rows = [r.split() for r in text.splitlines() if r.strip()]
    if not rows:
        raise DataError("empty joints file", file=str(path), sample=take)
    for k, r in enumerate(rows, 1):
        if len(r) != 1 + 3 * _JOINTS:
            raise DataError(f"row {k} has {len(r)} numbers, expected 1 frame id + {3 * _JOINTS} "
                            f"(20 joints x 3); wrong joint count or truncated file", file=str(path), sample=take)
    values = parse_floats([t for r in rows for t in r], file=path, sample=take).reshape(len(rows), -1)
    ids = values[:, 0]
    _, first = np.unique(ids, return_index=True)
    keep = np.sort(first)
    return ids[keep], values[keep, 1:].reshape(-1, _JOINTS, 3), len(rows) - len(keep)


def read_utkinect(path: str | Path, *, labels_file: str = "actionLabel.txt", on_bad: str = "error",
                  class_names: Sequence[str] | None = None, min_length: int = 1, gaps: str = "error",
                  max_gap: int = DEFAULT_MAX_GAP, progress: bool = True) -> MotionSet:
    """Read the UTKinect-Action3D folder (the one holding ``actionLabel.txt`` and the joints files)."""
    folder = Path(path)
    if not folder.is_dir():
        raise DataError("UTKinect-Action3D is read from its folder (joints_sXX_eYY.txt + actionLabel.txt)",
                        file=str(folder))
    label_path = folder / labels_file
    segments = _parse_labels(label_path)
    order = list(dict.fromkeys(a for _, a, _, _ in segments))
    col = SampleCollector(label_path, on_bad=on_bad, class_names=class_names or order, min_length=min_length,
                          gaps=gaps, max_gap=max_gap)
    takes = list(dict.fromkeys(t for t, _, _, _ in segments))
    repeated = 0
    for take in tqdm(takes, desc="UTKinect takes", disable=not progress):
        jpath = folder / f"joints_{take}.txt"
        segs = [s for s in segments if s[0] == take]
        try:
            ids, joints, dup = _read_joints(jpath, take)
        except DataError as e:
            for _, action, _, _ in segs:
                col.bad(e.reason, f"{take}/{action}", jpath)
            continue
        repeated += dup
        for _, action, first, last in segs:
            name = f"{take}/{action}"
            if first.lower() == "nan" or last.lower() == "nan":
                col.exclude(name, f"segment does not exist: the label file gives the range "
                                  f"'{first} {last}'", label_path)
                continue
            try:
                lo, hi = int(first), int(last)
            except ValueError:
                col.bad(f"frame range '{first} {last}' is not two frame ids", name, label_path)
                continue
            if lo > hi:
                col.bad(f"frame range {lo}..{hi} is empty (first > last)", name, label_path)
                continue
            sel = (ids >= lo) & (ids <= hi)
            if not sel.any():
                col.bad(f"no frame ids in {lo}..{hi} in {jpath.name} (its frame ids run "
                        f"{int(ids.min())}..{int(ids.max())})", name, label_path)
                continue
            if lo < ids.min() or hi > ids.max():
                col.tally(f"label ranges reaching beyond the frames of the joints file, clipped to the frames "
                          f"there", f"{name}: {lo}..{hi}, frames {int(ids[sel].min())}..{int(ids[sel].max())} "
                          f"({int(sel.sum())} frames) in {jpath.name}")
            col.add(joints[sel], name=name, subject=take.split("_")[0], label=action, file=jpath)
    col.note(f"repeated frame ids: kept the first row of each id, dropped {repeated} later row(s)")
    unlabelled = sorted(p.name for p in folder.glob("joints_s*_e*.txt") if p.stem[len("joints_"):] not in takes)
    if unlabelled:
        col.note(f"joints files without labels in {labels_file}, not read: {', '.join(unlabelled)}")
    col.note("subjects: sXX of the take name")
    return col.build(get_layout("kinect20"), "xyz")
