"""End-to-end runs of the InfAGenC pipeline on tiny configs (seconds each)."""
import json
from pathlib import Path

import numpy as np
import pytest

from infagenc.data import MotionSet
from infagenc.loop.config import ConfigError, RunConfig
from infagenc.loop.runner import load_real, run
from infagenc.loop.seeds import balanced_requests, derive_seed
from infagenc.loop.selection import central_count
from infagenc.runfolder import RunFolder
from reader_fixtures import write_utkinect

TINY = {
    "data": {"frames": 8, "test_fraction": 0.34},
    "demo": {"subjects": 3, "per_class": 3},
    "critic": {"size": "slim", "epochs": 4, "batch_size": 8, "lr": 3e-3},
    "generator": {"cvae": {"num_layers": 1, "d_model": 32, "num_heads": 2, "ff_size": 64}, "batch_size": 8},
    "pretrain_generator_epochs": 2,
    # theta low enough for the barely trained tiny critic to pass some samples and reject others
    "loop": {"epochs": 4, "window": 2, "critic_update_epochs": 1, "theta": 0.25},
    "final": {"recognizer": {"size": "slim", "epochs": 1, "batch_size": 8}, "seeds": [0]},
    "evaluation": {"repeats": 2, "diversity_pairs": 10, "multimodality_pairs": 2},
}


def tiny(**loop) -> RunConfig:
    d = json.loads(json.dumps(TINY))
    d["loop"].update(loop)
    return RunConfig.from_dict(d)


def folder(root) -> RunFolder:
    """The named paths of a run folder (creates nothing)."""
    return RunFolder(root, create=False)


@pytest.fixture(scope="module")
def distance_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "distance"
    summary = run(tiny(), out, progress=False)
    return out, summary


@pytest.mark.slow
def test_config_json_records_what_ran(distance_run):
    """config.json is the effective config: derived seeds, the resolved device, the
    pre-training epochs the generator was trained for, and what its checkpoints say."""
    from infagenc.train.checkpoint import load_checkpoint

    out, _ = distance_run
    f = folder(out)
    stored = json.loads(f.config_path.read_text())
    assert stored["execution"]["device"] == "cpu" and stored["execution"]["precision"] == "fp32"
    assert stored["generator"]["epochs"] == TINY["pretrain_generator_epochs"] == 2
    assert stored["generator"]["seed"] == derive_seed(0, "generator")
    assert stored["critic"]["seed"] == derive_seed(0, "critic")
    for sub in (stored["critic"], stored["generator"], stored["final"]["recognizer"]):
        assert (sub["device"], sub["precision"]) == ("cpu", "fp32")
    assert stored["generator"]["trans"] is False  # rot6d demo data, root removed per frame: no trans
    # the checkpoints were trained with exactly these settings
    gen = load_checkpoint(f.checkpoint("generator_pretrained"))["meta"]
    crit = load_checkpoint(f.checkpoint("critic_pretrained"))["meta"]
    assert {k: gen["config"][k] for k in ("epochs", "seed", "device")} == \
        {k: stored["generator"][k] for k in ("epochs", "seed", "device")}
    assert crit["config"]["seed"] == stored["critic"]["seed"]
    prep = {"frames": 8, "resample": "resample", "root": "per_frame", "normalize_scale": False, "unlabelled": "keep"}
    assert crit["preprocess"] == gen["preprocess"] == prep
    assert load_checkpoint(f.checkpoint("generator"))["meta"]["preprocess"] == prep
    # the stored file is a complete config: read back, it is the same config again
    assert RunConfig.from_dict(stored).effective("cpu").to_dict() == stored


def test_older_config_keys_move_to_their_place():
    old = {"device": "cpu", "precision": "fp32", "threads": 1, "data": {"demo_subjects": 4, "demo_seed": 2}}
    cfg = RunConfig.from_dict(old)
    assert (cfg.execution.device, cfg.execution.threads, cfg.demo.subjects, cfg.demo.seed) == ("cpu", 1, 4, 2)
    with pytest.raises(ConfigError, match="execution.device"):
        RunConfig.from_dict({"device": "cpu", "execution": {"device": "cuda"}})


