"""Single-frame readers (COCO / SyRIP 2D JSON, SyRIP 3D .npy) and the own .npz format."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import need
from reader_fixtures import coco_doc, write_json, write_syrip3d

from infagenc.data import DataError
from infagenc.data.demo import make_demo
from infagenc.data.readers import read
from infagenc.data.readers.coco import read_coco
from infagenc.data.readers.npz import read_npz
from infagenc.data.readers.syrip3d import read_syrip3d


# --------------------------------------------------------------------- COCO
def test_coco_fixture_values_visibility_and_order(tmp_path):
    doc = coco_doc(["Sitting", "Prone", "Sitting", "Supine"])
    kp = np.asarray(doc["annotations"][1]["keypoints"]).reshape(17, 3)
    doc["annotations"][1]["keypoints"][0:3] = [-45.0, -45.0, 0.0]  # an unlabelled keypoint, SyRIP style
    ms = read_coco(write_json(tmp_path / "t.json", doc))
    assert ms.class_names == ("Prone", "Supine", "Sitting")  # canonical posture order, present ones
    assert ms.labels.tolist() == [2, 0, 2, 1]
    assert ms.data.shape == (4, 1, 17, 2) and ms.rep == "xy" and ms.layout.name == "coco17"
    np.testing.assert_allclose(ms.data[1, 0, 1:], kp[1:, :2], rtol=1e-6)
    np.testing.assert_array_equal(ms.data[1, 0, 0], [-45, -45])  # kept, not zero-filled
    assert ms.conf[1, 0, 0] == 0 and ms.conf[1, 0, 1] == 2
    assert any("visibility 0" in n and ": 1;" in n for n in ms.notes)
    assert ms.subjects.tolist() == ["train00001", "train00002", "train00003", "train00004"]


def test_coco_label_field_and_sorted_order(tmp_path):
    doc = coco_doc([None, None, None])
    for img, lab in zip(doc["images"], ["roll", "crawl", "roll"]):
        img["action"] = lab
    ms = read_coco(write_json(tmp_path / "t.json", doc), label_field="action")
    assert ms.class_names == ("crawl", "roll") and ms.labels.tolist() == [1, 0, 1]


def test_coco_several_people_keeps_most_labelled(tmp_path):
    doc = coco_doc(["Prone"])
    extra = dict(doc["annotations"][0], id=99, keypoints=[1.0, 1.0, 0.0] * 16 + [5.0, 5.0, 2.0])
    doc["annotations"].insert(0, extra)
    ms = read_coco(write_json(tmp_path / "t.json", doc))
    np.testing.assert_allclose(ms.data[0, 0].reshape(-1),
                               np.asarray(doc["annotations"][1]["keypoints"]).reshape(17, 3)[:, :2].reshape(-1))
    assert any("several person annotations" in n for n in ms.notes)


@pytest.mark.parametrize("name,counts", [("train200.json", [90, 69, 35, 6]), ("validate500.json", [195, 108, 142, 55])])
def test_syrip_2d_real(shared_data, name, counts):
    ms = read(need(shared_data / "syrip" / "2d_gt" / name))
    assert len(ms) == sum(counts)
    assert ms.class_counts() == dict(zip(("Prone", "Supine", "Sitting", "Standing"), counts))
    assert ms.num_frames == 1 and ms.layout.name == "coco17"
    assert len(set(ms.subjects.tolist())) == len(ms)


# ----------------------------------------------------------------- SyRIP 3D
def test_syrip3d_fixture_unlabelled_and_zero_rows(tmp_path):
    rng = np.random.default_rng(0)
    poses = rng.normal(0, 0.2, size=(5, 14, 3))
    poses[3] = 0
    write_syrip3d(tmp_path, poses)
    with pytest.raises(DataError, match="image_00003.*all-zero"):
        read_syrip3d(tmp_path / "correct_3D.npy")
    ms = read_syrip3d(tmp_path, on_bad="skip")
    assert len(ms) == 4 and ms.layout.name == "infant14" and ms.data.shape == (4, 1, 14, 3)
    assert [e.sample for e in ms.exclusions] == ["image_00003"]
    np.testing.assert_allclose(ms.data[3, 0], poses[4], rtol=1e-6)


def test_syrip3d_fixture_labels_joined(tmp_path):
    rng = np.random.default_rng(1)
    poses = rng.normal(0, 0.2, size=(4, 14, 3))
    write_syrip3d(tmp_path, poses, map_pairs=[("image_00001.jpg", "train00001.jpg"),
                                              ("image_00003.jpg", "train00002.jpg")])
    labels = write_json(tmp_path / "train.json", coco_doc(["Supine", "Prone"]))
    ms = read_syrip3d(tmp_path / "correct_3D.npy", labels=str(labels))
    assert ms.names.tolist() == ["train00001.jpg", "train00002.jpg"]
    assert [ms.class_names[i] for i in ms.labels] == ["Supine", "Prone"]
    np.testing.assert_allclose(ms.data[:, 0], poses[[1, 3]], rtol=1e-6)
    assert any("2 pose rows" in n for n in ms.notes)


def test_syrip3d_real(shared_data):
    folder = need(shared_data / "syrip" / "3d")
    out = read_syrip3d(folder / "output_pose_3D.npy")
    assert out.data.shape == (1700, 1, 14, 3) and not out.labelled
    cor = read_syrip3d(folder / "correct_3D.npy", on_bad="skip")
    assert len(cor) + len(cor.exclusions) == 1700 and len(cor.exclusions) > 0
    assert all("all-zero" in e.reason for e in cor.exclusions)
    labelled = read_syrip3d(folder / "correct_3D.npy", labels=[str(need(shared_data / "syrip/2d_gt/train200.json"))])
    assert labelled.class_counts() == {"Prone": 90, "Supine": 69, "Sitting": 35, "Standing": 6}


# ---------------------------------------------------------------------- npz
def test_npz_round_trip_and_check(tmp_path):
    ms = make_demo(num_subjects=2, per_class=1, seed=3, min_len=10, max_len=12)
    path = ms.save(tmp_path / "demo.npz")
    back = read(path)
    np.testing.assert_array_equal(back.data, ms.data)
    assert back.class_names == ms.class_names and back.subjects.tolist() == ms.subjects.tolist()
    bad = ms.with_data(np.where(np.arange(len(ms))[:, None, None, None] == 1, np.nan, ms.data))
    bad.save(tmp_path / "bad.npz")
    with pytest.raises(DataError, match="NaN"):
        read_npz(tmp_path / "bad.npz")
    assert len(read_npz(tmp_path / "bad.npz", on_bad="skip")) == len(ms) - 1
