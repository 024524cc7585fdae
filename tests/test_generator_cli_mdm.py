"""`generator train --model mdm` and `generator sample` on either kind of checkpoint, with the
frames and per-class defaults taken from the checkpoint."""
from __future__ import annotations

import json

import pytest

from infagenc.cli import main
from infagenc.data.motionset import MotionSet
from infagenc.workflows.generator import DEFAULT_PER_CLASS, checkpoint_kind


@pytest.mark.parametrize("model", ["cvae", "mdm"])
def test_train_and_sample_either_generator_with_checkpoint_defaults(tmp_path, model, capsys):
    out = tmp_path / model
    assert main(["generator", "train", "--data", "demo", "--model", model, "--size", "slim", "--epochs", "1",
                 "--frames", "8", "--sampling-steps", "2", "--device", "cpu", "--out", str(out),
                 "--no-progress"]) == 0
    ckpt = out / "generator.pt"
    assert checkpoint_kind(ckpt) == model
    assert json.loads((out / "config.json").read_text())["generator"].get("sampling_steps", 2) == 2
    capsys.readouterr()
    assert main(["generator", "sample", "--checkpoint", str(ckpt), "--out", str(tmp_path / "s.npz"),
                 "--device", "cpu", "--no-progress"]) == 0
    ms = MotionSet.load(tmp_path / "s.npz")
    assert ms.num_frames == 8 and ms.is_synthetic.all()  # frames: the length the generator was trained on
    assert set(ms.class_counts().values()) == {DEFAULT_PER_CLASS}
    if model == "mdm":  # CVAE-only options say so
        assert main(["generator", "sample", "--checkpoint", str(ckpt), "--out", str(tmp_path / "x.npz"),
                     "--dropout", "0.2", "--device", "cpu", "--no-progress"]) == 2


def test_a_file_that_is_no_generator_is_named(tmp_path):
    from infagenc.train.checkpoint import save_checkpoint

    save_checkpoint(tmp_path / "r.pt", {}, {"kind": "something"})
    with pytest.raises(ValueError, match="not a generator checkpoint"):
        checkpoint_kind(tmp_path / "r.pt")
