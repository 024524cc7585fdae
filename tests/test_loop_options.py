"""The loop's selection and critic options on tiny runs: the per-class confidence filter
(``loop.filter``), the independent critic (``loop.critic_mode``), and the evaluation's pose
statistics and sampling (loop/evaluation.py)."""
import dataclasses
import json
import math
import shutil

import numpy as np
import pytest

from infagenc.data import MotionSet
from infagenc.loop.config import ConfigError, RunConfig
from infagenc.loop.data import stored_splits
from infagenc.loop.evaluation import evaluate_run
from infagenc.loop.rounds import weights_digest
from infagenc.loop.runner import run
from infagenc.runfolder import RunFolder
from infagenc.train.exemplar import EXEMPLAR_MARK
from infagenc.train.recognizer import RecognizerTrainer
from test_loop_run import folder, tiny

# theta so high that the barely trained tiny critic passes nothing: the global filter would
# starve every class, the per-class one feeds each from its fallback
STARVED = dict(critic_mode="independent", filter="per_class", filter_fallback_fraction=0.1, theta=0.99)


@pytest.fixture(scope="module")
def independent_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "independent"
    run(tiny(**STARVED), out, progress=False)
    return out


def _pretrained_digest(f: RunFolder) -> str:
    return weights_digest(RecognizerTrainer.load(f.checkpoint("critic_pretrained"), "cpu").model)


def test_options_are_checked():
    for loop, key in (({"filter": "class"}, "loop.filter"), ({"filter_fallback_fraction": 0.0}, "fallback_fraction"),
                      ({"critic_mode": "frozen"}, "loop.critic_mode"), ({"critic_update_epochs": -1}, "update_epochs")):
        with pytest.raises(ConfigError, match=key):
            RunConfig.from_dict({"loop": loop})
    lc = RunConfig().loop
    assert (lc.filter, lc.critic_mode) == ("global", "updated")  # the paper's


@pytest.mark.slow
def test_independent_critic_never_changes(independent_run):
    f = folder(independent_run)
    rounds = json.loads(f.rounds_path.read_text())
    assert [r["critic_mode"] for r in rounds] == ["independent", "independent"]
    assert [r["critic_update"] for r in rounds] == [[], []]
    pre = _pretrained_digest(f)
    assert [r["scoring_critic"] for r in rounds] == [pre, pre]
    assert weights_digest(RecognizerTrainer.load(f.checkpoint("critic"), "cpu").model) == pre


@pytest.mark.slow
def test_updated_critic_changes_between_rounds(tmp_path):
    out = tmp_path / "updated"
    run(tiny(epochs=6), out, progress=False, stop_after_rounds=2)  # 3 rounds of 2 epochs; stop after 2
    f = folder(out)
    rounds = json.loads(f.rounds_path.read_text())
    assert [r["critic_mode"] for r in rounds] == ["updated", "updated"]
    assert all(len(r["critic_update"]) == 1 for r in rounds)
    first, second = (r["scoring_critic"] for r in rounds)
    assert first == _pretrained_digest(f)  # round 1 scores with the pre-trained critic
    assert second != first  # round 2 with the one updated at the end of round 1


@pytest.mark.slow
def test_per_class_filter_feeds_every_class(independent_run):
    f = folder(independent_run)
    train = MotionSet.load(f.split_path("train"))
    for r in json.loads(f.rounds_path.read_text()):
        c = r["counts"]
        assert r["filter"] == "per_class"
        assert c["passed_threshold"] == [0] * train.num_classes  # theta 0.99: nothing passes
        # ceil(0.1 * n_c) by the fallback for each class, and something selected from each
        assert c["passed_fallback"] == [math.ceil(0.1 * n) for n in c["generated"]]
        assert c["passed_filter"] == c["passed_fallback"] and min(c["selected"]) >= 1
        cands = json.loads(f.round_scores_path(r["round"]).read_text())["candidates"]
        assert [x["passed_filter"] for x in cands] == [x["by_fallback"] for x in cands]
        for k in range(train.num_classes):  # the fallback took the most confident of each class
            conf = [x["confidence"] for x in cands if x["class"] == k]
            kept = [x["confidence"] for x in cands if x["class"] == k and x["by_fallback"]]
            assert min(kept) >= max(set(conf) - set(kept), default=-1.0)


@pytest.mark.slow
def test_new_modes_resume_to_the_same_selection(independent_run, tmp_path):
    part = tmp_path / "interrupted"
    assert run(tiny(**STARVED), part, progress=False, stop_after_rounds=1)["stopped_after_rounds"] == 1
    run(tiny(**STARVED), part, progress=False)
    a, b = MotionSet.load(folder(independent_run).synthetic_path), MotionSet.load(folder(part).synthetic_path)
    assert list(a.names) == list(b.names) and np.array_equal(a.data, b.data)
    for r in (1, 2):
        assert json.loads(folder(independent_run).round_scores_path(r).read_text()) == \
            json.loads(folder(part).round_scores_path(r).read_text())
    strip = ("time_select", "time_critic_update")
    ra, rb = (json.loads(folder(x).rounds_path.read_text()) for x in (independent_run, part))
    assert [{k: v for k, v in r.items() if k not in strip} for r in ra] == \
        [{k: v for k, v in r.items() if k not in strip} for r in rb]


