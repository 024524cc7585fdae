"""What a generator's joints and channels mean (:class:`MotionSpec`) and the generator's
input tensors of a motion set (:func:`motion_tensors`). Both are re-exported by
:mod:`infagenc.train.generator`, where they were defined first."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..data.motionset import MotionSet
from ..data.preprocess import ROOT_MODES, root_constraint
from ..skeleton.layouts import Layout, resolve_layout
from ..skeleton.rotations import REPRESENTATION_CHANNELS, ROTATION_REPRESENTATIONS
from .batching import TensorSet

__all__ = ["MotionSpec", "motion_tensors"]


@dataclass(frozen=True)
class MotionSpec:
    """What the generator's joints and channels mean: layout, representation, class names,
    whether the root translation rides along as an extra joint, the frame rate, and the root
    constraint of the training data (``root``: ``per_frame`` / ``first_frame`` / ``none``,
    see :func:`~infagenc.data.preprocess.root_constraint`), which sampling restores: the
    decoder does not keep e.g. the centre joint exactly at the origin, and recognizers
    trained on root-relative data are very sensitive to that offset. Checkpoints written
    before this field existed load with ``none`` (their samples stay as they were)."""

    layout: Layout
    rep: str
    class_names: tuple[str, ...]
    trans: bool = False
    fps: float | None = None
    root: str = "none"

    def __post_init__(self) -> None:
        object.__setattr__(self, "layout", resolve_layout(self.layout))
        object.__setattr__(self, "class_names", tuple(str(c) for c in self.class_names))
        if self.rep not in REPRESENTATION_CHANNELS:
            raise ValueError(f"unknown representation {self.rep!r}")
        if self.trans and self.rep not in ROTATION_REPRESENTATIONS:
            raise ValueError(f"a root-translation joint is for rotation data, not {self.rep!r}")
        if not self.class_names:
            raise ValueError("a conditional generator needs labelled data (no class names given)")
        if self.root not in ROOT_MODES:
            raise ValueError(f"root must be one of {ROOT_MODES}, got {self.root!r}")

    @property
    def num_joints(self) -> int:
        """Joints the model sees (the layout's, plus one for the translation)."""
        return self.layout.num_joints + int(self.trans)

    @property
    def channels(self) -> int:
        return REPRESENTATION_CHANNELS[self.rep]

    @classmethod
    def from_motionset(cls, ms: MotionSet, trans: bool = False, keep_root: bool = True) -> "MotionSpec":
        """The spec of a generator for ``ms``; with ``keep_root`` its root constraint is the one
        ``ms`` satisfies (:func:`~infagenc.data.preprocess.root_constraint`), else ``none``."""
        return cls(ms.layout, ms.rep, ms.class_names, trans, ms.fps, root_constraint(ms) if keep_root else "none")

    def to_dict(self) -> dict:
        return {"layout": self.layout.to_dict(), "rep": self.rep, "class_names": list(self.class_names),
                "trans": self.trans, "fps": self.fps, "root": self.root}

    @classmethod
    def from_dict(cls, d: dict) -> "MotionSpec":
        return cls(d["layout"], d["rep"], tuple(d["class_names"]), bool(d.get("trans", False)), d.get("fps"),
                   d.get("root", "none"))


def motion_tensors(ms: MotionSet, spec: MotionSpec, device="cpu") -> TensorSet:
    """The generator's input tensors of a motion set (labels re-indexed onto ``spec``'s
    classes by name; the translation appended as an extra joint when ``spec.trans``)."""
    if ms.layout != spec.layout or ms.rep != spec.rep:
        raise ValueError(f"motion set is {ms.layout.name}/{ms.rep}, the generator models "
                         f"{spec.layout.name}/{spec.rep}")
    if ms.class_names != spec.class_names:
        ms = ms.relabel(spec.class_names)
    x = ms.data
    if spec.trans:
        if ms.trans is None:
            raise ValueError("the generator models the root translation but the motion set has no 'trans'")
        tj = np.zeros(x.shape[:2] + (1, x.shape[3]), np.float32)
        tj[..., 0, :3] = ms.trans
        x = np.concatenate([x, tj], axis=2)
    return TensorSet(torch.as_tensor(x, dtype=torch.float32, device=device),
                     torch.as_tensor(ms.lengths, dtype=torch.long, device=device),
                     torch.as_tensor(ms.labels, dtype=torch.long, device=device))
