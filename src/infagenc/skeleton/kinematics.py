"""Forward kinematics: per-joint local rotations + a rest skeleton -> joint positions.

Only joints are posed (no body mesh): this is what the generator's position loss and
the viewers need, and it is two orders of magnitude cheaper than skinning a 6890-vertex
mesh per frame as the released InfAGenC code does.

The rest skeleton is a set of rest-pose joint positions ``J`` (V, 3) for a layout; bone
offsets are ``J[j] - J[parent(j)]``. Posing follows the SMPL convention, so with the
rest joints of an SMPL/SMIL body model the joints are exactly the model's posed joints:

    G_root = R_root,           p_root = J_root + trans
    G_j    = G_parent @ R_j,   p_j    = p_parent + G_parent @ (J_j - J_parent)

We ship an infant rest skeleton of our own making for ``smpl24`` (about 0.6 m tall,
infant proportions: large head, short limbs). A user with the licensed SMPL or SMIL
model file can take the exact rest joints from it with :func:`rest_joints_from_body_model`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .layouts import Layout, get_layout
from .rotations import to_matrix

__all__ = [
    "RestSkeleton",
    "forward_kinematics",
    "fk_from_representation",
    "infant_rest_skeleton",
    "rest_joints_from_body_model",
    "rest_skeleton_from_positions",
]


@dataclass(frozen=True)
class RestSkeleton:
    """Rest-pose joint positions for a layout (metres, y up, the body facing +z)."""

    layout: Layout
    joints: np.ndarray  # (V, 3)
    source: str = "infagenc infant rest skeleton"

    def __post_init__(self):
        j = np.asarray(self.joints, dtype=np.float64)
        if j.shape != (self.layout.num_joints, 3):
            raise ValueError(f"rest skeleton for {self.layout.name!r} needs shape "
                             f"({self.layout.num_joints}, 3), got {j.shape}")
        if not np.isfinite(j).all():
            raise ValueError("rest skeleton has non-finite joint positions")
        object.__setattr__(self, "joints", j)

    @property
    def offsets(self) -> np.ndarray:
        """Bone offsets J_j - J_parent (the root's offset is its rest position)."""
        off = self.joints.copy()
        for j, p in enumerate(self.layout.parents):
            if p >= 0:
                off[j] = self.joints[j] - self.joints[p]
        return off

    def bone_lengths(self) -> np.ndarray:
        return np.linalg.norm(self.offsets, axis=-1) * (np.asarray(self.layout.parents) >= 0)

    def to_dict(self) -> dict:
        return {"layout": self.layout.name, "joints": self.joints.tolist(), "source": self.source}


# Infant offsets from parent (metres): x = body's left, y = up, z = forward. Designed by
# hand from infant proportions (crown-heel length ~0.62 m, head ~1/4 of it).
_INFANT_OFFSETS = {
    "pelvis": (0.0, 0.0, 0.0),
    "left_hip": (0.036, -0.030, 0.0),
    "right_hip": (-0.036, -0.030, 0.0),
    "spine1": (0.0, 0.045, -0.006),
    "left_knee": (0.004, -0.118, 0.004),
    "right_knee": (-0.004, -0.118, 0.004),
    "spine2": (0.0, 0.048, 0.0),
    "left_ankle": (0.0, -0.112, -0.010),
    "right_ankle": (0.0, -0.112, -0.010),
    "spine3": (0.0, 0.026, 0.006),
    "left_foot": (0.008, -0.028, 0.042),
    "right_foot": (-0.008, -0.028, 0.042),
    "neck": (0.0, 0.080, -0.006),
    "left_collar": (0.028, 0.058, -0.004),
    "right_collar": (-0.028, 0.058, -0.004),
    "head": (0.0, 0.060, 0.016),
    "left_shoulder": (0.042, 0.008, 0.0),
    "right_shoulder": (-0.042, 0.008, 0.0),
    "left_elbow": (0.088, 0.0, -0.004),
    "right_elbow": (-0.088, 0.0, -0.004),
    "left_wrist": (0.080, 0.0, 0.004),
    "right_wrist": (-0.080, 0.0, 0.004),
    "left_hand": (0.032, 0.0, 0.0),
    "right_hand": (-0.032, 0.0, 0.0),
}


def rest_skeleton_from_offsets(layout: Layout, offsets: np.ndarray, source: str) -> RestSkeleton:
    off = np.asarray(offsets, dtype=np.float64)
    joints = np.zeros_like(off)
    for j in layout.topological_order():
        p = layout.parents[j]
        joints[j] = off[j] if p < 0 else joints[p] + off[j]
    return RestSkeleton(layout, joints, source)


def infant_rest_skeleton() -> RestSkeleton:
    """Our own infant rest skeleton for the ``smpl24`` layout (not the SMIL model's)."""
    layout = get_layout("smpl24")
    off = np.array([_INFANT_OFFSETS[n] for n in layout.joints])
    return rest_skeleton_from_offsets(layout, off, "infagenc infant rest skeleton (hand-made)")


def rest_skeleton_from_positions(layout: Layout, positions: np.ndarray,
                                 source: str = "positions") -> RestSkeleton:
    """Rest skeleton from any pose's joint positions (e.g. a T-pose frame, or mean bones)."""
    return RestSkeleton(layout, np.asarray(positions, dtype=np.float64), source)


def rest_joints_from_body_model(path: str | Path, layout: Layout | None = None) -> RestSkeleton:
    """Exact rest joints ``J_regressor @ v_template`` from an SMPL/SMIL body-model file.

    Supported: ``.npz`` files with arrays ``v_template`` (N_v, 3) and ``J_regressor``
    (24, N_v) (the format of the SMPL-X project's npz releases; convert a chumpy-based
    ``.pkl`` with the body model's own tools first). The file is read with
    ``allow_pickle=False``: nothing in it is executed.
    """
    path = Path(path)
    layout = layout or get_layout("smpl24")
    if path.suffix.lower() != ".npz":
        raise ValueError(f"{path}: body-model files are read from .npz (v_template, J_regressor); "
                         f"convert the licensed .pkl to .npz with the body model's own tools")
    try:
        with np.load(path, allow_pickle=False) as z:
            if "v_template" not in z or "J_regressor" not in z:
                raise ValueError(f"{path}: needs arrays 'v_template' and 'J_regressor', has {sorted(z.files)}")
            v = np.asarray(z["v_template"], dtype=np.float64)
            jr = np.asarray(z["J_regressor"], dtype=np.float64)
    except (OSError, EOFError) as e:
        raise ValueError(f"{path}: cannot read body-model file ({e})") from None
    if jr.ndim != 2 or v.ndim != 2 or jr.shape[1] != v.shape[0] or v.shape[1] != 3:
        raise ValueError(f"{path}: J_regressor {jr.shape} and v_template {v.shape} do not fit together")
    if jr.shape[0] < layout.num_joints:
        raise ValueError(f"{path}: J_regressor gives {jr.shape[0]} joints, layout {layout.name!r} needs "
                         f"{layout.num_joints}")
    joints = jr[: layout.num_joints] @ v
    return RestSkeleton(layout, joints, f"body model {path.name}")


def forward_kinematics(rotmats: torch.Tensor, rest: RestSkeleton | torch.Tensor, parents=None,
                       trans: torch.Tensor | None = None) -> torch.Tensor:
    """Joint positions from local rotation matrices.

    Args:
        rotmats: (..., V, 3, 3) local rotations (root rotation is global).
        rest: a :class:`RestSkeleton`, or a (V, 3) tensor of rest joints with ``parents``.
        parents: parent indices when ``rest`` is a tensor.
        trans: optional (..., 3) root translation.

    Returns:
        (..., V, 3) joint positions, differentiable in ``rotmats``, ``trans`` and (if a
        tensor) the rest joints.
    """
    if isinstance(rest, RestSkeleton):
        parents = rest.layout.parents
        levels = rest.layout.depth_levels()
        rest_j = torch.as_tensor(rest.joints, dtype=rotmats.dtype, device=rotmats.device)
    else:
        if parents is None:
            raise ValueError("parents are needed when rest joints are given as a tensor")
        parents = tuple(int(p) for p in parents)
        from .layouts import Layout as _L  # local: only for depth levels
        levels = _L("_fk", tuple(str(i) for i in range(len(parents))), parents, 0).depth_levels()
        rest_j = rest.to(dtype=rotmats.dtype, device=rotmats.device)
    v = len(parents)
    if rotmats.shape[-3:] != (v, 3, 3):
        raise ValueError(f"rotations of shape {tuple(rotmats.shape)} do not fit a {v}-joint skeleton")
    par = torch.as_tensor([max(p, 0) for p in parents], device=rotmats.device)
    offsets = rest_j - torch.where(torch.as_tensor(parents, device=rotmats.device)[:, None] >= 0,
                                   rest_j[par], torch.zeros_like(rest_j))
    batch = rotmats.shape[:-3]
    glob_r: list[torch.Tensor | None] = [None] * v
    pos: list[torch.Tensor | None] = [None] * v
    for level in levels:
        idx = torch.as_tensor(level, device=rotmats.device)
        r_local = rotmats[..., idx, :, :]
        if parents[level[0]] < 0:  # root level (single joint)
            glob = r_local
            p = offsets[idx].expand(batch + (len(level), 3))
            if trans is not None:
                p = p + trans[..., None, :]
        else:
            pidx = [parents[j] for j in level]
            gp = torch.stack([glob_r[k] for k in pidx], dim=-3)
            pp = torch.stack([pos[k] for k in pidx], dim=-2)
            glob = gp @ r_local
            p = pp + (gp @ offsets[idx][..., None]).squeeze(-1)
        for n, j in enumerate(level):
            glob_r[j] = glob[..., n, :, :]
            pos[j] = p[..., n, :]
    return torch.stack(pos, dim=-2)


def fk_from_representation(x: torch.Tensor, rep: str, rest: RestSkeleton,
                           trans: torch.Tensor | None = None) -> torch.Tensor:
    """Joint positions from (..., V, C) rotations in ``rep`` (``rot6d`` or ``axis_angle``)."""
    return forward_kinematics(to_matrix(x, rep), rest, trans=trans)