@pytest.mark.slow
def test_run_folder_has_every_artifact(distance_run):
    out, summary = distance_run
    f = folder(out)
    for p in [f.environment_path, f.log_path, f.state_path, f.split_path("train"), f.split_path("test"),
              f.checkpoint("critic_pretrained"), f.checkpoint("generator_pretrained"),
              f.checkpoint("critic"), f.checkpoint("generator"), f.checkpoint("evaluator"),
              f.epochs_path, f.rounds_path, f.recognition_summary_path(), f.metrics_path,
              f.features_path]:
        assert p.is_file(), p.relative_to(out)
    env = json.loads(f.environment_path.read_text())
    cpuinfo = Path("/proc/cpuinfo")  # the CPU is named (the same seed gives other floats on another one)
    if cpuinfo.exists() and "model name" in cpuinfo.read_text():
        assert env["cpu_model"] and env["cpu_model"] in cpuinfo.read_text()
    train, test = MotionSet.load(f.split_path("train")), MotionSet.load(f.split_path("test"))
    assert not set(train.subjects) & set(test.subjects)
    epochs = json.loads(f.epochs_path.read_text())
    assert [e["epoch"] for e in epochs] == [1, 2, 3, 4]
    assert all(0.0 <= e["cas"] <= 1.0 for e in epochs)
    rounds = json.loads(f.rounds_path.read_text())
    assert [r["round"] for r in rounds] == [1, 2]
    for r in rounds:  # the best epoch of each window is its best-CAS epoch (earliest on ties)
        window = [e for e in epochs if e["round"] == r["round"]]
        best = max(window, key=lambda e: (e["cas"], -e["epoch"]))
        assert r["best_epoch"] == best["epoch"] and r["best_cas"] == best["cas"]
    assert set(summary["recognition"]) == {"real", "syn", "real_syn", "floor"}
    assert not any("skipped" in v for v in summary["recognition"].values())
    # the trivial floor beside every training set, its report under its own name
    floor = summary["recognition"]["floor"]
    assert floor["model"] == "linear" and set(floor) == {"model", "real", "syn", "real_syn"}
    pool = MotionSet.load(f.synthetic_path)
    for name in ("real", "syn", "real_syn"):
        if name == "syn" and len(set(pool.labels)) < 2:  # logistic regression needs two classes
            assert floor[name] == {"skipped": "the syn set has samples of one class only"}
            continue
        rep = json.loads(f.floor_report_path("linear", name).read_text())
        assert rep["overall_accuracy"] == floor[name]["overall"] and 0.0 <= floor[name]["overall"] <= 1.0
    assert "vs_test" in summary["generation"] and "vs_train" in summary["generation"]


@pytest.mark.slow
def test_rounds_record_selection_and_provenance(distance_run):
    out, _ = distance_run
    f = folder(out)
    rounds = json.loads(f.rounds_path.read_text())
    pool_parts = []
    for r in rounds:
        scores = json.loads(f.round_scores_path(r["round"]).read_text())
        cands = scores["candidates"]
        assert len(cands) == len(MotionSet.load(f.split_path("train")))  # one per real training sample
        sel = [c for c in cands if c["selected"]]
        assert all(c["passed_filter"] for c in sel)
        # the confidence filter ran: it passed some candidates and rejected others, and a
        # candidate passed only with p(cond) above theta
        passed = [c for c in cands if c["passed_filter"]]
        assert 0 < len(passed) < len(cands) and sel
        assert all(c["confidence"] > TINY["loop"]["theta"] for c in passed)
        assert all(c["passed_filter"] == (c["score"] is not None) for c in cands)
        # central half per class of the candidates that passed the filter
        for k, n_pass in enumerate(r["counts"]["passed_filter"]):
            assert r["counts"]["selected"][k] == central_count(n_pass, 0.5)[1]
        chosen = MotionSet.load(f.round_selected_path(r["round"]))
        assert sorted(chosen.names) == sorted(c["name"] for c in sel)
        assert chosen.is_synthetic.all() and set(chosen.round) <= {r["round"]}
        assert set(chosen.epoch) <= {r["best_epoch"]}
        pool_parts.append(chosen)
    pool = MotionSet.load(f.synthetic_path)
    assert len(pool) == sum(len(p) for p in pool_parts) == rounds[-1]["pool_size"]


