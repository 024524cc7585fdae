"""Pose statistics of generated against real skeleton sequences.

Pure functions of numpy arrays (no torch, no I/O), on joint positions ``x`` (N, T, V, C)
(C = 3 for xyz, 2 for xy) with true lengths (N,): frames at and after ``lengths[n]`` are
padding and never count. Every statistic is a per-sequence value (a mean over the
sequence's real frames), so a long sequence weighs as much as a short one.

* :func:`bone_lengths`: mean length of every bone (joint - parent, from the layout's
  ``parents``) per sequence; :func:`bone_length_error` compares the per-bone means of two
  sets (generated bones that shrink or stretch are a common generator artefact).
* :func:`pair_distance`: mean distance of two joints per sequence; :func:`layout_pairs` picks
  pairs by joint name where the layout has them (feet: ``left_foot`` / ``right_foot``, else
  the ankles; knees; hands: ``left_hand`` / ``right_hand``, else the wrists), and skips a pair
  the layout has no joints for. Collapsed legs show as a feet distance below the real one.
* :func:`motion_energy`: mean per-joint speed per sequence (distance per frame between
  consecutive real frames, averaged over frames and joints; a one-frame sequence has none).
* :func:`compare`: means and standard deviations (``ddof=0``) of a value in two sets and the
  ``shift``: the difference of the means in units of the real standard deviation,
  ``(gen_mean - real_mean) / real_std`` (None where the real std is 0 or a set is empty).
* :func:`mean_joint_distance`: mean per-joint distance of two aligned sets of sequences (the
  source-distance filter of exemplar sampling uses it).
* :func:`pose_statistics`: all of the above overall and per class, as a JSON-able dict;
  :func:`motionset_pose_statistics` the same for two motion sets (rotation data through
  forward kinematics first).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..data.motionset import MotionSet
from ..skeleton.layouts import Layout

__all__ = ["PAIR_CANDIDATES", "mean_joint_distance", "bone_lengths", "bone_names", "bone_length_error",
           "pair_distance", "layout_pairs", "motion_energy", "compare", "pose_statistics",
           "motionset_pose_statistics"]

# statistic name -> candidate (joint, joint) name pairs, the first one a layout has is used
PAIR_CANDIDATES: dict[str, tuple[tuple[str, str], ...]] = {
    "feet": (("left_foot", "right_foot"), ("left_ankle", "right_ankle")),
    "knees": (("left_knee", "right_knee"),),
    "hands": (("left_hand", "right_hand"), ("left_wrist", "right_wrist")),
}


def _check(x: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    lengths = np.asarray(lengths, dtype=np.int64).reshape(-1)
    if x.ndim != 4:
        raise ValueError(f"positions must be (N, T, V, C), got shape {x.shape}")
    if lengths.shape != (x.shape[0],):
        raise ValueError(f"{lengths.shape[0]} lengths for {x.shape[0]} sequences")
    if len(lengths) and (lengths.min() < 1 or lengths.max() > x.shape[1]):
        raise ValueError(f"lengths must lie in 1..{x.shape[1]}")
    return x, lengths


def _mask(lengths: np.ndarray, t: int) -> np.ndarray:
    return np.arange(t)[None, :] < lengths[:, None]


def _frame_mean(v: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Mean of (N, T, ...) values over the real frames of each sequence -> (N, ...)."""
    m = _mask(lengths, v.shape[1]).reshape(v.shape[:2] + (1,) * (v.ndim - 2))
    return (v * m).sum(1) / m.sum(1)


