"""PYSKL / MMAction2 skeleton annotation pickles: read and write.

The file is a dict ``{"split": {name: [frame_dir, ...]}, "annotations": [...]}``, or a
bare list of annotations (what PYSKL's ``tools/data/custom_2d_skeleton.py`` writes; no
splits); each annotation has ``frame_dir``, ``label`` (int), ``keypoint`` (M, T, V, C),
optionally ``keypoint_score`` (M, T, V), ``total_frames`` (= T), ``img_shape`` (h, w) and
other keys. C = 2 gives ``xy`` data (score -> ``conf``, ``img_shape`` -> ``image_size``),
C = 3 ``xyz``; float16 arrays (PYSKL's own files) are read as float32 and every choice
computed in float64. Read only through :func:`~infagenc.data.safe_pickle.safe_load`.

Reading (choices where the format is silent):

* ``split``: read only the annotations listed in that split;
* layout: ``layout`` if given; else the file's ``layout`` entry (written by us); else from V:
  17 -> ``coco17``, 25 -> ``ntu25``, 20 -> ``kinect20``, 24 -> ``smpl24``; any other V
  without ``layout`` is a DataError (unknown layout);
* classes: ``class_names`` if given; else the file's ``class_names`` entry (written by us);
  else, when every ``frame_dir`` is an NTU name and every label is its action number - 1
  (PYSKL's ``ntu_preproc.py``), the action codes ``A001`` .. ``A060`` (``A120`` past 60);
  else ``"0" .. "K-1"`` from the integer labels of the whole file (so every split of a file
  has the same class list), K - 1 being the end of the labels' first unbroken run: labels
  0, 1, 2 and 99 give the classes 0..2, and the sample labelled 99 is a bad sample (an
  unknown label, with a hint to pass ``class_names``) rather than 96 empty classes. A label
  outside the list is an unknown label; a label that is not an integer (a bool, a float, a
  text) is one too. A class with no sample is an error (``on_bad="error"``) only when the
  class list came from the labels of the file read whole: with a given or stated list, or
  a split, it is kept with a note (a split or a subset file need not hold every class);
* ``frame_dir`` must be unique: a repeated one is a bad sample naming it;
* ``gaps`` / ``max_gap``: all-zero frames of the kept person (:mod:`infagenc.data.gaps`);
* subjects: an annotation's ``subject`` (written by us); else the first group of
  ``subject_pattern`` in ``frame_dir`` when given; else the performer ``Pppp`` when
  ``frame_dir`` is an NTU name; else ``frame_dir`` itself (one subject per sample).
  ``notes`` count how many samples took each rule;
* several persons (M > 1): ``bodies`` as for NTU (``main``, ``first``, ``all``); with
  ``main`` / ``first`` the next person (the one with the most motion among the others, or
  the next slot) is kept as ``second_body`` and any further ones are counted in ``notes``;
* ``total_frames`` different from the keypoint array's T is a bad sample; so is a
  compressed (``frame_inds``, K400-style) annotation.

Writing: :func:`~.pyskl_write.write_pyskl` (re-exported here).
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ...skeleton.layouts import Layout
from ..errors import DataError
from ..gaps import DEFAULT_MAX_GAP, check_gap_options
from ..motionset import MotionSet
from ..safe_pickle import safe_load
from ._common import (PROVENANCE_DEFAULTS, SampleCollector, layout_or_error, person_slots, select_bodies,
                      subject_from)
from .infact import INFACT_FILES, is_infact_content
from .ntu import parse_ntu_name
from .pyskl_write import _PortablePickler, write_pyskl  # noqa: F401 - re-exported

__all__ = ["read_pyskl", "write_pyskl", "claims_pyskl", "is_pyskl_content", "LAYOUT_BY_JOINTS"]

LAYOUT_BY_JOINTS = {17: "coco17", 25: "ntu25", 20: "kinect20", 24: "smpl24"}


def is_pyskl_content(obj) -> bool:
    return isinstance(obj, dict) and isinstance(obj.get("annotations"), list)


def claims_pyskl(path: Path) -> bool:
    """A ``.pkl`` that is not an InfAct release file (their names are fixed) is taken as PYSKL."""
    return path.is_file() and path.suffix == ".pkl" and path.name not in INFACT_FILES


def _layout(spec, data: dict, v: int, path: Path) -> Layout:
    if spec is not None:
        return layout_or_error(spec, path)
    if isinstance(data.get("layout"), dict):
        try:
            return Layout.from_dict(data["layout"], source=str(path))
        except Exception as e:  # noqa: BLE001 - a malformed entry of any kind
            raise DataError(f"bad 'layout' entry: {e}", file=str(path)) from None
    if v not in LAYOUT_BY_JOINTS:
        raise DataError(f"unknown layout: {v} joints per frame; known by joint count: "
                        f"{', '.join(f'{k} -> {n}' for k, n in LAYOUT_BY_JOINTS.items())}; pass layout=",
                        file=str(path))
    return layout_or_error(LAYOUT_BY_JOINTS[v], path)


def _ntu_classes(annos: list) -> tuple[str, ...] | None:
    """``A001`` .. ``A060`` (``A120``) when every annotation is an NTU ``frame_dir`` labelled
    with its action number - 1 (PYSKL's NTU files); else None."""
    actions = []
    for a in annos:
        meta = parse_ntu_name(str(a.get("frame_dir", "")))
        if meta is None or not _is_int(a.get("label")) or int(a["label"]) != int(meta["action"][1:]) - 1:
            return None
        actions.append(int(a["label"]) + 1)
    if not actions:
        return None
    return tuple(f"A{i:03d}" for i in range(1, (60 if max(actions) <= 60 else max(120, max(actions))) + 1))


def _class_names(given, data: dict, annos: list, path: Path) -> tuple[tuple[str, ...], str, bool]:
    """(the class list, a hint for labels outside it, whether the list is stated for the
    whole data set rather than taken from this file's labels)."""
    if given is not None:
        return tuple(str(c) for c in given), "", True
    if isinstance(data.get("class_names"), (list, tuple)):
        return tuple(str(c) for c in data["class_names"]), " (the file's class_names)", True
    ntu = _ntu_classes(annos)
    if ntu is not None:
        return ntu, " (NTU action codes: label = action number - 1)", True
    labels = {int(a["label"]) for a in annos if _is_int(a.get("label")) and int(a["label"]) >= 0}
    if not labels:
        raise DataError("no annotation has an integer label: missing labels", file=str(path))
    k = min(labels)
    while k + 1 in labels:  # the classes run to the end of the labels' first unbroken run
        k += 1
    hint = ""
    if k < max(labels):
        hint = (f"; with no class_names the classes are 0..K-1 from the labels found, and no annotation has "
                f"label {k + 1}, so labels above {k} are taken as out of range (they would make "
                f"{max(labels) + 1} classes, some empty); pass class_names= if the data set has them")
    return tuple(str(i) for i in range(k + 1)), hint, False


def _short(x) -> str:
    text = repr(x)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_int(x) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _subject(anno: dict, name: str, pattern: re.Pattern | None) -> tuple[str | None, str]:
    """(subject or None when ``pattern`` does not match, the rule that gave it)."""
    if "subject" in anno:
        return str(anno["subject"]), "the annotation's 'subject'"
    if pattern is not None:
        return subject_from(name, pattern), f"first group of {pattern.pattern!r} in frame_dir"
    ntu = parse_ntu_name(name)
    if ntu is not None:
        return ntu["performer"], "NTU performer Pppp of frame_dir"
    return name, "frame_dir itself (one subject per sample)"


def _in_split(data: dict, annos: list[dict], split: str | None, path: Path) -> tuple[list[dict], set[str]]:
    """The annotations of ``split`` (all without one) and the split's names that have none."""
    if split is None:
        return annos, set()
    if data.get("bare list"):
        raise DataError(f"a bare list of annotations (as PYSKL's custom_2d_skeleton.py writes) has no splits; "
                        f"read it without split= (asked for {split!r})", file=str(path))
    splits = data.get("split")
    if not isinstance(splits, dict) or split not in splits:
        have = sorted(map(str, splits)) if isinstance(splits, dict) else []
        raise DataError(f"no split {split!r} (splits: {', '.join(have) or 'none'})", file=str(path))
    if not isinstance(splits[split], (list, tuple)):
        raise DataError(f"split {split!r} is a {type(splits[split]).__name__}, not a list of frame_dirs",
                        file=str(path))
    wanted = {str(n) for n in splits[split]}
    missing = wanted - {str(a.get("frame_dir")) for a in annos}
    return [a for a in annos if str(a.get("frame_dir")) in wanted], missing


def _annotation_arrays(a: dict, channels: int, lay: Layout, has_score: bool, classes, hint: str = ""):
    """(problem or None, keypoint (M, T, V, C), score (M, T, V) or None, class name or None)
    of one annotation."""
    kp = a.get("keypoint")
    if "frame_inds" in a:
        return ("compressed keypoints (frame_inds, K400-style): not supported; write the file without "
                "compression (custom_2d_skeleton.py without --compress)", None, None, None)
    if not isinstance(kp, np.ndarray) or kp.dtype.kind not in "fiu":
        return "no numeric keypoint array", None, None, None
    if kp.ndim == 3:
        kp = kp[None]
    if kp.ndim != 4 or kp.shape[-1] != channels:
        return f"keypoint has shape {kp.shape}, expected (M, T, V, {channels})", None, None, None
    if kp.shape[2] != lay.num_joints:
        return (f"keypoint has {kp.shape[2]} joints, layout {lay.name} has {lay.num_joints}: wrong joint count",
                None, None, None)
    score = a.get("keypoint_score")
    if has_score:
        if isinstance(score, np.ndarray) and score.ndim == 2:
            score = score[None]
        if not isinstance(score, np.ndarray) or score.dtype.kind not in "fiu" or score.shape != kp.shape[:3]:
            return f"keypoint_score missing or not of shape (M, T, V) = {kp.shape[:3]}", None, None, None
    total = a.get("total_frames", kp.shape[1])
    if not _is_int(total) or int(total) != kp.shape[1]:
        return f"total_frames is {total} but keypoint has {kp.shape[1]} frames (truncated or corrupt)", None, None, None
    label = a.get("label")
    if label is None:
        return None, kp, score, None
    if _is_int(label) and 0 <= int(label) < len(classes):
        return None, kp, score, classes[int(label)]
    return f"unknown label {_short(label)}: classes are 0..{len(classes) - 1}{hint}", None, None, None


def _is_bare_list(obj) -> bool:
    """A bare list of PYSKL annotations (custom_2d_skeleton.py): dicts with ``keypoint`` and
    no ``pose`` (InfAct release clips have both)."""
    return (isinstance(obj, list) and bool(obj) and all(isinstance(a, dict) for a in obj)
            and "keypoint" in obj[0] and "pose" not in obj[0])


def _load(path: Path) -> tuple[dict, list[dict]]:
    data = safe_load(path)
    if _is_bare_list(data):
        data = {"annotations": data, "bare list": True}
    if not is_pyskl_content(data):
        hint = " (it looks like an InfActPrimitive / InfantAction pickle: format='infact')" \
            if is_infact_content(data) else ""
        raise DataError("not a PYSKL / MMAction2 annotation file (expected a dict with an 'annotations' list)"
                        + hint, file=str(path))
    annos = [a for a in data["annotations"] if isinstance(a, dict)]
    if len(annos) != len(data["annotations"]):
        raise DataError("an entry of 'annotations' is not a dict", file=str(path))
    return data, annos


def _first_keypoint(selected: list[dict], path: Path) -> np.ndarray:
    """The first keypoint array of the form (M, T, V, C) or (T, V, C): it fixes V and C."""
    arrays = [a["keypoint"] for a in selected if isinstance(a.get("keypoint"), np.ndarray)]
    if not arrays:
        raise DataError("no annotation has a keypoint array", file=str(path))
    first = next((k for k in arrays if k.ndim in (3, 4)), None)
    if first is None:
        raise DataError(f"no keypoint array has the shape (M, T, V, C) or (T, V, C) (the first has shape "
                        f"{arrays[0].shape})", file=str(path))
    if first.shape[-1] not in (2, 3):
        raise DataError(f"keypoint has {first.shape[-1]} values per joint; expected 2 (x, y) or 3 (x, y, z)",
                        file=str(path))
    return first


def _persons(kp: np.ndarray, bodies: str, col: SampleCollector, name: str) -> list[tuple[int, int | None]]:
    """(kept slot, slot of its second person or None) per sample to make; [] for no person."""
    kept, nonempty = person_slots(kp, bodies)
    if nonempty > 1:
        col.tally(f"samples with more than one person (bodies={bodies!r})", f"{name}: {nonempty}")
    if bodies == "all" or not kept or nonempty < 2:
        return [(p, None) for p in kept]
    rest = [p for p in range(len(kp)) if p != kept[0]]
    second = rest[select_bodies([kp[p] for p in rest], bodies)[0]]
    if nonempty > 2:
        col.tally("samples with more than two persons (the main one and the next kept)", f"{name}: {nonempty}")
    return [(kept[0], second)]


def _image_size(a: dict, channels: int) -> tuple[int, int] | None:
    """(width, height) from a 2D annotation's ``img_shape`` (h, w), when it has one."""
    shape = a.get("img_shape", a.get("original_shape"))
    if channels != 2 or not isinstance(shape, (tuple, list)) or len(shape) != 2 or not all(map(_is_int, shape)):
        return None
    return int(shape[1]), int(shape[0])


def read_pyskl(path: str | Path, *, split: str | None = None, layout: str | None = None,
               class_names: Sequence[str] | None = None, subject_pattern: str | None = None,
               bodies: str = "main", on_bad: str = "error", min_length: int = 1,
               gaps: str = "error", max_gap: int = DEFAULT_MAX_GAP, progress: bool = True) -> MotionSet:
    """Read a PYSKL / MMAction2 skeleton pickle (see module docstring)."""
    path = Path(path)
    select_bodies([], bodies)
    check_gap_options(gaps, max_gap)
    data, annos = _load(path)
    selected, missing = _in_split(data, annos, split, path)
    classes, hint, stated = _class_names(class_names, data, annos, path)
    first = _first_keypoint(selected, path)
    lay = _layout(layout, data, int(first.shape[-2]), path)
    channels = int(first.shape[-1])
    pattern = re.compile(subject_pattern) if subject_pattern else None
    col = SampleCollector(path, on_bad=on_bad, class_names=classes, min_length=min_length, gaps=gaps,
                          max_gap=max_gap, empty_classes="note" if stated or split is not None else "error")
    rules: Counter = Counter()
    has_score = any("keypoint_score" in a for a in selected)
    for k, a in enumerate(tqdm(selected, desc=path.name, disable=not progress)):
        name = str(a.get("frame_dir", f"#{k}"))
        problem, kp, score, label_name = _annotation_arrays(a, channels, lay, has_score, classes, hint)
        if problem:
            col.bad(problem, name)
            continue
        subject, rule = _subject(a, name, pattern)
        if subject is None:
            col.bad(f"subject_pattern {subject_pattern!r} does not match frame_dir", name)
            continue
        persons = _persons(kp, bodies, col, name)
        if not persons:
            col.bad("keypoint is all zeros (no person)", name)
            continue
        prov = {key: a[key] for key in PROVENANCE_DEFAULTS if key in a}
        for p, q in persons:
            sc = (lambda j: None if score is None or j is None else score[j])  # noqa: E731
            if col.add(kp[p], conf=sc(p), name=f"{name}/person{p}" if bodies == "all" else name, subject=subject,
                       label=label_name, provenance=prov, second=None if q is None else kp[q], second_conf=sc(q),
                       image_size=_image_size(a, channels)):
                rules[rule] += 1
    if data.get("bare list"):
        col.note("a bare list of annotations (PYSKL custom_2d_skeleton.py style): no splits")
    if isinstance(data.get("filled_joints"), dict):
        col.note("joints filled by a layout mapping, not measured: "
                 + "; ".join(f"{k}: {v}" for k, v in data["filled_joints"].items()))
    if missing:
        col.note(f"split {split!r} lists {len(missing)} frame_dir(s) with no annotation")
    col.note("subjects: " + "; ".join(f"{n} sample(s) from {r}" for r, n in rules.items()))
    return col.build(lay, "xy" if channels == 2 else "xyz")
