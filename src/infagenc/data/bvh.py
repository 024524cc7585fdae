"""BVH export of rotation data (``rot6d`` / ``axis_angle``), for Blender and animation tools.

One BVH file holds one sample. The file follows the motion set's layout and rest skeleton:

* hierarchy: the layout's kinematic tree (``ROOT`` = the layout's root, children in joint
  order), one ``JOINT`` per joint, named as in the layout; a joint without children ends in
  an ``End Site`` whose offset is half the joint's own bone (a visible bone tip in Blender;
  it moves nothing that the data describe);
* offsets: the rest skeleton's bone offsets ``J[j] - J[parent(j)]`` (metres by default,
  ``scale`` multiplies them and the root positions, e.g. 100 for centimetres); the rest
  skeleton is y up, the body facing +z, as BVH tools expect;
* channels: the root has ``Xposition Yposition Zposition Zrotation Yrotation Xrotation``, every
  other joint ``Zrotation Yrotation Xrotation``, in degrees. In BVH order the rotation of a
  joint is ``R = Rz(z) @ Ry(y) @ Rx(x)`` (column vectors), which is the joint's local
  rotation of the data exactly (the Euler angles come from the rotation matrix; at
  ``y = +-90`` degrees, gimbal lock, ``x`` is set to 0 and ``z`` takes the whole turn);
* the root's ``OFFSET`` is 0 0 0 and its position channels are its world position (rest
  root position + the set's root translation ``trans``, zeros when the set has none), so
  tools that add the offset and tools that do not place the body alike;
* ``Frame Time`` is 1 / the set's frame rate (30 fps when the set records none), and only
  a sample's own frames are written (never its padding).

Posing a BVH file with the usual BVH forward kinematics (``G_j = G_parent R_j``,
``p_j = p_parent + G_parent offset_j``) gives the joint positions of
:meth:`MotionSet.to_xyz` with the same rest skeleton (``tests/test_bvh.py`` parses the
files back and checks this).

Joint positions (``xyz`` / ``xy``) are refused: turning positions into rotations needs
inverse kinematics, which this package does not do.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..jsonio import atomic_write_text
from ..skeleton.kinematics import RestSkeleton, infant_rest_skeleton
from ..skeleton.layouts import Layout
from ..skeleton.rotations import ROTATION_REPRESENTATIONS, to_matrix
from .errors import DataError
from .motionset import MotionSet

__all__ = ["DEFAULT_FPS", "CHANNELS", "matrix_to_euler_zyx", "bvh_text", "write_bvh", "bvh_paths"]

DEFAULT_FPS = 30.0
#: the rotation channels of every joint, in file order (R = Rz @ Ry @ Rx)
CHANNELS = ("Zrotation", "Yrotation", "Xrotation")


def matrix_to_euler_zyx(r: np.ndarray) -> np.ndarray:
    """(..., 3) angles ``(z, y, x)`` in degrees with ``R = Rz(z) @ Ry(y) @ Rx(x)`` for (..., 3, 3)
    rotation matrices; ``y`` in [-90, 90]; at gimbal lock ``x = 0``."""
    r = np.asarray(r, dtype=np.float64)
    sy = np.clip(-r[..., 2, 0], -1.0, 1.0)
    y = np.arcsin(sy)
    cy = np.sqrt(r[..., 2, 1] ** 2 + r[..., 2, 2] ** 2)
    lock = cy < 1e-9
    x = np.where(lock, 0.0, np.arctan2(r[..., 2, 1], r[..., 2, 2]))
    z = np.where(lock, np.arctan2(-r[..., 0, 1], r[..., 1, 1]), np.arctan2(r[..., 1, 0], r[..., 0, 0]))
    return np.degrees(np.stack([z, y, x], axis=-1))


def _children(layout: Layout) -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {j: [] for j in range(layout.num_joints)}
    for j, p in enumerate(layout.parents):
        if p >= 0:
            kids[p].append(j)
    return kids


def _hierarchy(layout: Layout, offsets: np.ndarray) -> tuple[list[str], list[int]]:
    """The HIERARCHY lines and the joints in the order their channels appear."""
    kids = _children(layout)
    lines: list[str] = ["HIERARCHY"]
    order: list[int] = []

    def f(v) -> str:
        return " ".join(f"{c:.6f}" for c in v)

    def joint(j: int, depth: int) -> None:
        pad = "\t" * depth
        root = layout.parents[j] < 0
        lines.append(f"{pad}{'ROOT' if root else 'JOINT'} {layout.joints[j]}")
        lines.append(f"{pad}{{")
        lines.append(f"{pad}\tOFFSET {f((0.0, 0.0, 0.0) if root else offsets[j])}")
        chans = ("Xposition", "Yposition", "Zposition") + CHANNELS if root else CHANNELS
        lines.append(f"{pad}\tCHANNELS {len(chans)} {' '.join(chans)}")
        order.append(j)
        for k in kids[j]:
            joint(k, depth + 1)
        if not kids[j]:
            tip = 0.5 * offsets[j] if np.linalg.norm(offsets[j]) > 0 and not root else np.array([0.0, 0.05, 0.0])
            lines.extend([f"{pad}\tEnd Site", f"{pad}\t{{", f"{pad}\t\tOFFSET {f(tip)}", f"{pad}\t}}"])
        lines.append(f"{pad}}}")

    joint(layout.root, 0)
    return lines, order


def bvh_text(rotmats: np.ndarray, rest: RestSkeleton, root_positions: np.ndarray, fps: float,
             scale: float = 1.0) -> str:
    """The BVH file of one sequence: ``rotmats`` (T, V, 3, 3) local rotations, ``root_positions``
    (T, 3) world positions of the root (before ``scale``)."""
    rotmats = np.asarray(rotmats, dtype=np.float64)
    t, v = rotmats.shape[:2]
    if rotmats.shape[1:] != (rest.layout.num_joints, 3, 3):
        raise ValueError(f"rotations of shape {rotmats.shape} do not fit layout {rest.layout.name!r}")
    lines, order = _hierarchy(rest.layout, rest.offsets * scale)
    euler = matrix_to_euler_zyx(rotmats[:, order])  # (T, V, 3)
    motion = np.concatenate([np.asarray(root_positions, np.float64) * scale, euler.reshape(t, -1)], axis=1)
    lines += ["MOTION", f"Frames: {t}", f"Frame Time: {1.0 / fps:.8f}"]
    lines += [" ".join(f"{x:.6f}" for x in row) for row in motion]
    return "\n".join(lines) + "\n"


def _rest_for(ms: MotionSet, rest: RestSkeleton | None, where: str) -> RestSkeleton:
    if rest is None:
        if ms.layout.name != "smpl24":
            raise DataError(f"layout {ms.layout.name!r} has no built-in rest skeleton, and BVH offsets come from "
                            f"one: give a body model (.npz with v_template and J_regressor)", file=where)
        return infant_rest_skeleton()
    if rest.layout.parents != ms.layout.parents or rest.layout.num_joints != ms.num_joints:
        raise DataError(f"the rest skeleton is for layout {rest.layout.name!r}, the data are {ms.layout.name!r}",
                        file=where)
    return rest


def bvh_paths(ms: MotionSet, out: str | Path) -> list[Path]:
    """Where :func:`write_bvh` writes each sample: ``out`` itself for a one-sample set and an
    ``out`` ending in ``.bvh``; else ``out/<sample name>.bvh`` (characters other than letters,
    digits, ``.``, ``-`` and ``_`` become ``_``; a name met twice gets ``-2``, ``-3``, ...)."""
    out = Path(out)
    if out.suffix.lower() == ".bvh":
        if len(ms) != 1:
            raise ValueError(f"{out}: a .bvh file holds one sample and the set has {len(ms)}; give a folder "
                             f"to write one file per sample")
        return [out]
    seen: dict[str, int] = {}
    paths = []
    for name in ms.names.tolist():
        stem = re.sub(r"[^\w.-]+", "_", str(name)).strip("._") or "sample"
        seen[stem] = seen.get(stem, 0) + 1
        paths.append(out / (f"{stem}.bvh" if seen[stem] == 1 else f"{stem}-{seen[stem]}.bvh"))
    return paths


def write_bvh(ms: MotionSet, out: str | Path, *, rest: RestSkeleton | None = None, scale: float = 1.0,
              source: str = "motion set") -> list[Path]:
    """Write each sample of a rotation set as a BVH file (see the module docstring and
    :func:`bvh_paths`); ``rest`` defaults to the infant rest skeleton for ``smpl24``."""
    if ms.rep not in ROTATION_REPRESENTATIONS:
        raise DataError(f"the data are joint positions ({ms.rep!r}); BVH needs joint rotations (rot6d or "
                        f"axis_angle, e.g. a generator's samples), and positions are not turned into rotations "
                        f"here (no inverse kinematics)", file=source)
    if len(ms) == 0:
        raise DataError("no samples to write", file=source)
    rest = _rest_for(ms, rest, source)
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive number, got {scale!r}")
    import torch

    paths = bvh_paths(ms, out)
    fps = float(ms.fps) if ms.fps else DEFAULT_FPS
    for i, path in enumerate(paths):
        n = int(ms.lengths[i])
        x = ms.data[i, :n].astype(np.float64)
        if not np.isfinite(x).all():
            raise DataError("rotation values are NaN or Inf", file=source, sample=str(ms.names[i]))
        rot = to_matrix(torch.as_tensor(x), ms.rep).numpy()
        trans = np.zeros((n, 3)) if ms.trans is None else ms.trans[i, :n].astype(np.float64)
        root = rest.joints[rest.layout.root][None, :] + trans
        atomic_write_text(path, bvh_text(rot, rest, root, fps, scale))
    return paths