@pytest.mark.slow
def test_interrupted_run_resumes_to_the_same_selection(distance_run, tmp_path):
    out, _ = distance_run
    part = tmp_path / "interrupted"
    first = run(tiny(), part, progress=False, stop_after_rounds=1)
    assert first["stopped_after_rounds"] == 1
    assert json.loads(folder(part).state_path.read_text())["rounds_done"] == 1
    run(tiny(), part, progress=False)
    a, b = MotionSet.load(folder(out).synthetic_path), MotionSet.load(folder(part).synthetic_path)
    assert list(a.names) == list(b.names)
    assert np.array_equal(a.data, b.data)
    cas_a = [e["cas"] for e in json.loads(folder(out).epochs_path.read_text())]
    cas_b = [e["cas"] for e in json.loads(folder(part).epochs_path.read_text())]
    assert cas_a == cas_b
    for r in (1, 2):
        sa = json.loads(folder(out).round_scores_path(r).read_text())
        sb = json.loads(folder(part).round_scores_path(r).read_text())
        assert sa == sb


@pytest.mark.slow
def test_resume_refuses_a_different_config(distance_run):
    out, _ = distance_run
    with pytest.raises(ValueError, match="different config"):
        run(tiny(theta=0.5), out, progress=False)


@pytest.mark.slow
def test_a_run_started_by_an_older_version_resumes(distance_run, tmp_path):
    """A stored config without an option added later (its default then applies) is the same config."""
    import shutil

    out, _ = distance_run
    old = tmp_path / "old"
    shutil.copytree(out, old)
    stored = json.loads(folder(old).config_path.read_text())
    del stored["loop"]["sample_dropout"]
    folder(old).config_path.write_text(json.dumps(stored))
    run(tiny(), old, progress=False)  # everything is done: nothing is recomputed, nothing refused
    stored["loop"]["no_such_option"] = 1
    folder(old).config_path.write_text(json.dumps(stored))
    with pytest.raises(ValueError, match="different config"):
        run(tiny(), old, progress=False)


@pytest.mark.slow
def test_a_stored_config_without_keep_root_means_its_default(distance_run, tmp_path):
    """A stored config without generator.keep_root resolves to the default (on), like any option
    added since: it resumes with the default config and is refused with keep_root = false."""
    import dataclasses
    import shutil

    out, _ = distance_run
    old = tmp_path / "old"
    shutil.copytree(out, old)
    stored = json.loads(folder(old).config_path.read_text())
    assert stored["generator"]["keep_root"] is True
    del stored["generator"]["keep_root"]
    folder(old).config_path.write_text(json.dumps(stored))
    run(tiny(), old, progress=False)  # done already: nothing recomputed, nothing refused
    cfg = tiny()
    cfg.generator = dataclasses.replace(cfg.generator, keep_root=False)
    with pytest.raises(ValueError, match="keep_root differ"):
        run(cfg, old, progress=False)


@pytest.mark.slow
def test_sampling_dropout_changes_the_loop_samples(distance_run, tmp_path):
    out, _ = distance_run
    run(tiny(sample_dropout=0.5), tmp_path / "drop", progress=False, stop_after_rounds=1)
    a = json.loads(folder(out).round_scores_path(1).read_text())
    b = json.loads(folder(tmp_path / "drop").round_scores_path(1).read_text())
    assert [c["confidence"] for c in a["candidates"]] != [c["confidence"] for c in b["candidates"]]
    with pytest.raises(ValueError, match="sample_dropout"):
        tiny(sample_dropout=1.0)


@pytest.mark.slow
def test_scoring_a_fraction_finds_the_best_epoch_and_selects_from_its_full_set(distance_run, tmp_path):
    out, _ = distance_run
    train = MotionSet.load(folder(out).split_path("train"))
    n = len(train)
    half = tmp_path / "half"
    run(tiny(score_fraction=0.5), half, progress=False, stop_after_rounds=1)
    epochs = json.loads(folder(half).epochs_path.read_text())
    assert all(e["scored"] == max(train.num_classes, round(0.5 * n)) < n for e in epochs)
    rnd = json.loads(folder(half).rounds_path.read_text())[0]
    assert 0.0 <= rnd["best_cas_all"] <= 1.0 and rnd["time_rescore"] > 0
    scores = json.loads(folder(half).round_scores_path(1).read_text())
    assert len(scores["candidates"]) == n  # the selection sees all N_t samples of the best epoch
    chosen = MotionSet.load(folder(half).round_selected_path(1))
    assert set(chosen.epoch) <= {rnd["best_epoch"]}
    # a fraction that rounds to all N_t regenerates the best epoch's samples from its kept
    # weights: the same samples, and (weights restored afterwards) the same later rounds
    same = tmp_path / "same"
    run(tiny(score_fraction=0.999), same, progress=False)
    for r in (1, 2):
        a = json.loads(folder(out).round_scores_path(r).read_text())
        b = json.loads(folder(same).round_scores_path(r).read_text())
        assert a == b
    assert [e["cas"] for e in json.loads(folder(out).epochs_path.read_text())] == \
        [e["cas"] for e in json.loads(folder(same).epochs_path.read_text())]
    assert all(r["best_cas_all"] == r["best_cas"] for r in json.loads(folder(same).rounds_path.read_text()))
    with pytest.raises(ValueError, match="score_fraction"):
        tiny(score_fraction=0.0)


