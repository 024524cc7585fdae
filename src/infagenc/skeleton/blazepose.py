"""The ``blazepose33`` layout (what ``infagenc data extract`` writes) and its mapping to COCO-17.

BlazePose (MediaPipe Pose) gives 33 landmarks per person, in this order; ``left`` and
``right`` are the person's own sides (a person facing the camera has the left shoulder on the
image's right). The layout's tree hangs everything from the nose, like ``coco17``'s:

* face: eye (inner, centre, outer) chains and the mouth corners from the nose, ears from the
  outer eye corners;
* arms: shoulders from the nose, elbow, wrist, then the pinky, index and thumb knuckles from
  the wrist;
* legs: hips from the shoulders (as in ``coco17``), knee, ankle, then heel and foot index
  from the ankle;
* extra (non-tree) graph edges close the shoulder and hip lines, the mouth, the hand
  (pinky - index) and the foot (heel - foot index), as MediaPipe's own drawing does.

:data:`BLAZEPOSE33_TO_COCO17` gives, for each ``coco17`` joint in order, the ``blazepose33``
joint it is (COCO's eyes are BlazePose's eye centres);
:func:`infagenc.data.extract.to_coco17` applies it to a motion set.
"""
from __future__ import annotations

from .layouts import Layout, get_layout, register_layout

__all__ = ["BLAZEPOSE33", "BLAZEPOSE33_TO_COCO17", "blazepose33_to_coco17_index"]

_JOINTS = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)

_PARENT_NAMES = {
    "left_eye_inner": "nose", "left_eye": "left_eye_inner", "left_eye_outer": "left_eye",
    "right_eye_inner": "nose", "right_eye": "right_eye_inner", "right_eye_outer": "right_eye",
    "left_ear": "left_eye_outer", "right_ear": "right_eye_outer", "mouth_left": "nose", "mouth_right": "nose",
    "left_shoulder": "nose", "right_shoulder": "nose", "left_elbow": "left_shoulder",
    "right_elbow": "right_shoulder", "left_wrist": "left_elbow", "right_wrist": "right_elbow",
    "left_pinky": "left_wrist", "right_pinky": "right_wrist", "left_index": "left_wrist",
    "right_index": "right_wrist", "left_thumb": "left_wrist", "right_thumb": "right_wrist",
    "left_hip": "left_shoulder", "right_hip": "right_shoulder", "left_knee": "left_hip", "right_knee": "right_hip",
    "left_ankle": "left_knee", "right_ankle": "right_knee", "left_heel": "left_ankle",
    "right_heel": "right_ankle", "left_foot_index": "left_ankle", "right_foot_index": "right_ankle",
}


def _build() -> Layout:
    idx = {n: i for i, n in enumerate(_JOINTS)}
    parents = [-1 if n == "nose" else idx[_PARENT_NAMES[n]] for n in _JOINTS]
    lr = [(idx[n], idx["right" + n[4:]]) for n in _JOINTS if n.startswith("left")]
    lr += [(idx["mouth_left"], idx["mouth_right"])]
    extra = [("left_shoulder", "right_shoulder"), ("left_hip", "right_hip"), ("mouth_left", "mouth_right"),
             ("left_pinky", "left_index"), ("right_pinky", "right_index"), ("left_heel", "left_foot_index"),
             ("right_heel", "right_foot_index")]
    return Layout("blazepose33", _JOINTS, tuple(parents), idx["nose"], tuple(lr),
                  tuple((idx[a], idx[b]) for a, b in extra),
                  "BlazePose / MediaPipe Pose 33 landmarks (infagenc data extract); tree from the nose as coco17's")


BLAZEPOSE33 = register_layout(_build())

#: for each coco17 joint (in coco17 order), the blazepose33 joint name it is
BLAZEPOSE33_TO_COCO17 = {
    "nose": "nose", "left_eye": "left_eye", "right_eye": "right_eye", "left_ear": "left_ear",
    "right_ear": "right_ear", "left_shoulder": "left_shoulder", "right_shoulder": "right_shoulder",
    "left_elbow": "left_elbow", "right_elbow": "right_elbow", "left_wrist": "left_wrist",
    "right_wrist": "right_wrist", "left_hip": "left_hip", "right_hip": "right_hip", "left_knee": "left_knee",
    "right_knee": "right_knee", "left_ankle": "left_ankle", "right_ankle": "right_ankle",
}


def blazepose33_to_coco17_index() -> list[int]:
    """Indices into the blazepose33 joint axis that give the coco17 joints, in coco17 order."""
    coco = get_layout("coco17")
    return [BLAZEPOSE33.index(BLAZEPOSE33_TO_COCO17[j]) for j in coco.joints]
