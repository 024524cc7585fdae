"""The recognizer and generator workflows: one Preprocess stored in the checkpoint and
re-applied (eval, resume), old preprocessing records, legacy option words."""
from __future__ import annotations

import json

import numpy as np
import pytest

from infagenc.cli import main
from infagenc.data.demo import make_demo
from infagenc.data.motionset import MotionSet
from infagenc.data.preprocess import Preprocess, fixed_length, root_relative
from infagenc.models.cvae import CVAEConfig
from infagenc.train.checkpoint import load_checkpoint, save_checkpoint
from infagenc.train.generator import GeneratorConfig, load_generator
from infagenc.train.recognizer import RecognizerConfig, evaluate, load_recognizer
from infagenc.workflows import generator as gen_wf
from infagenc.workflows.recognizer import eval_run, stored_preprocess, train_run


@pytest.fixture(scope="module")
def raw():
    """Unprocessed xyz sequences of different lengths: 4 classes x 3 subjects."""
    return make_demo(num_subjects=3, per_class=1, seed=2, rep="xyz", min_len=10, max_len=16)


def recognizer_cfg(**kw):
    return RecognizerConfig(**{"model": "stgcn", "size": "slim", "epochs": 1, "batch_size": 4, "device": "cpu",
                               **kw})


def test_eval_re_applies_the_stored_preprocess(raw, tmp_path):
    prep = Preprocess(frames=8, root="first_frame", normalize_scale=True)
    out = train_run(raw, recognizer_cfg(), tmp_path / "run", test_subjects=["demo03"], preprocess=prep,
                    progress=False)
    meta = load_checkpoint(out["checkpoint"])["meta"]
    assert meta["preprocess"] == prep.to_dict() and stored_preprocess(meta) == prep
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["preprocess"] == prep.to_dict()
    ev = eval_run(out["checkpoint"], raw, tmp_path / "ev", subjects=["demo03"], device="cpu", progress=False)
    # the same numbers as evaluating the hand-preprocessed test subject
    model = load_recognizer(out["checkpoint"])
    expected = evaluate(model, prep(raw.select(subjects=["demo03"])))
    report = json.loads((tmp_path / "ev" / "report.json").read_text())
    assert ev["accuracy"] == pytest.approx(expected.overall)
    assert report["confusion"] == expected.confusion.tolist()
    assert report == json.loads((tmp_path / "run" / "report.json").read_text())


def test_eval_reads_the_old_preprocess_record(raw, tmp_path):
    out = train_run(raw, recognizer_cfg(), tmp_path / "run", test_subjects=["demo03"],
                    preprocess=Preprocess(frames=8, root="per_frame"), progress=False)
    ck = load_checkpoint(out["checkpoint"])
    old = tmp_path / "old.pt"
    # recognizer checkpoints before Preprocess: {"frames": F, "root": None | str}, root before length
    save_checkpoint(old, ck["state_dict"], {**ck["meta"], "preprocess": {"frames": 8, "root": "per_frame"}})
    a = eval_run(out["checkpoint"], raw, tmp_path / "a", subjects=["demo03"], device="cpu", progress=False)
    b = eval_run(old, raw, tmp_path / "b", subjects=["demo03"], device="cpu", progress=False)
    assert a["accuracy"] == b["accuracy"]
    assert stored_preprocess({"preprocess": {"frames": None, "root": None}}) == Preprocess()
    assert stored_preprocess({}) == Preprocess()
    # the old order (root, then length) and the new one agree for linear resampling
    np.testing.assert_allclose(fixed_length(root_relative(raw, "per_frame"), 8).data,
                               Preprocess(frames=8, root="per_frame")(raw).data, atol=1e-6)


