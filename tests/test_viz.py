"""Pictures: every function writes a valid image or animation, with something drawn where it
should be (skeleton colours in the cells that have a sample, one GIF frame per drawn frame,
curves in their panels, points inside the t-SNE axes)."""
from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
from matplotlib.colors import to_rgb, to_rgba
from PIL import Image

from infagenc.data.demo import make_demo
from infagenc.skeleton.layouts import get_layout
from infagenc.viz.curves import LOG_SPAN, curve_figure
from infagenc.viz.skeleton import _animation_figure
from infagenc.viz import (SIDE_COLORS, animate, animate_classes, class_colors, draw_skeleton, history_columns,
                          new_figure, plot_curves, project, render_rgb, snapshot_grid, tsne_plot)


@pytest.fixture(scope="module")
def demo():
    return make_demo(num_subjects=1, per_class=2, seed=0, min_len=10, max_len=14)


def _png(path) -> tuple[int, int]:
    """(width, height) of a valid PNG."""
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        im.load()
        assert im.format == "PNG" and im.width > 50 and im.height > 50
        return im.size


def _gif(path) -> tuple[tuple[int, int], int, int]:
    """(size, frame count, first frame's duration in ms) of a valid GIF, every frame decoded."""
    with Image.open(path) as im:
        assert im.format == "GIF"
        first = im.info["duration"]
        for k in range(im.n_frames):
            im.seek(k)
            im.load()
        return im.size, im.n_frames, first


def _rgb(path) -> np.ndarray:
    """(H, W, 3) pixels of an image file (its first frame)."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB")).astype(np.int64)


def _frames(path) -> list[np.ndarray]:
    """Every frame of a GIF as (H, W, 3) pixels."""
    out = []
    with Image.open(path) as im:
        for k in range(im.n_frames):
            im.seek(k)
            out.append(np.asarray(im.convert("RGB")).astype(np.int64))
    return out


def _near(img: np.ndarray, colour, tol: int = 60) -> np.ndarray:
    """Mask of the pixels within ``tol`` (per channel) of ``colour`` (a matplotlib colour or RGB 0-255)."""
    rgb = np.asarray(colour, dtype=np.float64) if not isinstance(colour, str) else np.array(to_rgb(colour)) * 255
    return (np.abs(img - rgb) < tol).all(axis=-1)


def _skeleton_ink(img: np.ndarray) -> np.ndarray:
    """Mask of the pixels in a left- or right-side skeleton colour."""
    return _near(img, SIDE_COLORS["left"]) | _near(img, SIDE_COLORS["right"])


def _changed(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of pixels that differ clearly between two images of one size."""
    return float((np.abs(a - b).max(axis=-1) > 40).mean())


