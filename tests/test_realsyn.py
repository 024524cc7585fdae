"""Real/synthetic-aware training: loss weights, separate batches, DANN, LMMD, two stages."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from infagenc.data.demo import make_demo
from infagenc.data.motionset import MotionSet
from infagenc.data.preprocess import fixed_length, root_relative
from infagenc.train.realsyn import RealSynConfig, loss_weights, mixed_batches, weighted_ce
from infagenc.train.recognizer import RecognizerConfig, RecognizerTrainer, new_recognizer


@pytest.fixture(scope="module")
def real_syn():
    """8 real + 8 'synthetic' made-up sequences (4 classes), 12 frames, root-relative xyz."""
    real = fixed_length(root_relative(make_demo(num_subjects=2, per_class=1, seed=0, rep="xyz",
                                                min_len=20, max_len=30)), 12)
    other = fixed_length(root_relative(make_demo(num_subjects=2, per_class=1, seed=5, rep="xyz",
                                                 min_len=20, max_len=30)), 12)
    syn = other.subset(np.arange(len(other)))
    syn.source = np.array(["synthetic"] * len(syn))
    return real, MotionSet.concat([real, syn])


def trainer_for(ms, realsyn=None, **kw):
    cfg = RecognizerConfig(**{"model": "stgcn", "size": "slim", "batch_size": 4, "seed": 0, "device": "cpu",
                              "epochs": 2, "realsyn": realsyn or RealSynConfig(), **kw})
    return RecognizerTrainer(new_recognizer(cfg, ms.layout, ms.channels, ms.num_classes), cfg)


def params(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_loss_weights_by_hand():
    labels, syn = np.array([0, 0, 1]), np.array([False, True, False])
    # class weights N / (K n_c): 3 / (2 * 2) = 0.75 and 3 / (2 * 1) = 1.5; the synthetic one x 0.5
    np.testing.assert_allclose(loss_weights(labels, syn, 2, 0.5, "loss"), [0.75, 0.375, 1.5])
    np.testing.assert_allclose(loss_weights(labels, syn, 2, 0.5, "none"), [1, 0.5, 1])
    assert loss_weights(labels, syn, 2, 1.0, "none") is None  # all ones: the unweighted path
    with pytest.raises(ValueError, match="class_balance"):
        loss_weights(labels, syn, 2, 1.0, "sampler")


def test_weighted_ce_by_hand():
    logits = torch.zeros(2, 2)  # each sample's cross-entropy is ln 2
    got = weighted_ce(logits, torch.tensor([0, 1]), torch.tensor([1.0, 0.5]), 0.0)
    assert float(got) == pytest.approx(0.75 * math.log(2))
    assert float(weighted_ce(logits, torch.tensor([0, 1]), None, 0.0)) == pytest.approx(math.log(2))


def test_mixed_batches_hold_both_sources_in_the_ratio():
    real, syn = torch.arange(10), torch.arange(10, 13)
    g = torch.Generator().manual_seed(0)
    batches = mixed_batches(real, syn, batch_size=4, ratio=0.25, repeat=2, rng=g)
    assert all(int((b >= 10).sum()) == 1 for b in batches)  # round(4 * 0.25) = 1 synthetic per batch
    reals = torch.cat([b[b < 10] for b in batches])
    assert torch.equal(torch.bincount(reals, minlength=10), torch.full((10,), 2))  # each real twice
    syns = torch.cat([b[b >= 10] for b in batches])
    assert len(syns) == len(batches) and set(syns.tolist()) == {10, 11, 12}  # the stream cycles
    with pytest.raises(ValueError, match="both sources"):
        mixed_batches(real, syn[:0], 4, 0.5, 1, g)


def test_config_checks():
    with pytest.raises(ValueError, match="syn_ratio"):
        RealSynConfig(syn_ratio=1.0)
    with pytest.raises(ValueError, match="two-stage"):
        RealSynConfig(syn_epochs=3, dann_weight=1.0)
    assert RealSynConfig(dann_weight=0.5, lmmd_weight=1.0).technique == "DANN 0.5, LMMD 1"
    cfg = RecognizerConfig.from_dict({"realsyn": {"syn_weight": 0.5}, "class_balance": "loss"})
    assert cfg.realsyn.syn_weight == 0.5 and cfg.to_dict()["realsyn"]["syn_weight"] == 0.5


def test_zero_synthetic_weight_gives_no_gradient(real_syn):
    _, both = real_syn
    only_syn = both.subset(np.flatnonzero(both.is_synthetic))
    tr = trainer_for(only_syn, RealSynConfig(syn_weight=0.0))
    before = params(tr.model)
    tr.fit(only_syn, epochs=1, progress=False)
    assert torch.equal(params(tr.model), before)  # Adam's step of a zero gradient is zero
    plain = trainer_for(only_syn)
    plain.fit(only_syn, epochs=1, progress=False)
    assert not torch.equal(params(plain.model), before)


def test_options_change_nothing_without_synthetic_samples(real_syn):
    real, _ = real_syn
    a = trainer_for(real)
    b = trainer_for(real, RealSynConfig(dann_weight=1.0, lmmd_weight=1.0, syn_ratio=0.5, syn_weight=0.3))
    ha, hb = a.fit(real, progress=False), b.fit(real, progress=False)
    assert [r["loss"] for r in ha] == [r["loss"] for r in hb]
    assert torch.equal(params(a.model), params(b.model))


def test_dann_and_lmmd_train_and_resume_exactly(real_syn, tmp_path):
    _, both = real_syn
    rs = RealSynConfig(dann_weight=1.0, lmmd_weight=0.5, ramp="constant")
    a = trainer_for(both, rs)
    disc0 = torch.cat([p.detach().flatten() for p in a.domain.parameters()])
    hist = a.fit(both, progress=False)
    assert all("domain_loss" in r and "lmmd" in r and r["lmmd"] >= 0 for r in hist)
    disc1 = torch.cat([p.detach().flatten() for p in a.domain.parameters()])
    assert not torch.equal(disc0, disc1)  # the domain classifier learns
    b = trainer_for(both, rs)
    b.fit(both, epochs=1, progress=False)
    b.save(tmp_path / "half.pt")
    c = RecognizerTrainer.load(tmp_path / "half.pt")
    c.fit(both, epochs=1, progress=False)
    assert torch.equal(params(c.model), params(a.model))
    assert torch.equal(torch.cat([p.detach().flatten() for p in c.domain.parameters()]), disc1)


def test_ratio_changes_training_and_dann_changes_the_backbone(real_syn):
    _, both = real_syn
    plain = trainer_for(both)
    plain.fit(both, progress=False)
    ratio = trainer_for(both, RealSynConfig(syn_ratio=0.25))
    ratio.fit(both, progress=False)
    lmmd_only = trainer_for(both, RealSynConfig(syn_ratio=0.25, lmmd_weight=5.0, ramp="constant"))
    lmmd_only.fit(both, progress=False)
    assert not torch.equal(params(plain.model), params(ratio.model))
    assert not torch.equal(params(ratio.model), params(lmmd_only.model))  # same batches, extra loss


def test_two_stage_trains_syn_then_real(real_syn):
    real, both = real_syn
    tr = trainer_for(both, RealSynConfig(syn_epochs=2), epochs=3, schedule="cosine")
    hist = tr.fit(both, real, progress=False)
    assert [r["stage"] for r in hist] == ["Syn", "Syn", "Real", "Real", "Real"]
    assert [r["lr"] for r in hist][2] == pytest.approx(1e-3)  # the schedule restarts with stage 2
    assert "val_acc" not in hist[0] and "val_acc" in hist[-1]
    assert tr.epoch == 5 and (tr.stage_start, tr.stage_epochs) == (2, 3)


# ------------------------------------------------------------------------- the guard
def test_decide_keeps_real_unless_validation_sees_a_gain():
    from infagenc.train.guard import decide
    # a clear gain: +10 points on every fold (se 0), 20 validation samples per fold (margin 5 points)
    chosen, why = decide({"real": [0.6, 0.7, 0.8], "real_syn": [0.7, 0.8, 0.9]}, [20, 20, 20])
    assert chosen == "real_syn" and "beats Real" in why
    # a mean gain smaller than its standard error: Real kept
    chosen, why = decide({"real": [0.6, 0.7, 0.8], "real_syn": [0.9, 0.6, 0.75]}, [20, 20, 20])
    assert chosen == "real" and "cannot tell" in why
    # a gain below one validation sample (1/5 = 20 points): Real kept
    chosen, _ = decide({"real": [0.6, 0.6], "real_syn": [0.7, 0.7]}, [5, 5])
    assert chosen == "real"
    # Real best: Real
    assert decide({"real": [0.9, 0.9], "real_syn": [0.5, 0.6]}, [10, 10])[0] == "real"


def test_candidates_cover_every_declared_technique():
    from infagenc.train.guard import GuardConfig, candidate_configs
    base = RecognizerConfig(epochs=10)
    c = candidate_configs(base, GuardConfig(syn_weights=(0.25, 0.5)))
    assert list(c) == ["real", "real_syn", "real_syn:weight=0.25", "real_syn:weight=0.5", "real_syn:ratio",
                       "real_syn:dann", "real_syn:lmmd", "real_syn:two_stage"]
    assert c["real_syn:two_stage"].realsyn.syn_epochs == 5 and c["real_syn:dann"].realsyn.dann_weight > 0
    with pytest.raises(ValueError, match="unknown"):
        GuardConfig(techniques=("mixup",))


def test_guard_runs_on_subject_folds(real_syn):
    from infagenc.train.guard import GuardConfig, choose_synthetic
    real, both = real_syn
    syn = both.subset(np.flatnonzero(both.is_synthetic))
    cfg = RecognizerConfig(model="stgcn", size="slim", batch_size=4, epochs=1, device="cpu")
    res = choose_synthetic(cfg, real, syn, GuardConfig(techniques=("plain", "dann"), folds=2), progress=False)
    assert set(res.folds) == {"real", "real_syn", "real_syn:dann"}
    assert all(len(v) == 2 for v in res.folds.values())
    d = res.to_dict()
    assert d["chosen"] in res.folds and d["reason"] and len(d["table"]) == 3
    with pytest.raises(ValueError, match="synthetic"):
        choose_synthetic(cfg, real, real, GuardConfig(folds=2), progress=False)


def test_guard_takes_a_synthetic_set_per_fold_made_without_its_validation_subjects(real_syn):
    from infagenc.data.splits import subject_kfold
    from infagenc.train.guard import GuardConfig, choose_synthetic
    real, both = real_syn
    syn = both.subset(np.flatnonzero(both.is_synthetic))
    seen = []

    def per_fold(fold, fit_real):  # a stand-in for a generator trained on fit_real only
        seen.append((fold, sorted(set(fit_real.subjects.tolist()))))
        return syn

    cfg = RecognizerConfig(model="stgcn", size="slim", batch_size=4, epochs=1, device="cpu")
    res = choose_synthetic(cfg, real, per_fold, GuardConfig(techniques=("plain",), folds=2), progress=False)
    want = [sorted(set(f.subjects.tolist())) for f, _ in subject_kfold(real, 2, seed=0)]
    assert seen == [(0, want[0]), (1, want[1])]  # once per fold, on the fold's training subjects only
    vals = [set(v.subjects.tolist()) for _, v in subject_kfold(real, 2, seed=0)]
    assert all(not vals[i] & set(s) for i, s in seen)
    d = res.to_dict()
    assert d["fold_synthetic"] is True and "that fold's training part only" in d["caveat"]
    shared = choose_synthetic(cfg, real, syn, GuardConfig(techniques=("plain",), folds=2), progress=False)
    assert shared.to_dict()["fold_synthetic"] is False and "optimistic" in shared.to_dict()["caveat"]
    with pytest.raises(ValueError, match="synthetic"):  # a fold's set must be synthetic too
        choose_synthetic(cfg, real, lambda i, f: f, GuardConfig(techniques=("plain",), folds=2), progress=False)
