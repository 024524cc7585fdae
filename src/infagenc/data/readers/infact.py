"""InfActPrimitive / InfantAction pickles as released with the InfAGenC paper.

Files ``primitive_train.pkl``, ``primitive_validate.pkl``, ``primitive_test.pkl``
(InfActPrimitive) and ``train_trans_data.pkl``, ``test_trans_data.pkl`` (InfantAction):
a list of dicts, one per clip, with

* ``pose``: (M, T, 24, 3) SMPL/SMIL joint rotations, axis-angle (layout ``smpl24``);
* ``keypoint``: (M, T, 17, 3) COCO keypoints x, y, score (layout ``coco17``);
* ``frame_dir``: the clip name;
* ``pos_label`` or ``action_label``: the class name.

Loaded only through :func:`~infagenc.data.safe_pickle.safe_load` (plain data only).

``field="pose"`` reads the rotations (``rep="axis_angle"``; ``ms.to_rep("rot6d")`` gives
the paper's representation); ``field="keypoint"`` reads the 2D keypoints (``rep="xy"``,
score -> ``conf``). A (T, V, 3) array without the person axis is read as one person.

Choices where the release is silent:

* label key: ``label_key`` if given; else whichever of ``pos_label`` / ``action_label``
  the clips carry (a file with both needs ``label_key``). A clip without it, or with a
  name outside ``class_names``, is a bad sample (missing / unknown label); so is a label
  that is not a class name (an integer, say: it would otherwise become a class of its own);
* ``frame_dir`` must be unique: a repeated one is a bad sample naming it;
* classes: ``class_names`` if given (fixes the order, e.g. to match another split); else
  the names found, sorted;
* subjects: the release does not document how ``frame_dir`` is built. ``subject_pattern``
  is a regex searched in ``frame_dir`` whose first group is the subject; the default
  ``^([^_/]+)`` takes the text before the first ``_`` or ``/``. A ``frame_dir`` it does
  not match is a bad sample. ``notes`` report the rule, the number of subjects and
  examples, so a wrong guess is visible; pass the right pattern for your copy;
* several persons (M > 1): ``bodies`` as for NTU (``main`` = most motion, ``first``,
  ``all`` = one sample per non-empty person, named ``<frame_dir>/person<k>``).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from ...skeleton.layouts import get_layout
from ..errors import DataError
from ..motionset import MotionSet
from ..safe_pickle import safe_load
from ._common import SampleCollector, person_slots, select_bodies, subject_from

__all__ = ["read_infact", "claims_infact", "is_infact_content", "INFACT_FILES", "DEFAULT_SUBJECT_PATTERN"]

INFACT_FILES = ("primitive_train.pkl", "primitive_validate.pkl", "primitive_test.pkl",
                "train_trans_data.pkl", "test_trans_data.pkl")
DEFAULT_SUBJECT_PATTERN = r"^([^_/]+)"
_FIELDS = {"pose": ("smpl24", "axis_angle"), "keypoint": ("coco17", "xy")}
_LABEL_KEYS = ("pos_label", "action_label")


def claims_infact(path: Path) -> bool:
    return path.is_file() and path.name in INFACT_FILES


def is_infact_content(obj) -> bool:
    """A list of dicts with ``frame_dir`` and ``pose`` or ``keypoint``."""
    return (isinstance(obj, list) and bool(obj) and isinstance(obj[0], dict) and "frame_dir" in obj[0]
            and ("pose" in obj[0] or "keypoint" in obj[0]))


def _short(x) -> str:
    text = repr(x)
    return text if len(text) <= 40 else text[:37] + "..."


def _label_key(clips: list, label_key: str | None, path: Path) -> str:
    if label_key is not None:
        return label_key
    found = [k for k in _LABEL_KEYS if any(k in c for c in clips)]
    if len(found) == 1:
        return found[0]
    if not found:
        raise DataError(f"no clip has a label ({' or '.join(_LABEL_KEYS)}): missing labels", file=str(path))
    raise DataError(f"clips carry both {' and '.join(_LABEL_KEYS)}; choose one with label_key=", file=str(path))


def read_infact(path: str | Path, *, field: str = "pose", label_key: str | None = None,
                class_names: Sequence[str] | None = None, subject_pattern: str = DEFAULT_SUBJECT_PATTERN,
                bodies: str = "main", on_bad: str = "error", min_length: int = 1,
                progress: bool = True) -> MotionSet:
    """Read one InfActPrimitive / InfantAction pickle (see module docstring)."""
    path = Path(path)
    if field not in _FIELDS:
        raise ValueError(f"field must be one of {sorted(_FIELDS)}, got {field!r}")
    select_bodies([], bodies)
    layout_name, rep = _FIELDS[field]
    layout = get_layout(layout_name)
    clips = safe_load(path)
    if not isinstance(clips, list) or not all(isinstance(c, dict) for c in clips):
        hint = " (it looks like a PYSKL / MMAction2 file: format='pyskl')" \
            if isinstance(clips, dict) and "annotations" in clips else ""
        raise DataError("expected a list of dicts (one per clip) as in the InfActPrimitive / InfantAction "
                        "release" + hint, file=str(path))
    key = _label_key(clips, label_key, path)
    pattern = re.compile(subject_pattern)
    col = SampleCollector(path, on_bad=on_bad, class_names=class_names, min_length=min_length)
    examples: dict[str, str] = {}
    for k, clip in enumerate(tqdm(clips, desc=path.name, disable=not progress)):
        name = str(clip.get("frame_dir", f"#{k}"))
        if "frame_dir" not in clip:
            col.bad("clip has no frame_dir", name)
            continue
        subject = subject_from(name, pattern)
        if subject is None:
            col.bad(f"subject_pattern {subject_pattern!r} does not match frame_dir", name)
            continue
        if len(examples) < 3:
            examples[name] = subject
        arr = clip.get(field)
        if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "fiu":
            col.bad(f"no numeric {field!r} array", name)
            continue
        if arr.ndim == 3:
            arr = arr[None]
        if arr.ndim != 4 or arr.shape[-1] != 3:
            col.bad(f"{field} has shape {arr.shape}, expected (M, T, {layout.num_joints}, 3)", name)
            continue
        if arr.shape[2] != layout.num_joints:
            col.bad(f"{field} has {arr.shape[2]} joints, layout {layout.name} has {layout.num_joints}: "
                    f"wrong joint count", name)
            continue
        values = arr if field == "pose" else arr[..., :2]
        kept, nonempty = person_slots(values, bodies)
        if not kept:
            col.bad(f"{field} is all zeros (no person)", name)
            continue
        if nonempty > 1:
            col.tally(f"clips with more than one person (bodies={bodies!r})", f"{name}: {nonempty}")
        label = clip.get(key)
        if label is not None and not isinstance(label, str):
            col.bad(f"label {_short(label)} ({type(label).__name__}) is not a class name; the clips' {key!r} "
                    f"are class names (text)", name)
            continue
        for p in kept:
            pname = f"{name}/person{p}" if bodies == "all" else name
            col.add(values[p], conf=None if field == "pose" else arr[p, ..., 2], name=pname, subject=subject,
                    label=label)
    col.note(f"subjects: first group of {subject_pattern!r} in frame_dir "
             f"({len(set(col.subjects))} subjects; e.g. {', '.join(f'{a} -> {b}' for a, b in examples.items())})")
    col.note(f"labels: the clips' {key!r}")
    return col.build(layout, rep)
