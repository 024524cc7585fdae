"""Pickle readers: InfActPrimitive / InfantAction release files and PYSKL / MMAction2 (read + write)."""
from __future__ import annotations

import pickle
import pickletools

import numpy as np
import pytest
from reader_fixtures import infact_clips, pyskl_doc, write_pickle

from infagenc.data import DataError, MotionSet
from infagenc.data.demo import make_demo
from infagenc.data.readers import read, write
from infagenc.data.readers.infact import read_infact
from infagenc.data.readers.pyskl import read_pyskl, write_pyskl
from infagenc.data.safe_pickle import safe_load


# ------------------------------------------------------------------- InfAct
def test_infact_pose_and_keypoint(tmp_path):
    clips = infact_clips(6)
    path = write_pickle(tmp_path / "primitive_train.pkl", clips)
    ms = read(path, progress=False)  # detected by the release file name
    assert ms.layout.name == "smpl24" and ms.rep == "axis_angle"
    assert ms.class_names == ("sitting", "standing", "supine")
    assert ms.labels.tolist() == [0, 1, 2, 0, 1, 2]
    assert ms.subjects.tolist() == ["subj0", "subj1", "subj2"] * 2
    np.testing.assert_array_equal(ms.sequence(4), clips[4]["pose"][0])
    r6 = ms.to_rep("rot6d")
    np.testing.assert_allclose(r6.to_rep("axis_angle").data, ms.data, atol=1e-5)
    kp = read_infact(path, field="keypoint", progress=False)
    assert kp.rep == "xy" and kp.layout.name == "coco17"
    np.testing.assert_array_equal(kp.sequence(2), clips[2]["keypoint"][0, ..., :2])
    np.testing.assert_array_equal(kp.conf[2], clips[2]["keypoint"][0, ..., 2])


def test_infact_action_label_class_order_and_subject_pattern(tmp_path):
    clips = infact_clips(4, classes=("rolling", "crawling"), label_key="action_label")
    for c in clips:
        c["frame_dir"] = "video" + c["frame_dir"].replace("subj", "").replace("_clip", "-")
    path = write_pickle(tmp_path / "train_trans_data.pkl", clips)
    ms = read_infact(path, class_names=["rolling", "crawling", "sitting"], on_bad="skip",
                     subject_pattern=r"^video(\d+)-", progress=False)
    assert ms.labels.tolist() == [0, 1, 0, 1]
    assert ms.subjects.tolist() == ["0", "1", "2", "0"]
    assert any("'sitting' has no samples" in n for n in ms.notes)
    assert any("^video" in n and "3 subjects" in n for n in ms.notes)


def test_infact_two_persons_policy(tmp_path):
    clips = infact_clips(2, persons=2)
    clips[0]["pose"][0] *= 0.01  # person 0 barely moves
    path = write_pickle(tmp_path / "primitive_test.pkl", clips)
    main = read_infact(path, progress=False)
    np.testing.assert_array_equal(main.sequence(0), clips[0]["pose"][1])
    every = read_infact(path, bodies="all", progress=False)
    assert len(every) == 4 and every.names[1] == "subj0_clip000/person1"


def test_infact_both_label_keys_needs_choice(tmp_path):
    clips = infact_clips(2)
    clips[0]["action_label"] = "crawling"
    path = write_pickle(tmp_path / "primitive_validate.pkl", clips)
    with pytest.raises(DataError, match="label_key"):
        read_infact(path, progress=False)
    assert len(read_infact(path, label_key="pos_label", progress=False)) == 2


# -------------------------------------------------------------------- PYSKL
def test_pyskl_read_split_layout_and_subjects(tmp_path):
    doc = pyskl_doc(8, v=25, persons=2)
    for a in doc["annotations"]:
        a["keypoint"][0] = 0  # PYSKL pads the absent second person with zeros: slot 1 is the body
    path = write_pickle(tmp_path / "ntu.pkl", doc)
    ms = read(path, progress=False)
    assert ms.layout.name == "ntu25" and ms.rep == "xyz" and ms.conf is None
    # NTU frame_dirs labelled action - 1 (PYSKL's NTU files): the classes are the NTU action codes
    assert ms.class_names == tuple(f"A{i:03d}" for i in range(1, 61)) and ms.labels.tolist() == [0, 1, 2] * 2 + [0, 1]
    assert any("'A004' has no samples" in n for n in ms.notes)
    assert ms.subjects.tolist() == ["P001", "P002", "P003", "P004"] * 2
    np.testing.assert_array_equal(ms.sequence(5), doc["annotations"][5]["keypoint"][1])
    val = read_pyskl(path, split="xsub_val", progress=False)
    assert val.names.tolist() == doc["split"]["xsub_val"]
    assert val.class_names == ms.class_names  # the whole file fixes the class list
    with pytest.raises(DataError, match="no split 'test'.*xsub_train"):
        read_pyskl(path, split="test", progress=False)


