"""infagenc data extract: BlazePose on a real photograph and on a short video made from it (skipped
without the pose extra), and the pipeline's rules (main person, frames without it, labels,
provenance) with a scripted estimator that needs no model."""
from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
from PIL import Image

from infagenc.cli import main
from infagenc.data.errors import DataError
from infagenc.data.extract import (ExtractConfig, MainPersonTracker, extract, extraction_provenance, parse_ranges,
                                   ranges, to_coco17)
from infagenc.data.motionset import MotionSet

HAS_POSE = importlib.util.find_spec("mediapipe") is not None and importlib.util.find_spec("cv2") is not None
needs_pose = pytest.mark.skipif(not HAS_POSE, reason="the pose extra is not installed (pip install -e '.[pose]': "
                                                      "mediapipe 0.10.21 and OpenCV)")


def _photo() -> np.ndarray:
    """Grace Hopper's portrait (600 x 512), shipped with matplotlib."""
    import matplotlib.cbook as cbook

    with Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as im:
        return np.asarray(im.convert("RGB"))


# boxes drawn by eye on the photograph: (x0, y0, x1, y1) pixels
FACE = (160, 130, 370, 330)
UPPER_BODY = (0, 330, 512, 600)


def _inside(p, box) -> bool:
    return box[0] <= p[0] <= box[2] and box[1] <= p[1] <= box[3]


# ------------------------------------------------------------------ BlazePose, real pictures
@needs_pose
def test_photograph_nose_in_face_shoulders_on_upper_body(tmp_path):
    Image.fromarray(_photo()).save(tmp_path / "hopper.png")
    ms = extract(tmp_path, progress=False)
    assert len(ms) == 1 and ms.layout.name == "blazepose33" and ms.rep == "xy"
    pose, conf = ms.sequence(0)[0], ms.conf[0, 0]
    j = ms.layout.index
    assert _inside(pose[j("nose")], FACE)
    assert _inside(pose[j("left_eye")], FACE) and _inside(pose[j("right_eye")], FACE)
    for side in ("left_shoulder", "right_shoulder"):
        assert _inside(pose[j(side)], UPPER_BODY), side
        assert conf[j(side)] > 0.5
    # the person's left is on the image's right (she faces the camera)
    assert pose[j("left_shoulder"), 0] > pose[j("nose"), 0] > pose[j("right_shoulder"), 0]
    assert tuple(ms.image_size[0]) == (512, 600)
    prov = extraction_provenance(ms)["hopper.png"]
    assert prov["frames"] == [0] and prov["kind"] == "image"
    coco = to_coco17(ms)
    assert coco.layout.name == "coco17" and np.allclose(coco.data[0, 0, 5], pose[j("left_shoulder")])


def _shifted(img: np.ndarray, dx: int) -> np.ndarray:
    out = np.full_like(img, 255)
    if dx >= 0:
        out[:, dx:] = img[:, : img.shape[1] - dx]
    else:
        out[:, :dx] = img[:, -dx:]
    return out


@needs_pose
def test_video_made_from_the_photograph_is_extracted_frame_by_frame(tmp_path):
    import cv2

    img = _photo()
    shifts = [0, 30, 60, 90, 60, 30, 0, -30]
    video = tmp_path / "clips" / "hopper.avi"
    video.parent.mkdir()
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (img.shape[1], img.shape[0]))
    for dx in shifts:
        writer.write(cv2.cvtColor(_shifted(img, dx), cv2.COLOR_RGB2BGR))
    writer.release()
    labels = tmp_path / "labels.csv"
    labels.write_text("file,label,subject\nhopper.avi,portrait,gh\n")
    out = tmp_path / "set.npz"
    assert main(["data", "extract", str(tmp_path / "clips"), "--labels", str(labels), "--out", str(out),
                 "--no-progress"]) == 0
    ms = MotionSet.load(out)
    assert ms.lengths.tolist() == [len(shifts)] and ms.class_names == ("portrait",) and ms.subjects[0] == "gh"
    assert ms.fps == pytest.approx(10.0)
    prov = extraction_provenance(ms)["hopper.avi"]
    assert prov["frames"] == list(range(len(shifts))) and prov["missing"] == []
    nose = ms.sequence(0)[:, ms.layout.index("nose")]
    # the nose follows the shift frame by frame (about 10 pixels of model jitter allowed: 5% of the face)
    moved = nose[:, 0] - np.median(nose[:, 0] - shifts)
    assert np.abs(moved - np.array(shifts)).max() < 12
    assert all(_inside(p - [dx, 0], FACE) for p, dx in zip(nose, shifts))