# ---------------------------------------------------------------- geometry
def test_project_views():
    p = np.array([[1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(project(p), [[1.0, 2.0]])
    np.testing.assert_array_equal(project(p, "zy"), [[3.0, 2.0]])
    np.testing.assert_array_equal(project(p, "x-z"), [[1.0, -3.0]])
    np.testing.assert_array_equal(project(p[:, :2], "x-y"), [[1.0, -2.0]])
    with pytest.raises(ValueError, match="2D"):
        project(p[:, :2], "xz")
    with pytest.raises(ValueError, match="two different axes"):
        project(p, "xx")


def test_draw_skeleton_colours_sides():
    layout = get_layout("smpl24")
    fig = new_figure(3, 3)
    ax = fig.subplots()
    frame = np.random.default_rng(0).normal(size=(24, 3))
    art = draw_skeleton(ax, frame, layout, view="xz")
    colours = art.bones.get_colors()
    bone_of = {child: k for k, (child, _) in enumerate(layout.tree_edges)}
    left, right = layout.index("left_knee"), layout.index("right_knee")
    np.testing.assert_allclose(colours[bone_of[left]], to_rgba(SIDE_COLORS["left"]))
    np.testing.assert_allclose(colours[bone_of[right]], to_rgba(SIDE_COLORS["right"]))
    np.testing.assert_allclose(colours[bone_of[layout.index("spine1")]], to_rgba(SIDE_COLORS["centre"]))
    np.testing.assert_allclose(art.joints.get_offsets(), frame[:, [0, 2]])
    segs = art.bones.get_segments()
    np.testing.assert_allclose(segs[bone_of[left]], frame[[left, layout.parents[left]]][:, [0, 2]])
    with pytest.raises(ValueError, match="V = 24"):
        draw_skeleton(ax, frame[:10], layout)


def test_skeleton_picture_follows_the_pose():
    layout = get_layout("smpl24")
    rng = np.random.default_rng(2)
    pose, other = rng.normal(size=(24, 3)), rng.normal(size=(24, 3))

    def picture(frame) -> np.ndarray:
        fig = new_figure(2, 2, dpi=50)
        ax = fig.subplots()
        draw_skeleton(ax, frame, layout)
        ax.set_xlim(-4, 4)
        ax.set_ylim(-4, 4)
        return render_rgb(fig).astype(np.int64)

    a, again, b = picture(pose), picture(pose), picture(other)
    np.testing.assert_array_equal(a, again)  # the same pose draws the same picture
    assert _changed(a, b) > 0.005  # another pose draws another one
    for img in (a, b):  # both sides drawn in their colours
        assert _near(img, SIDE_COLORS["left"]).sum() > 20 and _near(img, SIDE_COLORS["right"]).sum() > 20
    empty = new_figure(2, 2, dpi=50)
    empty.subplots().set_xlim(-4, 4)
    assert _skeleton_ink(render_rgb(empty).astype(np.int64)).sum() == 0


# --------------------------------------------------------------- animations
def test_animate_motionset_gif(demo, tmp_path):
    two = demo.subset([0, 2])  # rot6d: forward kinematics inside
    out = animate(two, tmp_path / "a.gif", stride=2, panel_size=2.0, dpi=50)
    size, n_frames, duration = _gif(out)
    assert size[0] == 2 * 2.0 * 50 and size[1] > 1.2 * 2.0 * 50  # square panels, room for the titles above
    assert n_frames == math.ceil(int(two.lengths.max()) / 2)
    assert duration >= 20
    frames = _frames(out)
    half = size[0] // 2
    for f in frames:  # a skeleton in each panel of every frame
        assert _skeleton_ink(f[:, :half]).sum() > 20 and _skeleton_ink(f[:, half:]).sum() > 20
    assert _changed(frames[0][:, :half], frames[-1][:, :half]) > 0.005  # the motion moves


def test_animate_arrays_of_different_lengths(tmp_path):
    rng = np.random.default_rng(1)
    seqs = [rng.normal(size=(7, 25, 3)), rng.normal(size=(4, 25, 3))]
    out = animate(seqs, tmp_path / "b.gif", layout="ntu25", fps=10, panel_size=1.5, dpi=40,
                  titles=["one", "two"])
    _, n_frames, duration = _gif(out)
    assert n_frames == 7 and duration == 100
    frames = _frames(out)
    half = frames[0].shape[1] // 2
    for k in range(1, 7):  # the left panel moves every frame; the right one holds its last frame from 4 on
        assert _changed(frames[k][:, :half], frames[k - 1][:, :half]) > 0.01
        right = _changed(frames[k][:, half:], frames[k - 1][:, half:])
        assert (right > 0.01) if k < 4 else (right < 0.001), (k, right)  # held (up to a pixel of GIF palette)
    keypoints = rng.uniform(0, 100, size=(5, 17, 2))  # 2D image keypoints, y down
    assert _gif(animate(keypoints, tmp_path / "c.gif", layout="coco17", view="x-y", dpi=30))[1] == 5


def _durations(path) -> list[int]:
    with Image.open(path) as im:
        out = []
        for k in range(im.n_frames):
            im.seek(k)
            out.append(im.info["duration"])
        return out


def test_animation_defaults_size_frame_rate_and_pause(demo, tmp_path):
    from dataclasses import replace

    two = demo.subset([0, 2])
    size, n_frames, _ = _gif(animate(two, tmp_path / "a.gif"))
    assert size[0] >= 2 * 300 and size[1] >= 2 * 174  # at least twice the report's old 300 x 174 pixels
    durations = _durations(tmp_path / "a.gif")
    assert len(durations) == n_frames and set(durations[:-1]) == {30}  # no frame rate recorded: 30 fps
    assert durations[-1] == 30 + 1000  # the last frame held 1 s
    at10 = animate(replace(two, fps=10.0), tmp_path / "b.gif", hold=0.5, dpi=30)  # the data's own frame rate
    assert _durations(at10)[0] == 100 and _durations(at10)[-1] == 600
    assert _durations(animate(two, tmp_path / "c.gif", hold=0, dpi=30))[-1] == 30
    with pytest.raises(ValueError, match="hold"):
        animate(two, tmp_path / "d.gif", hold=-1)


def _disjoint(a, b) -> bool:
    return a.x1 <= b.x0 or b.x1 <= a.x0 or a.y1 <= b.y0 or b.y1 <= a.y0


def test_animation_titles_do_not_overlap():
    rng = np.random.default_rng(0)
    seqs = [rng.normal(size=(3, 25, 3)) for _ in range(3)]
    titles = ["clapHands (real)\ns01_e01/clapHands_a_very_long_sample_name_indeed",
              "clapHands (generated)\nrun demo, epoch 200, round 20, seed 123456789", "short"]
    fig, _, counter = _animation_figure(seqs, titles, get_layout("ntu25"), "xy", 2.0, 80)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    page = fig.bbox
    boxes = [ax.title.get_window_extent(renderer) for ax in fig.axes]
    for ax, box in zip(fig.axes, boxes):
        assert page.x0 <= box.x0 and box.x1 <= page.x1 and box.y1 <= page.y1  # inside the picture
        assert box.y0 >= ax.get_window_extent(renderer).y1 - 1  # above its panel
    assert all(_disjoint(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert fig.axes[0].title.get_text().count("\n") >= 2  # the long name wrapped to the panel's width
    counter.set_text("frame 3/3")
    low = counter.get_window_extent(renderer)
    assert all(_disjoint(low, ax.get_window_extent(renderer)) for ax in fig.axes)


def test_animate_errors(demo, tmp_path):
    with pytest.raises(ValueError, match=".gif or .mp4"):
        animate(demo.subset([0]), tmp_path / "a.png")
    with pytest.raises(ValueError, match="layout"):
        animate(np.zeros((3, 24, 3)), tmp_path / "a.gif")
    with pytest.raises(ValueError, match="sequence 0"):
        animate(np.zeros((3, 24, 6)), tmp_path / "a.gif", layout="smpl24")
    bad = np.zeros((3, 24, 3))
    bad[1, 2, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        animate(bad, tmp_path / "a.gif", layout="smpl24")


def test_animate_mp4(demo, tmp_path):
    has_video = importlib.util.find_spec("imageio") and importlib.util.find_spec("imageio_ffmpeg")
    if not has_video:
        with pytest.raises(ImportError, match=r"infagenc\[video\]"):
            animate(demo.subset([0]), tmp_path / "a.mp4")
        assert not (tmp_path / "a.mp4").exists()
    else:
        out = animate(demo.subset([0]), tmp_path / "a.mp4", dpi=40)
        assert out.stat().st_size > 1000


def test_animate_classes(demo, tmp_path):
    gen = make_demo(num_subjects=1, per_class=1, seed=3, min_len=8, max_len=9, classes=("kick", "roll"))
    paths = animate_classes(demo, gen, tmp_path / "anim", seed=0, panel_size=1.5, dpi=30, stride=3)
    assert [p.name for p in paths] == ["kick.gif", "wave_arms.gif", "roll.gif", "reach.gif"]
    kick_size, kick_frames, _ = _gif(paths[0])
    assert kick_size[0] == 2 * 1.5 * 30  # one real and one generated panel
    assert _gif(paths[1])[0][0] == 1.5 * 30  # no generated wave_arms
    # every third frame of the longer of the two sequences: real 10-14 frames, generated 8-9
    assert math.ceil(10 / 3) <= kick_frames <= math.ceil(14 / 3)
    first = _frames(paths[0])[0]
    half = first.shape[1] // 2
    assert _skeleton_ink(first[:, :half]).sum() > 10 and _skeleton_ink(first[:, half:]).sum() > 10


# --------------------------------------------------------------- snapshots
@pytest.mark.parametrize("arrangement", ["side", "overlay"])
def test_snapshot_grid(demo, tmp_path, arrangement):
    gen = make_demo(num_subjects=1, per_class=2, seed=5, min_len=10, max_len=12, rep="xyz",
                    classes=("kick", "wave_arms", "roll"))  # no generated 'reach': empty cells
    out = snapshot_grid(demo, gen, tmp_path / f"grid_{arrangement}.png", frames_per_sample=3,
                        arrangement=arrangement, cell_size=1.0, dpi=60)
    width, height = _png(out)
    ratio = width / height
    assert (ratio > 1.3) if arrangement == "side" else (0.9 < ratio < 1.6)  # 4 columns x 3 rows
    # skeleton colours in every cell that has a sample; none in the two empty 'reach' cells
    ink = _skeleton_ink(_rgb(out))
    x0, y0 = int(0.06 * width), int(0.08 * height)  # past the row labels and the column titles
    cw, ch = (width - x0) / 4, (height - y0) / 3
    counts = np.array([[ink[int(y0 + r * ch):int(y0 + (r + 1) * ch), int(x0 + c * cw):int(x0 + (c + 1) * cw)].sum()
                        for c in range(4)] for r in range(3)])
    has_sample = np.ones((3, 4), bool)
    has_sample[1:, 3] = False
    assert (counts[has_sample] > 30).all() and (counts[~has_sample] == 0).all(), counts
    with pytest.raises(ValueError, match="arrangement"):
        snapshot_grid(demo, gen, tmp_path / "x.png", arrangement="diagonal")


def test_snapshot_grid_layout_mismatch(demo, tmp_path):
    other = demo.with_data(np.zeros((len(demo), demo.num_frames, 25, 3), np.float32), rep="xyz",
                           layout=get_layout("ntu25"), trans=None)
    with pytest.raises(ValueError, match="layouts differ"):
        snapshot_grid(demo, other, tmp_path / "x.png")


# --------------------------------------------------------------------- t-SNE
def test_tsne_plot_small_sets(tmp_path):
    rng = np.random.default_rng(0)
    feats = {"real train": rng.normal(size=(6, 8)), "real test": rng.normal(size=(3, 8)) + 2,
             "synthetic": rng.normal(size=(4, 8)) - 2}
    labels = {"real train": [0, 1, 2, 0, 1, 2], "real test": [0, 1, 2], "synthetic": [2, 2, 1, 0]}
    out = tsne_plot(feats, labels, tmp_path / "tsne.png", class_names=["a", "b", "c"], seed=3)
    _png(tmp_path / "tsne.png")
    img = _rgb(tmp_path / "tsne.png")
    black = img.max(axis=-1) < 60  # the axes frame
    cols = np.flatnonzero(black.sum(axis=0) > 0.5 * img.shape[0])
    rows = np.flatnonzero(black.sum(axis=1) > 0.5 * img.shape[1])
    left, right, top, bottom = cols.min(), cols.max(), rows.min(), rows.max()
    assert right - left > 0.5 * img.shape[1] and bottom - top > 0.5 * img.shape[0]
    inside = img[top + 2:bottom - 1, left + 2:right - 1]
    for colour in class_colors(3):  # points of every class inside the axes, drawn at alpha 0.8 over white
        assert _near(inside, np.array(colour[:3]) * 255 * 0.8 + 255 * 0.2, tol=25).sum() > 20
    assert {k: v.shape for k, v in out.items()} == {"real train": (6, 2), "real test": (3, 2), "synthetic": (4, 2)}
    again = tsne_plot(feats, labels, tmp_path / "tsne2.png", class_names=["a", "b", "c"], seed=3)
    np.testing.assert_allclose(again["synthetic"], out["synthetic"])
    with pytest.raises(ValueError, match="differ"):
        tsne_plot(feats, {"real train": labels["real train"]}, tmp_path / "x.png")


def test_tsne_plot_two_points(tmp_path):
    out = tsne_plot({"g": np.array([[0.0], [1.0]])}, {"g": [0, 1]}, tmp_path / "t.png")
    assert out["g"].shape == (2, 2) and np.isfinite(out["g"]).all()


# -------------------------------------------------------------------- curves
def test_history_columns():
    x, cols = history_columns([{"epoch": 3, "loss": 1.0, "phase": "a"}, {"epoch": 4, "cas": 0.5}])
    np.testing.assert_array_equal(x, [3, 4])
    assert set(cols) == {"loss", "cas"}
    assert np.isnan(cols["loss"][1]) and np.isnan(cols["cas"][0])
    x, cols = history_columns({"loss": [3.0, 2.0, None], "cas": [0.1]})
    np.testing.assert_array_equal(x, [1, 2, 3])
    assert np.isnan(cols["loss"][2]) and np.isnan(cols["cas"][1:]).all()


def test_plot_curves(tmp_path):
    cas = [0.2, 0.5, 0.4, 0.3, 0.6, 0.7, 0.65, 0.5]
    hist = [{"epoch": e + 1, "loss": 1.0 / (e + 1), "kl": 0.1, "cas": c} for e, c in enumerate(cas)]
    out = plot_curves(hist, tmp_path / "curves.png", panels=[["loss", "kl"], ["cas"]], marks={"cas": [2, 6]},
                      window=4, logy=["loss"], title="demo")
    tall = _png(out)
    single = _png(plot_curves({"cas": cas}, tmp_path / "single.png"))
    assert tall[1] > single[1]  # two panels against one
    img = _rgb(out)
    top, bottom = img[: tall[1] // 2], img[tall[1] // 2:]
    # loss (C0) and kl (C1) share the upper panel; cas (C0 of its own panel) is in the lower one
    assert _near(top, "C0", 30).sum() > 200 and _near(top, "C1", 30).sum() > 200
    assert _near(bottom, "C0", 30).sum() > 200 and _near(bottom, "C1", 30).sum() == 0
    with pytest.raises(KeyError, match="nope"):
        plot_curves(hist, tmp_path / "x.png", keys=["nope"])
    with pytest.raises(ValueError, match="2 y labels for 1 panels"):
        plot_curves(hist, tmp_path / "x.png", keys=["cas"], ylabels=["a", "b"])
    with pytest.raises(ValueError, match=r"epochs \[9.0\]"):
        plot_curves(hist, tmp_path / "x.png", keys=["cas"], marks={"cas": [9]})
    with pytest.raises(ValueError, match="not plotted"):
        plot_curves(hist, tmp_path / "x.png", keys=["loss"], marks={"cas": [2]})


def test_curves_have_y_labels_and_a_log_scale_when_losses_span_decades():
    n = 12
    hist = [{"epoch": e + 1, "kl": 50.0 * 0.5 ** e, "rec": 1.0 + 0.1 * e, "total": 60.0 - e,
             "cas": 0.001 + 0.08 * e} for e in range(n)]  # kl: 50 .. 0.024 (3 decades); cas 0.001 .. 0.9
    fig = curve_figure(hist, panels=[["cas"], ["total"], ["kl", "rec"]], logy="auto",
                       ylabels=["CAS (fraction)", "total loss", None])
    cas, total, terms = fig.axes
    assert [ax.get_yscale() for ax in fig.axes] == ["linear", "linear", "log"]  # fractions stay linear
    assert cas.get_ylabel() == "CAS (fraction)" and total.get_ylabel() == "total loss"
    assert terms.get_ylabel() == "value (log scale)"
    assert 50.0 / (50.0 * 0.5 ** (n - 1)) > LOG_SPAN
    plain = curve_figure(hist, keys=["rec"])
    assert plain.axes[0].get_ylabel() == "rec" and plain.axes[0].get_yscale() == "linear"
    assert curve_figure(hist, keys=["kl"], logy=["kl"]).axes[0].get_ylabel() == "kl (log scale)"
