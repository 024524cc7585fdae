"""Tracking gaps (all-zero frames): the readers' ``gaps`` option trims them at the ends or
interpolates short interior gaps, records every repaired frame, and leaves a gap longer than
``max_gap`` a bad sample."""
from __future__ import annotations

import numpy as np
import pytest
from reader_fixtures import motion, pyskl_doc, write_msr, write_ntu, write_pickle, write_utkinect

from infagenc.data import DataError
from infagenc.data.gaps import GapRepair, plan_gaps, repair_gaps
from infagenc.data.readers import read, reader_options
from infagenc.data.readers.report import format_report, inspect_path


def _ramp(t: int = 12, v: int = 2, c: int = 3) -> np.ndarray:
    """x[t] = (t + 1) * base: every linear interpolation between two frames is exact."""
    base = np.arange(1, v * c + 1, dtype=np.float64).reshape(v, c) * 0.25
    return (np.arange(1, t + 1, dtype=np.float64)[:, None, None] * base)


# ---------------------------------------------------------------- the repair
def test_interior_gap_of_three_frames_is_interpolated_exactly_linearly():
    x = _ramp()
    conf = np.linspace(0.5, 1.0, 12)[:, None].repeat(2, 1)
    gapped, cgapped = x.copy(), conf.copy()
    gapped[[0, 5, 6, 7, 11]] = 0  # one frame at each end, three inside
    cgapped[[0, 5, 6, 7, 11]] = 0
    y, c, repair, problem = repair_gaps(gapped, cgapped, mode="interpolate", max_gap=3)
    assert problem is None
    assert repair == GapRepair(start=1, end=1, interpolated=3, gaps=1)
    np.testing.assert_array_equal(y, x[1:11])  # frames 5, 6, 7 are (1 - w) x[4] + w x[8], w = 1/4, 2/4, 3/4
    np.testing.assert_allclose(c, conf[1:11], rtol=0, atol=1e-15)
    assert repair.describe() == ("2 all-zero frame(s) trimmed (1 at the start, 1 at the end); "
                                 "3 frame(s) interpolated in 1 gap(s)")


def test_trim_drops_end_gaps_only():
    x = _ramp()
    x[:3] = 0
    x[-2:] = 0
    y, _, repair, problem = repair_gaps(x, mode="trim")
    assert problem is None and repair == GapRepair(start=3, end=2)
    np.testing.assert_array_equal(y, _ramp()[3:10])
    x[6] = 0
    y, _, repair, problem = repair_gaps(x, mode="trim")
    assert y is x and not repair
    assert problem == ("all-zero frame(s) inside the sequence: 1 in 1 gap(s), the longest 1 frame(s) at frame 6 "
                       "(gaps='trim' removes them at the ends only; gaps='interpolate' fills gaps of up to max_gap "
                       "frames)")


def test_gap_longer_than_max_gap_stays_bad():
    x = _ramp(40)
    x[10:26] = 0  # 16 frames
    assert "a gap of 16 frame(s) at frame 10 is longer than max_gap=15" in repair_gaps(x, mode="interpolate")[3]
    y, _, repair, problem = repair_gaps(x, mode="interpolate", max_gap=16)
    assert problem is None and repair.interpolated == 16
    np.testing.assert_allclose(y, _ramp(40), rtol=1e-12)
    assert repair_gaps(np.zeros((4, 2, 3)), mode="trim")[3].startswith("all-zero frame(s): every one of the 4 frames")
    assert plan_gaps(np.array([False, True, False]), "error").problem == "all-zero frame(s): 1 of 3, first at frame 1"


def test_options_are_plumbed_through_read():
    for fmt in ("ntu", "utkinect", "msr", "pyskl"):
        opts = reader_options(fmt)
        assert opts["max_gap"] == 15 and opts["gaps"] == ("drop" if fmt == "ntu" else "error"), fmt
    with pytest.raises(ValueError, match="gaps must be one of"):
        read("nowhere.pkl", "pyskl", gaps="fill")
    with pytest.raises(ValueError, match="max_gap must be an integer >= 0"):
        read("nowhere.pkl", "pyskl", gaps="interpolate", max_gap=-1)
    with pytest.raises(ValueError, match="has no option"):
        read("nowhere.json", "coco", gaps="trim")


