"""Generator losses on hand-made inputs with hand-computed values."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from infagenc.skeleton.kinematics import RestSkeleton, fk_from_representation
from infagenc.skeleton.layouts import Layout
from infagenc.skeleton.rotations import axis_angle_to_rot6d
from infagenc.train.losses import (generator_losses, kl_gaussian, position_mse, reconstruction_mse,
                                   velocity_mse)


def t(x) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float64)


def L(*n) -> torch.Tensor:
    return torch.tensor(n, dtype=torch.long)


def test_reconstruction_mse_counts_only_real_frames():
    out = t([[[[1, 1]], [[2, 0]], [[100, 100]]]])  # (1, 3, 1, 2), frame 2 is padding
    assert reconstruction_mse(out, torch.zeros_like(out), L(2)).item() == pytest.approx((1 + 1 + 4 + 0) / 4)
    # the mean is over the real elements of the whole batch: (2^2 + 2^2) + (1 + 1) over 2 + 4
    a = t([[[[2, 2]], [[9, 9]]], [[[1, 0]], [[0, 1]]]])
    assert reconstruction_mse(a, torch.zeros_like(a), L(1, 2)).item() == pytest.approx(10 / 6)


def test_velocity_mse_uses_pairs_of_real_frames():
    out = t([0, 1, 3, 50]).reshape(1, 4, 1, 1)
    zero = torch.zeros_like(out)
    assert velocity_mse(out, zero, L(3)).item() == pytest.approx((1 + 4) / 2)
    assert velocity_mse(out, zero, L(2)).item() == pytest.approx(1.0)
    assert velocity_mse(out, zero, L(1)).item() == 0.0  # no pair: nothing to compare
    # differences of the target count too: a constant offset has no velocity error
    assert velocity_mse(out + 7.0, out, L(4)).item() == pytest.approx(0.0)


def test_kl_reductions():
    mu, lv = t([[1.0, 0.0], [0.0, 0.0]]), t([[0.0, math.log(2.0)], [0.0, 0.0]])
    # per element: (0,0): -0.5 (1 + 0 - 1 - 1) = 0.5; (0,1): -0.5 (1 + ln 2 - 2); others 0
    total = 0.5 + 0.5 * (1 - math.log(2.0))
    assert kl_gaussian(mu, lv, "sum").item() == pytest.approx(total)
    assert kl_gaussian(mu, lv, "batchmean").item() == pytest.approx(total / 2)
    assert kl_gaussian(mu, lv, "mean").item() == pytest.approx(total / 4)
    assert kl_gaussian(torch.zeros(3, 5), torch.zeros(3, 5), "sum").item() == 0.0
    with pytest.raises(ValueError, match="reduction"):
        kl_gaussian(mu, lv, "median")


def chain() -> RestSkeleton:
    layout = Layout("chain3", ("root", "elbow", "wrist"), (-1, 0, 1), center=0)
    return RestSkeleton(layout, np.array([[0.0, 0, 0], [1.0, 0, 0], [2.0, 0, 0]]), "test")


def test_position_mse_through_forward_kinematics():
    rest = chain()
    ident = axis_angle_to_rot6d(torch.zeros(1, 1, 3, 3, dtype=torch.float64))
    aa = torch.zeros(1, 1, 3, 3, dtype=torch.float64)
    aa[..., 0, 2] = math.pi / 2  # root +90 degrees about z
    turned = axis_angle_to_rot6d(aa)
    fk = lambda r: fk_from_representation(r, "rot6d", rest)  # noqa: E731
    # rest (0,0,0) (1,0,0) (2,0,0) vs turned (0,0,0) (0,1,0) (0,2,0): (0 + 2 + 8) / 9
    assert position_mse(ident, turned, L(1), fk).item() == pytest.approx(10 / 9)
    # padding frames, even invalid rotations, are never passed to FK
    pad = torch.cat([ident, torch.full_like(ident, float("nan"))], dim=1)
    assert position_mse(pad, torch.cat([turned, turned], 1), L(1), fk).item() == pytest.approx(10 / 9)


def test_generator_losses_weights():
    g = torch.Generator().manual_seed(0)
    out, tgt = torch.randn(2, 5, 3, 6, generator=g, dtype=torch.float64), torch.randn(2, 5, 3, 6, generator=g,
                                                                                  dtype=torch.float64)
    mu, lv = torch.randn(2, 4, generator=g, dtype=torch.float64), torch.randn(2, 4, generator=g, dtype=torch.float64)
    lens = L(5, 3)
    pos = lambda r: r[..., :3] * 2.0  # noqa: E731  any function of the frames
    d = generator_losses(out, tgt, lens, mu, lv, lambda_rec=2.0, lambda_vel=0.5, lambda_kl=3.0,
                         kl_reduction="batchmean", lambda_pos=4.0, positions=pos)
    assert set(d) == {"rec", "vel", "kl", "pos", "total"}
    want = 2 * d["rec"] + 0.5 * d["vel"] + 3 * d["kl"] + 4 * d["pos"]
    assert d["total"].item() == pytest.approx(want.item())
    assert d["kl"].item() == pytest.approx(kl_gaussian(mu, lv, "batchmean").item())
    m = torch.arange(5)[None] < lens[:, None]
    assert d["pos"].item() == pytest.approx((((out[m][..., :3] - tgt[m][..., :3]) * 2) ** 2).mean().item())
    d0 = generator_losses(out, tgt, lens, mu, lv, lambda_rec=1.0, lambda_vel=0.0, lambda_kl=0.0,
                          kl_reduction="mean", lambda_pos=0.0, positions=pos)
    assert "pos" not in d0 and d0["total"].item() == pytest.approx(d["rec"].item())


def test_padding_never_changes_a_loss():
    g = torch.Generator().manual_seed(1)
    seq_o, seq_t = torch.randn(2, 4, 3, 6, generator=g), torch.randn(2, 4, 3, 6, generator=g)
    mu, lv = torch.randn(2, 8, generator=g), torch.randn(2, 8, generator=g)
    lens = L(4, 2)
    results = []
    for total_frames, fill in ((4, 0.0), (9, 0.0), (9, 1e3)):
        o = torch.full((2, total_frames, 3, 6), fill)
        tg = torch.full((2, total_frames, 3, 6), -fill)
        o[:, :4], tg[:, :4] = seq_o, seq_t
        o[1, 2:], tg[1, 2:] = fill, -fill  # sequence 1 is only 2 frames long
        d = generator_losses(o, tg, lens, mu, lv, lambda_rec=1.0, lambda_vel=0.001, lambda_kl=1.0,
                             kl_reduction="mean", lambda_pos=1.0, positions=lambda r: r[..., :3])
        results.append({k: v.item() for k, v in d.items()})
    for r in results[1:]:
        assert r == pytest.approx(results[0], rel=1e-6)


def test_shape_and_length_errors():
    a = torch.zeros(1, 3, 2, 2)
    with pytest.raises(ValueError, match="shape"):
        reconstruction_mse(a, torch.zeros(1, 4, 2, 2), L(3))
    with pytest.raises(ValueError, match="lengths"):
        reconstruction_mse(a, a, L(4))
