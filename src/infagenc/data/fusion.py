"""Joining the 2D and 3D keypoints of the same images into one set (the input of late fusion).

Design: one :class:`~infagenc.data.motionset.MotionSet` on a **fused layout** rather than a
second kind of set. :func:`fused_layout` puts the 2D layout's joints first, renamed
``2d:<joint>``, then the 3D layout's, renamed ``3d:<joint>``; the 3D tree hangs from the 2D
root (a layout has one root: that joining edge is the only edge between the parts), the
centre is the 2D centre, left/right pairs and extra edges are both parts' own. The data are
xyz: the 2D part holds (x, y, 0), so every tool of the package (batches, the trainer, DANN /
LMMD, checkpoints, ``.npz``) carries the pair unchanged, and the joint-name prefix is the flag
that says which joints are 2D. :class:`~infagenc.models.posture.PostureFusion` splits the
parts again by those prefixes, gives each its own encoder (the 2D one reads x and y only) and
concatenates their features. Any other recognizer can also read a fused set as one skeleton
(early fusion through the joining edge).

:func:`fuse_keypoints` joins two sets sample by sample on the sample **name** (the SyRIP
readers name a 2D image and its 3D row by the same COCO ``file_name``); labels, subjects and
provenance come from the 2D set, and a label that disagrees for the same image is an error.
A 2D sample with no 3D partner is an error (``on_missing="error"``) or left out with an
:class:`~infagenc.data.errors.Exclusion` (``"skip"``); 3D samples with no 2D partner are
not read (counted in ``notes``); two sets with no name in common are an error either way
(the 3D set was read without the names of the 2D one). Frames are paired one to one, so both sets must give each
image the same number of frames (1 for SyRIP).

Preprocess each set on its own layout **before** fusing (fill unlabelled keypoints, root at
the origin, scale): on the fused layout a root or scale step would mix pixels and metres, and
filling would borrow 3D joints. A 2D set whose confidences still mark keypoints as not
labelled is refused for that reason. Augment a fused set in the image plane: the SyRIP 3D
keypoints are in camera coordinates (x right, y down, as the image), so a rotation about z
(``AugmentConfig(up_axis="z", tilt_deg=0)``), a scale and a mirror (negate x, swap the
left/right pairs of both parts) change both parts alike and keep the 2D z at 0; tilts would
not (a jitter adds noise to the 2D z too, which the fused model never reads).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..skeleton.layouts import Layout
from .errors import DataError, Exclusion, check_on_bad
from .motionset import MotionSet

__all__ = ["PREFIX_2D", "PREFIX_3D", "fused_layout", "fuse_keypoints"]

PREFIX_2D, PREFIX_3D = "2d", "3d"


def fused_layout(layout2d: Layout, layout3d: Layout) -> Layout:
    """The layout of 2D joints then 3D joints (see module docstring)."""
    v2 = layout2d.num_joints
    joints = tuple(f"{PREFIX_2D}:{j}" for j in layout2d.joints) + tuple(f"{PREFIX_3D}:{j}" for j in layout3d.joints)
    parents = layout2d.parents + tuple(layout2d.root if p == -1 else p + v2 for p in layout3d.parents)
    shift = lambda pairs: tuple((a + v2, b + v2) for a, b in pairs)  # noqa: E731
    return Layout(f"{layout2d.name}+{layout3d.name}", joints, parents, layout2d.center,
                  layout2d.lr_pairs + shift(layout3d.lr_pairs), layout2d.extra_edges + shift(layout3d.extra_edges),
                  f"fused: {v2} joints of {layout2d.name} (2D, z = 0) then {layout3d.num_joints} of "
                  f"{layout3d.name} (3D); the 3D root hangs from the 2D root")


def _check_inputs(ms2d: MotionSet, ms3d: MotionSet) -> None:
    if ms2d.rep != "xy" or ms3d.rep != "xyz":
        raise ValueError(f"fuse_keypoints takes a 2D (xy) set and a 3D (xyz) set, got {ms2d.rep!r} and {ms3d.rep!r}")
    for what, ms in (("2D", ms2d), ("3D", ms3d)):
        dup = [n for n, c in zip(*np.unique(ms.names.astype(str), return_counts=True)) if c > 1]
        if dup:
            raise DataError(f"the {what} set names {len(dup)} samples twice (e.g. {dup[0]!r}): cannot join by name")
    if ms2d.conf is not None and bool((ms2d.conf[ms2d.frame_mask()] == 0).any()):
        raise ValueError("the 2D set has keypoints with confidence 0 (not labelled): preprocess it on its own "
                         "layout first (Preprocess(unlabelled='fill')), then fuse")
    if not ms2d.labelled:
        raise ValueError("fuse_keypoints takes its labels from the 2D set, which is unlabelled")


def fuse_keypoints(ms2d: MotionSet, ms3d: MotionSet, *, on_missing: str = "error") -> MotionSet:
    """One set of 2D + 3D keypoints per image, joined by sample name (see module docstring)."""
    check_on_bad(on_missing)
    _check_inputs(ms2d, ms3d)
    row3d = {str(n): i for i, n in enumerate(ms3d.names)}
    if len(ms2d) and len(ms3d) and not any(str(n) in row3d for n in ms2d.names):
        raise DataError(f"no 2D sample name is a 3D sample name (2D e.g. {str(ms2d.names[0])!r}, 3D e.g. "
                        f"{str(ms3d.names[0])!r}): nothing to join by image; read the 3D set so that it names "
                        f"images as the 2D set does (SyRIP 3D: with labels=<the COCO file of the 2D set>)")
    keep, rows, excl = [], [], []
    for i, name in enumerate(ms2d.names.astype(str)):
        j = row3d.get(name)
        if j is None:
            if on_missing == "error":
                raise DataError("no 3D keypoints for this 2D sample (joined by name)", sample=name)
            excl.append(Exclusion("fuse_keypoints", name, "no 3D keypoints for this 2D sample"))
            continue
        if ms2d.lengths[i] != ms3d.lengths[j]:
            raise DataError(f"{ms2d.lengths[i]} 2D frames and {ms3d.lengths[j]} 3D frames", sample=name)
        if ms3d.labelled and ms3d.class_names[ms3d.labels[j]] != ms2d.class_names[ms2d.labels[i]]:
            raise DataError(f"labelled {ms2d.class_names[ms2d.labels[i]]!r} in the 2D set and "
                            f"{ms3d.class_names[ms3d.labels[j]]!r} in the 3D set", sample=name)
        keep.append(i)
        rows.append(j)
    a, b = ms2d.subset(np.asarray(keep, np.int64)), ms3d.subset(np.asarray(rows, np.int64))
    t = max(a.num_frames, b.num_frames)
    data = np.zeros((len(a), t, a.num_joints + b.num_joints, 3), np.float32)
    data[:, :a.num_frames, :a.num_joints, :2] = a.data
    data[:, :b.num_frames, a.num_joints:] = b.data
    unread = len(ms3d) - len(rows)
    notes = list(a.notes) + [f"3D: {n}" for n in b.notes] + [
        f"fused by sample name with {len(rows)} 3D samples ({b.layout.name}); the 2D joints ({a.layout.name}) "
        f"have z = 0; labels, subjects and provenance from the 2D set",
        f"3D samples without a 2D partner, not read: {unread}"]
    return replace(a, data=data, layout=fused_layout(a.layout, b.layout), rep="xyz", conf=None, trans=None,
                   second_body=None, second_conf=None, image_size=None,
                   exclusions=list(a.exclusions) + list(b.exclusions) + excl, notes=notes)