def test_pyskl_2d_scores_and_given_layout(tmp_path):
    doc = pyskl_doc(3, v=17, c=2, score=True)
    path = write_pickle(tmp_path / "coco.pkl", doc)
    ms = read_pyskl(path, layout="h36m17", subject_pattern=r"R(\d{3})", progress=False)
    assert ms.rep == "xy" and ms.layout.name == "h36m17"
    assert ms.subjects.tolist() == ["001", "002", "003"]  # the pattern's group, not the NTU performer
    np.testing.assert_array_equal(ms.conf[1, : ms.lengths[1]], doc["annotations"][1]["keypoint_score"][0])


def _assert_same(a: MotionSet, b: MotionSet) -> None:
    np.testing.assert_array_equal(a.data, b.data)
    for attr in ("lengths", "labels", "subjects", "names", "source", "run", "epoch", "round", "seed"):
        assert getattr(a, attr).tolist() == getattr(b, attr).tolist(), attr
    assert a.class_names == b.class_names and a.layout == b.layout and a.rep == b.rep


def test_pyskl_write_round_trip(tmp_path):
    real = make_demo(num_subjects=3, per_class=1, seed=1, rep="xyz", min_len=8, max_len=14)
    syn = make_demo(num_subjects=1, per_class=1, seed=2, rep="xyz", min_len=8, max_len=14)
    syn = MotionSet(syn.data, syn.lengths, syn.labels, syn.class_names, syn.subjects,
                    [f"syn_{n}" for n in syn.names], syn.layout, "xyz", source=["synthetic"] * len(syn),
                    run=["r1"] * len(syn), epoch=7, round=2, seed=11)
    ms = real + syn
    path = write(ms, tmp_path / "out.pkl", subject_split={"xsub_train": ["demo01", "demo02"], "xsub_val": ["demo03"]})
    raw = safe_load(path)  # what PYSKL / MMAction2 will see
    a = raw["annotations"][0]
    assert a["keypoint"].dtype == np.float32 and a["keypoint"].shape == (1, ms.lengths[0], 24, 3)
    assert a["total_frames"] == ms.lengths[0] and isinstance(a["label"], int) and a["frame_dir"] == ms.names[0]
    assert raw["split"]["xsub_val"] == [n for n, s in zip(ms.names, ms.subjects) if s == "demo03"]
    with open(path, "rb") as f:  # the plain unpickler PYSKL uses (mmcv.load) reads it too
        assert len(pickle.load(f)["annotations"]) == len(ms)
    globals_used = {op[1] for op in pickletools.genops(path.read_bytes()) if op[0].name == "SHORT_BINUNICODE"}
    assert {"numpy", "ndarray"} <= globals_used and not any("_core" in g or "multiarray" in g for g in globals_used)
    a["keypoint"][0, 0, 0, 0] += 1.0  # arrays load writable (PYSKL pipelines modify them in place)
    back = read_pyskl(path, progress=False)
    _assert_same(back, ms)
    assert back.conf is None
    assert read_pyskl(path, split="xsub_val", progress=False).subjects.tolist() == ["demo03"] * 4


def test_pyskl_write_2d_scores_and_refusals(tmp_path):
    ms = make_demo(num_subjects=1, per_class=1, seed=0, rep="xyz", min_len=5, max_len=6)
    xy = MotionSet(ms.data[..., :2], ms.lengths, ms.labels, ms.class_names, ms.subjects, ms.names, ms.layout, "xy")
    with pytest.warns(UserWarning, match="no image size"):
        back = read_pyskl(write_pyskl(xy, tmp_path / "xy.pkl"), progress=False)
    assert back.conf is not None and np.all(back.conf[back.frame_mask()] == 1)
    with pytest.raises(ValueError, match="to_xyz"):
        write_pyskl(make_demo(num_subjects=1, per_class=1, seed=0), tmp_path / "r.pkl")
    with pytest.raises(ValueError, match="not in the set"):
        write_pyskl(ms, tmp_path / "s.pkl", subject_split={"val": ["nobody"]})
