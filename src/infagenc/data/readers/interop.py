"""What PYSKL / MMAction2 expect of a skeleton file, beyond its keys (used by the PYSKL writer).

* NTU RGB+D conventions (:func:`ntu_labels`, :func:`ntu_splits`): label = action number - 1
  (``A058`` -> 57, as PYSKL's ``tools/data/ntu_preproc.py`` writes it); the standard splits
  ``xsub_train`` / ``xsub_val`` (cross-subject: the published list of training performers),
  ``xview_train`` / ``xview_val`` (cross-view: cameras 2 and 3 train, camera 1 validates),
  and for NTU RGB+D 120 (an action above 60) also ``xset_train`` / ``xset_val``
  (cross-setup: even setups train);
* scores in [0, 1] (:func:`unit_scores`): confidences already in [0, 1] are kept; the 0/1/2
  flags that COCO visibility and Kinect tracking states are (a set whose values are all
  integers 0, 1 or 2, a 2 among them) become 0, 0.5, 1; any other range is refused;
* :func:`to_ntu25`: a ``kinect20`` (Kinect v1) set in the NTU RGB+D 25-joint order, so that
  PYSKL / MMAction2's ``nturgb+d`` graph, bone pairs and pre-normalisation apply. The joints
  are matched by meaning (hip_center -> spine_base, spine -> spine_mid, shoulder_center ->
  spine_shoulder, the limbs and head by name); the five joints Kinect v1 lacks are filled by
  :data:`NTU25_FILL` (``neck`` = midpoint of spine_shoulder and head; hand tips and thumbs
  = the hand joint), and are flagged: listed in the file's ``filled_joints`` and scored 0
  when scores are written.
"""
from __future__ import annotations

import re

import numpy as np

from ...skeleton.layouts import get_layout
from ..motionset import MotionSet
from .ntu import parse_ntu_name

__all__ = ["NTU_XSUB_TRAIN", "NTU25_FILL", "ntu_labels", "ntu_splits", "unit_scores", "to_ntu25"]

# Cross-subject training performers of NTU RGB+D 60 (the first 20) and 120 (all), as published.
NTU_XSUB_TRAIN = frozenset((1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38, 45, 46, 47,
                            49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86, 89, 91,
                            92, 93, 94, 95, 97, 98, 100, 103))
_ACTION = re.compile(r"^A(\d{3})$")

# kinect20 joint -> ntu25 joint, where they mean the same body point
_KINECT20_TO_NTU25 = {"hip_center": "spine_base", "spine": "spine_mid", "shoulder_center": "spine_shoulder"}
# ntu25 joints Kinect v1 lacks: (rule, the ntu25 joints whose mean fills it)
NTU25_FILL = {
    "neck": ("midpoint of spine_shoulder and head", ("spine_shoulder", "head")),
    "left_hand_tip": ("the left hand joint", ("left_hand",)),
    "left_thumb": ("the left hand joint", ("left_hand",)),
    "right_hand_tip": ("the right hand joint", ("right_hand",)),
    "right_thumb": ("the right hand joint", ("right_hand",)),
}


def ntu_labels(ms: MotionSet) -> tuple[np.ndarray, list[str]] | None:
    """(label of each sample = action number - 1, the class list ``A001`` .. ``A060`` or
    ``A120`` indexed by it) when every class name is an NTU action code ``Aaaa``; else None."""
    codes = [_ACTION.match(c) for c in ms.class_names]
    if not ms.class_names or not all(codes):
        return None
    actions = np.array([int(m.group(1)) for m in codes], np.int64)
    if actions.min() < 1:
        return None
    top = 60 if actions.max() <= 60 else max(120, int(actions.max()))
    return actions[ms.labels] - 1, [f"A{i:03d}" for i in range(1, top + 1)]


