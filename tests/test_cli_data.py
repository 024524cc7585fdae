"""`infagenc data inspect / convert`, run in-process through the CLI's main(argv)."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
from conftest import need
from reader_fixtures import coco_doc, write_json, write_utkinect

from infagenc.cli import main


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def _class_lines(text: str) -> dict[str, int]:
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^  (\w+)\s+(\d+)$", text, re.M)}


def test_inspect_utkinect(shared_data, capsys):
    rc, out, _ = _run(capsys, "data", "inspect", str(need(shared_data / "utkinect" / "joints")), "--no-progress")
    assert rc == 0
    assert "== utkinect:" in out and "samples: 199" in out and "subjects (10):" in out
    assert _class_lines(out) == {"walk": 20, "sitDown": 20, "standUp": 20, "pickUp": 20, "carry": 19, "throw": 20,
                                 "push": 20, "pull": 20, "waveHands": 20, "clapHands": 20}
    assert "exclusions (1):" in out and "s10_e02/carry" in out and "repeated frame ids" in out


def test_inspect_syrip_folder(shared_data, capsys):
    folder = need(shared_data / "syrip")
    rc, out, _ = _run(capsys, "data", "inspect", str(folder), "--json", "--no-progress")
    assert rc == 0
    reports = {r["path"].split("/")[-1]: r for r in json.loads(out)}
    assert set(reports) == {"train200.json", "validate500.json", "correct_3D.npy", "output_pose_3D.npy"}
    assert reports["train200.json"]["class_counts"] == {"Prone": 90, "Supine": 69, "Sitting": 35, "Standing": 6}
    assert reports["validate500.json"]["class_counts"] == {"Prone": 195, "Supine": 108, "Sitting": 142,
                                                           "Standing": 55}
    corrected = np.load(folder / "3d" / "correct_3D.npy")
    zero_rows = int((~corrected.reshape(len(corrected), -1).any(axis=1)).sum())
    assert len(reports["correct_3D.npy"]["exclusions"]) == zero_rows
    assert reports["correct_3D.npy"]["samples"] == len(corrected) - zero_rows
    assert reports["output_pose_3D.npy"]["samples"] == 1700


def test_inspect_ntu_and_minirgbd(shared_data, capsys):
    rc, out, _ = _run(capsys, "data", "inspect", str(need(shared_data / "ntu_samples")), "--no-progress",
                      "-o", "bodies=all")
    assert rc == 0 and "samples: 7" in out  # A058 gives one sample per body
    assert _class_lines(out) == {"A001": 1, "A003": 1, "A011": 1, "A017": 1, "A034": 1, "A058": 2}
    rc, out, _ = _run(capsys, "data", "inspect", str(need(shared_data / "minirgbd_2d")), "--no-progress")
    assert rc == 0 and "samples: 12" in out and "unlabelled" in out and "min 1000 / mean 1000.0 / max 1000" in out


def test_inspect_on_bad_error_and_bad_option(tmp_path, capsys):
    doc = coco_doc(["Prone", None])
    path = write_json(tmp_path / "c.json", doc)
    rc, out, _ = _run(capsys, "data", "inspect", str(path))
    assert rc == 0 and "exclusions (1):" in out and "missing label" in out
    rc, _, err = _run(capsys, "data", "inspect", str(path), "--on-bad", "error")
    assert rc == 2 and "train00002.jpg" in err and "missing label" in err
    rc, _, err = _run(capsys, "data", "inspect", str(path), "-o", "bodies=all")
    assert rc == 2 and "no dataset here has the option(s) ['bodies']" in err


def test_convert_to_pyskl_and_npz(tmp_path, capsys):
    write_utkinect(tmp_path / "utk", {"s01_e01": [("walk", "10", "20"), ("throw", "22", "30")],
                                      "s02_e01": [("walk", "10", "18"), ("throw", "20", "30")]})
    pkl = tmp_path / "out" / "utk.pkl"
    rc, out, _ = _run(capsys, "data", "convert", str(tmp_path / "utk"), str(pkl), "--no-progress",
                      "--split", "xsub_train=s01", "--split", "xsub_val=s02")
    assert rc == 0 and "4 samples, 2 classes, 2 subjects" in out
    npz = tmp_path / "out" / "val.npz"
    rc, out, _ = _run(capsys, "data", "convert", str(pkl), str(npz), "-o", "split=xsub_val", "--no-progress")
    assert rc == 0 and "2 samples" in out
    rc, out, _ = _run(capsys, "data", "inspect", str(npz), "--json")
    report = json.loads(out)[0]
    assert report["subject_counts"] == {"s02": 2} and report["class_counts"] == {"walk": 1, "throw": 1}
    rc, _, err = _run(capsys, "data", "convert", str(npz), str(tmp_path / "x.txt"))
    assert rc == 2 and "cannot tell the output format" in err


@pytest.mark.parametrize("argv", [["data"], ["data", "inspect"], ["data", "convert"]])
def test_help(capsys, argv):
    with pytest.raises(SystemExit) as e:
        main(argv + ["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: infagenc data")
    if len(argv) > 1:
        assert "--on-bad" in out and "--format" in out


def test_inspect_folder_reports_an_unreadable_dataset_and_goes_on(tmp_path, capsys):
    write_json(tmp_path / "good.json", coco_doc(["Prone", "Supine"]))
    (tmp_path / "broken.json").write_text(json.dumps(coco_doc(["Prone"]))[:-20])
    (tmp_path / "broken.pkl").write_bytes(b"\x80\x04not a pickle")
    rc, out, _ = _run(capsys, "data", "inspect", str(tmp_path), "--no-progress")
    assert rc == 1
    assert "samples: 2" in out and re.search(r"broken.pkl\nerror: .*truncated/corrupt", out)
    assert re.search(r"broken.json\nerror: .*truncated/corrupt", out)
    rc, _, err = _run(capsys, "data", "inspect", str(tmp_path), "--on-bad", "error")
    assert rc == 2 and "broken.json" in err  # the first dataset found that cannot be read


def test_convert_on_bad_error_stops_at_the_first_sample_left_out(tmp_path, capsys):
    # s01_e01/throw: the label file gives "NaN NaN", a segment missing from its recording
    write_utkinect(tmp_path / "utk", {"s01_e01": [("walk", "10", "20"), ("throw", "NaN", "NaN")],
                                      "s02_e01": [("walk", "10", "18"), ("throw", "20", "30")]})
    out = tmp_path / "utk.npz"
    rc, stdout, err = _run(capsys, "data", "convert", str(tmp_path / "utk"), str(out), "--on-bad", "error",
                           "--no-progress")
    assert rc == 2 and stdout == "" and not out.exists()  # stopped before anything was written
    assert err.count("\n") == 1 and "s01_e01/throw" in err and "--on-bad error stops" in err
    rc, _, err = _run(capsys, "data", "convert", str(tmp_path / "utk"), str(out), "--no-progress")
    assert rc == 2 and not out.exists()  # error is the default of convert
    rc, stdout, _ = _run(capsys, "data", "convert", str(tmp_path / "utk"), str(out), "--on-bad", "skip",
                         "--no-progress")
    assert rc == 0 and "3 samples" in stdout and "1 bad sample(s) left out" in stdout
    # a set converted with skip carries its record: converting it again is no new bad sample
    rc, stdout, _ = _run(capsys, "data", "convert", str(out), str(tmp_path / "again.pkl"))
    assert rc == 0 and "1 sample(s) left out earlier (recorded in the input)" in stdout


def test_inspect_of_nothing_readable_names_the_formats_tried(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("hello\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "image.png").write_bytes(b"\x89PNG")
    for target, what in ((tmp_path, "nothing here is a dataset of a known format"),
                         (tmp_path / "notes.txt", "no format claims this file")):
        rc, _, err = _run(capsys, "data", "inspect", str(target), "--no-progress")
        assert rc == 2 and err.count("\n") == 1 and what in err
        from infagenc.data.readers import FORMATS

        for f in FORMATS.values():
            assert f"{f.name} = {f.description}" in err
        assert "--format" in err
    rc, _, err = _run(capsys, "data", "convert", str(tmp_path), str(tmp_path / "x.npz"))
    assert rc == 2 and "tried every format" in err