# ------------------------------------------------------------------ rules, with a scripted estimator
class Scripted:
    """Returns, for the frame whose top-left red value is k, the candidates script[k]."""

    name = "scripted"

    def __init__(self, script):
        self.script, self.started = script, []

    def start(self, still):
        self.started.append(still)

    def __call__(self, rgb):
        return self.script[int(rgb[0, 0, 0])]

    def close(self):
        pass


def _person(x: float, y: float = 50.0, vis: float = 0.9):
    xy = np.stack([np.linspace(x - 10, x + 10, 33), np.linspace(y - 20, y + 20, 33)], axis=1)
    return xy, np.full(33, vis)


def _frames(folder, n):
    folder.mkdir(parents=True)
    for k in range(n):
        a = np.zeros((40, 60, 3), np.uint8)
        a[0, 0, 0] = k
        Image.fromarray(a).save(folder / f"f{k}.png")  # natural order: f2 before f10


def test_missing_frames_error_names_them_drop_and_interpolate(tmp_path):
    script = {k: [_person(20 + k)] for k in range(12)}
    for k in (3, 4, 9):
        script[k] = []
    _frames(tmp_path / "in" / "clip", 12)
    est = Scripted(script)
    with pytest.raises(DataError, match=r"clip.*no person in 3 of 12 frame\(s\): 3-4,9"):
        extract(tmp_path / "in", estimator=est, progress=False)
    ms = extract(tmp_path / "in", cfg=ExtractConfig(on_missing="drop", fps=12.5), estimator=est, progress=False)
    prov = extraction_provenance(ms)["clip"]
    assert prov["frames"] == [0, 1, 2, 5, 6, 7, 8, 10, 11] and prov["missing"] == [3, 4, 9]
    assert ms.lengths.tolist() == [9] and ms.fps == 12.5 and est.started[-1] is False
    assert np.allclose(ms.sequence(0)[3, 0], _person(25)[0][0])  # the 4th kept frame is source frame 5
    ms = extract(tmp_path / "in", cfg=ExtractConfig(on_missing="interpolate"), estimator=est, progress=False)
    seq, conf = ms.sequence(0), ms.conf[0, :12]
    assert ms.lengths.tolist() == [12] and extraction_provenance(ms)["clip"]["interpolated"] == [3, 4, 9]
    assert np.allclose(seq[:, 0, 0], 20 + np.arange(12) - 10)  # linear between the neighbours
    assert (conf[[3, 4, 9]] == 0).all() and (conf[[0, 5, 11]] > 0).all()
    with pytest.raises(DataError, match="longer than --max-gap 1"):
        extract(tmp_path / "in", cfg=ExtractConfig(on_missing="interpolate", max_gap=1), estimator=est,
                progress=False)


