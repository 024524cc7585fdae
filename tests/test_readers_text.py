"""Text-format readers: UTKinect-Action3D, raw NTU .skeleton, MSR-style sequence files, MINI-RGBD."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import need
from reader_fixtures import motion, write_minirgbd, write_msr, write_ntu, write_utkinect

from infagenc.data import DataError
from infagenc.data.readers import read
from infagenc.data.readers.minirgbd import read_minirgbd
from infagenc.data.readers.msr import read_msr
from infagenc.data.readers.ntu import parse_ntu_name, read_ntu
from infagenc.data.readers.utkinect import read_utkinect

UTK_CLASSES = ["walk", "sitDown", "standUp", "pickUp", "carry", "throw", "push", "pull", "waveHands", "clapHands"]


# ---------------------------------------------------------------- UTKinect
def test_utkinect_fixture_segments_repeats_and_nan(tmp_path):
    takes = {"s01_e01": [("walk", "10", "20"), ("sitDown", "24", "40")],
             "s02_e01": [("walk", "12", "30"), ("sitDown", "NaN", "NaN")]}
    written = write_utkinect(tmp_path, takes, repeat_ids=(14, 16), frames=20)
    ms = read_utkinect(tmp_path, progress=False)
    assert ms.class_names == ("walk", "sitDown")
    assert len(ms) == 3 and ms.subjects.tolist() == ["s01", "s01", "s02"]
    # ids 10..20 inclusive (step 2) = 6 frames; the repeated ids 14 and 16 keep their first row
    ids, x = written["s01_e01"]
    assert ms.lengths[0] == 6
    np.testing.assert_allclose(ms.sequence(0), x[:6], atol=1e-5)
    assert ms.lengths[1] == 9  # 24..40
    assert [e.sample for e in ms.exclusions] == ["s02_e01/sitDown"]
    assert "does not exist" in ms.exclusions[0].reason
    assert any("dropped 4 later row(s)" in n for n in ms.notes)  # 2 repeats in each of 2 takes


def test_utkinect_labels_file_option(tmp_path):
    write_utkinect(tmp_path, {"s01_e01": [("walk", "10", "20")]})
    (tmp_path / "actionLabel_modified.txt").write_text("s01_e01\nwalk: 10 14\n")
    assert read_utkinect(tmp_path, progress=False).lengths.tolist() == [6]
    assert read_utkinect(tmp_path, labels_file="actionLabel_modified.txt", progress=False).lengths.tolist() == [3]


def test_utkinect_real(shared_data):
    ms = read(need(shared_data / "utkinect" / "joints"), progress=False)
    assert len(ms) == 199
    assert list(ms.class_names) == UTK_CLASSES
    assert len(set(ms.subjects.tolist())) == 10
    assert ms.layout.name == "kinect20" and ms.rep == "xyz"
    assert [e.sample for e in ms.exclusions] == ["s10_e02/carry"]
    assert ms.class_counts()["carry"] == 19


# --------------------------------------------------------------------- NTU
def test_parse_ntu_name():
    assert parse_ntu_name("S001C003P008R002A058") == {"setup": "S001", "camera": "C003", "performer": "P008",
                                                      "replication": "R002", "action": "A058"}
    assert parse_ntu_name("clip_001") is None


def test_ntu_fixture_bodies_and_missing_frames(tmp_path):
    rng = np.random.default_rng(0)
    still = motion(rng, 20, 25, scale=0.001)
    moving = motion(rng, 20, 25, scale=0.05)
    still[15:] = 0  # body 0 leaves after frame 14
    f = tmp_path / "S002C001P003R001A023.skeleton"
    write_ntu(f, [still, moving], missing=(3, 4))
    main = read_ntu(f, progress=False)
    assert len(main) == 1 and main.lengths[0] == 18  # 20 frames - 2 without any body
    np.testing.assert_allclose(main.sequence(0), np.delete(moving, [3, 4], axis=0), atol=1e-4)
    assert main.subjects[0] == "P003" and main.class_names == ("A023",)
    assert np.all(main.conf[0, :18] == 2)
    assert any("missing frames" in n and ": 2" in n for n in main.notes)
    first = read_ntu(f, bodies="first", progress=False)
    assert first.lengths[0] == 13  # frames 0..14 minus the 2 missing
    assert any("kept body is absent" in n for n in first.notes)
    every = read_ntu(f, bodies="all", progress=False)
    assert every.names.tolist() == ["S002C001P003R001A023/body0", "S002C001P003R001A023/body1"]


def test_ntu_folder_class_names_option(tmp_path):
    rng = np.random.default_rng(1)
    for name in ("S001C001P001R001A002", "S001C001P002R001A001"):
        write_ntu(tmp_path / f"{name}.skeleton", [motion(rng, 8, 25)])
    ms = read_ntu(tmp_path, progress=False)
    assert ms.class_names == ("A001", "A002") and ms.labels.tolist() == [1, 0]
    fixed = read_ntu(tmp_path, class_names=["A002", "A001"], progress=False)
    assert fixed.labels.tolist() == [0, 1]


def test_ntu_real_six_files(shared_data):
    folder = need(shared_data / "ntu_samples")
    ms = read_ntu(folder, progress=False)
    assert len(ms) == 6
    assert ms.class_names == ("A001", "A003", "A011", "A017", "A034", "A058")
    assert ms.layout.name == "ntu25" and ms.num_joints == 25
    assert ms.lengths.tolist() == [103, 82, 70, 100, 71, 124] and ms.fps == 30.0
    two = read_ntu(folder / "S001C003P008R002A058.skeleton", bodies="all", progress=False)
    assert len(two) == 2 and two.lengths.tolist() == [70, 70]
    assert not np.allclose(two.sequence(0), two.sequence(1))


# --------------------------------------------------------------------- MSR
def test_msr_fixture(tmp_path):
    rng = np.random.default_rng(2)
    xs = {}
    for a, s, e in [(1, 1, 1), (1, 2, 1), (3, 1, 2)]:
        x = motion(rng, 7 + a, 20)
        xs[(a, s, e)] = x
        write_msr(tmp_path / f"a{a:02d}_s{s:02d}_e{e:02d}_skeleton3D.txt", x, c=np.full((len(x), 20), 0.5))
    (tmp_path / "readme.txt").write_text("not a sequence")
    ms = read_msr(tmp_path, progress=False)
    assert ms.layout.name == "msr20" and ms.class_names == ("a01", "a03")
    assert ms.subjects.tolist() == ["s01", "s02", "s01"]
    np.testing.assert_allclose(ms.sequence(2), xs[(3, 1, 2)], atol=1e-5)
    assert np.all(ms.conf[0, : ms.lengths[0]] == 0.5)
    assert any("readme.txt" in n for n in ms.notes)


def test_msr_layout_option(tmp_path):
    f = tmp_path / "a02_s05_e01_skeleton3D.txt"
    write_msr(f, motion(np.random.default_rng(3), 3, 25))  # 75 rows
    assert read_msr(f, layout="ntu25", progress=False).num_joints == 25
    with pytest.raises(DataError, match="not a multiple of 20 joints"):
        read_msr(f, progress=False)


# ---------------------------------------------------------------- MINI-RGBD
def test_minirgbd_fixture_reorders_by_header(tmp_path):
    rng = np.random.default_rng(4)
    x = np.round(rng.uniform(10, 400, size=(30, 14, 2)))
    header = list(reversed(__import__("reader_fixtures").MINIRGBD_HEADER))
    write_minirgbd(tmp_path / "result_pz201.csv", x[:, ::-1], header=header)
    ms = read_minirgbd(tmp_path, progress=False)
    assert ms.layout.name == "minirgbd14" and ms.rep == "xy"
    assert not ms.labelled and ms.labels.tolist() == [-1] and ms.subjects.tolist() == ["pz201"]
    np.testing.assert_array_equal(ms.sequence(0), x)


def test_minirgbd_real(shared_data):
    ms = read_minirgbd(need(shared_data / "minirgbd_2d" / "annotations"), progress=False)
    assert ms.data.shape == (12, 1000, 14, 2)
    assert ms.class_names == () and len(set(ms.subjects.tolist())) == 12
