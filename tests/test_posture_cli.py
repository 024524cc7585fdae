"""The posture models' command-line path: `recognizer train|eval --hierarchy FILE` and
`data fuse 2D_SET 3D_SET --out FUSED.npz`, run in-process through the CLI's main(argv)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from infagenc.cli import main
from infagenc.data.fusion import fuse_keypoints
from infagenc.data.motionset import MotionSet
from infagenc.data.preprocess import Preprocess

from conftest import REPO, need
from test_posture import toy_postures

SYRIP_TOML = REPO / "examples" / "hierarchies" / "syrip.toml"
TRAIN = ["--size", "slim", "--epochs", "25", "--batch-size", "16", "--device", "cpu", "--no-progress"]


def _run(capsys, *argv) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


# ------------------------------------------------------------------ --hierarchy
def test_train_with_a_hierarchy_file_reports_coarse_and_fine(tmp_path, capsys):
    data = toy_postures(12).save(tmp_path / "toy.npz")
    test = [f"s{i}" for i in range(0, 48, 4)]  # 3 of each class
    rc, out, _ = _run(capsys, "recognizer", "train", "--data", data, "--model", "posture", "--hierarchy", SYRIP_TOML,
                      "--test-subjects", *test, "--out", tmp_path / "h", *TRAIN)
    assert rc == 0
    opts = json.loads((tmp_path / "h" / "config.json").read_text())["recognizer"]["model_options"]
    assert opts == {"coarse_of": [0, 0, 1, 1], "coarse_names": ["lying", "upright"], "coarse_weight": 1.0}
    rep = json.loads((tmp_path / "h" / "hierarchy.json").read_text())
    assert rep["fine"]["samples"] == 12 and rep["coarse_head"] is not None
    assert rep["fine"]["overall_accuracy"] >= 0.9 and rep["coarse_head"]["overall_accuracy"] >= 0.9
    # printed: the fine, mapped coarse and coarse-head tables per class, no per-subject table
    for title in ("### Fine classes", "### Coarse classes (fine prediction mapped)", "### Coarse classes (coarse head)",
                  "| Standing | 3 |", "| upright | 6 |"):
        assert title in out
    assert "| subject |" not in out and "| subject |" in (tmp_path / "h" / "hierarchy.md").read_text()
    summary = json.loads(out[out.index("{"):])
    assert summary["coarse_accuracy"] == rep["coarse_head"]["overall_accuracy"]
    # eval --hierarchy of the checkpoint gives the same tables
    rc, _, _ = _run(capsys, "recognizer", "eval", "--checkpoint", tmp_path / "h" / "recognizer.pt", "--data", data,
                    "--subjects", *test, "--hierarchy", SYRIP_TOML, "--out", tmp_path / "ev", "--device", "cpu",
                    "--no-progress")
    assert rc == 0 and json.loads((tmp_path / "ev" / "hierarchy.json").read_text()) == rep


def test_eval_hierarchy_of_a_flat_model_maps_its_fine_prediction(tmp_path, capsys):
    data = toy_postures(6).save(tmp_path / "toy.npz")
    assert _run(capsys, "recognizer", "train", "--data", data, "--model", "posture", "--epochs", "2",
                "--out", tmp_path / "flat", "--device", "cpu", "--no-progress")[0] == 0
    rc, out, _ = _run(capsys, "recognizer", "eval", "--checkpoint", tmp_path / "flat" / "recognizer.pt", "--data",
                      data, "--hierarchy", SYRIP_TOML, "--out", tmp_path / "ev", "--device", "cpu", "--no-progress")
    rep = json.loads((tmp_path / "ev" / "hierarchy.json").read_text())
    assert rc == 0 and rep["coarse_head"] is None and rep["coarse_from_fine"]["class_names"] == ["lying", "upright"]
    assert "### Coarse classes (coarse head)" not in out


def test_a_hierarchy_missing_a_fine_class_is_refused_before_training(tmp_path, capsys):
    data = toy_postures(2).save(tmp_path / "toy.npz")
    bad = tmp_path / "no_standing.toml"
    bad.write_text('[coarse]\nlying = ["Prone", "Supine"]\nupright = ["Sitting"]\n', encoding="utf-8")
    rc, out, err = _run(capsys, "recognizer", "train", "--data", data, "--model", "posture", "--hierarchy", bad,
                        "--out", tmp_path / "r", *TRAIN)
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert str(bad) in err and "['Standing'] have no coarse class" in err and "under one of ['lying', 'upright']" in err
    assert not (tmp_path / "r").exists()  # refused before anything was trained or written


def test_hierarchy_with_a_model_without_the_head_is_a_one_line_error(tmp_path, capsys):
    data = toy_postures(2).save(tmp_path / "toy.npz")
    rc, _, err = _run(capsys, "recognizer", "train", "--data", data, "--model", "stgcn", "--hierarchy", SYRIP_TOML,
                      "--out", tmp_path / "r", *TRAIN)
    assert rc == 2 and err.count("\n") == 1
    assert "belongs to the posture models (posture, posture_fusion), not 'stgcn'" in err and "eval --hierarchy" in err


# -------------------------------------------------------------------- data fuse
def _pair(tmp_path, names3d=None):
    a = toy_postures(3, 0, "coco17", 2)
    b = toy_postures(3, 1, "infant14", 3)
    if names3d is not None:
        b = MotionSet(b.data, b.lengths, b.labels, b.class_names, b.subjects, names3d, b.layout, b.rep)
    return a, b, a.save(tmp_path / "a2d.npz"), b.save(tmp_path / "b3d.npz")


def test_fuse_writes_the_fused_set_the_library_makes(tmp_path, capsys):
    a, b, p2, p3 = _pair(tmp_path)
    rc, out, _ = _run(capsys, "data", "fuse", p2, p3, "--out", tmp_path / "f.npz", "--no-progress")
    assert rc == 0 and "12 images, 31 joints (coco17+infant14), 4 classes" in out
    prep = Preprocess(root="per_frame", normalize_scale=True, unlabelled="fill")
    expected = fuse_keypoints(prep(a), prep(b))
    got = MotionSet.load(tmp_path / "f.npz")
    np.testing.assert_allclose(got.data, expected.data, atol=1e-6)
    assert got.layout == expected.layout and got.names.tolist() == expected.names.tolist()
    assert got.labels.tolist() == a.labels.tolist()
    # the fused set trains the late-fusion model from the command line
    assert _run(capsys, "recognizer", "train", "--data", tmp_path / "f.npz", "--model", "posture_fusion",
                "--epochs", "1", "--hierarchy", SYRIP_TOML, "--out", tmp_path / "r", "--device", "cpu",
                "--no-progress")[0] == 0


@pytest.mark.parametrize("case, message", [
    ("no_common_name", "no 2D sample name is a 3D sample name (2D e.g. 'img0.jpg', 3D e.g. 'other0'"),
    ("one_missing", "sample 'img11.jpg': no 3D keypoints for this 2D sample"),
    ("not_npz", "the fused set is written as .npz"),
])
def test_fuse_errors_are_one_line(tmp_path, capsys, case, message):
    names = [f"img{i}.jpg" for i in range(12)]
    if case == "no_common_name":
        names = [f"other{i}" for i in range(12)]
    elif case == "one_missing":
        names[11] = "img99.jpg"
    *_, p2, p3 = _pair(tmp_path, names)
    out = tmp_path / ("f.txt" if case == "not_npz" else "f.npz")
    rc, _, err = _run(capsys, "data", "fuse", p2, p3, "--out", out, "--no-progress")
    assert rc == 2 and message in err and err.count("\n") == 1 and not out.exists()


def test_fuse_skip_leaves_out_and_says_so(tmp_path, capsys):
    names = [f"img{i}.jpg" for i in range(12)]
    names[11] = "img99.jpg"
    *_, p2, p3 = _pair(tmp_path, names)
    rc, out, _ = _run(capsys, "data", "fuse", p2, p3, "--out", tmp_path / "f.npz", "--on-missing", "skip",
                      "--no-progress")
    got = MotionSet.load(tmp_path / "f.npz")
    assert rc == 0 and len(got) == 11 and "1 sample(s) left out" in out
    assert [e.sample for e in got.exclusions] == ["img11.jpg"]


def test_fuse_syrip_train200(shared_data, tmp_path, capsys):
    folder = need(shared_data / "syrip")
    coco = folder / "2d_gt" / "train200.json"
    rc, out, _ = _run(capsys, "data", "fuse", coco, folder / "3d" / "correct_3D.npy", "--option-3d", f"labels={coco}",
                      "--out", tmp_path / "f.npz", "--no-progress")
    got = MotionSet.load(tmp_path / "f.npz")
    assert rc == 0 and len(got) == 200 and got.num_joints == 31
    assert np.bincount(got.labels).tolist() == [90, 69, 35, 6]