def test_tracker_keeps_the_main_person_and_refuses_a_jump(tmp_path):
    t = MainPersonTracker(max_jump=1.0)
    assert t.update([_person(100), _person(300, vis=0.95)]) in (0, 1)
    main_x = t.centre[0]
    other = 300 if main_x < 200 else 100
    assert t.update([_person(other)]) is None and t.why == "another person"
    assert t.update([_person(main_x + 5), _person(other)]) == 0
    assert t.update([]) is None and t.why == "no person"
    # in a clip, frames where only someone else is seen count as missing, named as such
    script = {0: [_person(30)], 1: [_person(31)], 2: [_person(200)], 3: [_person(32)]}
    _frames(tmp_path / "in" / "c", 4)
    with pytest.raises(DataError, match=r"another person in 1 of 4 frame\(s\): 2"):
        extract(tmp_path / "in", estimator=Scripted(script), progress=False)


def test_images_labels_csv_layout_and_bad_samples(tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    for k in range(3):
        a = np.zeros((30, 20, 3), np.uint8)
        a[0, 0, 0] = k
        Image.fromarray(a).save(root / f"img{k}.png")
    (root / "broken.jpg").write_bytes(b"not an image")
    script = {0: [_person(5)], 1: [_person(6)], 2: []}
    labels = tmp_path / "labels.csv"
    labels.write_text("file,label\nimg0.png,sit\nimg1.png,lie\nimg2.png,sit\n")
    with pytest.raises(DataError, match=r"no row for: broken.jpg"):
        extract(root, labels, estimator=Scripted(script), progress=False)
    labels.write_text("file,label\nimg0.png,sit\nimg1.png,lie\nimg2.png,sit\nbroken.jpg,sit\nnope.png,sit\n")
    with pytest.raises(DataError, match=r"not there: nope.png"):
        extract(root, labels, estimator=Scripted(script), progress=False)
    labels.write_text("file,label\nimg0.png,sit\nimg1.png,lie\nimg2.png,sit\nbroken.jpg,sit\n")
    with pytest.raises(DataError, match=r"broken.jpg.*cannot read this image"):
        extract(root, labels, estimator=Scripted(script), progress=False)
    cfg = ExtractConfig(on_bad="skip", layout="coco17")
    est = Scripted(script)
    ms = extract(root, labels, cfg, estimator=est, progress=False)
    assert ms.names.tolist() == ["img0.png", "img1.png"] and est.started == [True] * 4
    assert ms.layout.name == "coco17" and ms.conf.shape == (2, 1, 17)
    assert [e.sample for e in ms.exclusions] == ["broken.jpg", "img2.png"]
    assert "no person found in any of the 1 frame(s)" in ms.exclusions[1].reason
    assert ms.subjects.tolist() == ["img0.png", "img1.png"]  # no subject column: each its own
    assert [ms.class_names[i] for i in ms.labels] == ["sit", "lie"]
    assert ms.image_size.tolist() == [[20, 30], [20, 30]]
    note = next(n for n in ms.notes if n.startswith("extract: {"))
    assert json.loads(note[len("extract: "):])["file"].endswith("img0.png")


def test_ranges_round_trip():
    idx = [0, 1, 2, 5, 7, 8, 20]
    assert ranges(idx) == "0-2,5,7-8,20" and parse_ranges(ranges(idx)) == idx and ranges([]) == ""


@pytest.mark.skipif(importlib.util.find_spec("cv2") is None and importlib.util.find_spec("imageio_ffmpeg") is None,
                    reason="no video decoder (OpenCV from the pose extra, or the video extra)")
def test_undecodable_video_is_reported_by_name(tmp_path):
    (tmp_path / "bad.mp4").write_bytes(b"\x00" * 100)
    with pytest.raises(DataError, match=r"bad.mp4.*cannot decode this video"):
        extract(tmp_path, estimator=Scripted({}), progress=False)


def test_cli_extract_without_the_extra_or_with_bad_input_is_one_line(tmp_path, capsys):
    assert main(["data", "extract", str(tmp_path / "none"), "--out", str(tmp_path / "o.npz")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no such file or folder" in err
    if not HAS_POSE:
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a.png")
        assert main(["data", "extract", str(tmp_path), "--out", str(tmp_path / "o.npz")]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "pip install 'infagenc[pose]'" in err
