"""infagenc viz overlay: the skeleton drawn where the keypoints are, every source frame shown,
frames without the main person labelled; GIF / PNG always, MP4 where an encoder is installed."""
from __future__ import annotations

import importlib.util
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from infagenc.cli import main
from infagenc.data.extract import ExtractConfig, extract
from infagenc.data.motionset import MotionSet
from infagenc.viz.overlay import LOW_CONF_COLOR, draw_overlay, overlay
from infagenc.viz.skeleton import SIDE_COLORS


def _rgb(hex_colour: str) -> np.ndarray:
    return np.array([int(hex_colour[k:k + 2], 16) for k in (1, 3, 5)])


class Scripted:
    """A person whose keypoints sit on a horizontal line at a height set by the frame's red value."""

    name = "scripted"

    def start(self, still):
        pass

    def __call__(self, rgb):
        k = int(rgb[0, 0, 0])
        if k == 2:
            return []
        xy = np.stack([np.linspace(10, 70, 33), np.full(33, 20.0 + 5 * k)], axis=1)
        return [(xy, np.where(np.arange(33) < 30, 0.9, 0.1))]

    def close(self):
        pass


def _clip(tmp_path, n=4):
    d = tmp_path / "in" / "clip"
    d.mkdir(parents=True)
    for k in range(n):
        a = np.full((60, 80, 3), 255, np.uint8)
        a[0, 0, 0] = k
        Image.fromarray(a).save(d / f"{k:03d}.png")
    return extract(tmp_path / "in", cfg=ExtractConfig(on_missing="drop", fps=5.0), estimator=Scripted(),
                   progress=False)


def test_draw_overlay_colours_by_side_and_confidence():
    from infagenc.skeleton.layouts import get_layout

    layout = get_layout("coco17")
    xy = np.array([[50, 10]] + [[20 + 3 * j, 40 + 3 * j] for j in range(1, 17)], dtype=float)
    conf = np.ones(17)
    conf[16] = 0.0  # right ankle: low confidence
    img = draw_overlay(np.full((100, 100, 3), 255, np.uint8), xy, conf, layout)
    left = layout.index("left_wrist")
    assert np.abs(img[int(xy[left, 1]), int(xy[left, 0])] - _rgb(SIDE_COLORS["left"])).max() < 40
    right = layout.index("right_wrist")
    assert np.abs(img[int(xy[right, 1]), int(xy[right, 0])] - _rgb(SIDE_COLORS["right"])).max() < 40
    ankle = layout.index("right_ankle")  # a ring: grey outline, the centre left as it was
    ring = img[int(xy[ankle, 1]) - 3: int(xy[ankle, 1]) + 4, int(xy[ankle, 0]) - 3: int(xy[ankle, 0]) + 4]
    assert (np.abs(ring.reshape(-1, 3) - _rgb(LOW_CONF_COLOR)).max(axis=1) < 30).any()
    blank = draw_overlay(np.full((100, 100, 3), 255, np.uint8), None, None, layout)
    assert (blank == 255).all()


def test_overlay_gif_every_source_frame_skeleton_where_the_keypoints_are(tmp_path):
    ms = _clip(tmp_path)
    assert ms.lengths.tolist() == [3]  # frame 2 had no person
    out = overlay(ms, tmp_path / "o.gif", progress=False, gif_width=480)
    with Image.open(out) as im:
        frames = []
        for k in range(im.n_frames):
            im.seek(k)
            frames.append(np.asarray(im.convert("RGB")).astype(int))
    assert len(frames) == 4  # every source frame, the one without a person too
    for k, f in enumerate(frames):
        row = 20 + 5 * k
        line = f[row, 30:50]  # the keypoint line of frame k (left / right / centre colours, not white)
        if k == 2:
            assert (f[30:, :] > 240).all()  # no skeleton drawn: white
        else:
            assert (line.sum(axis=1) < 600).all()
            assert (f[row + 12:row + 16, 30:50] > 240).all()  # nothing below the line


def test_cli_overlay_png_for_an_image_and_errors(tmp_path, capsys):
    d = tmp_path / "imgs"
    d.mkdir()
    a = np.full((60, 80, 3), 255, np.uint8)
    a[0, 0, 0] = 1
    Image.fromarray(a).save(d / "one.png")
    ms = extract(d, estimator=Scripted(), progress=False)
    src = ms.save(tmp_path / "s.npz")
    assert main(["viz", "overlay", str(src), "--no-progress"]) == 0
    out = tmp_path / "one_overlay.png"
    assert capsys.readouterr().out.strip() == str(out) and out.is_file()
    with Image.open(out) as im:
        assert im.size == (80, 60)
        assert np.asarray(im.convert("RGB"))[25, 40].sum() < 600  # the line at y = 25
    two = MotionSet.concat([ms, replace(ms, names=["b"])])
    p2 = two.save(tmp_path / "two.npz")
    assert main(["viz", "overlay", str(p2), "--no-progress"]) == 2
    assert "name one with --sample" in capsys.readouterr().err
    xyz = MotionSet(np.zeros((1, 2, 17, 3)), [2], [-1], (), ["s"], ["n"], "coco17", "xyz").save(tmp_path / "x.npz")
    assert main(["viz", "overlay", str(xyz), "--out", str(tmp_path / "x.gif")]) == 2
    assert "xy pixels" in capsys.readouterr().err


@pytest.mark.skipif(not ((importlib.util.find_spec("imageio") and importlib.util.find_spec("imageio_ffmpeg"))
                         or importlib.util.find_spec("cv2")),
                    reason="no MP4 encoder (the video extra's imageio-ffmpeg, or OpenCV from the pose extra)")
def test_overlay_mp4(tmp_path):
    ms = _clip(tmp_path)
    out = overlay(ms, tmp_path / "o.mp4", progress=False)
    assert out.stat().st_size > 1000 and out.read_bytes()[4:8] == b"ftyp"
