"""Bad input: each case gives an error naming the file and the sample (on_bad="error"), or
the sample is left out with an exclusion saying why (on_bad="skip"); nothing is zero-filled."""
from __future__ import annotations

import re

import numpy as np
import pytest
from reader_fixtures import (coco_doc, infact_clips, motion, pyskl_doc, write_json, write_msr, write_ntu,
                                   write_pickle, write_utkinect)

from infagenc.data import DataError
from infagenc.data.readers import read
from infagenc.data.readers.coco import read_coco
from infagenc.data.readers.infact import read_infact
from infagenc.data.readers.msr import read_msr
from infagenc.data.readers.ntu import read_ntu
from infagenc.data.readers.pyskl import read_pyskl
from infagenc.data.readers.utkinect import read_utkinect


def _both_modes(reader, path, *, sample: str, reason: str, good: int, file=None, **kw):
    """error: DataError naming file + sample; skip: an exclusion for that sample, `good` samples kept."""
    with pytest.raises(DataError, match=reason) as err:
        reader(path, **kw)
    assert err.value.sample == sample
    assert err.value.file == str(file or path) and str(file or path) in str(err.value)
    ms = reader(path, on_bad="skip", **kw)
    assert len(ms) == good
    assert [(e.sample, e.file) for e in ms.exclusions] == [(sample, str(file or path))]
    assert re.search(reason, ms.exclusions[0].reason)
    return ms


def _msr_folder(tmp_path, bad_values: np.ndarray | None = None, bad_rows: int | None = None):
    rng = np.random.default_rng(0)
    write_msr(tmp_path / "a01_s01_e01_skeleton3D.txt", motion(rng, 6, 20))
    bad = tmp_path / "a02_s02_e01_skeleton3D.txt"
    x = motion(rng, 6, 20) if bad_values is None else bad_values
    write_msr(bad, x)
    if bad_rows is not None:
        lines = bad.read_text().splitlines()[:bad_rows]
        bad.write_text("\n".join(lines) + "\n")
    return bad


