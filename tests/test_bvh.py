"""BVH export: files written by infagenc.data.bvh, parsed back by this test's own small BVH parser
and posed with textbook BVH forward kinematics, give the joint positions of MotionSet.to_xyz."""
from __future__ import annotations

import re

import numpy as np
import pytest

from infagenc.cli import main
from infagenc.data.bvh import matrix_to_euler_zyx, write_bvh
from infagenc.data.errors import DataError
from infagenc.data.motionset import MotionSet
from infagenc.skeleton.kinematics import infant_rest_skeleton
from infagenc.skeleton.rotations import axis_angle_to_matrix


# ------------------------------------------------------------------ a small BVH parser
def _rot(axis: str, deg: float) -> np.ndarray:
    a = np.radians(deg)
    c, s = np.cos(a), np.sin(a)
    return {"X": np.array([[1, 0, 0], [0, c, -s], [0, s, c]]),
            "Y": np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]),
            "Z": np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])}[axis]


def parse_bvh(text: str):
    """(joints [(name, parent, offset, channels)], frame_time, motion (F, C))."""
    tokens = text.split()
    joints, stack, i = [], [], 0
    while tokens[i] != "MOTION":
        tok = tokens[i]
        if tok in ("ROOT", "JOINT"):
            joints.append([tokens[i + 1], stack[-1] if stack else -1, None, []])
            i += 2
        elif tok == "End":  # End Site: skip its block
            assert tokens[i + 1] == "Site" and tokens[i + 2] == "{"
            end = tokens.index("}", i)
            i = end + 1
        elif tok == "{":
            stack.append(len(joints) - 1)
            i += 1
        elif tok == "}":
            stack.pop()
            i += 1
        elif tok == "OFFSET":
            joints[stack[-1]][2] = np.array([float(t) for t in tokens[i + 1:i + 4]])
            i += 4
        elif tok == "CHANNELS":
            n = int(tokens[i + 1])
            joints[stack[-1]][3] = tokens[i + 2:i + 2 + n]
            i += 2 + n
        else:
            i += 1
    assert tokens[i + 1] == "Frames:" and tokens[i + 3:i + 5] == ["Frame", "Time:"]
    frames, frame_time = int(tokens[i + 2]), float(tokens[i + 5])
    motion = np.array([float(t) for t in tokens[i + 6:]]).reshape(frames, -1)
    return joints, frame_time, motion


def pose_bvh(joints, motion) -> np.ndarray:
    """(F, J, 3) world joint positions: G_j = G_parent R_j, p_j = p_parent + G_parent offset_j."""
    out = np.zeros((len(motion), len(joints), 3))
    for f, row in enumerate(motion):
        col, glob = 0, []
        for j, (_, parent, offset, chans) in enumerate(joints):
            r, pos = np.eye(3), np.zeros(3)
            for ch in chans:
                if ch.endswith("position"):
                    pos["XYZ".index(ch[0])] = row[col]
                else:
                    r = r @ _rot(ch[0], row[col])
                col += 1
            if parent < 0:
                out[f, j] = offset + pos
                glob.append(r)
            else:
                out[f, j] = out[f, parent] + glob[parent] @ offset
                glob.append(glob[parent] @ r)
    return out


# ------------------------------------------------------------------ data
def _rotation_set(rep: str, n: int = 2, t: int = 7, seed: int = 0) -> MotionSet:
    rng = np.random.default_rng(seed)
    aa = rng.normal(0, 0.6, size=(n, t, 24, 3))
    aa[0, 0, 5] = [0.0, np.pi / 2, 0.0]  # a gimbal-locked joint (y = 90 degrees)
    trans = rng.normal(0, 0.2, size=(n, t, 3))
    x = aa if rep == "axis_angle" else np.concatenate(
        [axis_angle_to_matrix(aa)[..., :, 0], axis_angle_to_matrix(aa)[..., :, 1]], axis=-1)
    lengths = [t, t - 3][:n]
    ms = MotionSet(x, lengths, [0, 1][:n], ("a", "b"), ["s1", "s2"][:n], ["x/one", "x/two"][:n], "smpl24", rep,
                   trans=trans, fps=25.0)
    for i, ln in enumerate(lengths):  # padding is zero
        ms.data[i, ln:] = 0
        ms.trans[i, ln:] = 0
    return ms


