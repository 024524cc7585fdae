import math

import numpy as np
import pytest
import torch

from infagenc.skeleton import rotations as R


def _random_axis_angle(n, seed, max_angle=math.pi - 1e-3):
    g = torch.Generator().manual_seed(seed)
    axis = torch.nn.functional.normalize(torch.randn(n, 3, generator=g, dtype=torch.float64), dim=-1)
    angle = torch.rand(n, 1, generator=g, dtype=torch.float64) * max_angle
    return axis * angle


def test_known_rotation_about_z():
    m = R.axis_angle_to_matrix(torch.tensor([0.0, 0.0, math.pi / 2], dtype=torch.float64))
    expected = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    assert torch.allclose(m, expected, atol=1e-12)
    # rot6d = first two columns
    assert torch.allclose(R.matrix_to_rot6d(m), torch.tensor([0.0, 1.0, 0.0, -1.0, 0.0, 0.0], dtype=torch.float64),
                          atol=1e-12)


def test_matrices_are_rotations():
    m = R.axis_angle_to_matrix(_random_axis_angle(500, 0))
    eye = torch.eye(3, dtype=torch.float64)
    assert torch.allclose(m @ m.transpose(-1, -2), eye.expand_as(m), atol=1e-12)
    assert torch.allclose(torch.det(m), torch.ones(500, dtype=torch.float64), atol=1e-12)


def test_round_trips_are_exact():
    aa = _random_axis_angle(2000, 1)
    m = R.axis_angle_to_matrix(aa)
    assert torch.allclose(R.matrix_to_axis_angle(m), aa, atol=1e-9)
    assert torch.allclose(R.rot6d_to_matrix(R.matrix_to_rot6d(m)), m, atol=1e-12)
    assert torch.allclose(R.rot6d_to_axis_angle(R.axis_angle_to_rot6d(aa)), aa, atol=1e-9)
    q = R.matrix_to_quaternion(m)
    assert torch.allclose(R.quaternion_to_matrix(q), m, atol=1e-12)


def test_edge_angles_zero_and_near_pi():
    tiny = torch.tensor([[1e-9, -2e-9, 3e-9], [0.0, 0.0, 0.0]], dtype=torch.float64)
    assert torch.allclose(R.matrix_to_axis_angle(R.axis_angle_to_matrix(tiny)), tiny, atol=1e-12)
    near_pi = torch.tensor([[0.0, math.pi - 1e-7, 0.0]], dtype=torch.float64)
    back = R.matrix_to_axis_angle(R.axis_angle_to_matrix(near_pi))
    assert torch.allclose(back, near_pi, atol=1e-6)


def test_rot6d_decoding_orthonormalises_any_input():
    g = torch.Generator().manual_seed(3)
    r6 = torch.randn(100, 6, generator=g, dtype=torch.float64) * 3
    m = R.rot6d_to_matrix(r6)
    assert torch.allclose(m @ m.transpose(-1, -2), torch.eye(3, dtype=torch.float64).expand_as(m), atol=1e-10)
    # the first column is the normalised first half
    assert torch.allclose(m[..., :, 0], torch.nn.functional.normalize(r6[:, :3], dim=-1), atol=1e-12)


def test_gradients_are_finite_at_zero():
    aa = torch.zeros(4, 3, dtype=torch.float64, requires_grad=True)
    R.axis_angle_to_matrix(aa).sum().backward()
    assert torch.isfinite(aa.grad).all()


def test_numpy_in_numpy_out_and_convert():
    aa = _random_axis_angle(10, 4).numpy()
    r6 = R.convert(aa, "axis_angle", "rot6d")
    assert isinstance(r6, np.ndarray) and r6.shape == (10, 6)
    assert np.allclose(R.convert(r6, "rot6d", "axis_angle"), aa, atol=1e-9)
    with pytest.raises(ValueError, match="not a rotation representation"):
        R.convert(aa, "xyz", "rot6d")
