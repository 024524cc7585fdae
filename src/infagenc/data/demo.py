"""A built-in, made-up demo data set of infant-like actions (24-joint SMPL/SMIL layout).

MADE-UP DATA. It is generated procedurally from a few sinusoidal joint-angle programs,
so that the demo, the tutorials and the fast tests have labelled sequences without any
download. It is never evidence of quality: the numbers the project reports come from
the real data sets (see ``benchmarks/``).

Four actions of an infant lying on its back, seen from above (head towards +y; the
report's pictures look at the mat from above, so every action moves the body *in* that
view, not only towards the camera):

* ``kick``: the legs kick in turn, hip and knee flexing hard, the knees swinging out, the
  pelvis rocking;
* ``wave_arms``: both arms sweep together on the mat from beside the hips to above the
  head and back, twice;
* ``roll``: the whole body rolls onto its right side and back, legs tucked and swinging
  over, the left arm lifted over the chest, the head turning;
* ``reach``: both arms reach up for a toy above the belly, the hands meeting over the
  midline, the trunk curling and the head lifting.

Each class is one movement (no mirrored variants): a class's mean is then itself a
movement of the class, which a small generator can learn from a few dozen samples. A clip
is one segmented action: its number of repetitions varies little with its length.

Each "subject" has its own bone lengths (an overall scale plus per-bone jitter of the
infant rest skeleton), tempo (of the head's drift), amplitude and sensor noise; each
sample has its own length, repetition count, phase and small posture offsets. Samples are
seeded: the same arguments give the same set.
"""
from __future__ import annotations

import numpy as np
import torch

from ..skeleton.kinematics import forward_kinematics, infant_rest_skeleton, rest_skeleton_from_offsets
from ..skeleton.layouts import get_layout
from ..skeleton.rotations import axis_angle_to_matrix, axis_angle_to_rot6d, matrix_to_axis_angle
from .motionset import MotionSet

__all__ = ["DEMO_CLASSES", "make_demo"]

DEMO_CLASSES = ("kick", "wave_arms", "roll", "reach")
_FPS = 30.0


def _rest_posture(n: int, J: dict) -> np.ndarray:
    """Axis-angle (n, 24, 3) of the resting infant: hips and knees a little flexed, arms out."""
    aa = np.zeros((n, 24, 3))
    aa[:, J["left_hip"], 0] = aa[:, J["right_hip"], 0] = -0.35
    aa[:, J["left_knee"], 0] = aa[:, J["right_knee"], 0] = 0.5
    aa[:, J["left_shoulder"], 2] = -0.3
    aa[:, J["right_shoulder"], 2] = 0.3
    aa[:, J["left_elbow"], 1] = 0.4
    aa[:, J["right_elbow"], 1] = -0.4
    return aa


# Axes of the rest skeleton: x to the infant's left, y towards the head, z up from the mat (the
# default "xy" picture looks down on the mat). A hip rotation about x lifts the leg, about z it
# swings the leg sideways on the mat; a shoulder rotation about z sweeps the arm on the mat, about
# y it lifts the arm; the pelvis about y rolls the whole body about its long axis.
def _cycles(t: np.ndarray, rng: np.random.Generator, lo: float, hi: float) -> float:
    """A frequency (per second of ``t``) that fits between ``lo`` and ``hi`` cycles into the clip:
    a clip is one segmented action (a bout of kicks, one reach), so its number of repetitions
    varies little with its length."""
    return rng.uniform(lo, hi) / (t[-1] if t[-1] > 0 else 1.0)


def _kick(aa, t, rng, amp, J):
    """Legs kick in turn (left, right, left, ...; 2.2 to 2.4 cycles): hip and knee flex hard and
    the knee swings out, the pelvis rocks. Not a whole or half number of cycles: key frames
    evenly spaced over the clip (the snapshot grid's) then meet the legs in different phases,
    not all at rest."""
    f = _cycles(t, rng, 2.2, 2.4)
    s = np.sin(2 * np.pi * f * t + rng.uniform(-0.2, 0.2))
    for side, sgn, part in (("left", 1.0, np.clip(s, 0, None)), ("right", -1.0, np.clip(-s, 0, None))):
        aa[:, J[f"{side}_hip"], 0] += -1.3 * amp * part
        aa[:, J[f"{side}_hip"], 2] += sgn * 0.6 * amp * part
        aa[:, J[f"{side}_knee"], 0] += 1.6 * amp * part
        aa[:, J[f"{side}_ankle"], 0] += -0.4 * amp * part
    aa[:, J["pelvis"], 2] += 0.15 * amp * s
    aa[:, J["spine1"], 2] += -0.1 * amp * s