def test_recognizer_cli_preprocess_options_and_the_old_root_word(raw, tmp_path):
    data = raw.save(tmp_path / "raw.npz")
    base = ["recognizer", "train", "--data", str(data), "--size", "slim", "--epochs", "1", "--frames", "6",
            "--test-subjects", "demo03", "--no-progress"]
    assert main(base + ["--root", "keep", "--out", str(tmp_path / "keep")]) == 0
    assert main(base + ["--root", "first_frame", "--normalize-scale", "--out", str(tmp_path / "ns")]) == 0
    kept = json.loads((tmp_path / "keep" / "config.json").read_text())["preprocess"]
    ns = load_checkpoint(tmp_path / "ns" / "recognizer.pt")["meta"]["preprocess"]
    assert Preprocess.from_dict(kept) == Preprocess(frames=6, root="none")
    assert Preprocess.from_dict(ns) == Preprocess(frames=6, root="first_frame", normalize_scale=True)


def test_generator_run_stores_its_preprocess_and_resumes_with_it(tmp_path):
    ms = make_demo(num_subjects=1, per_class=2, seed=1, rep="xyz", min_len=10, max_len=14)
    cfg = GeneratorConfig(cvae=CVAEConfig(num_layers=1, d_model=16, num_heads=2, ff_size=32), batch_size=4,
                          epochs=1, device="cpu")
    prep = Preprocess(frames=9, root="per_frame")
    msgs: list[str] = []
    s1 = gen_wf.train_run(ms, tmp_path, cfg, preprocess=prep, progress=False, log=msgs.append)
    assert s1["epoch"] == 1 and not s1["resumed"] and not msgs
    meta = load_generator(tmp_path / "generator.pt", "cpu")[2]
    assert Preprocess.from_dict(meta["preprocess"]) == prep
    # the resume uses the checkpoint's preprocessing, whatever is passed, and says so
    s2 = gen_wf.train_run(ms, tmp_path, None, preprocess=Preprocess(frames=5), epochs=2, progress=False,
                          log=msgs.append)
    assert s2["epoch"] == 2 and s2["resumed"] and "resuming" in msgs[0] and "preprocessing" in msgs[1]
    cfg_json = json.loads((tmp_path / "config.json").read_text())
    assert cfg_json["data"]["frames"] == 9 and Preprocess.from_dict(cfg_json["data"]["preprocess"]) == prep
    assert [h["epoch"] for h in json.loads((tmp_path / "history.json").read_text())] == [1, 2]
    with pytest.raises(ValueError, match="no generator config"):
        gen_wf.train_run(ms, tmp_path / "new", None, progress=False)


def test_generator_cli_reads_the_legacy_size_small_as_slim(tmp_path):
    data = make_demo(num_subjects=1, per_class=1, seed=1, rep="xyz", min_len=6, max_len=8).save(tmp_path / "d.npz")
    base = ["generator", "train", "--data", str(data), "--epochs", "0", "--no-progress"]
    assert main(base + ["--size", "small", "--out", str(tmp_path / "small")]) == 0
    assert main(base + ["--size", "slim", "--out", str(tmp_path / "slim")]) == 0
    a, b = (json.loads((tmp_path / n / "config.json").read_text())["generator"]["cvae"] for n in ("small", "slim"))
    assert a == b == CVAEConfig.slim().to_dict()
    with pytest.raises(SystemExit):
        main(base + ["--size", "tiny", "--out", str(tmp_path / "x")])


def test_recognizer_cli_train_eval_round_trip_with_the_linear_floor(raw, tmp_path):
    data = raw.save(tmp_path / "raw.npz")
    assert main(["recognizer", "train", "--data", str(data), "--model", "linear", "--frames", "8",
                 "--root", "per_frame", "--normalize-scale", "--test-subjects", "demo03", "--val-subjects", "demo02",
                 "--out", str(tmp_path / "lin"), "--no-progress"]) == 0
    run = tmp_path / "lin"
    assert not (run / "recognizer.pt").exists()
    with np.load(run / "recognizer.npz", allow_pickle=False) as z:
        meta = json.loads(str(z["meta_json"]))
    assert Preprocess.from_dict(meta["preprocess"]) == Preprocess(frames=8, root="per_frame", normalize_scale=True)
    assert meta["config"]["model"] == "linear" and meta["recognizer"]["options"] == {"C": 1.0, "max_iter": 5000}
    history = json.loads((run / "history.json").read_text())
    assert len(history) == 1 and history[0]["converged"] and "val_acc" in history[0]
    # eval re-applies the stored preprocessing to the raw sequences: the training run's report
    assert main(["recognizer", "eval", "--checkpoint", str(run / "recognizer.npz"), "--data", str(data),
                 "--subjects", "demo03", "--out", str(tmp_path / "ev"), "--no-progress"]) == 0
    assert json.loads((tmp_path / "ev" / "report.json").read_text()) == json.loads((run / "report.json").read_text())
    # without a fixed length the floor says what to do
    assert main(["recognizer", "train", "--data", str(data), "--model", "knn", "--out", str(tmp_path / "x"),
                 "--no-progress"]) == 2


