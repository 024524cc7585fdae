"""Forward kinematics on known rotations, hand-computed."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from infagenc.skeleton.kinematics import (RestSkeleton, fk_from_representation, forward_kinematics,
                                          infant_rest_skeleton)
from infagenc.skeleton.layouts import Layout, get_layout
from infagenc.skeleton.rotations import axis_angle_to_matrix, axis_angle_to_rot6d

H = math.pi / 2


def rot(axis: str, angle: float) -> torch.Tensor:
    v = {"x": [1.0, 0, 0], "y": [0, 1.0, 0], "z": [0, 0, 1.0]}[axis]
    return axis_angle_to_matrix(torch.tensor(v, dtype=torch.float64) * angle)


def chain() -> RestSkeleton:
    """root (0, 0, 0) -> elbow (1, 0, 0) -> wrist (2, 0, 0); listed out of tree order on
    purpose (the wrist first), to check FK does not assume parents precede children."""
    layout = Layout("chain3", ("wrist", "root", "elbow"), (2, -1, 1), center=1)
    return RestSkeleton(layout, np.array([[2.0, 0, 0], [0, 0, 0], [1.0, 0, 0]]), "test")


def pose(**rots) -> torch.Tensor:
    """Chain rotations (3, 3, 3) with the named joints rotated, the others identity."""
    r = torch.eye(3, dtype=torch.float64).repeat(3, 1, 1)
    idx = {"wrist": 0, "root": 1, "elbow": 2}
    for name, m in rots.items():
        r[idx[name]] = m
    return r


def test_identity_gives_rest_joints():
    rest = infant_rest_skeleton()
    eye = torch.eye(3, dtype=torch.float64).repeat(2, 5, 24, 1, 1)
    out = forward_kinematics(eye, rest)
    assert out.shape == (2, 5, 24, 3)
    np.testing.assert_allclose(out.numpy(), np.broadcast_to(rest.joints, (2, 5, 24, 3)), atol=1e-12)


def test_root_rotation_90_about_z_turns_the_chain():
    out = forward_kinematics(pose(root=rot("z", H)), chain()).numpy()
    # x -> y under +90 degrees about z
    np.testing.assert_allclose(out, [[0, 2, 0], [0, 0, 0], [0, 1, 0]], atol=1e-12)


def test_elbow_rotation_90_moves_only_the_wrist():
    out = forward_kinematics(pose(elbow=rot("z", H)), chain()).numpy()
    np.testing.assert_allclose(out, [[1, 1, 0], [0, 0, 0], [1, 0, 0]], atol=1e-12)


def test_rotations_compose_down_the_chain():
    # root +90 about z, elbow +90 about z: elbow at (0, 1, 0), forearm points along -x
    out = forward_kinematics(pose(root=rot("z", H), elbow=rot("z", H)), chain()).numpy()
    np.testing.assert_allclose(out, [[-1, 1, 0], [0, 0, 0], [0, 1, 0]], atol=1e-12)
    # root +90 about z, elbow +90 about x (a local axis, after the root's turn: global y)
    out = forward_kinematics(pose(root=rot("z", H), elbow=rot("x", H)), chain()).numpy()
    np.testing.assert_allclose(out[0], [0, 2, 0], atol=1e-12)  # rotating about the bone: no move


def test_leaf_rotation_moves_nothing_and_translation_shifts_everything():
    rest = chain()
    out = forward_kinematics(pose(wrist=rot("y", 1.0)), rest)
    np.testing.assert_allclose(out.numpy(), rest.joints, atol=1e-12)
    tr = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    out = forward_kinematics(pose(root=rot("z", H)), rest, trans=tr).numpy()
    np.testing.assert_allclose(out, np.array([[0, 2, 0], [0, 0, 0], [0, 1, 0]]) + tr.numpy(), atol=1e-12)


def test_infant_left_elbow_90_about_y_hand_computed():
    rest = infant_rest_skeleton()
    lay = get_layout("smpl24")
    e, w, h = lay.index("left_elbow"), lay.index("left_wrist"), lay.index("left_hand")
    r = torch.eye(3, dtype=torch.float64).repeat(24, 1, 1)
    r[e] = rot("y", H)
    out = forward_kinematics(r, rest).numpy()
    off_w = rest.joints[w] - rest.joints[e]  # (0.080, 0, 0.004)
    off_h = rest.joints[h] - rest.joints[w]  # (0.032, 0, 0)
    # Ry(90): (x, y, z) -> (z, y, -x)
    ry = lambda v: np.array([v[2], v[1], -v[0]])  # noqa: E731
    np.testing.assert_allclose(out[w], rest.joints[e] + ry(off_w), atol=1e-12)
    np.testing.assert_allclose(out[h], rest.joints[e] + ry(off_w) + ry(off_h), atol=1e-12)
    moved = np.flatnonzero(np.abs(out - rest.joints).max(-1) > 1e-12)
    assert sorted(moved.tolist()) == sorted([w, h])


def test_rot6d_and_axis_angle_agree_and_batch_matches_loop():
    rng = np.random.default_rng(0)
    aa = torch.as_tensor(rng.normal(0, 0.6, size=(3, 4, 24, 3)))
    rest = infant_rest_skeleton()
    a = fk_from_representation(aa, "axis_angle", rest)
    b = fk_from_representation(axis_angle_to_rot6d(aa), "rot6d", rest)
    np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-10)
    one = fk_from_representation(aa[1, 2], "axis_angle", rest)
    np.testing.assert_allclose(a[1, 2].numpy(), one.numpy(), atol=1e-12)
    # bone lengths are preserved by any pose
    bl = np.linalg.norm(a.numpy() - a.numpy()[..., [max(p, 0) for p in rest.layout.parents], :], axis=-1)
    np.testing.assert_allclose(bl, np.broadcast_to(rest.bone_lengths(), bl.shape), atol=1e-10)


def test_gradients_flow_to_rotations_that_move_joints():
    rest = infant_rest_skeleton()
    lay = get_layout("smpl24")
    r6 = axis_angle_to_rot6d(torch.zeros(24, 3, dtype=torch.float64) + 0.1).requires_grad_(True)
    target = torch.as_tensor(rest.joints) + 0.05
    loss = ((fk_from_representation(r6, "rot6d", rest) - target) ** 2).sum()
    loss.backward()
    g = r6.grad.abs().sum(-1).numpy()
    assert np.isfinite(g).all()
    for j in ("pelvis", "left_hip", "left_elbow", "spine3"):
        assert g[lay.index(j)] > 1e-6, j
    for j in ("left_hand", "right_hand", "head", "left_foot"):  # leaves move no joint
        assert g[lay.index(j)] < 1e-12, j


def test_gradcheck_chain():
    aa = torch.tensor([[0.3, -0.2, 0.1], [0.2, 0.4, -0.5], [0.1, 0.1, 0.7]], dtype=torch.float64,
                      requires_grad=True)
    tr = torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64, requires_grad=True)
    rest = chain()
    assert torch.autograd.gradcheck(lambda a, t: fk_from_representation(a, "axis_angle", rest, trans=t), (aa, tr))


def test_wrong_joint_count_is_refused():
    with pytest.raises(ValueError, match="do not fit"):
        forward_kinematics(torch.eye(3).repeat(5, 1, 1), chain())
