"""``recognizer tune``: the grid, subject folds of the training subjects only, epochs read from
one run, the choice and its tie rule, and the chosen file that ``recognizer train`` reads."""
from __future__ import annotations

import json
import tomllib

import numpy as np
import pytest

from infagenc.cli import main
from infagenc.config import ConfigError
from infagenc.data.demo import make_demo
from infagenc.data.motionset import MotionSet
from infagenc.data.preprocess import Preprocess
from infagenc.data.splits import split_by_subjects
from infagenc.train.recognizer import RecognizerConfig, RecognizerTrainer, new_recognizer
from infagenc.workflows import tune
from infagenc.workflows.tune import (_cost, _groups, choose, expand_grid, subject_folds, toml_text, tune_run,
                                     validation_accuracies)

TEST_SUBJECTS = ["s5", "s6"]


@pytest.fixture(scope="module")
def xor_set() -> MotionSet:
    """Class = whether joint 0's x and y have the same sign (XOR: no linear model separates it,
    the nearest neighbour does); every other coordinate is 0. The test subjects' positions are
    NaN, so any use of them (fit, preprocessing, scoring) would show."""
    rng = np.random.default_rng(0)
    data, labels, subjects = [], [], []
    for s in range(1, 7):
        for sx in (-1, 1):
            for sy in (-1, 1):
                for _ in range(2):
                    x = np.zeros((2, 17, 3))
                    x[:, 0, 0], x[:, 0, 1] = sx + 0.2 * rng.normal(), sy + 0.2 * rng.normal()
                    data.append(x)
                    labels.append(int(sx * sy > 0))
                    subjects.append(f"s{s}")
    data = np.stack(data)
    test = np.isin(subjects, TEST_SUBJECTS)
    data[test] = np.nan
    return MotionSet(data, 2, labels, ["differ", "same"], subjects, [f"x{i}" for i in range(len(labels))], "coco17")


@pytest.fixture(scope="module")
def demo() -> MotionSet:
    return Preprocess(frames=6)(make_demo(num_subjects=3, per_class=1, seed=3, rep="xyz", min_len=6, max_len=9))


def deep(**kw) -> RecognizerConfig:
    return RecognizerConfig(**{"model": "stgcn", "size": "slim", "batch_size": 4, "device": "cpu", **kw})


def test_expand_grid_products_sub_grids_base_and_classical_settings():
    base, settings = expand_grid({"base": {"batch_size": 8}, "size": "slim", "lr": [1e-3, 3e-3],
                                  "epochs": [1, 2], "model": ["stgcn", "linear"]})
    assert base == {"batch_size": 8}
    deep_s = [s for s in settings if s["model"] == "stgcn"]
    assert len(deep_s) == 4 and all(s["size"] == "slim" for s in deep_s)
    # the four linear combinations are one setting: only model and model_options count
    assert [s for s in settings if s["model"] == "linear"] == [{"model": "linear"}]
    _, settings = expand_grid({"grid": [{"model": "stgcn", "epochs": [1, 3]},
                                        {"model": "knn", "model_options": [{"k": 1}, {"k": 3}]}]})
    assert settings == [{"model": "stgcn", "epochs": 1}, {"model": "stgcn", "epochs": 3},
                        {"model": "knn", "model_options": {"k": 1}}, {"model": "knn", "model_options": {"k": 3}}]
    for bad, match in [({"lr": []}, "no values"), ({"learning_rate": [1e-3]}, "unknown key"),
                       ({"model": ["linear"], "model_options": [{"C": -1}]}, "C > 0"),
                       ({"model": "resnet"}, "unknown model"), ({"grid": [{"lr": 1e-3}], "lr": 1.0}, "beside")]:
        with pytest.raises(ConfigError, match=match):
            expand_grid(bad)