def ntu_splits(names: list[str]) -> dict[str, list[str]] | None:
    """The standard NTU splits of sample names ``SsssCcccPpppRrrrAaaa`` (see the module
    docstring); None when a name is not an NTU name."""
    parsed = [parse_ntu_name(n) for n in names]
    if not names or any(p is None for p in parsed):
        return None
    num = [{k: int(v[1:]) for k, v in p.items()} for p in parsed]
    xsub = [p["performer"] in NTU_XSUB_TRAIN for p in num]
    xview = [p["camera"] != 1 for p in num]
    out = {"xsub_train": [n for n, t in zip(names, xsub) if t], "xsub_val": [n for n, t in zip(names, xsub) if not t],
           "xview_train": [n for n, t in zip(names, xview) if t],
           "xview_val": [n for n, t in zip(names, xview) if not t]}
    if any(p["action"] > 60 for p in num):
        xset = [p["setup"] % 2 == 0 for p in num]
        out["xset_train"] = [n for n, t in zip(names, xset) if t]
        out["xset_val"] = [n for n, t in zip(names, xset) if not t]
    return out


def unit_scores(conf: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, str]:
    """(``conf`` as scores in [0, 1], the rule used); ``valid`` (same shape, bool) marks the
    values that count (real frames). A ValueError for a range that is neither."""
    vals = np.asarray(conf, np.float64)[valid]
    if not len(vals) or (vals.min() >= 0 and vals.max() <= 1):
        return np.asarray(conf, np.float32), "as given (already in [0, 1])"
    if np.isin(vals, (0.0, 1.0, 2.0)).all():
        return (np.asarray(conf, np.float32) / 2).astype(np.float32), "0/1/2 flags (visibility, tracking state) / 2"
    raise ValueError(f"joint confidences range {vals.min():g}..{vals.max():g}: neither scores in [0, 1] nor 0/1/2 "
                     f"flags; rescale conf to [0, 1] or write without scores (scores=False)")


def to_ntu25(ms: MotionSet) -> tuple[MotionSet, list[str]]:
    """(the set in the ``ntu25`` joint order, the names of the filled joints): see the module
    docstring. ``conf`` and the second body are mapped too (filled joints: the same rule;
    their confidence 0)."""
    if ms.layout.name == "ntu25":
        return ms, []
    if ms.layout != get_layout("kinect20"):
        raise ValueError(f"no NTU-25 mapping for layout {ms.layout.name!r} (only kinect20 maps to ntu25); "
                         f"give PYSKL / MMAction2 its graph description instead (infagenc data graph "
                         f"{ms.layout.name})")
    ntu, src = get_layout("ntu25"), ms.layout
    index = {_KINECT20_TO_NTU25.get(j, j): i for i, j in enumerate(src.joints)}
    missing = [j for j in ntu.joints if j not in index]
    if sorted(missing) != sorted(NTU25_FILL):
        raise RuntimeError(f"kinect20 -> ntu25 mapping incomplete: {missing}")  # a bug of this table

    def mapped(x: np.ndarray | None) -> np.ndarray | None:
        if x is None:
            return None
        out = np.zeros(x.shape[:2] + (ntu.num_joints,) + x.shape[3:], np.float32)
        for j, name in enumerate(ntu.joints):
            if name in index:
                out[:, :, j] = x[:, :, index[name]]
        for name, (_, sources) in NTU25_FILL.items():
            out[:, :, ntu.index(name)] = np.mean([out[:, :, ntu.index(s)] for s in sources], axis=0)
        return out

    def mapped_conf(c: np.ndarray | None) -> np.ndarray | None:
        out = mapped(None if c is None else c[..., None])
        if out is None:
            return None
        out = out[..., 0]
        out[:, :, [ntu.index(n) for n in NTU25_FILL]] = 0.0
        return out

    note = ("mapped kinect20 -> ntu25: " + "; ".join(f"{n} filled with {r}" for n, (r, _) in NTU25_FILL.items())
            + " (confidence 0)")
    out = MotionSet(mapped(ms.data), ms.lengths, ms.labels, ms.class_names, ms.subjects, ms.names, ntu, ms.rep,
                    source=ms.source, run=ms.run, epoch=ms.epoch, round=ms.round, seed=ms.seed, trans=ms.trans,
                    conf=mapped_conf(ms.conf), fps=ms.fps, exclusions=list(ms.exclusions),
                    notes=list(ms.notes) + [note], second_body=mapped(ms.second_body),
                    second_conf=mapped_conf(ms.second_conf), image_size=ms.image_size)
    return out, list(NTU25_FILL)
