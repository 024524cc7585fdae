"""How a run starts: the torch threads it takes, the overall progress line, why the critic's
pre-training stopped, and `--pretrained-from` (another run's pre-trained critic and generator)."""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pytest
import torch

from infagenc.cli import main
from infagenc.cli import _common
from infagenc.config import merge_dicts, read_config_file
from infagenc.loop import pretrain
from infagenc.loop.config import RunConfig
from infagenc.loop.pretrain import critic_stop_line
from infagenc.loop.runner import phase_costs, run
from infagenc.runfolder import RunFolder
from infagenc.train.generator import GeneratorTrainer

from test_fault_injection import MINI, _differences, _strip_times


def _args(**kw) -> argparse.Namespace:
    base = dict(selection=None, seed=None, test_subjects=None, device=None, precision=None, name=None, threads=None,
                config=None)
    return argparse.Namespace(**{**base, **kw})


@pytest.mark.parametrize("others, free", [(0, 2), (1, 1), (2, 1), (7, 1)])
def test_threads_default_to_the_cores_free_now(monkeypatch, capsys, tmp_path, others, free):
    """Free cores come from the tasks runnable now (/proc/loadavg's count, which includes the
    reader), not from the lagging load average (here 9.0: it would say no core is free)."""
    f = tmp_path / "loadavg"
    f.write_text(f"9.00 5.00 2.00 {others + 1}/120 4242\n")
    monkeypatch.setattr(_common, "LOADAVG", str(f))
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (9.0, 5.0, 2.0))
    how = f"{others} other runnable task{'s' if others != 1 else ''} now"
    assert _common.free_cores() == (2, free, how)
    cfg, note = _common.resolve_run_config(_args(), {})
    assert cfg.execution.threads == free
    assert note == f"{free} torch thread(s): {free} of 2 cores free ({how}); set --threads N to change"
    assert capsys.readouterr().err == ""  # said once the data are read (see below), not before
    cfg, note = _common.resolve_run_config(_args(threads=3), {})
    assert cfg.execution.threads == 3 and note is None  # a flag wins, silently


def test_the_runnable_count_is_a_median_of_reads(tmp_path, monkeypatch):
    reads = iter(["1.0 1.0 1.0 5/90 1", "1.0 1.0 1.0 1/90 1", "1.0 1.0 1.0 2/90 1"])
    f = tmp_path / "loadavg"

    def sleep(_):
        f.write_text(next(reads))

    import time
    monkeypatch.setattr(time, "sleep", sleep)
    f.write_text("1.0 1.0 1.0 9/90 1")
    assert _common.runnable_others(str(f), reads=3, interval=0.0) == 4.0  # median of 8, 4, 0 (minus the reader)
    f.write_text("not a loadavg line")
    assert _common.runnable_others(str(f), reads=1) is None
    assert _common.runnable_others(str(tmp_path / "missing"), reads=1) is None


@pytest.mark.parametrize("load, free", [(0.3, 2), (0.6, 1), (1.2, 1), (7.5, 1), (0.0, 2)])
def test_without_a_runnable_count_the_load_average(monkeypatch, tmp_path, load, free):
    monkeypatch.setattr(_common, "runnable_others", lambda: None)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (load, 0.0, 0.0))
    assert _common.free_cores() == (2, free, f"1-minute load {load:.1f}")


