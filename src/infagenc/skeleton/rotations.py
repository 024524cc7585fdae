"""Rotation representations in torch: axis-angle, rotation matrix, quaternion, rot6d.

Conventions (documented once, used everywhere):

* rotation matrices act on column vectors: ``x' = R @ x``;
* ``rot6d`` is the continuous 6D representation of Zhou et al. (CVPR 2019): the
  *first two columns* of the rotation matrix, concatenated ``[R[:, 0], R[:, 1]]``;
  decoding orthonormalises them with Gram-Schmidt, so any 6-vector with two
  non-parallel halves maps to a valid rotation;
* quaternions are ``(w, x, y, z)`` with ``w >= 0`` on output;
* axis-angle vectors have angle ``|v|`` in radians, returned in ``[0, pi]``.

All functions take arbitrary leading batch dimensions, are differentiable, and keep
the input's dtype and device. Round trips are exact up to floating-point error and are
tested (``tests/test_rotations.py``).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "axis_angle_to_matrix",
    "matrix_to_axis_angle",
    "matrix_to_quaternion",
    "quaternion_to_matrix",
    "quaternion_to_axis_angle",
    "axis_angle_to_quaternion",
    "matrix_to_rot6d",
    "rot6d_to_matrix",
    "axis_angle_to_rot6d",
    "rot6d_to_axis_angle",
    "convert",
    "REPRESENTATION_CHANNELS",
]

#: channels per joint of each representation
REPRESENTATION_CHANNELS = {"xyz": 3, "xy": 2, "rot6d": 6, "axis_angle": 3}
ROTATION_REPRESENTATIONS = ("rot6d", "axis_angle")


def _as_tensor(x):
    if isinstance(x, torch.Tensor):
        return x, False
    return torch.as_tensor(np.asarray(x, dtype=np.float64)), True


def axis_angle_to_quaternion(aa: torch.Tensor) -> torch.Tensor:
    angle = torch.linalg.norm(aa, dim=-1, keepdim=True)
    half = 0.5 * angle
    small = angle.abs() < 1e-6
    # sin(h)/angle ~ 1/2 - angle^2/48 for small angles
    safe = torch.where(small, torch.ones_like(angle), angle)
    s_over = torch.where(small, 0.5 - angle * angle / 48.0, torch.sin(half) / safe)
    return torch.cat([torch.cos(half), aa * s_over], dim=-1)


def quaternion_to_axis_angle(q: torch.Tensor) -> torch.Tensor:
    q = q / torch.linalg.norm(q, dim=-1, keepdim=True)
    q = torch.where(q[..., :1] < 0, -q, q)  # w >= 0 -> angle in [0, pi]
    norm_v = torch.linalg.norm(q[..., 1:], dim=-1, keepdim=True)
    half = torch.atan2(norm_v, q[..., :1])
    angle = 2.0 * half
    small = norm_v < 1e-6
    safe = torch.where(small, torch.ones_like(norm_v), norm_v)
    # angle / sin(half) ~ 2 + half^2/3 for small angles (sin(half) = norm_v)
    factor = torch.where(small, 2.0 + half * half / 3.0, angle / safe)
    return q[..., 1:] * factor


def quaternion_to_matrix(q: torch.Tensor) -> torch.Tensor:
    q = q / torch.linalg.norm(q, dim=-1, keepdim=True)
    w, x, y, z = q.unbind(-1)
    two = 2.0
    m = torch.stack(
        [
            1 - two * (y * y + z * z), two * (x * y - z * w), two * (x * z + y * w),
            two * (x * y + z * w), 1 - two * (x * x + z * z), two * (y * z - x * w),
            two * (x * z - y * w), two * (y * z + x * w), 1 - two * (x * x + y * y),
        ],
        dim=-1,
    )
    return m.reshape(q.shape[:-1] + (3, 3))


def matrix_to_quaternion(m: torch.Tensor) -> torch.Tensor:
    """Robust conversion (chooses the best-conditioned of four candidate formulas)."""
    if m.shape[-2:] != (3, 3):
        raise ValueError(f"expected (..., 3, 3) matrices, got {tuple(m.shape)}")
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    # 4*w^2, 4*x^2, 4*y^2, 4*z^2
    q_abs = torch.sqrt(torch.clamp(torch.stack([
        1.0 + m00 + m11 + m22,
        1.0 + m00 - m11 - m22,
        1.0 - m00 + m11 - m22,
        1.0 - m00 - m11 + m22,
    ], dim=-1), min=0.0))
    cands = torch.stack([
        torch.stack([q_abs[..., 0] ** 2, m21 - m12, m02 - m20, m10 - m01], dim=-1),
        torch.stack([m21 - m12, q_abs[..., 1] ** 2, m10 + m01, m02 + m20], dim=-1),
        torch.stack([m02 - m20, m10 + m01, q_abs[..., 2] ** 2, m12 + m21], dim=-1),
        torch.stack([m10 - m01, m20 + m02, m21 + m12, q_abs[..., 3] ** 2], dim=-1),
    ], dim=-2)
    denom = 2.0 * torch.clamp(q_abs[..., None], min=0.1)
    cands = cands / denom
    best = q_abs.argmax(dim=-1)
    q = torch.gather(cands, -2, best[..., None, None].expand(best.shape + (1, 4))).squeeze(-2)
    q = q / torch.linalg.norm(q, dim=-1, keepdim=True)
    return torch.where(q[..., :1] < 0, -q, q)


def axis_angle_to_matrix(aa: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula with a series expansion near zero (differentiable at 0)."""
    aa, was_np = _as_tensor(aa)
    angle2 = (aa * aa).sum(-1, keepdim=True)[..., None]  # (..., 1, 1)
    angle = torch.sqrt(torch.clamp(angle2, min=1e-30))
    small = angle2 < 1e-8
    safe = torch.where(small, torch.ones_like(angle), angle)
    a = torch.where(small, 1.0 - angle2 / 6.0, torch.sin(safe) / safe)
    b = torch.where(small, 0.5 - angle2 / 24.0, (1.0 - torch.cos(safe)) / (safe * safe))
    x, y, z = aa.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(aa.shape[:-1] + (3, 3))
    eye = torch.eye(3, dtype=aa.dtype, device=aa.device).expand(k.shape)
    out = eye + a * k + b * (k @ k)
    return out.numpy() if was_np else out


