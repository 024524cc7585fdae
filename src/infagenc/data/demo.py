"""A built-in, made-up demo data set of infant-like actions (24-joint SMPL/SMIL layout).

MADE-UP DATA. It is generated procedurally from a few sinusoidal joint-angle programs,
so that the demo, the tutorials and the fast tests have labelled sequences without any
download. It is never evidence of quality: the numbers the project reports come from
the real data sets (see ``benchmarks/``).

Four actions of an infant lying on its back, seen from above (head towards +y):

* ``kick``: alternating hip and knee flexion of the two legs;
* ``wave_arms``: both arms swept up and down at the shoulders, elbows bending;
* ``roll``: the body rolls to one side about its long axis and back, legs tucked;
* ``reach``: one arm (left or right) reaches forward and returns, the other still.

Each "subject" has its own bone lengths (an overall scale plus per-bone jitter of the
infant rest skeleton), tempo, amplitude and sensor noise; each sample has its own
length, phase and small posture offsets. Samples are seeded: the same arguments give
the same set.
"""
from __future__ import annotations

import numpy as np
import torch

from ..skeleton.kinematics import forward_kinematics, infant_rest_skeleton, rest_skeleton_from_offsets
from ..skeleton.layouts import get_layout
from ..skeleton.rotations import axis_angle_to_matrix, axis_angle_to_rot6d
from .motionset import MotionSet

__all__ = ["DEMO_CLASSES", "make_demo"]

DEMO_CLASSES = ("kick", "wave_arms", "roll", "reach")
_FPS = 30.0


def _joint_program(action: str, t: np.ndarray, rng: np.random.Generator, amp: float, J: dict) -> np.ndarray:
    """Axis-angle (T, 24, 3) for one action over time t (seconds)."""
    aa = np.zeros((len(t), 24, 3))
    # resting infant posture: hips and knees a little flexed, arms out to the side
    aa[:, J["left_hip"], 0] = aa[:, J["right_hip"], 0] = -0.35
    aa[:, J["left_knee"], 0] = aa[:, J["right_knee"], 0] = 0.5
    aa[:, J["left_shoulder"], 2] = -0.3
    aa[:, J["right_shoulder"], 2] = 0.3
    aa[:, J["left_elbow"], 1] = 0.4
    aa[:, J["right_elbow"], 1] = -0.4
    phase = rng.uniform(-0.4, 0.4)  # clips start near the start of the movement (segmented actions)
    if action == "kick":
        f = rng.uniform(1.0, 1.4)
        s = np.sin(2 * np.pi * f * t + phase)
        aa[:, J["left_hip"], 0] += -0.7 * amp * np.clip(s, 0, None)
        aa[:, J["left_knee"], 0] += 1.0 * amp * np.clip(s, 0, None)
        aa[:, J["right_hip"], 0] += -0.7 * amp * np.clip(-s, 0, None)
        aa[:, J["right_knee"], 0] += 1.0 * amp * np.clip(-s, 0, None)
    elif action == "wave_arms":
        f = rng.uniform(0.7, 1.0)
        s = np.sin(2 * np.pi * f * t + phase)
        aa[:, J["left_shoulder"], 2] += -0.9 * amp * s
        aa[:, J["right_shoulder"], 2] += 0.9 * amp * s
        aa[:, J["left_elbow"], 1] += 0.5 * amp * (1 + s)
        aa[:, J["right_elbow"], 1] += -0.5 * amp * (1 + s)
    elif action == "roll":
        side = rng.choice([-1.0, 1.0])
        dur = t[-1] if t[-1] > 0 else 1.0
        prof = np.sin(np.pi * t / dur) ** 2  # out and back
        aa[:, J["pelvis"], 1] = side * 1.2 * amp * prof
        aa[:, J["spine2"], 1] = side * 0.2 * amp * prof
        aa[:, J["left_hip"], 0] += -0.6 * prof
        aa[:, J["right_hip"], 0] += -0.6 * prof
        aa[:, J["left_knee"], 0] += 0.6 * prof
        aa[:, J["right_knee"], 0] += 0.6 * prof
    elif action == "reach":
        side = rng.choice(["left", "right"])
        sgn = 1.0 if side == "left" else -1.0
        f = rng.uniform(0.5, 0.8)
        prof = 0.5 * (1 - np.cos(2 * np.pi * f * t + phase))
        aa[:, J[f"{side}_shoulder"], 1] = -sgn * 1.2 * amp * prof
        aa[:, J[f"{side}_shoulder"], 2] = -sgn * 0.3 * (1 - prof)
        aa[:, J[f"{side}_elbow"], 1] = sgn * 0.8 * (1 - prof)
    else:  # pragma: no cover - guarded by make_demo
        raise ValueError(action)
    # small per-sample posture offsets and a slow drift of the head
    aa += rng.normal(0, 0.04, size=(1, 24, 3))
    aa[:, J["head"], 1] += 0.2 * np.sin(2 * np.pi * 0.3 * t + rng.uniform(0, 6.3))
    return aa