def test_threads_from_a_config_file_are_kept(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    f = tmp_path / "c.json"
    f.write_text(json.dumps({"execution": {"threads": 1}}))
    cfg, note = _common.resolve_run_config(_args(config=str(f)), {})
    assert cfg.execution.threads == 1 and note is None


def test_a_run_refused_for_its_input_prints_only_the_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert main(["run", "--data", str(tmp_path / "missing.npz"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("infagenc: error:") and "missing.npz" in err


def test_zero_threads_is_a_one_line_error(tmp_path, capsys):
    assert main(["demo", "--threads", "0", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "execution.threads must be >= 1 or unset, got 0" in err
    assert not (tmp_path / "r").exists()


def test_without_a_load_average_every_usable_core(monkeypatch):
    def no_load():
        raise OSError("no load average here")

    monkeypatch.setattr(os, "getloadavg", no_load)
    monkeypatch.setattr(_common, "runnable_others", lambda: None)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    assert _common.free_cores() == (3, 3, "no load information")


def test_the_critic_line_says_why_it_stopped():
    hist = [{"epoch": 1, "acc": 0.5}, {"epoch": 2, "acc": 0.9, "stopped": "acc 0.900 >= target 0.85"}]
    line = critic_stop_line(hist, 30, 0.85)
    assert line == ("critic pre-training stopped after 2 of 30 epochs: target accuracy reached on the training "
                    "set (acc 0.900 >= target 0.85)")
    val = [{"epoch": 1, "val_acc": 0.9, "stopped": "val_acc 0.900 >= target 0.85"}]
    assert "on the validation set" in critic_stop_line(val, 30, 0.85)
    assert critic_stop_line(hist[:1], 1, 0.85) == ("critic pre-trained: 1 of 1 epochs, target accuracy 0.85 not "
                                                   "reached (the last epoch is kept)")
    assert "no target accuracy set" in critic_stop_line(hist[:1], 1, None)


def test_phase_costs_follow_the_config():
    cfg = RunConfig.from_dict(MINI)
    c = phase_costs(cfg, 40, 20)
    assert set(c) == {"data", "pretrain_critic", "pretrain_generator", "loop", "final_recognition", "evaluation"}
    more = phase_costs(RunConfig.from_dict(merge_dicts(MINI, {"pretrain_generator_epochs": 20})), 40, 20)
    assert more["pretrain_generator"] == pytest.approx(10 * c["pretrain_generator"])
    assert phase_costs(cfg, 80, 20)["final_recognition"] == pytest.approx(2 * c["final_recognition"])
    off = phase_costs(RunConfig.from_dict(merge_dicts(MINI, {"evaluation": {"enabled": False}})), 40, 20)
    assert off["evaluation"] == 0.0


@pytest.mark.slow  # a tiny run of the pipeline (seconds)
def test_a_run_prints_its_phases_and_restores_the_threads(tmp_path, capsys):
    before = torch.get_num_threads()
    torch.set_num_threads(before + 1)  # the caller's setting; the run itself takes one thread
    try:
        run(RunConfig.from_dict(merge_dicts(MINI, {"execution": {"threads": 1}})), tmp_path / "r", progress=True,
            note="3 torch thread(s): chosen")
        assert torch.get_num_threads() == before + 1
    finally:
        torch.set_num_threads(before)
    err = [ln for ln in capsys.readouterr().err.replace("\r", "\n").splitlines() if ln.startswith("infagenc: ")]
    assert err[0] == "infagenc: 3 torch thread(s): chosen"  # once the data are read, before the phases
    err = err[1:]
    assert [ln.split(":")[1].strip() for ln in err] == [f"phase {k} of 6" for k in range(2, 7)]
    assert all("elapsed, about " in ln and " left (estimate" in ln for ln in err)
    assert "critic pre-training" in err[0] and "final recognition" in err[3]
    assert ", rough)" in err[0] and ", rough)" not in err[-1]  # the model alone, then scaled by measured speed
    log = (tmp_path / "r" / "run.log").read_text()
    assert "critic pre-trained: 2 of 2 epochs" in log or "critic pre-training stopped after" in log


def _cfg(**over) -> RunConfig:
    return RunConfig.from_dict(merge_dicts(MINI, over))


@pytest.fixture(scope="module")
def source_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("pretrained") / "distance"
    run(_cfg(), root, progress=False)
    return root


@pytest.mark.slow  # a tiny run of the pipeline (seconds)
def test_pretrained_from_another_run_does_not_retrain_and_gives_the_same_results(source_run, tmp_path,
                                                                                monkeypatch):
    trained = tmp_path / "random_trained"
    run(_cfg(loop={"selection": "random"}), trained, progress=False)

    def no_training(*a, **k):
        raise AssertionError("pre-training ran although the models were given")

    with monkeypatch.context() as m:
        m.setattr(pretrain, "new_recognizer", no_training)
        m.setattr(GeneratorTrainer, "from_motionset", classmethod(no_training))
        copied = tmp_path / "random_copied"
        run(_cfg(loop={"selection": "random"}), copied, progress=False, pretrained_from=source_run)
    f = RunFolder(copied, create=False)
    assert {"pretrain_critic", "pretrain_generator"} <= set(f.state()["phases_done"])
    assert f"pre-trained critic and generator copied from {source_run}" in f.log_path.read_text()
    for what in ("critic", "generator"):
        log = f.read_json(f.pretrain_log_path(what))
        assert log["copied_from"] == str(source_run)
    timing = f.read_json(f.timing_path)["phases"]
    assert timing["pretrain_critic"] < 1.0 and timing["pretrain_generator"] < 1.0
    for name in ("critic_pretrained", "generator_pretrained"):
        assert f.checkpoint(name).read_bytes() == RunFolder(source_run, create=False).checkpoint(name).read_bytes()
    # everything else equals the run that pre-trained itself (the pre-training logs say where they came from)
    logs = {f"differs: pretrain_{what}.json" for what in ("critic", "generator")}
    assert set(_differences(trained, copied)) == logs
    for what in ("critic", "generator"):
        mine, own = (json.loads((r / f"pretrain_{what}.json").read_text()) for r in (copied, trained))
        assert _strip_times(mine["history"]) == _strip_times(own["history"])  # the same training, done once
    assert json.loads((copied / "recognition" / "summary.json").read_text()) == \
        json.loads((trained / "recognition" / "summary.json").read_text())


@pytest.mark.slow  # a tiny run of the pipeline (seconds)
def test_pretrained_from_refuses_another_pretraining_config(source_run, tmp_path, capsys):
    with pytest.raises(ValueError, match=r"pre-training config differs \(critic\.epochs, critic\.lr\)"):
        run(_cfg(critic={"epochs": 3, "lr": 1e-3}), tmp_path / "a", progress=False, pretrained_from=source_run)
    with pytest.raises(ValueError, match=r"differs \(demo\.seed\)"):
        run(_cfg(demo={"seed": 1}), tmp_path / "b", progress=False, pretrained_from=source_run)
    with pytest.raises(ValueError, match=r"differs \(critic\.seed, generator\.seed\)"):  # derived from the run seed
        run(_cfg(seed=5), tmp_path / "c", progress=False, pretrained_from=source_run)
    # a loop or final setting may differ: that is what the ablations change
    run(_cfg(loop={"selection": "none"}), tmp_path / "d", progress=False, pretrained_from=source_run)
    cfg = tmp_path / "c.json"
    # MINI over the demo config (the paper's generator lr and critic target again: the source run is
    # MINI over the paper's defaults), but 3 generator epochs instead of 2
    cfg.write_text(json.dumps({**MINI, "critic": {**MINI["critic"], "target_accuracy": 0.85, "schedule": "constant"},
                               "generator": {**MINI["generator"], "lr": 1e-4}, "pretrain_generator_epochs": 3}))
    argv = ["demo", "--config", str(cfg), "--out", str(tmp_path / "e"), "--no-progress", "--threads", "1",
            "--pretrained-from", str(source_run)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "differs (generator.epochs, pretrain_generator_epochs)" in err
    assert main(argv[:-1] + [str(tmp_path / "nothing")]) == 2
    assert "not a run folder" in capsys.readouterr().err


@pytest.mark.slow  # a tiny run of the pipeline (seconds)
def test_pretrained_from_an_unfinished_run_is_refused(source_run, tmp_path):
    early = tmp_path / "early"
    early.mkdir()
    for name in ("config.json", "state.json"):
        (early / name).write_bytes((Path(source_run) / name).read_bytes())
    RunFolder(early).set_state(phases_done=["data"])
    with pytest.raises(ValueError, match="has not finished pretrain_critic and pretrain_generator"):
        run(_cfg(), tmp_path / "x", progress=False, pretrained_from=early)


def test_a_partial_critic_table_keeps_the_run_critics_other_defaults(tmp_path):
    # The run's critic default (target accuracy 0.85) differs from a bare recognizer's (None):
    # a [critic] table that names only its epochs must not drop it.
    cfg_file = tmp_path / "run.toml"
    cfg_file.write_text("[critic]\nepochs = 3\n")
    cfg = RunConfig.from_dict(read_config_file(cfg_file))
    assert cfg.critic.epochs == 3
    assert cfg.critic.target_accuracy == RunConfig().critic.target_accuracy == 0.85
    assert cfg.final == RunConfig().final
    # TOML has no None: false turns the target off.
    cfg_file.write_text("[critic]\ntarget_accuracy = false\n")
    assert RunConfig.from_dict(read_config_file(cfg_file)).critic.target_accuracy is None
