"""COCO keypoint JSON with a per-image label field (SyRIP 2D postures).

``images`` (each with ``id``, ``file_name`` and the label field, default ``posture``),
``annotations`` (``image_id``, ``keypoints`` = V x (x, y, visibility) in pixels) and
``categories`` (``keypoints`` = joint names). Every image is one sample of one frame
(T = 1), representation ``xy``; ``conf`` = the visibility flag as given (0 not labelled,
1 labelled but hidden, 2 visible); ``image_size`` = the image's ``width`` and ``height``
(-1 for an image without them, counted in ``notes``), so that a PYSKL file written from the
set records each image's shape.

Choices where the format is silent:

* layout: ``layout`` if given; else the registered layout whose joint names equal the
  category's keypoint names (``coco17`` for COCO / SyRIP); else a DataError (unknown layout);
* keypoints with visibility 0 keep the values the file gives (SyRIP writes e.g. -45, -45);
  they are counted in ``notes``, never zero-filled or dropped by the reader;
* an image with several person annotations keeps the one with the most labelled
  keypoints (counted in ``notes``); an image with none is a bad sample;
* one subject per image (single images of different infants; the images carry no infant
  identity): subject = ``file_name`` without suffix (``train00101``), sample name =
  ``file_name``. Not the numeric image id: SyRIP's ``train200.json`` and
  ``validate500.json`` reuse the same ids (1, 2, ...) for different images, so ids would
  merge unrelated images into one "subject" when the two sets are combined;
* class order: ``class_names`` if given; else Prone, Supine, Sitting, Standing (those of
  them present) when every label is one of these four; else the labels sorted.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from ...skeleton.layouts import Layout, get_layout, list_layouts
from ..errors import DataError
from ..motionset import MotionSet
from ._common import SampleCollector, layout_or_error

__all__ = ["read_coco", "claims_coco", "load_coco_json", "posture_order", "POSTURES"]

POSTURES = ("Prone", "Supine", "Sitting", "Standing")


def load_coco_json(path: Path) -> dict:
    """The parsed file; a DataError when it is not a COCO keypoint file."""
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError("no such file", file=str(path)) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"not readable JSON, or truncated/corrupt ({e})", file=str(path)) from None
    if not isinstance(d, dict) or not isinstance(d.get("images"), list) or not isinstance(d.get("annotations"), list):
        raise DataError("not a COCO keypoint file (needs 'images' and 'annotations' lists)", file=str(path))
    return d


def claims_coco(path: Path) -> bool:
    """A ``.json`` with COCO keypoint annotations, or one that does not parse (so that a
    truncated annotation file is reported, not passed over)."""
    if not (path.is_file() and path.suffix.lower() == ".json"):
        return False
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return True
    return (isinstance(d, dict) and isinstance(d.get("images"), list) and isinstance(d.get("annotations"), list)
            and any(isinstance(a, dict) and "keypoints" in a for a in d["annotations"][:1]))


def _layout_from_categories(d: dict, path: Path) -> Layout:
    names = None
    for c in d.get("categories") or []:
        if isinstance(c, dict) and c.get("keypoints"):
            names = tuple(str(k) for k in c["keypoints"])
            break
    if names is None:
        return get_layout("coco17")
    for lname in list_layouts():
        lay = get_layout(lname)
        if lay.joints == names:
            return lay
    raise DataError(f"unknown layout: no registered layout has the keypoints {list(names)}; pass layout= "
                    f"(a name or a layout file)", file=str(path))


def posture_order(names) -> list[str]:
    """Prone, Supine, Sitting, Standing (those present) when all names are postures; else sorted."""
    names = set(names)
    if names <= set(POSTURES):
        return [p for p in POSTURES if p in names]
    return sorted(names)


def _size(img: dict) -> tuple[int, int] | None:
    """(width, height) of an image entry, when both are positive integers."""
    w, h = img.get("width"), img.get("height")
    ok = all(isinstance(x, (int, float)) and not isinstance(x, bool) and x > 0 and float(x).is_integer()
             for x in (w, h))
    return (int(w), int(h)) if ok else None


def read_coco(path: str | Path, *, label_field: str = "posture", layout: str | None = None, on_bad: str = "error",
              class_names: Sequence[str] | None = None) -> MotionSet:
    """Read a COCO keypoint JSON with a per-image label (see module docstring)."""
    path = Path(path)
    d = load_coco_json(path)
    lay = layout_or_error(layout, path) if layout is not None else _layout_from_categories(d, path)
    v = lay.num_joints
    col = SampleCollector(path, on_bad=on_bad, class_names=class_names)
    by_image: dict = {}
    for a in d["annotations"]:
        if isinstance(a, dict) and "image_id" in a:
            by_image.setdefault(a["image_id"], []).append(a)
    image_ids = set()
    hidden = unsized = 0
    for img in d["images"]:
        if not isinstance(img, dict) or "id" not in img:
            raise DataError("an entry of 'images' has no 'id'", file=str(path))
        image_ids.add(img["id"])
        name = str(img.get("file_name", img["id"]))
        anns = [a for a in by_image.get(img["id"], []) if a.get("keypoints")]
        if not anns:
            col.bad("no keypoint annotation for this image", name)
            continue
        if len(anns) > 1:
            col.tally("images with several person annotations (kept the one with most labelled keypoints)",
                      name)
            anns.sort(key=lambda a: -int(np.count_nonzero(np.asarray(a["keypoints"], float)[2::3])))
        try:
            kp = np.asarray(anns[0]["keypoints"], dtype=np.float64)
        except (TypeError, ValueError):
            col.bad("keypoints are not numbers", name)
            continue
        if kp.ndim != 1 or kp.size != 3 * v:
            col.bad(f"{kp.size} keypoint values, expected {3 * v} ({v} joints x (x, y, visibility) for layout "
                    f"{lay.name}): wrong joint count", name)
            continue
        kp = kp.reshape(1, v, 3)
        size = _size(img)
        unsized += size is None
        if col.add(kp[..., :2], conf=kp[..., 2], name=name, subject=Path(name).stem, label=img.get(label_field),
                   image_size=size or (-1, -1)):
            hidden += int((kp[..., 2] == 0).sum())
    if unsized:
        col.note(f"images without a positive integer width and height (image size unknown, -1): {unsized}")
    orphans = sum(len(a) for i, a in by_image.items() if i not in image_ids)
    if orphans:
        col.note(f"annotations for image ids not in 'images', not read: {orphans}")
    col.note(f"keypoints with visibility 0 (not labelled): {hidden}; their coordinates are kept as the file "
             f"gives them and conf = 0 marks them")
    col.note(f"subjects: the image file name without suffix (one image per sample); labels: the images' {label_field!r} field")
    return col.build(lay, "xy", order=posture_order)