@pytest.mark.slow
def test_another_recognizer_on_a_finished_run(distance_run, tmp_path):
    """recognize_run: the run's split and pool, another model, results beside the run's own."""
    import shutil

    from infagenc.loop.runner import recognize_run
    from infagenc.train.recognizer import RecognizerConfig

    out, summary = distance_run
    rd = tmp_path / "copy"
    shutil.copytree(out, rd)
    f = folder(rd)
    own = json.loads(f.recognition_summary_path().read_text())
    rc = RecognizerConfig(model="msg3d", size="slim", epochs=1, batch_size=8)
    res = recognize_run(rd, rc, train_sets=["real", "real_syn"], progress=False)
    assert set(res) == {"real", "real_syn"}
    other = "recognition_msg3d-slim"
    from infagenc.jsonio import read_json, write_json

    # the file is the result as strict JSON (NaN, e.g. one seed's interval, written as null)
    assert json.loads(f.recognition_summary_path(other).read_text()) == read_json(write_json(tmp_path / "r.json", res))
    rep = json.loads(f.recognition_report_path("real_syn", 0, other).read_text())
    pool, train = MotionSet.load(f.synthetic_path), MotionSet.load(f.split_path("train"))
    assert rep["train_size"] == len(train) + len(pool)
    assert rep["samples"] == len(MotionSet.load(f.split_path("test")))
    assert (rep["recognizer"]["model"], rep["recognizer"]["size"], rep["recognizer"]["epochs"]) == ("msg3d", "slim", 1)
    assert json.loads(f.recognition_report_path("real", 0).read_text())["recognizer"]["model"] \
        == json.loads(f.config_path.read_text())["final"]["recognizer"]["model"]
    # the run's own results are untouched; a second call reads the reports back
    assert json.loads(f.recognition_summary_path().read_text()) == own
    f.recognition_report_path("real", 0, other).write_text(json.dumps({**rep, "overall_accuracy": 0.123}))
    again = recognize_run(rd, rc, train_sets=["real"], progress=False)
    assert again["real"]["per_seed"][0]["overall"] == 0.123
    # the CLI calls the same function (a new folder name: trains afresh)
    from infagenc.cli import main

    assert main(["recognizer", "on-run", "--run", str(rd), "--model", "stgcn", "--size", "slim", "--epochs", "1",
                 "--batch-size", "8", "--train-sets", "real", "--out", "again", "--no-progress"]) == 0
    cli = json.loads(f.recognition_report_path("real", 0, "again").read_text())
    assert cli["history"] and len(cli["history"]) == 1 and cli["train_size"] == len(train)
    with pytest.raises(ValueError, match="own final phase"):
        recognize_run(rd, rc, out="recognition", progress=False)
    with pytest.raises(ValueError, match="unknown"):
        recognize_run(rd, rc, train_sets=["test"], progress=False)
    unfinished = tmp_path / "unfinished"
    run(tiny(), unfinished, progress=False, stop_after_rounds=1)
    with pytest.raises(ValueError, match="not finished"):
        recognize_run(unfinished, rc, progress=False)
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        recognize_run(tmp_path / "nothing", rc, progress=False)


