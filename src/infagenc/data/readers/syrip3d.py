"""SyRIP 3D infant keypoints: ``correct_3D.npy`` / ``output_pose_3D.npy`` (N, 14, 3).

``output_imgnames.npy`` (N,) names the image of each row (``GB/image_00000.jpg``);
``img_name700_map.npy`` (700, 2) maps the real images' names to the SyRIP names used by
the 2D COCO files (``image_00000.jpg`` -> ``train00001.jpg``). Layout ``infant14`` (LSP
order); every row is one sample of one frame (T = 1), representation ``xyz``. Arrays
are loaded with ``allow_pickle=False``.

Choices where the data is silent:

* all-zero rows (``correct_3D.npy`` has them for the images that were not corrected)
  are bad samples: a DataError with ``on_bad="error"``, an exclusion each with ``"skip"``;
* without ``labels``: an unlabelled set (``class_names = ()``), subject and sample name =
  the image's file name without folder and suffix (``image_00000``);
* with ``labels`` (one or more SyRIP COCO JSON files, e.g. ``train200.json`` and
  ``validate500.json``): the rows of the images those files list, joined through the name
  map; posture = the images' ``label_field``; subject = the COCO ``file_name`` without
  suffix and sample name = the COCO ``file_name``, as in the 2D reader, so 2D and 3D sets
  line up. Rows of
  images the label files do not list are not read (counted in ``notes``); an image listed
  there with no row is a bad sample.
* ``path`` may be the folder: then ``poses`` names the file in it (``correct_3D.npy``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import DataError
from ..motionset import MotionSet
from ._common import SampleCollector, layout_or_error
from .coco import load_coco_json, posture_order

__all__ = ["read_syrip3d", "claims_syrip3d"]

NAMES_FILE = "output_imgnames.npy"
MAP_FILE = "img_name700_map.npy"


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataError("no such file", file=str(path)) from None
    except (OSError, ValueError, EOFError) as e:
        raise DataError(f"not a readable .npy array, or truncated/corrupt ({e})", file=str(path)) from None


def claims_syrip3d(path: Path) -> bool:
    if not (path.is_file() and path.suffix == ".npy" and (path.parent / NAMES_FILE).is_file()):
        return False
    try:
        a = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return False
    return a.ndim == 3 and a.shape[2] == 3 and a.dtype.kind == "f"


def _posture_table(files: Sequence[str | Path], label_field: str) -> dict[str, object]:
    """{SyRIP file_name: label} over the given COCO files."""
    table = {}
    for f in files:
        d = load_coco_json(Path(f))
        for img in d["images"]:
            if isinstance(img, dict) and "file_name" in img:
                table[str(img["file_name"])] = img.get(label_field)
    return table


def read_syrip3d(path: str | Path, *, poses: str = "correct_3D.npy", names_file: str | None = None,
                 labels: str | Sequence[str] | None = None, map_file: str | None = None,
                 label_field: str = "posture", layout: str = "infant14", on_bad: str = "error",
                 class_names: Sequence[str] | None = None) -> MotionSet:
    """Read a SyRIP 3D pose file (see module docstring).

    ``names_file`` / ``map_file`` default to ``output_imgnames.npy`` / ``img_name700_map.npy``
    beside the pose file.
    """
    path = Path(path)
    pose_path = path / poses if path.is_dir() else path
    folder = pose_path.parent
    lay = layout_or_error(layout, pose_path)
    x = _load_npy(pose_path)
    names_path = Path(names_file) if names_file else folder / NAMES_FILE
    img = _load_npy(names_path)
    if x.ndim != 3 or x.shape[2] != 3 or x.dtype.kind not in "fiu":
        raise DataError(f"expected an (N, {lay.num_joints}, 3) array of numbers, got {x.shape} {x.dtype}",
                        file=str(pose_path))
    if x.shape[1] != lay.num_joints:
        raise DataError(f"{x.shape[1]} joints per row, layout {lay.name} has {lay.num_joints}: wrong joint count",
                        file=str(pose_path))
    if img.shape != (len(x),):
        raise DataError(f"{img.shape} image names for {len(x)} pose rows", file=str(names_path))
    stems = [Path(str(n)).stem for n in img]
    if labels is None:
        col = SampleCollector(pose_path, on_bad=on_bad, labelled=False)
        for i, s in enumerate(stems):
            col.add(x[i:i + 1], name=s, subject=s)
        col.note("unlabelled (no label files given); subjects and names: the image file name")
        return col.build(lay, "xyz")

    label_files = [labels] if isinstance(labels, (str, Path)) else list(labels)
    map_path = Path(map_file) if map_file else folder / MAP_FILE
    mp = _load_npy(map_path)
    if mp.ndim != 2 or mp.shape[1] != 2:
        raise DataError(f"expected an (N, 2) name map, got {mp.shape}", file=str(map_path))
    to_syrip = {Path(str(a)).name: str(b) for a, b in mp}
    row_of = {to_syrip[Path(str(n)).name]: i for i, n in enumerate(img) if Path(str(n)).name in to_syrip}
    table = _posture_table(label_files, label_field)
    col = SampleCollector(pose_path, on_bad=on_bad, class_names=class_names)
    for file_name, label in table.items():
        if file_name not in row_of:
            col.bad(f"no 3D row for this image (not in {map_path.name} / {names_path.name})", file_name)
            continue
        i = row_of[file_name]
        col.add(x[i:i + 1], name=file_name, subject=Path(file_name).stem, label=label)
    col.note(f"labels joined from {', '.join(Path(f).name for f in label_files)} via {map_path.name}; "
             f"{len(x) - len(set(row_of[n] for n in table if n in row_of))} pose rows of images not in "
             f"the label files were not read")
    col.note("subjects: the COCO file_name without suffix; names: the COCO file_name")
    return col.build(lay, "xyz", order=posture_order)
