"""Generator training, resume, checkpoints and sampling (small configs, CPU)."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from infagenc.data.demo import make_demo
from infagenc.data.motionset import MotionSet
from infagenc.models.cvae import CVAEConfig
from infagenc.skeleton.rotations import rot6d_to_matrix
from infagenc.train.checkpoint import save_checkpoint
from infagenc.train.generator import (GeneratorConfig, GeneratorTrainer, MotionSpec, load_generator,
                                      motion_tensors, sample_motionset)

TINY = CVAEConfig(num_layers=1, d_model=32, num_heads=2, ff_size=64, dropout=0.1)


@pytest.fixture(scope="module")
def demo() -> MotionSet:
    # 8 sequences of different lengths (16..24 frames), 4 classes, rot6d + trans
    return make_demo(num_subjects=1, per_class=2, seed=0, min_len=16, max_len=24)


def cfg(**kw) -> GeneratorConfig:
    return GeneratorConfig(**{"cvae": TINY, "batch_size": 4, "epochs": 2, "device": "cpu", "lr": 1e-3, **kw})


def test_config_defaults_and_round_trip():
    c = GeneratorConfig()
    assert (c.lambda_rec, c.lambda_vel, c.lambda_kl, c.kl_reduction) == (1.0, 0.001, 1.0, "mean")
    assert (c.lr, c.batch_size, c.precision, c.cvae) == (1e-4, 16, "fp32", CVAEConfig())
    r = GeneratorConfig(lambda_kl=1e-5, kl_reduction="sum")  # the released code's KL
    assert GeneratorConfig.from_dict(r.to_dict()) == r
    assert GeneratorConfig.from_dict(cfg(trans=True).to_dict()) == cfg(trans=True)
    with pytest.raises(ValueError, match="kl_reduction"):
        GeneratorConfig(kl_reduction="avg")


def test_tiny_overfit_reconstruction_falls_tenfold(demo):
    c = cfg(cvae=dataclasses.replace(TINY, dropout=0.0), batch_size=8, lr=3e-3, lambda_kl=1e-3)
    tr = GeneratorTrainer.from_motionset(demo, c)
    ts = tr.tensors(demo)
    before = tr.evaluate(ts)
    for _ in range(60):
        tr.train_epoch(ts)
    after = tr.evaluate(ts)
    assert after["rec"] < before["rec"] / 10, (before, after)
    assert after["pos"] < before["pos"] / 10, (before, after)
    assert tr.history[-1]["total"] < tr.history[0]["total"] / 10


def test_same_seed_same_numbers_and_padding_does_not_matter(demo):
    a = GeneratorTrainer.from_motionset(demo, cfg())
    b = GeneratorTrainer.from_motionset(demo, cfg())
    ha, hb = a.fit(demo, progress=False), b.fit(demo, progress=False)
    assert ha == hb and set(ha[0]) == {"epoch", "rec", "vel", "kl", "pos", "total"}
    # the same sequences padded to 40 frames (garbage never enters: padding is zero by
    # construction, and the losses only read real frames)
    longer = MotionSet.from_sequences([demo.sequence(i) for i in range(len(demo))], demo.labels, demo.class_names,
                                      demo.subjects, demo.names, demo.layout, demo.rep, max_len=40)
    ea, el = a.evaluate(a.tensors(demo)), a.evaluate(a.tensors(longer))
    assert ea == pytest.approx(el, rel=1e-5)


def test_resume_gives_the_same_next_epoch(demo, tmp_path):
    full = GeneratorTrainer.from_motionset(demo, cfg(epochs=3))
    full.fit(demo, progress=False)
    part = GeneratorTrainer.from_motionset(demo, cfg(epochs=3))
    part.fit(demo, epochs=2, progress=False, checkpoint=tmp_path / "g.pt")
    resumed = GeneratorTrainer.load(tmp_path / "g.pt", device="cpu")
    assert resumed.epoch == 2 and resumed.history == part.history
    resumed.fit(demo, epochs=1, progress=False)
    assert resumed.history == full.history
    for (k, p), q in zip(full.model.state_dict().items(), resumed.model.state_dict().values()):
        torch.testing.assert_close(p, q, rtol=0, atol=0, msg=k)
    # trainer state dicts load into a fresh trainer too
    other = GeneratorTrainer.from_motionset(demo, cfg(epochs=3, seed=5))
    other.load_state_dict(part.state_dict())
    other.fit(demo, epochs=1, progress=False)
    assert other.history == full.history


def test_checkpoint_round_trip_and_refusals(demo, tmp_path):
    tr = GeneratorTrainer.from_motionset(demo, cfg(trans=True))
    tr.fit(demo, epochs=1, progress=False)
    path = tr.save(tmp_path / "gen.pt", extra_meta={"note": "x"})
    model, spec, meta = load_generator(path, device="cpu")
    assert spec == tr.spec and spec.trans and spec.num_joints == 25
    assert meta["epoch"] == 1 and meta["note"] == "x" and meta["config"] == tr.cfg.to_dict()
    x = tr.tensors(demo)
    tr.model.eval()
    with torch.no_grad():
        a = tr.model(x.x, x.labels, x.lengths, use_mean=True)["output"]
        b = model(x.x, x.labels, x.lengths, use_mean=True)["output"]
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    save_checkpoint(tmp_path / "other.pt", {"w": torch.zeros(1)}, {"kind": "stgcn"})
    with pytest.raises(ValueError, match="not a generator checkpoint"):
        load_generator(tmp_path / "other.pt")


def test_sampling_is_deterministic_and_tagged(demo, tmp_path):
    tr = GeneratorTrainer.from_motionset(demo, cfg(trans=True))
    prov = {"run": "r1", "epoch": 7, "round": 2}
    a = sample_motionset(tr.model, tr.spec, per_class=3, length=12, seed=11, provenance=prov)
    b = sample_motionset(tr.model, tr.spec, per_class=3, length=12, seed=11, provenance=prov, batch_size=5)
    c = sample_motionset(tr.model, tr.spec, per_class=3, length=12, seed=12, provenance=prov)
    np.testing.assert_allclose(a.data, b.data, atol=1e-5)
    np.testing.assert_allclose(a.trans, b.trans, atol=1e-5)
    assert not np.allclose(a.data, c.data)
    assert len(a) == 12 and a.labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert a.is_synthetic.all() and set(a.run) == {"r1"} and set(a.epoch) == {7} and set(a.round) == {2}
    assert set(a.seed) == {11} and a.trans.shape == (12, 12, 3) and a.data.shape == (12, 12, 24, 6)
    assert len(set(a.names)) == 12 and a.names[0] == "syn-r1-e7-r2-s11-000000-kick"
    # generated rot6d are proper rotations
    m = rot6d_to_matrix(torch.as_tensor(a.data, dtype=torch.float64))
    np.testing.assert_allclose(a.data, torch.cat([m[..., :, 0], m[..., :, 1]], -1).numpy(), atol=1e-5)
    # explicit (class, length) requests, variable lengths, padding zero
    r = sample_motionset(tr.model, tr.spec, requests=[(2, 5), (0, 9), (2, 7)], seed=0)
    assert r.labels.tolist() == [2, 0, 2] and r.lengths.tolist() == [5, 9, 7] and r.num_frames == 9
    assert (r.data[0, 5:] == 0).all() and (r.trans[2, 7:] == 0).all() and np.abs(r.data[0, :5]).sum() > 0
    # the seed fixes the latents in request order: the same first request alone gives the same sample
    alone = sample_motionset(tr.model, tr.spec, requests=[(2, 5)], seed=0)
    np.testing.assert_allclose(alone.data[0], r.data[0, :5], atol=1e-5)
    # sampling-time dropout: seeded, and different from plain sampling
    d1 = sample_motionset(tr.model, tr.spec, per_class=1, length=8, seed=3, dropout=0.2)
    d2 = sample_motionset(tr.model, tr.spec, per_class=1, length=8, seed=3, dropout=0.2)
    d0 = sample_motionset(tr.model, tr.spec, per_class=1, length=8, seed=3)
    np.testing.assert_array_equal(d1.data, d2.data)
    assert not np.allclose(d1.data, d0.data)
    # npz export keeps the provenance
    back = MotionSet.load(a.save(tmp_path / "syn.npz"))
    assert back.names.tolist() == a.names.tolist() and set(back.epoch) == {7} and back.is_synthetic.all()
    with pytest.raises(ValueError, match="either"):
        sample_motionset(tr.model, tr.spec, seed=0)
    with pytest.raises(ValueError, match="class indices"):
        sample_motionset(tr.model, tr.spec, requests=[(4, 5)], seed=0)


def test_xyz_data_bf16_and_rest_skeleton_rules(demo):
    xyz = make_demo(num_subjects=1, per_class=1, seed=1, rep="xyz", min_len=10, max_len=14)
    tr = GeneratorTrainer.from_motionset(xyz, cfg(precision="bf16"))
    rec = tr.train_epoch(tr.tensors(xyz))
    assert "pos" not in rec and np.isfinite(rec["total"])
    with pytest.raises(ValueError, match="rot6d|rotation"):
        MotionSpec.from_motionset(xyz, trans=True)
    other = dataclasses.replace(demo.layout, name="smpl24_copy")
    spec = MotionSpec(other, "rot6d", demo.class_names)
    with pytest.raises(ValueError, match="rest skeleton"):
        GeneratorTrainer(GeneratorTrainer.from_motionset(demo, cfg()).model, cfg(), spec)
    with pytest.raises(ValueError, match="no 'trans'"):
        motion_tensors(demo.with_data(demo.data, trans=None), MotionSpec(demo.layout, "rot6d", demo.class_names,
                                                                         trans=True))


def test_samples_keep_the_training_data_root_constraint(tmp_path):
    from infagenc.data.preprocess import root_relative
    xyz = root_relative(make_demo(num_subjects=1, per_class=2, seed=1, rep="xyz", min_len=10, max_len=14))
    c = xyz.layout.center
    tr = GeneratorTrainer.from_motionset(xyz, cfg())
    assert tr.spec.root == "per_frame"
    tr.train_epoch(tr.tensors(xyz))
    ms = sample_motionset(tr.model, tr.spec, per_class=3, length=12, seed=0)
    assert np.abs(ms.data[:, :, c][ms.frame_mask()]).max() < 1e-6
    # without the constraint the decoder leaves the root off the origin (what the fix is for)
    off = GeneratorTrainer.from_motionset(xyz, cfg(keep_root=False))
    assert off.spec.root == "none"
    raw = sample_motionset(tr.model, dataclasses.replace(tr.spec, root="none"), per_class=3, length=12, seed=0)
    assert np.abs(raw.data[:, :, c]).mean() > 1e-3
    # the other joints move with the root: the projection is raw minus the raw root
    assert np.allclose(ms.data, raw.data - raw.data[:, :, c:c + 1], atol=1e-6)
    # first-frame data: only frame 0's root is pinned
    ff = root_relative(make_demo(num_subjects=1, per_class=2, seed=1, rep="xyz", min_len=10, max_len=14),
                       "first_frame")
    tf = GeneratorTrainer.from_motionset(ff, cfg())
    assert tf.spec.root == "first_frame"
    s = sample_motionset(tf.model, tf.spec, per_class=2, length=12, seed=0)
    assert np.abs(s.data[:, 0, c]).max() < 1e-6 and np.abs(s.data[:, 1:, c]).max() > 1e-4
    # the constraint travels with the checkpoint; a checkpoint without it loads as "none"
    tr.save(tmp_path / "g.pt")
    assert load_generator(tmp_path / "g.pt", "cpu")[1].root == "per_frame"
    d = tr.spec.to_dict()
    del d["root"]
    assert MotionSpec.from_dict(d).root == "none"
    with pytest.raises(ValueError, match="root"):
        MotionSpec(xyz.layout, "xyz", xyz.class_names, root="per_sample")


def test_cli_train_resume_and_sample(demo, tmp_path, capsys):
    from infagenc.cli import main
    from infagenc.data.readers import read

    data = demo.save(tmp_path / "train.npz")
    out = tmp_path / "run"
    args = ["generator", "train", "--data", str(data), "--size", "slim", "--frames", "10", "--out", str(out),
            "--seed", "3", "--batch-size", "4", "--no-progress", "--eval-every", "1", "--trans"]
    assert main(args + ["--epochs", "1"]) == 0
    assert main(args + ["--epochs", "2"]) == 0  # resumes at epoch 1
    assert "resuming" in capsys.readouterr().out
    hist = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in hist] == [1, 2] and "eval_rec" in hist[0]
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["generator"]["seed"] == 3 and cfg["generator"]["trans"] and cfg["data"]["frames"] == 10
    assert main(["generator", "sample", "--checkpoint", str(out / "generator.pt"), "--per-class", "2",
                 "--frames", "7", "--seed", "1", "--out", str(tmp_path / "syn.npz"), "--no-progress"]) == 0
    syn = MotionSet.load(tmp_path / "syn.npz")
    assert len(syn) == 8 and syn.num_frames == 7 and syn.is_synthetic.all() and set(syn.epoch) == {2}
    assert set(syn.run) == {"run"} and syn.trans is not None
    assert main(["generator", "sample", "--checkpoint", str(out / "generator.pt"), "--per-class", "1",
                 "--frames", "5", "--out", str(tmp_path / "syn.pkl"), "--no-progress"]) == 0
    pk = read(tmp_path / "syn.pkl")
    assert pk.rep == "xyz" and len(pk) == 4 and pk.data.shape[1:] == (5, 24, 3)
    for cmd in (["generator"], ["generator", "train"], ["generator", "sample"]):
        with pytest.raises(SystemExit) as e:
            main(cmd + ["--help"])
        assert e.value.code == 0


def test_cli_keeps_the_root_unless_told_not_to(tmp_path):
    from infagenc.cli import main
    from infagenc.data.preprocess import root_relative

    data = root_relative(make_demo(num_subjects=1, per_class=2, seed=1, rep="xyz", min_len=10, max_len=14))
    path = data.save(tmp_path / "xyz.npz")
    base = ["generator", "train", "--data", str(path), "--size", "small", "--epochs", "1", "--batch-size", "4",
            "--no-progress"]
    assert main(base + ["--out", str(tmp_path / "kept")]) == 0
    assert main(base + ["--out", str(tmp_path / "raw"), "--no-keep-root"]) == 0
    assert load_generator(tmp_path / "kept" / "generator.pt", "cpu")[1].root == "per_frame"
    assert load_generator(tmp_path / "raw" / "generator.pt", "cpu")[1].root == "none"
    assert json.loads((tmp_path / "raw" / "config.json").read_text())["generator"]["keep_root"] is False