def _wave_arms(aa, t, rng, amp, J):
    """Both arms sweep together on the mat from beside the hips to above the head and back, twice."""
    f = _cycles(t, rng, 1.8, 2.2)
    up = 0.5 * (1 - np.cos(2 * np.pi * f * t + rng.uniform(-0.4, 0.4)))  # 0 = down, 1 = up
    aa[:, J["left_shoulder"], 2] += amp * (-0.7 + 2.3 * up)
    aa[:, J["right_shoulder"], 2] -= amp * (-0.7 + 2.3 * up)
    aa[:, J["left_elbow"], 1] += 0.5 * amp * up
    aa[:, J["right_elbow"], 1] -= 0.5 * amp * up
    aa[:, J["spine2"], 0] += -0.15 * amp * up


def _roll(aa, t, rng, amp, J):
    """The whole body rolls onto its right side and back (its left side rises): pelvis and chest
    turn about the long axis, the legs tuck and swing over, the left arm lifts over the chest,
    the head turns. Always the same side: a class of one movement, not two mirrored ones."""
    dur = t[-1] if t[-1] > 0 else 1.0
    prof = np.sin(np.pi * t / dur) ** 2  # out and back
    aa[:, J["pelvis"], 1] = 1.3 * amp * prof
    aa[:, J["spine2"], 1] = 0.3 * amp * prof
    for leg in ("left", "right"):
        aa[:, J[f"{leg}_hip"], 0] += -0.9 * prof
        aa[:, J[f"{leg}_knee"], 0] += 0.9 * prof
    aa[:, J["left_shoulder"], 1] += -1.0 * amp * prof  # lifted over the chest
    aa[:, J["left_shoulder"], 2] += 0.4 * prof
    aa[:, J["head"], 1] += 0.6 * prof
    aa[:, J["neck"], 1] += 0.3 * prof


def _then_about_z(aa: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Axis-angle (T, 3) of the rotation ``aa`` followed by one about the parent's z axis."""
    z = np.zeros_like(aa)
    z[:, 2] = angle
    m = axis_angle_to_matrix(torch.as_tensor(z)) @ axis_angle_to_matrix(torch.as_tensor(aa))
    return matrix_to_axis_angle(m).numpy()


def _reach(aa, t, rng, amp, J):
    """Both arms reach up for a toy above the belly, the hands meeting over the midline, and
    return; the trunk curls and the head lifts towards the toy."""
    f = _cycles(t, rng, 0.9, 1.1)
    prof = 0.5 * (1 - np.cos(2 * np.pi * f * t + rng.uniform(-0.4, 0.4)))
    lift = min(1.7 + 0.3 * amp, 2.2)  # past upright: the hands come over the chest
    for side, sgn in (("left", 1.0), ("right", -1.0)):
        sh = J[f"{side}_shoulder"]
        aa[:, sh, 1] += -sgn * lift * prof
        aa[:, sh] = _then_about_z(aa[:, sh], sgn * 0.9 * prof)  # then down towards the belly
        aa[:, J[f"{side}_elbow"], 1] += -sgn * 0.4 * prof  # the elbows straighten
    aa[:, J["spine1"], 0] += 0.3 * amp * prof
    aa[:, J["spine2"], 0] += 0.25 * amp * prof
    aa[:, J["head"], 0] += 0.3 * prof


_PROGRAMS = {"kick": _kick, "wave_arms": _wave_arms, "roll": _roll, "reach": _reach}


def _joint_program(action: str, t: np.ndarray, rng: np.random.Generator, amp: float, J: dict) -> np.ndarray:
    """Axis-angle (T, 24, 3) for one action over time t (seconds): the resting posture, the
    action's movement (clips start near the start of the movement: segmented actions), small
    per-sample posture offsets and a slow drift of the head."""
    aa = _rest_posture(len(t), J)
    _PROGRAMS[action](aa, t, rng, amp, J)
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