def make_demo(num_subjects: int = 6, per_class: int = 6, *, seed: int = 0, rep: str = "rot6d",
              min_len: int = 45, max_len: int = 90, classes: tuple[str, ...] = DEMO_CLASSES,
              noise: float = 0.01) -> MotionSet:
    """Generate the demo set.

    Args:
        num_subjects: number of made-up infants (subject ids ``demo01`` ...).
        per_class: samples per class and subject.
        seed: all randomness comes from this seed.
        rep: ``rot6d`` or ``axis_angle`` (joint rotations, root translation in ``trans``),
            or ``xyz`` (joint positions through each subject's own rest skeleton).
        min_len, max_len: true lengths are drawn uniformly in this range (frames at 30 fps).
        noise: rotation noise (radians, rotation reps) or position noise (metres, xyz).
    """
    unknown = set(classes) - set(DEMO_CLASSES)
    if unknown:
        raise ValueError(f"unknown demo classes {sorted(unknown)}; available: {DEMO_CLASSES}")
    if rep not in ("rot6d", "axis_angle", "xyz"):
        raise ValueError(f"demo data comes as rot6d, axis_angle or xyz, not {rep!r}")
    if not 2 <= min_len <= max_len:
        raise ValueError("need 2 <= min_len <= max_len")
    layout = get_layout("smpl24")
    J = {n: i for i, n in enumerate(layout.joints)}
    base = infant_rest_skeleton()
    rng = np.random.default_rng(seed)
    seqs, trans, labels, subjects, names = [], [], [], [], []
    for s in range(num_subjects):
        sid = f"demo{s + 1:02d}"
        scale = rng.uniform(0.85, 1.15)
        jitter = rng.uniform(0.9, 1.1, size=(24, 1))
        rest = rest_skeleton_from_offsets(layout, base.offsets * scale * jitter, f"demo subject {sid}")
        tempo = rng.uniform(0.8, 1.25)
        amp = rng.uniform(0.8, 1.2)
        for c, action in enumerate(classes):
            for k in range(per_class):
                n = int(rng.integers(min_len, max_len + 1))
                t = np.arange(n) / _FPS * tempo
                aa = _joint_program(action, t, rng, amp, J)
                tr = np.zeros((n, 3))
                tr[:, :2] = rng.normal(0, 0.003, size=(n, 2)).cumsum(0)  # slow wriggle on the mat
                if rep == "xyz":
                    x = forward_kinematics(axis_angle_to_matrix(torch.as_tensor(aa)), rest,
                                           trans=torch.as_tensor(tr)).numpy()
                    x = x + rng.normal(0, noise, size=x.shape)
                else:
                    aa = aa + rng.normal(0, noise, size=aa.shape)
                    x = aa if rep == "axis_angle" else axis_angle_to_rot6d(aa)
                seqs.append(x.astype(np.float32))
                trans.append(tr.astype(np.float32))
                labels.append(c)
                subjects.append(sid)
                names.append(f"{action}_{sid}_{k:02d}")
    return MotionSet.from_sequences(
        seqs, labels, classes, subjects, names, layout, rep,
        trans=None if rep == "xyz" else trans, fps=_FPS,
        notes=[f"made-up demo data (infagenc.data.demo, seed={seed}); not evidence of quality"],
    )