# ----------------------------------------------------------------- readers
def _msr_folder(tmp_path):
    rng = np.random.default_rng(0)
    good = motion(rng, 12, 20)
    gapped = good.copy()
    gapped[[0, 5, 6, 7, 11]] = 0
    long_gap = motion(rng, 40, 20)
    long_gap[10:30] = 0
    write_msr(tmp_path / "a01_s01_e01_skeleton3D.txt", good)
    write_msr(tmp_path / "a01_s02_e01_skeleton3D.txt", gapped)
    write_msr(tmp_path / "a02_s03_e01_skeleton3D.txt", long_gap)
    return good


def test_msr_reader_repairs_and_reports(tmp_path):
    good = _msr_folder(tmp_path)
    default = read(tmp_path, "msr", on_bad="skip", progress=False)
    assert len(default) == 1 and all("all-zero frame" in e.reason for e in default.exclusions)
    trimmed = read(tmp_path, "msr", on_bad="skip", gaps="trim", progress=False)
    assert len(trimmed) == 1 and "gaps='trim' removes them at the ends only" in trimmed.exclusions[0].reason
    ms = read(tmp_path, "msr", on_bad="skip", gaps="interpolate", progress=False)
    assert ms.names.tolist() == ["a01_s01_e01_skeleton3D", "a01_s02_e01_skeleton3D"]
    assert ms.lengths.tolist() == [12, 10]
    x = ms.sequence(1)
    np.testing.assert_allclose(x[[0, 1, 2, 3, 7, 8, 9]], good[[1, 2, 3, 4, 8, 9, 10]].astype(np.float32), atol=1e-6)
    w = np.array([1, 2, 3])[:, None, None] / 4
    np.testing.assert_allclose(x[4:7], (1 - w) * x[3] + w * x[7], atol=1e-6)
    assert [e.sample for e in ms.exclusions] == ["a02_s03_e01_skeleton3D"]
    assert "a gap of 20 frame(s) at frame 10 is longer than max_gap=15" in ms.exclusions[0].reason
    assert ("gap repair (gaps='interpolate', max_gap=15): 1 sample(s) repaired: 2 all-zero frame(s) trimmed "
            "(1 at the start, 1 at the end); 3 frame(s) interpolated in 1 gap(s)") in ms.notes
    assert ("gap repair: sample 'a01_s02_e01_skeleton3D': 2 all-zero frame(s) trimmed (1 at the start, 1 at the "
            "end); 3 frame(s) interpolated in 1 gap(s)") in ms.notes
    assert len(read(tmp_path, "msr", gaps="interpolate", max_gap=20, progress=False)) == 3


def test_inspect_shows_the_repairs(tmp_path):
    _msr_folder(tmp_path)
    [report] = inspect_path(tmp_path, gaps="interpolate", progress=False)
    text = format_report(report)
    assert "gap repair: sample 'a01_s02_e01_skeleton3D': 2 all-zero frame(s) trimmed" in text
    assert "exclusions (1):" in text and "longer than max_gap=15" in text
    many = dict(report, notes=report["notes"] + [f"gap repair: sample 's{i}': 1 frame(s)" for i in range(30)])
    text = format_report(many)
    assert "and 28 more repaired sample(s) (--json lists every one)" in text and "'s29'" not in text
    # a video set's per-sample extraction provenance is cut the same way; other notes stay
    from infagenc.data.extract import NOTE_PREFIX
    assert NOTE_PREFIX == "extract: "  # the prefix the report recognises
    extracted = dict(report, notes=["mapped blazepose33 -> coco17"] +
                     [f'extract: {{"sample": "clip{i}", "fps": 30}}' for i in range(25)])
    text = format_report(extracted)
    assert "mapped blazepose33 -> coco17" in text and '"clip2"' in text and '"clip3"' not in text
    assert "extraction provenance: ... and 22 more sample(s) (--json lists every one)" in text