def test_tie_rule_prefers_the_cheaper_setting():
    cfgs = [deep(epochs=60, size="paper"), deep(epochs=30, size="paper"), deep(epochs=30),
            RecognizerConfig(model="knn"), RecognizerConfig(model="linear")]
    costs = [_cost(c, i) for i, c in enumerate(cfgs)]
    assert choose([0.5, 0.5, 0.5, 0.5, 0.5], costs) == 4  # the floor first
    assert choose([0.5, 0.5, 0.5, 0.4, 0.4], costs) == 2  # fewer epochs, then slim
    assert choose([0.5, 0.5, 0.4, 0.4, 0.4], costs) == 1
    assert choose([0.6, 0.5, 0.5, 0.5, float("nan")], costs) == 0  # accuracy first
    # early stopping or a schedule over the run's length: each epoch count its own run
    assert _groups([deep(epochs=1), deep(epochs=2), deep(epochs=3, lr=0.1)]) == [[0, 1], [2]]
    assert _groups([deep(epochs=1, target_accuracy=0.9), deep(epochs=2, target_accuracy=0.9)]) == [[0], [1]]
    if "schedule" in RecognizerConfig().to_dict():  # a learning-rate schedule over the run's epochs
        cosine = [RecognizerConfig.from_dict({**deep(epochs=e).to_dict(), "schedule": "cosine"}) for e in (1, 2)]
        assert _groups(cosine) == [[0], [1]]


def test_folds_by_subject_and_leave_one_subject_out(xor_set):
    train = split_by_subjects(xor_set, TEST_SUBJECTS)[0]
    folds = subject_folds(train, 3, seed=0)
    assert len(folds) == 3 and sorted(s for f in folds for s in f["val"]) == ["s1", "s2", "s3", "s4"]
    assert all(not set(f["train"]) & set(f["val"]) for f in folds)
    loso = subject_folds(train, 10, seed=0)
    assert sorted(f["val"][0] for f in loso) == ["s1", "s2", "s3", "s4"] and all(len(f["val"]) == 1 for f in loso)
    with pytest.raises(ValueError, match="two training subjects"):
        subject_folds(train.select(subjects=["s1"]), 3, seed=0)


def test_tune_chooses_what_validation_favours_and_never_reads_the_test_subjects(xor_set, tmp_path):
    grid = tmp_path / "grid.toml"
    grid.write_text('[[grid]]\nmodel = "linear"\nmodel_options = [{C = 0.1}, {C = 1.0}]\n'
                    '[[grid]]\nmodel = "knn"\nmodel_options = [{k = 1}]\n')
    out = tune_run(xor_set, grid, tmp_path / "a", test_subjects=TEST_SUBJECTS, folds=2, seed=1, progress=False)
    res = json.loads((tmp_path / "a" / "tune.json").read_text())
    rows = res["settings"]
    assert [r["setting"]["model"] for r in rows] == ["linear", "linear", "knn"]
    assert rows[2]["chosen"] and rows[2]["mean"] == 1.0 and max(r["mean"] for r in rows[:2]) < 0.8
    # the test subjects (NaN positions) were removed first: every accuracy is a number, and
    # they are in no fold
    assert all(len(r["fold_accuracy"]) == 2 and np.isfinite(r["fold_accuracy"]).all() for r in rows)
    assert res["train_subjects"] == ["s1", "s2", "s3", "s4"] and res["test_subjects"] == TEST_SUBJECTS
    assert not {s for f in res["folds"] for s in f["train"] + f["val"]} & set(TEST_SUBJECTS)
    chosen = tomllib.loads((tmp_path / "a" / "chosen.toml").read_text())
    assert chosen == {"model": "knn", "model_options": {"k": 1}} == res["chosen"]["setting"] == out["chosen"]
    assert "*" in out["table"] and "100.0 ± 0.0" in out["table"]
    with pytest.raises(ValueError, match="not in the set"):
        tune_run(xor_set, grid, tmp_path / "x", test_subjects=["s9"], progress=False)