def test_recognizer_train_config_file_with_flags_over_it(raw, tmp_path):
    data = raw.save(tmp_path / "raw.npz")
    cfg_file = tmp_path / "rec.toml"
    cfg_file.write_text('model = "stgcn"\nsize = "slim"\nepochs = 3\nlr = 0.01\nbatch_size = 4\n'
                        'model_options = {dropout = 0.0}\n')
    assert main(["recognizer", "train", "--data", str(data), "--config", str(cfg_file), "--epochs", "0",
                 "--device", "cpu", "--frames", "6", "--out", str(tmp_path / "r"), "--no-progress"]) == 0
    rec = json.loads((tmp_path / "r" / "config.json").read_text())["recognizer"]
    assert (rec["epochs"], rec["lr"], rec["size"], rec["batch_size"], rec["device"]) == (0, 0.01, "slim", 4, "cpu")
    assert rec["model_options"] == {"dropout": 0.0} and rec["seed"] == RecognizerConfig().seed
    cfg_file.write_text('lr = 0.01\nlearning_rate = 3\n')
    assert main(["recognizer", "train", "--data", str(data), "--config", str(cfg_file), "--frames", "6",
                 "--out", str(tmp_path / "bad"), "--no-progress"]) == 2


def test_subjects_may_be_given_comma_separated_as_for_run():
    from infagenc.cli.recognizer import _subjects

    assert _subjects(["s02,s04", "s06"]) == ["s02", "s04", "s06"] and _subjects(None) is None


def test_recognizer_train_with_synthetic_samples_given_and_auto(raw, tmp_path):
    data = raw.save(tmp_path / "raw.npz")
    syn = make_demo(num_subjects=2, per_class=1, seed=9, rep="xyz", min_len=10, max_len=16)
    syn.source = np.array(["synthetic"] * len(syn))
    syn_file = syn.save(tmp_path / "syn.npz")
    cfg_file = tmp_path / "rec.toml"
    cfg_file.write_text('model = "stgcn"\nsize = "slim"\nepochs = 1\nbatch_size = 4\n'
                        '[realsyn]\ndann_weight = 0.1\n')
    base = ["recognizer", "train", "--data", str(data), "--config", str(cfg_file), "--device", "cpu",
            "--frames", "6", "--test-subjects", "demo03", "--synthetic", str(syn_file), "--no-progress"]
    assert main(base + ["--out", str(tmp_path / "given")]) == 0
    given = json.loads((tmp_path / "given" / "config.json").read_text())
    assert given["samples"]["synthetic"] == len(syn) and given["samples"]["train"] == 8 + len(syn)
    assert given["recognizer"]["realsyn"]["dann_weight"] == 0.1
    hist = json.loads((tmp_path / "given" / "history.json").read_text())
    assert "domain_loss" in hist[0]  # DANN trained on the mixed batches
    assert main(base + ["--synthetic-mode", "auto", "--out", str(tmp_path / "auto")]) == 0
    guard = json.loads((tmp_path / "auto" / "guard.json").read_text())
    assert guard["table"][0]["candidate"] == "real" and guard["chosen"] and guard["reason"]
    chosen = json.loads((tmp_path / "auto" / "config.json").read_text())
    assert chosen["samples"]["synthetic"] == (0 if guard["chosen"] == "real" else len(syn))
    # real samples passed as synthetic: refused, naming what to do
    assert main(base[:-3] + ["--synthetic", str(data), "--out", str(tmp_path / "bad"), "--no-progress"]) == 2