# ----------------------------------------------------------- truncated / corrupt
def test_truncated_ntu_file(tmp_path):
    rng = np.random.default_rng(1)
    write_ntu(tmp_path / "S001C001P001R001A001.skeleton", [motion(rng, 6, 25)])
    bad = tmp_path / "S001C001P002R001A001.skeleton"
    write_ntu(bad, [motion(rng, 6, 25)])
    bad.write_text(bad.read_text()[: len(bad.read_text()) // 2])
    _both_modes(read_ntu, tmp_path, sample=bad.stem, reason="truncated|corrupt", good=1, file=bad, progress=False)


def test_corrupt_number_in_utkinect(tmp_path):
    write_utkinect(tmp_path, {"s01_e01": [("walk", "10", "20")], "s02_e01": [("walk", "10", "20")]})
    f = tmp_path / "joints_s02_e01.txt"
    f.write_text(f.read_text().replace("0.", "0,", 1))
    _both_modes(read_utkinect, tmp_path, sample="s02_e01/walk", reason="corrupt", good=1, file=f, progress=False)


@pytest.mark.parametrize("on_bad", ["error", "skip"])
def test_truncated_pickle_and_json_name_the_file(tmp_path, on_bad):
    pkl = write_pickle(tmp_path / "x.pkl", pyskl_doc(3))
    pkl.write_bytes(pkl.read_bytes()[:-40])
    with pytest.raises(DataError, match="truncated/corrupt") as err:
        read(pkl, on_bad=on_bad, progress=False)  # a whole-file problem: no sample can be kept
    assert err.value.file == str(pkl)
    js = write_json(tmp_path / "x.json", coco_doc(["Prone"]))
    js.write_text(js.read_text()[:-10])
    with pytest.raises(DataError, match="truncated/corrupt") as err:
        read_coco(js, on_bad=on_bad)
    assert err.value.file == str(js)


# --------------------------------------------------------------- NaN / Inf
def test_nan_and_inf_values(tmp_path):
    x = motion(np.random.default_rng(2), 6, 20)
    x[2, 3, 1] = np.inf
    bad = _msr_folder(tmp_path, bad_values=x)
    _both_modes(read_msr, tmp_path, sample=bad.stem, reason="NaN/Inf", good=1, file=bad, progress=False)
    write_utkinect(tmp_path / "u", {"s01_e01": [("walk", "10", "20")], "s02_e01": [("walk", "10", "20")]})
    f = tmp_path / "u" / "joints_s01_e01.txt"
    lines = f.read_text().splitlines()
    lines[1] = lines[1].split()[0] + " nan" + " ".join([""] + lines[1].split()[2:])
    f.write_text("\n".join(lines) + "\n")
    _both_modes(read_utkinect, tmp_path / "u", sample="s01_e01/walk", reason="NaN/Inf", good=1, file=f,
                progress=False)


# ----------------------------------------------------------- all-zero frames
def test_all_zero_frames(tmp_path):
    x = motion(np.random.default_rng(3), 6, 20)
    x[4] = 0
    bad = _msr_folder(tmp_path, bad_values=x)
    ms = _both_modes(read_msr, tmp_path, sample=bad.stem, reason="all-zero frame", good=1, file=bad,
                     progress=False)
    assert ms.names.tolist() == ["a01_s01_e01_skeleton3D"]
    doc = pyskl_doc(3)
    doc["annotations"][1]["keypoint"][0, 5] = 0
    path = write_pickle(tmp_path / "p.pkl", doc)
    _both_modes(read_pyskl, path, sample=doc["annotations"][1]["frame_dir"], reason="all-zero frame", good=2,
                progress=False)


# ---------------------------------------------------------- wrong joint count
def test_wrong_joint_count(tmp_path):
    bad = _msr_folder(tmp_path, bad_rows=6 * 20 - 3)
    _both_modes(read_msr, tmp_path, sample=bad.stem, reason="not a multiple of 20 joints", good=1, file=bad,
                progress=False)
    doc = pyskl_doc(3)
    doc["annotations"][2]["keypoint"] = doc["annotations"][2]["keypoint"][:, :, :24]
    path = write_pickle(tmp_path / "p.pkl", doc)
    _both_modes(read_pyskl, path, sample=doc["annotations"][2]["frame_dir"], reason="wrong joint count", good=2,
                progress=False)
    coco = coco_doc(["Prone", "Supine"])
    coco["annotations"][0]["keypoints"] = coco["annotations"][0]["keypoints"][:-3]
    js = write_json(tmp_path / "c.json", coco)
    _both_modes(read_coco, js, sample="train00001.jpg", reason="wrong joint count", good=1)


# ------------------------------------------------------------- unknown layout
@pytest.mark.parametrize("on_bad", ["error", "skip"])
def test_unknown_layout(tmp_path, on_bad):
    path = write_pickle(tmp_path / "p.pkl", pyskl_doc(2, v=19))
    with pytest.raises(DataError, match="unknown layout: 19 joints") as err:
        read_pyskl(path, on_bad=on_bad, progress=False)
    assert err.value.file == str(path)
    with pytest.raises(DataError, match="unknown layout.*'no_such_layout'"):
        read_pyskl(path, layout="no_such_layout", on_bad=on_bad, progress=False)
    js = write_json(tmp_path / "c.json", coco_doc(["Prone"], keypoint_names=[f"k{i}" for i in range(15)]))
    with pytest.raises(DataError, match="unknown layout: no registered layout has the keypoints"):
        read_coco(js, on_bad=on_bad)


# ------------------------------------------------------- unknown / missing label
def test_missing_label(tmp_path):
    js = write_json(tmp_path / "c.json", coco_doc(["Prone", None, "Supine"]))
    _both_modes(read_coco, js, sample="train00002.jpg", reason="missing label", good=2)
    clips = infact_clips(3)
    del clips[1]["pos_label"]
    path = write_pickle(tmp_path / "primitive_train.pkl", clips)
    _both_modes(read_infact, path, sample=clips[1]["frame_dir"], reason="missing label", good=2, progress=False)


def test_unknown_label(tmp_path):
    js = write_json(tmp_path / "c.json", coco_doc(["Prone", "Crawling", "Supine"]))
    _both_modes(read_coco, js, sample="train00002.jpg", reason="unknown label 'Crawling'", good=2,
                class_names=["Prone", "Supine"])
    clips = infact_clips(3)
    path = write_pickle(tmp_path / "primitive_train.pkl", clips)
    _both_modes(read_infact, path, sample=clips[2]["frame_dir"], reason="unknown label 'supine'", good=2,
                class_names=["sitting", "standing"], progress=False)
    doc = pyskl_doc(3)
    doc["annotations"][0]["label"] = 7
    p2 = write_pickle(tmp_path / "p.pkl", doc)
    _both_modes(read_pyskl, p2, sample=doc["annotations"][0]["frame_dir"], reason="unknown label 7", good=2,
                class_names=["a", "b", "c"], progress=False)


# ------------------------------------------------------------------ empty class
def test_empty_class(tmp_path):
    """A class listed in class_names (or in the label file) with no sample: error naming the
    class and file; with on_bad="skip" the class stays (label indices unchanged) with a note."""
    js = write_json(tmp_path / "c.json", coco_doc(["Prone", "Supine"]))
    with pytest.raises(DataError, match="class 'Standing' has no samples") as err:
        read_coco(js, class_names=["Prone", "Supine", "Standing"])
    assert err.value.file == str(js)
    ms = read_coco(js, class_names=["Prone", "Supine", "Standing"], on_bad="skip")
    assert ms.class_names == ("Prone", "Supine", "Standing") and ms.class_counts()["Standing"] == 0
    assert any("'Standing' has no samples" in n for n in ms.notes)
    # a class whose only segment is bad: empty after the bad sample is left out
    write_utkinect(tmp_path / "u", {"s01_e01": [("walk", "10", "20"), ("throw", "21", "21")]})
    labels = tmp_path / "u" / "actionLabel.txt"
    with pytest.raises(DataError, match="throw.*no frame ids in 21..21"):
        read_utkinect(tmp_path / "u", progress=False)
    ms = read_utkinect(tmp_path / "u", on_bad="skip", progress=False)
    assert [e.sample for e in ms.exclusions] == ["s01_e01/throw"]
    assert ms.class_names == ("walk", "throw") and any("'throw' has no samples" in n for n in ms.notes)
    assert str(labels) == ms.exclusions[0].file


# ------------------------------------------------- nothing dropped or changed silently
def test_utkinect_range_beyond_the_file_is_clipped_with_a_note(tmp_path):
    write_utkinect(tmp_path, {"s01_e01": [("walk", "10", "100"), ("sitDown", "20", "30")]}, frames=20)  # ids 10..48
    ms = read_utkinect(tmp_path, progress=False)
    assert ms.lengths.tolist() == [20, 6]
    note = next(n for n in ms.notes if "label ranges reaching beyond the frames of the joints file" in n)
    assert note.startswith("label ranges reaching beyond the frames of the joints file, clipped to the frames "
                           "there: 1 (e.g. s01_e01/walk: 10..100, frames 10..48 (20 frames) in joints_s01_e01.txt)")
    write_utkinect(tmp_path / "out", {"s01_e01": [("walk", "10", "20")], "s02_e01": [("walk", "200", "300")]})
    _both_modes(read_utkinect, tmp_path / "out", sample="s02_e01/walk", reason=r"no frame ids in 200..300 in "
                r"joints_s02_e01.txt \(its frame ids run 10..88\)", good=1, file=tmp_path / "out" / "actionLabel.txt",
                progress=False)


def test_pyskl_label_beyond_the_labels_found_is_an_unknown_label(tmp_path):
    """Without class_names, labels 0, 1, 2 and one 99 do not make 100 classes (96 empty)."""
    doc = pyskl_doc(6)
    doc["annotations"][4]["label"] = 99
    path = write_pickle(tmp_path / "p.pkl", doc)
    ms = _both_modes(read_pyskl, path, sample=doc["annotations"][4]["frame_dir"],
                     reason=r"unknown label 99: classes are 0..2; .*no annotation has label 3.*pass class_names=",
                     good=5, progress=False)
    assert ms.class_names == ("0", "1", "2")
    assert read_pyskl(path, class_names=[str(i) for i in range(100)], on_bad="skip", progress=False).labels[4] == 99
    # labels counted from 1: class 0 is empty, as before (an error, or kept with a note)
    for a in doc["annotations"]:
        a["label"] = a["label"] % 3 + 1
    path = write_pickle(tmp_path / "p1.pkl", doc)
    with pytest.raises(DataError, match="class '0' has no samples"):
        read_pyskl(path, progress=False)
    assert read_pyskl(path, on_bad="skip", progress=False).class_names == ("0", "1", "2", "3")


def test_infact_integer_label_is_not_a_new_class(tmp_path):
    clips = infact_clips(4)
    clips[1]["pos_label"] = 3
    path = write_pickle(tmp_path / "primitive_train.pkl", clips)
    ms = _both_modes(read_infact, path, sample=clips[1]["frame_dir"], reason=r"label 3 \(int\) is not a class name",
                     good=3, progress=False)
    assert ms.class_names == ("sitting", "supine")


def test_duplicate_frame_dir_is_a_bad_sample(tmp_path):
    doc = pyskl_doc(4)
    doc["annotations"][3]["frame_dir"] = doc["annotations"][0]["frame_dir"]
    path = write_pickle(tmp_path / "p.pkl", doc)
    name = doc["annotations"][0]["frame_dir"]
    ms = _both_modes(read_pyskl, path, sample=name, reason=f"duplicate sample name: an earlier sample is also "
                     f"named '{name}'", good=3, progress=False)
    np.testing.assert_array_equal(ms.sequence(0), doc["annotations"][0]["keypoint"][0])  # the first one is kept
    clips = infact_clips(3)
    clips[2]["frame_dir"] = clips[1]["frame_dir"]
    path = write_pickle(tmp_path / "primitive_train.pkl", clips)
    _both_modes(read_infact, path, sample=clips[1]["frame_dir"], reason="duplicate sample name", good=2,
                class_names=["sitting", "standing", "supine"], progress=False)


def test_pyskl_keypoint_of_the_wrong_rank_is_a_data_error(tmp_path):
    doc = pyskl_doc(3)
    doc["annotations"][0]["keypoint"] = np.zeros(5, np.float32)
    path = write_pickle(tmp_path / "p.pkl", doc)
    _both_modes(read_pyskl, path, sample=doc["annotations"][0]["frame_dir"],
                reason=r"keypoint has shape \(5,\), expected \(M, T, V, 3\)", good=2, progress=False)
    for a in doc["annotations"]:
        a["keypoint"] = np.zeros((2, 3), np.float32)
    path = write_pickle(tmp_path / "p2.pkl", doc)
    with pytest.raises(DataError, match=r"no keypoint array has the shape \(M, T, V, C\).*\(2, 3\)") as err:
        read_pyskl(path, progress=False)
    assert err.value.file == str(path)
    doc = pyskl_doc(3, score=True)
    doc["annotations"][1]["keypoint_score"] = np.full((1, 15, 25), "x")  # the right shape, but text
    path = write_pickle(tmp_path / "p3.pkl", doc)
    _both_modes(read_pyskl, path, sample=doc["annotations"][1]["frame_dir"], reason="keypoint_score missing or not",
                good=2, progress=False)
