"""PYSKL / MMAction2 skeleton annotation pickles: read and write.

The file is a dict ``{"split": {name: [frame_dir, ...]}, "annotations": [...]}``; each
annotation has ``frame_dir``, ``label`` (int), ``keypoint`` (M, T, V, C), optionally
``keypoint_score`` (M, T, V), ``total_frames`` (= T) and other keys. C = 2 gives ``xy``
data (score -> ``conf``), C = 3 ``xyz``. Read only through
:func:`~infagenc.data.safe_pickle.safe_load`.

Reading (choices where the format is silent):

* ``split``: read only the annotations listed in that split;
* layout: ``layout`` if given; else the file's ``layout`` entry (written by us); else from V:
  17 -> ``coco17``, 25 -> ``ntu25``, 20 -> ``kinect20``, 24 -> ``smpl24``; any other V
  without ``layout`` is a DataError (unknown layout);
* classes: ``class_names`` if given; else the file's ``class_names`` entry (written by us);
  else ``"0" .. "K-1"`` from the integer labels of the whole file (so every split of a file
  has the same class list), K - 1 being the end of the labels' first unbroken run: labels
  0, 1, 2 and 99 give the classes 0..2, and the sample labelled 99 is a bad sample (an
  unknown label, with a hint to pass ``class_names``) rather than 96 empty classes. A label
  outside the list is an unknown label; a label that is not an integer (a bool, a float, a
  text) is one too;
* ``frame_dir`` must be unique: a repeated one is a bad sample naming it;
* ``gaps`` / ``max_gap``: all-zero frames of the kept person (:mod:`infagenc.data.gaps`);
* subjects: an annotation's ``subject`` (written by us); else the first group of
  ``subject_pattern`` in ``frame_dir`` when given; else the performer ``Pppp`` when
  ``frame_dir`` is an NTU name; else ``frame_dir`` itself (one subject per sample).
  ``notes`` count how many samples took each rule;
* several persons (M > 1): ``bodies`` as for NTU (``main``, ``first``, ``all``);
* ``total_frames`` different from the keypoint array's T is a bad sample.

Writing (:func:`write_pyskl`): a file PYSKL / MMAction2 ``PoseDataset`` loads: per sample
``frame_dir`` (the sample name; names must be unique), ``label`` (int), ``keypoint``
float32 (1, T, V, C) with T the true length (no padding), ``keypoint_score`` float32
(1, T, V) (``conf`` where the set has it; ones for 2D sets without it, since PYSKL's 2D
pipelines need a score; left out for 3D sets without ``conf``, as in PYSKL's 3D
annotations), ``total_frames``; plus ``subject`` and the provenance keys ``source``,
``run``, ``epoch``, ``round``, ``seed`` (extra keys, ignored by PYSKL). Top level: ``split``,
``annotations``, and ``class_names`` and ``layout`` (also ignored by PYSKL), so that
reading the file back gives the same set. Rotation representations are refused
(convert with ``ms.to_xyz()`` first): PYSKL models read joint positions. Arrays are
pickled as ``numpy.ndarray(shape, dtype, buffer)`` so that numpy 1.x loads files written
under numpy 2 (see :class:`_PortablePickler`).
"""
from __future__ import annotations

import pickle
import re
from collections import Counter
from collections.abc import Mapping, Sequence
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


def _class_names(given, data: dict, annos: list, path: Path) -> tuple[tuple[str, ...], str]:
    """(the class list, a hint for labels outside it)."""
    if given is not None:
        return tuple(str(c) for c in given), ""
    if isinstance(data.get("class_names"), (list, tuple)):
        return tuple(str(c) for c in data["class_names"]), " (the file's class_names)"
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
    return tuple(str(i) for i in range(k + 1)), hint


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