def test_utkinect_segment_with_end_gaps_is_trimmed(tmp_path):
    x = motion(np.random.default_rng(1), 20, 20)
    x[:2] = 0  # ids 10, 12
    x[5] = 0  # id 20
    write_utkinect(tmp_path, {"s01_e01": [("walk", "10", "18"), ("sitDown", "14", "30")]}, frames=20,
                   values={"s01_e01": x})
    with pytest.raises(DataError, match="all-zero frame"):
        read(tmp_path, "utkinect", progress=False)
    ms = read(tmp_path, "utkinect", gaps="trim", on_bad="skip", progress=False)
    assert ms.names.tolist() == ["s01_e01/walk"] and ms.lengths.tolist() == [3]  # ids 14, 16, 18
    assert "inside the sequence" in ms.exclusions[0].reason and ms.exclusions[0].sample == "s01_e01/sitDown"
    assert any("'s01_e01/walk': 2 all-zero frame(s) trimmed (2 at the start, 0 at the end)" in n for n in ms.notes)


def test_pyskl_person_gaps_with_scores(tmp_path):
    doc = pyskl_doc(3, v=17, c=2, score=True, t=10)
    a = doc["annotations"][1]
    a["keypoint"][0, 4:6] = 0
    a["keypoint_score"][0, 4:6] = 0
    path = write_pickle(tmp_path / "p.pkl", doc)
    ms = read(path, gaps="interpolate", progress=False)
    assert ms.lengths.tolist() == [10, 10, 10]
    kp, sc = a["keypoint"][0].astype(np.float64), a["keypoint_score"][0].astype(np.float64)
    for f, w in ((4, 1 / 3), (5, 2 / 3)):
        np.testing.assert_allclose(ms.data[1, f], (1 - w) * kp[3] + w * kp[6], rtol=1e-6)
        np.testing.assert_allclose(ms.conf[1, f], (1 - w) * sc[3] + w * sc[6], rtol=1e-6)
    expected = f"gap repair: sample '{a['frame_dir']}': 2 frame(s) interpolated in 1 gap"
    assert any(n.startswith(expected) for n in ms.notes)


def test_ntu_missing_frames_by_gaps_mode(tmp_path):
    x = motion(np.random.default_rng(2), 12, 25)
    f = tmp_path / "S001C001P001R001A001.skeleton"
    write_ntu(f, [x], missing=(0, 5, 6, 11))
    dropped = read(f, progress=False)  # default: the frames are dropped, as before
    assert dropped.lengths.tolist() == [8]
    assert any("frames without any body (missing frames), dropped: 4" in n for n in dropped.notes)
    with pytest.raises(DataError, match=r"all-zero frame\(s\): 4 of 12, first at frame 0 \(frames where the body"):
        read(f, gaps="error", progress=False)
    assert "inside the sequence" in read(f, gaps="trim", on_bad="skip", progress=False).exclusions[0].reason
    ms = read(f, gaps="interpolate", progress=False)
    assert ms.lengths.tolist() == [10]
    np.testing.assert_allclose(ms.sequence(0)[[0, 1, 2, 3, 6, 7, 8, 9]], x[[1, 2, 3, 4, 7, 8, 9, 10]], atol=1e-6)
    w = np.array([1, 2])[:, None, None] / 3
    np.testing.assert_allclose(ms.sequence(0)[4:6], (1 - w) * x[4] + w * x[7], atol=1e-6)
    np.testing.assert_allclose(ms.conf[0, :10], 2.0)  # the tracking state, interpolated between two 2s
    assert ("gap repair: sample 'S001C001P001R001A001': 2 all-zero frame(s) trimmed (1 at the start, 1 at the end); "
            "2 frame(s) interpolated in 1 gap(s)") in ms.notes