@pytest.mark.slow
def test_baseline_and_random_ablations(tmp_path):
    base = run(tiny(selection="none"), tmp_path / "none", progress=False)
    assert not folder(tmp_path / "none").rounds_root.exists()  # nothing recycled
    syn = MotionSet.load(folder(tmp_path / "none").synthetic_path)  # fresh samples for Real+Syn
    train = MotionSet.load(folder(tmp_path / "none").split_path("train"))
    assert len(syn) == len(train) and syn.is_synthetic.all()
    assert base["recognition"]["real_syn"]["overall"]["R"] == 1
    run(tiny(selection="random"), tmp_path / "random", progress=False)
    for r in json.loads(folder(tmp_path / "random").rounds_path.read_text()):
        assert r["selection"] == "random"
        for k, n_pass in enumerate(r["counts"]["passed_filter"]):
            assert r["counts"]["selected"][k] == central_count(n_pass, 0.5)[1]


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="unknown key.*'epochz'"):
        RunConfig.from_dict({"loop": {"epochz": 3}})
    with pytest.raises(ConfigError, match="multiple of loop.window"):
        RunConfig.from_dict({"loop": {"epochs": 15, "window": 10}})


def test_balanced_requests_and_seeds():
    req = balanced_requests(3, 8, 60)
    assert [c for c, _ in req] == [0, 0, 0, 1, 1, 1, 2, 2] and all(t == 60 for _, t in req)
    assert derive_seed(0, "sample", 1) == derive_seed(0, "sample", 1) != derive_seed(0, "sample", 2)


def test_reading_real_data_honours_progress(tmp_path, capsys):
    """A run started without progress bars reads its data without the reader's bar too."""
    write_utkinect(tmp_path / "utk", {"s01_e01": [("walk", "10", "20")], "s02_e01": [("throw", "12", "30")]})
    cfg = RunConfig.from_dict({"data": {"path": str(tmp_path / "utk")}})
    ms = load_real(cfg, progress=False)
    assert len(ms) == 2 and "UTKinect takes" not in capsys.readouterr().err
    load_real(cfg, progress=True)
    assert "UTKinect takes" in capsys.readouterr().err


def test_a_fixed_test_file_replaces_the_subject_split(tmp_path):
    """data.test_path (SyRIP's train200 -> validate500 protocol): all of path trains, the
    test file tests, both preprocessed alike; overlapping subjects or other classes refuse."""
    from infagenc.data.demo import make_demo
    from infagenc.loop.runner import prepare_data

    ms = make_demo(num_subjects=3, per_class=2, seed=0, rep="xyz")
    subjects = sorted(set(ms.subjects.tolist()))
    ms.select(subjects=subjects[:2]).save(tmp_path / "train.npz")
    ms.select(subjects=subjects[2:]).save(tmp_path / "test.npz")
    data = {"path": str(tmp_path / "train.npz"), "test_path": str(tmp_path / "test.npz"), "frames": 8}
    sp = prepare_data(RunConfig.from_dict({"data": data}), progress=False)
    assert sorted(set(sp.train.subjects.tolist())) == subjects[:2] and len(sp.train) == 2 * 2 * len(ms.class_names)
    assert sorted(set(sp.test.subjects.tolist())) == subjects[2:] and sp.test.data.shape[1] == 8
    assert np.allclose(sp.test.data[:, :, 0], 0.0)  # root-relative per frame, as the training set

    ms.select(subjects=subjects[1:]).save(tmp_path / "overlap.npz")
    with pytest.raises(ValueError, match=subjects[1]):
        prepare_data(RunConfig.from_dict({"data": {**data, "test_path": str(tmp_path / "overlap.npz")}}), False)
    fewer = make_demo(num_subjects=3, per_class=2, seed=0, rep="xyz", classes=ms.class_names[:2])
    fewer.select(subjects=subjects[:2]).save(tmp_path / "fewer.npz")
    with pytest.raises(ValueError, match="test.npz: the test set has classes the training set .*fewer.npz lacks"):
        prepare_data(RunConfig.from_dict({"data": {**data, "path": str(tmp_path / "fewer.npz")}}), False)
    shuffled = make_demo(num_subjects=3, per_class=2, seed=0, rep="xyz", classes=ms.class_names[::-1])
    shuffled.select(subjects=subjects[2:]).save(tmp_path / "reversed.npz")
    sp2 = prepare_data(RunConfig.from_dict({"data": {**data, "test_path": str(tmp_path / "reversed.npz")}}), False)
    assert sp2.test.class_names == sp.train.class_names  # matched by name, not by position
    names = lambda s: [s.class_names[i] for i in s.labels]  # noqa: E731
    assert names(sp2.test) == [shuffled.class_names[i] for i in shuffled.select(subjects=subjects[2:]).labels]
    with pytest.raises(ValueError, match="excludes data.test_subjects"):
        RunConfig.from_dict({"data": {**data, "test_subjects": ["x"]}})