def test_recognizer_auto_with_a_guard_generator_trains_one_generator_per_fold_on_its_subjects(raw, tmp_path,
                                                                                             monkeypatch):
    """--guard-generator: each fold's synthetic set comes from a new generator of the checkpoint's
    settings trained on that fold's training subjects only, with the given set's classes and lengths."""
    from infagenc.workflows import recognizer as rec_wf

    gen_cfg = GeneratorConfig(cvae=CVAEConfig(num_layers=1, d_model=16, num_heads=2, ff_size=32), batch_size=4,
                              epochs=2, device="cpu", seed=5)
    gen_prep = Preprocess(frames=9)
    gen_wf.train_run(raw, tmp_path / "gen", gen_cfg, preprocess=gen_prep, progress=False)
    gen_wf.sample_run(tmp_path / "gen" / "generator.pt", tmp_path / "syn.npz", per_class=2, seed=1, device="cpu")
    syn = MotionSet.load(tmp_path / "syn.npz")
    seen: list[tuple[set, int, int]] = []  # (subjects, frames, epochs) of every generator the guard trains
    real_new = rec_wf.new_trainer

    def spy(ms, cfg, rest=None, device=None):
        seen.append((set(ms.subjects.tolist()), ms.num_frames, cfg.epochs))
        return real_new(ms, cfg, rest, device)

    monkeypatch.setattr(rec_wf, "new_trainer", spy)
    out = tmp_path / "auto"
    train_run(raw, recognizer_cfg(), out, test_subjects=["demo03"], preprocess=Preprocess(frames=6), progress=False,
              synthetic=syn, synthetic_mode="auto", guard_generator=tmp_path / "gen" / "generator.pt")
    # two training subjects: two folds, each generator trained on the other fold's subject, at the
    # generator's own preprocessing (9 frames) and epochs
    assert sorted(seen, key=lambda x: sorted(x[0])) == [({"demo01"}, 9, 2), ({"demo02"}, 9, 2)]
    guard = json.loads((out / "guard.json").read_text())
    assert guard["fold_synthetic"] is True and "that fold's training part only" in guard["caveat"]
    for i in range(2):
        fold = MotionSet.load(out / f"guard_fold{i}.npz")
        assert fold.is_synthetic.all() and fold.num_frames == 6  # preprocessed like the recognizer's data
        assert [fold.class_names[c] for c in fold.labels] == [syn.class_names[c] for c in syn.labels]
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["guard_generator"]["config"]["seed"] == 5 and cfg["guard_generator"]["config"]["epochs"] == 2
    # refused without the guard, and for a file that is not a generator checkpoint (before any training)
    with pytest.raises(ValueError, match="synthetic guard only"):
        train_run(raw, recognizer_cfg(), tmp_path / "x", test_subjects=["demo03"], progress=False, synthetic=syn,
                  guard_generator=tmp_path / "gen" / "generator.pt")
    data = raw.save(tmp_path / "raw.npz")
    assert main(["recognizer", "train", "--data", str(data), "--frames", "6", "--synthetic", str(tmp_path / "syn.npz"),
                 "--guard-generator", str(tmp_path / "gen" / "generator.pt"), "--out", str(tmp_path / "z"),
                 "--no-progress"]) == 2  # the CLI passes the flag on: given without auto, refused in one line
    rec = train_run(raw, recognizer_cfg(), tmp_path / "r", test_subjects=["demo03"], preprocess=Preprocess(frames=6),
                    progress=False)
    with pytest.raises(ValueError, match="not a generator checkpoint"):
        train_run(raw, recognizer_cfg(), tmp_path / "y", test_subjects=["demo03"], progress=False, synthetic=syn,
                  synthetic_mode="auto", guard_generator=rec["checkpoint"])
