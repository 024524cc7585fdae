"""The MDM diffusion generator: schedule, loss, DDIM with guidance, training, resume, sampling
(tiny configs, CPU)."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from infagenc.data.demo import make_demo
from infagenc.data.motionset import MotionSet
from infagenc.data.preprocess import root_constraint, root_relative
from infagenc.models.cvae import CVAEConfig
from infagenc.models.mdm import MDM, MDMConfig
from infagenc.skeleton.rotations import rot6d_to_matrix
from infagenc.train.diffusion import (DiffusionConfig, DiffusionTrainer, alphas_cumprod, cosine_betas, ddim_sample,
                                      ddim_timesteps, diffusion_losses, guided_x0, load_diffusion, q_sample,
                                      sample_diffusion)
from infagenc.train.generator import GeneratorConfig, GeneratorTrainer, MotionSpec

TINY = MDMConfig(num_layers=1, d_model=32, num_heads=2, ff_size=64, dropout=0.1, diffusion_steps=100)


@pytest.fixture(scope="module")
def demo() -> MotionSet:
    # 8 sequences of 8..12 frames, 4 classes, rot6d + trans
    return make_demo(num_subjects=1, per_class=2, seed=0, min_len=8, max_len=12)


def cfg(**kw) -> DiffusionConfig:
    return DiffusionConfig(**{"mdm": TINY, "batch_size": 4, "epochs": 2, "device": "cpu", "lr": 1e-3,
                              "sampling_steps": 5, **kw})


def tiny_model(num_classes=3, v=2, c=3, **kw) -> MDM:
    torch.manual_seed(0)
    return MDM(num_classes, v, c, dataclasses.replace(TINY, **kw)).eval()


# ------------------------------------------------------------------ configs
def test_config_defaults_round_trip_and_errors():
    m = MDMConfig()
    assert (m.num_layers, m.d_model, m.num_heads, m.ff_size, m.dropout) == (2, 64, 4, 128, 0.1)
    assert (m.diffusion_steps, m.cond_drop_prob) == (1000, 0.1)
    assert MDMConfig.of_size("paper").d_model == 512 and MDMConfig.of_size("small") == MDMConfig()
    c = DiffusionConfig()
    assert (c.lambda_x0, c.lambda_pos, c.lambda_vel, c.lr, c.batch_size) == (1.0, 1.0, 1.0, 1e-4, 16)
    assert (c.sampling_steps, c.guidance, c.precision) == (50, 1.0, "fp32")
    assert DiffusionConfig.from_dict(cfg(guidance=2.5).to_dict()) == cfg(guidance=2.5)
    with pytest.raises(ValueError, match="sampling_steps must lie in 1..100"):
        cfg(sampling_steps=101)
    with pytest.raises(ValueError, match="guidance"):
        cfg(guidance=-1)
    with pytest.raises(ValueError, match="cond_drop_prob"):
        MDMConfig(cond_drop_prob=1.0)
    with pytest.raises(ValueError, match="unknown key"):
        DiffusionConfig.from_dict({"mdm": {"layers": 3}})


# ----------------------------------------------------------------- schedule
def test_alphas_cumprod_falls_from_one_to_zero():
    abar = alphas_cumprod(cosine_betas(1000))
    assert abar.shape == (1000,) and abar.dtype == torch.float64
    assert abar[0] > 0.9999 and abar[-1] < 1e-4
    assert torch.all(abar[1:] < abar[:-1])
    betas = cosine_betas(1000)
    assert betas.max() <= 0.999 and betas.min() > 0


def test_q_sample_matches_the_formula():
    abar = alphas_cumprod(cosine_betas(50))
    x0, eps = torch.randn(3, 4, 2, 3), torch.randn(3, 4, 2, 3)
    t = torch.tensor([0, 17, 49])
    xt = q_sample(x0, t, eps, abar)
    for i, ti in enumerate(t.tolist()):
        a = float(abar[ti])
        torch.testing.assert_close(xt[i], math.sqrt(a) * x0[i] + math.sqrt(1 - a) * eps[i])
    with pytest.raises(ValueError, match="do not match"):
        q_sample(x0, t[:2], eps, abar)


# ---------------------------------------------------------------- the model
def test_model_padding_and_null_class():
    m = tiny_model()
    x, t, lab = torch.randn(2, 6, 2, 3), torch.tensor([5, 80]), torch.tensor([0, 2])
    out = m(x, t, lab, torch.tensor([6, 4]))
    assert out.shape == x.shape and torch.all(out[1, 4:] == 0)
    # a sequence alone gives the same real frames as inside a padded batch
    torch.testing.assert_close(m(x[1:, :4], t[1:], lab[1:]), out[1:, :4], atol=1e-5, rtol=1e-5)
    # the null class changes the prediction; per-sample drop only touches the dropped sample
    unc = m(x, t, lab, drop=True)
    half = m(x, t, lab, drop=torch.tensor([False, True]))
    assert not torch.allclose(unc[0], m(x, t, lab)[0])
    torch.testing.assert_close(half[1], unc[1])
    torch.testing.assert_close(half[0], m(x, t, lab)[0])
    with pytest.raises(ValueError, match="labels must lie in 0..2"):
        m(x, t, torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="diffusion steps"):
        m(x, torch.tensor([0, 100]), lab)


# ----------------------------------------------------------- DDIM and CFG
def test_ddim_one_step_returns_the_x0_prediction_at_the_last_step():
    m = tiny_model()
    abar = alphas_cumprod(cosine_betas(100))
    x_T, lab, lens = torch.randn(2, 5, 2, 3), torch.tensor([1, 2]), torch.tensor([5, 5])
    assert ddim_timesteps(100, 1) == [99] and ddim_timesteps(100, 3) == [99, 50, 0]
    with torch.no_grad():
        got = ddim_sample(lambda x, t: guided_x0(m, x, t, lab, lens), x_T, abar, 1)
        want = m(x_T, torch.full((2,), 99), lab, lens)
    torch.testing.assert_close(got, want)


def test_ddim_step_follows_the_update_by_hand():
    abar = alphas_cumprod(cosine_betas(100))
    seen = []

    def denoise(x, t):
        seen.append((x.clone(), int(t[0])))
        return 0.5 * x + 1.0  # any fixed map

    x_T = torch.randn(2, 3)
    out = ddim_sample(denoise, x_T, abar, 2)
    (x1, t1), (x2, t2) = seen
    assert (t1, t2) == (99, 0)
    x0 = 0.5 * x_T + 1.0
    a, ap = float(abar[99]), float(abar[0])
    eps = (x_T - math.sqrt(a) * x0) / math.sqrt(1 - a)
    torch.testing.assert_close(x2, math.sqrt(ap) * x0 + math.sqrt(1 - ap) * eps)
    torch.testing.assert_close(out, 0.5 * x2 + 1.0)


def test_guidance_scales():
    m = tiny_model()
    x, t, lab, lens = torch.randn(2, 5, 2, 3), torch.tensor([10, 60]), torch.tensor([0, 1]), torch.tensor([5, 3])
    with torch.no_grad():
        cond, unc = m(x, t, lab, lens), m(x, t, lab, lens, drop=True)
        assert not torch.allclose(cond, unc)
        torch.testing.assert_close(guided_x0(m, x, t, lab, lens, 1.0), cond)
        torch.testing.assert_close(guided_x0(m, x, t, lab, lens, 0.0), unc)
        torch.testing.assert_close(guided_x0(m, x, t, lab, lens, 2.5), unc + 2.5 * (cond - unc),
                                   atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------- the loss
def test_loss_terms_and_weights(demo):
    x = torch.as_tensor(demo.data)
    lens = torch.as_tensor(demo.lengths)
    zero = diffusion_losses(x, x, lens, lambda_x0=1, lambda_pos=1, lambda_vel=1, positions=lambda f: f[..., :3])
    assert float(zero["total"]) == 0.0 and set(zero) == {"x0", "pos", "vel", "total"}
    off = x + 0.1 * torch.randn_like(x)
    off[0, int(lens[0]):] = 99.0  # padding never enters
    a = diffusion_losses(off, x, lens, lambda_x0=1, lambda_pos=0, lambda_vel=0)
    b = diffusion_losses(off, x, lens, lambda_x0=2, lambda_pos=0, lambda_vel=3)
    assert "pos" not in a and a["x0"] < 0.02
    assert float(b["total"]) == pytest.approx(2 * float(b["x0"]) + 3 * float(b["vel"]))


# ---------------------------------------------------------------- training
def test_loss_falls_on_a_tiny_set(demo):
    tr = DiffusionTrainer.from_motionset(demo, cfg(mdm=dataclasses.replace(TINY, dropout=0.0), batch_size=8,
                                                   lr=3e-3))
    ts = tr.tensors(demo)
    before = tr.evaluate(ts)
    for _ in range(25):
        tr.train_epoch(ts)
    after = tr.evaluate(ts)
    assert set(before) == {"x0", "pos", "vel", "total"}
    assert after["total"] < before["total"] / 10, (before, after)
    assert after["x0"] < before["x0"] / 10 and after["pos"] < before["pos"] / 3, (before, after)
    assert tr.history[-1]["total"] < tr.history[0]["total"] / 3


@pytest.mark.parametrize("p, learned", [(0.0, False), (0.5, True)])
def test_training_drops_the_class_with_cond_drop_prob(demo, p, learned):
    # the null class's embedding is trained only when training draws it
    tr = DiffusionTrainer.from_motionset(demo, cfg(mdm=dataclasses.replace(TINY, cond_drop_prob=p)))
    null = tr.model.class_embed.weight[tr.model.null_class].detach().clone()
    tr.fit(demo, epochs=1, progress=False)
    assert (not torch.equal(null, tr.model.class_embed.weight[tr.model.null_class])) == learned


def test_resume_gives_the_same_next_epoch(demo, tmp_path):
    full = DiffusionTrainer.from_motionset(demo, cfg(epochs=3))
    full.fit(demo, progress=False)
    part = DiffusionTrainer.from_motionset(demo, cfg(epochs=3))
    part.fit(demo, epochs=2, progress=False, checkpoint=tmp_path / "d.pt")
    assert part.history == full.history[:2]
    resumed = DiffusionTrainer.load(tmp_path / "d.pt", device="cpu")
    assert resumed.epoch == 2 and resumed.history == part.history and resumed.cfg == part.cfg
    resumed.fit(demo, epochs=1, progress=False)
    assert resumed.history == full.history
    for (k, p), q in zip(full.model.state_dict().items(), resumed.model.state_dict().values()):
        torch.testing.assert_close(p, q, rtol=0, atol=0, msg=k)


def test_checkpoint_kinds_are_not_mixed(demo, tmp_path):
    g = GeneratorTrainer.from_motionset(demo, GeneratorConfig(cvae=CVAEConfig(num_layers=1, d_model=16, num_heads=2,
                                                                              ff_size=16), device="cpu"))
    g.save(tmp_path / "cvae.pt")
    with pytest.raises(ValueError, match="not a diffusion-generator checkpoint"):
        DiffusionTrainer.load(tmp_path / "cvae.pt")
    d = DiffusionTrainer.from_motionset(demo, cfg())
    with pytest.raises(ValueError, match="another MDM config"):
        DiffusionTrainer(d.model, cfg(mdm=dataclasses.replace(TINY, num_layers=2)), d.spec)


# ---------------------------------------------------------------- sampling
def test_sample_diffusion_classes_lengths_seed(demo, tmp_path):
    tr = DiffusionTrainer.from_motionset(demo, cfg())
    tr.save(tmp_path / "d.pt")
    model, spec, meta = load_diffusion(tmp_path / "d.pt", device="cpu")
    req = [(0, 5), (3, 9), (2, 3)]
    a = sample_diffusion(model, spec, req, seed=7, steps=4, guidance=2.0, provenance={"run": "x", "epoch": 2})
    b = sample_diffusion(model, spec, req, seed=7, steps=4, guidance=2.0, batch_size=1,
                         provenance={"run": "x", "epoch": 2})
    c = sample_diffusion(model, spec, req, seed=8, steps=4, guidance=2.0)
    assert list(a.labels) == [0, 3, 2] and list(a.lengths) == [5, 9, 3] and a.class_names == demo.class_names
    assert set(a.source) == {"synthetic"} and set(a.seed) == {7} and set(a.epoch) == {2}
    assert a.names[0] == "syn-x-e2-s7-000000-kick"
    np.testing.assert_allclose(a.data, b.data, atol=1e-5)  # seeded, independent of batching
    assert not np.allclose(a.data, c.data)
    assert np.all(a.data[2, 3:] == 0)
    rot = rot6d_to_matrix(torch.as_tensor(a.data[0, :5]))  # proper rotations
    torch.testing.assert_close(rot @ rot.transpose(-1, -2), torch.eye(3).expand_as(rot), atol=1e-5, rtol=1e-5)
    per = sample_diffusion(model, spec, per_class=2, length=4, seed=0, steps=1)
    assert list(per.labels) == [0, 0, 1, 1, 2, 2, 3, 3] and set(per.lengths) == {4}
    with pytest.raises(ValueError, match="either requests"):
        sample_diffusion(model, spec, req, per_class=1, seed=0)
    with pytest.raises(ValueError, match="sampling steps must lie in 1..100"):
        sample_diffusion(model, spec, req, seed=0, steps=0)


def test_samples_keep_the_root_constraint_and_the_translation_joint():
    xyz = root_relative(make_demo(num_subjects=1, per_class=1, seed=1, rep="xyz", min_len=6, max_len=8), "per_frame")
    tr = DiffusionTrainer.from_motionset(xyz, cfg())
    assert tr.spec.root == "per_frame" and tr.rest is None
    out = sample_diffusion(tr.model, tr.spec, per_class=1, length=5, seed=0, steps=2)
    assert root_constraint(out) == "per_frame"
    rot = make_demo(num_subjects=1, per_class=1, seed=1, min_len=6, max_len=8)
    tt = DiffusionTrainer.from_motionset(rot, cfg(trans=True))
    assert tt.spec.num_joints == 25
    s = sample_diffusion(tt.model, tt.spec, [(1, 4)], seed=0, steps=2)
    assert s.data.shape[2] == 24 and s.trans is not None and s.trans.shape == (1, 4, 3)
    assert isinstance(tt.spec, MotionSpec)