@pytest.mark.parametrize("rep", ["axis_angle", "rot6d"])
def test_bvh_round_trip_gives_the_same_joint_positions(tmp_path, rep):
    ms = _rotation_set(rep)
    paths = write_bvh(ms, tmp_path / "out")
    assert [p.name for p in paths] == ["x_one.bvh", "x_two.bvh"]
    xyz = ms.to_xyz()
    names = list(ms.layout.joints)
    for i, p in enumerate(paths):
        joints, frame_time, motion = parse_bvh(p.read_text())
        assert frame_time == pytest.approx(1 / 25.0)
        assert len(motion) == ms.lengths[i]  # no padding frames
        assert sorted(j[0] for j in joints) == sorted(names)
        parent_of = {j[0]: joints[j[1]][0] if j[1] >= 0 else None for j in joints}
        layout_parent = {n: names[p] if p >= 0 else None for n, p in zip(names, ms.layout.parents)}
        assert parent_of == layout_parent  # hierarchy = the layout's tree
        got = pose_bvh(joints, motion)
        order = [names.index(j[0]) for j in joints]
        want = xyz.data[i, : ms.lengths[i]][:, order]
        assert np.abs(got - want).max() < 1e-4  # metres (file values have 6 decimals)


def test_bvh_offsets_are_the_rest_skeleton_and_scale_applies(tmp_path):
    ms = _rotation_set("axis_angle", n=1)
    rest = infant_rest_skeleton()
    (p,) = write_bvh(ms, tmp_path / "one.bvh", scale=100.0)
    joints, _, motion = parse_bvh(p.read_text())
    names = list(ms.layout.joints)
    for name, parent, offset, chans in joints:
        j = names.index(name)
        want = np.zeros(3) if parent < 0 else rest.offsets[j] * 100
        assert np.allclose(offset, want, atol=1e-5)
        assert chans[-3:] == ["Zrotation", "Yrotation", "Xrotation"]
    got = pose_bvh(joints, motion)
    assert np.abs(got / 100 - ms.to_xyz().data[0][:, [names.index(j[0]) for j in joints]]).max() < 1e-5


def test_euler_zyx_recomposes_including_gimbal_lock():
    rng = np.random.default_rng(1)
    aa = rng.normal(0, 1.5, size=(200, 3))
    aa[:3] = [[0, np.pi / 2, 0], [0.3, -np.pi / 2, 0], [0.0, 0.0, 0.0]]
    r = axis_angle_to_matrix(aa)
    r[1] = _rot("Z", 30) @ _rot("Y", -90) @ _rot("X", 40)  # locked: z and x mix
    e = matrix_to_euler_zyx(r)
    back = np.stack([_rot("Z", z) @ _rot("Y", y) @ _rot("X", x) for z, y, x in e])
    assert np.abs(back - r).max() < 1e-9
    assert np.all(np.abs(e[:, 1]) <= 90 + 1e-9)


def test_positions_and_layouts_without_rest_are_refused(tmp_path):
    xyz = _rotation_set("axis_angle", n=1).to_xyz()
    with pytest.raises(DataError, match="no inverse kinematics"):
        write_bvh(xyz, tmp_path / "a.bvh")
    two = _rotation_set("axis_angle")
    with pytest.raises(ValueError, match="holds one sample and the set has 2"):
        write_bvh(two, tmp_path / "a.bvh")
    other = MotionSet(np.zeros((1, 2, 17, 3)), [2], [0], ("a",), ["s"], ["n"], "coco17", "axis_angle")
    with pytest.raises(DataError, match="no built-in rest skeleton"):
        write_bvh(other, tmp_path / "b.bvh")
    assert not list(tmp_path.iterdir())  # nothing written


def test_cli_convert_to_bvh(tmp_path, capsys):
    ms = _rotation_set("rot6d")
    src = ms.save(tmp_path / "gen.npz")
    assert main(["data", "convert", str(src), str(tmp_path / "bvh"), "--to", "bvh"]) == 0
    out = capsys.readouterr().out
    assert "2 BVH file(s)" in out
    files = sorted((tmp_path / "bvh").glob("*.bvh"))
    assert len(files) == 2
    joints, _, motion = parse_bvh(files[0].read_text())
    assert len(motion) == 7 and len(joints) == 24
    # xyz data: a one-line error, nothing written
    xyz = ms.to_xyz().save(tmp_path / "xyz.npz")
    assert main(["data", "convert", str(xyz), str(tmp_path / "x.bvh")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and re.search(r"xyz.npz: .*no inverse kinematics", err)
    assert not (tmp_path / "x.bvh").exists()
