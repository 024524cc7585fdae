"""Training-batch augmentation (infagenc.train.augment): each part's geometry on a hand-made
skeleton, padding, seeds, the config and its presets."""
from __future__ import annotations

import math

import pytest
import torch

from infagenc.config import ConfigError
from infagenc.skeleton.layouts import Layout
from infagenc.train.augment import (AugmentConfig, augment_batch, check_rep, random_crop, random_jitter,
                                    random_mirror, random_rotation, random_scale, random_shear)

# pelvis (centre), left/right hip, spine, left/right hand
LAYOUT = Layout("toy6", ("pelvis", "left_hip", "right_hip", "spine", "left_hand", "right_hand"),
                (-1, 0, 0, 0, 3, 3), center=0, lr_pairs=((1, 2), (4, 5)))
BONES = [(j, p) for j, p in enumerate(LAYOUT.parents) if p >= 0]
LENGTHS = torch.tensor([7, 4, 1])


def skeleton_batch(c: int = 3, seed: int = 0) -> torch.Tensor:
    """(3, 7, 6, c): a moving skeleton per sample, padding frames zero, off the origin."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(3, 7, 6, c, generator=g) + torch.arange(1, c + 1, dtype=torch.float32)
    return x * (torch.arange(7)[None, :] < LENGTHS[:, None]).float()[:, :, None, None]


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def bone_lengths(x: torch.Tensor) -> torch.Tensor:
    return torch.stack([(x[..., j, :] - x[..., p, :]).norm(dim=-1) for j, p in BONES], -1)


def real(x: torch.Tensor) -> torch.Tensor:
    """The real frames of a (3, 7, ...) batch, concatenated."""
    return torch.cat([x[i, :n] for i, n in enumerate(LENGTHS.tolist())])


def padding(x: torch.Tensor) -> torch.Tensor:
    return torch.cat([x[i, n:].flatten() for i, n in enumerate(LENGTHS.tolist())])


def test_vertical_rotation_keeps_bones_and_the_vertical_axis():
    x = skeleton_batch()
    y = random_rotation(x, LENGTHS, gen(), rotate_deg=90.0)
    torch.testing.assert_close(real(bone_lengths(y)), real(bone_lengths(x)))
    torch.testing.assert_close(y[..., 1], x[..., 1])  # y is vertical: heights unchanged
    assert not torch.allclose(y[..., 0], x[..., 0])
    # distances from the vertical axis are kept too
    torch.testing.assert_close(y[..., [0, 2]].norm(dim=-1), x[..., [0, 2]].norm(dim=-1))
    # a vertical z: z kept instead
    z = random_rotation(x, LENGTHS, gen(), rotate_deg=90.0, up_axis="z")
    torch.testing.assert_close(z[..., 2], x[..., 2])


def test_rotation_angles_lie_in_the_range_and_tilts_keep_bones():
    x = torch.zeros(500, 1, 6, 3)
    x[:, 0, 1] = torch.tensor([1.0, 0.0, 0.0])  # left hip on +x
    lengths = torch.ones(500, dtype=torch.long)
    y = random_rotation(x, lengths, gen(), rotate_deg=30.0)
    angle = torch.atan2(-y[:, 0, 1, 2], y[:, 0, 1, 0])  # rotation about y takes +x towards -z
    assert angle.abs().max() <= math.radians(30) + 1e-6 and angle.abs().max() > math.radians(27)
    assert angle.min() < 0 < angle.max()
    xb = skeleton_batch()
    t = random_rotation(xb, LENGTHS, gen(1), rotate_deg=60.0, tilt_deg=20.0)
    torch.testing.assert_close(real(bone_lengths(t)), real(bone_lengths(xb)))
    assert not torch.allclose(t[..., 1], xb[..., 1])  # tilts move heights


def test_2d_rotation_is_in_plane():
    x = skeleton_batch(c=2)
    y = random_rotation(x, LENGTHS, gen(), rotate_deg=45.0, tilt_deg=30.0)
    torch.testing.assert_close(real(bone_lengths(y)), real(bone_lengths(x)))
    torch.testing.assert_close(y.norm(dim=-1), x.norm(dim=-1))  # about the origin
    assert (padding(y) == 0).all()


def test_pivot_stays_in_place():
    x = skeleton_batch()
    pivot = x[:, 0, 0].clone()
    for y in (random_rotation(x, LENGTHS, gen(), 60.0, 10.0, pivot=pivot),
              random_scale(x, LENGTHS, gen(), 0.5, pivot=pivot),
              random_shear(x, LENGTHS, gen(), 0.3, pivot=pivot)):
        torch.testing.assert_close(y[:, 0, 0], pivot)
        assert (padding(y) == 0).all()


def test_scale_isotropic_and_per_axis():
    x = skeleton_batch()
    iso = random_scale(x, LENGTHS, gen(), 0.3, per_axis=False)
    ratio = real(iso.norm(dim=-1)) / real(x.norm(dim=-1))  # one factor per sample, every direction
    for i, n in enumerate(LENGTHS.tolist()):
        r = iso[i, :n].norm(dim=-1) / x[i, :n].norm(dim=-1)
        assert torch.allclose(r, r.flatten()[0]) and 0.7 <= float(r.flatten()[0]) <= 1.3
    assert ratio.std() > 0
    per = random_scale(x, LENGTHS, gen(), 0.3, per_axis=True)
    f = per[0, :7] / x[0, :7]  # (T, V, C): one factor per axis
    for c in range(3):
        assert torch.allclose(f[..., c], f[0, 0, c]) and 0.7 <= float(f[0, 0, c]) <= 1.3
    assert len({round(float(f[0, 0, c]), 6) for c in range(3)}) == 3


def test_shear_matrix_has_unit_diagonal_and_bounded_terms():
    # unit vectors e_c as three joints: the result's columns are the matrix
    x = torch.zeros(200, 1, 6, 3)
    x[:, 0, :3] = torch.eye(3)
    lengths = torch.ones(200, dtype=torch.long)
    m = random_shear(x, lengths, gen(), 0.2)[:, 0, :3].transpose(1, 2)  # (N, 3, 3), m[:, d, c]
    diag = torch.diagonal(m, dim1=1, dim2=2)
    torch.testing.assert_close(diag, torch.ones_like(diag))
    off = m[:, ~torch.eye(3, dtype=torch.bool)]
    assert off.abs().max() <= 0.2 + 1e-6 and off.abs().max() > 0.18


def test_mirror_swaps_the_named_joints_and_negates_x():
    x = skeleton_batch()
    y = random_mirror(x, LENGTHS, gen(), 1.0, LAYOUT.lr_pairs)
    perm = [0, 2, 1, 3, 5, 4]
    torch.testing.assert_close(y[..., 0], -x[:, :, perm, 0])
    torch.testing.assert_close(y[..., 1:], x[:, :, perm, 1:])
    torch.testing.assert_close(random_mirror(x, LENGTHS, gen(), 0.0, LAYOUT.lr_pairs), x)
    some = random_mirror(x.repeat(20, 1, 1, 1), LENGTHS.repeat(20), gen(), 0.5, LAYOUT.lr_pairs)
    flipped = [not torch.equal(some[i], x[i % 3]) for i in range(60)]
    assert 10 < sum(flipped) < 50


def test_crop_keeps_the_length_and_reads_inside_the_window():
    t = torch.arange(7, dtype=torch.float32)
    x = t[None, :, None, None].expand(3, 7, 6, 3).clone()  # every value = its frame index
    x = x * (t[None, :] < LENGTHS[:, None]).float()[:, :, None, None]
    for seed in range(20):
        y = random_crop(x, LENGTHS, gen(seed), crop_min=0.5)
        assert y.shape == x.shape and (padding(y) == 0).all()
        for i, n in enumerate(LENGTHS.tolist()):
            v = y[i, :n, 0, 0]
            assert v.min() >= 0 and v.max() <= n - 1  # inside the real frames
            assert (v[1:] >= v[:-1]).all()  # in time order
            if n > 1:
                span = float(v[-1] - v[0])
                assert span >= 0.5 * (n - 1) - 1e-5  # at least crop_min of the duration
                torch.testing.assert_close(v[1:] - v[:-1], torch.full((n - 1,), span / (n - 1)))  # resampled evenly
    torch.testing.assert_close(random_crop(x, LENGTHS, gen(), crop_min=1.0), x)


def test_jitter_has_the_stated_std_on_real_frames_only():
    x = torch.zeros(64, 50, 6, 3)
    lengths = torch.randint(1, 51, (64,), generator=gen(1))
    y = random_jitter(x, lengths, gen(), std=0.05)
    mask = torch.arange(50)[None, :] < lengths[:, None]
    assert y[mask].std().item() == pytest.approx(0.05, rel=0.03)
    assert y[mask].mean().abs().item() < 0.002
    assert (y[~mask] == 0).all()


def test_same_seed_same_batch_other_seed_another():
    x = skeleton_batch()
    cfg = AugmentConfig.strong(crop_min=0.8, jitter=0.01, shear=0.1, mirror=0.5)
    a = augment_batch(x, LENGTHS, cfg, gen(3), LAYOUT)
    b = augment_batch(x, LENGTHS, cfg, gen(3), LAYOUT)
    c = augment_batch(x, LENGTHS, cfg, gen(4), LAYOUT)
    assert torch.equal(a, b) and not torch.allclose(a, c)
    assert (padding(a) == 0).all() and a.shape == x.shape
    # nothing on: the batch as it was
    assert torch.equal(augment_batch(x, LENGTHS, AugmentConfig(), gen(), LAYOUT), x)


def test_augment_batch_rotates_about_the_first_frame_centre():
    x = skeleton_batch()
    y = augment_batch(x, LENGTHS, AugmentConfig(rotate_deg=90, scale=0.4), gen(), LAYOUT)
    torch.testing.assert_close(y[:, 0, 0], x[:, 0, 0])


def test_config_checks_presets_and_reps():
    assert not AugmentConfig().active and not AugmentConfig(repeat=5).active
    assert AugmentConfig(crop_min=0.9).active and AugmentConfig(mirror=0.5).active
    s = AugmentConfig.strong()
    assert (s.rotate_deg, s.scale, s.scale_per_axis, s.repeat, s.mirror) == (60.0, 0.5, False, 5, 0.0)
    m = AugmentConfig.moderate()
    assert m.rotate_deg == pytest.approx(math.degrees(0.3)) and m.scale == 0.1 and m.repeat == 1
    assert AugmentConfig.strong(repeat=1).repeat == 1
    for bad in ({"scale": 1.0}, {"crop_min": 0.0}, {"mirror": 1.5}, {"repeat": 0}, {"up_axis": "up"},
                {"jitter": -1.0}, {"rotate_deg": 270.0}):
        with pytest.raises(ValueError, match="augment"):
            AugmentConfig(**bad)
    check_rep("xyz", s)
    check_rep("rot6d", AugmentConfig(repeat=3))
    with pytest.raises(ValueError, match="joint positions.*'rot6d'"):
        check_rep("rot6d", s)
    with pytest.raises(ValueError, match="shape"):
        random_jitter(torch.zeros(2, 3, 6, 6), torch.tensor([3, 3]), gen(), 0.1)


def test_config_nested_in_recognizer_config():
    from infagenc.train.recognizer import RecognizerConfig

    cfg = RecognizerConfig.from_dict({"augment": {"rotate_deg": 30, "repeat": 2}})
    assert cfg.augment == AugmentConfig(rotate_deg=30, repeat=2)
    assert RecognizerConfig.from_dict(cfg.to_dict()) == cfg
    assert RecognizerConfig(augment={"jitter": 0.1}).augment == AugmentConfig(jitter=0.1)
    with pytest.raises(ConfigError, match=r"recognizer config.augment: unknown key\(s\) \['rotate'\]"):
        RecognizerConfig.from_dict({"augment": {"rotate": 30}})
    with pytest.raises(ConfigError, match="augment scale"):
        RecognizerConfig.from_dict({"augment": {"scale": 2.0}})
