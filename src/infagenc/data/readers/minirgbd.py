"""MINI-RGBD 2D annotations: ``result_pzXXX.csv``, one file per infant sequence.

``;``-separated; a header row ``image;joint;joint;...`` names the 14 joints; then one row
per frame: the image name and one ``x,y`` cell (pixels) per joint. Layout
``minirgbd14``; the columns are matched to the layout's joints by the header names
(another order in the header is re-ordered, an unknown joint name is a DataError).
Coordinates are kept as given (the images of the dataset are rotated by 90 degrees; no
rotation is applied here).

The set is unlabelled: ``class_names = ()`` and every label is -1. Subject =
``pzXXX`` from the file name (each infant is one sequence, so one sample per subject).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..errors import DataError
from ..motionset import MotionSet
from ._common import SampleCollector, layout_or_error, parse_floats

__all__ = ["read_minirgbd", "claims_minirgbd"]

_NAME = re.compile(r"^result_(pz\d+)\.csv$")


def claims_minirgbd(path: Path) -> bool:
    return bool(_NAME.match(path.name))


def _parse(file: Path, layout, sample: str) -> np.ndarray:
    try:
        lines = [l for l in file.read_text(encoding="utf-8").splitlines() if l.strip()]
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read ({e})", file=str(file), sample=sample) from None
    if len(lines) < 2:
        raise DataError("no frames (a header row and at least one frame row are needed)", file=str(file),
                        sample=sample)
    header = [h.strip() for h in lines[0].split(";")][1:]
    unknown = [h for h in header if h not in layout.joints]
    if unknown or len(header) != layout.num_joints:
        raise DataError(f"header joints {header} do not match layout {layout.name!r} ({', '.join(layout.joints)}): "
                        f"unknown layout or wrong joint count", file=str(file), sample=sample)
    order = [header.index(j) for j in layout.joints]
    cells = []
    for k, line in enumerate(lines[1:], 2):
        row = line.split(";")[1:]
        if len(row) != len(header):
            raise DataError(f"line {k} has {len(row)} joint cells, the header {len(header)} (wrong joint "
                            f"count or truncated file)", file=str(file), sample=sample)
        xy = [c.split(",") for c in row]
        if any(len(c) != 2 for c in xy):
            raise DataError(f"line {k}: every cell must be 'x,y'", file=str(file), sample=sample)
        cells.extend(t for c in xy for t in c)
    vals = parse_floats(cells, file=file, sample=sample, what="coordinates").reshape(len(lines) - 1, -1, 2)
    return vals[:, order]


def read_minirgbd(path: str | Path, *, layout: str = "minirgbd14", on_bad: str = "error", min_length: int = 1,
                  progress: bool = True) -> MotionSet:
    """Read one ``result_pzXXX.csv`` or every one of a folder (see module docstring)."""
    path = Path(path)
    lay = layout_or_error(layout, path)
    if path.is_dir():
        files = sorted(p for p in path.glob("result_pz*.csv") if _NAME.match(p.name))
        if not files:
            raise DataError("no result_pzXXX.csv files in folder", file=str(path))
    elif path.is_file():
        files = [path]
    else:
        raise DataError("no such file or folder", file=str(path))
    col = SampleCollector(path, on_bad=on_bad, labelled=False, min_length=min_length)
    for file in tqdm(files, desc="MINI-RGBD files", disable=not progress):
        m = _NAME.match(file.name)
        subject = m.group(1) if m else file.stem
        try:
            x = _parse(file, lay, file.stem)
        except DataError as e:
            col.bad(e.reason, file.stem, file)
            continue
        col.add(x, name=file.stem, subject=subject, file=file)
    col.note("unlabelled set (no action labels); subjects: pzXXX of the file name")
    return col.build(lay, "xy")
