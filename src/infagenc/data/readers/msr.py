"""One text file per sequence, MSR Action3D style: ``aXX_sYY_eZZ_skeleton3D.txt``.

Each file holds rows ``x y z c`` (c = the joint's confidence), one row per joint, joints
in layout order, frame after frame: ``rows = T * V``. The file name gives the action
(``aXX`` -> class ``a01`` ...), the subject (``sYY`` -> ``s01``) and the take (``eZZ``).
Data = x y z; ``conf`` = c as given. Layout ``msr20`` by default; ``layout`` takes any
other layout (name or layout file) for datasets of the same shape with another skeleton.

A file whose row count is not a multiple of the layout's joint count is a DataError
naming the file (wrong joint count). Files in the folder whose names do not match
``name_pattern`` are not read (they are listed in ``notes``). Classes: the actions found,
sorted, unless ``class_names`` is given. ``gaps`` / ``max_gap``: all-zero frames
(:mod:`infagenc.data.gaps`).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

from tqdm import tqdm

from ..errors import DataError
from ..gaps import DEFAULT_MAX_GAP
from ..motionset import MotionSet
from ._common import SampleCollector, layout_or_error, parse_floats

__all__ = ["read_msr", "claims_msr", "MSR_NAME"]

MSR_NAME = r"a(?P<action>\d+)_s(?P<subject>\d+)_e(?P<take>\d+)_skeleton3D\.txt$"


def claims_msr(path: Path) -> bool:
    return bool(re.search(MSR_NAME, path.name))


def read_msr(path: str | Path, *, layout: str = "msr20", name_pattern: str = MSR_NAME, on_bad: str = "error",
             class_names: Sequence[str] | None = None, min_length: int = 1, gaps: str = "error",
             max_gap: int = DEFAULT_MAX_GAP, progress: bool = True) -> MotionSet:
    """Read one sequence file or every matching file of a folder (see module docstring).

    ``name_pattern``: regex searched in the file name with named groups ``action``,
    ``subject`` and ``take``.
    """
    path = Path(path)
    lay = layout_or_error(layout, path)
    pat = re.compile(name_pattern)
    missing = {"action", "subject"} - set(pat.groupindex)
    if missing:
        raise ValueError(f"name_pattern needs the named groups {sorted(missing)}")
    if path.is_dir():
        candidates = sorted(p for p in path.iterdir() if p.is_file())
        files = [p for p in candidates if pat.search(p.name)]
        others = [p.name for p in candidates if not pat.search(p.name)]
        if not files:
            raise DataError(f"no files matching {name_pattern!r}", file=str(path))
    elif path.is_file():
        files, others = [path], []
    else:
        raise DataError("no such file or folder", file=str(path))
    col = SampleCollector(path, on_bad=on_bad, class_names=class_names, min_length=min_length, gaps=gaps,
                          max_gap=max_gap)
    v = lay.num_joints
    for file in tqdm(files, desc="sequence files", disable=not progress):
        m = pat.search(file.name)
        if m is None:
            col.bad(f"file name does not match {name_pattern!r}: missing label and subject", file.stem, file)
            continue
        try:
            rows = [r.split() for r in file.read_text(encoding="utf-8").splitlines() if r.strip()]
        except (OSError, UnicodeDecodeError) as e:
            col.bad(f"cannot read ({e})", file.stem, file)
            continue
        if not rows or any(len(r) != 4 for r in rows):
            col.bad("every row must be 'x y z c' (4 numbers); corrupt or truncated file", file.stem, file)
            continue
        if len(rows) % v:
            col.bad(f"{len(rows)} rows is not a multiple of {v} joints (layout {lay.name}): wrong joint count "
                    f"or truncated file", file.stem, file)
            continue
        try:
            vals = parse_floats([t for r in rows for t in r], file=file, sample=file.stem).reshape(-1, v, 4)
        except DataError as e:
            col.bad(e.reason, file.stem, file)
            continue
        g = m.groupdict()
        col.add(vals[..., :3], conf=vals[..., 3], name=file.stem, subject=f"s{g['subject']}",
                label=f"a{g['action']}", file=file)
    if others:
        col.note(f"files not matching the sequence-file name pattern, not read: {len(others)} "
                 f"({', '.join(others[:3])}{', ...' if len(others) > 3 else ''})")
    col.note("subjects: sYY of the file name; classes: aXX")
    return col.build(lay, "xyz")