def mean_joint_distance(a: np.ndarray, b: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """(N,) mean over the real frames and the joints of the Euclidean distance between the
    joints of ``a`` and ``b`` (both (N, T, V, C), the same lengths)."""
    a, lengths = _check(a, lengths)
    b, _ = _check(b, lengths)
    if a.shape != b.shape:
        raise ValueError(f"the two sets differ in shape: {a.shape} and {b.shape}")
    return _frame_mean(np.linalg.norm(a - b, axis=-1), lengths).mean(-1)


def bone_names(layout: Layout) -> list[str]:
    """``parent-joint`` names of the bones, in the order of :func:`bone_lengths`."""
    return [f"{layout.joints[p]}-{layout.joints[j]}" for j, p in enumerate(layout.parents) if p >= 0]


def bone_lengths(x: np.ndarray, parents: Sequence[int], lengths: np.ndarray) -> np.ndarray:
    """(N, B) mean length over the real frames of every bone (joint j with parent p >= 0, in
    joint order) of each sequence."""
    x, lengths = _check(x, lengths)
    if len(parents) != x.shape[2]:
        raise ValueError(f"{len(parents)} parents for {x.shape[2]} joints")
    child = [j for j, p in enumerate(parents) if p >= 0]
    par = [int(parents[j]) for j in child]
    return _frame_mean(np.linalg.norm(x[:, :, child] - x[:, :, par], axis=-1), lengths)


def pair_distance(x: np.ndarray, lengths: np.ndarray, i: int, j: int) -> np.ndarray:
    """(N,) mean distance over the real frames between joints ``i`` and ``j``."""
    x, lengths = _check(x, lengths)
    return _frame_mean(np.linalg.norm(x[:, :, i] - x[:, :, j], axis=-1), lengths)


def motion_energy(x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """(N,) mean per-joint speed (distance per frame) over consecutive real frames; NaN for a
    sequence of one frame."""
    x, lengths = _check(x, lengths)
    n, t = x.shape[:2]
    if t < 2:
        return np.full(n, np.nan)
    speed = np.linalg.norm(np.diff(x, axis=1), axis=-1).mean(-1)  # (N, T-1)
    m = np.arange(t - 1)[None, :] < (lengths[:, None] - 1)
    cnt = m.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, (speed * m).sum(1) / np.maximum(cnt, 1), np.nan)


def layout_pairs(layout: Layout) -> dict[str, tuple[str, str]]:
    """The joint pairs of :data:`PAIR_CANDIDATES` the layout has, by statistic name."""
    names = set(layout.joints)
    out = {}
    for stat, candidates in PAIR_CANDIDATES.items():
        for a, b in candidates:
            if a in names and b in names:
                out[stat] = (a, b)
                break
    return out


def _num(v) -> float | None:
    return None if v is None or not np.isfinite(v) else float(v)


def compare(real: np.ndarray, gen: np.ndarray) -> dict:
    """Means, standard deviations (ddof 0) and the shift ``(gen_mean - real_mean) / real_std``
    of one per-sequence value in the real and the generated set (NaN values left out)."""
    r = np.asarray(real, np.float64).reshape(-1)
    g = np.asarray(gen, np.float64).reshape(-1)
    r, g = r[np.isfinite(r)], g[np.isfinite(g)]
    rm, rs = (float(r.mean()), float(r.std())) if len(r) else (None, None)
    gm, gs = (float(g.mean()), float(g.std())) if len(g) else (None, None)
    shift = (gm - rm) / rs if rm is not None and gm is not None and rs and rs > 0 else None
    return {"n_real": int(len(r)), "n_gen": int(len(g)), "real_mean": rm, "real_std": rs, "gen_mean": gm,
            "gen_std": gs, "shift": _num(shift)}


def bone_length_error(real_bones: np.ndarray, gen_bones: np.ndarray, names: Sequence[str]) -> dict:
    """Per-bone mean lengths of two sets ((N, B) from :func:`bone_lengths`) compared:
    ``mean_abs_error`` (mean over bones of |gen mean - real mean|), ``mean_relative_error``
    (the same divided by the real mean, over bones of non-zero real length) and the ``worst``
    bone. All None when a set is empty."""
    real_bones, gen_bones = np.asarray(real_bones, np.float64), np.asarray(gen_bones, np.float64)
    if not len(real_bones) or not len(gen_bones) or not len(names):
        return {"mean_abs_error": None, "mean_relative_error": None, "worst": None}
    rm, gm = real_bones.mean(0), gen_bones.mean(0)
    err = np.abs(gm - rm)
    rel = err[rm > 0] / rm[rm > 0]
    w = int(err.argmax())
    return {"mean_abs_error": float(err.mean()), "mean_relative_error": _num(rel.mean()) if len(rel) else None,
            "worst": {"bone": str(names[w]), "real": float(rm[w]), "gen": float(gm[w])}}


def _group(real: tuple, gen: tuple, layout: Layout, pairs: dict[str, tuple[str, str]]) -> dict:
    (rx, rl), (gx, gl) = real, gen
    names = bone_names(layout)
    out = {"n_real": int(len(rx)), "n_gen": int(len(gx)),
           "bone_length": bone_length_error(bone_lengths(rx, layout.parents, rl),
                                            bone_lengths(gx, layout.parents, gl), names),
           "distances": {}}
    for stat, (a, b) in pairs.items():
        i, j = layout.index(a), layout.index(b)
        out["distances"][stat] = compare(pair_distance(rx, rl, i, j), pair_distance(gx, gl, i, j))
    out["energy"] = compare(motion_energy(rx, rl), motion_energy(gx, gl))
    return out


def pose_statistics(real_x: np.ndarray, real_lengths: np.ndarray, real_labels: np.ndarray,
                    gen_x: np.ndarray, gen_lengths: np.ndarray, gen_labels: np.ndarray, layout: Layout,
                    class_names: Sequence[str]) -> dict:
    """Bone-length error, layout-named joint-pair distances and motion energy of generated
    against real positions, over all samples (``overall``) and per class (``per_class``, by
    class name; labels index ``class_names`` in both sets). JSON-able; see the module
    docstring for the definitions."""
    real_x, real_lengths = _check(real_x, real_lengths)
    gen_x, gen_lengths = _check(gen_x, gen_lengths)
    if real_x.shape[2:] != gen_x.shape[2:] or real_x.shape[2] != layout.num_joints:
        raise ValueError(f"real (V, C) {real_x.shape[2:]} and generated {gen_x.shape[2:]} must match the "
                         f"layout's {layout.num_joints} joints")
    rlab, glab = np.asarray(real_labels).reshape(-1), np.asarray(gen_labels).reshape(-1)
    if len(rlab) != len(real_x) or len(glab) != len(gen_x):
        raise ValueError("one label per sequence is needed in both sets")
    pairs = layout_pairs(layout)
    res = {"layout": layout.name, "pairs": {k: list(v) for k, v in pairs.items()},
           "skipped_pairs": [k for k in PAIR_CANDIDATES if k not in pairs],
           "overall": _group((real_x, real_lengths), (gen_x, gen_lengths), layout, pairs), "per_class": {}}
    for c, name in enumerate(class_names):
        r, g = rlab == c, glab == c
        res["per_class"][str(name)] = _group((real_x[r], real_lengths[r]), (gen_x[g], gen_lengths[g]), layout, pairs)
    return res


def motionset_pose_statistics(real: MotionSet, generated: MotionSet, rest=None) -> dict:
    """:func:`pose_statistics` of two motion sets of one layout: positions as they are (xyz /
    xy), rotation data through forward kinematics (``rest``: the rest skeleton, default the
    shipped infant skeleton for ``smpl24``, see :meth:`MotionSet.to_xyz`); the generated
    set's classes matched to the real set's by name."""
    if real.layout != generated.layout:
        raise ValueError(f"real data is layout {real.layout.name!r}, generated {generated.layout.name!r}")
    if not real.labelled or not generated.labelled:
        raise ValueError("pose statistics per class need labelled sets")
    gen = generated.relabel(real.class_names) if generated.class_names != real.class_names else generated
    r, g = real.to_xyz(rest), gen.to_xyz(rest)
    if r.rep != g.rep:
        raise ValueError(f"real positions are {r.rep}, generated {g.rep}")
    return pose_statistics(r.data, r.lengths, r.labels, g.data, g.lengths, g.labels, real.layout, real.class_names)
