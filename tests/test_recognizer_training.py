"""Training, inference, evaluation, checkpoints and the CLI of the recognizers."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from infagenc.cli import main
from infagenc.data.demo import make_demo
from infagenc.data.preprocess import Preprocess, fixed_length, root_relative
from infagenc.train.augment import AugmentConfig
from infagenc.train.batching import to_tensors
from infagenc.train.checkpoint import CheckpointError, save_checkpoint
from infagenc.train.recognizer import (
    RecognizerConfig,
    RecognizerTrainer,
    evaluate,
    load_recognizer,
    load_recognizer_with_meta,
    new_recognizer,
    predict,
    save_recognizer,
)
from infagenc.train.schedule import lr_at


@pytest.fixture(scope="module")
def tiny():
    """8 made-up sequences: 4 classes x 2 subjects, 12 frames, root-relative xyz."""
    ms = make_demo(num_subjects=2, per_class=1, seed=0, rep="xyz", min_len=20, max_len=30)
    return fixed_length(root_relative(ms), 12)


def trainer_for(ms, **kw):
    cfg = RecognizerConfig(**{"model": "stgcn", "size": "slim", "batch_size": 4, "seed": 0, "device": "cpu", **kw})
    return RecognizerTrainer(new_recognizer(cfg, ms.layout, ms.channels, ms.num_classes), cfg)


def params(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_tiny_overfit_reaches_full_accuracy(tiny):
    # single-sample batches: many optimiser steps, so batch-norm running statistics settle
    tr = trainer_for(tiny, batch_size=1, lr=3e-3, epochs=12, model_options={"dropout": 0.0})
    hist = tr.fit(tiny, progress=False)
    assert hist[-1]["acc"] == 1.0
    report = evaluate(tr.model, tiny, split="train")  # eval mode, running statistics
    assert report.overall == 1.0


def test_same_seed_same_numbers_and_seed_matters(tiny):
    a, b, c = trainer_for(tiny), trainer_for(tiny), trainer_for(tiny, seed=1)
    ha, hb, hc = (t.fit(tiny, epochs=2, progress=False) for t in (a, b, c))
    assert [r["loss"] for r in ha] == [r["loss"] for r in hb]
    assert torch.equal(params(a.model), params(b.model))
    assert not torch.equal(params(a.model), params(c.model))


# the small-data recipe, every part on: augmentation (its draws), AdamW, smoothing, schedule
RECIPE = {"augment": AugmentConfig.strong(repeat=2, crop_min=0.8, jitter=0.02, shear=0.1, mirror=0.5),
          "optimizer": "adamw", "weight_decay": 0.05, "label_smoothing": 0.1, "schedule": "cosine",
          "warmup_epochs": 1, "epochs": 3, "model_options": {"head_dropout": 0.3}}


@pytest.mark.parametrize("recipe", [{}, RECIPE], ids=["plain", "recipe"])
def test_resume_repeats_an_uninterrupted_run(tiny, tmp_path, recipe):
    straight = trainer_for(tiny, **recipe)  # dropout 0.5 on: its masks must be reproduced too
    straight.fit(tiny, epochs=3, progress=False)
    first = trainer_for(tiny, **recipe)
    first.fit(tiny, epochs=2, progress=False)
    path = first.save(tmp_path / "t.pt")
    resumed = RecognizerTrainer.load(path, device="cpu")
    assert resumed.epoch == 2 and len(resumed.history) == 2
    resumed.fit(tiny, epochs=1, progress=False)
    assert torch.equal(params(resumed.model), params(straight.model))
    assert resumed.history[-1]["loss"] == straight.history[-1]["loss"]
    assert resumed.history[-1]["epoch"] == 3
    assert resumed.cfg == straight.cfg and type(resumed.optimizer) is type(straight.optimizer)


def test_target_accuracy_stops_early(tiny):
    tr = trainer_for(tiny, target_accuracy=0.3, epochs=8)
    hist = tr.fit(tiny, progress=False)
    assert "stopped" in hist[-1] and len(hist) < 8 and tr.epoch == len(hist)
    assert hist[-1]["acc"] >= 0.3 and all(r["acc"] < 0.3 for r in hist[:-1])
    val = tiny.select(subjects=["demo02"])
    tr = trainer_for(tiny, target_accuracy=1.0, epochs=2)
    hist = tr.fit(tiny.select(subjects=["demo01"]), val, progress=False)
    assert all("val_acc" in r and "val_loss" in r for r in hist)
    assert len(hist) == 2 or hist[-1]["val_acc"] == 1.0


def test_predict_and_evaluate(tiny):
    tr = trainer_for(tiny)
    tr.fit(tiny, epochs=1, progress=False)
    p = predict(tr.model, tiny, batch_size=3)
    assert p.probs.shape == (8, 4) and p.features.shape == (8, tr.model.feature_dim)
    np.testing.assert_allclose(p.probs.sum(1), 1.0, rtol=1e-5)
    assert np.array_equal(p.pred, p.probs.argmax(1))
    assert np.array_equal(p.labels, tiny.labels)
    assert np.allclose(p.confidence, p.probs.max(1))
    whole = predict(tr.model, to_tensors(tiny), batch_size=64)  # batching changes nothing in eval mode
    np.testing.assert_allclose(whole.features, p.features, rtol=1e-4, atol=1e-5)
    tr.model.train()
    predict(tr.model, tiny)
    assert tr.model.training  # the caller's mode is restored
    rep = evaluate(tr.model, tiny, split="train")
    assert rep.overall == pytest.approx(float((p.pred == tiny.labels).mean()))
    assert rep.confusion.sum() == 8 and set(rep.per_subject) == {"demo01", "demo02"}


def test_bf16_training_epoch(tiny):
    tr = trainer_for(tiny, precision="bf16")
    rec = tr.fit(tiny, epochs=1, progress=False)[0]
    assert np.isfinite(rec["loss"])


def test_mismatched_data_refused(tiny):
    tr = trainer_for(tiny)
    with pytest.raises(ValueError, match="does not match"):
        tr.fit(make_demo(num_subjects=1, per_class=1, rep="rot6d", min_len=5, max_len=6), progress=False)


@pytest.mark.parametrize("model", ["stgcn", "msg3d"])
def test_checkpoint_round_trip(tiny, tmp_path, model):
    cfg = RecognizerConfig(model=model, size="slim", seed=3)
    m = new_recognizer(cfg, tiny.layout, tiny.channels, tiny.num_classes).eval()
    path = save_recognizer(tmp_path / "m.pt", m, meta={"note": "x"})
    m2, meta = load_recognizer_with_meta(path)
    assert meta["note"] == "x" and meta["recognizer"]["model"] == model
    x = torch.as_tensor(tiny.data)
    with torch.no_grad():
        assert torch.equal(m(x), m2(x))
        assert torch.equal(m.features(x), load_recognizer(path).features(x))


class Payload:  # a custom object: a pickle of it runs code on load
    def __reduce__(self):
        return (print, ("owned",))


def test_checkpoint_with_pickled_object_refused(tmp_path, tiny):
    m = new_recognizer(RecognizerConfig(size="slim"), tiny.layout, 3, 4)
    bad = tmp_path / "bad.pt"
    torch.save({"state_dict": m.state_dict(), "meta": {"recognizer": m.spec(), "x": Payload()}}, bad)
    with pytest.raises(CheckpointError, match="refused"):
        load_recognizer(bad)
    plain = save_checkpoint(tmp_path / "plain.pt", m.state_dict(), {"no": "description"})
    with pytest.raises(CheckpointError, match="not a recognizer checkpoint"):
        load_recognizer(plain)


def test_cli_train_and_eval(tmp_path):
    ms = make_demo(num_subjects=3, per_class=1, seed=1, rep="xyz", min_len=10, max_len=14)
    data = ms.save(tmp_path / "demo.npz")
    out = tmp_path / "run"
    rc = main(["recognizer", "train", "--data", str(data), "--model", "stgcn", "--size", "slim", "--epochs", "2",
               "--frames", "8", "--root", "per_frame", "--test-subjects", "demo03", "--val-subjects", "demo02",
               "--out", str(out), "--seed", "5", "--no-progress"])
    assert rc == 0
    for f in ("config.json", "recognizer.pt", "history.json", "report.json", "report.md", "confusion.png"):
        assert (out / f).is_file(), f
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["test_subjects"] == ["demo03"] and cfg["val_subjects"] == ["demo02"]
    assert cfg["recognizer"]["seed"] == 5
    assert Preprocess.from_dict(cfg["preprocess"]) == Preprocess(frames=8, root="per_frame")
    report = json.loads((out / "report.json").read_text())
    assert report["split"] == "test" and report["samples"] == 4
    assert [r["subject"] for r in report["per_subject"]] == ["demo03"]
    assert len(json.loads((out / "history.json").read_text())) == 2
    rc = main(["recognizer", "eval", "--checkpoint", str(out / "recognizer.pt"), "--data", str(data),
               "--subjects", "demo03", "--out", str(tmp_path / "ev"), "--no-progress"])
    assert rc == 0
    again = json.loads((tmp_path / "ev" / "report.json").read_text())
    assert again["confusion"] == report["confusion"]  # preprocessing re-applied from the checkpoint


def test_config_round_trip_and_checks():
    cfg = RecognizerConfig(model="msg3d", size="slim", target_accuracy=0.85, model_options={"g3d_scales": 2})
    again = RecognizerConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg
    with pytest.raises(ValueError, match=r"recognizer config: unknown key\(s\) \[.momentum.\]"):
        RecognizerConfig.from_dict({**cfg.to_dict(), "momentum": 0.9})
    with pytest.raises(ValueError, match="precision"):
        RecognizerConfig(precision="fp16")
    with pytest.raises(ValueError, match="target_accuracy"):
        RecognizerConfig(target_accuracy=85)


def test_augmentation_is_seeded_and_changes_training(tiny):
    aug = {"augment": AugmentConfig.moderate(jitter=0.02)}
    a, b, plain = trainer_for(tiny, **aug), trainer_for(tiny, **aug), trainer_for(tiny)
    for t in (a, b, plain):
        t.fit(tiny, epochs=2, progress=False)
    assert torch.equal(params(a.model), params(b.model))
    assert not torch.equal(params(a.model), params(plain.model))
    other = trainer_for(tiny, seed=0, augment=AugmentConfig.moderate(jitter=0.03))
    other.fit(tiny, epochs=2, progress=False)
    assert not torch.equal(params(a.model), params(other.model))


def test_tiny_overfit_with_augmentation(tiny):
    # the strong preset (rotation +-60 degrees, scale 0.5-1.5, 5 repeats) still lets a small
    # model learn the training set: measured unaugmented, in eval mode. The running accuracy on
    # the augmented samples reaches 1 and stays high; its last epoch's exact value depends on the
    # CPU's floats (1.0 on AVX2, 0.975 = 39 of 40 on AVX-512), so it is not pinned
    tr = trainer_for(tiny, batch_size=1, lr=3e-3, epochs=6, model_options={"dropout": 0.0},
                     augment=AugmentConfig.strong())
    hist = tr.fit(tiny, progress=False)
    assert max(h["acc"] for h in hist) == 1.0 and hist[-1]["acc"] >= 0.9 and hist[0]["acc"] < 0.9
    assert evaluate(tr.model, tiny, split="train").overall == 1.0


def test_rotation_data_refuse_augmentation():
    rot = make_demo(num_subjects=1, per_class=1, rep="rot6d", min_len=8, max_len=9)
    tr = trainer_for(rot, augment=AugmentConfig(rotate_deg=10))
    with pytest.raises(ValueError, match="joint positions .* not to 'rot6d' data"):
        tr.fit(rot, epochs=1, progress=False)
    ts = to_tensors(rot)
    with pytest.raises(ValueError, match="representation"):
        tr.train_epoch(ts)  # never fitted: the representation is unknown
    with pytest.raises(ValueError, match="'rot6d'"):
        tr.train_epoch(ts, rep="rot6d")
    trainer_for(rot, augment=AugmentConfig(repeat=2)).fit(rot, epochs=1, progress=False)  # repeat alone: fine


def test_repeat_passes_over_the_set(tiny):
    tr = trainer_for(tiny, augment=AugmentConfig(repeat=3))  # 8 samples, batches of 4
    tr.fit(tiny, epochs=1, progress=False)
    steps = {int(st["step"]) for st in tr.optimizer.state.values()}
    assert steps == {6}


def test_label_smoothing_loss_by_hand(tiny):
    import copy

    eps, n = 0.2, len(tiny)
    tr = trainer_for(tiny, batch_size=n, label_smoothing=eps, model_options={"dropout": 0.0})
    before = copy.deepcopy(tr.model).train()
    rec = tr.fit(tiny, epochs=1, progress=False)[0]
    ts = to_tensors(tiny)
    with torch.no_grad():
        logp = torch.log_softmax(before(ts.x, ts.lengths), dim=1)  # the one batch, before the step
    nll = -logp[torch.arange(n), ts.labels]
    by_hand = float(((1 - eps) * nll - eps * logp.mean(dim=1)).mean())
    assert rec["loss"] == pytest.approx(by_hand, rel=1e-5)
    assert by_hand != pytest.approx(float(nll.mean()), rel=1e-3)  # smoothing changes the value


def test_lr_schedule_values_and_trainer():
    lr = 1e-3
    assert lr_at(0, lr, "cosine", 10, 2) == pytest.approx(5e-4)
    assert lr_at(1, lr, "cosine", 10, 2) == pytest.approx(lr)  # warm-up ends at the full rate
    assert lr_at(2, lr, "cosine", 10, 2) == pytest.approx(lr)  # the cosine starts there
    last = lr * 0.5 * (1 + np.cos(np.pi * 7 / 8))
    assert lr_at(9, lr, "cosine", 10, 2) == pytest.approx(last)  # the last epoch
    assert lr_at(15, lr, "cosine", 10, 2) == pytest.approx(last)  # later updates keep it
    assert lr_at(0, lr, "cosine", 4) == lr  # no warm-up: the full rate at once
    assert lr_at(3, lr, "cosine", 4) == pytest.approx(lr * 0.5 * (1 + np.cos(0.75 * np.pi)))
    assert [lr_at(e, lr, "constant", 10, 4) for e in (0, 3, 9)] == [lr / 4, lr, lr]
    assert lr_at(7, lr) == lr
    with pytest.raises(ValueError, match="schedule"):
        lr_at(0, lr, "step")
    with pytest.raises(ValueError, match="schedule"):
        RecognizerConfig(schedule="linear")


def test_trainer_follows_the_schedule(tiny):
    tr = trainer_for(tiny, schedule="cosine", warmup_epochs=1, epochs=3, lr=2e-3)
    hist = tr.fit(tiny, progress=False)
    assert [r["lr"] for r in hist] == pytest.approx([2e-3, 2e-3, 2e-3 * 0.5 * (1 + np.cos(np.pi / 2))])
    assert tr.optimizer.param_groups[0]["lr"] == pytest.approx(hist[-1]["lr"])
    assert "lr" not in trainer_for(tiny).fit(tiny, epochs=1, progress=False)[0]  # constant: history as before


def test_weight_decay_reaches_the_optimizer(tiny, tmp_path):
    adam = trainer_for(tiny, weight_decay=1e-4)
    assert type(adam.optimizer) is torch.optim.Adam and adam.optimizer.param_groups[0]["weight_decay"] == 1e-4
    adamw = trainer_for(tiny, optimizer="adamw", weight_decay=0.05)
    assert type(adamw.optimizer) is torch.optim.AdamW
    assert adamw.optimizer.param_groups[0]["weight_decay"] == 0.05
    adamw.fit(tiny, epochs=1, progress=False)
    again = RecognizerTrainer.load(adamw.save(tmp_path / "w.pt"), device="cpu")
    assert type(again.optimizer) is torch.optim.AdamW and again.optimizer.param_groups[0]["weight_decay"] == 0.05
    with pytest.raises(ValueError, match="optimizer"):
        RecognizerConfig(optimizer="sgd")


def test_validation_never_changes_the_weights(tiny):
    # no epoch is chosen by a held-out set: with or without val, the last epoch's weights
    train, val = tiny.select(subjects=["demo01"]), tiny.select(subjects=["demo02"])
    a, b = trainer_for(tiny, epochs=3), trainer_for(tiny, epochs=3)
    a.fit(train, val, progress=False)
    b.fit(train, progress=False)
    assert torch.equal(params(a.model), params(b.model)) and a.epoch == b.epoch == 3