def matrix_to_axis_angle(m: torch.Tensor) -> torch.Tensor:
    m, was_np = _as_tensor(m)
    out = quaternion_to_axis_angle(matrix_to_quaternion(m))
    return out.numpy() if was_np else out


def matrix_to_rot6d(m: torch.Tensor) -> torch.Tensor:
    """First two columns of R, concatenated: ``[R00, R10, R20, R01, R11, R21]``."""
    m, was_np = _as_tensor(m)
    out = torch.cat([m[..., :, 0], m[..., :, 1]], dim=-1)
    return out.numpy() if was_np else out


def rot6d_to_matrix(r6: torch.Tensor) -> torch.Tensor:
    """Gram-Schmidt on the two 3-vectors; the columns of the result are b1, b2, b1 x b2."""
    r6, was_np = _as_tensor(r6)
    a1, a2 = r6[..., :3], r6[..., 3:6]
    b1 = F.normalize(a1, dim=-1, eps=1e-8)
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1, eps=1e-8)
    b3 = torch.cross(b1, b2, dim=-1)
    out = torch.stack([b1, b2, b3], dim=-1)
    return out.numpy() if was_np else out


def axis_angle_to_rot6d(aa: torch.Tensor) -> torch.Tensor:
    aa, was_np = _as_tensor(aa)
    out = matrix_to_rot6d(axis_angle_to_matrix(aa))
    return out.numpy() if was_np else out


def rot6d_to_axis_angle(r6: torch.Tensor) -> torch.Tensor:
    r6, was_np = _as_tensor(r6)
    out = matrix_to_axis_angle(rot6d_to_matrix(r6))
    return out.numpy() if was_np else out


def to_matrix(x: torch.Tensor, rep: str) -> torch.Tensor:
    """Per-joint rotation matrices from a rotation representation (last dim = channels)."""
    if rep == "rot6d":
        return rot6d_to_matrix(x)
    if rep == "axis_angle":
        return axis_angle_to_matrix(x)
    raise ValueError(f"{rep!r} is not a rotation representation (use one of {ROTATION_REPRESENTATIONS})")


def from_matrix(m: torch.Tensor, rep: str) -> torch.Tensor:
    if rep == "rot6d":
        return matrix_to_rot6d(m)
    if rep == "axis_angle":
        return matrix_to_axis_angle(m)
    raise ValueError(f"{rep!r} is not a rotation representation (use one of {ROTATION_REPRESENTATIONS})")


def convert(x, src: str, dst: str):
    """Convert between rotation representations (``rot6d`` <-> ``axis_angle``).

    Accepts numpy arrays (returns numpy, float64 internally) or tensors.
    """
    if src == dst:
        return x
    t, was_np = _as_tensor(x)
    out = from_matrix(to_matrix(t, src), dst)
    return out.numpy() if was_np else out
