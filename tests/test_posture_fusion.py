"""2D + 3D keypoints of the same image (data/fusion.py), the late-fusion posture model, and the
posture models under the real + synthetic options (DANN, LMMD) and the posture augmentation."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from infagenc.data.errors import DataError
from infagenc.data.fusion import fuse_keypoints, fused_layout
from infagenc.data.motionset import MotionSet
from infagenc.models.posture import split_parts
from infagenc.models.registry import build_recognizer
from infagenc.skeleton.layouts import get_layout
from infagenc.train.augment import AugmentConfig, augment_batch
from infagenc.train.realsyn import RealSynConfig
from infagenc.train.recognizer import RecognizerConfig, RecognizerTrainer, new_recognizer

from conftest import need
from test_posture import POSTURES, toy_postures

COCO, INFANT = get_layout("coco17"), get_layout("infant14")


def keypoints(names, labels, layout, c, seed=0, conf=None) -> MotionSet:
    rng = np.random.default_rng(seed)
    n = len(names)
    x = rng.normal(size=(n, 1, layout.num_joints, c)).astype(np.float32)
    return MotionSet(x, np.ones(n), labels, POSTURES, [s.split(".")[0] for s in names], names, layout,
                     "xy" if c == 2 else "xyz", conf=conf)


def fused_pair(n_per=6, seed=0):
    """A 2D toy posture set and a 3D one of the same 'images' (names), fused."""
    a = toy_postures(n_per, seed, "coco17", 2)
    b = toy_postures(n_per, seed + 1, "infant14", 3)
    return fuse_keypoints(a, b)


# ------------------------------------------------------------------------------ layout
def test_fused_layout_splits_back_into_its_parts():
    fused = fused_layout(COCO, INFANT)
    assert fused.num_joints == 31 and fused.joints[0] == "2d:nose" and fused.joints[17] == "3d:right_ankle"
    assert fused.parents[17 + INFANT.root] == COCO.root  # the one joining edge
    assert fused.center == COCO.center and (17 + 3, 17 + 2) in fused.lr_pairs
    (lo2, hi2, l2, c2), (lo3, hi3, l3, c3) = split_parts(fused)
    assert (lo2, hi2, c2, lo3, hi3, c3) == (0, 17, 2, 17, 31, 3)
    for part, orig in ((l2, COCO), (l3, INFANT)):
        assert (part.joints, part.parents, part.center, part.lr_pairs, part.extra_edges) == \
               (orig.joints, orig.parents, orig.center, orig.lr_pairs, orig.extra_edges)


def test_a_plain_layout_is_not_a_fused_one():
    with pytest.raises(ValueError, match="posture_fusion needs a fused layout") as e:
        build_recognizer("posture_fusion", "coco17", 3, 4)
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="3 channels"):
        build_recognizer("posture_fusion", fused_layout(COCO, INFANT), 2, 4)


# ------------------------------------------------------------------------------ joining
def test_fuse_joins_by_name_and_pads_z():
    a = keypoints(["a.jpg", "b.jpg", "c.jpg"], [0, 1, 2], COCO, 2, seed=0)
    b = keypoints(["c.jpg", "a.jpg", "d.jpg"], [2, 0, 3], INFANT, 3, seed=1)
    with pytest.raises(DataError, match="'b.jpg': no 3D keypoints"):
        fuse_keypoints(a, b)
    f = fuse_keypoints(a, b, on_missing="skip")
    assert f.names.tolist() == ["a.jpg", "c.jpg"] and f.labels.tolist() == [0, 2] and f.rep == "xyz"
    np.testing.assert_array_equal(f.data[:, :, :17, :2], a.data[[0, 2]])
    assert not f.data[:, :, :17, 2].any()
    np.testing.assert_array_equal(f.data[:, :, 17:], b.data[[1, 0]])
    assert [e.sample for e in f.exclusions] == ["b.jpg"]
    assert any("without a 2D partner, not read: 1" in n for n in f.notes)
    assert f.layout == fused_layout(COCO, INFANT) and f.subjects.tolist() == ["a", "c"]


def test_fuse_refuses_what_it_cannot_join():
    a = keypoints(["a.jpg", "b.jpg"], [0, 1], COCO, 2)
    with pytest.raises(DataError, match="'b.jpg': labelled 'Supine' in the 2D set and 'Sitting'"):
        fuse_keypoints(a, keypoints(["a.jpg", "b.jpg"], [0, 2], INFANT, 3))
    with pytest.raises(ValueError, match="takes a 2D \\(xy\\) set and a 3D \\(xyz\\) set"):
        fuse_keypoints(a, a)
    with pytest.raises(DataError, match="names 1 samples twice"):
        fuse_keypoints(a, keypoints(["a.jpg", "a.jpg"], [0, 0], INFANT, 3))
    hidden = np.ones((2, 1, 17), np.float32)
    hidden[1, 0, 3] = 0
    with pytest.raises(ValueError, match="confidence 0 .*preprocess it on its own layout first"):
        fuse_keypoints(keypoints(["a.jpg", "b.jpg"], [0, 1], COCO, 2, conf=hidden),
                       keypoints(["a.jpg", "b.jpg"], [0, 1], INFANT, 3))


def test_fusion_model_never_reads_the_padded_z():
    f = fused_pair(2)
    m = build_recognizer("posture_fusion", f.layout, 3, 4).eval()
    assert m.feature_dim == 2 * 128
    x = torch.as_tensor(f.data)
    with torch.no_grad():
        base = m.features(x)
        y = x.clone()
        y[:, :, :17, 2] = 5.0
        torch.testing.assert_close(m.features(y), base)
        for joint, channel in ((3, 0), (20, 2)):  # a 2D x and a 3D z do count
            y = x.clone()
            y[:, :, joint, channel] += 1.0
            assert not torch.allclose(m.features(y), base)


def test_image_plane_augmentation_keeps_the_2d_z_at_zero():
    f = fused_pair(2)
    x = torch.as_tensor(f.data)
    x = x - x[:, :, :1]  # the 2D nose (pivot) at the origin, as after preprocessing
    cfg = AugmentConfig(rotate_deg=40, up_axis="z", scale=0.2, mirror=1.0)
    y = augment_batch(x, torch.ones(len(x), dtype=torch.long), cfg, torch.Generator().manual_seed(0), f.layout)
    assert not y[:, :, :17, 2].any() and not torch.allclose(y, x)
    rigid = augment_batch(x, torch.ones(len(x), dtype=torch.long), AugmentConfig(rotate_deg=40, up_axis="z"),
                          torch.Generator().manual_seed(0), f.layout)
    torch.testing.assert_close(rigid.norm(dim=-1), x.norm(dim=-1))  # a rotation about the pivot


# ------------------------------------------------------------------ real + synthetic
def real_plus_syn(model: str) -> MotionSet:
    real = fused_pair(4, seed=0) if model == "posture_fusion" else toy_postures(4, seed=0)
    syn = fused_pair(4, seed=7) if model == "posture_fusion" else toy_postures(4, seed=7)
    syn.source = np.array(["synthetic"] * len(syn))
    syn.names = np.array([f"syn_{n}" for n in syn.names], dtype=object)
    return MotionSet.concat([real, syn])


@pytest.mark.parametrize("model, realsyn, part", [
    ("posture", RealSynConfig(dann_weight=1.0), "domain_loss"),
    ("posture", RealSynConfig(lmmd_weight=1.0), "lmmd"),
    ("posture_fusion", RealSynConfig(dann_weight=1.0, lmmd_weight=0.5), "domain_loss"),
])
def test_realsyn_options_train_the_posture_models(tmp_path, model, realsyn, part):
    ms = real_plus_syn(model)
    opts = {"coarse_of": (0, 0, 1, 1), "coarse_names": ("lying", "upright")} if model == "posture_fusion" else {}
    cfg = RecognizerConfig(model=model, size="slim", epochs=3, batch_size=8, realsyn=realsyn, model_options=opts)
    trainer = RecognizerTrainer(new_recognizer(cfg, ms.layout, ms.channels, ms.num_classes), cfg)
    before = [p.detach().clone() for p in trainer.domain.parameters()]
    hist = trainer.fit(ms, progress=False)
    assert len(hist) == 3 and all(np.isfinite(h[part]) and np.isfinite(h["loss"]) for h in hist)
    if realsyn.dann_weight:  # the domain classifier on the posture features learned
        assert any(not torch.equal(b, p) for b, p in zip(before, trainer.domain.parameters()))
    trainer.save(tmp_path / "ck.pt")
    again = RecognizerTrainer.load(tmp_path / "ck.pt")
    assert again.epoch == 3 and type(again.model) is type(trainer.model)
    x = torch.as_tensor(ms.data[:4])
    with torch.no_grad():
        torch.testing.assert_close(again.model.eval()(x), trainer.model.eval()(x))


def test_mirror_recipe_trains_the_2d_posture_model():
    ms = toy_postures(6)
    cfg = RecognizerConfig(model="posture", size="slim", epochs=2, batch_size=8,
                           augment=AugmentConfig.moderate(mirror=0.5, jitter=0.01, repeat=2))
    trainer = RecognizerTrainer(new_recognizer(cfg, ms.layout, ms.channels, ms.num_classes), cfg)
    hist = trainer.fit(ms, progress=False)
    assert len(hist) == 2 and np.isfinite(hist[-1]["loss"])


# -------------------------------------------------------------------------- real data
def test_syrip_2d_and_3d_fuse_and_share_the_camera_frame(shared_data):
    from infagenc.data.readers import read
    from infagenc.data.readers.syrip3d import read_syrip3d

    folder = need(shared_data / "syrip")
    train_json = folder / "2d_gt" / "train200.json"
    a = read(train_json, "coco")
    b = read_syrip3d(folder / "3d", labels=str(train_json), class_names=a.class_names)
    # the 3D keypoints are in camera coordinates: x, y follow the image's x, y (the augmentation
    # of a fused set rotates about z for that reason)
    shared = [j for j in INFANT.joints if j in COCO.joints]
    ia, ib = [COCO.index(j) for j in shared], [INFANT.index(j) for j in shared]
    row = {n: i for i, n in enumerate(b.names)}
    corr = []
    for k in range(len(a)):
        seen = a.conf[k, 0, ia] > 0
        if seen.sum() >= 5:
            p2, p3 = a.data[k, 0, ia][seen], b.data[row[a.names[k]], 0, ib][seen]
            corr.append([np.corrcoef(p2[:, d], p3[:, d])[0, 1] for d in (0, 1)])
    assert np.median(corr, axis=0).min() > 0.9
    a.conf = None  # (a fused set is made of preprocessed sets; here only the join is tested)
    f = fuse_keypoints(a, b)
    assert len(f) == 200 and f.class_counts() == {"Prone": 90, "Supine": 69, "Sitting": 35, "Standing": 6}
    assert f.names.tolist() == a.names.tolist() and f.num_joints == 31 and not f.data[..., :17, 2].any()