def _load(path: Path) -> tuple[dict, list[dict]]:
    data = safe_load(path)
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
    classes, hint = _class_names(class_names, data, annos, path)
    first = _first_keypoint(selected, path)
    lay = _layout(layout, data, int(first.shape[-2]), path)
    channels = int(first.shape[-1])
    pattern = re.compile(subject_pattern) if subject_pattern else None
    col = SampleCollector(path, on_bad=on_bad, class_names=classes, min_length=min_length, gaps=gaps,
                          max_gap=max_gap)
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
        kept, nonempty = person_slots(kp, bodies)
        if not kept:
            col.bad("keypoint is all zeros (no person)", name)
            continue
        if nonempty > 1:
            col.tally(f"samples with more than one person (bodies={bodies!r})", f"{name}: {nonempty}")
        prov = {key: a[key] for key in PROVENANCE_DEFAULTS if key in a}
        for p in kept:
            if col.add(kp[p], conf=None if score is None else score[p], name=f"{name}/person{p}" if bodies == "all"
                       else name, subject=subject, label=label_name, provenance=prov):
                rules[rule] += 1
    if missing:
        col.note(f"split {split!r} lists {len(missing)} frame_dir(s) with no annotation")
    col.note("subjects: " + "; ".join(f"{n} sample(s) from {r}" for r, n in rules.items()))
    return col.build(lay, "xy" if channels == 2 else "xyz")


def write_pyskl(ms: MotionSet, path: str | Path, *, split: Mapping[str, Sequence[str]] | None = None,
                subject_split: Mapping[str, Sequence[str]] | None = None) -> Path:
    """Write a PYSKL / MMAction2 annotation pickle (see module docstring).

    ``split``: {split name: [sample names]}; ``subject_split``: {split name: [subjects]}
    (e.g. ``{"xsub_train": [...], "xsub_val": [...]}``); neither: one split ``"all"``.
    """
    path = Path(path)
    if ms.rep not in ("xyz", "xy"):
        raise ValueError(f"PYSKL stores joint positions; convert {ms.rep!r} data first (ms.to_xyz())")
    if not ms.labelled:
        raise ValueError("PYSKL annotations need integer labels; this set is unlabelled")
    names = [str(n) for n in ms.names]
    dup = sorted(n for n, c in Counter(names).items() if c > 1)
    if dup:
        raise ValueError(f"sample names must be unique to serve as frame_dir; repeated: {dup[:5]}")
    if split is not None and subject_split is not None:
        raise ValueError("give split or subject_split, not both")
    if subject_split is not None:
        known = set(ms.subjects.tolist())
        unknown = sorted({str(s) for v in subject_split.values() for s in v} - known)
        if unknown:
            raise ValueError(f"subject_split names subjects not in the set: {unknown}")
        split = {k: [n for n, s in zip(names, ms.subjects) if s in {str(x) for x in v}]
                 for k, v in subject_split.items()}
    elif split is not None:
        unknown = sorted({str(n) for v in split.values() for n in v} - set(names))
        if unknown:
            raise ValueError(f"split names samples not in the set: {unknown[:5]}")
        split = {str(k): [str(n) for n in v] for k, v in split.items()}
    else:
        split = {"all": names}
    annotations = []
    for i, name in enumerate(names):
        L = int(ms.lengths[i])
        a = {
            "frame_dir": name,
            "label": int(ms.labels[i]),
            "keypoint": ms.data[i, :L][None].astype(np.float32),
            "total_frames": L,
            "subject": str(ms.subjects[i]),
            "source": str(ms.source[i]),
            "run": str(ms.run[i]),
            "epoch": int(ms.epoch[i]),
            "round": int(ms.round[i]),
            "seed": int(ms.seed[i]),
        }
        if ms.conf is not None:
            a["keypoint_score"] = ms.conf[i, :L][None].astype(np.float32)
        elif ms.rep == "xy":
            a["keypoint_score"] = np.ones((1, L, ms.num_joints), np.float32)
        annotations.append(a)
    out = {"split": split, "annotations": annotations, "class_names": list(ms.class_names),
           "layout": ms.layout.to_dict()}
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        _PortablePickler(f, protocol=4).dump(out)
    return path


class _PortablePickler(pickle.Pickler):
    """Pickles arrays as ``numpy.ndarray(shape, dtype, bytearray)``.

    numpy >= 2 pickles arrays through ``numpy._core.multiarray``, which numpy < 1.26 (common
    in PYSKL / MMAction2 environments) cannot import; ``numpy.ndarray`` exists in every
    version. The bytearray buffer keeps the loaded arrays writable.
    """

    def reducer_override(self, obj):
        if type(obj) is np.ndarray:
            a = np.ascontiguousarray(obj)
            return np.ndarray, (a.shape, a.dtype.str, bytearray(a.tobytes()))
        return NotImplemented