def test_tune_cli_is_deterministic_and_recognizer_train_reads_the_chosen_file(xor_set, tmp_path, capsys):
    data = xor_set.select(subjects=["s1", "s2", "s3", "s4"]).save(tmp_path / "xor.npz")
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"model": ["linear", "knn"]}))
    args = ["recognizer", "tune", "--data", str(data), "--grid", str(grid), "--test-subjects", "s4",
            "--folds", "3", "--seed", "1", "--no-progress"]
    assert main(args + ["--out", str(tmp_path / "a")]) == 0
    printed = capsys.readouterr().out
    assert "chosen (*)" in printed and "mean ± std" in printed
    rows = json.loads((tmp_path / "a" / "tune.json").read_text())["settings"]
    assert main(args + ["--out", str(tmp_path / "b")]) == 0
    assert json.loads((tmp_path / "b" / "tune.json").read_text())["settings"] == rows
    assert tomllib.loads((tmp_path / "a" / "chosen.toml").read_text()) == {"model": "knn"}
    # the chosen file is a `recognizer train --config`; flags given override it
    base = ["recognizer", "train", "--data", str(data), "--config", str(tmp_path / "a" / "chosen.toml"),
            "--test-subjects", "s4", "--no-progress"]
    assert main(base + ["--out", str(tmp_path / "t")]) == 0
    assert json.loads((tmp_path / "t" / "config.json").read_text())["recognizer"]["model"] == "knn"
    assert json.loads((tmp_path / "t" / "report.json").read_text())["overall_accuracy"] == 1.0
    assert (tmp_path / "t" / "recognizer.npz").exists()
    assert main(base + ["--model", "linear", "--out", str(tmp_path / "u")]) == 0
    assert json.loads((tmp_path / "u" / "config.json").read_text())["recognizer"]["model"] == "linear"


def test_epochs_read_from_one_run_equal_separate_runs(demo):
    train, val = split_by_subjects(demo, ["demo03"])
    cfg = deep(epochs=99, lr=3e-3)
    once = validation_accuracies(cfg, train, val, [0, 1, 2, 3])
    for e in (1, 2):
        assert validation_accuracies(deep(epochs=e, lr=3e-3), train, val, [e])[e] == once[e]
        # and a plain trainer run of that length
        c = deep(epochs=e, lr=3e-3)
        hist = RecognizerTrainer(new_recognizer(c, demo.layout, demo.channels, demo.num_classes), c).fit(
            train, val, progress=False)
        assert (hist[-1]["val_acc"], hist[-1]["val_loss"]) == (once[e]["val_acc"], once[e]["val_loss"])
    assert len({once[e]["val_loss"] for e in once}) == 4  # the runs do move


def test_tune_trains_deep_settings_once_per_fold_for_all_epoch_counts(demo, tmp_path, monkeypatch):
    calls = []

    def counting(cfg, train, val, epochs):
        calls.append(list(epochs))
        return validation_accuracies(cfg, train, val, epochs)

    monkeypatch.setattr(tune, "validation_accuracies", counting)
    grid = {"model": "stgcn", "size": "slim", "batch_size": 4, "epochs": [2, 1]}
    res = tune_run(demo, grid, tmp_path, folds=3, seed=0, device="cpu", progress=False)
    assert calls == [[1, 2]] * 3  # 3 folds (leave-one-subject-out), one run each
    rows = json.loads((tmp_path / "tune.json").read_text())["settings"]
    assert [r["setting"]["epochs"] for r in rows] == [2, 1] and sum(r["chosen"] for r in rows) == 1
    assert "chosen.toml" in res["chosen_file"] and res["chosen"]["size"] == "slim"


def test_chosen_toml_round_trips_nested_tables_and_pastes_under_a_header():
    d = {"model": "stgcn", "lr": 0.003, "model_options": {"dropout": 0.0}, "augment": {"rotate": {"deg": 10.0}},
         "flag": True, "names": ["a", "b"]}
    text = toml_text(d, ["header"])
    assert tomllib.loads(text) == d
    assert tomllib.loads("[critic]\n" + text)["critic"] == d
    with pytest.raises(ValueError):
        toml_text({"target_accuracy": None})