def _finite_numbers(d) -> list[float]:
    if isinstance(d, dict):
        return [x for v in d.values() for x in _finite_numbers(v)]
    if isinstance(d, list):
        return [x for v in d for x in _finite_numbers(v)]
    return [float(d)] if isinstance(d, (int, float)) and not isinstance(d, bool) else []


@pytest.mark.slow
def test_evaluation_has_pose_statistics(independent_run):
    m = json.loads(folder(independent_run).metrics_path.read_text())
    pose = m["pose"]
    assert set(pose) == {"generated_vs_train", "generated_vs_test", "real_test_vs_train", "recycled_pool_vs_train",
                         "recycled_pool_vs_test"}
    assert m["sampling"] == "prior" and "dropped_by_distance" not in m
    for name, stats in pose.items():
        assert "skipped" not in stats, name
        assert all(math.isfinite(x) for x in _finite_numbers(stats))
        o = stats["overall"]
        assert math.isfinite(o["bone_length"]["mean_abs_error"])
        for part in (o["energy"], *o["distances"].values()):
            assert math.isfinite(part["real_mean"]) and math.isfinite(part["gen_mean"]) and part["gen_mean"] >= 0
        assert set(o["distances"]) == {"feet", "knees", "hands"}  # the demo's smpl24 layout has them all
    train = MotionSet.load(folder(independent_run).split_path("train"))
    pool = MotionSet.load(folder(independent_run).synthetic_path)
    assert pose["generated_vs_train"]["overall"]["n_real"] == len(train)
    assert pose["recycled_pool_vs_train"]["overall"]["n_gen"] == len(pool)
    assert pose["generated_vs_train"]["overall"]["n_gen"] == 2 * len(train)  # R = 2 repeats of N_ref = N_train


@pytest.mark.slow
def test_evaluation_samples_as_the_loop_does(independent_run, tmp_path):
    """With loop.sampling = "exemplar" the evaluation's samples are variants of real training samples."""
    rd = tmp_path / "copy"
    shutil.copytree(independent_run, rd)
    f = RunFolder(rd, create=False)
    cfg = RunConfig.from_dict(json.loads(f.config_path.read_text()))
    cfg = dataclasses.replace(cfg, loop=dataclasses.replace(cfg.loop, sampling="exemplar"))
    f.metrics_path.unlink()
    m = evaluate_run(f, stored_splits(f), cfg, "cpu", progress=False)
    assert m["sampling"] == "exemplar"
    train = set(MotionSet.load(f.split_path("train")).names)
    pictures = MotionSet.load(f.samples_path)
    sources = {str(n).split(EXEMPLAR_MARK, 1)[1] for n in pictures.names}
    assert sources <= train and len(pictures) == 2 * pictures.num_classes
    before = json.loads(folder(independent_run).metrics_path.read_text())
    assert m["vs_train"] != before["vs_train"]  # other samples than the prior's


@pytest.mark.slow
def test_balanced_pool_keeps_each_class_newest(tmp_path):
    """loop.pool_cap: a cap of one sample per class (ceil(0.1 * N_real / K) = 1) over three
    rounds that each recycle one sample per class (the starved per-class filter's fallback):
    the pool holds K samples from round 1 on, the newest round's, each round after the first
    replacing K; interrupted after round 2 and resumed, the same pool."""
    cfg = tiny(**STARVED, pool_cap=0.1, epochs=6)
    out, part = tmp_path / "capped", tmp_path / "interrupted"
    run(cfg, out, progress=False)
    f = folder(out)
    k = MotionSet.load(f.split_path("train")).num_classes
    rounds = json.loads(f.rounds_path.read_text())
    assert [r["counts"]["selected"] for r in rounds] == [[1] * k] * 3
    assert [r["pool_size"] for r in rounds] == [k, k, k]
    assert [r["pool_left"] for r in rounds] == [0, k, k]
    pool = MotionSet.load(f.synthetic_path)
    last = MotionSet.load(f.round_selected_path(3))
    assert sorted(pool.names) == sorted(last.names) and sorted(pool.labels.tolist()) == list(range(k))
    # one sample a class: no within-class pairs, so the pool's generation metrics say why they are missing
    metrics = json.loads(f.metrics_path.read_text())
    assert "recycled_pool_vs_test" not in metrics and "no class with 2" in metrics["recycled_pool_not_measured"]
    run(cfg, part, progress=False, stop_after_rounds=2)
    run(cfg, part, progress=False)
    again = MotionSet.load(folder(part).synthetic_path)
    assert list(again.names) == list(pool.names) and np.array_equal(again.data, pool.data)


def test_pool_cap_is_checked():
    for loop, key in (({"pool_cap": 0.0}, "loop.pool_cap"), ({"pool_cap": 1.0, "selection": "none"}, "pool_cap")):
        with pytest.raises(ConfigError, match=key):
            RunConfig.from_dict({"loop": loop})
    assert RunConfig().loop.pool_cap is None  # the paper's unbounded pool
