"""Pose statistics (infagenc.metrics.pose) on hand-made skeletons."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from infagenc.data.demo import make_demo
from infagenc.data.motionset import MotionSet
from infagenc.metrics.pose import (bone_length_error, bone_lengths, bone_names, compare, layout_pairs,
                                   mean_joint_distance, motion_energy, motionset_pose_statistics, pair_distance,
                                   pose_statistics)
from infagenc.skeleton.layouts import Layout, get_layout

# root, two knees, two feet: no hands
LEGS = Layout("legs5", ("root", "left_knee", "right_knee", "left_foot", "right_foot"), (-1, 0, 0, 1, 2), 0)


def legs(width: float, frames: int = 5, speed: float = 0.0, length: int | None = None) -> np.ndarray:
    """(T, 5, 3): knees and feet at x = -width / +width (knees 1 below the root, feet 2), the
    whole skeleton moving ``speed`` per frame along x; frames after ``length`` hold garbage."""
    pose = np.array([[0, 0, 0], [-width, -1, 0], [width, -1, 0], [-width, -2, 0], [width, -2, 0]], float)
    x = np.stack([pose + [speed * t, 0, 0] for t in range(frames)])
    if length is not None:
        x[length:] = 99.0
    return x


def test_per_sequence_values_by_hand_ignore_padding():
    x = np.stack([legs(1.0, length=3), legs(2.0, speed=0.5)])
    lengths = np.array([3, 5])
    b = bone_lengths(x, LEGS.parents, lengths)
    np.testing.assert_allclose(b, [[math.sqrt(2), math.sqrt(2), 1, 1], [math.sqrt(5), math.sqrt(5), 1, 1]])
    assert bone_names(LEGS) == ["root-left_knee", "root-right_knee", "left_knee-left_foot", "right_knee-right_foot"]
    np.testing.assert_allclose(pair_distance(x, lengths, 3, 4), [2.0, 4.0])
    np.testing.assert_allclose(motion_energy(x, lengths), [0.0, 0.5])
    assert np.isnan(motion_energy(x[:, :1], np.array([1, 1]))).all()  # one frame: no speed
    a, c = np.zeros((1, 3, 2, 3)), np.zeros((1, 3, 2, 3))
    c[0, :, 1] = [3.0, 4.0, 0.0]
    np.testing.assert_allclose(mean_joint_distance(a, c, np.array([3])), [2.5])
    with pytest.raises(ValueError, match="lengths must lie in"):
        pair_distance(x, np.array([3, 6]), 0, 1)


def test_compare_and_bone_length_error_by_hand():
    d = compare([2.0, 4.0], [0.0, 0.0, np.nan])
    assert d == {"n_real": 2, "n_gen": 2, "real_mean": 3.0, "real_std": 1.0, "gen_mean": 0.0, "gen_std": 0.0,
                 "shift": -3.0}
    assert compare([1.0, 1.0], [2.0])["shift"] is None  # real std 0: no scale
    assert compare([], [1.0])["real_mean"] is None
    real = np.array([[2.0, 1.0], [4.0, 1.0]])  # bone means 3, 1
    gen = np.array([[3.0, 1.5]])
    e = bone_length_error(real, gen, ["a", "b"])
    assert e["mean_abs_error"] == pytest.approx(0.25) and e["mean_relative_error"] == pytest.approx(0.25)
    assert e["worst"] == {"bone": "b", "real": 1.0, "gen": 1.5}
    assert bone_length_error(real, gen[:0], ["a", "b"])["mean_abs_error"] is None


def test_collapsed_legs_show_a_smaller_feet_distance_than_real():
    real = np.stack([legs(1.0), legs(2.0, speed=0.5)])
    gen = np.stack([legs(0.0, speed=1.0), legs(0.0, speed=1.0)])  # legs collapsed onto the midline
    res = pose_statistics(real, [5, 5], [0, 1], gen, [5, 5], [0, 0], LEGS, ("a", "b"))
    json.dumps(res)  # JSON-able
    assert res["pairs"] == {"feet": ["left_foot", "right_foot"], "knees": ["left_knee", "right_knee"]}
    assert res["skipped_pairs"] == ["hands"]
    feet = res["overall"]["distances"]["feet"]
    assert feet["gen_mean"] == 0.0 < feet["real_mean"] == 3.0 and feet["shift"] == -3.0
    assert res["overall"]["distances"]["knees"]["shift"] == -3.0
    energy = res["overall"]["energy"]  # real 0 and 0.5 per frame, generated 1 and 1
    assert (energy["real_mean"], energy["real_std"], energy["gen_mean"], energy["shift"]) == (0.25, 0.25, 1.0, 3.0)
    bones = res["overall"]["bone_length"]  # hips to knees: real (sqrt 2 + sqrt 5) / 2, generated 1
    hip = (math.sqrt(2) + math.sqrt(5)) / 2
    assert bones["mean_abs_error"] == pytest.approx((hip - 1) / 2)
    assert bones["worst"]["bone"] == "root-left_knee"
    # per class: class a has one real (width 1) and both generated; class b no generated sample
    a, b = res["per_class"]["a"], res["per_class"]["b"]
    assert (a["n_real"], a["n_gen"], a["distances"]["feet"]["real_mean"]) == (1, 2, 2.0)
    assert a["distances"]["feet"]["shift"] is None  # one real sample: std 0
    assert (b["n_gen"], b["distances"]["feet"]["gen_mean"], b["bone_length"]["mean_abs_error"]) == (0, None, None)


def test_pairs_are_picked_by_joint_name_per_layout():
    assert layout_pairs(get_layout("smpl24")) == {"feet": ("left_foot", "right_foot"),
                                                  "knees": ("left_knee", "right_knee"),
                                                  "hands": ("left_hand", "right_hand")}
    assert layout_pairs(get_layout("coco17")) == {"feet": ("left_ankle", "right_ankle"),
                                                  "knees": ("left_knee", "right_knee"),
                                                  "hands": ("left_wrist", "right_wrist")}
    assert layout_pairs(Layout("arms", ("neck", "left_wrist", "right_wrist"), (-1, 0, 0), 0)) == \
        {"hands": ("left_wrist", "right_wrist")}


def test_motion_sets_rotation_data_and_errors():
    rot = make_demo(num_subjects=1, per_class=2, seed=0, min_len=8, max_len=12)  # rot6d smpl24
    same = motionset_pose_statistics(rot, rot)
    o = same["overall"]
    assert o["bone_length"]["mean_abs_error"] == pytest.approx(0.0, abs=1e-6)
    assert all(d["shift"] == pytest.approx(0.0, abs=1e-6) for d in o["distances"].values())
    assert o["energy"]["shift"] == pytest.approx(0.0, abs=1e-6) and o["n_gen"] == len(rot)
    # the generated set's classes are matched by name
    sub = rot.select(classes=[rot.class_names[1]])
    part = MotionSet(sub.data, sub.lengths, [0] * len(sub), (rot.class_names[1],), sub.subjects, sub.names,
                     sub.layout, sub.rep, trans=sub.trans)
    res = motionset_pose_statistics(rot, part)
    assert res["per_class"][rot.class_names[1]]["n_gen"] == len(sub) and res["per_class"][rot.class_names[0]]["n_gen"] == 0
    xyz = make_demo(num_subjects=1, per_class=1, seed=0, rep="xyz", min_len=8, max_len=10)
    other = MotionSet(xyz.data[..., :20, :], xyz.lengths, xyz.labels, xyz.class_names, xyz.subjects, xyz.names,
                      get_layout("kinect20"), "xyz")
    with pytest.raises(ValueError, match="layout"):
        motionset_pose_statistics(xyz, other)
