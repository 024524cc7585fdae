"""What a user meets when something goes wrong: one-line errors, a lock per run folder,
configs compared by meaning, corrupt files named, nothing left out silently."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from infagenc.cli import main
from infagenc.data.demo import make_demo
from infagenc.loop.config import RunConfig
from infagenc.loop.runner import run
from infagenc.runfolder import RunFolder, RunFolderBusy
from test_fault_injection import MINI

pytestmark = pytest.mark.slow  # tiny runs of the pipeline (seconds each)


def mini(**data) -> RunConfig:
    d = json.loads(json.dumps(MINI))
    d["data"].update(data)
    return RunConfig.from_dict(d)


def test_a_second_process_on_the_same_run_folder_is_refused(tmp_path):
    with RunFolder(tmp_path / "run").locked():
        with pytest.raises(RunFolderBusy, match=f"in use by infagenc process {os.getpid()}"):
            run(mini(), tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "run.log").exists()  # the refused run wrote nothing
    with RunFolder(tmp_path / "run").locked():  # the lock is released after use
        pass


def test_cli_errors_are_one_line_and_debug_shows_the_traceback(tmp_path, capsys):
    rc = main(["run", "--data", str(tmp_path / "missing.npz"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    lines = err.splitlines()  # progress lines ("infagenc: phase 1 of 6 ...") may precede the error
    errors = [ln for ln in lines if ln.startswith("infagenc: error:")]
    assert rc == 2 and len(errors) == 1 and lines[-1] == errors[0] and "missing.npz" in errors[0]
    assert all(ln.startswith("infagenc: ") for ln in lines)
    assert "Traceback" not in err
    assert not (tmp_path / "out" / "config.json").exists()  # a failed start blocks no corrected command
    from infagenc.data.errors import DataError

    with pytest.raises(DataError, match="missing.npz"):  # --debug lets the library's own error through
        main(["--debug", "run", "--data", str(tmp_path / "missing.npz"), "--out", str(tmp_path / "out")])


def test_a_bad_config_file_is_named_with_its_line(tmp_path, capsys):
    bad = tmp_path / "c.toml"
    bad.write_bytes(b'name = "x"\nseed = \xff1\n')
    assert main(["demo", "--config", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: line 2: not UTF-8" in err
    bad.write_text('name = "x"\nseed = = 1\n')
    assert main(["demo", "--config", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "line 2" in capsys.readouterr().err


def test_resume_with_another_config_names_the_keys(tmp_path):
    out = tmp_path / "run"
    run(mini(), out, progress=False)
    other = json.loads(json.dumps(MINI))
    other["loop"]["theta"] = 0.5
    other["final"]["seeds"] = [0, 1]
    with pytest.raises(ValueError, match=r"\(final\.seeds, loop\.theta differ\)"):
        run(RunConfig.from_dict(other), out, progress=False)


def test_data_paths_are_resolved(tmp_path, monkeypatch):
    make_demo(num_subjects=3, per_class=2, seed=0, rep="xyz").save(tmp_path / "d.npz")
    monkeypatch.chdir(tmp_path)
    rel, absolute = mini(path="./d.npz").effective("cpu"), mini(path=str(tmp_path / "d.npz")).effective("cpu")
    assert rel.to_dict() == absolute.to_dict() and rel.data.path == str(tmp_path / "d.npz")


def test_corrupt_and_refused_checkpoints_say_so(tmp_path):
    import torch

    from infagenc.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

    good = save_checkpoint(tmp_path / "c.pt", {"w": torch.zeros(3)}, {"epoch": 1})
    cut = tmp_path / "cut.pt"
    cut.write_bytes(good.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="corrupt or truncated checkpoint.*delete it"):
        load_checkpoint(cut)
    evil = tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "meta": {}, "x": np.random.default_rng(0)}, evil)
    with pytest.raises(CheckpointError, match="refused") as e:
        load_checkpoint(evil)
    assert "weights_only" not in str(e.value)  # torch's advice to load it unsafely is not repeated


def test_an_empty_class_names_the_class_and_its_subjects(tmp_path):
    ms = make_demo(num_subjects=3, per_class=2, seed=0, rep="xyz")
    keep = ~((ms.labels == 0) & (ms.subjects != ms.subjects[0]))  # class 0 only in one subject
    ms.subset(np.flatnonzero(keep)).save(tmp_path / "d.npz")
    only = str(ms.subjects[0])
    with pytest.raises(ValueError, match=rf"class '{ms.class_names[0]}' \(its samples are all of subjects {only}\)"):
        run(mini(path=str(tmp_path / "d.npz"), test_subjects=[only], test_fraction=0.5), tmp_path / "r",
            progress=False)


def test_samples_left_out_are_listed_on_stdout_in_the_log_and_the_summary(tmp_path, capsys):
    ms = make_demo(num_subjects=3, per_class=2, seed=0, rep="xyz")
    data = ms.data.copy()
    data[1, 2] = np.nan
    ms.with_data(data).save(tmp_path / "d.npz")
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({k: v for k, v in MINI.items() if k not in ("data", "demo")}))
    out = tmp_path / "run"
    assert main(["run", "--data", str(tmp_path / "d.npz"), "--config", str(cfg), "--out", str(out),
                 "--no-progress"]) == 0
    stdout = capsys.readouterr().out
    name = str(ms.names[1])
    assert "left out 1 sample(s)" in stdout and name in stdout
    assert f"left out: {tmp_path / 'd.npz'}: sample {name!r}: NaN/Inf" in (out / "run.log").read_text()
    excluded = json.loads((out / "data" / "summary.json").read_text())["excluded"]
    assert [e["sample"] for e in excluded] == [name]
    from infagenc.viz.report import build_report

    report = build_report(out, progress=False).read_text()
    assert "Left out by the reader (1 sample(s)" in report and name in report