def test_unlabelled_keypoints_are_kept_filled_or_refused(tmp_path):
    """Keypoints with confidence 0 (COCO visibility 0): data.unlabelled keep / fill / error;
    the confidences are dropped, so real and synthetic sets concatenate."""
    from dataclasses import replace

    from infagenc.data.demo import make_demo
    from infagenc.loop.runner import prepare_data

    ms = make_demo(num_subjects=3, per_class=2, seed=0, rep="xyz")
    conf = np.ones(ms.data.shape[:3], np.float32)
    conf[0, :, 5] = 0  # one joint of the first sample never labelled
    placeholder = ms.data.copy()
    placeholder[0, :, 5] = -45.0
    replace(ms, data=placeholder, conf=conf).save(tmp_path / "c.npz")
    base = {"path": str(tmp_path / "c.npz"), "frames": 8, "root": "none", "test_fraction": 0.34}
    first = ms.names[0]

    def prepared(how):
        sp = prepare_data(RunConfig.from_dict({"data": {**base, "unlabelled": how}}), progress=False)
        both = MotionSet.concat([sp.train, sp.test])
        return both.subset(np.flatnonzero(both.names == first)), both, sp

    kept, both, sp = prepared("keep")
    assert both.conf is None and np.allclose(kept.data[0, :, 5], -45.0)
    note = f"{int(ms.lengths[0])} keypoints with confidence 0 kept as the file gives them"
    assert note in both.notes
    # what the run log gets: the count is of the whole file, before the subject split, and says so
    assert sp.notes == (f"all subjects' data: {note}",)
    filled, _, sp = prepared("fill")
    assert len(sp.notes) == 1 and "filled with the mean" in sp.notes[0]
    others = np.delete(filled.data[0], 5, axis=1)
    assert np.allclose(filled.data[0, :, 5], others.mean(axis=1), atol=1e-5)
    with pytest.raises(ValueError, match=f"c.npz: .*confidence 0.*{first}"):
        prepared("error")


@pytest.mark.slow
def test_recycled_samples_keep_the_root_of_root_relative_data(tmp_path):
    """xyz data made root-relative per frame: the loop's generator restores that constraint, so
    the recycled pool (and the samples the critic scored) have the root at the origin."""
    from infagenc.data.demo import make_demo
    from infagenc.train.generator import load_generator

    make_demo(num_subjects=3, per_class=3, seed=0, rep="xyz").save(tmp_path / "xyz.npz")
    d = json.loads(json.dumps(TINY))
    d["data"] = {"path": str(tmp_path / "xyz.npz"), "frames": 8, "test_fraction": 0.34}
    out = tmp_path / "run"
    run(RunConfig.from_dict(d), out, progress=False, stop_after_rounds=1)
    # stopped after round 1: the round's committed generator (the final name comes with the loop's end)
    assert not folder(out).checkpoint("generator").exists()
    assert load_generator(folder(out).round_checkpoint("generator", 1), "cpu")[1].root == "per_frame"
    pool = MotionSet.load(folder(out).synthetic_path)
    assert len(pool) > 0
    c = pool.layout.center
    assert np.abs(pool.data[:, :, c][pool.frame_mask()]).max() < 1e-6
    assert np.abs(pool.data).max() > 1e-2  # the other joints are not zeroed with it
    # a folder whose generator restores the root but whose config says keep_root = false (e.g. a
    # checkpoint copied from another run) is refused, naming the checkpoint
    import shutil

    other = tmp_path / "copied"
    shutil.copytree(out, other)
    d["generator"]["keep_root"] = False
    stored = json.loads(folder(other).config_path.read_text())
    stored["generator"]["keep_root"] = False
    folder(other).config_path.write_text(json.dumps(stored))
    with pytest.raises(ValueError, match="generator_pretrained.*copied"):
        run(RunConfig.from_dict(d), other, progress=False)


@pytest.mark.slow
def test_a_run_resumes_with_another_thread_count(distance_run, tmp_path):
    """threads decides speed, not the computation: resuming with another count is allowed and logged."""
    import shutil

    out, _ = distance_run
    other = tmp_path / "threads"
    shutil.copytree(out, other)
    d = json.loads(json.dumps(TINY))
    d["execution"] = {"threads": 1}
    import torch

    was = torch.get_num_threads()
    try:
        run(RunConfig.from_dict(d), other, progress=False)
    finally:
        torch.set_num_threads(was)  # run() sets torch's global thread count
    assert "resumed with execution.threads = 1 (the run so far: None)" in folder(other).log_path.read_text()
    assert json.loads(folder(other).config_path.read_text())["execution"]["threads"] == 1


