"""Exemplar-conditioned (posterior) sampling: variants around real samples, their counts,
provenance and the source-distance filter; its use in the loop, the baseline and the CLI."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from infagenc.data.demo import make_demo
from infagenc.data.motionset import MotionSet
from infagenc.loop.config import LoopConfig, RunConfig
from infagenc.loop.rounds import draw_samples
from infagenc.loop.seeds import balanced_requests
from infagenc.models.cvae import CVAEConfig
from infagenc.skeleton.layouts import Layout
from infagenc.train.exemplar import (EXEMPLAR_MARK, exemplar_name, exemplar_plan, sample_around, sample_exemplars,
                                     source_distances)
from infagenc.train.generator import GeneratorConfig, GeneratorTrainer

TINY = CVAEConfig(num_layers=1, d_model=32, num_heads=2, ff_size=64, dropout=0.1)


def cfg(**kw) -> GeneratorConfig:
    return GeneratorConfig(**{"cvae": TINY, "batch_size": 4, "epochs": 1, "device": "cpu", "lr": 1e-3, **kw})


@pytest.fixture(scope="module")
def xyz() -> MotionSet:
    # 8 xyz sequences of 10..14 frames, 4 classes (2 each)
    return make_demo(num_subjects=1, per_class=2, seed=1, rep="xyz", min_len=10, max_len=14)


@pytest.fixture(scope="module")
def trainer(xyz) -> GeneratorTrainer:
    tr = GeneratorTrainer.from_motionset(xyz, cfg(keep_root=False))  # root "none": decoder output as is
    tr.fit(xyz, progress=False)
    return tr


def test_tau_zero_decodes_the_exemplars_reconstruction(trainer, xyz):
    ms = sample_around(trainer.model, trainer.spec, xyz, per_exemplar=2, tau=0.0, seed=5)
    ts = trainer.tensors(xyz)
    trainer.model.eval()
    with torch.no_grad():
        mu, _ = trainer.model.encode(ts.x, ts.labels, ts.lengths)
        rec = trainer.model.decode(mu, ts.labels, ts.lengths, num_frames=xyz.num_frames).numpy()
        fwd = trainer.model(ts.x, ts.labels, ts.lengths, use_mean=True)["output"].numpy()
    np.testing.assert_allclose(rec, fwd, atol=1e-6)
    assert len(ms) == 16 and ms.labels.tolist() == np.repeat(xyz.labels, 2).tolist()
    assert ms.lengths.tolist() == np.repeat(xyz.lengths, 2).tolist()
    for i in range(len(ms)):
        e, n = i // 2, int(ms.lengths[i])
        np.testing.assert_allclose(ms.data[i, :n], rec[e, :n], atol=1e-5)
        assert (ms.data[i, n:] == 0).all()
    # tau > 0: seeded variants around the same exemplars, independent of the batching
    a = sample_around(trainer.model, trainer.spec, xyz, 2, 0.7, seed=5)
    b = sample_around(trainer.model, trainer.spec, xyz, 2, 0.7, seed=5, batch_size=3)
    c = sample_around(trainer.model, trainer.spec, xyz, 2, 0.7, seed=6)
    np.testing.assert_allclose(a.data, b.data, atol=1e-5)
    assert not np.allclose(a.data, ms.data, atol=1e-4) and not np.allclose(a.data, c.data, atol=1e-4)
    assert not np.allclose(a.data[0], a.data[1], atol=1e-4)  # two variants of one exemplar differ


def test_provenance_names_the_exemplar_and_survives_save(trainer, xyz, tmp_path):
    ms = sample_around(trainer.model, trainer.spec, xyz, 1, 0.5, seed=2, provenance={"run": "r", "epoch": 3})
    assert ms.names[0] == f"syn-r-e3-s2-000000-{xyz.class_names[xyz.labels[0]]}{EXEMPLAR_MARK}{xyz.names[0]}"
    assert [exemplar_name(n) for n in ms.names] == xyz.names.tolist()
    assert exemplar_name("syn-s0-000001-kick") is None
    assert ms.is_synthetic.all() and set(ms.seed) == {2} and set(ms.epoch) == {3} and set(ms.subjects) == {"synthetic"}
    back = MotionSet.load(ms.save(tmp_path / "ex.npz"))
    assert [exemplar_name(n) for n in back.names] == xyz.names.tolist()


def test_exemplar_plan_counts_by_hand():
    labels = np.array([0, 0, 0, 1, 2])  # class 3 has no exemplar
    prop = exemplar_plan(labels, 4, per_exemplar=2)
    assert prop.tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]  # class counts 6, 2, 2, 0: the real 3 : 1 : 1
    bal = exemplar_plan(labels, 4, per_exemplar=1, counts="balanced")  # 1 x the largest class (3)
    assert bal.tolist() == [0, 1, 2, 3, 3, 3, 4, 4, 4]
    assert exemplar_plan(labels, 4, counts="balanced", per_class=2).tolist() == [0, 1, 3, 3, 4, 4]
    assert exemplar_plan(labels, 4, counts="balanced", per_class=[4, 1, 0, 0]).tolist() == [0, 1, 2, 0, 3]
    with pytest.raises(ValueError, match="class index 3 has no exemplar"):
        exemplar_plan(labels, 4, counts="balanced", per_class=[1, 1, 1, 1])
    with pytest.raises(ValueError, match="per_class is for counts='balanced'"):
        exemplar_plan(labels, 4, per_class=2)
    with pytest.raises(ValueError, match="counts must be one of"):
        exemplar_plan(labels, 4, counts="even")
    with pytest.raises(ValueError, match="per_exemplar must be >= 1"):
        exemplar_plan(labels, 4, per_exemplar=0)


def test_proportional_and_balanced_counts_of_samples(trainer, xyz):
    ex = xyz.subset([0, 1, 2, 4])  # classes 0, 0, 1, 2 (class 3 absent)
    assert ex.labels.tolist() == [0, 0, 1, 2]
    prop = sample_around(trainer.model, trainer.spec, ex, 3, 0.5, seed=0)
    assert np.bincount(prop.labels, minlength=4).tolist() == [6, 3, 3, 0]
    bal = sample_exemplars(trainer.model, trainer.spec, ex, 3, 0.5, seed=0, counts="balanced")
    assert np.bincount(bal.samples.labels, minlength=4).tolist() == [6, 6, 6, 0]
    assert bal.exemplar.tolist() == [0, 1] * 3 + [2] * 6 + [3] * 6  # class 0's two exemplars cycled
    assert [exemplar_name(n) for n in bal.samples.names[:2]] == ex.names[:2].tolist()


def _line_set(offsets, layout, names=None) -> MotionSet:
    """Two-joint xyz sequences of 4 frames: joint 0 at the origin, joint 1 at (offset, 0, 0)."""
    data = np.zeros((len(offsets), 4, 2, 3), np.float32)
    data[:, :, 1, 0] = np.asarray(offsets, np.float32)[:, None]
    n = len(offsets)
    return MotionSet(data, [4] * n, [0] * n, ("a",), ["s"] * n, names or [f"x{i}" for i in range(n)], layout, "xyz")


def test_source_distances_by_hand():
    lay = Layout("line2", ("a", "b"), (-1, 0), 0)
    src = _line_set([0.0, 0.0, 0.0], lay)
    gen = _line_set([0.2, 1.0, 0.6], lay)
    # joint 0 matches, joint 1 is off by the offset: mean over the two joints = offset / 2
    np.testing.assert_allclose(source_distances(gen, src), [0.1, 0.5, 0.3], atol=1e-6)
    with pytest.raises(ValueError, match="3 samples for 2 sources"):
        source_distances(gen, src.subset([0, 1]))


def test_the_filter_drops_exactly_the_far_samples(trainer, xyz):
    full = sample_exemplars(trainer.model, trainer.spec, xyz, 2, 1.0, seed=4, max_distance=1e9)
    assert full.dropped == 0 and full.requested == 16 and full.distance.shape == (16,)
    # the distances are those of each sample to its exemplar, recomputed here
    src = xyz.subset(full.exemplar)
    np.testing.assert_allclose(full.distance, source_distances(full.samples, src), rtol=1e-6)
    thr = float(np.median(full.distance))
    far = full.distance > thr
    res = sample_exemplars(trainer.model, trainer.spec, xyz, 2, 1.0, seed=4, max_distance=thr)
    assert res.dropped == int(far.sum()) > 0 and len(res.samples) == 16 - res.dropped
    assert res.samples.names.tolist() == full.samples.names[~far].tolist()
    np.testing.assert_allclose(res.samples.data, full.samples.data[~far], atol=1e-6)
    assert res.summary() == {"requested": 16, "kept": 16 - res.dropped, "dropped": res.dropped, "max_distance": thr}
    assert any(f"dropped {res.dropped} of 16" in n for n in res.samples.notes)
    # without the filter: nothing dropped, no note
    plain = sample_exemplars(trainer.model, trainer.spec, xyz, 2, 1.0, seed=4)
    assert plain.distance is None and plain.dropped == 0 and not plain.samples.notes


def test_the_filter_on_rotation_data_uses_forward_kinematics():
    rot = make_demo(num_subjects=1, per_class=1, seed=0, min_len=8, max_len=10)  # rot6d, smpl24, with trans
    tr = GeneratorTrainer.from_motionset(rot, cfg(trans=True))
    res = sample_exemplars(tr.model, tr.spec, rot, 2, 0.5, seed=1, max_distance=1e9, rest=tr.rest)
    assert res.dropped == 0 and np.isfinite(res.distance).all() and (res.distance > 0).all()
    src = rot.subset(res.exemplar)
    np.testing.assert_allclose(res.distance, source_distances(res.samples, src, tr.rest), rtol=1e-5)


def test_bad_input_is_refused_in_one_line(trainer, xyz):
    m, s = trainer.model, trainer.spec
    with pytest.raises(ValueError, match="tau must be >= 0"):
        sample_around(m, s, xyz, 1, -0.1, seed=0)
    with pytest.raises(ValueError, match="max_distance must be > 0"):
        sample_around(m, s, xyz, 1, 0.5, seed=0, max_distance=0.0)
    with pytest.raises(ValueError, match="exemplar set is empty"):
        sample_around(m, s, xyz.subset([]), 1, 0.5, seed=0)
    unlabelled = MotionSet(xyz.data, xyz.lengths, [-1] * len(xyz), (), xyz.subjects, xyz.names, xyz.layout, "xyz")
    with pytest.raises(ValueError, match="must be labelled"):
        sample_around(m, s, unlabelled, 1, 0.5, seed=0)


def test_loop_config_options_and_draw_samples(trainer, xyz):
    lc = LoopConfig()
    assert (lc.sampling, lc.exemplar_tau, lc.exemplar_max_distance) == ("prior", 1.0, None)
    with pytest.raises(ValueError, match="loop.sampling must be one of"):
        LoopConfig(sampling="posterior")
    with pytest.raises(ValueError, match="exemplar_tau"):
        LoopConfig(sampling="exemplar", exemplar_tau=-1)
    with pytest.raises(ValueError, match="is for loop.sampling = 'exemplar'"):
        LoopConfig(exemplar_max_distance=0.5)
    req = balanced_requests(4, 10, 12)  # 3, 3, 2, 2
    prior, dropped = draw_samples(RunConfig(), trainer, req, xyz, 0, {"run": "r"})
    assert dropped is None and prior.lengths.tolist() == [12] * 10 and exemplar_name(prior.names[0]) is None
    cfg_ex = RunConfig(loop=LoopConfig(sampling="exemplar", exemplar_tau=0.5))
    syn, dropped = draw_samples(cfg_ex, trainer, req, xyz, 0, {"run": "r"})
    assert dropped is None and np.bincount(syn.labels).tolist() == [3, 3, 2, 2]
    assert {exemplar_name(n) for n in syn.names} == set(xyz.names.tolist())
    assert syn.lengths.tolist() == [int(xyz.lengths[xyz.names.tolist().index(exemplar_name(n))]) for n in syn.names]
    tight = RunConfig(loop=LoopConfig(sampling="exemplar", exemplar_max_distance=1e-9))
    with pytest.raises(ValueError, match="dropped all 10 samples"):
        draw_samples(tight, trainer, req, xyz, 0, {"run": "r"})


def test_cli_samples_around_exemplars(xyz, tmp_path, capsys):
    from infagenc.cli import main

    data = xyz.save(tmp_path / "train.npz")
    out = tmp_path / "run"
    assert main(["generator", "train", "--data", str(data), "--size", "slim", "--epochs", "1", "--batch-size", "4",
                 "--out", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    ck = str(out / "generator.pt")
    assert main(["generator", "sample", "--checkpoint", ck, "--exemplars", str(data), "--tau", "0.5",
                 "--per-exemplar", "3", "--out", str(tmp_path / "ex.npz"), "--no-progress",
                 "--max-distance", "1e6"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (summary["samples"], summary["requested"], summary["dropped"], summary["exemplars"]) == (24, 24, 0, 8)
    syn = MotionSet.load(tmp_path / "ex.npz")
    assert sorted({exemplar_name(n) for n in syn.names}) == sorted(xyz.names.tolist()) and set(syn.epoch) == {1}
    assert main(["generator", "sample", "--checkpoint", ck, "--exemplars", str(data), "--counts", "balanced",
                 "--per-class", "5", "--out", str(tmp_path / "bal.npz"), "--no-progress"]) == 0
    assert np.bincount(MotionSet.load(tmp_path / "bal.npz").labels).tolist() == [5, 5, 5, 5]
    # trained on sequences of different lengths: the frames to sample must be given
    for bad, msg in ((["--per-class", "2"], "give the number of frames to sample (--frames)"),
                     (["--per-class", "2", "--frames", "5", "--tau", "0.3"], "--tau needs --exemplars"),
                     (["--exemplars", str(data), "--frames", "5"], "--frames does not apply"),
                     (["--exemplars", str(data), "--per-class", "2"], "needs --counts balanced")):
        assert main(["generator", "sample", "--checkpoint", ck, "--out", str(tmp_path / "x.npz")] + bad) == 2
        err = capsys.readouterr().err
        assert msg in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_a_run_with_exemplar_sampling_recycles_and_names_real_exemplars(tmp_path):
    from test_loop_run import folder, tiny

    from infagenc.loop.runner import run

    out = tmp_path / "ex"
    run(tiny(sampling="exemplar", exemplar_tau=0.5, exemplar_max_distance=1e6), out, progress=False,
        stop_after_rounds=1)
    f = folder(out)
    train = MotionSet.load(f.split_path("train"))
    chosen = MotionSet.load(f.round_selected_path(1))
    assert len(chosen) and {exemplar_name(n) for n in chosen.names} <= set(train.names.tolist())
    epochs = json.loads(f.epochs_path.read_text())
    assert all(e["dropped_by_distance"] == 0 for e in epochs)
    base = tmp_path / "base"
    run(tiny(selection="none", sampling="exemplar"), base, progress=False)
    syn = MotionSet.load(folder(base).synthetic_path)
    assert len(syn) == len(train) and {exemplar_name(n) for n in syn.names} <= set(train.names.tolist())