def test_view_alignment_is_a_data_option_of_a_run():
    assert RunConfig.from_dict({"data": {"align": True}}).data.preprocess().align is True
    assert RunConfig().data.preprocess().align is False


def test_synthetic_auto_runs_the_guard_and_trains_its_choice(tmp_path):
    d = json.loads(json.dumps(TINY))
    d["loop"]["selection"] = "none"
    d["final"].update(synthetic="auto", guard={"techniques": ["plain", "dann"], "folds": 2})
    summary = run(RunConfig.from_dict(d), tmp_path / "auto", progress=False)
    rec = summary["recognition"]
    guard = json.loads(folder(tmp_path / "auto").guard_path().read_text())
    assert [r["candidate"] for r in guard["table"]] == ["real", "real_syn", "real_syn:dann"]
    assert rec["auto"]["guard"]["chosen"] == guard["chosen"] and guard["reason"]
    chosen_set = "real" if guard["chosen"] == "real" else "real_syn"
    report = json.loads(folder(tmp_path / "auto").recognition_report_path("auto", 0).read_text())
    assert report["train_size"] == json.loads(
        folder(tmp_path / "auto").recognition_report_path(chosen_set, 0).read_text())["train_size"]
    if guard["chosen"] == "real":  # Real kept: the Real result itself
        assert rec["auto"]["overall"]["mean"] == rec["real"]["overall"]["mean"]
    # per fold, a generator of that fold's training part (the default): its samples, as many a class as the run's
    assert guard["fold_synthetic"] is True
    syn = MotionSet.load(folder(tmp_path / "auto").synthetic_path)
    for i in range(2):
        fold_set = MotionSet.load(folder(tmp_path / "auto").recognition_dir() / f"guard_fold{i}.npz")
        assert fold_set.is_synthetic.all() and np.array_equal(np.bincount(fold_set.labels),
                                                              np.bincount(syn.labels))
        assert not np.allclose(fold_set.data, syn.data)  # another generator's samples
    from infagenc.viz.report import build_report
    text = build_report(tmp_path / "auto").read_text()
    assert "The guard's validation" in text and "Real+Syn:dann" in text and guard["reason"] in text
    with pytest.raises(ConfigError, match="final.synthetic"):
        RunConfig.from_dict({"final": {"synthetic": "maybe"}})


def test_a_run_resumes_with_another_inference_batch_but_not_another_training_batch(tmp_path):
    """The inference batch is an execution setting (eval-mode outputs do not depend on it): a run
    started with the former default of 64 resumes under the device-chosen default; the training
    batch changes what is computed, so it is refused."""
    from infagenc.loop.runner import _check_resume

    f = RunFolder(tmp_path / "run")
    started = RunConfig.from_dict({"critic": {"eval_batch_size": 64},
                                   "final": {"recognizer": {"eval_batch_size": 64}}}).effective("cpu")
    f.write_json(f.config_path, started.to_dict())
    now = RunConfig().effective("cpu")
    assert now.critic.eval_batch_size is None
    assert _check_resume(f, now)["critic"]["eval_batch_size"] == 64
    with pytest.raises(ValueError, match="critic.batch_size differ"):
        _check_resume(f, RunConfig.from_dict({"critic": {"batch_size": 8}}).effective("cpu"))


def test_the_guard_can_take_the_runs_own_synthetic_set_on_every_fold(tmp_path):
    d = json.loads(json.dumps(TINY))
    d["loop"]["selection"] = "none"
    d["final"].update(synthetic="auto", guard={"techniques": ["plain"], "folds": 2}, guard_generators="shared")
    run(RunConfig.from_dict(d), tmp_path / "shared", progress=False)
    guard = json.loads(folder(tmp_path / "shared").guard_path().read_text())
    assert guard["fold_synthetic"] is False and "optimistic" in guard["caveat"]
    assert not list(folder(tmp_path / "shared").recognition_dir().glob("guard_fold*.npz"))
    with pytest.raises(ConfigError, match="final.guard_generators"):
        RunConfig.from_dict({"final": {"guard_generators": "some"}})
